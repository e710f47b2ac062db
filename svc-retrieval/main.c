/* svc-retrieval: hybrid search over the knowledge base (pgvector HNSW +
 * full-text, reciprocal rank fusion). This file wires the service. */
#include "log.h"
#include "retrieval.pb-c.h"
#include "rpc_server.h"
#include "svc_main.h"

typedef Chat__Retrieval__Retrieval_Service retrieval_svc;

static void retrieval_health(retrieval_svc *svc, const Chat__Rpc__HealthRequest *in,
                             Chat__Rpc__HealthReply_Closure done, void *cd)
{
    (void)svc;
    (void)in;
    Chat__Rpc__HealthReply out = CHAT__RPC__HEALTH_REPLY__INIT;
    svc_health(cd, &out);
    done(&out, cd);
}

RPC_UNIMPLEMENTED_HANDLER(retrieval_search, retrieval_svc, Chat__Retrieval__SearchRequest,
                          Chat__Retrieval__SearchReply_Closure)

static retrieval_svc retrieval_service = CHAT__RETRIEVAL__RETRIEVAL__INIT(retrieval_);

static const cfg_var retrieval_vars[] = {
    {.name = "EMBEDDING_PROVIDER", .type = CFG_ENUM, .def = "local", .choices = "local|openai",
     .help = "how queries are embedded (must match the indexer's)"},
    {.name = "OPENAI_API_KEY", .type = CFG_STR, .flags = CFG_SECRET, .help = "for EMBEDDING_PROVIDER=openai"},
    {.name = "OPENAI_BASE_URL", .type = CFG_URL, .def = "https://api.openai.com", .schemes = "http|https",
     .help = "OpenAI-compatible API base"},
};

int main(int argc, char **argv)
{
    svc_def def = {
        .name = "svc-retrieval",
        .summary = "hybrid search (pgvector + full text) over the knowledge base",
        .service = &retrieval_service.base,
        .url_var = "RETRIEVAL_URL",
        .default_url = "tcp://127.0.0.1:7102",
        .needs_db = 1,
        .vars = retrieval_vars,
        .nvars = sizeof(retrieval_vars) / sizeof(retrieval_vars[0]),
    };
    return svc_main(&def, argc, argv);
}
