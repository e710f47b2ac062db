/* admin.c: see admin.h. */
#include "admin.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth.h"
#include "indexer.pb-c.h"
#include "log.h"
#include "respond.h"
#include "session.pb-c.h"
#include "turn.h"

#define ADMIN_TIMEOUT_MS 10000
#define ADMIN_ARG_MAX 40

typedef enum { AOP_SESSION, AOP_ERASE, AOP_INDEX, AOP_STATUS } admin_kind;

typedef struct admin_op {
    admin_kind kind;
    struct MHD_Connection *conn;
    unsigned status;
    char *body;
} admin_op;

static backends *admin_b;
static int admin_enabled;
static unsigned char admin_digest[SHA256_DIGEST_LENGTH];

int admin_init(backends *b, const char *token, char *err, size_t errlen)
{
    admin_b = b;
    admin_enabled = token != NULL && token[0] != '\0';
    if (admin_enabled && strlen(token) < ADMIN_TOKEN_MIN) {
        snprintf(err, errlen, "ADMIN_TOKEN: too short (at least %d characters)", ADMIN_TOKEN_MIN);
        return -1;
    }
    if (admin_enabled) {
        SHA256((const unsigned char *)token, strlen(token), admin_digest);
    }
    return 0;
}

/* 1 when the request carries the admin token; else the 404 (disabled) or
 * 401 is queued in *ret. Digests are compared, so neither the token's
 * bytes nor its length show in the time taken. */
static int admin_allowed(struct MHD_Connection *conn, gw_request *rq, enum MHD_Result *ret)
{
    if (!admin_enabled) {
        *ret = gw_send_error(conn, MHD_HTTP_NOT_FOUND, "not_found",
                             "no such endpoint (the admin API is off: set ADMIN_TOKEN)", rq->origin);
        return 0;
    }
    const char *tok = auth_bearer(conn);
    unsigned char d[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)(tok ? tok : ""), tok ? strlen(tok) : 0, d);
    if (tok == NULL || CRYPTO_memcmp(d, admin_digest, sizeof(d)) != 0) {
        log_warn("admin API: refused a request without the right token");
        *ret = gw_send_error(conn, MHD_HTTP_UNAUTHORIZED, "unauthorized",
                             "the admin token is required (Authorization: Bearer ...)", rq->origin);
        return 0;
    }
    return 1;
}

static void op_error(admin_op *op, unsigned status, const char *code, const char *message)
{
    json_t *j = json_pack("{s:{s:s, s:s}}", "error", "code", code, "message", message);
    op->body = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    op->status = status;
}

static void op_reply(admin_op *op, const rpc_result *res)
{
    if (op->kind == AOP_SESSION) {
        const Chat__Session__AdminReply *r = (const Chat__Session__AdminReply *)res->reply;
        op->body = strdup(r->json ? r->json : "{}");
        op->status = 200;
    } else if (op->kind == AOP_ERASE) {
        const Chat__Session__EraseReply *r = (const Chat__Session__EraseReply *)res->reply;
        json_t *j = json_pack("{s:b, s:i, s:i}", "erased", 1, "messages_deleted", (int)r->messages_deleted,
                              "checkpoints_deleted", (int)r->checkpoints_deleted);
        op->body = json_dumps(j, JSON_COMPACT);
        json_decref(j);
        op->status = 200;
    } else if (op->kind == AOP_INDEX) {
        const Chat__Indexer__IndexReply *r = (const Chat__Indexer__IndexReply *)res->reply;
        json_t *j = json_pack("{s:I, s:s}", "job_id", (json_int_t)r->job_id, "status", "/admin/index");
        op->body = json_dumps(j, JSON_COMPACT);
        json_decref(j);
        op->status = 202;
    } else {
        const Chat__Indexer__StatusReply *r = (const Chat__Indexer__StatusReply *)res->reply;
        json_t *errs = json_array();
        for (size_t i = 0; i < r->n_errors; i++) {
            json_array_append_new(
                errs, json_pack("{s:s, s:s}", "source", r->errors[i]->source, "message", r->errors[i]->message));
        }
        json_t *j = json_pack("{s:I, s:s, s:{s:i, s:i, s:i, s:i, s:i, s:i}, s:i, s:I, s:I, s:s, s:o}", "job_id",
                              (json_int_t)r->job_id, "state", r->state, "documents", "seen", (int)r->documents_seen,
                              "added", (int)r->documents_added, "changed", (int)r->documents_changed, "removed",
                              (int)r->documents_removed, "failed", (int)r->documents_failed, "skipped",
                              (int)r->documents_skipped, "chunks_embedded", (int)r->chunks_embedded, "started_at_ms",
                              (json_int_t)r->started_at_ms, "finished_at_ms", (json_int_t)r->finished_at_ms, "message",
                              r->message, "errors", errs);
        op->body = json_dumps(j, JSON_COMPACT);
        json_decref(j);
        op->status = 200;
    }
}

static void op_done(rpc_result *res, void *arg)
{
    admin_op *op = arg;
    switch (res->code) {
    case RPC_OK:
        op_reply(op, res);
        break;
    case RPC_NOT_FOUND:
        op_error(op, 404, "not_found", res->message);
        break;
    case RPC_INVALID_ARGUMENT:
        op_error(op, 400, "invalid_request", res->message);
        break;
    case RPC_RESOURCE_EXHAUSTED:
        op_error(op, 413, "too_large", res->message);
        break;
    case RPC_FAILED_PRECONDITION:
    case RPC_ABORTED:
        op_error(op, 409, "conflict", res->message);
        break;
    default:
        log_warn("admin call failed: %s %s", rpc_code_name(res->code), res->message);
        op_error(op, 503, "service_unavailable", res->message[0] ? res->message : "a service is not reachable");
        break;
    }
    if (res->reply != NULL) {
        protobuf_c_message_free_unpacked(res->reply, NULL);
    }
    MHD_resume_connection(op->conn);
    gw_suspended_add(-1);
}

static enum MHD_Result admin_resume(struct MHD_Connection *conn, gw_request *rq)
{
    admin_op *op = rq->state;
    if (op->body == NULL) {
        return gw_send_error(conn, 500, "internal", "out of memory", rq->origin);
    }
    return gw_send_json(conn, op->status, op->body, rq->origin);
}

static void admin_release(void *state)
{
    admin_op *op = state;
    if (op != NULL) {
        free(op->body);
        free(op);
    }
}

/* Suspends conn and makes the call; the answer comes in admin_resume. */
static enum MHD_Result admin_call(struct MHD_Connection *conn, gw_request *rq, admin_kind kind, bk_id backend,
                                  const char *method, const ProtobufCMessage *msg)
{
    admin_op *op = calloc(1, sizeof(*op));
    if (op == NULL) {
        return gw_send_error(conn, 500, "internal", "out of memory", rq->origin);
    }
    op->kind = kind;
    op->conn = conn;
    rq->state = op;
    rq->resume = admin_resume;
    rq->release = admin_release;
    gw_suspended_add(1);
    MHD_suspend_connection(conn);
    bk_call(admin_b->client[backend], method, msg, ADMIN_TIMEOUT_MS, NULL, op_done, op,
            backend == BK_INDEXER ? "indexer service not reachable" : "session service not reachable");
    return MHD_YES;
}

static enum MHD_Result admin_session_call(struct MHD_Connection *conn, gw_request *rq, Chat__Session__AdminRequest *msg)
{
    return admin_call(conn, rq, AOP_SESSION, BK_SESSION, "Admin", &msg->base);
}

/* A positive decimal id; 0 when not. */
static int64_t admin_id(const char *s)
{
    if (s == NULL || s[0] < '1' || s[0] > '9' || strlen(s) > 18) {
        return 0;
    }
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    return errno == 0 && *end == '\0' ? (int64_t)v : 0;
}

static const char *admin_arg(struct MHD_Connection *conn, const char *name)
{
    const char *v = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, name);
    return v != NULL && strlen(v) <= ADMIN_ARG_MAX ? v : (v != NULL ? "\x01" : "");
}

enum MHD_Result admin_handoffs(struct MHD_Connection *conn, gw_request *rq, const char *param)
{
    (void)param;
    enum MHD_Result ret;
    if (!admin_allowed(conn, rq, &ret)) {
        return ret;
    }
    Chat__Session__AdminRequest msg = CHAT__SESSION__ADMIN_REQUEST__INIT;
    msg.action = "list_handoffs";
    msg.status = (char *)admin_arg(conn, "status");
    msg.since = (char *)admin_arg(conn, "since");
    msg.until = (char *)admin_arg(conn, "until");
    const char *limit = admin_arg(conn, "limit"), *before = admin_arg(conn, "before_id");
    int64_t lim = limit[0] ? admin_id(limit) : 0, bid = before[0] ? admin_id(before) : 0;
    if (msg.status[0] == '\x01' || msg.since[0] == '\x01' || msg.until[0] == '\x01' || (limit[0] && lim == 0) ||
        lim > 1000000 || (before[0] && bid == 0)) {
        return gw_send_error(
            conn, 400, "invalid_request",
            "limit and before_id are positive numbers; status, since and until are short words or dates", rq->origin);
    }
    msg.limit = (uint32_t)lim;
    msg.before_id = bid;
    return admin_session_call(conn, rq, &msg);
}

enum MHD_Result admin_handoff(struct MHD_Connection *conn, gw_request *rq, const char *id)
{
    enum MHD_Result ret;
    if (!admin_allowed(conn, rq, &ret)) {
        return ret;
    }
    Chat__Session__AdminRequest msg = CHAT__SESSION__ADMIN_REQUEST__INIT;
    msg.action = "get_handoff";
    if ((msg.handoff_id = admin_id(id)) == 0) {
        return gw_send_error(conn, 404, "not_found", "a hand-off id is a positive number", rq->origin);
    }
    return admin_session_call(conn, rq, &msg);
}

enum MHD_Result admin_handoff_update(struct MHD_Connection *conn, gw_request *rq, const char *id)
{
    enum MHD_Result ret;
    if (!admin_allowed(conn, rq, &ret)) {
        return ret;
    }
    Chat__Session__AdminRequest msg = CHAT__SESSION__ADMIN_REQUEST__INIT;
    msg.action = "update_handoff";
    if ((msg.handoff_id = admin_id(id)) == 0) {
        return gw_send_error(conn, 404, "not_found", "a hand-off id is a positive number", rq->origin);
    }
    json_error_t je;
    json_t *j = rq->too_big ? NULL : json_loadb(rq->body ? rq->body : "", rq->body_len, 0, &je);
    const char *status = json_string_value(json_object_get(j, "status"));
    if (status == NULL || strlen(status) > ADMIN_ARG_MAX) {
        json_decref(j);
        return gw_send_error(conn, 400, "invalid_request",
                             "send {\"status\": \"contacted\"} (new, contacted, qualified, won, lost or spam)",
                             rq->origin);
    }
    char copy[ADMIN_ARG_MAX + 1];
    snprintf(copy, sizeof(copy), "%s", status);
    json_decref(j);
    msg.status = copy;
    return admin_session_call(conn, rq, &msg);
}

enum MHD_Result admin_session_export(struct MHD_Connection *conn, gw_request *rq, const char *sid)
{
    enum MHD_Result ret;
    if (!admin_allowed(conn, rq, &ret)) {
        return ret;
    }
    Chat__Session__AdminRequest msg = CHAT__SESSION__ADMIN_REQUEST__INIT;
    msg.action = "export_session";
    msg.session_id = (char *)sid;
    return admin_session_call(conn, rq, &msg);
}

enum MHD_Result admin_session_erase(struct MHD_Connection *conn, gw_request *rq, const char *sid)
{
    enum MHD_Result ret;
    if (!admin_allowed(conn, rq, &ret)) {
        return ret;
    }
    Chat__Session__EraseRequest msg = CHAT__SESSION__ERASE_REQUEST__INIT;
    msg.session_id = (char *)sid;
    msg.token = "";
    msg.admin = 1;
    return admin_call(conn, rq, AOP_ERASE, BK_SESSION, "Erase", &msg.base);
}

enum MHD_Result admin_reindex(struct MHD_Connection *conn, gw_request *rq, const char *param)
{
    (void)param;
    enum MHD_Result ret;
    if (!admin_allowed(conn, rq, &ret)) {
        return ret;
    }
    Chat__Indexer__IndexRequest msg = CHAT__INDEXER__INDEX_REQUEST__INIT;
    msg.prune = 1;
    return admin_call(conn, rq, AOP_INDEX, BK_INDEXER, "Index", &msg.base);
}

enum MHD_Result admin_index_status(struct MHD_Connection *conn, gw_request *rq, const char *param)
{
    (void)param;
    enum MHD_Result ret;
    if (!admin_allowed(conn, rq, &ret)) {
        return ret;
    }
    Chat__Indexer__StatusRequest msg = CHAT__INDEXER__STATUS_REQUEST__INIT;
    return admin_call(conn, rq, AOP_STATUS, BK_INDEXER, "Status", &msg.base);
}

enum MHD_Result admin_retention(struct MHD_Connection *conn, gw_request *rq, const char *param)
{
    (void)param;
    enum MHD_Result ret;
    if (!admin_allowed(conn, rq, &ret)) {
        return ret;
    }
    Chat__Session__AdminRequest msg = CHAT__SESSION__ADMIN_REQUEST__INIT;
    msg.action = "run_retention";
    return admin_session_call(conn, rq, &msg);
}
