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
    for (int i = 0; i < BK_COUNT; i++) {
        b->name[i] = names[i];
        char e[256];
        if (rpc_client_open(&b->client[i], descs[i], cfg_str(c, vars[i]), NULL, e, sizeof(e)) != 0) {
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
