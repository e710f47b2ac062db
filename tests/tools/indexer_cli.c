/* indexer_cli: drives a running svc-indexer over RPC (tests).
 *
 *   indexer_cli URL index [--force] [--no-prune] SOURCE...   {"job_id":N}
 *   indexer_cli URL status [JOB_ID]                          the StatusReply as JSON
 *   indexer_cli URL wait JOB_ID SECONDS                      status once the job ended
 *
 * An RPC error prints {"rpc_error":"CODE","message":..} and exits 3; usage
 * errors exit 2. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "indexer.pb-c.h"
#include "log.h"
#include "rpc_client.h"

static int cli_fail(const rpc_result *r)
{
    printf("{\"rpc_error\":\"%s\",\"message\":\"%s\"}\n", rpc_code_name(r->code), r->message);
    return 3;
}

static void cli_status_print(const Chat__Indexer__StatusReply *s)
{
    json_t *errs = json_array();
    for (size_t i = 0; i < s->n_errors; i++) {
        json_array_append_new(
            errs, json_pack("{s:s, s:s}", "source", s->errors[i]->source, "message", s->errors[i]->message));
    }
    json_t *j =
        json_pack("{s:I, s:s, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:s, s:o}", "job_id", (json_int_t)s->job_id,
                  "state", s->state, "seen", (int)s->documents_seen, "added", (int)s->documents_added, "changed",
                  (int)s->documents_changed, "removed", (int)s->documents_removed, "failed", (int)s->documents_failed,
                  "skipped", (int)s->documents_skipped, "chunks_embedded", (int)s->chunks_embedded, "chunks_written",
                  (int)s->chunks_written, "message", s->message, "errors", errs);
    char *t = json_dumps(j, JSON_COMPACT);
    printf("%s\n", t);
    free(t);
    json_decref(j);
}

static int cli_status(rpc_client *c, uint64_t id, int print, Chat__Indexer__StatusReply **out)
{
    Chat__Indexer__StatusRequest rq = CHAT__INDEXER__STATUS_REQUEST__INIT;
    rq.job_id = id;
    rpc_result r;
    if (rpc_call_sync(c, "Status", &rq.base, 5000, NULL, &r) != RPC_OK) {
        return cli_fail(&r);
    }
    Chat__Indexer__StatusReply *s = (Chat__Indexer__StatusReply *)r.reply;
    if (print) {
        cli_status_print(s);
    }
    if (out != NULL) {
        *out = s;
    } else {
        protobuf_c_message_free_unpacked(r.reply, NULL);
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: indexer_cli URL index|status|wait ...\n");
        return 2;
    }
    log_init("indexer_cli", LOG_ERROR);
    char err[256];
    rpc_client *c = NULL;
    rpc_client_opts co = {.secret = getenv("RPC_SECRET")}; /* the services' secret, when they have one */
    if (rpc_client_open(&c, &chat__indexer__indexer__descriptor, argv[1], &co, err, sizeof(err)) != 0) {
        fprintf(stderr, "indexer_cli: %s\n", err);
        return 2;
    }
    for (int i = 0; i < 100 && !rpc_client_connected(c); i++) {
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
    }
    int rc = 0;
    if (strcmp(argv[2], "index") == 0) {
        Chat__Indexer__IndexRequest rq = CHAT__INDEXER__INDEX_REQUEST__INIT;
        rq.prune = 1;
        char **srcs = calloc((size_t)argc, sizeof(*srcs));
        size_t n = 0;
        for (int i = 3; i < argc; i++) {
            if (strcmp(argv[i], "--force") == 0) {
                rq.force = 1;
            } else if (strcmp(argv[i], "--no-prune") == 0) {
                rq.prune = 0;
            } else {
                srcs[n++] = argv[i];
            }
        }
        rq.n_sources = n;
        rq.sources = srcs;
        rpc_result r;
        if (rpc_call_sync(c, "Index", &rq.base, 5000, NULL, &r) != RPC_OK) {
            rc = cli_fail(&r);
        } else {
            printf("{\"job_id\":%llu}\n", (unsigned long long)((Chat__Indexer__IndexReply *)r.reply)->job_id);
            protobuf_c_message_free_unpacked(r.reply, NULL);
        }
        free(srcs);
    } else if (strcmp(argv[2], "status") == 0) {
        rc = cli_status(c, argc > 3 ? strtoull(argv[3], NULL, 10) : 0, 1, NULL);
    } else if (strcmp(argv[2], "wait") == 0 && argc == 5) {
        uint64_t id = strtoull(argv[3], NULL, 10);
        int secs = atoi(argv[4]);
        rc = 4;
        for (int i = 0; i < secs * 20; i++) {
            Chat__Indexer__StatusReply *s = NULL;
            if ((rc = cli_status(c, id, 0, &s)) != 0) {
                break;
            }
            int over = strcmp(s->state, "done") == 0 || strcmp(s->state, "failed") == 0;
            if (over) {
                cli_status_print(s);
            }
            protobuf_c_message_free_unpacked(&s->base, NULL);
            if (over) {
                rc = 0;
                break;
            }
            rc = 4;
            struct timespec ts = {0, 50 * 1000000L};
            nanosleep(&ts, NULL);
        }
        if (rc == 4) {
            printf("{\"timeout\":true}\n");
        }
    } else {
        fprintf(stderr, "indexer_cli: unknown command %s\n", argv[2]);
        rc = 2;
    }
    rpc_client_close(c);
    return rc;
}
