/* routes.h: the gateway's HTTP API as a table: one row per route (method,
 * path pattern, handler), so a new route is one row and one handler.
 *
 * Owns nothing; the table is read-only. HTTP thread only. */
#ifndef GW_ROUTES_H
#define GW_ROUTES_H

#include <microhttpd.h>

#include "request.h"

/* Answers the request (method and path) with the route it matches: 405
 * when the path matches a route but not its method, the widget's static
 * files for other GETs, else 404. */
enum MHD_Result routes_dispatch(struct MHD_Connection *conn, gw_request *rq, const char *url, const char *method);

#endif
