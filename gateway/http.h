/* http.h: the gateway's HTTP server (libmicrohttpd, one internal epoll
 * thread: "the HTTP thread", which never blocks). Routing is routes.c (a
 * table), JSON answers respond.c, per-request state request.h.
 *
 * A route that needs the services suspends its connection, starts async RPC
 * calls, and resumes the connection from the RPC callback (on an nng
 * thread); MHD then calls the access handler again on the HTTP thread,
 * which answers. Owns: a gw_server owns the MHD daemon, gw_start until
 * gw_stop; per-request state is request.h's. */
#ifndef GW_HTTP_H
#define GW_HTTP_H

#include <microhttpd.h>
#include <stdint.h>

#include "backends.h"
#include "config.h"

typedef struct gw_server gw_server;

int gw_start(gw_server **out, const cfg *c, backends *b, char *err, size_t errlen);
/* Stops accepting, ends open streams, stops the daemon. */
void gw_stop(gw_server *g);

#endif
