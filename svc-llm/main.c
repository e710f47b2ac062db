/* svc-llm: prompt assembly and model providers; holds in-flight
 * generations and streams them to the gateway by long polling.
 *
 * This file wires the service: configuration, the RPC handlers (on the
 * server's worker threads), and the state they share (the generation
 * table, generation.h, and the provider thread, engine.h).
 *
 *   Generate  validates, creates a generation, hands it to the engine,
 *             answers at once with the stream id
 *   Poll      answers at once when deltas (or the end) exist; otherwise
 *             defers the call, which the engine thread answers with the
 *             next delta or at the end of the wait
 *   Cancel    ends the generation and has the engine drop its upstream
 *             request
 * On a stop signal (llm_stopping) every waiting poll is answered at once, so
 * the drain ends quickly and no deferred call outlives the server. */
#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "engine.h"
#include "generation.h"
#include "http_client.h"
#include "lead_slots.h"
#include "llm.pb-c.h"
#include "log.h"
#include "offline.h"
#include "rpc.pb-c.h"
#include "rpc_server.h"
#include "svc_main.h"
#include "svc_metrics.h"
#include "utf8.h"

#define LLM_MESSAGE_MAX 16384u /* bytes of user_message */
#define LLM_HISTORY_MAX 200u
#define LLM_SOURCES_MAX 20u
#define LLM_POLL_WAIT_MAX 30000u
#define LLM_POLL_MARGIN_MS 250  /* answer this long before the caller's deadline */
#define LLM_RETRY_AFTER_MS 1000 /* hint when the table is full */

typedef Chat__Llm__Llm_Service llm_svc;

typedef struct llm_state {
    gen_table *table;
    engine *eng;
    eng_config ec;
    char *anthropic_url, *openai_url;
    prov_kind default_kind;
    /* Set by llm_stopping. A poll checks it and defers under the read lock,
     * the hook sets it under the write lock: so every poll either defers
     * before the hook answers all waiters, or sees it and does not wait. */
    pthread_rwlock_t stop_lock;
    int stopping;
} llm_state;

/* ============================================================ handlers */

SVC_HEALTH_HANDLER(llm_, llm_svc)

static int llm_utf8(const char *s)
{
    return s == NULL || utf8_valid(s, strlen(s));
}

static int llm_blank(const char *s)
{
    for (; s != NULL && *s; s++) {
        if (!isspace((unsigned char)*s)) {
            return 0;
        }
    }
    return 1;
}

/* NULL when the request is acceptable, else why not. */
static const char *llm_invalid(const Chat__Llm__GenerateRequest *in)
{
    if (llm_blank(in->user_message)) {
        return "user_message is empty";
    }
    if (strlen(in->user_message) > LLM_MESSAGE_MAX) {
        return "user_message is over 16 KB";
    }
    if (in->n_history > LLM_HISTORY_MAX) {
        return "history has more than 200 messages";
    }
    if (in->n_sources > LLM_SOURCES_MAX) {
        return "more than 20 sources";
    }
    const char *top[] = {in->session_id,          in->turn_id,  in->user_message, in->locale,
                         in->business_hours_text, in->provider, in->user_hash};
    for (size_t i = 0; i < sizeof(top) / sizeof(top[0]); i++) {
        if (!llm_utf8(top[i])) {
            return "a string is not valid UTF-8";
        }
    }
    for (size_t i = 0; i < in->n_history; i++) {
        const Chat__Common__ChatMessage *m = in->history[i];
        if (m->role == NULL || (strcmp(m->role, "user") != 0 && strcmp(m->role, "assistant") != 0)) {
            return "a history message has a role other than user or assistant";
        }
        if (!llm_utf8(m->content) || !llm_utf8(m->turn_id) || !llm_utf8(m->stop_reason)) {
            return "a history message is not valid UTF-8";
        }
    }
    for (size_t i = 0; i < in->n_sources; i++) {
        const Chat__Common__Source *s = in->sources[i];
        if (!llm_utf8(s->title) || !llm_utf8(s->url) || !llm_utf8(s->heading_path) || !llm_utf8(s->text)) {
            return "a source is not valid UTF-8";
        }
    }
    const Chat__Common__LeadState *l = in->lead;
    if (l != NULL) {
        const char *f[] = {l->name,      l->email,    l->phone,  l->company,   l->need,
                           l->team_size, l->timeline, l->budget, l->extra_json};
        for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
            if (!llm_utf8(f[i])) {
                return "a lead field is not valid UTF-8";
            }
        }
    }
    return NULL;
}

/* An owned deep copy of the request (the input is freed when the handler
 * returns). */
static Chat__Llm__GenerateRequest *llm_copy_request(const Chat__Llm__GenerateRequest *in)
{
    size_t n = chat__llm__generate_request__get_packed_size(in);
    uint8_t *buf = malloc(n ? n : 1);
    if (buf == NULL) {
        return NULL;
    }
    chat__llm__generate_request__pack(in, buf);
    Chat__Llm__GenerateRequest *c = chat__llm__generate_request__unpack(NULL, n, buf);
    free(buf);
    return c;
}

static void llm_generate(llm_svc *svc, const Chat__Llm__GenerateRequest *in, Chat__Llm__GenerateReply_Closure done,
                         void *cd)
{
    (void)svc;
    llm_state *st = rpc_call_server_arg(cd);
    const char *why = llm_invalid(in);
    if (why != NULL) {
        rpc_fail(cd, RPC_INVALID_ARGUMENT, "%s", why);
        done(NULL, cd);
        return;
    }
    prov_kind kind = st->default_kind;
    if (in->provider != NULL && in->provider[0]) {
        if (strcmp(in->provider, "offline") == 0) {
            kind = PROV_OFFLINE;
        } else if (strcmp(in->provider, "anthropic") == 0) {
            kind = PROV_ANTHROPIC;
        } else if (strcmp(in->provider, "openai") == 0) {
            kind = PROV_OPENAI;
        } else {
            rpc_fail(cd, RPC_INVALID_ARGUMENT, "unknown provider (offline, anthropic or openai)");
            done(NULL, cd);
            return;
        }
        if (kind == PROV_ANTHROPIC && st->ec.anthropic_key[0] == '\0') {
            rpc_fail(cd, RPC_FAILED_PRECONDITION, "the anthropic provider needs ANTHROPIC_API_KEY");
            done(NULL, cd);
            return;
        }
    }

    Chat__Rpc__HealthReply h = CHAT__RPC__HEALTH_REPLY__INIT;
    rpc_fill_health(cd, &h); /* for the replica id the stream id names */
    gen *g = NULL;
    if (gen_create(st->table, h.replica_id, eng_provider_name(kind), eng_model(st->eng, kind), clock_mono_ms(), &g) !=
        RPC_OK) {
        rpc_set_retry_after(cd, LLM_RETRY_AFTER_MS);
        rpc_fail(cd, RPC_RESOURCE_EXHAUSTED, "too many generations in memory; retry shortly");
        done(NULL, cd);
        return;
    }
    Chat__Llm__GenerateRequest *copy = llm_copy_request(in);
    if (copy == NULL || eng_submit(st->eng, g, kind, copy, rpc_call_request_id(cd)) != 0) {
        if (copy != NULL) {
            protobuf_c_message_free_unpacked(&copy->base, NULL);
        }
        gen_finish(g, "error", RPC_UNAVAILABLE, "svc-llm could not start the generation", 1);
        gen_unref(g);
        rpc_set_retry_after(cd, LLM_RETRY_AFTER_MS);
        rpc_fail(cd, RPC_UNAVAILABLE, "svc-llm could not start the generation");
        done(NULL, cd);
        return;
    }
    Chat__Llm__GenerateReply out = CHAT__LLM__GENERATE_REPLY__INIT;
    out.stream_id = (char *)gen_id(g);
    out.provider = (char *)eng_provider_name(kind);
    out.model = (char *)eng_model(st->eng, kind);
    log_fields(LOG_DEBUG, "generation started", "stream_id", out.stream_id, "provider", out.provider, NULL);
    done(&out, cd);
    gen_unref(g);
}

static void llm_poll(llm_svc *svc, const Chat__Llm__PollRequest *in, Chat__Llm__PollReply_Closure done, void *cd)
{
    (void)svc;
    llm_state *st = rpc_call_server_arg(cd);
    gen *g = gen_find(st->table, in->stream_id);
    if (g == NULL) {
        rpc_fail(cd, RPC_NOT_FOUND, "unknown or expired stream");
        done(NULL, cd);
        return;
    }
    uint32_t wait = in->max_wait_ms;
    if (wait > LLM_POLL_WAIT_MAX) {
        wait = LLM_POLL_WAIT_MAX;
    }
    int64_t left = rpc_call_remaining_ms(cd) - LLM_POLL_MARGIN_MS;
    if ((int64_t)wait > left) {
        wait = left > 0 ? (uint32_t)left : 0;
    }
    pthread_rwlock_rdlock(&st->stop_lock);
    if (st->stopping) {
        wait = 0;
    }
    int64_t now = clock_mono_ms(), arm = 0;
    if (gen_poll(g, in->after_seq, wait, now, done, cd, &arm) == 1 && arm != 0) {
        eng_poll_timer(st->eng, g, arm);
    }
    pthread_rwlock_unlock(&st->stop_lock);
    gen_unref(g);
}

static void llm_cancel(llm_svc *svc, const Chat__Llm__CancelRequest *in, Chat__Llm__CancelReply_Closure done, void *cd)
{
    (void)svc;
    llm_state *st = rpc_call_server_arg(cd);
    Chat__Llm__CancelReply out = CHAT__LLM__CANCEL_REPLY__INIT;
    gen *g = gen_find(st->table, in->stream_id);
    if (g != NULL) {
        out.was_running = gen_finish(g, "cancelled", RPC_OK, NULL, 0);
        eng_cancel(st->eng, g);
        if (out.was_running) {
            char reason[128];
            snprintf(reason, sizeof(reason), "%s", in->reason ? in->reason : "");
            log_fields(LOG_INFO, "generation cancelled", "stream_id", gen_id(g), "reason", reason, NULL);
        }
        gen_unref(g);
    }
    done(&out, cd);
}

static llm_svc llm_service = CHAT__LLM__LLM__INIT(llm_);

/* ======================================================= configuration */

static const cfg_var llm_vars[] = {
    {.name = "LLM_PROVIDER",
     .type = CFG_ENUM,
     .choices = "offline|anthropic|openai",
     .help = "model provider; default anthropic when ANTHROPIC_API_KEY is set, else offline"},
    {.name = "ANTHROPIC_API_KEY", .type = CFG_STR, .flags = CFG_SECRET, .help = "Anthropic API key"},
    {.name = "ANTHROPIC_BASE_URL",
     .type = CFG_URL,
     .def = "https://api.anthropic.com",
     .schemes = "http|https",
     .help = "Anthropic API base (requests go to {base}/v1/messages)"},
    {.name = "ANTHROPIC_MODEL", .type = CFG_STR, .def = "claude-sonnet-4-5", .help = "Claude model name"},
    {.name = "ANTHROPIC_MAX_TOKENS",
     .type = CFG_INT,
     .def = "1024",
     .min = 1,
     .max = 128000,
     .help = "answer length cap in tokens when a request gives none (both providers)"},
    {.name = "OPENAI_API_KEY",
     .type = CFG_STR,
     .flags = CFG_SECRET,
     .help = "for LLM_PROVIDER=openai (optional for local servers)"},
    {.name = "OPENAI_BASE_URL",
     .type = CFG_URL,
     .def = "https://api.openai.com/v1",
     .schemes = "http|https",
     .help = "OpenAI-compatible API base: Ollama, vLLM, llama.cpp (requests go to {base}/chat/completions)"},
    {.name = "OPENAI_MODEL", .type = CFG_STR, .def = "gpt-4o-mini", .help = "model for LLM_PROVIDER=openai"},
    {.name = "OFFLINE_TOKENS_PER_SECOND",
     .type = CFG_INT,
     .def = "40",
     .min = 0,
     .max = 100000,
     .help = "pace of the offline provider's answer, words per second (0 = at once)"},
    {.name = "LLM_FIRST_TOKEN_TIMEOUT",
     .type = CFG_DURATION_MS,
     .def = "20s",
     .min = 100,
     .max = 600000,
     .help = "no first token by then: answer offline instead"},
    {.name = "LLM_TIMEOUT",
     .type = CFG_DURATION_MS,
     .def = "120s",
     .min = 1000,
     .max = 3600000,
     .help = "longest a whole generation may take"},
    {.name = "GENERATION_IDLE_TTL",
     .type = CFG_DURATION_MS,
     .def = "60s",
     .min = 1000,
     .max = 86400000,
     .help = "a generation not polled for this long is dropped (and its upstream request cancelled)"},
    {.name = "GENERATION_DONE_GRACE",
     .type = CFG_DURATION_MS,
     .def = "10s",
     .min = 0,
     .max = 86400000,
     .help = "a finished generation is dropped this long after a poll reply carried its end (a caller whose reply "
             "was lost polls again within it)"},
    {.name = "MAX_GENERATIONS",
     .type = CFG_INT,
     .def = "10000",
     .min = 1,
     .max = 1000000,
     .help = "generations held in memory at once; more are refused with RESOURCE_EXHAUSTED"},
    {.name = "HISTORY_TOKEN_BUDGET",
     .type = CFG_INT,
     .def = "4000",
     .min = 0,
     .max = 1000000,
     .help = "estimated tokens of conversation history sent to the model"},
    {.name = "COMPANY_NAME", .type = CFG_STR, .def = "our company", .help = "the company the assistant speaks for"},
    {.name = "LEAD_SLOTS",
     .type = CFG_STR,
     .def = LEAD_SLOTS_DEFAULT,
     .help = "lead fields the assistant asks for and records (name, email, phone, company, need, team_size, "
             "timeline, budget)"},
    {.name = "LEAD_DEFAULT_COUNTRY",
     .type = CFG_ENUM,
     .def = LEAD_COUNTRY_DEFAULT,
     .choices = LEAD_COUNTRIES,
     .help = "country of phone numbers given without a country code (offline rules)"},
};

static const char *llm_str(const cfg *c, const char *name)
{
    const char *v = cfg_str(c, name);
    return v ? v : "";
}

static char *llm_url(const char *base, const char *path)
{
    size_t n = strlen(base);
    while (n > 0 && base[n - 1] == '/') {
        n--;
    }
    size_t len = n + strlen(path) + 1;
    char *s = malloc(len);
    if (s != NULL) {
        snprintf(s, len, "%.*s%s", (int)n, base, path);
    }
    return s;
}

/* A stop signal came: answer every waiting poll with what exists, and let
 * no poll wait from now on, so the drain that follows is quick. */
static void llm_stopping(void *state)
{
    llm_state *st = state;
    pthread_rwlock_wrlock(&st->stop_lock);
    st->stopping = 1;
    pthread_rwlock_unlock(&st->stop_lock);
    gen_table_answer_waiters(st->table);
}

static void llm_fini(void *state)
{
    llm_state *st = state;
    if (st == NULL) {
        return;
    }
    eng_stop(st->eng);
    gen_table_free(st->table);
    pthread_rwlock_destroy(&st->stop_lock);
    free(st->anthropic_url);
    free(st->openai_url);
    free(st);
}

/* svc-llm's own /metrics lines: generations held (running, or finished
 * and waiting for their last Poll) against MAX_GENERATIONS. */
static void llm_metrics(FILE *f, void *arg)
{
    llm_state *st = arg;
    fprintf(f,
            "# HELP chat_llm_generations Generations held now (running or awaiting their last Poll).\n"
            "# TYPE chat_llm_generations gauge\nchat_llm_generations{service=\"svc-llm\"} %zu\n",
            gen_table_count(st->table));
}

static int llm_init(const cfg *c, void **state)
{
    char err[CFG_ERR_MAX];
    if (lead_conf_init(cfg_str(c, "LEAD_SLOTS"), cfg_str(c, "LEAD_DEFAULT_COUNTRY"), err, sizeof(err)) != 0) {
        log_error("configuration error: %s", err);
        return -1;
    }
    llm_state *st = calloc(1, sizeof(*st));
    if (st == NULL) {
        return -1;
    }
    const char *provider = cfg_str(c, "LLM_PROVIDER");
    const char *akey = llm_str(c, "ANTHROPIC_API_KEY");
    if (provider == NULL) {
        st->default_kind = akey[0] ? PROV_ANTHROPIC : PROV_OFFLINE;
    } else {
        st->default_kind = strcmp(provider, "anthropic") == 0 ? PROV_ANTHROPIC
                           : strcmp(provider, "openai") == 0  ? PROV_OPENAI
                                                              : PROV_OFFLINE;
    }
    if (st->default_kind == PROV_ANTHROPIC && akey[0] == '\0') {
        log_error("ANTHROPIC_API_KEY: required when LLM_PROVIDER=anthropic");
        free(st);
        return -1;
    }
    st->anthropic_url = llm_url(llm_str(c, "ANTHROPIC_BASE_URL"), "/v1/messages");
    st->openai_url = llm_url(llm_str(c, "OPENAI_BASE_URL"), "/chat/completions");
    st->ec = (eng_config){
        .company = llm_str(c, "COMPANY_NAME"),
        .anthropic_key = akey,
        .anthropic_url = st->anthropic_url,
        .anthropic_model = llm_str(c, "ANTHROPIC_MODEL"),
        .openai_key = llm_str(c, "OPENAI_API_KEY"),
        .openai_url = st->openai_url,
        .openai_model = llm_str(c, "OPENAI_MODEL"),
        .max_tokens = (unsigned)cfg_int(c, "ANTHROPIC_MAX_TOKENS"),
        .offline_tps = (unsigned)cfg_int(c, "OFFLINE_TOKENS_PER_SECOND"),
        .first_token_timeout_ms = cfg_int(c, "LLM_FIRST_TOKEN_TIMEOUT"),
        .timeout_ms = cfg_int(c, "LLM_TIMEOUT"),
        .idle_ttl_ms = cfg_int(c, "GENERATION_IDLE_TTL"),
        .done_grace_ms = cfg_int(c, "GENERATION_DONE_GRACE"),
        .history_budget = (size_t)cfg_int(c, "HISTORY_TOKEN_BUDGET"),
    };
    http_global_init();
    pthread_rwlock_init(&st->stop_lock, NULL);
    if (st->anthropic_url == NULL || st->openai_url == NULL ||
        gen_table_new(&st->table, (size_t)cfg_int(c, "MAX_GENERATIONS")) != 0 ||
        eng_start(&st->eng, &st->ec, st->table) != 0) {
        log_error("svc-llm: cannot set up (out of memory or threads)");
        gen_table_free(st->table);
        pthread_rwlock_destroy(&st->stop_lock);
        free(st->anthropic_url);
        free(st->openai_url);
        free(st);
        return -1;
    }
    log_fields(LOG_INFO, "providers", "default", eng_provider_name(st->default_kind), "anthropic_model",
               st->ec.anthropic_model, "openai_model", st->ec.openai_model, NULL);
    svc_metrics_source(llm_metrics, st);
    *state = st;
    return 0;
}

int main(int argc, char **argv)
{
    svc_def def = {
        .name = "svc-llm",
        .summary = "prompt assembly and model providers (Anthropic, OpenAI-compatible, offline)",
        .service = &llm_service.base,
        .url_var = "LLM_URL",
        .default_url = "tcp://127.0.0.1:7103",
        .needs_db = 0,
        .vars = llm_vars,
        .nvars = sizeof(llm_vars) / sizeof(llm_vars[0]),
        .init = llm_init,
        .fini = llm_fini,
        .stopping = llm_stopping,
    };
    return svc_main(&def, argc, argv);
}
