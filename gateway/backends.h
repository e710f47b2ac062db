/* backends.h: the gateway's RPC clients, one per service. Opened at start,
 * closed at stop; the clients themselves are thread-safe. */
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

#endif
