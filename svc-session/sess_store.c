/* sess_store.c: see sess_store.h. All of svc-session's SQL is here. */
#include "sess_store.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "db.h"
#include "encode.h"
#include "log.h"
#include "sess_ckpt.h"
#include "sess_handoff.h"

/* ------------------------------------------------------------ helpers */

void sess_setmsg(sess_err *e, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
    va_end(ap);
}

rpc_code sess_pg_fail(PGconn *pg, const PGresult *r, const char *what, sess_err *e)
{
    const char *state = r != NULL ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    const char *detail = r != NULL ? PQresultErrorMessage(r) : PQerrorMessage(pg);
    if (PQstatus(pg) != CONNECTION_OK || state == NULL || strncmp(state, "08", 2) == 0 ||
        strncmp(state, "57P", 3) == 0 || strncmp(state, "53", 2) == 0) {
        e->conn_lost = PQstatus(pg) != CONNECTION_OK;
        e->retry_after_ms = 1000;
        sess_setmsg(e, "the session store is unavailable (database: %.200s)", detail);
        return RPC_UNAVAILABLE;
    }
    if (strcmp(state, "57014") == 0) {
        e->retry_after_ms = 1000;
        sess_setmsg(e, "the session store timed out (%s); try again", what);
        return RPC_UNAVAILABLE;
    }
    if (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0) {
        sess_setmsg(e, "a concurrent change to this session interrupted %s; try again", what);
        return RPC_ABORTED;
    }
    log_fields(LOG_ERROR, "database error", "op", what, "sqlstate", state, "error", detail, NULL);
    sess_setmsg(e, "internal error in the session store (%s)", what);
    return RPC_INTERNAL;
}

/* Statements are prepared once per connection: planning the CTEs below
 * costs more than running them. Each worker thread owns one connection, so
 * the cache is per thread; it is keyed by the address of the SQL literal
 * and dropped when the connection changes (a reconnect). */
#define SESS_STMT_MAX 32

typedef struct sess_stmt_cache {
    PGconn *pg;
    int backend_pid;
    const char *sql[SESS_STMT_MAX];
    int n;
} sess_stmt_cache;

static _Thread_local sess_stmt_cache sess_stmts;

static PGresult *sess_q_once(PGconn *pg, const char *sql, int n, const char *const *params)
{
    sess_stmt_cache *c = &sess_stmts;
    if (c->pg != pg || c->backend_pid != PQbackendPID(pg)) {
        c->pg = pg;
        c->backend_pid = PQbackendPID(pg);
        c->n = 0;
    }
    int i = 0;
    while (i < c->n && c->sql[i] != sql) {
        i++;
    }
    char name[16];
    snprintf(name, sizeof(name), "sess_%d", i);
    if (i == c->n) {
        if (c->n == SESS_STMT_MAX) {
            return PQexecParams(pg, sql, n, NULL, params, NULL, NULL, 0);
        }
        PGresult *r = PQprepare(pg, name, sql, n, NULL);
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
            return r;
        }
        PQclear(r);
        c->sql[c->n++] = sql;
    }
    return PQexecPrepared(pg, name, n, params, NULL, NULL, 0);
}

static PGresult *sess_q(PGconn *pg, const char *sql, int n, const char *const *params)
{
    PGresult *r = sess_q_once(pg, sql, n, params);
    const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    if (state != NULL && strcmp(state, "26000") == 0) {
        /* The server lost our statements (DISCARD ALL, a pooler): again. */
        PQclear(r);
        sess_stmts.pg = NULL;
        r = sess_q_once(pg, sql, n, params);
    }
    return r;
}

static int sess_ok(const PGresult *r)
{
    ExecStatusType st = r != NULL ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    return st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
}

/* A store transaction: what it runs and how a failed BEGIN/COMMIT maps to
 * a code (sess_pg_fail), for db_transaction. */
typedef struct sess_tx {
    const char *what;
    sess_err *e;
    rpc_code (*body)(PGconn *pg, struct sess_tx *tx);
    const sess_commit_in *commit_in;
    char *commit_out_id;
    const char *erase_sid;
    const char *erase_cause;
    sess_erase_counts *erase_n;
} sess_tx;

static int sess_tx_body(PGconn *pg, void *arg)
{
    sess_tx *tx = arg;
    return (int)tx->body(pg, tx);
}

static int sess_tx_fail(PGconn *pg, const PGresult *r, void *arg)
{
    sess_tx *tx = arg;
    return (int)sess_pg_fail(pg, r, tx->what, tx->e);
}

static rpc_code sess_transaction(PGconn *pg, sess_tx *tx)
{
    return (rpc_code)db_transaction(pg, sess_tx_body, sess_tx_fail, tx);
}

static int64_t sess_int(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? 0 : strtoll(PQgetvalue(r, row, col), NULL, 10);
}

static int sess_bool(const PGresult *r, int row, int col)
{
    return !PQgetisnull(r, row, col) && PQgetvalue(r, row, col)[0] == 't';
}

/* A malloc'd copy of a text column, or NULL when it is NULL. */
static char *sess_text(const PGresult *r, int row, int col, size_t *len)
{
    if (PQgetisnull(r, row, col)) {
        return NULL;
    }
    size_t n = (size_t)PQgetlength(r, row, col);
    char *s = malloc(n + 1);
    if (s != NULL) {
        memcpy(s, PQgetvalue(r, row, col), n);
        s[n] = '\0';
        if (len != NULL) {
            *len = n;
        }
    }
    return s;
}

uint32_t sess_store_ms_to_midnight(int64_t now_ms)
{
    const int64_t day = 86400000;
    int64_t left = day - (now_ms % day);
    return (uint32_t)((left + 999) / 1000 * 1000);
}

/* What a session spent today, and what everyone spent today (UTC days;
 * every kind of token counts). */
#define SESS_SQL_SPENT                                                                                                 \
    "(SELECT"                                                                                                          \
    " (SELECT coalesce(sum(u.input_tokens + u.output_tokens + u.cache_creation_input_tokens"                           \
    "   + u.cache_read_input_tokens), 0) FROM usage u"                                                                 \
    "   WHERE u.session_id = $1 AND u.day = (now() AT TIME ZONE 'UTC')::date) AS session_tokens,"                      \
    " (SELECT coalesce(sum(d.input_tokens + d.output_tokens + d.cache_creation_input_tokens"                           \
    "   + d.cache_read_input_tokens), 0) FROM usage_daily d"                                                           \
    "   WHERE d.day = (now() AT TIME ZONE 'UTC')::date) AS global_tokens,"                                             \
    " (SELECT coalesce(sum(u.input_tokens + u.output_tokens + u.cache_creation_input_tokens"                           \
    "   + u.cache_read_input_tokens), 0) FROM usage u WHERE u.session_id = $1) AS session_all_tokens,"                 \
    " (SELECT count(DISTINCT u.turn_id) FROM usage u"                                                                  \
    "   WHERE u.session_id = $1 AND u.created_at > now() - interval '1 minute') AS recent_turns,"                      \
    " (SELECT coalesce(sum(d.cost_micros), 0) FROM usage_daily d"                                                      \
    "   WHERE d.day = (now() AT TIME ZONE 'UTC')::date) AS day_cost,"                                                  \
    " (SELECT coalesce(sum(d.cost_micros), 0) FROM usage_daily d"                                                      \
    "   WHERE d.day >= date_trunc('month', now() AT TIME ZONE 'UTC')::date) AS month_cost) spent"

/* The text of a blob of the checkpoint row c for one channel. */
#define SESS_SQL_BLOB(channel)                                                                                         \
    "(SELECT convert_from(b.blob, 'UTF8') FROM checkpoint_blobs b"                                                     \
    " WHERE b.thread_id = c.thread_id AND b.checkpoint_ns = c.checkpoint_ns AND b.channel = '" channel "'"             \
    " AND b.version = c.checkpoint->'channel_versions'->>'" channel "' AND b.type = 'json')"

/* ------------------------------------------------------------ create */

rpc_code sess_store_create(PGconn *pg, const char *sid, const Chat__Session__CreateRequest *in, int retention_days,
                           int64_t *created_ms, int64_t *expires_ms, sess_err *e)
{
    char days[16];
    snprintf(days, sizeof(days), "%d", retention_days);
    const char *p[] = {sid, days, in->ip_hash, in->origin, in->locale};
    PGresult *r = sess_q(pg,
                         "INSERT INTO sessions (id, expires_at, ip_hash, origin, locale)"
                         " VALUES ($1, now() + make_interval(days => $2::int), NULLIF($3, ''), NULLIF($4, ''),"
                         " NULLIF($5, ''))"
                         " RETURNING (extract(epoch FROM created_at) * 1000)::bigint,"
                         " (extract(epoch FROM expires_at) * 1000)::bigint",
                         5, p);
    rpc_code code = RPC_OK;
    if (!sess_ok(r) || PQntuples(r) != 1) {
        code = sess_pg_fail(pg, r, "create", e);
    } else {
        *created_ms = sess_int(r, 0, 0);
        *expires_ms = sess_int(r, 0, 1);
    }
    PQclear(r);
    return code;
}

/* ------------------------------------------------------------ begin */

/* Why the lock UPDATE matched nothing. RPC_OK means nothing stands in the
 * way any more (the state changed meanwhile): try again. */
static rpc_code sess_begin_refusal(PGconn *pg, const char *sid, const char *turn_id, const sess_limits *lim,
                                   sess_err *e)
{
    const char *p[] = {sid, turn_id};
    PGresult *r = sess_q(pg,
                         "SELECT s.expires_at > now(),"
                         " s.active_turn_id IS NOT NULL AND s.active_turn_until >= now() AND s.active_turn_id <> $2,"
                         " s.turns, spent.session_tokens, spent.global_tokens, spent.session_all_tokens,"
                         " spent.recent_turns, spent.day_cost, spent.month_cost,"
                         " (SELECT ceil(60000 - extract(epoch FROM now() - min(u.created_at)) * 1000)::bigint"
                         "   FROM usage u WHERE u.session_id = $1 AND u.created_at > now() - interval '1 minute')"
                         " FROM sessions s, " SESS_SQL_SPENT " WHERE s.id = $1",
                         2, p);
    rpc_code code = RPC_OK;
    if (!sess_ok(r)) {
        code = sess_pg_fail(pg, r, "begin", e);
    } else if (PQntuples(r) == 0 || !sess_bool(r, 0, 0)) {
        sess_setmsg(e, "no such session (unknown or expired): start a new one");
        code = RPC_NOT_FOUND;
    } else if (sess_bool(r, 0, 1)) {
        sess_setmsg(e, "another turn is in progress in this session; wait for it to finish");
        code = RPC_ALREADY_EXISTS;
    } else if (sess_int(r, 0, 2) >= lim->max_turns) {
        sess_setmsg(e,
                    "this conversation reached its limit of %" PRId64 " turns; start a new one or use the contact form",
                    lim->max_turns);
        e->reason = SESS_REASON_BUDGET;
        code = RPC_RESOURCE_EXHAUSTED;
    } else if (sess_int(r, 0, 6) >= lim->turns_per_minute) {
        sess_setmsg(e, "that was a lot of questions in a minute; please wait a moment before the next one");
        int64_t wait = PQgetisnull(r, 0, 9) ? 1000 : sess_int(r, 0, 9);
        e->retry_after_ms = (uint32_t)(wait < 1000 ? 1000 : wait > 60000 ? 60000 : wait);
        e->reason = SESS_REASON_RATE;
        code = RPC_RESOURCE_EXHAUSTED;
    } else if (sess_int(r, 0, 5) >= lim->session_tokens) {
        sess_setmsg(e, "this conversation reached its length limit; start a new one or use the contact form");
        e->reason = SESS_REASON_BUDGET;
        code = RPC_RESOURCE_EXHAUSTED;
    } else if (sess_int(r, 0, 3) >= lim->session_daily_tokens) {
        sess_setmsg(e, "this conversation used its daily budget of %" PRId64 " tokens; it can continue tomorrow (UTC)",
                    lim->session_daily_tokens);
        e->retry_after_ms = sess_store_ms_to_midnight(clock_wall_ms());
        e->reason = SESS_REASON_BUDGET;
        code = RPC_RESOURCE_EXHAUSTED;
    } else if (sess_int(r, 0, 4) >= lim->global_daily_tokens || sess_int(r, 0, 7) >= lim->daily_cost_micros) {
        sess_setmsg(e, "the assistant reached its daily usage limit; it is available again tomorrow (UTC)");
        e->retry_after_ms = sess_store_ms_to_midnight(clock_wall_ms());
        e->reason = SESS_REASON_BUDGET;
        code = RPC_RESOURCE_EXHAUSTED;
    } else if (sess_int(r, 0, 8) >= lim->monthly_cost_micros) {
        sess_setmsg(e, "the assistant reached its usage limit for this month; please use the contact form");
        e->reason = SESS_REASON_BUDGET;
        code = RPC_RESOURCE_EXHAUSTED;
    }
    PQclear(r);
    return code;
}

rpc_code sess_store_begin(PGconn *pg, const char *sid, const char *turn_id, const sess_limits *lim, sess_begin_out *out,
                          sess_err *e)
{
    memset(out, 0, sizeof(*out));
    char ttl[24], turns[24], sbudget[24], gbudget[24], rate[24], stokens[24], dcost[24], mcost[24];
    snprintf(ttl, sizeof(ttl), "%" PRId64, lim->lock_ttl_ms);
    snprintf(turns, sizeof(turns), "%" PRId64, lim->max_turns);
    snprintf(sbudget, sizeof(sbudget), "%" PRId64, lim->session_daily_tokens);
    snprintf(gbudget, sizeof(gbudget), "%" PRId64, lim->global_daily_tokens);
    snprintf(rate, sizeof(rate), "%" PRId64, lim->turns_per_minute);
    snprintf(stokens, sizeof(stokens), "%" PRId64, lim->session_tokens);
    snprintf(dcost, sizeof(dcost), "%" PRId64, lim->daily_cost_micros);
    snprintf(mcost, sizeof(mcost), "%" PRId64, lim->monthly_cost_micros);
    const char *p[] = {sid, turn_id, ttl, turns, sbudget, gbudget, rate, stokens, dcost, mcost};

    /* The lock, the turn cap and the budgets in one statement: a refused
     * Begin never holds the lock. */
    for (int attempt = 0;; attempt++) {
        PGresult *r = sess_q(pg,
                             "UPDATE sessions s SET active_turn_id = $2,"
                             " active_turn_until = now() + $3::bigint * interval '1 millisecond', last_seen_at = now()"
                             " FROM " SESS_SQL_SPENT " WHERE s.id = $1 AND s.expires_at > now()"
                             " AND (s.active_turn_id IS NULL OR s.active_turn_until < now() OR s.active_turn_id = $2)"
                             " AND s.turns < $4::int AND spent.session_tokens < $5::bigint"
                             " AND spent.global_tokens < $6::bigint AND spent.recent_turns < $7::bigint"
                             " AND spent.session_all_tokens < $8::bigint AND spent.day_cost < $9::bigint"
                             " AND spent.month_cost < $10::bigint"
                             " RETURNING s.turns, spent.session_tokens, spent.global_tokens",
                             10, p);
        if (!sess_ok(r)) {
            rpc_code code = sess_pg_fail(pg, r, "begin", e);
            PQclear(r);
            return code;
        }
        if (PQntuples(r) == 1) {
            out->turns = sess_int(r, 0, 0);
            out->session_tokens = sess_int(r, 0, 1);
            out->global_tokens = sess_int(r, 0, 2);
            PQclear(r);
            break;
        }
        PQclear(r);
        rpc_code code = sess_begin_refusal(pg, sid, turn_id, lim, e);
        if (code != RPC_OK) {
            return code;
        }
        if (attempt == 2) {
            sess_setmsg(e, "this session changed while the turn was starting; try again");
            return RPC_ABORTED;
        }
    }

    /* The one checkpoint read, after the lock so it sees every commit. */
    const char *p1[] = {sid};
    PGresult *r = sess_q(pg,
                         "SELECT c.checkpoint_id, " SESS_SQL_BLOB("messages") ", " SESS_SQL_BLOB(
                             "lead") " FROM checkpoints c WHERE c.thread_id = $1 AND c.checkpoint_ns = ''"
                                     " ORDER BY c.checkpoint_id DESC LIMIT 1",
                         1, p1);
    rpc_code code = RPC_OK;
    if (!sess_ok(r)) {
        code = sess_pg_fail(pg, r, "begin (checkpoint)", e);
    } else if (PQntuples(r) == 1) {
        snprintf(out->checkpoint_id, sizeof(out->checkpoint_id), "%s", PQgetvalue(r, 0, 0));
        out->messages = sess_text(r, 0, 1, &out->messages_len);
        out->lead = sess_text(r, 0, 2, NULL);
        if ((out->messages == NULL && !PQgetisnull(r, 0, 1)) || (out->lead == NULL && !PQgetisnull(r, 0, 2))) {
            sess_setmsg(e, "out of memory");
            code = RPC_INTERNAL;
        }
    }
    PQclear(r);
    if (code != RPC_OK) {
        sess_begin_out_free(out);
    }
    return code;
}

void sess_begin_out_free(sess_begin_out *out)
{
    free(out->messages);
    free(out->lead);
    out->messages = NULL;
    out->lead = NULL;
}

/* ------------------------------------------------------------ commit */

/* Inside the transaction: lock the session row, read the latest
 * checkpoint, check the lock and the parent, write everything. */
static rpc_code sess_commit_tx(PGconn *pg, const sess_commit_in *in, char out_id[SESS_UUID_LEN + 1], sess_err *e)
{
    const char *p1[] = {in->sid};
    PGresult *r = sess_q(pg, "SELECT active_turn_id, expires_at > now() FROM sessions WHERE id = $1 FOR UPDATE", 1, p1);
    if (!sess_ok(r)) {
        rpc_code code = sess_pg_fail(pg, r, "commit", e);
        PQclear(r);
        return code;
    }
    if (PQntuples(r) == 0 || !sess_bool(r, 0, 1)) {
        PQclear(r);
        sess_setmsg(e, "no such session (unknown or expired)");
        return RPC_NOT_FOUND;
    }
    int holds_lock = !PQgetisnull(r, 0, 0) && strcmp(PQgetvalue(r, 0, 0), in->turn_id) == 0;
    PQclear(r);

    /* A new statement, so a new snapshot: it sees a Commit that held the
     * row lock before us. */
    PGresult *lt = sess_q(pg,
                          "SELECT c.checkpoint_id, c.checkpoint::text, c.metadata->>'turn_id',"
                          " CASE WHEN c.metadata->>'step' ~ '^-?[0-9]{1,18}$' THEN (c.metadata->>'step')::bigint"
                          " ELSE 0 END, " SESS_SQL_BLOB(
                              "messages") ","
                                          " EXISTS (SELECT 1 FROM checkpoint_blobs b WHERE b.thread_id = c.thread_id"
                                          " AND b.checkpoint_ns = c.checkpoint_ns AND b.channel = 'lead'"
                                          " AND b.version = c.checkpoint->'channel_versions'->>'lead')"
                                          " FROM checkpoints c WHERE c.thread_id = $1 AND c.checkpoint_ns = ''"
                                          " ORDER BY c.checkpoint_id DESC LIMIT 1",
                          1, p1);
    if (!sess_ok(lt)) {
        rpc_code code = sess_pg_fail(pg, lt, "commit (checkpoint)", e);
        PQclear(lt);
        return code;
    }
    int has_parent = PQntuples(lt) == 1;
    const char *latest = has_parent ? PQgetvalue(lt, 0, 0) : "";
    rpc_code code = RPC_OK;
    char *blob = NULL;
    sess_ckpt_next_out next = {0};

    if (has_parent && !PQgetisnull(lt, 0, 2) && strcmp(PQgetvalue(lt, 0, 2), in->turn_id) == 0) {
        /* A retry of a Commit that went through: same answer. */
        snprintf(out_id, SESS_UUID_LEN + 1, "%s", latest);
        const char *p2[] = {in->sid, in->turn_id};
        PGresult *u = sess_q(pg,
                             "UPDATE sessions SET active_turn_id = NULL, active_turn_until = NULL"
                             " WHERE id = $1 AND active_turn_id = $2",
                             2, p2);
        if (!sess_ok(u)) {
            code = sess_pg_fail(pg, u, "commit", e);
        }
        PQclear(u);
        if (code == RPC_OK && in->handoff != NULL) {
            code = sess_handoff_of_turn(pg, in->sid, in->turn_id, in->handoff_out, e);
        }
        goto out;
    }
    if (!holds_lock) {
        sess_setmsg(e,
                    "turn %s does not hold this session's turn lock (it expired and another turn took it, or it "
                    "was released); nothing was written",
                    in->turn_id);
        code = RPC_ABORTED;
        goto out;
    }
    if (strcmp(latest, in->parent_id) != 0) {
        sess_setmsg(e, "parent checkpoint \"%s\" is not the latest of this session (\"%s\"); nothing was written",
                    in->parent_id, latest);
        code = RPC_ABORTED;
        goto out;
    }

    size_t blob_len = 0;
    const char *prev = has_parent && !PQgetisnull(lt, 0, 4) ? PQgetvalue(lt, 0, 4) : NULL;
    blob = sess_ckpt_messages_append(prev, prev ? (size_t)PQgetlength(lt, 0, 4) : 0, in->lc_messages, &blob_len);
    if (blob == NULL) {
        log_error("session %s: the messages blob of checkpoint %s is not a JSON array", in->sid, latest);
        sess_setmsg(e, "internal error: the stored conversation is unreadable");
        code = RPC_INTERNAL;
        goto out;
    }

    uint64_t rnd[3];
    char id[SESS_UUID_LEN + 1];
    uint64_t ts = 0;
    if (enc_random(rnd, sizeof(rnd)) != 0 || sess_uuid6_next(latest, id, &ts) != 0) {
        sess_setmsg(e, "internal error: no randomness");
        code = RPC_INTERNAL;
        goto out;
    }
    sess_ckpt_next_in ni = {
        .parent = has_parent ? PQgetvalue(lt, 0, 1) : NULL,
        .parent_step = has_parent ? sess_int(lt, 0, 3) : 0,
        .parent_has_lead = has_parent && sess_bool(lt, 0, 5),
        .id = id,
        .ts = ts,
        .turn_id = in->turn_id,
        .lead_changed = in->lead_changed,
        .rnd = {rnd[0] % 10000000000000000ULL, rnd[1] % 10000000000000000ULL, rnd[2] % 10000000000000000ULL},
    };
    if (sess_ckpt_next(&ni, &next) != 0) {
        log_error("session %s: checkpoint %s is not a JSON object", in->sid, latest);
        sess_setmsg(e, "internal error: the latest checkpoint is unreadable");
        code = RPC_INTERNAL;
        goto out;
    }

    const Chat__Common__Usage *u = in->usage;
    char tok[4][16];
    snprintf(tok[0], sizeof(tok[0]), "%u", u ? u->input_tokens : 0);
    snprintf(tok[1], sizeof(tok[1]), "%u", u ? u->output_tokens : 0);
    snprintf(tok[2], sizeof(tok[2]), "%u", u ? u->cache_creation_input_tokens : 0);
    snprintf(tok[3], sizeof(tok[3]), "%u", u ? u->cache_read_input_tokens : 0);
    const char *provider = u && u->provider && u->provider[0] ? u->provider : "unknown";
    const char *model = u && u->model ? u->model : "";
    int new_lead = next.lead_version[0] != '\0';
    char cost[24];
    snprintf(cost, sizeof(cost), "%" PRId64, in->cost_micros);
    const char *p3[] = {
        in->sid,
        in->turn_id,
        in->rows_json,
        id,
        in->parent_id,
        next.checkpoint,
        next.metadata,
        next.messages_version,
        blob,
        new_lead ? next.lead_version : NULL,
        new_lead ? in->lead_json : NULL,
        provider,
        model,
        tok[0],
        tok[1],
        tok[2],
        tok[3],
        in->lead_changed ? in->lead_json : NULL,
        cost,
    };
    PGresult *w = sess_q(
        pg,
        "WITH m AS ("
        "  INSERT INTO messages (session_id, turn_id, role, content, sources, partial, stop_reason, created_at)"
        "  SELECT $1, $2, x.role, x.content, coalesce(x.sources, '[]'::jsonb), coalesce(x.partial, false),"
        "         NULLIF(x.stop_reason, ''),"
        "         CASE WHEN x.created_at_ms > 0 THEN to_timestamp(x.created_at_ms / 1000.0) ELSE now() END"
        "    FROM jsonb_to_recordset($3::jsonb) AS x(ord int, role text, content text, sources jsonb,"
        "         partial boolean, stop_reason text, created_at_ms bigint)"
        "   ORDER BY x.ord"
        "  RETURNING 1"
        "), cp AS ("
        "  INSERT INTO checkpoints (thread_id, checkpoint_ns, checkpoint_id, parent_checkpoint_id, type,"
        "         checkpoint, metadata)"
        "  VALUES ($1, '', $4, NULLIF($5, ''), NULL, $6::jsonb, $7::jsonb)"
        "  RETURNING 1"
        "), bl AS ("
        "  INSERT INTO checkpoint_blobs (thread_id, checkpoint_ns, channel, version, type, blob)"
        "  SELECT $1, '', v.channel, v.version, 'json', convert_to(v.body, 'UTF8')"
        "    FROM (VALUES ('messages', $8::text, $9::text), ('lead', $10::text, $11::text))"
        "         AS v(channel, version, body)"
        "   WHERE v.version IS NOT NULL"
        "  ON CONFLICT (thread_id, checkpoint_ns, channel, version) DO NOTHING"
        "  RETURNING 1"
        "), us AS ("
        "  INSERT INTO usage (session_id, turn_id, provider, model, input_tokens, output_tokens,"
        "         cache_creation_input_tokens, cache_read_input_tokens, cost_micros)"
        "  VALUES ($1, $2, $12, $13, $14::int, $15::int, $16::int, $17::int, $19::bigint)"
        "  RETURNING 1"
        "), ud AS ("
        "  INSERT INTO usage_daily AS d (day, provider, model, shard, turns, input_tokens, output_tokens,"
        "         cache_creation_input_tokens, cache_read_input_tokens, cost_micros)"
        "  VALUES ((now() AT TIME ZONE 'UTC')::date, $12, $13, pg_backend_pid() % 8, 1, $14::bigint, $15::bigint,"
        "         $16::bigint, $17::bigint, $19::bigint)"
        "  ON CONFLICT (day, provider, model, shard) DO UPDATE SET turns = d.turns + 1,"
        "         cost_micros = d.cost_micros + EXCLUDED.cost_micros,"
        "         input_tokens = d.input_tokens + EXCLUDED.input_tokens,"
        "         output_tokens = d.output_tokens + EXCLUDED.output_tokens,"
        "         cache_creation_input_tokens = d.cache_creation_input_tokens + EXCLUDED.cache_creation_input_tokens,"
        "         cache_read_input_tokens = d.cache_read_input_tokens + EXCLUDED.cache_read_input_tokens"
        "  RETURNING 1"
        "), s AS ("
        "  UPDATE sessions SET turns = turns + 1, last_seen_at = now(), lead = coalesce($18::jsonb, lead),"
        "         active_turn_id = NULL, active_turn_until = NULL"
        "   WHERE id = $1"
        "  RETURNING 1"
        ")"
        " SELECT (SELECT count(*) FROM m), (SELECT count(*) FROM cp), (SELECT count(*) FROM bl)",
        19, p3);
    if (!sess_ok(w)) {
        code = sess_pg_fail(pg, w, "commit (write)", e);
    } else {
        snprintf(out_id, SESS_UUID_LEN + 1, "%s", id);
    }
    PQclear(w);
    if (code == RPC_OK && in->handoff != NULL) {
        code = sess_handoff_record_chat(pg, in->handoff_conf, in->sid, in->turn_id, in->handoff, in->handoff_out, e);
    }

out:
    sess_ckpt_next_free(&next);
    free(blob);
    PQclear(lt);
    return code;
}

static rpc_code sess_commit_body(PGconn *pg, sess_tx *tx)
{
    return sess_commit_tx(pg, tx->commit_in, tx->commit_out_id, tx->e);
}

rpc_code sess_store_commit(PGconn *pg, const sess_commit_in *in, char out_id[SESS_UUID_LEN + 1], sess_err *e)
{
    sess_tx tx = {.what = "commit", .e = e, .body = sess_commit_body, .commit_in = in, .commit_out_id = out_id};
    return sess_transaction(pg, &tx);
}

/* ------------------------------------------------------------ release */

rpc_code sess_store_release(PGconn *pg, const char *sid, const char *turn_id, int *released, sess_err *e)
{
    const char *p[] = {sid, turn_id};
    PGresult *r = sess_q(pg,
                         "UPDATE sessions SET active_turn_id = NULL, active_turn_until = NULL"
                         " WHERE id = $1 AND active_turn_id = $2",
                         2, p);
    rpc_code code = RPC_OK;
    if (!sess_ok(r)) {
        code = sess_pg_fail(pg, r, "release", e);
    } else {
        *released = atoi(PQcmdTuples(r)) > 0;
    }
    PQclear(r);
    return code;
}

/* ------------------------------------------------------------ load */

rpc_code sess_store_load(PGconn *pg, const char *sid, unsigned limit, int64_t before_id, size_t max_bytes,
                         sess_arena *a, Chat__Session__LoadReply *out, sess_err *e)
{
    const char *p1[] = {sid};
    PGresult *r = sess_q(pg,
                         "SELECT (extract(epoch FROM created_at) * 1000)::bigint,"
                         " (extract(epoch FROM expires_at) * 1000)::bigint, lead::text"
                         " FROM sessions WHERE id = $1 AND expires_at > now()",
                         1, p1);
    if (!sess_ok(r)) {
        rpc_code code = sess_pg_fail(pg, r, "load", e);
        PQclear(r);
        return code;
    }
    if (PQntuples(r) == 0) {
        PQclear(r);
        sess_setmsg(e, "no such session (unknown or expired)");
        return RPC_NOT_FOUND;
    }
    out->created_at_ms = sess_int(r, 0, 0);
    out->expires_at_ms = sess_int(r, 0, 1);
    json_t *lead = json_loads(PQgetvalue(r, 0, 2), 0, NULL);
    PQclear(r);
    out->lead = sess_arena_alloc(a, sizeof(*out->lead));
    if (out->lead == NULL) {
        json_decref(lead);
        sess_setmsg(e, "out of memory");
        return RPC_INTERNAL;
    }
    chat__common__lead_state__init(out->lead);
    int lrc = sess_ckpt_lead_from_json(lead, a, out->lead);
    json_decref(lead);
    if (lrc != 0) {
        sess_setmsg(e, "out of memory");
        return RPC_INTERNAL;
    }

    /* One row more than asked says whether older ones remain. */
    char lim[16], before[24];
    snprintf(lim, sizeof(lim), "%u", limit + 1);
    snprintf(before, sizeof(before), "%lld", (long long)before_id);
    const char *p2[] = {sid, lim, before};
    r = sess_q(pg,
               "SELECT role, content, sources::text, partial, coalesce(stop_reason, ''), turn_id,"
               " (extract(epoch FROM created_at) * 1000)::bigint, id"
               " FROM (SELECT * FROM messages WHERE session_id = $1 AND ($3::bigint = 0 OR id < $3::bigint)"
               " ORDER BY id DESC LIMIT $2::int) t ORDER BY id",
               3, p2);
    if (!sess_ok(r)) {
        rpc_code code = sess_pg_fail(pg, r, "load", e);
        PQclear(r);
        return code;
    }
    int rows = PQntuples(r);
    /* From the newest back: as many as fit in limit and max_bytes. */
    int first = rows, cols = PQnfields(r);
    size_t bytes = 0;
    while (first > 0 && rows - first < (int)limit) {
        size_t row = SESS_LOAD_ROW_OVERHEAD;
        for (int c = 0; c < cols; c++) {
            row += (size_t)PQgetlength(r, first - 1, c);
        }
        if (first < rows && bytes + row > max_bytes) {
            break;
        }
        bytes += row;
        first--;
    }
    out->more = first > 0;
    out->next_before_id = out->more ? sess_int(r, first, 7) : 0;
    int n = rows - first;
    rpc_code code = RPC_OK;
    out->messages = n > 0 ? sess_arena_alloc(a, (size_t)n * sizeof(*out->messages)) : NULL;
    if (n > 0 && out->messages == NULL) {
        code = RPC_INTERNAL;
    }
    for (int i = first; code == RPC_OK && i < rows; i++) {
        Chat__Common__ChatMessage *m = sess_arena_alloc(a, sizeof(*m));
        if (m == NULL) {
            code = RPC_INTERNAL;
            break;
        }
        chat__common__chat_message__init(m);
        m->role = sess_arena_strdup(a, PQgetvalue(r, i, 0));
        m->content = sess_arena_strndup(a, PQgetvalue(r, i, 1), (size_t)PQgetlength(r, i, 1));
        m->partial = sess_bool(r, i, 3);
        m->stop_reason = sess_arena_strdup(a, PQgetvalue(r, i, 4));
        m->turn_id = sess_arena_strdup(a, PQgetvalue(r, i, 5));
        m->created_at_ms = sess_int(r, i, 6);
        m->id = sess_int(r, i, 7);
        json_t *src = json_loads(PQgetvalue(r, i, 2), 0, NULL);
        int src_rc = sess_ckpt_sources_from_json(src, a, &m->sources, &m->n_sources);
        json_decref(src);
        if (m->role == NULL || m->content == NULL || m->stop_reason == NULL || m->turn_id == NULL || src_rc != 0) {
            code = RPC_INTERNAL;
            break;
        }
        out->messages[out->n_messages++] = m;
    }
    PQclear(r);
    if (code != RPC_OK) {
        sess_setmsg(e, "out of memory");
    }
    return code;
}

/* ------------------------------------------------------------ erase */

static rpc_code sess_erase_tx(PGconn *pg, const char *sid, const char *cause, sess_erase_counts *n, sess_err *e)
{
    const char *p[] = {sid};
    PGresult *r = sess_q(pg, "SELECT 1 FROM sessions WHERE id = $1 FOR UPDATE", 1, p);
    if (!sess_ok(r)) {
        rpc_code code = sess_pg_fail(pg, r, "erase", e);
        PQclear(r);
        return code;
    }
    int found = PQntuples(r) == 1;
    PQclear(r);
    if (!found) {
        sess_setmsg(e, "no such session (unknown or already erased)");
        return RPC_NOT_FOUND;
    }
    r = sess_q(pg,
               "WITH w AS (DELETE FROM checkpoint_writes WHERE thread_id = $1 RETURNING 1),"
               " b AS (DELETE FROM checkpoint_blobs WHERE thread_id = $1 RETURNING 1),"
               " c AS (DELETE FROM checkpoints WHERE thread_id = $1 RETURNING 1),"
               " m AS (DELETE FROM messages WHERE session_id = $1 RETURNING 1),"
               " o AS (DELETE FROM handoff_outbox WHERE handoff_id IN"
               "   (SELECT id FROM handoff_records WHERE session_id = $1) RETURNING 1),"
               " h AS (DELETE FROM handoff_records WHERE session_id = $1 RETURNING 1),"
               " u AS (UPDATE usage SET session_id = NULL WHERE session_id = $1 RETURNING 1),"
               " s AS (DELETE FROM sessions WHERE id = $1 RETURNING 1)"
               " SELECT (SELECT count(*) FROM m), (SELECT count(*) FROM c), (SELECT count(*) FROM b),"
               " (SELECT count(*) FROM w), (SELECT count(*) FROM h), (SELECT count(*) FROM o),"
               " (SELECT count(*) FROM u)",
               1, p);
    rpc_code code = RPC_OK;
    if (!sess_ok(r)) {
        code = sess_pg_fail(pg, r, "erase", e);
        PQclear(r);
        return code;
    }
    n->messages = sess_int(r, 0, 0);
    n->checkpoints = sess_int(r, 0, 1);
    n->blobs = sess_int(r, 0, 2);
    n->writes = sess_int(r, 0, 3);
    n->handoffs = sess_int(r, 0, 4);
    n->outbox = sess_int(r, 0, 5);
    n->usage_unlinked = sess_int(r, 0, 6);
    PQclear(r);
    /* What was deleted, without who: the audit keeps no identifier. */
    char nums[5][24];
    snprintf(nums[0], sizeof(nums[0]), "%" PRId64, n->messages);
    snprintf(nums[1], sizeof(nums[1]), "%" PRId64, n->checkpoints);
    snprintf(nums[2], sizeof(nums[2]), "%" PRId64, n->handoffs);
    snprintf(nums[3], sizeof(nums[3]), "%" PRId64, n->outbox);
    snprintf(nums[4], sizeof(nums[4]), "%" PRId64, n->usage_unlinked);
    const char *ap[] = {cause, nums[0], nums[1], nums[2], nums[3], nums[4]};
    r = sess_q(pg,
               "INSERT INTO erasure_audit (cause, sessions, messages, checkpoints, handoffs, outbox, usage_unlinked)"
               " VALUES ($1, 1, $2::int, $3::int, $4::int, $5::int, $6::int)",
               6, ap);
    if (!sess_ok(r)) {
        code = sess_pg_fail(pg, r, "erase (audit)", e);
    }
    PQclear(r);
    return code;
}

static rpc_code sess_erase_body(PGconn *pg, sess_tx *tx)
{
    return sess_erase_tx(pg, tx->erase_sid, tx->erase_cause, tx->erase_n, tx->e);
}

rpc_code sess_store_erase(PGconn *pg, const char *sid, const char *cause, sess_erase_counts *n, sess_err *e)
{
    memset(n, 0, sizeof(*n));
    sess_tx tx = {
        .what = "erase", .e = e, .body = sess_erase_body, .erase_sid = sid, .erase_cause = cause, .erase_n = n};
    return sess_transaction(pg, &tx);
}

/* ------------------------------------------------------------ retention */

#define SESS_SWEEP_BATCH "500"

rpc_code sess_store_sweep(PGconn *pg, sess_sweep_counts *n, sess_err *e)
{
    memset(n, 0, sizeof(*n));
    /* Each batch is one statement (one transaction); rows a Commit holds
     * are skipped and taken by the next sweep. */
    for (;;) {
        PGresult *r = PQexec(pg, "WITH gone AS ("
                                 "  DELETE FROM sessions WHERE id IN (SELECT id FROM sessions"
                                 "   WHERE expires_at <= now() ORDER BY expires_at LIMIT " SESS_SWEEP_BATCH
                                 "   FOR UPDATE SKIP LOCKED)"
                                 "  RETURNING id),"
                                 " w AS (DELETE FROM checkpoint_writes WHERE thread_id IN (SELECT id FROM gone)"
                                 "  RETURNING 1),"
                                 " b AS (DELETE FROM checkpoint_blobs WHERE thread_id IN (SELECT id FROM gone)"
                                 "  RETURNING 1),"
                                 " c AS (DELETE FROM checkpoints WHERE thread_id IN (SELECT id FROM gone)"
                                 "  RETURNING 1),"
                                 " h AS (DELETE FROM handoff_records WHERE session_id IN (SELECT id FROM gone)"
                                 "  RETURNING 1),"
                                 " a AS (INSERT INTO erasure_audit (cause, sessions, checkpoints, handoffs)"
                                 "  SELECT 'retention', (SELECT count(*) FROM gone), (SELECT count(*) FROM c),"
                                 "   (SELECT count(*) FROM h) WHERE EXISTS (SELECT 1 FROM gone) RETURNING 1)"
                                 " SELECT (SELECT count(*) FROM gone), (SELECT count(*) FROM c),"
                                 " (SELECT count(*) FROM h), (SELECT count(*) FROM a)");
        if (!sess_ok(r)) {
            rpc_code code = sess_pg_fail(pg, r, "retention", e);
            PQclear(r);
            return code;
        }
        int64_t batch = sess_int(r, 0, 0);
        n->sessions += batch;
        n->checkpoints += sess_int(r, 0, 1);
        n->handoffs += sess_int(r, 0, 2);
        PQclear(r);
        if (batch < atoi(SESS_SWEEP_BATCH)) {
            break;
        }
    }
    PGresult *r = PQexec(pg, "DELETE FROM handoff_records WHERE expires_at <= now()");
    if (!sess_ok(r)) {
        rpc_code code = sess_pg_fail(pg, r, "retention (handoffs)", e);
        PQclear(r);
        return code;
    }
    n->handoffs += strtoll(PQcmdTuples(r), NULL, 10);
    PQclear(r);
    return RPC_OK;
}
