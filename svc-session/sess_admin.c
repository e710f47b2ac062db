/* sess_admin.c: see sess_admin.h. */
#include "sess_admin.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "rpc_server.h"
#include "token.h"

#define ADMIN_DATE_MAX 40

static const char *const admin_statuses[] = {"new", "contacted", "qualified", "won", "lost", "spam"};

static int admin_status_ok(const char *s)
{
    for (size_t i = 0; i < sizeof(admin_statuses) / sizeof(admin_statuses[0]); i++) {
        if (strcmp(s, admin_statuses[i]) == 0) {
            return 1;
        }
    }
    return 0;
}

/* The notifications of hand-off h, as a JSON array expression. */
#define ADMIN_SQL_NOTIFICATIONS                                                                                        \
    "coalesce((SELECT json_agg(json_build_object('channel', o.channel, 'state', o.state, 'attempts', o.attempts,"      \
    " 'next_attempt_at', o.next_attempt_at, 'last_error', o.last_error, 'sent_at', o.sent_at) ORDER BY o.channel)"     \
    " FROM handoff_outbox o WHERE o.handoff_id = h.id), '[]'::json)"

#define ADMIN_SQL_HANDOFF                                                                                              \
    "'id', h.id, 'created_at', h.created_at, 'updated_at', h.updated_at, 'source', h.source, 'status', h.status,"      \
    " 'reason', h.reason, 'reason_kind', h.reason_kind, 'urgency', h.urgency, 'name', h.name, 'email', h.email,"       \
    " 'phone', h.phone, 'company', h.company, 'need', h.need, 'fields', h.fields, 'consent', h.consent,"               \
    " 'within_business_hours', h.within_business_hours, 'promised_response', h.promised_response,"                     \
    " 'session_id', h.session_id, 'expires_at', h.expires_at, 'notifications', " ADMIN_SQL_NOTIFICATIONS

typedef struct admin_op {
    const Chat__Session__AdminRequest *in;
    char *json; /* malloc'd answer */
} admin_op;

/* Runs sql (one row, one text column) into o->json; NOT_FOUND when no row. */
static rpc_code admin_query(PGconn *pg, admin_op *o, const char *what, const char *sql, int n, const char *const *p,
                            sess_err *e)
{
    PGresult *r = PQexecParams(pg, sql, n, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
        rpc_code code;
        if (state != NULL && strncmp(state, "22", 2) == 0) { /* a date Postgres cannot read */
            sess_setmsg(e, "since and until must be dates like 2026-12-01 or times like 2026-12-01T09:00:00Z");
            code = RPC_INVALID_ARGUMENT;
        } else {
            code = sess_pg_fail(pg, r, what, e);
        }
        PQclear(r);
        return code;
    }
    if (PQntuples(r) == 0 || PQgetisnull(r, 0, 0)) {
        PQclear(r);
        sess_setmsg(e, "no such %s", what);
        return RPC_NOT_FOUND;
    }
    if ((size_t)PQgetlength(r, 0, 0) > ADMIN_REPLY_MAX) {
        PQclear(r);
        sess_setmsg(e, "the %s is larger than %u bytes, too large for one answer", what, ADMIN_REPLY_MAX);
        return RPC_RESOURCE_EXHAUSTED;
    }
    free(o->json);
    o->json = strdup(PQgetvalue(r, 0, 0));
    PQclear(r);
    if (o->json == NULL) {
        sess_setmsg(e, "out of memory");
        return RPC_INTERNAL;
    }
    return RPC_OK;
}

static rpc_code admin_list(PGconn *pg, admin_op *o, sess_err *e)
{
    const Chat__Session__AdminRequest *in = o->in;
    unsigned limit = in->limit == 0 ? ADMIN_PAGE_DEFAULT : in->limit;
    char lim[16], before[24];
    snprintf(lim, sizeof(lim), "%u", limit);
    snprintf(before, sizeof(before), "%" PRId64, in->before_id);
    const char *p[] = {in->status ? in->status : "", in->since ? in->since : "", in->until ? in->until : "", before,
                       lim};
    return admin_query(pg, o, "hand-off list",
                       "SELECT json_build_object('handoffs', coalesce(json_agg(x.j ORDER BY x.id DESC), '[]'::json),"
                       " 'next_before_id', CASE WHEN count(*) = $5::int THEN min(x.id) END)::text"
                       " FROM (SELECT h.id, json_build_object(" ADMIN_SQL_HANDOFF ") AS j FROM handoff_records h"
                       "  WHERE ($1 = '' OR h.status = $1)"
                       "    AND ($2 = '' OR h.created_at >= $2::timestamptz)"
                       "    AND ($3 = '' OR h.created_at < $3::timestamptz)"
                       "    AND ($4::bigint = 0 OR h.id < $4::bigint)"
                       "  ORDER BY h.id DESC LIMIT $5::int) x",
                       5, p, e);
}

static rpc_code admin_get(PGconn *pg, admin_op *o, sess_err *e)
{
    char id[24], cap[16];
    snprintf(id, sizeof(id), "%" PRId64, o->in->handoff_id);
    snprintf(cap, sizeof(cap), "%d", ADMIN_TRANSCRIPT_MAX);
    const char *p[] = {id, cap};
    return admin_query(pg, o, "hand-off",
                       "SELECT json_build_object(" ADMIN_SQL_HANDOFF
                       ", 'transcript', coalesce((SELECT json_agg(json_build_object('role', m.role,"
                       "   'content', m.content, 'sources', m.sources, 'partial', m.partial, 'at', m.created_at)"
                       "   ORDER BY m.id) FROM (SELECT * FROM messages WHERE session_id = h.session_id"
                       "   ORDER BY id DESC LIMIT $2::int) m), '[]'::json))::text"
                       " FROM handoff_records h WHERE h.id = $1::bigint",
                       2, p, e);
}

static rpc_code admin_update(PGconn *pg, admin_op *o, sess_err *e)
{
    char id[24];
    snprintf(id, sizeof(id), "%" PRId64, o->in->handoff_id);
    const char *p[] = {id, o->in->status};
    return admin_query(pg, o, "hand-off",
                       "WITH u AS (UPDATE handoff_records SET status = $2, updated_at = now() WHERE id = $1::bigint"
                       " RETURNING *) SELECT json_build_object(" ADMIN_SQL_HANDOFF ")::text FROM u h",
                       2, p, e);
}

/* Every row that names the session, table by table (GDPR access). Blobs
 * are JSON text (the checkpointer's "json" type) or, when not, base64. */
static rpc_code admin_export(PGconn *pg, admin_op *o, sess_err *e)
{
    const char *p[] = {o->in->session_id};
    return admin_query(
        pg, o, "session",
        "SELECT json_build_object("
        " 'session', row_to_json(s),"
        " 'messages', coalesce((SELECT json_agg(row_to_json(m) ORDER BY m.id) FROM messages m"
        "   WHERE m.session_id = s.id), '[]'::json),"
        " 'checkpoints', coalesce((SELECT json_agg(row_to_json(c) ORDER BY c.checkpoint_id) FROM checkpoints c"
        "   WHERE c.thread_id = s.id), '[]'::json),"
        " 'checkpoint_blobs', coalesce((SELECT json_agg(json_build_object('channel', b.channel, 'version',"
        "   b.version, 'type', b.type, 'blob', CASE WHEN b.type = 'json' THEN convert_from(b.blob, 'UTF8')"
        "   ELSE encode(b.blob, 'base64') END) ORDER BY b.channel, b.version) FROM checkpoint_blobs b"
        "   WHERE b.thread_id = s.id), '[]'::json),"
        " 'checkpoint_writes', coalesce((SELECT json_agg(json_build_object('checkpoint_id', w.checkpoint_id,"
        "   'task_id', w.task_id, 'idx', w.idx, 'channel', w.channel, 'type', w.type, 'blob',"
        "   encode(w.blob, 'base64')) ORDER BY w.checkpoint_id, w.idx) FROM checkpoint_writes w"
        "   WHERE w.thread_id = s.id), '[]'::json),"
        " 'handoff_records', coalesce((SELECT json_agg(row_to_json(h) ORDER BY h.id) FROM handoff_records h"
        "   WHERE h.session_id = s.id), '[]'::json),"
        " 'handoff_outbox', coalesce((SELECT json_agg(row_to_json(x) ORDER BY x.id) FROM handoff_outbox x"
        "   JOIN handoff_records h ON h.id = x.handoff_id WHERE h.session_id = s.id), '[]'::json),"
        " 'usage', coalesce((SELECT json_agg(row_to_json(u) ORDER BY u.id) FROM usage u"
        "   WHERE u.session_id = s.id), '[]'::json))::text"
        " FROM sessions s WHERE s.id = $1",
        1, p, e);
}

static rpc_code admin_retention(PGconn *pg, admin_op *o, sess_err *e)
{
    sess_sweep_counts n;
    rpc_code code = sess_store_sweep(pg, &n, e);
    if (code != RPC_OK) {
        return code;
    }
    char buf[160];
    snprintf(buf, sizeof(buf),
             "{\"sessions_deleted\":%" PRId64 ",\"checkpoints_deleted\":%" PRId64
             ",\"handoff_records_deleted\":%" PRId64 "}",
             n.sessions, n.checkpoints, n.handoffs);
    free(o->json);
    o->json = strdup(buf);
    return o->json ? RPC_OK : RPC_INTERNAL;
}

static rpc_code admin_run(PGconn *pg, void *arg, sess_err *e)
{
    admin_op *o = arg;
    const char *a = o->in->action ? o->in->action : "";
    if (strcmp(a, "list_handoffs") == 0) {
        return admin_list(pg, o, e);
    }
    if (strcmp(a, "get_handoff") == 0) {
        return admin_get(pg, o, e);
    }
    if (strcmp(a, "update_handoff") == 0) {
        return admin_update(pg, o, e);
    }
    if (strcmp(a, "export_session") == 0) {
        return admin_export(pg, o, e);
    }
    return admin_retention(pg, o, e);
}

/* The request's shape, checked before any query; 0 with the call failed. */
static int admin_valid(void *cd, const Chat__Session__AdminRequest *in)
{
    const char *a = in->action ? in->action : "";
    const char *status = in->status ? in->status : "";
    if (strcmp(a, "list_handoffs") == 0) {
        if (status[0] && !admin_status_ok(status)) {
            rpc_fail(cd, RPC_INVALID_ARGUMENT, "status is one of new, contacted, qualified, won, lost, spam");
            return 0;
        }
        if (in->limit > ADMIN_PAGE_MAX || in->before_id < 0 || (in->since && strlen(in->since) > ADMIN_DATE_MAX) ||
            (in->until && strlen(in->until) > ADMIN_DATE_MAX)) {
            rpc_fail(cd, RPC_INVALID_ARGUMENT, "limit is 1 to %d, before_id a hand-off id, dates like 2026-12-01",
                     ADMIN_PAGE_MAX);
            return 0;
        }
        return 1;
    }
    if (strcmp(a, "get_handoff") == 0 || strcmp(a, "update_handoff") == 0) {
        if (in->handoff_id <= 0) {
            rpc_fail(cd, RPC_INVALID_ARGUMENT, "a hand-off id is a positive number");
            return 0;
        }
        if (a[0] == 'u' && !admin_status_ok(status)) {
            rpc_fail(cd, RPC_INVALID_ARGUMENT, "status is one of new, contacted, qualified, won, lost, spam");
            return 0;
        }
        return 1;
    }
    if (strcmp(a, "export_session") == 0) {
        if (in->session_id == NULL || !token_id_valid(in->session_id)) {
            rpc_fail(cd, RPC_INVALID_ARGUMENT, "session_id is malformed");
            return 0;
        }
        return 1;
    }
    if (strcmp(a, "run_retention") == 0) {
        return 1;
    }
    rpc_fail(cd, RPC_INVALID_ARGUMENT,
             "action is one of list_handoffs, get_handoff, update_handoff, export_session, run_retention");
    return 0;
}

void sess_rpc_admin(sess_svc *svc, const Chat__Session__AdminRequest *in, Chat__Session__AdminReply_Closure done,
                    void *cd)
{
    (void)svc;
    if (!admin_valid(cd, in)) {
        done(NULL, cd);
        return;
    }
    admin_op o = {.in = in};
    sess_err e;
    rpc_code code = sess_with_db(cd, admin_run, &o, &e);
    if (code != RPC_OK) {
        sess_fail(cd, code, &e);
        done(NULL, cd);
    } else {
        Chat__Session__AdminReply out = CHAT__SESSION__ADMIN_REPLY__INIT;
        out.json = o.json;
        if (strcmp(in->action, "update_handoff") == 0) {
            char id[24];
            snprintf(id, sizeof(id), "%" PRId64, in->handoff_id);
            log_fields(LOG_INFO, "hand-off status changed", "handoff_id", id, "status", in->status, NULL);
        }
        done(&out, cd);
    }
    free(o.json);
}
