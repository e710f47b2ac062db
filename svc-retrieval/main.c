/* svc-retrieval: hybrid search over the knowledge base, as a service
 * (Search) and a command (`svc-retrieval search 'question'`). This file
 * wires both; the search itself is search.c. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "embed_config.h"
#include "http_client.h"
#include "log.h"
#include "retrieval.pb-c.h"
#include "rpc_server.h"
#include "search.h"
#include "svc_main.h"

typedef Chat__Retrieval__Retrieval_Service retrieval_svc;

static searcher_opts retrieval_searcher_opts(const cfg *c)
{
    searcher_opts o = {
        .db_url = cfg_str(c, "DATABASE_URL"),
        .embed = embed_config_opts(c),
        .ef_search = (unsigned)cfg_int(c, "RETRIEVAL_EF_SEARCH"),
        .min_similarity = (double)cfg_int(c, "RETRIEVAL_MIN_SIMILARITY") / 100.0,
        .min_relevance = (double)cfg_int(c, "RETRIEVAL_MIN_RELEVANCE") / 100.0,
    };
    o.embed.timeout_ms = 10000; /* a visitor is waiting */
    o.embed.max_retries = 2;
    return o;
}

static void retrieval_health(retrieval_svc *svc, const Chat__Rpc__HealthRequest *in,
                             Chat__Rpc__HealthReply_Closure done, void *cd)
{
    (void)svc;
    (void)in;
    Chat__Rpc__HealthReply out = CHAT__RPC__HEALTH_REPLY__INIT;
    rpc_fill_health(cd, &out);
    searcher *s = rpc_call_worker_data(cd);
    if (s != NULL && db_ping(searcher_db(s)) != 0) {
        static _Thread_local char detail[300];
        snprintf(detail, sizeof(detail), "database not reachable: %s", searcher_db(s)->error);
        out.ready = 0;
        out.detail = detail;
    }
    done(&out, cd);
}

static void retrieval_search(retrieval_svc *svc, const Chat__Retrieval__SearchRequest *in,
                             Chat__Retrieval__SearchReply_Closure done, void *cd)
{
    (void)svc;
    searcher *s = rpc_call_worker_data(cd);
    search_params p = {.query = in->query,
                       .k = in->k,
                       .max_per_document = in->max_per_document,
                       .mode = (search_mode)in->mode,
                       .min_similarity = -1,
                       .min_relevance = -1,
                       .url_prefix = in->filters ? in->filters->url_prefix : NULL,
                       .document_ids = in->filters ? in->filters->document_ids : NULL,
                       .n_document_ids = in->filters ? in->filters->n_document_ids : 0,
                       .lang = in->filters ? in->filters->lang : NULL};
    if (p.n_document_ids > 1000) {
        rpc_fail(cd, RPC_INVALID_ARGUMENT, "at most 1000 document ids in a filter");
        done(NULL, cd);
        return;
    }
    if (in->min_score > 0) {
        p.min_similarity = in->min_score;
    }
    search_result res;
    char err[512];
    search_status st = search_run(s, &p, &res, err, sizeof(err));
    if (st != SEARCH_OK) {
        rpc_code code = st == SEARCH_EINVAL     ? RPC_INVALID_ARGUMENT
                        : st == SEARCH_EMODEL   ? RPC_FAILED_PRECONDITION
                        : st == SEARCH_ETIMEOUT ? RPC_DEADLINE_EXCEEDED
                                                : RPC_UNAVAILABLE;
        if (st == SEARCH_EDB || st == SEARCH_EEMBED || st == SEARCH_ETIMEOUT) {
            log_warn("search failed: %s", err);
        }
        rpc_fail(cd, code, "%s", err);
        done(NULL, cd);
        return;
    }
    Chat__Retrieval__SearchReply out = CHAT__RETRIEVAL__SEARCH_REPLY__INIT;
    Chat__Common__Source *items = calloc(res.n ? res.n : 1, sizeof(*items));
    Chat__Common__Source **ptrs = calloc(res.n ? res.n : 1, sizeof(*ptrs));
    if (items == NULL || ptrs == NULL) {
        free(items);
        free(ptrs);
        search_result_free(&res);
        rpc_fail(cd, RPC_RESOURCE_EXHAUSTED, "out of memory");
        done(NULL, cd);
        return;
    }
    for (size_t i = 0; i < res.n; i++) {
        chat__common__source__init(&items[i]);
        items[i].chunk_id = res.hits[i].chunk_id;
        items[i].document_id = res.hits[i].document_id;
        items[i].title = res.hits[i].title;
        items[i].url = res.hits[i].url;
        items[i].heading_path = res.hits[i].heading_path;
        items[i].text = res.hits[i].text;
        items[i].score = res.hits[i].score;
        items[i].vector_score = res.hits[i].similarity;
        items[i].text_score = res.hits[i].text_rank;
        ptrs[i] = &items[i];
    }
    out.n_results = res.n;
    out.results = ptrs;
    out.took_us = res.took_us;
    done(&out, cd);
    free(items);
    free(ptrs);
    search_result_free(&res);
}

static retrieval_svc retrieval_service = CHAT__RETRIEVAL__RETRIEVAL__INIT(retrieval_);

static const cfg_var retrieval_vars[] = {
    EMBED_CONFIG_VARS,
    {.name = "RETRIEVAL_EF_SEARCH",
     .type = CFG_INT,
     .def = "100",
     .min = 1,
     .max = 1000,
     .help = "hnsw.ef_search: HNSW candidates per query (recall vs speed)"},
    {.name = "RETRIEVAL_MIN_SIMILARITY",
     .type = CFG_INT,
     .def = "-1",
     .min = -1,
     .max = 100,
     .help = "relevance floor: cosine similarity (percent) that admits a chunk by meaning alone; -1 = by embedder "
             "(70 for local, 30 for openai, whose vectors score related text lower)"},
    {.name = "RETRIEVAL_MIN_RELEVANCE",
     .type = CFG_INT,
     .def = "70",
     .min = 0,
     .max = 200,
     .help = "relevance floor (percent): a question gets results only if its best chunk has similarity + share of its "
             "word weight (idf) at least this"},
};

static int retrieval_worker_init(void **worker_data, unsigned index, void *arg)
{
    (void)arg;
    char app[32], err[512];
    snprintf(app, sizeof(app), "svc-retrieval/%u", index);
    searcher_opts o = retrieval_searcher_opts(svc_config());
    o.app_name = app;
    searcher *s = NULL;
    if (searcher_open(&s, &o, err, sizeof(err)) != 0) {
        log_error("%s", err);
        return -1;
    }
    *worker_data = s;
    return 0;
}

static void retrieval_worker_fini(void *worker_data, void *arg)
{
    (void)arg;
    searcher_close(worker_data);
}

static int retrieval_cli_search(int argc, char **argv, const cfg *c)
{
    search_params p = {.k = 0, .mode = SEARCH_HYBRID, .min_similarity = -1, .min_relevance = -1};
    int64_t docs[64];
    size_t ndocs = 0;
    for (int i = 2; i < argc; i++) {
        if ((strcmp(argv[i], "-k") == 0 || strcmp(argv[i], "--k") == 0) && i + 1 < argc) {
            p.k = (unsigned)atoi(argv[++i]);
        } else if (strcmp(argv[i], "--mode") == 0 && i + 1 < argc) {
            const char *m = argv[++i];
            p.mode = strcmp(m, "vector") == 0 ? SEARCH_VECTOR : strcmp(m, "text") == 0 ? SEARCH_TEXT : SEARCH_HYBRID;
        } else if (strcmp(argv[i], "--url-prefix") == 0 && i + 1 < argc) {
            p.url_prefix = argv[++i];
        } else if (strcmp(argv[i], "--lang") == 0 && i + 1 < argc) {
            p.lang = argv[++i];
        } else if (strcmp(argv[i], "--doc") == 0 && i + 1 < argc && ndocs < 64) {
            docs[ndocs++] = atoll(argv[++i]);
            p.document_ids = docs;
            p.n_document_ids = ndocs;
        } else if (strcmp(argv[i], "--no-floor") == 0) {
            p.min_similarity = 0;
            p.min_relevance = 0;
        } else if (p.query == NULL) {
            p.query = argv[i];
        } else {
            fprintf(stderr, "svc-retrieval: unexpected argument %s\n", argv[i]);
            return 2;
        }
    }
    if (p.query == NULL) {
        fprintf(stderr, "usage: svc-retrieval search 'question' [-k N] [--mode hybrid|vector|text] [--no-floor]\n"
                        "       [--url-prefix URL] [--lang LANG] [--doc DOCUMENT_ID]...\n");
        return 2;
    }
    http_global_init();
    searcher_opts o = retrieval_searcher_opts(c);
    o.app_name = "svc-retrieval/cli";
    char err[512];
    searcher *s = NULL;
    if (searcher_open(&s, &o, err, sizeof(err)) != 0) {
        fprintf(stderr, "svc-retrieval: %s\n", err);
        return 2;
    }
    search_result res;
    search_status st = search_run(s, &p, &res, err, sizeof(err));
    if (st != SEARCH_OK) {
        fprintf(stderr, "svc-retrieval: %s\n", err);
        searcher_close(s);
        return st == SEARCH_EINVAL ? 2 : 1;
    }
    for (size_t i = 0; i < res.n; i++) {
        search_hit *h = &res.hits[i];
        json_t *j = json_pack("{s:I, s:f, s:f, s:f, s:s, s:s, s:s, s:s}", "chunk_id", (json_int_t)h->chunk_id, "score",
                              h->score, "similarity", h->similarity, "text_rank", h->text_rank, "title", h->title,
                              "url", h->url, "heading_path", h->heading_path, "text", h->text);
        char *line = json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(5));
        puts(line);
        free(line);
        json_decref(j);
    }
    search_result_free(&res);
    searcher_close(s);
    return 0;
}

static int retrieval_command(int argc, char **argv, const cfg *c)
{
    if (strcmp(argv[1], "search") == 0) {
        return retrieval_cli_search(argc, argv, c);
    }
    return -1;
}

static int retrieval_init(const cfg *c, void **state)
{
    (void)c;
    (void)state;
    http_global_init();
    return 0;
}

int main(int argc, char **argv)
{
    svc_def def = {
        .name = "svc-retrieval",
        .summary = "hybrid search (pgvector + full text) over the knowledge base",
        .usage_extra = "  svc-retrieval search 'question' [-k N] [--mode hybrid|vector|text] [--no-floor]\n"
                       "                [--url-prefix URL] [--lang LANG] [--doc DOCUMENT_ID]...\n"
                       "                          search once and print JSON lines\n",
        .service = &retrieval_service.base,
        .url_var = "RETRIEVAL_URL",
        .default_url = "tcp://127.0.0.1:7102",
        .needs_db = 1,
        .vars = retrieval_vars,
        .nvars = sizeof(retrieval_vars) / sizeof(retrieval_vars[0]),
        .command = retrieval_command,
        .init = retrieval_init,
        .worker_init = retrieval_worker_init,
        .worker_fini = retrieval_worker_fini,
    };
    return svc_main(&def, argc, argv);
}
