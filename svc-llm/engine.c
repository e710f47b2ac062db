

/* engine.c: see engine.h.
 *
 * Shape of a job (one per generation, engine thread only):
 *
 *   START ── offline ──────────────────────────────► OFFLINE (timer ticks)
 *     │                                                  ▲
 *     └─ http: breaker closed? ── no ── fallback ────────┤
 *              │ yes                                     │
 *              ▼                                         │
 *           ATTEMPT ── fails before first token ──► retry? ── no ─┘
 *              │            ▲                         │ yes (timer)
 *              │            └─────────────────────────┘
 *              ▼ first token
 *           STREAMING ── message_stop ──► done
 *                     └─ error / timeout ──► done, partial
 *
 * A job ends when its generation ends (finished here, or cancelled or
 * expired elsewhere); it is freed with its curl handle removed, which
 * aborts the upstream request at once.
 *
 * Timers are entries (when, generation, epoch) in one heap. A job has at
 * most one live entry: rescheduling bumps its epoch and pushes a new one,
 * and entries whose epoch is stale are skipped when they come due. */
#include "engine.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "anthropic.h"
#include "clock.h"
#include "config.h"
#include "dynbuf.h"
#include "engine_int.h"
#include "event_stream.h"
#include "http_client.h"
#include "log.h"
#include "offline.h"
#include "openai.h"
#include "prompt.h"
#include "retry.h"
#include "timer_heap.h"

#define ENG_MAX_WAIT_MS 1000 /* the loop wakes at least this often */
#define ENG_SWEEP_MS 1000
#define ENG_EXPIRE_BATCH 256
#define ENG_NOTICE_MAX 128

static const char *const eng_names[] = {"offline", "anthropic", "openai"};

const char *eng_provider_name(prov_kind k)
{
    return eng_names[k];
}

const char *eng_model(const engine *e, prov_kind k)
{
    return k == PROV_ANTHROPIC ? e->cfg.anthropic_model : k == PROV_OPENAI ? e->cfg.openai_model : OFFL_MODEL;
}

/* ============================================================== timers */

static void eng_add_timer(engine *e, int type, gen *g, int64_t when, uint64_t epoch)
{
    if (g != NULL) {
        gen_ref(g);
    }
    pthread_mutex_lock(&e->mu);
    int rv = tmh_push(&e->timers, (eng_timer){.when = when, .type = type, .g = g, .epoch = epoch});
    pthread_mutex_unlock(&e->mu);
    if (rv != 0) {
        log_error("engine: out of memory adding a timer");
        gen_unref(g);
    }
}

void eng_poll_timer(engine *e, gen *g, int64_t when_ms)
{
    eng_add_timer(e, TM_POLL, g, when_ms, 0);
    curl_multi_wakeup(e->multi);
}

/* ================================================================ jobs */

void eng_job_log(const job *j, log_level lvl, const char *msg, const char *detail)
{
    log_set_request_id(j->rid);
    log_fields(lvl, msg, "stream_id", gen_id(j->g), "provider", eng_names[j->upstream], "detail", detail, NULL);
    log_set_request_id(NULL);
}

void eng_job_http_release(job *j)
{
    if (j->easy != NULL) {
        curl_multi_remove_handle(j->e->multi, j->easy);
        curl_easy_cleanup(j->easy);
        j->easy = NULL;
    }
    evs_free(&j->sse);
    anth_stream_free(&j->anth);
    oai_stream_free(&j->oai);
    dyn_free(&j->errbody);
}

void eng_job_free(job *j)
{
    engine *e = j->e;
    eng_job_http_release(j);
    if (j->prev != NULL) {
        j->prev->next = j->next;
    } else if (e->jobs == j) {
        e->jobs = j->next;
    }
    if (j->next != NULL) {
        j->next->prev = j->prev;
    }
    *gen_engine_slot(j->g) = NULL;
    curl_slist_free_all(j->headers);
    free(j->body);
    offl_answer_free(&j->off);
    if (j->rq != NULL) {
        protobuf_c_message_free_unpacked(&j->rq->base, NULL);
    }
    gen_unref(j->g);
    free(j);
}

/* The job's next timer: the earliest thing it waits for. */
void eng_job_schedule(job *j)
{
    int64_t when = INT64_MAX;
    if (j->wake_ms > 0) {
        when = j->wake_ms;
    }
    if (j->kind != PROV_OFFLINE) {
        if (!j->got_output && j->first_token_deadline < when) {
            when = j->first_token_deadline;
        }
        if (j->overall_deadline < when) {
            when = j->overall_deadline;
        }
    }
    if (when == INT64_MAX) {
        return;
    }
    j->epoch++;
    eng_add_timer(j->e, TM_JOB, j->g, when, j->epoch);
}

void eng_job_usage(job *j, const llm_usage *u)
{
    if (memcmp(u, &j->last_usage, sizeof(*u)) != 0) {
        j->last_usage = *u;
        gen_set_usage(j->g, u);
    }
}

/* --- offline ------------------------------------------------------------ */

static void job_offline_usage(job *j)
{
    llm_usage u = {.input_tokens = (j->off.input_chars + 3) / 4,
                   .output_tokens = (uint32_t)((strlen(j->off.text) + 3) / 4)};
    eng_job_usage(j, &u);
}

/* Emits the words that are due; finishes after the last one. Returns 1
 * when the job is over (freed). */
static int job_offline_tick(job *j, int64_t now)
{
    if (!j->off_ready) {
        if (offl_build(j->rq, j->e->cfg.company, &j->off) != 0) {
            gen_finish(j->g, "error", RPC_INTERNAL, "out of memory building the offline answer", 1);
            eng_job_free(j);
            return 1;
        }
        j->off_ready = 1;
        j->off_pos = j->off.text;
        j->wake_ms = now;
    }
    unsigned tps = j->e->cfg.offline_tps;
    int64_t step = tps ? (1000 + tps - 1) / tps : 0;
    while (*j->off_pos && (tps == 0 || j->wake_ms <= now)) {
        size_t n = offl_next_token(j->off_pos);
        if (gen_add_text(j->g, j->off_pos, n) != 0) {
            eng_job_free(j); /* ended elsewhere (cancelled, expired) */
            return 1;
        }
        j->got_output = 1;
        j->off_pos += n;
        j->wake_ms += step;
    }
    if (*j->off_pos) {
        eng_job_schedule(j);
        return 0;
    }
    for (size_t i = 0; i < j->off.ntools; i++) {
        gen_add_tool_call(j->g, "", j->off.tools[i].name, j->off.tools[i].input_json);
    }
    job_offline_usage(j);
    gen_finish(j->g, "end_turn", RPC_OK, NULL, 0);
    eng_job_free(j);
    return 1;
}

static void job_go_offline(job *j, int64_t now)
{
    eng_job_http_release(j);
    j->kind = PROV_OFFLINE;
    j->waiting_retry = 0;
    j->wake_ms = 0;
    j->off_ready = 0;
    llm_usage zero = {0};
    j->last_usage = zero;
    gen_set_usage(j->g, &zero);
    job_offline_tick(j, now);
}

/* The provider failed before the first token: answer offline instead. */
void eng_job_fallback(job *j, int64_t now, const char *why)
{
    eng_job_log(j, LOG_WARN, "falling back to the offline provider", why);
    char notice[ENG_NOTICE_MAX];
    snprintf(notice, sizeof(notice), "fallback: %s unavailable", eng_names[j->upstream]);
    if (gen_add_notice(j->g, notice) != 0) {
        eng_job_free(j);
        return;
    }
    gen_set_provider(j->g, "offline", OFFL_MODEL);
    job_go_offline(j, now);
}

/* Ends the generation with an error after the first token (partial). */
void eng_job_fail_streaming(job *j, rpc_code code, const char *msg, int retryable)
{
    eng_job_log(j, LOG_WARN, "answer stream failed after its first token", msg);
    gen_finish(j->g, "error", code, msg, retryable);
}

/* An attempt at the provider: unless its circuit breaker is open, start the
 * request and wait for it; else (or when it cannot start) answer offline. */
static void job_try_upstream(job *j, int64_t now)
{
    if (!breaker_allow(&j->e->brk[j->kind], now)) {
        eng_job_fallback(j, now, "circuit breaker open");
        return;
    }
    if (eng_job_http_start(j) != 0) {
        eng_job_fallback(j, now, "could not start the request");
        return;
    }
    eng_job_schedule(j);
}

static void job_on_timer(job *j, int64_t now)
{
    if (gen_is_done(j->g)) {
        eng_job_free(j);
        return;
    }
    if (j->kind == PROV_OFFLINE) {
        job_offline_tick(j, now);
        return;
    }
    if (!j->got_output && now >= j->first_token_deadline) {
        eng_job_fallback(j, now, "no first token in time");
        return;
    }
    if (now >= j->overall_deadline) {
        if (j->got_output) {
            eng_job_fail_streaming(j, RPC_DEADLINE_EXCEEDED, "the answer took longer than LLM_TIMEOUT", 1);
            eng_job_free(j);
        } else {
            eng_job_fallback(j, now, "no answer within LLM_TIMEOUT");
        }
        return;
    }
    if (j->waiting_retry && now >= j->wake_ms) {
        job_try_upstream(j, now);
        return;
    }
    eng_job_schedule(j);
}

static void job_begin(job *j, int64_t now)
{
    engine *e = j->e;
    j->prev = NULL;
    j->next = e->jobs;
    if (e->jobs != NULL) {
        e->jobs->prev = j;
    }
    e->jobs = j;
    *gen_engine_slot(j->g) = j;
    j->start_ms = now;
    j->first_token_deadline = now + e->cfg.first_token_timeout_ms;
    j->overall_deadline = now + e->cfg.timeout_ms;
    if (gen_is_done(j->g)) {
        eng_job_free(j);
        return;
    }
    if (j->kind == PROV_OFFLINE) {
        job_offline_tick(j, now);
        return;
    }
    job_try_upstream(j, now);
}

/* ============================================================== the loop */

static void eng_expire(engine *e, int64_t now)
{
    gen *batch[ENG_EXPIRE_BATCH];
    size_t n;
    do {
        n = gen_table_expire(e->table, now, e->cfg.idle_ttl_ms, e->cfg.done_grace_ms, batch, ENG_EXPIRE_BATCH);
        for (size_t i = 0; i < n; i++) {
            gen *g = batch[i];
            job *j = *gen_engine_slot(g);
            if (gen_finish(g, "cancelled", RPC_OK, NULL, 0) || j != NULL) {
                log_fields(LOG_INFO, "generation expired unpolled; its upstream work is cancelled", "stream_id",
                           gen_id(g), NULL);
            }
            if (j != NULL) {
                eng_job_free(j);
            }
            gen_unref(g);
        }
    } while (n == ENG_EXPIRE_BATCH);
}

static void eng_run_timers(engine *e, int64_t now)
{
    for (;;) {
        pthread_mutex_lock(&e->mu);
        if (tmh_next(&e->timers) > now) {
            pthread_mutex_unlock(&e->mu);
            return;
        }
        eng_timer t = tmh_pop(&e->timers);
        pthread_mutex_unlock(&e->mu);
        switch (t.type) {
        case TM_POLL: {
            int64_t next = gen_poll_timeout(t.g, now);
            if (next != 0) {
                eng_add_timer(e, TM_POLL, t.g, next, 0);
            }
            break;
        }
        case TM_JOB: {
            job *j = *gen_engine_slot(t.g);
            if (j != NULL && j->epoch == t.epoch) {
                job_on_timer(j, now);
            }
            break;
        }
        case TM_SWEEP:
            eng_expire(e, now);
            eng_add_timer(e, TM_SWEEP, NULL, now + ENG_SWEEP_MS, 0);
            break;
        }
        gen_unref(t.g);
    }
}

static int64_t eng_next_timer(engine *e)
{
    pthread_mutex_lock(&e->mu);
    int64_t w = tmh_next(&e->timers);
    pthread_mutex_unlock(&e->mu);
    return w;
}

static void eng_transfers_done(engine *e)
{
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(e->multi, &left)) != NULL) {
        if (m->msg != CURLMSG_DONE) {
            continue;
        }
        job *j = NULL;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&j);
        CURLcode rc = m->data.result;
        if (j != NULL && j->easy == m->easy_handle) {
            eng_job_http_done(j, rc); /* m is invalid from here on */
        }
    }
}

static void *eng_main(void *arg)
{
    engine *e = arg;
    for (;;) {
        pthread_mutex_lock(&e->mu);
        eng_cmd *cmds = e->cmd_head;
        e->cmd_head = e->cmd_tail = NULL;
        int stopping = e->stopping;
        pthread_mutex_unlock(&e->mu);

        int64_t now = clock_mono_ms();
        while (cmds != NULL) {
            eng_cmd *c = cmds;
            cmds = c->next;
            if (c->type == CMD_START) {
                if (stopping) {
                    eng_job_free(c->j); /* never begun */
                } else {
                    job_begin(c->j, now);
                }
            } else {
                job *j = *gen_engine_slot(c->g);
                if (j != NULL) {
                    eng_job_free(j);
                }
                gen_unref(c->g);
            }
            free(c);
        }
        if (stopping) {
            break;
        }
        eng_run_timers(e, clock_mono_ms());
        int running = 0;
        curl_multi_perform(e->multi, &running);
        eng_transfers_done(e);

        int64_t wait = ENG_MAX_WAIT_MS;
        int64_t next = eng_next_timer(e);
        now = clock_mono_ms();
        if (next != INT64_MAX) {
            wait = next <= now ? 0 : (next - now < wait ? next - now : wait);
        }
        long ct = -1;
        curl_multi_timeout(e->multi, &ct);
        if (ct >= 0 && ct < wait) {
            wait = ct;
        }
        if (wait > 0) {
            curl_multi_poll(e->multi, NULL, 0, (int)wait, NULL);
        }
    }
    while (e->jobs != NULL) {
        eng_job_free(e->jobs);
    }
    return NULL;
}

/* ============================================================ public API */

int eng_start(engine **out, const eng_config *conf, gen_table *table)
{
    engine *e = calloc(1, sizeof(*e));
    if (e == NULL) {
        return -1;
    }
    e->cfg = *conf;
    e->table = table;
    pthread_mutex_init(&e->mu, NULL);
    for (size_t i = 0; i < 3; i++) {
        breaker_init(&e->brk[i], BREAKER_THRESHOLD, BREAKER_OPEN_MS);
    }
    e->multi = curl_multi_init();
    if (e->multi == NULL) {
        pthread_mutex_destroy(&e->mu);
        free(e);
        return -1;
    }
    eng_add_timer(e, TM_SWEEP, NULL, clock_mono_ms() + ENG_SWEEP_MS, 0);
    if (pthread_create(&e->thread, NULL, eng_main, e) != 0) {
        curl_multi_cleanup(e->multi);
        tmh_free(&e->timers);
        pthread_mutex_destroy(&e->mu);
        free(e);
        return -1;
    }
    e->started = 1;
    *out = e;
    return 0;
}

void eng_stop(engine *e)
{
    if (e == NULL) {
        return;
    }
    pthread_mutex_lock(&e->mu);
    e->stopping = 1;
    pthread_mutex_unlock(&e->mu);
    curl_multi_wakeup(e->multi);
    pthread_join(e->thread, NULL);
    /* Commands that came after the thread's last look. */
    for (eng_cmd *c = e->cmd_head; c != NULL;) {
        eng_cmd *next = c->next;
        if (c->type == CMD_START) {
            eng_job_free(c->j);
        } else {
            gen_unref(c->g);
        }
        free(c);
        c = next;
    }
    while (e->timers.n > 0) {
        eng_timer t = tmh_pop(&e->timers);
        gen_unref(t.g);
    }
    tmh_free(&e->timers);
    curl_multi_cleanup(e->multi);
    pthread_mutex_destroy(&e->mu);
    free(e);
}

static int eng_push_cmd(engine *e, eng_cmd *c)
{
    pthread_mutex_lock(&e->mu);
    if (e->stopping) {
        pthread_mutex_unlock(&e->mu);
        return -1;
    }
    c->next = NULL;
    if (e->cmd_tail != NULL) {
        e->cmd_tail->next = c;
    } else {
        e->cmd_head = c;
    }
    e->cmd_tail = c;
    pthread_mutex_unlock(&e->mu);
    curl_multi_wakeup(e->multi);
    return 0;
}

/* Builds the body and headers of the provider's request. */
int eng_submit(engine *e, gen *g, prov_kind k, Chat__Llm__GenerateRequest *rq, const char *rid)
{
    job *j = calloc(1, sizeof(*j));
    eng_cmd *c = calloc(1, sizeof(*c));
    if (j == NULL || c == NULL) {
        free(j);
        free(c);
        return -1;
    }
    j->e = e;
    j->g = g;
    j->upstream = j->kind = k;
    j->rq = rq;
    snprintf(j->rid, sizeof(j->rid), "%s", rid ? rid : "");
    dyn_init(&j->errbody, LLM_ERROR_BODY_MAX);
    evs_init(&j->sse, LLM_SSE_LINE_MAX, LLM_SSE_EVENT_MAX, LLM_RESPONSE_MAX, eng_job_on_event, j);
    anth_stream_init(&j->anth);
    oai_stream_init(&j->oai);
    if (k != PROV_OFFLINE && eng_job_prepare_http(j) != 0) {
        /* Out of memory building the prompt: the offline answer still works. */
        j->kind = PROV_OFFLINE;
    }
    c->type = CMD_START;
    c->j = j;
    gen_ref(g);
    if (eng_push_cmd(e, c) != 0) {
        j->rq = NULL; /* stays the caller's */
        evs_free(&j->sse);
        anth_stream_free(&j->anth);
        oai_stream_free(&j->oai);
        curl_slist_free_all(j->headers);
        free(j->body);
        gen_unref(g);
        free(j);
        free(c);
        return -1;
    }
    return 0;
}

void eng_cancel(engine *e, gen *g)
{
    eng_cmd *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        return; /* the job notices the ended generation at its next step */
    }
    c->type = CMD_CANCEL;
    gen_ref(g);
    c->g = g;
    if (eng_push_cmd(e, c) != 0) {
        gen_unref(g);
        free(c);
    }
}
