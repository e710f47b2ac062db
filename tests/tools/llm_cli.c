/* llm_cli: drives a running svc-llm from the command line (tests, demos).
 * Output is JSON, one object per line.
 *
 *   llm_cli URL health
 *   llm_cli URL generate REQ                    {"stream_id","provider","model"}
 *   llm_cli URL poll STREAM_ID AFTER_SEQ WAIT_MS   one PollReply
 *   llm_cli URL cancel STREAM_ID [REASON]       {"was_running":..}
 *   llm_cli URL run REQ [OPTIONS]               generate, then poll until done:
 *        one line per delta {"seq","kind","text"|"tool_name","tool_input"},
 *        then a summary {"done","stop_reason","usage",...,"text":<all TEXT>}
 *        --wait MS               max_wait_ms of each poll (default 5000)
 *        --cancel-after N        Cancel once N deltas arrived (prints the reply)
 *        --quiet                 only the summary
 *   llm_cli URL load N REQ      N generations at once, each polled to its end:
 *        {"started","completed","failed","errors":[..]}
 *
 * REQ is a GenerateRequest as JSON (field names of proto/llm.proto; history
 * items {role, content}; sources {title, url, heading_path, text, score};
 * lead {...}), given inline, as @FILE, or "-" for stdin. The extra field
 * "user_message_hex" sets user_message from hex bytes (to send bytes that
 * JSON cannot carry, such as invalid UTF-8).
 *
 * An RPC error prints {"rpc_error":"CODE","message":..,"retry_after_ms":..}
 * and exits 3. Usage errors exit 2. */
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "llm.pb-c.h"
#include "log.h"
#include "rpc.pb-c.h"
#include "rpc_client.h"

#define CLI_RUN_TIMEOUT_MS 120000
#define CLI_TEXT_MAX (4u << 20)

static rpc_client *cli;

static void cli_print(json_t *o)
{
    char *s = json_dumps(o, JSON_COMPACT);
    if (s != NULL) {
        printf("%s\n", s);
        fflush(stdout);
        free(s);
    }
    json_decref(o);
}

static json_t *cli_str(const char *s)
{
    return s ? json_string(s) : json_string("");
}

static json_t *cli_rpc_error(const rpc_result *r)
{
    return json_pack("{s:s, s:s, s:i}", "rpc_error", rpc_code_name(r->code), "message", r->message, "retry_after_ms",
                     (json_int_t)r->retry_after_ms);
}

/* ------------------------------------------------------ request from JSON */

typedef struct cli_request {
    json_t *json; /* keeps the strings alive */
    Chat__Llm__GenerateRequest rq;
    Chat__Common__ChatMessage *hist;
    Chat__Common__ChatMessage **hist_p;
    Chat__Common__Source *src;
    Chat__Common__Source **src_p;
    Chat__Common__LeadState lead;
    char *hex;
} cli_request;

static char *cli_s(json_t *o, const char *k)
{
    const char *v = json_string_value(json_object_get(o, k));
    return (char *)(v ? v : "");
}

static char *cli_unhex(const char *h)
{
    size_t n = strlen(h) / 2;
    char *out = malloc(n + 1);
    if (out == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned v = 0;
        sscanf(h + 2 * i, "%2x", &v);
        out[i] = (char)v;
    }
    out[n] = '\0';
    return out;
}

static int cli_request_load(cli_request *r, const char *arg)
{
    memset(r, 0, sizeof(*r));
    json_error_t err;
    if (strcmp(arg, "-") == 0) {
        r->json = json_loadf(stdin, 0, &err);
    } else if (arg[0] == '@') {
        r->json = json_load_file(arg + 1, 0, &err);
    } else {
        r->json = json_loads(arg, 0, &err);
    }
    if (!json_is_object(r->json)) {
        fprintf(stderr, "llm_cli: the request is not a JSON object: %s\n", err.text);
        return -1;
    }
    json_t *j = r->json;
    chat__llm__generate_request__init(&r->rq);
    r->rq.session_id = cli_s(j, "session_id");
    r->rq.turn_id = cli_s(j, "turn_id");
    r->rq.user_message = cli_s(j, "user_message");
    r->rq.locale = cli_s(j, "locale");
    r->rq.business_hours_open = json_is_true(json_object_get(j, "business_hours_open"));
    r->rq.business_hours_text = cli_s(j, "business_hours_text");
    r->rq.max_tokens = (uint32_t)json_integer_value(json_object_get(j, "max_tokens"));
    r->rq.provider = cli_s(j, "provider");
    r->rq.user_hash = cli_s(j, "user_hash");
    const char *hex = json_string_value(json_object_get(j, "user_message_hex"));
    if (hex != NULL) {
        r->hex = cli_unhex(hex);
        r->rq.user_message = r->hex;
    }
    json_t *h = json_object_get(j, "history");
    size_t nh = json_array_size(h);
    if (nh > 0) {
        r->hist = calloc(nh, sizeof(*r->hist));
        r->hist_p = calloc(nh, sizeof(*r->hist_p));
        for (size_t i = 0; i < nh; i++) {
            json_t *m = json_array_get(h, i);
            chat__common__chat_message__init(&r->hist[i]);
            r->hist[i].role = cli_s(m, "role");
            r->hist[i].content = cli_s(m, "content");
            r->hist_p[i] = &r->hist[i];
        }
        r->rq.n_history = nh;
        r->rq.history = r->hist_p;
    }
    json_t *s = json_object_get(j, "sources");
    size_t ns = json_array_size(s);
    if (ns > 0) {
        r->src = calloc(ns, sizeof(*r->src));
        r->src_p = calloc(ns, sizeof(*r->src_p));
        for (size_t i = 0; i < ns; i++) {
            json_t *x = json_array_get(s, i);
            chat__common__source__init(&r->src[i]);
            r->src[i].title = cli_s(x, "title");
            r->src[i].url = cli_s(x, "url");
            r->src[i].heading_path = cli_s(x, "heading_path");
            r->src[i].text = cli_s(x, "text");
            r->src[i].score = json_number_value(json_object_get(x, "score"));
            r->src_p[i] = &r->src[i];
        }
        r->rq.n_sources = ns;
        r->rq.sources = r->src_p;
    }
    json_t *l = json_object_get(j, "lead");
    if (json_is_object(l)) {
        chat__common__lead_state__init(&r->lead);
        r->lead.name = cli_s(l, "name");
        r->lead.email = cli_s(l, "email");
        r->lead.phone = cli_s(l, "phone");
        r->lead.company = cli_s(l, "company");
        r->lead.need = cli_s(l, "need");
        r->lead.consent = json_is_true(json_object_get(l, "consent"));
        r->rq.lead = &r->lead;
    }
    return 0;
}

static void cli_request_free(cli_request *r)
{
    free(r->hist);
    free(r->hist_p);
    free(r->src);
    free(r->src_p);
    free(r->hex);
    json_decref(r->json);
}

/* ------------------------------------------------------------------ calls */

static json_t *cli_delta_json(const Chat__Llm__Delta *d)
{
    static const char *const kinds[] = {"TEXT", "TOOL_CALL", "NOTICE"};
    json_t *o = json_pack("{s:i, s:s}", "seq", (json_int_t)d->seq, "kind", d->kind <= 2 ? kinds[d->kind] : "?");
    if (d->kind == CHAT__LLM__DELTA_KIND__TOOL_CALL) {
        json_object_set_new(o, "tool_name", cli_str(d->tool_name));
        json_object_set_new(o, "tool_call_id", cli_str(d->tool_call_id));
        json_t *in = json_loads(d->tool_input_json ? d->tool_input_json : "", 0, NULL);
        json_object_set_new(o, "tool_input", in ? in : cli_str(d->tool_input_json));
    } else {
        json_t *t = json_string(d->text ? d->text : "");
        json_object_set_new(o, "text", t ? t : json_null());
    }
    return o;
}

static json_t *cli_usage_json(const Chat__Common__Usage *u)
{
    if (u == NULL) {
        return json_null();
    }
    return json_pack("{s:i, s:i, s:i, s:i, s:s, s:s}", "input_tokens", (json_int_t)u->input_tokens, "output_tokens",
                     (json_int_t)u->output_tokens, "cache_creation_input_tokens",
                     (json_int_t)u->cache_creation_input_tokens, "cache_read_input_tokens",
                     (json_int_t)u->cache_read_input_tokens, "provider", u->provider ? u->provider : "", "model",
                     u->model ? u->model : "");
}

static json_t *cli_poll_json(const Chat__Llm__PollReply *p)
{
    json_t *d = json_array();
    for (size_t i = 0; i < p->n_deltas; i++) {
        json_array_append_new(d, cli_delta_json(p->deltas[i]));
    }
    return json_pack("{s:o, s:b, s:s, s:o, s:s, s:s, s:b, s:b, s:s}", "deltas", d, "done", p->done, "stop_reason",
                     p->stop_reason ? p->stop_reason : "", "usage", cli_usage_json(p->usage), "error_code",
                     rpc_code_name((rpc_code)p->error_code), "error_message", p->error_message ? p->error_message : "",
                     "error_retryable", p->error_retryable, "partial", p->partial, "provider",
                     p->provider ? p->provider : "");
}

static rpc_code cli_generate(const Chat__Llm__GenerateRequest *rq, rpc_result *res)
{
    return rpc_call_sync(cli, "Generate", &rq->base, 10000, NULL, res);
}

static rpc_code cli_poll(const char *id, uint32_t after, uint32_t wait, rpc_result *res)
{
    Chat__Llm__PollRequest p = CHAT__LLM__POLL_REQUEST__INIT;
    p.stream_id = (char *)id;
    p.after_seq = after;
    p.max_wait_ms = wait;
    return rpc_call_sync(cli, "Poll", &p.base, wait + 10000, NULL, res);
}

static rpc_code cli_cancel(const char *id, const char *reason, rpc_result *res)
{
    Chat__Llm__CancelRequest c = CHAT__LLM__CANCEL_REQUEST__INIT;
    c.stream_id = (char *)id;
    c.reason = (char *)reason;
    return rpc_call_sync(cli, "Cancel", &c.base, 10000, NULL, res);
}

typedef struct run_opts {
    uint32_t wait;
    unsigned cancel_after;
    int quiet;
} run_opts;

/* Generates and polls to the end. Returns the summary (or an error object)
 * and sets *ok. */
static json_t *cli_run(const Chat__Llm__GenerateRequest *rq, const run_opts *o, int *ok)
{
    rpc_result res;
    *ok = 0;
    if (cli_generate(rq, &res) != RPC_OK) {
        return cli_rpc_error(&res);
    }
    Chat__Llm__GenerateReply *g = (Chat__Llm__GenerateReply *)res.reply;
    char id[256];
    snprintf(id, sizeof(id), "%s", g->stream_id);
    json_t *head = json_pack("{s:s, s:s, s:s}", "stream_id", g->stream_id, "provider", g->provider, "model", g->model);
    protobuf_c_message_free_unpacked(res.reply, NULL);
    if (!o->quiet) {
        cli_print(json_incref(head));
    }
    char *text = calloc(1, CLI_TEXT_MAX);
    size_t tlen = 0;
    uint32_t after = 0, ndeltas = 0, polls = 0, last_seq = 0;
    int seq_ok = 1, cancelled = 0;
    int64_t t0 = clock_mono_ms();
    int64_t first_ms = -1;
    json_t *out = NULL;
    while (clock_mono_ms() - t0 < CLI_RUN_TIMEOUT_MS) {
        if (cli_poll(id, after, o->wait, &res) != RPC_OK) {
            out = cli_rpc_error(&res);
            break;
        }
        polls++;
        Chat__Llm__PollReply *p = (Chat__Llm__PollReply *)res.reply;
        for (size_t i = 0; i < p->n_deltas; i++) {
            Chat__Llm__Delta *d = p->deltas[i];
            if (d->seq != last_seq + 1) {
                seq_ok = 0;
            }
            last_seq = d->seq;
            after = d->seq;
            ndeltas++;
            if (first_ms < 0) {
                first_ms = clock_mono_ms() - t0;
            }
            if (d->kind == CHAT__LLM__DELTA_KIND__TEXT && d->text) {
                size_t n = strlen(d->text);
                if (tlen + n < CLI_TEXT_MAX) {
                    memcpy(text + tlen, d->text, n);
                    tlen += n;
                }
            }
            if (!o->quiet) {
                cli_print(cli_delta_json(d));
            }
        }
        int done = p->done;
        if (done) {
            out = cli_poll_json(p);
            json_object_del(out, "deltas");
        }
        protobuf_c_message_free_unpacked(res.reply, NULL);
        if (o->cancel_after > 0 && !cancelled && ndeltas >= o->cancel_after) {
            cancelled = 1;
            if (cli_cancel(id, "llm_cli --cancel-after", &res) == RPC_OK) {
                Chat__Llm__CancelReply *c = (Chat__Llm__CancelReply *)res.reply;
                cli_print(json_pack("{s:b}", "was_running", c->was_running));
                protobuf_c_message_free_unpacked(res.reply, NULL);
            } else {
                cli_print(cli_rpc_error(&res));
            }
        }
        if (done) {
            *ok = 1;
            break;
        }
    }
    if (out == NULL) {
        out = json_pack("{s:s}", "rpc_error", "TIMEOUT");
    }
    text[tlen] = '\0';
    json_t *t = json_string(text);
    json_object_set_new(out, "text", t ? t : json_null());
    json_object_set_new(out, "deltas", json_integer(ndeltas));
    json_object_set_new(out, "polls", json_integer(polls));
    json_object_set_new(out, "seq_ok", json_boolean(seq_ok));
    json_object_set_new(out, "first_delta_ms", json_integer(first_ms));
    json_object_set_new(out, "total_ms", json_integer(clock_mono_ms() - t0));
    json_object_set_new(out, "stream_id", json_string(id));
    json_decref(head);
    free(text);
    return out;
}

/* ------------------------------------------------------------------- load */

typedef struct load_arg {
    const Chat__Llm__GenerateRequest *rq;
    json_t *result;
    int ok;
} load_arg;

static void *cli_load_one(void *arg)
{
    load_arg *a = arg;
    run_opts o = {.wait = 5000, .quiet = 1};
    a->result = cli_run(a->rq, &o, &a->ok);
    return NULL;
}

static int cli_load(int n, const Chat__Llm__GenerateRequest *rq)
{
    load_arg *args = calloc((size_t)n, sizeof(*args));
    pthread_t *th = calloc((size_t)n, sizeof(*th));
    for (int i = 0; i < n; i++) {
        args[i].rq = rq;
        pthread_create(&th[i], NULL, cli_load_one, &args[i]);
    }
    int completed = 0, failed = 0;
    json_t *errors = json_array();
    json_t *providers = json_object();
    for (int i = 0; i < n; i++) {
        pthread_join(th[i], NULL);
        json_t *r = args[i].result;
        const char *stop = json_string_value(json_object_get(r, "stop_reason"));
        int good = args[i].ok && json_is_true(json_object_get(r, "seq_ok")) && stop != NULL &&
                   strcmp(stop, "error") != 0 && strcmp(stop, "cancelled") != 0;
        if (good) {
            completed++;
            const char *p = json_string_value(json_object_get(r, "provider"));
            json_t *c = json_object_get(providers, p ? p : "?");
            json_object_set_new(providers, p ? p : "?", json_integer(json_integer_value(c) + 1));
        } else {
            failed++;
            if (json_array_size(errors) < 5) {
                json_array_append(errors, r);
            }
        }
        json_decref(r);
    }
    cli_print(json_pack("{s:i, s:i, s:i, s:o, s:o}", "started", (json_int_t)n, "completed", (json_int_t)completed,
                        "failed", (json_int_t)failed, "providers", providers, "errors", errors));
    free(args);
    free(th);
    return failed == 0 ? 0 : 1;
}

/* ------------------------------------------------------------------- main */

static int usage(void)
{
    fprintf(stderr, "usage: llm_cli URL health | generate REQ | poll ID AFTER WAIT | cancel ID [REASON] |\n"
                    "               run REQ [--wait MS] [--cancel-after N] [--quiet] | load N REQ\n");
    return 2;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        return usage();
    }
    log_init("llm_cli", LOG_ERROR);
    char err[256];
    rpc_client_opts co = {.max_in_flight = 4096, .secret = getenv("RPC_SECRET")};
    if (rpc_client_open(&cli, &chat__llm__llm__descriptor, argv[1], &co, err, sizeof(err)) != 0) {
        fprintf(stderr, "llm_cli: %s\n", err);
        return 2;
    }
    /* Give the connection a moment, so the first call does not fail fast. */
    for (int i = 0; i < 100 && !rpc_client_connected(cli); i++) {
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
    }
    const char *cmd = argv[2];
    int rc = 0;
    rpc_result res;
    if (strcmp(cmd, "health") == 0) {
        Chat__Rpc__HealthRequest h = CHAT__RPC__HEALTH_REQUEST__INIT;
        if (rpc_call_sync(cli, "Health", &h.base, 5000, NULL, &res) != RPC_OK) {
            cli_print(cli_rpc_error(&res));
            rc = 3;
        } else {
            Chat__Rpc__HealthReply *r = (Chat__Rpc__HealthReply *)res.reply;
            cli_print(
                json_pack("{s:s, s:b, s:s}", "service", r->service, "ready", r->ready, "replica_id", r->replica_id));
            protobuf_c_message_free_unpacked(res.reply, NULL);
        }
    } else if (strcmp(cmd, "generate") == 0 && argc == 4) {
        cli_request r;
        if (cli_request_load(&r, argv[3]) != 0) {
            rc = 2;
        } else {
            if (cli_generate(&r.rq, &res) != RPC_OK) {
                cli_print(cli_rpc_error(&res));
                rc = 3;
            } else {
                Chat__Llm__GenerateReply *g = (Chat__Llm__GenerateReply *)res.reply;
                cli_print(json_pack("{s:s, s:s, s:s}", "stream_id", g->stream_id, "provider", g->provider, "model",
                                    g->model));
                protobuf_c_message_free_unpacked(res.reply, NULL);
            }
            cli_request_free(&r);
        }
    } else if (strcmp(cmd, "poll") == 0 && argc == 6) {
        if (cli_poll(argv[3], (uint32_t)strtoul(argv[4], NULL, 10), (uint32_t)strtoul(argv[5], NULL, 10), &res) !=
            RPC_OK) {
            cli_print(cli_rpc_error(&res));
            rc = 3;
        } else {
            cli_print(cli_poll_json((Chat__Llm__PollReply *)res.reply));
            protobuf_c_message_free_unpacked(res.reply, NULL);
        }
    } else if (strcmp(cmd, "cancel") == 0 && (argc == 4 || argc == 5)) {
        if (cli_cancel(argv[3], argc == 5 ? argv[4] : "llm_cli", &res) != RPC_OK) {
            cli_print(cli_rpc_error(&res));
            rc = 3;
        } else {
            Chat__Llm__CancelReply *c = (Chat__Llm__CancelReply *)res.reply;
            cli_print(json_pack("{s:b}", "was_running", c->was_running));
            protobuf_c_message_free_unpacked(res.reply, NULL);
        }
    } else if (strcmp(cmd, "run") == 0 && argc >= 4) {
        run_opts o = {.wait = 5000};
        for (int i = 4; i < argc; i++) {
            if (strcmp(argv[i], "--wait") == 0 && i + 1 < argc) {
                o.wait = (uint32_t)strtoul(argv[++i], NULL, 10);
            } else if (strcmp(argv[i], "--cancel-after") == 0 && i + 1 < argc) {
                o.cancel_after = (unsigned)strtoul(argv[++i], NULL, 10);
            } else if (strcmp(argv[i], "--quiet") == 0) {
                o.quiet = 1;
            } else {
                rpc_client_close(cli);
                return usage();
            }
        }
        cli_request r;
        if (cli_request_load(&r, argv[3]) != 0) {
            rc = 2;
        } else {
            int ok = 0;
            json_t *out = cli_run(&r.rq, &o, &ok);
            rc = json_object_get(out, "rpc_error") ? 3 : 0;
            cli_print(out);
            cli_request_free(&r);
        }
    } else if (strcmp(cmd, "load") == 0 && argc == 5) {
        cli_request r;
        int n = atoi(argv[3]);
        if (n <= 0 || n > 10000 || cli_request_load(&r, argv[4]) != 0) {
            rc = 2;
        } else {
            rc = cli_load(n, &r.rq);
            cli_request_free(&r);
        }
    } else {
        rc = usage();
    }
    rpc_client_close(cli);
    return rc;
}
