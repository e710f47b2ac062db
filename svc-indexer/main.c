/* svc-indexer: the knowledge-base pipeline (read, extract, chunk, embed,
 * upsert). This file wires the service. */
#include "indexer.pb-c.h"
#include "log.h"
#include "rpc_server.h"
#include "svc_main.h"

typedef Chat__Indexer__Indexer_Service indexer_svc;

static void indexer_health(indexer_svc *svc, const Chat__Rpc__HealthRequest *in, Chat__Rpc__HealthReply_Closure done,
                           void *cd)
{
    (void)svc;
    (void)in;
    Chat__Rpc__HealthReply out = CHAT__RPC__HEALTH_REPLY__INIT;
    svc_health(cd, &out);
    done(&out, cd);
}

RPC_UNIMPLEMENTED_HANDLER(indexer_index, indexer_svc, Chat__Indexer__IndexRequest, Chat__Indexer__IndexReply_Closure)
RPC_UNIMPLEMENTED_HANDLER(indexer_status, indexer_svc, Chat__Indexer__StatusRequest,
                          Chat__Indexer__StatusReply_Closure)

static indexer_svc indexer_service = CHAT__INDEXER__INDEXER__INIT(indexer_);

static const cfg_var indexer_vars[] = {
    {.name = "EMBEDDING_PROVIDER", .type = CFG_ENUM, .def = "local", .choices = "local|openai",
     .help = "how chunks are embedded"},
    {.name = "OPENAI_API_KEY", .type = CFG_STR, .flags = CFG_SECRET, .help = "for EMBEDDING_PROVIDER=openai"},
    {.name = "OPENAI_BASE_URL", .type = CFG_URL, .def = "https://api.openai.com", .schemes = "http|https",
     .help = "OpenAI-compatible API base"},
    {.name = "INDEX_SOURCES", .type = CFG_STR, .help = "folders or URLs indexed by Index with no sources"},
    {.name = "INDEX_INTERVAL", .type = CFG_DURATION_MS, .def = "0", .min = 0, .max = 604800000,
     .help = "re-index INDEX_SOURCES this often (0 = never)"},
};

int main(int argc, char **argv)
{
    svc_def def = {
        .name = "svc-indexer",
        .summary = "indexes a website or a folder of pages into the knowledge base",
        .service = &indexer_service.base,
        .url_var = "INDEXER_URL",
        .default_url = "tcp://127.0.0.1:7104",
        .needs_db = 1,
        .vars = indexer_vars,
        .nvars = sizeof(indexer_vars) / sizeof(indexer_vars[0]),
    };
    return svc_main(&def, argc, argv);
}
