/* turn.c: see turn.h. The steps of a turn: Begin, Search, Generate, Poll...,
 * Commit, each started from the previous step's callback. Callbacks named
 * turn_on_* run on nng threads. The registry is turn_registry.c, the event
 * log turn_log.c. */
#include "turn.h"

#include <jansson.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "dynbuf.h"
#include "lead_score.h"
#include "lead_slots.h"
#include "log.h"
#include "metrics.h"
#include "rpc_auth.h"
#include "turn_int.h"

#include "common.pb-c.h"
#include "llm.pb-c.h"
#include "retrieval.pb-c.h"
#include "session.pb-c.h"
#include "utf8.h"

#define TURN_SNIPPET_MAX 240

turn_cfg turn_conf;

static json_t *error_json(const char *code, const char *message, int retryable)
{
    return json_pack("{s:s, s:s, s:b}", "code", code, "message", message, "retryable", retryable);
}

static const char *rpc_to_code(rpc_code c)
{
    switch (c) {
    case RPC_UNAVAILABLE:
        return "service_unavailable";
    case RPC_DEADLINE_EXCEEDED:
        return "timeout";
    case RPC_RESOURCE_EXHAUSTED:
        return "limit_reached";
    case RPC_INVALID_ARGUMENT:
        return "invalid_request";
    case RPC_NOT_FOUND:
        return "not_found";
    case RPC_ABORTED:
        return "conflict";
    default:
        return "internal";
    }
}

/* --- steps -------------------------------------------------------------- */

static void turn_joined(turn *t);
static void turn_start_search(turn *t);
static void turn_step_generate(turn *t);
static void turn_fail(turn *t, const char *code, const char *message, int retryable, int release);

/* Starts an RPC for the turn holding a reference for it; when the call cannot
 * even start, `done` runs at once with that status, so every step has one
 * failure path. */
static void turn_call(turn *t, bk_id bk, const char *method, const ProtobufCMessage *req, uint32_t timeout_ms,
                      rpc_done_fn done, const char *unreachable)
{
    turn_ref(t);
    bk_call(turn_conf.b->client[bk], method, req, timeout_ms, t->id, done, t, unreachable);
}

/* Enters a step; returns 1 when the visitor is gone and the turn was ended
 * instead. */
static int turn_enter(turn *t, turn_step step)
{
    pthread_mutex_lock(&t->mtx);
    t->step = step;
    int cancel = t->cancel_requested;
    pthread_mutex_unlock(&t->mtx);
    if (cancel) {
        turn_fail(t, "cancelled", "The visitor left before the answer started.", 0, 1);
    }
    return cancel;
}
static void turn_step_poll(turn *t);
static void turn_step_commit(turn *t);

/* Ends a turn that cannot go on: an error event, the session lock released
 * (best effort), the stream closed. */
static void turn_on_release(rpc_result *res, void *arg)
{
    turn *t = arg;
    if (res->code != RPC_OK) {
        log_warn("turn %s: releasing the session lock failed: %s", t->id, res->message);
    }
    protobuf_c_message_free_unpacked(res->reply, NULL);
    turn_unref(t);
}

static void turn_fail(turn *t, const char *code, const char *message, int retryable, int release)
{
    turn_emit(t, "error", error_json(code, message, retryable));
    if (release) {
        Chat__Session__ReleaseRequest rq = CHAT__SESSION__RELEASE_REQUEST__INIT;
        rq.session_id = t->session_id;
        rq.turn_id = t->id;
        turn_call(t, BK_SESSION, "Release", &rq.base, turn_conf.commit_timeout_ms, turn_on_release,
                  "session service not reachable");
    }
    turn_finish(t, MT_ERROR);
}

static void turn_on_begin(rpc_result *res, void *arg)
{
    turn *t = arg;
    struct MHD_Connection *conn;
    pthread_mutex_lock(&t->mtx);
    conn = t->pending;
    t->pending = NULL;
    if (res->code == RPC_OK) {
        t->begin = (Chat__Session__BeginReply *)res->reply;
        t->phase = TURN_STREAMING;
    } else {
        unsigned st;
        const char *code;
        /* The RPC layer refusing the gateway (RPC_SECRET differs) is ours to
         * report, not the visitor's 401. */
        switch (rpc_auth_refused(res->code, res->reason) ? RPC_INTERNAL : res->code) {
        case RPC_UNAUTHENTICATED:
        case RPC_PERMISSION_DENIED:
            st = 401;
            code = "unauthorized";
            break;
        case RPC_NOT_FOUND:
            st = 404;
            code = "session_not_found";
            break;
        case RPC_ALREADY_EXISTS:
            st = 409;
            code = "turn_in_progress";
            break;
        case RPC_RESOURCE_EXHAUSTED: /* svc-session says which (sess_store.h) */
            st = 429;
            code = strcmp(res->reason, "rate_limited") == 0 ? "rate_limited" : "budget_exhausted";
            break;
        case RPC_INVALID_ARGUMENT:
            st = 400;
            code = "invalid_request";
            break;
        default:
            st = 0;
            code = NULL;
            break;
        }
        if (st != 0) {
            t->phase = TURN_BEGIN_REFUSED;
            t->refused_status = st;
            snprintf(t->refused_code, sizeof(t->refused_code), "%s", code);
            snprintf(t->refused_message, sizeof(t->refused_message), "%s", res->message);
            t->refused_retry_s = (res->retry_after_ms + 999) / 1000;
        } else {
            /* The session service is down: answer with a stream whose
             * only event says so, retryable. */
            t->phase = TURN_STREAMING;
        }
    }
    pthread_mutex_unlock(&t->mtx);

    if (t->phase == TURN_STREAMING) {
        turn_emit(t, "meta", json_pack("{s:s, s:s}", "turn_id", t->id, "session_id", t->session_id));
        if (res->code != RPC_OK) {
            metrics_upstream_error(MS_SESSION);
            log_warn("turn %s: session.Begin failed: %s %s", t->id, rpc_code_name(res->code), res->message);
            turn_fail(t, rpc_to_code(res->code), "The chat is briefly unavailable. Please try again in a moment.", 1,
                      0);
        } else {
            /* Begin and Search run at once; the later of the two goes on */
            pthread_mutex_lock(&t->mtx);
            int last = --t->joins == 0;
            pthread_mutex_unlock(&t->mtx);
            if (last) {
                turn_joined(t);
            }
        }
    } else {
        turn_finish(t, MT_REJECTED);
    }
    if (conn != NULL) {
        MHD_resume_connection(conn);
        gw_suspended_add(-1);
    }
    turn_unref(t);
}

turn *turn_start(struct MHD_Connection *conn, const char *session_id, const char *token, const char *message,
                 const char *ip_hash, unsigned *http_status, char *err, size_t errlen)
{
    if (turn_registry_full()) {
        *http_status = 503;
        snprintf(err, errlen, "the chat is very busy right now; please try again shortly");
        return NULL;
    }
    turn *t = calloc(1, sizeof(*t));
    if (t == NULL || (t->message = strdup(message)) == NULL) {
        free(t);
        *http_status = 503;
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&t->mtx, NULL);
    auth_new_id("t_", t->id, sizeof(t->id));
    snprintf(t->session_id, sizeof(t->session_id), "%s", session_id);
    snprintf(t->token, sizeof(t->token), "%s", token);
    snprintf(t->ip_hash, sizeof(t->ip_hash), "%s", ip_hash);
    t->start_us = clock_mono_us();
    chat__common__lead_state__init(&t->lead);
    chat__common__usage__init(&t->usage);
    t->refs = 3; /* the caller, the registry, the Begin call */
    t->pending = conn;
    t->phase = TURN_BEGIN_PENDING;
    t->step = ST_BEGIN;

    turn_register(t);

    Chat__Session__BeginRequest rq = CHAT__SESSION__BEGIN_REQUEST__INIT;
    rq.session_id = t->session_id;
    rq.token = t->token;
    rq.turn_id = t->id;
    rq.user_message = t->message;
    rq.ip_hash = t->ip_hash;
    t->joins = 2; /* Begin and Search */
    gw_suspended_add(1);
    MHD_suspend_connection(conn);
    /* A call that cannot start takes turn_on_begin's failure path too: it
     * resumes conn. */
    bk_call(turn_conf.b->client[BK_SESSION], "Begin", &rq.base, turn_conf.begin_timeout_ms, t->id, turn_on_begin, t,
            "session service not reachable");
    turn_start_search(t);
    return t;
}

turn_phase turn_begin_result(turn *t, unsigned *status, const char **code, const char **message,
                             uint32_t *retry_after_s)
{
    pthread_mutex_lock(&t->mtx);
    turn_phase p = t->phase;
    *status = t->refused_status;
    *code = t->refused_code;
    *message = t->refused_message;
    *retry_after_s = t->refused_retry_s;
    pthread_mutex_unlock(&t->mtx);
    return p;
}

/* Search runs while Begin does (it needs only the message): the reply is
 * kept until both have answered. A turn Begin refused or ended meanwhile
 * drops it. */
static void turn_on_search(rpc_result *res, void *arg)
{
    turn *t = arg;
    Chat__Retrieval__SearchReply *sr = res->code == RPC_OK ? (Chat__Retrieval__SearchReply *)res->reply : NULL;
    if (sr == NULL) {
        /* A turn still works without sources while retrieval is down. */
        metrics_upstream_error(MS_RETRIEVAL);
        log_warn("turn %s: retrieval.Search failed (%s: %s); answering without sources", t->id,
                 rpc_code_name(res->code), res->message);
        protobuf_c_message_free_unpacked(res->reply, NULL);
    }
    pthread_mutex_lock(&t->mtx);
    int gone = t->finished;
    int last = 0;
    if (!gone) {
        t->search = sr;
        t->search_failed = sr == NULL;
        last = --t->joins == 0;
    }
    pthread_mutex_unlock(&t->mtx);
    if (gone && sr != NULL) {
        protobuf_c_message_free_unpacked(&sr->base, NULL);
    }
    if (last) {
        turn_joined(t);
    }
    turn_unref(t);
}

/* Both Begin and Search answered (Begin with the stream open): the sources
 * event, then the model. */
static void turn_joined(turn *t)
{
    if (turn_enter(t, ST_SEARCH)) {
        return;
    }
    pthread_mutex_lock(&t->mtx);
    Chat__Retrieval__SearchReply *sr = t->search;
    int failed = t->search_failed;
    json_t *arr = json_array();
    for (size_t i = 0; sr != NULL && i < sr->n_results; i++) {
        Chat__Common__Source *s = sr->results[i];
        size_t tl = strlen(s->text);
        size_t cut = utf8_truncate(s->text, tl, TURN_SNIPPET_MAX);
        json_t *snip = json_stringn(s->text, cut);
        json_array_append_new(arr, json_pack("{s:i, s:s, s:s, s:o}", "n", (int)i + 1, "title", s->title, "url", s->url,
                                             "snippet", snip ? snip : json_string("")));
    }
    pthread_mutex_unlock(&t->mtx);
    turn_emit(t, "sources",
              failed ? json_pack("{s:o, s:b}", "sources", arr, "degraded", 1) : json_pack("{s:o}", "sources", arr));
    turn_step_generate(t);
}

static void turn_start_search(turn *t)
{
    Chat__Retrieval__SearchRequest rq = CHAT__RETRIEVAL__SEARCH_REQUEST__INIT;
    rq.query = t->message;
    rq.k = turn_conf.search_k;
    turn_call(t, BK_RETRIEVAL, "Search", &rq.base, turn_conf.search_timeout_ms, turn_on_search,
              "retrieval not reachable");
}

static void turn_on_generate(rpc_result *res, void *arg)
{
    turn *t = arg;
    if (res->code != RPC_OK) {
        metrics_upstream_error(MS_LLM);
        log_warn("turn %s: llm.Generate failed: %s %s", t->id, rpc_code_name(res->code), res->message);
        turn_fail(t, rpc_to_code(res->code),
                  res->code == RPC_RESOURCE_EXHAUSTED
                      ? "The assistant is very busy right now. Please try again in a moment."
                      : "The assistant is briefly unavailable. Please try again in a moment.",
                  1, 1);
        turn_unref(t);
        return;
    }
    Chat__Llm__GenerateReply *g = (Chat__Llm__GenerateReply *)res->reply;
    pthread_mutex_lock(&t->mtx);
    snprintf(t->stream_id, sizeof(t->stream_id), "%s", g->stream_id);
    snprintf(t->provider, sizeof(t->provider), "%s", g->provider);
    pthread_mutex_unlock(&t->mtx);
    protobuf_c_message_free_unpacked(res->reply, NULL);
    turn_step_poll(t);
    turn_unref(t);
}

static void turn_step_generate(turn *t)
{
    if (turn_enter(t, ST_GENERATE)) {
        return;
    }
    Chat__Llm__GenerateRequest rq = CHAT__LLM__GENERATE_REQUEST__INIT;
    rq.session_id = t->session_id;
    rq.turn_id = t->id;
    rq.user_message = t->message;
    rq.user_hash = t->ip_hash;
    rq.locale = (char *)(turn_conf.locale ? turn_conf.locale : "");
    if (t->begin != NULL) {
        rq.n_history = t->begin->n_history;
        rq.history = t->begin->history;
        rq.lead = t->begin->lead;
        rq.business_hours_open = t->begin->within_business_hours;
        rq.business_hours_text = t->begin->business_hours;
    }
    if (t->search != NULL) {
        rq.n_sources = t->search->n_results;
        rq.sources = t->search->results;
    }
    turn_call(t, BK_LLM, "Generate", &rq.base, turn_conf.generate_timeout_ms, turn_on_generate, "llm not reachable");
}

/* A request_handoff tool call: its reason (cut to what svc-session
 * accepts, on a character boundary) and urgency, for the Commit. t->mtx
 * held. */
static void turn_note_handoff(turn *t, json_t *in)
{
    const char *reason = json_string_value(json_object_get(in, "reason"));
    const char *urgency = json_string_value(json_object_get(in, "urgency"));
    t->handoff_requested = 1;
    if (reason != NULL) {
        size_t n = utf8_truncate(reason, strlen(reason), sizeof(t->handoff_reason) - 1);
        memcpy(t->handoff_reason, reason, n);
        t->handoff_reason[n] = '\0';
    }
    t->handoff_urgency[0] = '\0';
    if (urgency != NULL &&
        (strcmp(urgency, "low") == 0 || strcmp(urgency, "normal") == 0 || strcmp(urgency, "high") == 0)) {
        snprintf(t->handoff_urgency, sizeof(t->handoff_urgency), "%s", urgency);
    }
}

/* Lead fields from a record_lead tool call, merged into t->lead: only
 * configured slots (LEAD_SLOTS); an email address that is not one is
 * dropped, a phone number goes in as E.164 when it can be read (else as
 * given, flagged at Commit). Returns what was taken, for the lead event.
 * t->mtx held. */
static json_t *turn_merge_lead(turn *t, json_t *in)
{
    char **fields[LEAD_NSLOTS] = {&t->lead.name, &t->lead.email,     &t->lead.phone,    &t->lead.company,
                                  &t->lead.need, &t->lead.team_size, &t->lead.timeline, &t->lead.budget};
    json_t *taken = json_object();
    for (int s = 0; s < LEAD_NSLOTS; s++) {
        const char *v = json_string_value(json_object_get(in, lead_slot_name((lead_slot)s)));
        if (v == NULL || v[0] == '\0' || !lead_slot_on((lead_slot)s)) {
            continue;
        }
        char e164[LEAD_E164_MAX];
        if (s == LEAD_SLOT_EMAIL && !lead_email_ok(v)) {
            log_info("turn %s: record_lead: the email address is not a valid address; dropped", t->id);
            continue;
        }
        if (s == LEAD_SLOT_PHONE) {
            if (lead_phone_e164(v, NULL, e164, sizeof(e164)) == 0) {
                v = e164;
                t->phone_raw = 1;
            } else {
                t->phone_raw = 2;
            }
        }
        free(t->lead_strings[s]);
        t->lead_strings[s] = strndup(v, 512);
        *fields[s] = t->lead_strings[s];
        json_object_set_new(taken, lead_slot_name((lead_slot)s), json_string(v));
        t->lead_changed = 1;
    }
    json_t *consent = json_object_get(in, "consent");
    if (json_is_boolean(consent)) {
        t->lead.consent = json_is_true(consent);
        t->consent_set = 1;
        t->lead_changed = 1;
        json_object_set_new(taken, "consent", json_boolean(t->lead.consent));
    }
    return taken;
}

/* The lead as committed, qualified: its extra_json keeps the score
 * (LEAD_SCORE_WEIGHTS; a flagged phone does not count), whether intent
 * was ever seen, phone_raw for a number kept as given and company_source for a company guessed from the
 * email domain; a lead that reaches HANDOFF_SCORE for the first time is
 * marked qualified and, when the turn asked for none, handed off. t->mtx
 * held; lead is the merged lead (its strings the turn's or Begin's). */
static void turn_qualify(turn *t, Chat__Common__LeadState *lead)
{
    const Chat__Common__LeadState *old = t->begin ? t->begin->lead : NULL;
    json_t *extra = NULL;
    if (old != NULL && old->extra_json != NULL && old->extra_json[0]) {
        extra = json_loads(old->extra_json, 0, NULL);
    }
    if (!json_is_object(extra)) {
        json_decref(extra);
        extra = json_object();
    }
    char *before = json_dumps(extra, JSON_COMPACT | JSON_SORT_KEYS);
    if (t->phone_raw == 1) {
        json_object_del(extra, "phone_raw");
    } else if (t->phone_raw == 2 && lead->phone != NULL) {
        json_object_set_new(extra, "phone_raw", json_string(lead->phone));
    }
    if (t->lead_strings[LEAD_SLOT_COMPANY] != NULL) {
        json_object_del(extra, "company_source"); /* named this turn */
    }
    char guess[LEAD_COMPANY_GUESS_MAX];
    if (lead_slot_on(LEAD_SLOT_COMPANY) && (lead->company == NULL || lead->company[0] == '\0') &&
        lead_company_from_email(lead->email, guess, sizeof(guess))) {
        free(t->lead_strings[LEAD_SLOT_COMPANY]);
        t->lead_strings[LEAD_SLOT_COMPANY] = strdup(guess);
        lead->company = t->lead_strings[LEAD_SLOT_COMPANY];
        json_object_set_new(extra, "company_source", json_string("email_domain"));
    }
    const char *v[LEAD_NSLOTS] = {lead->name, lead->email,     lead->phone,    lead->company,
                                  lead->need, lead->team_size, lead->timeline, lead->budget};
    unsigned present = 0;
    for (int s = 0; s < LEAD_NSLOTS; s++) {
        if (lead_slot_on((lead_slot)s) && v[s] != NULL && v[s][0]) {
            present |= 1u << s;
        }
    }
    if (json_object_get(extra, "phone_raw") != NULL) {
        present &= ~(1u << LEAD_SLOT_PHONE); /* kept, but nobody can dial it yet */
    }
    int intent = lead_intent_phrase(t->message) || json_is_true(json_object_get(extra, "intent"));
    int person = lead_person_phrase(t->message);
    if (intent) {
        json_object_set_new(extra, "intent", json_true());
    }
    int score = lead_score(&turn_conf.weights, present, intent, person);
    json_object_set_new(extra, "score", json_integer(score));
    int reached = turn_conf.handoff_score > 0 && score >= turn_conf.handoff_score;
    if (reached && !lead->qualified) {
        lead->qualified = 1;
        if (!t->handoff_requested) {
            t->handoff_requested = 1;
            snprintf(t->handoff_reason, sizeof(t->handoff_reason), "qualified lead (score %d)", score);
            snprintf(t->handoff_urgency, sizeof(t->handoff_urgency), "normal");
            log_info("turn %s: lead score %d reaches HANDOFF_SCORE %d: handing off", t->id, score,
                     turn_conf.handoff_score);
        }
        t->lead_changed |= present != 0;
    }
    char *after = json_dumps(extra, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(extra);
    if (present != 0 && after != NULL && (before == NULL || strcmp(before, after) != 0)) {
        t->lead_changed = 1;
    }
    free(before);
    if (t->lead_changed && after != NULL) {
        free(t->lead_extra);
        t->lead_extra = after;
        lead->extra_json = t->lead_extra;
    } else {
        free(after);
    }
}

/* Text the visitor is about to see: appended to the stored answer (what is
 * streamed and what is stored must be the same), then emitted as one token
 * event; the first text of the turn stamps the time to first token. Empties
 * text. Text past TURN_ANSWER_MAX is neither stored nor streamed (dynbuf's
 * cap already refused it). */
static void turn_take_text(turn *t, dynbuf *text, int64_t now)
{
    size_t n = dyn_len(text);
    if (n == 0) {
        return;
    }
    pthread_mutex_lock(&t->mtx);
    int stored = 0;
    if (t->answer_len + n <= TURN_ANSWER_MAX) {
        char *a = realloc(t->answer, t->answer_len + n + 1);
        if (a != NULL) {
            memcpy(a + t->answer_len, dyn_str(text), n);
            t->answer_len += n;
            a[t->answer_len] = '\0';
            t->answer = a;
            stored = 1;
        }
    }
    int first = stored && t->first_token_us == 0;
    if (first) {
        t->first_token_us = now;
    }
    pthread_mutex_unlock(&t->mtx);
    if (stored) {
        turn_emit(t, "token", json_pack("{s:s%}", "text", dyn_str(text), n));
    } else {
        log_warn("turn %s: answer over %u bytes: the rest is dropped", t->id, (unsigned)TURN_ANSWER_MAX);
    }
    if (first) {
        metrics_ttft_us(now - t->start_us);
    }
    dyn_reset(text);
}

static void turn_on_poll(rpc_result *res, void *arg)
{
    turn *t = arg;
    if (res->code != RPC_OK) {
        metrics_upstream_error(MS_LLM);
        log_warn("turn %s: llm.Poll failed: %s %s", t->id, rpc_code_name(res->code), res->message);
        pthread_mutex_lock(&t->mtx);
        int have_text = t->answer_len > 0;
        t->partial = have_text;
        snprintf(t->stop_reason, sizeof(t->stop_reason), "error");
        pthread_mutex_unlock(&t->mtx);
        turn_emit(t, "error", error_json(rpc_to_code(res->code), "The answer was interrupted. Please ask again.", 1));
        if (have_text) {
            turn_step_commit(t); /* keep what the visitor saw */
        } else {
            turn_fail(t, "interrupted", "No answer could be produced.", 1, 1);
        }
        turn_unref(t);
        return;
    }
    Chat__Llm__PollReply *p = (Chat__Llm__PollReply *)res->reply;
    /* Consecutive text deltas become one token event; a tool call in the
     * batch first flushes the text before it, so the events keep the
     * model's order. */
    dynbuf text;
    dyn_init(&text, TURN_ANSWER_MAX);
    int64_t now = clock_mono_us();
    for (size_t i = 0; i < p->n_deltas; i++) {
        Chat__Llm__Delta *d = p->deltas[i];
        pthread_mutex_lock(&t->mtx);
        if (d->seq > t->after_seq) {
            t->after_seq = d->seq;
        }
        pthread_mutex_unlock(&t->mtx);
        if (d->kind == CHAT__LLM__DELTA_KIND__TEXT) {
            dyn_adds(&text, d->text);
        } else if (d->kind == CHAT__LLM__DELTA_KIND__TOOL_CALL) {
            turn_take_text(t, &text, now);
            json_error_t je;
            json_t *in = json_loads(d->tool_input_json ? d->tool_input_json : "{}", 0, &je);
            if (!json_is_object(in)) {
                json_decref(in);
                in = json_object();
            }
            if (strcmp(d->tool_name, "record_lead") == 0) {
                pthread_mutex_lock(&t->mtx);
                json_t *taken = turn_merge_lead(t, in);
                pthread_mutex_unlock(&t->mtx);
                turn_emit(t, "lead", json_pack("{s:o}", "fields", taken ? taken : json_object()));
            } else if (strcmp(d->tool_name, "request_handoff") == 0) {
                /* Recorded with the Commit; the visitor's confirmation
                 * (the handoff event) follows once it is stored. */
                pthread_mutex_lock(&t->mtx);
                turn_note_handoff(t, in);
                pthread_mutex_unlock(&t->mtx);
            }
            json_decref(in);
        }
    }
    turn_take_text(t, &text, now);
    dyn_free(&text);

    if (p->done) {
        pthread_mutex_lock(&t->mtx);
        snprintf(t->stop_reason, sizeof(t->stop_reason), "%s", p->stop_reason);
        if (p->provider && p->provider[0]) {
            snprintf(t->provider, sizeof(t->provider), "%s", p->provider);
        }
        t->partial = p->partial;
        if (p->usage != NULL) {
            t->usage.input_tokens = p->usage->input_tokens;
            t->usage.output_tokens = p->usage->output_tokens;
            t->usage.cache_creation_input_tokens = p->usage->cache_creation_input_tokens;
            t->usage.cache_read_input_tokens = p->usage->cache_read_input_tokens;
            snprintf(t->usage_model, sizeof(t->usage_model), "%s", p->usage->model);
        }
        int have_text = t->answer_len > 0;
        int cancelled = strcmp(t->stop_reason, "cancelled") == 0;
        uint64_t used_in = t->usage.input_tokens, used_out = t->usage.output_tokens;
        pthread_mutex_unlock(&t->mtx);
        metrics_tokens(used_in, used_out);
        if (p->error_code != CHAT__RPC__CODE__OK) {
            turn_emit(t, "error",
                      error_json("model_error",
                                 p->partial ? "The answer was cut short. Please ask again."
                                            : "The assistant could not answer. Please try again.",
                                 p->error_retryable));
        }
        protobuf_c_message_free_unpacked(res->reply, NULL);
        if (have_text) {
            turn_step_commit(t);
        } else {
            turn_fail(t, cancelled ? "cancelled" : "no_answer", "No answer could be produced.", 1, 1);
        }
        turn_unref(t);
        return;
    }
    protobuf_c_message_free_unpacked(res->reply, NULL);
    turn_step_poll(t);
    turn_unref(t);
}

static void turn_on_cancel(rpc_result *res, void *arg)
{
    turn *t = arg;
    protobuf_c_message_free_unpacked(res->reply, NULL);
    turn_unref(t);
}

void turn_send_cancel(turn *t)
{
    Chat__Llm__CancelRequest rq = CHAT__LLM__CANCEL_REQUEST__INIT;
    rq.stream_id = t->stream_id;
    rq.reason = "client disconnected";
    turn_call(t, BK_LLM, "Cancel", &rq.base, 2000, turn_on_cancel, "llm not reachable");
}

static void turn_step_poll(turn *t)
{
    pthread_mutex_lock(&t->mtx);
    t->step = ST_POLL;
    int cancel = t->cancel_requested && !t->cancel_sent;
    if (cancel) {
        t->cancel_sent = 1;
    }
    pthread_mutex_unlock(&t->mtx);
    if (cancel) {
        turn_send_cancel(t);
    }
    Chat__Llm__PollRequest rq = CHAT__LLM__POLL_REQUEST__INIT;
    rq.stream_id = t->stream_id;
    rq.after_seq = t->after_seq;
    rq.max_wait_ms = turn_conf.poll_wait_ms;
    turn_call(t, BK_LLM, "Poll", &rq.base, turn_conf.poll_wait_ms + 5000, turn_on_poll, "llm not reachable");
}

static void turn_on_commit(rpc_result *res, void *arg)
{
    turn *t = arg;
    if (res->code != RPC_OK) {
        metrics_upstream_error(MS_SESSION);
        log_warn("turn %s: session.Commit failed: %s %s", t->id, rpc_code_name(res->code), res->message);
        turn_fail(t, rpc_to_code(res->code), "The answer could not be saved. Please ask again.", 1, 1);
        turn_unref(t);
        return;
    }
    Chat__Session__CommitReply *cr = (Chat__Session__CommitReply *)res->reply;
    pthread_mutex_lock(&t->mtx);
    metrics_model_usage(t->provider, t->usage_model,
                        t->usage.input_tokens + t->usage.cache_creation_input_tokens + t->usage.cache_read_input_tokens,
                        t->usage.output_tokens, cr->cost_micros);
    pthread_mutex_unlock(&t->mtx);
    if (cr->handoff_id != 0) {
        pthread_mutex_lock(&t->mtx);
        json_t *h = json_pack("{s:I, s:s, s:{s:s, s:s}}", "id", (json_int_t)cr->handoff_id, "promise",
                              cr->handoff_promise ? cr->handoff_promise : "", "request", "reason", t->handoff_reason,
                              "urgency", t->handoff_urgency);
        pthread_mutex_unlock(&t->mtx);
        turn_emit(t, "handoff", h);
    }
    protobuf_c_message_free_unpacked(res->reply, NULL);
    pthread_mutex_lock(&t->mtx);
    json_t *done =
        json_pack("{s:s, s:s, s:s, s:b, s:{s:i, s:i}}", "turn_id", t->id, "stop_reason",
                  t->stop_reason[0] ? t->stop_reason : "end_turn", "provider", t->provider, "partial", t->partial,
                  "usage", "input_tokens", (int)t->usage.input_tokens, "output_tokens", (int)t->usage.output_tokens);
    int cancelled = strcmp(t->stop_reason, "cancelled") == 0;
    pthread_mutex_unlock(&t->mtx);
    turn_emit(t, "done", done);
    turn_finish(t, cancelled ? MT_CANCELLED : (t->partial ? MT_ERROR : MT_OK));
    turn_unref(t);
}

static void turn_step_commit(turn *t)
{
    pthread_mutex_lock(&t->mtx);
    t->step = ST_COMMIT;
    Chat__Common__ChatMessage user = CHAT__COMMON__CHAT_MESSAGE__INIT, bot = CHAT__COMMON__CHAT_MESSAGE__INIT;
    user.role = "user";
    user.content = t->message;
    user.turn_id = t->id;
    bot.role = "assistant";
    bot.content = t->answer ? t->answer : "";
    bot.turn_id = t->id;
    bot.partial = t->partial;
    bot.stop_reason = t->stop_reason;
    if (t->search != NULL) {
        bot.n_sources = t->search->n_results;
        bot.sources = t->search->results;
    }
    Chat__Common__ChatMessage *msgs[2] = {&user, &bot};
    Chat__Common__Usage usage = t->usage;
    usage.provider = t->provider;
    usage.model = t->usage_model;
    Chat__Session__CommitRequest rq = CHAT__SESSION__COMMIT_REQUEST__INIT;
    rq.session_id = t->session_id;
    rq.turn_id = t->id;
    rq.parent_checkpoint_id = t->begin ? t->begin->checkpoint_id : "";
    rq.n_messages = 2;
    rq.messages = msgs;
    rq.usage = &usage;
    Chat__Common__LeadState lead = t->lead;
    if (t->begin != NULL && t->begin->lead != NULL && !t->lead_changed) {
        lead = *t->begin->lead;
    } else if (t->begin != NULL && t->begin->lead != NULL) {
        /* fields not set this turn keep their earlier values */
        Chat__Common__LeadState *old = t->begin->lead;
        char **now[LEAD_NSLOTS] = {&lead.name, &lead.email,     &lead.phone,    &lead.company,
                                   &lead.need, &lead.team_size, &lead.timeline, &lead.budget};
        char *was[LEAD_NSLOTS] = {old->name, old->email,     old->phone,    old->company,
                                  old->need, old->team_size, old->timeline, old->budget};
        for (int s = 0; s < LEAD_NSLOTS; s++) {
            if (*now[s] == NULL || (*now[s])[0] == '\0') {
                *now[s] = was[s];
            }
        }
        if (!t->consent_set) {
            lead.consent = old->consent;
        }
        lead.qualified = old->qualified;
        lead.handed_off = old->handed_off;
    }
    turn_qualify(t, &lead);
    rq.lead = &lead;
    rq.lead_changed = t->lead_changed;
    rq.handoff_requested = t->handoff_requested;
    rq.handoff_reason = t->handoff_reason;
    rq.handoff_urgency = t->handoff_urgency;
    t->refs++; /* for the Commit call (t->mtx is held) */
    rpc_code c = rpc_call_async(turn_conf.b->client[BK_SESSION], "Commit", &rq.base, turn_conf.commit_timeout_ms, t->id,
                                turn_on_commit, t);
    pthread_mutex_unlock(&t->mtx);
    if (c != RPC_OK) { /* after the unlock: turn_on_commit takes t->mtx */
        bk_complete_unstarted(turn_on_commit, t, c, "session service not reachable");
    }
}

/* --- housekeeping --------------------------------------------------------- */
