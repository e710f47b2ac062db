/* http.h: the gateway's HTTP server (libmicrohttpd, one internal epoll
 * thread: "the HTTP thread", which never blocks) and its routing.
 *
 * A route that needs the services suspends its connection, starts async RPC
 * calls, and resumes the connection from the last RPC callback (on an nng
 * thread); the handler then runs again on the HTTP thread and answers. */
#ifndef GW_HTTP_H
#define GW_HTTP_H

#include <microhttpd.h>
#include <stdint.h>

#include "backends.h"
#include "config.h"

#define HTTP_BODY_MAX (16 * 1024) /* request bodies; larger ones get 413 */

typedef struct gw_server gw_server;

int gw_start(gw_server **out, const cfg *c, backends *b, char *err, size_t errlen);
void gw_stop(gw_server *g);

/* JSON error body {"error":{"code":..,"message":..}} with the status. */
enum MHD_Result gw_send_error(struct MHD_Connection *conn, unsigned status, const char *code, const char *message);
enum MHD_Result gw_send_json(struct MHD_Connection *conn, unsigned status, const char *json);

#endif
