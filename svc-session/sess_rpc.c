/* sess_rpc.c: see sess_rpc.h. */
#include "sess_rpc.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "db.h"
#include "log.h"
#include "rpc_server.h"
#include "sess_ckpt.h"
#include "sess_handoff.h"
#include "svc_main.h"
#include "svc_metrics.h"
#include "token.h"
#include "utf8.h"

/* ------------------------------------------------------------ checks */

static const char *sess_s(const char *s)
{
    return s != NULL ? s : "";
}

/* Fails the call with INVALID_ARGUMENT unless s is valid UTF-8 of at most
 * max bytes (and not empty when required). Returns 1 when it is fine. */
static int sess_check_text(void *cd, const char *field, const char *s, size_t max, int required)
{
    s = sess_s(s);
    size_t n = strlen(s);
    if (required && n == 0) {
        rpc_fail(cd, RPC_INVALID_ARGUMENT, "%s is required", field);
        return 0;
    }
    if (n > max) {
        rpc_fail(cd, RPC_INVALID_ARGUMENT, "%s is too long (%zu bytes; at most %zu)", field, n, max);
        return 0;
    }
    if (!utf8_valid(s, n)) {
        rpc_fail(cd, RPC_INVALID_ARGUMENT, "%s is not valid UTF-8", field);
        return 0;
    }
    return 1;
}

static int sess_check_id(void *cd, const char *sid)
{
    if (!token_id_valid(sid)) {
        rpc_fail(cd, RPC_INVALID_ARGUMENT, "session_id is malformed (expected \"s_\" and 22 base64url characters)");
        return 0;
    }
    return 1;
}

static int sess_check_token(void *cd, const sess_state *st, const char *sid, const char *token)
{
    token = sess_s(token);
    if (token[0] == '\0') {
        rpc_fail(cd, RPC_UNAUTHENTICATED, "a session token is required");
        return 0;
    }
    if (strlen(token) > SESS_MAX_FIELD) {
        rpc_fail(cd, RPC_INVALID_ARGUMENT, "token is too long (at most %d bytes)", SESS_MAX_FIELD);
        return 0;
    }
    if (!token_verify(st->secret, st->secret_len, sid, token) &&
        (st->previous_len == 0 || !token_verify(st->previous, st->previous_len, sid, token))) {
        rpc_fail(cd, RPC_UNAUTHENTICATED, "the session token is not valid for this session");
        return 0;
    }
    return 1;
}

/* ------------------------------------------------------------ database */

/* Runs op on the worker's connection. When the connection was lost during
 * op (Postgres restarted), reconnects and runs it once more: every op is
 * safe to repeat. */
rpc_code sess_with_db(void *cd, sess_op op, void *arg, sess_err *e)
{
    db_conn *db = rpc_call_worker_data(cd);
    for (int attempt = 0;; attempt++) {
        memset(e, 0, sizeof(*e));
        PGconn *pg = db != NULL ? db_ready(db) : NULL;
        if (pg == NULL) {
            snprintf(e->msg, sizeof(e->msg), "the session store is unavailable (database not reachable: %.200s)",
                     db != NULL ? db->error : "no connection");
            e->retry_after_ms = 1000;
            return RPC_UNAVAILABLE;
        }
        int64_t t0 = clock_mono_us();
        rpc_code code = op(pg, arg, e);
        svc_metrics_db(rpc_call_method_name(cd), clock_mono_us() - t0);
        if (code != RPC_UNAVAILABLE || !e->conn_lost || attempt > 0) {
            return code;
        }
    }
}

void sess_fail(void *cd, rpc_code code, const sess_err *e)
{
    rpc_fail(cd, code, "%s", e->msg);
    if (e->reason != NULL) {
        rpc_set_reason(cd, e->reason);
    }
    if (e->retry_after_ms > 0) {
        rpc_set_retry_after(cd, e->retry_after_ms);
    }
}

/* ------------------------------------------------------------ Create */

typedef struct sess_create_op {
    const char *sid;
    const Chat__Session__CreateRequest *in;
    int retention_days;
    int64_t created_ms, expires_ms;
} sess_create_op;

static rpc_code sess_create_run(PGconn *pg, void *arg, sess_err *e)
{
    sess_create_op *o = arg;
    return sess_store_create(pg, o->sid, o->in, o->retention_days, &o->created_ms, &o->expires_ms, e);
}

void sess_rpc_create(sess_svc *svc, const Chat__Session__CreateRequest *in, Chat__Session__CreateReply_Closure done,
                     void *cd)
{
    (void)svc;
    const sess_state *st = rpc_call_server_arg(cd);
    if (!sess_check_text(cd, "ip_hash", in->ip_hash, SESS_MAX_FIELD, 0) ||
        !sess_check_text(cd, "origin", in->origin, SESS_MAX_FIELD, 0) ||
        !sess_check_text(cd, "locale", in->locale, SESS_MAX_FIELD, 0) ||
        !sess_check_text(cd, "user_agent", in->user_agent, SESS_MAX_FIELD, 0)) {
        done(NULL, cd);
        return;
    }
    char sid[TOKEN_ID_LEN + 1], token[TOKEN_LEN + 1];
    if (token_new_id(sid) != 0 || token_sign(st->secret, st->secret_len, sid, token) != 0) {
        rpc_fail(cd, RPC_INTERNAL, "cannot make a session id (no randomness)");
        done(NULL, cd);
        return;
    }
    Chat__Session__CreateRequest req = *in;
    req.ip_hash = (char *)sess_s(in->ip_hash);
    req.origin = (char *)sess_s(in->origin);
    req.locale = (char *)sess_s(in->locale);
    sess_create_op op = {.sid = sid, .in = &req, .retention_days = st->lim.retention_days};
    sess_err e;
    rpc_code code = sess_with_db(cd, sess_create_run, &op, &e);
    if (code != RPC_OK) {
        sess_fail(cd, code, &e);
        done(NULL, cd);
        return;
    }
    Chat__Session__CreateReply out = CHAT__SESSION__CREATE_REPLY__INIT;
    out.session_id = sid;
    out.token = token;
    out.expires_at_ms = op.expires_ms;
    done(&out, cd);
}

/* ------------------------------------------------------------ Begin */

typedef struct sess_begin_op {
    const char *sid, *turn_id;
    const sess_limits *lim;
    sess_begin_out out;
} sess_begin_op;

static rpc_code sess_begin_run(PGconn *pg, void *arg, sess_err *e)
{
    sess_begin_op *o = arg;
    return sess_store_begin(pg, o->sid, o->turn_id, o->lim, &o->out, e);
}

typedef struct sess_release_op {
    const char *sid, *turn_id;
    int released;
} sess_release_op;

static rpc_code sess_release_run(PGconn *pg, void *arg, sess_err *e)
{
    sess_release_op *o = arg;
    return sess_store_release(pg, o->sid, o->turn_id, &o->released, e);
}

void sess_rpc_begin(sess_svc *svc, const Chat__Session__BeginRequest *in, Chat__Session__BeginReply_Closure done,
                    void *cd)
{
    (void)svc;
    const sess_state *st = rpc_call_server_arg(cd);
    if (!sess_check_id(cd, in->session_id) || !sess_check_text(cd, "turn_id", in->turn_id, SESS_MAX_TURN_ID, 1) ||
        !sess_check_text(cd, "user_message", in->user_message, SESS_MAX_USER_MESSAGE, 0) ||
        !sess_check_text(cd, "ip_hash", in->ip_hash, SESS_MAX_FIELD, 0) ||
        !sess_check_token(cd, st, in->session_id, in->token)) {
        done(NULL, cd);
        return;
    }
    unsigned limit = in->history_limit == 0 ? st->history_limit : in->history_limit;
    if (limit > SESS_MAX_HISTORY) {
        limit = SESS_MAX_HISTORY;
    }

    sess_begin_op op = {.sid = in->session_id, .turn_id = in->turn_id, .lim = &st->lim};
    sess_err e;
    rpc_code code = sess_with_db(cd, sess_begin_run, &op, &e);
    if (code != RPC_OK) {
        sess_fail(cd, code, &e);
        done(NULL, cd);
        return;
    }

    sess_arena a = SESS_ARENA_INIT;
    Chat__Session__BeginReply out = CHAT__SESSION__BEGIN_REPLY__INIT;
    Chat__Common__LeadState lead = CHAT__COMMON__LEAD_STATE__INIT;
    int bad = 0;
    if (op.out.messages != NULL &&
        sess_ckpt_history(op.out.messages, op.out.messages_len, limit, &a, &out.history, &out.n_history) != 0) {
        log_error("session %s: the messages of checkpoint %s are unreadable", in->session_id, op.out.checkpoint_id);
        bad = 1;
    }
    if (!bad && op.out.lead != NULL) {
        json_t *lj = json_loads(op.out.lead, 0, NULL);
        if (!json_is_object(lj) || sess_ckpt_lead_from_json(lj, &a, &lead) != 0) {
            log_error("session %s: the lead of checkpoint %s is unreadable", in->session_id, op.out.checkpoint_id);
            bad = 1;
        }
        json_decref(lj);
    }
    if (bad) {
        /* Do not leave the visitor locked out until the lock expires. */
        sess_release_op rel = {.sid = in->session_id, .turn_id = in->turn_id};
        sess_err e2;
        sess_with_db(cd, sess_release_run, &rel, &e2);
        rpc_fail(cd, RPC_INTERNAL, "the stored conversation of this session is unreadable");
        done(NULL, cd);
    } else {
        out.lead = &lead;
        out.checkpoint_id = op.out.checkpoint_id;
        out.turns_so_far = (uint32_t)op.out.turns;
        out.tokens_used_today = (uint64_t)op.out.session_tokens;
        int64_t left = st->lim.session_daily_tokens - op.out.session_tokens;
        out.token_budget_left = left > 0 ? (uint64_t)left : 0;
        /* The hand-off promise depends on them: the model must not say the
         * team is away during business hours, nor promise a quick reply at
         * night. */
        time_t now = time(NULL);
        out.within_business_hours = sess_hours_open(&st->hours, now);
        char hours[HOURS_TEXT_MAX + HOURS_PHRASE_MAX + 32];
        time_t next = out.within_business_hours ? (time_t)-1 : sess_hours_next_open(&st->hours, now);
        if (next != (time_t)-1) {
            char when[HOURS_PHRASE_MAX];
            sess_hours_format(&st->hours, now, next, "en", when, sizeof(when));
            snprintf(hours, sizeof(hours), "%s; closed now, open again %s", st->hours.text, when);
        } else {
            snprintf(hours, sizeof(hours), "%s", st->hours.text);
        }
        out.business_hours = hours;
        done(&out, cd);
    }
    sess_begin_out_free(&op.out);
    sess_arena_free(&a);
}

/* ------------------------------------------------------------ Commit */

static int sess_check_message(void *cd, const Chat__Common__ChatMessage *m, size_t i)
{
    char f[64];
    const char *role = sess_s(m->role);
    int user = strcmp(role, "user") == 0;
    if (!user && strcmp(role, "assistant") != 0) {
        rpc_fail(cd, RPC_INVALID_ARGUMENT, "messages[%zu].role must be \"user\" or \"assistant\"", i);
        return 0;
    }
    snprintf(f, sizeof(f), "messages[%zu].content", i);
    if (!sess_check_text(cd, f, m->content, user ? SESS_MAX_USER_MESSAGE : SESS_MAX_ANSWER, 0)) {
        return 0;
    }
    snprintf(f, sizeof(f), "messages[%zu].stop_reason", i);
    if (!sess_check_text(cd, f, m->stop_reason, SESS_MAX_STOP_REASON, 0)) {
        return 0;
    }
    if (m->n_sources > SESS_MAX_SOURCES) {
        rpc_fail(cd, RPC_INVALID_ARGUMENT, "messages[%zu] has too many sources (%zu; at most %d)", i, m->n_sources,
                 SESS_MAX_SOURCES);
        return 0;
    }
    for (size_t k = 0; k < m->n_sources; k++) {
        const Chat__Common__Source *s = m->sources[k];
        static const struct {
            const char *name;
            size_t off, max;
        } fields[] = {
            {"title", offsetof(Chat__Common__Source, title), SESS_MAX_SOURCE_TITLE},
            {"url", offsetof(Chat__Common__Source, url), SESS_MAX_SOURCE_URL},
            {"heading_path", offsetof(Chat__Common__Source, heading_path), SESS_MAX_SOURCE_TITLE},
            {"text", offsetof(Chat__Common__Source, text), SESS_MAX_SOURCE_TEXT},
        };
        for (size_t j = 0; j < sizeof(fields) / sizeof(fields[0]); j++) {
            snprintf(f, sizeof(f), "messages[%zu].sources[%zu].%s", i, k, fields[j].name);
            if (!sess_check_text(cd, f, *(char *const *)((const char *)s + fields[j].off), fields[j].max, 0)) {
                return 0;
            }
        }
    }
    return 1;
}

static int sess_check_lead(void *cd, const Chat__Common__LeadState *l)
{
    if (l == NULL) {
        return 1;
    }
    static const struct {
        const char *name;
        size_t off, max;
    } fields[] = {
        {"lead.name", offsetof(Chat__Common__LeadState, name), SESS_MAX_LEAD_FIELD},
        {"lead.email", offsetof(Chat__Common__LeadState, email), SESS_MAX_LEAD_FIELD},
        {"lead.phone", offsetof(Chat__Common__LeadState, phone), SESS_MAX_LEAD_FIELD},
        {"lead.company", offsetof(Chat__Common__LeadState, company), SESS_MAX_LEAD_FIELD},
        {"lead.need", offsetof(Chat__Common__LeadState, need), SESS_MAX_LEAD_NEED},
        {"lead.team_size", offsetof(Chat__Common__LeadState, team_size), SESS_MAX_LEAD_FIELD},
        {"lead.timeline", offsetof(Chat__Common__LeadState, timeline), SESS_MAX_LEAD_FIELD},
        {"lead.budget", offsetof(Chat__Common__LeadState, budget), SESS_MAX_LEAD_FIELD},
        {"lead.extra_json", offsetof(Chat__Common__LeadState, extra_json), SESS_MAX_LEAD_EXTRA},
    };
    for (size_t j = 0; j < sizeof(fields) / sizeof(fields[0]); j++) {
        if (!sess_check_text(cd, fields[j].name, *(char *const *)((const char *)l + fields[j].off), fields[j].max, 0)) {
            return 0;
        }
    }
    return 1;
}

static int sess_check_usage(void *cd, const Chat__Common__Usage *u)
{
    if (u == NULL) {
        return 1;
    }
    if (!sess_check_text(cd, "usage.provider", u->provider, SESS_MAX_FIELD, 0) ||
        !sess_check_text(cd, "usage.model", u->model, SESS_MAX_FIELD, 0)) {
        return 0;
    }
    if (u->input_tokens > INT32_MAX || u->output_tokens > INT32_MAX || u->cache_creation_input_tokens > INT32_MAX ||
        u->cache_read_input_tokens > INT32_MAX) {
        rpc_fail(cd, RPC_INVALID_ARGUMENT, "usage token counts must be below 2^31");
        return 0;
    }
    return 1;
}

/* The messages table rows (with every source in full) and the same
 * messages in LangChain form. Returns 0, or -1 on OOM. */
static int sess_commit_json(const Chat__Session__CommitRequest *in, int64_t now_ms, json_t **rows_out, json_t **lc_out)
{
    json_t *rows = json_array();
    json_t *lc = json_array();
    int rc = rows == NULL || lc == NULL;
    for (size_t i = 0; rc == 0 && i < in->n_messages; i++) {
        Chat__Common__ChatMessage m = *in->messages[i];
        m.turn_id = in->turn_id;
        if (m.created_at_ms <= 0) {
            m.created_at_ms = now_ms;
        }
        char msg_id[SESS_MAX_TURN_ID + 16];
        snprintf(msg_id, sizeof(msg_id), "%s-%zu", in->turn_id, i);
        json_t *src = json_array();
        for (size_t k = 0; src != NULL && k < m.n_sources; k++) {
            if (json_array_append_new(src, sess_ckpt_source_to_json(m.sources[k], 1)) != 0) {
                json_decref(src);
                src = NULL;
            }
        }
        json_t *row = NULL;
        if (src != NULL) {
            row = json_pack("{si ss ss so sb ss sI}", "ord", (int)i, "role", sess_s(m.role), "content",
                            sess_s(m.content), "sources", src, "partial", (int)m.partial, "stop_reason",
                            sess_s(m.stop_reason), "created_at_ms", (json_int_t)m.created_at_ms);
        }
        rc |= json_array_append_new(rows, row);
        rc |= json_array_append_new(lc, sess_ckpt_message_to_json(&m, msg_id));
    }
    if (rc != 0) {
        json_decref(rows);
        json_decref(lc);
        return -1;
    }
    *rows_out = rows;
    *lc_out = lc;
    return 0;
}

typedef struct sess_commit_op {
    const sess_commit_in *in;
    char id[SESS_UUID_LEN + 1];
} sess_commit_op;

static rpc_code sess_commit_run(PGconn *pg, void *arg, sess_err *e)
{
    sess_commit_op *o = arg;
    return sess_store_commit(pg, o->in, o->id, e);
}

void sess_rpc_commit(sess_svc *svc, const Chat__Session__CommitRequest *in, Chat__Session__CommitReply_Closure done,
                     void *cd)
{
    (void)svc;
    if (!sess_check_id(cd, in->session_id) || !sess_check_text(cd, "turn_id", in->turn_id, SESS_MAX_TURN_ID, 1) ||
        !sess_check_text(cd, "parent_checkpoint_id", in->parent_checkpoint_id, SESS_MAX_TURN_ID, 0) ||
        !sess_check_usage(cd, in->usage) || !sess_check_lead(cd, in->lead)) {
        done(NULL, cd);
        return;
    }
    const char *urgency = sess_s(in->handoff_urgency);
    if (!sess_check_text(cd, "handoff_reason", in->handoff_reason, HANDOFF_REASON_MAX, 0)) {
        done(NULL, cd);
        return;
    }
    if (urgency[0] && strcmp(urgency, "low") != 0 && strcmp(urgency, "normal") != 0 && strcmp(urgency, "high") != 0) {
        rpc_fail(cd, RPC_INVALID_ARGUMENT, "handoff_urgency is one of low, normal, high (or empty)");
        done(NULL, cd);
        return;
    }
    if (in->n_messages == 0 || in->n_messages > SESS_MAX_COMMIT_MESSAGES) {
        rpc_fail(cd, RPC_INVALID_ARGUMENT, "a commit carries 1 to %d messages (got %zu)", SESS_MAX_COMMIT_MESSAGES,
                 in->n_messages);
        done(NULL, cd);
        return;
    }
    for (size_t i = 0; i < in->n_messages; i++) {
        if (!sess_check_message(cd, in->messages[i], i)) {
            done(NULL, cd);
            return;
        }
    }
    Chat__Common__LeadState empty = CHAT__COMMON__LEAD_STATE__INIT;
    json_t *lead = sess_ckpt_lead_to_json(in->lead != NULL ? in->lead : &empty);
    if (lead == NULL) {
        rpc_fail(cd, RPC_INVALID_ARGUMENT, "lead.extra_json must be a JSON object");
        done(NULL, cd);
        return;
    }
    json_t *rows = NULL, *lc = NULL;
    char *rows_text = NULL, *lead_text = json_dumps(lead, JSON_COMPACT);
    json_decref(lead);
    if (lead_text == NULL || sess_commit_json(in, clock_wall_ms(), &rows, &lc) != 0 ||
        (rows_text = json_dumps(rows, JSON_COMPACT)) == NULL) {
        rpc_fail(cd, RPC_INTERNAL, "out of memory");
        done(NULL, cd);
        goto out;
    }

    sess_commit_in ci = {
        .sid = in->session_id,
        .turn_id = in->turn_id,
        .parent_id = sess_s(in->parent_checkpoint_id),
        .rows_json = rows_text,
        .lc_messages = lc,
        .lead_json = lead_text,
        .lead_changed = in->lead_changed,
        .usage = in->usage,
    };
    const sess_state *st = rpc_call_server_arg(cd);
    if (in->usage != NULL) {
        const Chat__Common__Usage *u = in->usage;
        ci.cost_micros = sess_price_cost(&st->prices, u->model ? u->model : "", u->input_tokens, u->output_tokens,
                                         u->cache_creation_input_tokens, u->cache_read_input_tokens);
    }
    sess_handoff_req hreq = {.reason = sess_s(in->handoff_reason), .urgency = urgency};
    for (size_t i = 0; i < in->n_messages && hreq.message == NULL; i++) {
        if (strcmp(sess_s(in->messages[i]->role), "user") == 0) {
            hreq.message = in->messages[i]->content;
        }
    }
    sess_handoff_out hout = {0};
    ci.handoff_conf = &st->handoff;
    ci.handoff = in->handoff_requested ? &hreq : NULL;
    ci.handoff_out = &hout;
    sess_commit_op op = {.in = &ci};
    sess_err e;
    rpc_code code = sess_with_db(cd, sess_commit_run, &op, &e);
    if (code != RPC_OK) {
        sess_fail(cd, code, &e);
        done(NULL, cd);
    } else {
        Chat__Session__CommitReply reply = CHAT__SESSION__COMMIT_REPLY__INIT;
        reply.checkpoint_id = op.id;
        reply.handoff_id = hout.id;
        reply.cost_micros = ci.cost_micros;
        reply.handoff_promise = hout.promise;
        if (hout.id != 0) {
            char id[24];
            snprintf(id, sizeof(id), "%" PRId64, hout.id);
            log_fields(LOG_INFO, hout.created ? "hand-off recorded" : "hand-off updated", "session", in->session_id,
                       "handoff_id", id, "kind", sess_handoff_kind(hreq.reason, hreq.message), NULL);
        }
        done(&reply, cd);
    }
out:
    json_decref(rows);
    json_decref(lc);
    free(rows_text);
    free(lead_text);
}

/* ------------------------------------------------------------ Release */

void sess_rpc_release(sess_svc *svc, const Chat__Session__ReleaseRequest *in, Chat__Session__ReleaseReply_Closure done,
                      void *cd)
{
    (void)svc;
    if (!sess_check_id(cd, in->session_id) || !sess_check_text(cd, "turn_id", in->turn_id, SESS_MAX_TURN_ID, 1)) {
        done(NULL, cd);
        return;
    }
    sess_release_op op = {.sid = in->session_id, .turn_id = in->turn_id};
    sess_err e;
    rpc_code code = sess_with_db(cd, sess_release_run, &op, &e);
    if (code != RPC_OK) {
        sess_fail(cd, code, &e);
        done(NULL, cd);
        return;
    }
    Chat__Session__ReleaseReply out = CHAT__SESSION__RELEASE_REPLY__INIT;
    done(&out, cd);
}

/* ------------------------------------------------------------ Load */

typedef struct sess_load_op {
    const char *sid;
    unsigned limit;
    int64_t before_id;
    sess_arena *a;
    Chat__Session__LoadReply *out;
} sess_load_op;

static rpc_code sess_load_run(PGconn *pg, void *arg, sess_err *e)
{
    sess_load_op *o = arg;
    /* A retry starts from a clean reply. */
    sess_arena_free(o->a);
    chat__session__load_reply__init(o->out);
    return sess_store_load(pg, o->sid, o->limit, o->before_id, SESS_LOAD_BYTES_MAX, o->a, o->out, e);
}

void sess_rpc_load(sess_svc *svc, const Chat__Session__LoadRequest *in, Chat__Session__LoadReply_Closure done, void *cd)
{
    (void)svc;
    const sess_state *st = rpc_call_server_arg(cd);
    if (!sess_check_id(cd, in->session_id) || !sess_check_token(cd, st, in->session_id, in->token)) {
        done(NULL, cd);
        return;
    }
    if (in->before_id < 0) {
        rpc_fail(cd, RPC_INVALID_ARGUMENT, "before_id is a message id (a positive number), or 0 for the newest");
        done(NULL, cd);
        return;
    }
    sess_arena a = SESS_ARENA_INIT;
    Chat__Session__LoadReply out = CHAT__SESSION__LOAD_REPLY__INIT;
    sess_load_op op = {
        .sid = in->session_id,
        .limit = in->limit == 0 || in->limit > SESS_MAX_HISTORY ? SESS_MAX_HISTORY : in->limit,
        .before_id = in->before_id,
        .a = &a,
        .out = &out,
    };
    sess_err e;
    rpc_code code = sess_with_db(cd, sess_load_run, &op, &e);
    if (code != RPC_OK) {
        sess_fail(cd, code, &e);
        done(NULL, cd);
    } else {
        done(&out, cd);
    }
    sess_arena_free(&a);
}

/* ------------------------------------------------------------ Erase */

typedef struct sess_erase_op {
    const char *sid;
    int admin;
    sess_erase_counts n;
} sess_erase_op;

static rpc_code sess_erase_run(PGconn *pg, void *arg, sess_err *e)
{
    sess_erase_op *o = arg;
    return sess_store_erase(pg, o->sid, o->admin ? "admin" : "request", &o->n, e);
}

static uint32_t sess_u32(int64_t v)
{
    return v < 0 ? 0 : v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
}

void sess_rpc_erase(sess_svc *svc, const Chat__Session__EraseRequest *in, Chat__Session__EraseReply_Closure done,
                    void *cd)
{
    (void)svc;
    const sess_state *st = rpc_call_server_arg(cd);
    if (!sess_check_id(cd, in->session_id) || (!in->admin && !sess_check_token(cd, st, in->session_id, in->token))) {
        done(NULL, cd);
        return;
    }
    sess_erase_op op = {.sid = in->session_id, .admin = in->admin};
    sess_err e;
    rpc_code code = sess_with_db(cd, sess_erase_run, &op, &e);
    if (code != RPC_OK) {
        sess_fail(cd, code, &e);
        done(NULL, cd);
        return;
    }
    char m[24], c[24], b[24], h[24], o[24];
    snprintf(o, sizeof(o), "%" PRId64, op.n.outbox);
    snprintf(m, sizeof(m), "%" PRId64, op.n.messages);
    snprintf(c, sizeof(c), "%" PRId64, op.n.checkpoints);
    snprintf(b, sizeof(b), "%" PRId64, op.n.blobs);
    snprintf(h, sizeof(h), "%" PRId64, op.n.handoffs);
    log_fields(LOG_INFO, "session erased", "session", in->session_id, "by", in->admin ? "admin" : "visitor", "messages",
               m, "checkpoints", c, "blobs", b, "handoff_records", h, "notifications", o, NULL);
    Chat__Session__EraseReply out = CHAT__SESSION__ERASE_REPLY__INIT;
    out.messages_deleted = sess_u32(op.n.messages);
    out.checkpoints_deleted = sess_u32(op.n.checkpoints);
    done(&out, cd);
}
