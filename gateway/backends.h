/* backends.h: the gateway's RPC clients, one per service. Opened at start,
 * closed at stop; the clients themselves are thread-safe. Owns: the
 * clients (backends_open until backends_close). */
#ifndef GW_BACKENDS_H
#define GW_BACKENDS_H

#include "config.h"
#include "rpc_client.h"

typedef enum { BK_SESSION = 0, BK_RETRIEVAL, BK_LLM, BK_INDEXER, BK_COUNT } bk_id;

typedef struct backends {
    rpc_client *client[BK_COUNT];
    const char *name[BK_COUNT]; /* "session", ... */
} backends;

int backends_open(backends *b, const cfg *c, char *err, size_t errlen);
void backends_close(backends *b);

/* Completes a call that could not start: runs done(res, arg) on this thread
 * with a result of `code` (not RPC_OK) and message `why`, no reply. So every
 * caller has one completion path, whether a call failed before or after it
 * started. The caller must not hold a lock that done takes. */
void bk_complete_unstarted(rpc_done_fn done, void *arg, rpc_code code, const char *why);

/* rpc_call_async, then bk_complete_unstarted(done, arg, code, unreachable)
 * when the call could not start. Returns the code rpc_call_async did. */
rpc_code bk_call(rpc_client *c, const char *method, const ProtobufCMessage *req, uint32_t timeout_ms,
                 const char *request_id, rpc_done_fn done, void *arg, const char *unreachable);

#endif
