/* rpc_client.h: calls to an RPC server over an nng REQ socket.
 *
 * One client is one REQ socket dialing one URL (reconnecting by itself).
 * Each call gets its own nng context, so any number of calls may be in
 * flight at once from any threads; a client is thread-safe.
 *
 * A call is never re-sent silently: nng's resend timer is disabled, and
 * when a connection drops, calls in flight on the client end with
 * UNAVAILABLE instead of being replayed to the next server (the caller
 * knows whether its call is idempotent and may retry).
 *
 * Authentication: with opts.secret, see rpc_auth.h; a service refusing a
 * call answers UNAUTHENTICATED and the client passes that on.
 *
 * Deadlines: every call has a timeout; the server gets the same budget in
 * the envelope and drops the request if it expires before being worked on.
 * When the server is unreachable (no connection for longer than
 * RPC_CONNECT_GRACE_MS), calls fail at once with UNAVAILABLE.
 */
#ifndef CHAT_RPC_CLIENT_H
#define CHAT_RPC_CLIENT_H

#include <protobuf-c/protobuf-c.h>
#include <stdint.h>

#include "rpc.h"

#define RPC_CONNECT_GRACE_MS 300

typedef struct rpc_client rpc_client;

typedef struct rpc_client_opts {
    uint32_t default_timeout_ms; /* 0 = RPC_DEFAULT_TIMEOUT_MS */
    size_t max_msg;              /* largest reply accepted; 0 = RPC_DEFAULT_MAX_MSG */
    unsigned max_in_flight;      /* calls at once before RESOURCE_EXHAUSTED; 0 = 65536 */
    /* RPC_SECRET (rpc_auth.h), copied at open: every request is stamped and
     * MACed, and a reply must carry a valid MAC bound to its request (else
     * the call ends UNAUTHENTICATED). NULL or "" = requests unsigned. */
    const char *secret;
} rpc_client_opts;

/* Opens a client for `service` at url (opts may be NULL). Returns 0, or -1
 * with a reason in err. The connection is made in the background. */
int rpc_client_open(rpc_client **out, const ProtobufCServiceDescriptor *service, const char *url,
                    const rpc_client_opts *opts, char *err, size_t errlen);

/* Ends every call in flight with CANCELLED (their callbacks run before this
 * returns), closes the socket and frees the client. */
void rpc_client_close(rpc_client *c);

/* Whether a connection to the server is up now. */
int rpc_client_connected(const rpc_client *c);

/* The outcome of a call. `reply` is the unpacked response when code is OK
 * (owned by whoever receives the result: free it with
 * protobuf_c_message_free_unpacked(reply, NULL)), NULL otherwise. */
typedef struct rpc_result {
    rpc_code code;
    char message[RPC_STATUS_MESSAGE_MAX + 1];
    uint32_t retry_after_ms;
    char reason[RPC_REASON_MAX + 1]; /* "" or e.g. "budget_exhausted" (with an error) */
    ProtobufCMessage *reply;
} rpc_result;

/* Runs on one of nng's threads; must not block. Owns res->reply. */
typedef void (*rpc_done_fn)(rpc_result *res, void *arg);

/* Starts a call of `method` ("Begin") with `req` (packed before this
 * returns; the caller keeps ownership of req). timeout_ms 0 = the default;
 * request_id NULL = a new one. Returns RPC_OK when the call started (done
 * will run exactly once, later, on another thread), or a code when it could
 * not start (done will not run). */
rpc_code rpc_call_async(rpc_client *c, const char *method, const ProtobufCMessage *req, uint32_t timeout_ms,
                        const char *request_id, rpc_done_fn done, void *arg);

/* Makes a call and waits for it. Returns res->code. */
rpc_code rpc_call_sync(rpc_client *c, const char *method, const ProtobufCMessage *req, uint32_t timeout_ms,
                       const char *request_id, rpc_result *res);

/* Sends raw bytes as a request and waits for the raw reply (tests and
 * benchmarks of the transport). *reply is malloc'd; caller frees. */
int rpc_call_raw(rpc_client *c, const void *data, size_t len, uint32_t timeout_ms, void **reply, size_t *reply_len);

#endif
