/* http.h: the gateway's HTTP server (libmicrohttpd, one internal epoll
 * thread: "the HTTP thread", which never blocks) and its routing.
 *
 * A route that needs the services suspends its connection, starts async RPC
 * calls, and resumes the connection from the RPC callback (on an nng
 * thread); MHD then calls the access handler again on the HTTP thread,
 * which answers. */
#ifndef GW_HTTP_H
#define GW_HTTP_H

#include <microhttpd.h>
#include <stdint.h>

#include "backends.h"
#include "config.h"
#include "cors.h"

#define HTTP_BODY_MAX (16 * 1024) /* request bodies; larger ones get 413 */

typedef struct gw_server gw_server;
struct ready_check;
struct session_op;
struct turn;

typedef enum { RT_NONE = 0, RT_READY, RT_SESSION_OP, RT_CHAT } route_kind;

/* Per-request state (MHD's con_cls), freed when the request completes. */
typedef struct gw_request {
    route_kind kind;
    int handled;            /* the first full call has run */
    char *body;
    size_t body_len;
    int too_big;
    char origin[CORS_ORIGIN_MAX]; /* allowed origin, "" if none */
    struct ready_check *ready;
    struct session_op *op;
    struct turn *turn;
} gw_request;

int gw_start(gw_server **out, const cfg *c, backends *b, char *err, size_t errlen);
/* Stops accepting, ends open streams, stops the daemon. */
void gw_stop(gw_server *g);

/* JSON answers. origin: CORS origin to allow ("" or NULL for none). */
enum MHD_Result gw_send_json(struct MHD_Connection *conn, unsigned status, const char *json, const char *origin);
enum MHD_Result gw_send_json_full(struct MHD_Connection *conn, unsigned status, const char *json, const char *origin,
                                  uint32_t retry_after_s);
/* {"error":{"code":..,"message":..}} with the status. */
enum MHD_Result gw_send_error(struct MHD_Connection *conn, unsigned status, const char *code, const char *message,
                              const char *origin);

#endif
