/* ready.h: GET /readyz: asks every service for Health at once (async RPC)
 * and answers 200 when all are ready, 503 otherwise, with each one's state.
 * Owns: a ready_check, from ready_start until ready_free (the request's
 * release, after the last callback has run). */
#ifndef GW_READY_H
#define GW_READY_H

#include <microhttpd.h>

#include "backends.h"

#define READY_TIMEOUT_MS 1000

typedef struct ready_check ready_check;

/* Starts the checks and suspends conn; *out is the request's state (freed
 * by ready_free). Returns 0, or -1 when nothing could start. */
int ready_start(ready_check **out, struct MHD_Connection *conn, backends *b);
/* After the connection resumed: queues the response. */
/* detail: also each service's status, latency, version, uptime and why it
 * is not ready (admin_privileged); else only names and ready flags. */
enum MHD_Result ready_respond(ready_check *rc, struct MHD_Connection *conn, int detail);
void ready_free(ready_check *rc);

#endif
