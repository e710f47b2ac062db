/* request.h: the state of one HTTP request while the gateway answers it
 * (MHD's con_cls), as route handlers see it.
 *
 * A handler that has to wait for the services suspends the connection and
 * leaves `state`, `resume` and `release` here: when the connection resumes,
 * MHD calls the access handler again on the HTTP thread, which calls
 * resume(conn, rq) to answer. release(state) runs when the request
 * completes, whether it was answered or not.
 *
 * Owns: the body, and state through release. HTTP thread only, except that
 * the RPC callback behind state resumes the connection. */
#ifndef GW_REQUEST_H
#define GW_REQUEST_H

#include <microhttpd.h>
#include <stddef.h>

#include "backends.h"
#include "cors.h"

#define HTTP_BODY_MAX (16 * 1024) /* request bodies; larger ones get 413 */
/* Header caps and MHD's per-connection memory pool are settings
 * (HTTP_MAX_HEADERS, HTTP_MAX_HEADER_BYTES, HTTP_CONNECTION_MEMORY): the
 * request line and headers must fit in the pool with room for MHD's own
 * buffers, so the header bytes may be at most half of it (checked at start). */
#define HTTP_CONN_RETRY_S 5 /* Retry-After of 429 too_many_connections */

typedef struct gw_request gw_request;
struct gw_request {
    int handled; /* the first full call has run */
    char *body;  /* NUL-terminated, at most HTTP_BODY_MAX bytes */
    size_t body_len;
    int too_big;
    char origin[CORS_ORIGIN_MAX]; /* allowed origin, "" if none */
    backends *b;

    void *state;                                                            /* the route's, or NULL */
    enum MHD_Result (*resume)(struct MHD_Connection *conn, gw_request *rq); /* after a suspension */
    void (*release)(void *state);                                           /* frees state */
};

#endif
