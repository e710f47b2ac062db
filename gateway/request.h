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

#define HTTP_BODY_MAX (16 * 1024)        /* request bodies; larger ones get 413 */
#define HTTP_HEADERS_MAX 64              /* header lines in a request; more get 431 */
#define HTTP_HEADERS_MAX_TEXT "64"       /* the same, for the 431's sentence */
#define HTTP_HEADER_BYTES_MAX (8 * 1024) /* request line + headers; more get 431 */
#define HTTP_MHD_MEMORY (32 * 1024)      /* MHD's per-connection pool; headers past it get MHD's own 431 */
#define HTTP_CONN_RETRY_S 5              /* Retry-After of 429 too_many_connections */

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
