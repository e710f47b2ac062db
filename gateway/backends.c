/* backends.c: see backends.h. */
#include "backends.h"

#include <stdio.h>
#include <string.h>

#include "indexer.pb-c.h"
#include "llm.pb-c.h"
#include "retrieval.pb-c.h"
#include "session.pb-c.h"

int backends_open(backends *b, const cfg *c, char *err, size_t errlen)
{
    static const char *const vars[BK_COUNT] = {"SESSION_URL", "RETRIEVAL_URL", "LLM_URL", "INDEXER_URL"};
    static const char *const names[BK_COUNT] = {"session", "retrieval", "llm", "indexer"};
    const ProtobufCServiceDescriptor *descs[BK_COUNT] = {
        &chat__session__session__descriptor, &chat__retrieval__retrieval__descriptor, &chat__llm__llm__descriptor,
        &chat__indexer__indexer__descriptor};
    memset(b, 0, sizeof(*b));
    rpc_client_opts o = {.secret = cfg_is_set(c, "RPC_SECRET") ? cfg_str(c, "RPC_SECRET") : NULL};
    for (int i = 0; i < BK_COUNT; i++) {
        b->name[i] = names[i];
        char e[256];
        if (rpc_client_open(&b->client[i], descs[i], cfg_str(c, vars[i]), &o, e, sizeof(e)) != 0) {
            snprintf(err, errlen, "%s: %s", vars[i], e);
            backends_close(b);
            return -1;
        }
    }
    return 0;
}

void backends_close(backends *b)
{
    for (int i = 0; i < BK_COUNT; i++) {
        rpc_client_close(b->client[i]);
        b->client[i] = NULL;
    }
}

void bk_complete_unstarted(rpc_done_fn done, void *arg, rpc_code code, const char *why)
{
    rpc_result res;
    memset(&res, 0, sizeof(res));
    res.code = code;
    snprintf(res.message, sizeof(res.message), "%s", why);
    done(&res, arg);
}

rpc_code bk_call(rpc_client *c, const char *method, const ProtobufCMessage *req, uint32_t timeout_ms,
                 const char *request_id, rpc_done_fn done, void *arg, const char *unreachable)
{
    rpc_code code = rpc_call_async(c, method, req, timeout_ms, request_id, done, arg);
    if (code != RPC_OK) {
        bk_complete_unstarted(done, arg, code, unreachable);
    }
    return code;
}
