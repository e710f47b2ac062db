/* svc-indexer: the knowledge-base pipeline (read, extract, chunk, embed,
 * upsert), as a command-line tool and as a service (Index, Status, and an
 * optional periodic run). This file wires both. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "db.h"
#include "embed.h"
#include "embed_config.h"
#include "http_client.h"
#include "indexer.pb-c.h"
#include "jobs.h"
#include "log.h"
#include "pipeline.h"
#include "rpc_server.h"
#include "shutdown.h"
#include "svc_db.h"
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

static void indexer_index(indexer_svc *svc, const Chat__Indexer__IndexRequest *in,
                          Chat__Indexer__IndexReply_Closure done, void *cd)
{
    (void)svc;
    jobs *j = rpc_call_server_arg(cd);
    char err[256];
    uint64_t busy = 0;
    int64_t id =
        jobs_submit(j, (const char *const *)in->sources, in->n_sources, in->force, in->prune, &busy, err, sizeof(err));
    if (id < 0) {
        rpc_fail(cd, RPC_INVALID_ARGUMENT, "%s", err);
        done(NULL, cd);
        return;
    }
    if (id == 0) {
        rpc_fail(cd, RPC_ALREADY_EXISTS, "an indexing run (job %llu) is in progress; ask Status for it",
                 (unsigned long long)busy);
        done(NULL, cd);
        return;
    }
    Chat__Indexer__IndexReply out = CHAT__INDEXER__INDEX_REPLY__INIT;
    out.job_id = (uint64_t)id;
    done(&out, cd);
}

static void indexer_status(indexer_svc *svc, const Chat__Indexer__StatusRequest *in,
                           Chat__Indexer__StatusReply_Closure done, void *cd)
{
    (void)svc;
    jobs *j = rpc_call_server_arg(cd);
    job_status *st = malloc(sizeof(*st));
    if (st == NULL) {
        rpc_fail(cd, RPC_RESOURCE_EXHAUSTED, "out of memory");
        done(NULL, cd);
        return;
    }
    if (jobs_status(j, in->job_id, st) != 0) {
        rpc_fail(cd, RPC_NOT_FOUND, "no job %llu (the latest %d are kept)", (unsigned long long)in->job_id,
                 JOBS_HISTORY + 1);
        done(NULL, cd);
        free(st);
        return;
    }
    Chat__Indexer__StatusReply out = CHAT__INDEXER__STATUS_REPLY__INIT;
    out.job_id = st->id;
    out.state = (char *)job_state_name(st->state);
    out.documents_seen = st->stats.seen;
    out.documents_added = st->stats.added;
    out.documents_changed = st->stats.changed;
    out.documents_removed = st->stats.removed;
    out.documents_failed = st->stats.failed;
    out.documents_skipped = st->stats.skipped;
    out.chunks_embedded = st->stats.chunks_embedded;
    out.chunks_written = st->stats.chunks_written;
    out.started_at_ms = st->started_at_ms;
    out.finished_at_ms = st->finished_at_ms;
    out.message = st->message;
    Chat__Indexer__DocumentError errs[IDX_ERRORS_MAX];
    Chat__Indexer__DocumentError *eptr[IDX_ERRORS_MAX];
    for (size_t i = 0; i < st->stats.nerrors; i++) {
        chat__indexer__document_error__init(&errs[i]);
        errs[i].source = st->stats.errors[i].source;
        errs[i].message = st->stats.errors[i].message;
        eptr[i] = &errs[i];
    }
    out.n_errors = st->stats.nerrors;
    out.errors = eptr;
    done(&out, cd);
    free(st);
}

static indexer_svc indexer_service = CHAT__INDEXER__INDEXER__INIT(indexer_);

static const cfg_var indexer_vars[] = {
    EMBED_CONFIG_VARS,
    {.name = "KB_BASE_URL",
     .type = CFG_URL,
     .schemes = "http|https",
     .help = "site URL that folder pages are published under (kb/guide/intro.html -> URL/guide/intro.html)"},
    {.name = "KB_URL_STYLE",
     .type = CFG_ENUM,
     .def = "path",
     .choices = "path|pretty",
     .help = "folder page URLs: path (as is; index.html -> its folder) or pretty (extension dropped)"},
    {.name = "FETCH_CONCURRENCY",
     .type = CFG_INT,
     .def = "4",
     .min = 1,
     .max = 16,
     .help = "pages fetched at once from a site (politeness limit)"},
    {.name = "INDEX_SOURCES", .type = CFG_STR, .help = "folders or URLs (comma or space separated) for scheduled runs"},
    {.name = "INDEX_INTERVAL",
     .type = CFG_DURATION_MS,
     .def = "0",
     .min = 0,
     .max = 604800000,
     .help = "re-index INDEX_SOURCES this often (0 = only when asked)"},
};

static int indexer_cli_index(int argc, char **argv, const cfg *c)
{
    int force = 0, prune = 1, pretty = strcmp(cfg_str(c, "KB_URL_STYLE"), "pretty") == 0;
    const char *base = cfg_str(c, "KB_BASE_URL");
    const char **srcs = calloc((size_t)argc, sizeof(*srcs));
    size_t n = 0;
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--force") == 0) {
            force = 1;
        } else if (strcmp(argv[i], "--no-prune") == 0) {
            prune = 0;
        } else if (strcmp(argv[i], "--pretty-urls") == 0) {
            pretty = 1;
        } else if (strcmp(argv[i], "--base-url") == 0 && i + 1 < argc) {
            base = argv[++i];
        } else if (argv[i][0] == '-') {
            fprintf(stderr, "svc-indexer: unknown option %s\n", argv[i]);
            free(srcs);
            return 2;
        } else {
            srcs[n++] = argv[i];
        }
    }
    if (n == 0) {
        fprintf(stderr,
                "usage: svc-indexer index [--force] [--no-prune] [--pretty-urls] [--base-url URL] FOLDER-or-URL...\n");
        free(srcs);
        return 2;
    }
    http_global_init();
    embed_opts eo = embed_config_opts(c);
    char err[512];
    embedder *emb = NULL;
    if (embedder_open(&emb, &eo, err, sizeof(err)) != 0) {
        fprintf(stderr, "svc-indexer: %s\n", err);
        free(srcs);
        return 2;
    }
    db_conn *db = NULL;
    if (db_open(&db, cfg_str(c, "DATABASE_URL"), "svc-indexer/cli") != 0) {
        fprintf(stderr, "svc-indexer: cannot connect to DATABASE_URL: %s\n", db ? db->error : "out of memory");
        db_close(db);
        embedder_close(emb);
        free(srcs);
        return 1;
    }
    db_exec(db->pg, "SET statement_timeout = 0", NULL, 0);
    idx_stats *st = calloc(1, sizeof(*st));
    idx_opts o = {.pg = db->pg,
                  .emb = emb,
                  .base_url = base,
                  .pretty_urls = pretty,
                  .force = force,
                  .prune = prune,
                  .fetch_concurrency = (unsigned)cfg_int(c, "FETCH_CONCURRENCY"),
                  .progress = isatty(STDERR_FILENO) ? stderr : NULL};
    int rc = st ? idx_run(srcs, n, &o, st, err, sizeof(err)) : -1;
    if (rc != 0) {
        fprintf(stderr, "svc-indexer: %s\n", st ? err : "out of memory");
    } else {
        idx_print_summary(st, stdout);
    }
    int status = rc != 0 ? 1 : (st->failed > 0 ? 3 : 0);
    free(st);
    db_close(db);
    embedder_close(emb);
    free(srcs);
    return status;
}

static int indexer_command(int argc, char **argv, const cfg *c)
{
    if (strcmp(argv[1], "index") == 0) {
        return indexer_cli_index(argc, argv, c);
    }
    if (strcmp(argv[1], "reset") == 0) {
        db_conn *db = NULL;
        if (db_open(&db, cfg_str(c, "DATABASE_URL"), "svc-indexer/cli") != 0) {
            fprintf(stderr, "svc-indexer: cannot connect to DATABASE_URL: %s\n", db ? db->error : "out of memory");
            db_close(db);
            return 1;
        }
        char err[512];
        int rc = db_exec(db->pg, "SELECT kb_reset_embedding_model()", err, sizeof(err));
        if (rc != 0) {
            fprintf(stderr, "svc-indexer: %s\n", err);
        } else {
            printf("knowledge base emptied; index again to rebuild it\n");
        }
        db_close(db);
        return rc == 0 ? 0 : 1;
    }
    return -1;
}

static int indexer_init(const cfg *c, void **state)
{
    http_global_init();
    char err[512];
    jobs *j = NULL;
    if (jobs_start(&j, c, err, sizeof(err)) != 0) {
        log_error("%s", err);
        return -1;
    }
    *state = j;
    return 0;
}

static void indexer_fini(void *state)
{
    jobs_stop(state);
}

int main(int argc, char **argv)
{
    svc_def def = {
        .name = "svc-indexer",
        .summary = "indexes a website or a folder of pages into the knowledge base",
        .usage_extra = "  svc-indexer index [--force] [--no-prune] [--pretty-urls] [--base-url URL] FOLDER-or-URL...\n"
                       "                          index now and print a summary (exit 3 if pages failed)\n"
                       "  svc-indexer reset       empty the knowledge base (before changing embedding model)\n",
        .service = &indexer_service.base,
        .url_var = "INDEXER_URL",
        .default_url = "tcp://127.0.0.1:7104",
        .needs_db = 1,
        .vars = indexer_vars,
        .nvars = sizeof(indexer_vars) / sizeof(indexer_vars[0]),
        .command = indexer_command,
        SVC_DB_WORKERS,
        .init = indexer_init,
        .fini = indexer_fini,
    };
    return svc_main(&def, argc, argv);
}
