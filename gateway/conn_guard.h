/* conn_guard.h: what the gateway holds per TCP connection so that one
 * client cannot hold many of them: a request deadline (slowloris) and a cap
 * on connections per client IP.
 *
 * Deadline: a request must arrive whole (headers and body) within
 * HTTP_REQUEST_TIMEOUT of the connection opening, or of the previous
 * response on it completing. MHD's own timeout (HTTP_IDLE_TIMEOUT) starts
 * over at every byte, so a client sending one byte a second would hold its
 * slot for ever; a sweeper thread shuts down the socket of a request past
 * its deadline (MHD then reads end-of-file and closes it). Once the access
 * handler has the whole request (cg_received), the deadline is off, so
 * answers that wait for the services and SSE streams are never cut. A
 * keep-alive connection left idle is closed at the same deadline.
 *
 * Connections per IP (HTTP_MAX_CONNECTIONS_PER_IP): a peer that is not a
 * trusted proxy is counted from accept to close, under its own address,
 * and a connection over the cap is shut down at once (like MHD's own
 * per-IP limit, which counts the TCP peer and would cap a proxy as one
 * client). Behind a trusted proxy the peer is not counted; each request is
 * counted under the client the proxy names (client_ip_resolve) from its
 * headers until it completes, SSE streams included, and one over the cap
 * is answered 429 too_many_connections.
 *
 * Owns: one entry per connection (MHD's socket context, NOTIFY_CONNECTION
 * STARTED to CLOSED), the per-IP table, the sweeper thread (cg_init to
 * cg_stop). Calls from the HTTP thread; one mutex shared with the sweeper. */
#ifndef GW_CONN_GUARD_H
#define GW_CONN_GUARD_H

#include <microhttpd.h>
#include <stdint.h>

#include "client_ip.h"

#define CG_SWEEP_MS 250 /* how often the sweeper looks for late requests */

/* Starts the sweeper. timeout_ms: the request deadline; per_ip_max: open
 * connections per client key; max_connections sizes the table. -1 with
 * err. */
int cg_init(unsigned timeout_ms, unsigned per_ip_max, unsigned ipv6_prefix, unsigned max_connections, char *err,
            size_t errlen);
void cg_stop(void);

/* MHD_OPTION_NOTIFY_CONNECTION. */
void cg_notify(void *cls, struct MHD_Connection *conn, void **socket_context, enum MHD_ConnectionNotificationCode toe);

/* The request on conn is whole: its deadline is off. */
void cg_received(struct MHD_Connection *conn);
/* Counts the request on conn under client when conn's peer is a trusted
 * proxy: 0 when it may go on, 1 when client is at the cap. */
int cg_client_enter(struct MHD_Connection *conn, const ip_addr *client);
/* The request on conn completed: its client count is released and the next
 * request's deadline starts now. */
void cg_request_done(struct MHD_Connection *conn);

/* Requests cut at the deadline, and connections refused over the per-IP
 * cap, since the start (for /metrics and tests). */
uint64_t cg_cut_total(void);
uint64_t cg_refused_total(void);

#endif
