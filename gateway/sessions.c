/* sessions.c: see sessions.h. */
#include "sessions.h"

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.pb-c.h"
#include "lead_slots.h"
#include "log.h"
#include "metrics.h"
#include "respond.h"
#include "rpc_auth.h"
#include "session.pb-c.h"
#include "turn.h"
#include "utf8.h"

#define SESSIONS_TIMEOUT_MS 5000
#define SESSIONS_UNREACHABLE "session service not reachable"

static backends *sess_b;

struct session_op {
    session_op_kind kind;
    struct MHD_Connection *conn;
    unsigned status;
    char *body; /* JSON answer */
    uint32_t retry_after_s;
    unsigned load_limit; /* Load's page */
    int64_t load_before;
};

void sessions_init(backends *b)
{
    sess_b = b;
}

static void op_error(session_op *op, unsigned status, const char *code, const char *message)
{
    json_t *j = json_pack("{s:{s:s, s:s}}", "error", "code", code, "message", message);
    op->body = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    op->status = status;
}

static json_t *message_json(const Chat__Common__ChatMessage *m)
{
    json_t *src = json_array();
    for (size_t i = 0; i < m->n_sources; i++) {
        json_array_append_new(src, json_pack("{s:i, s:s, s:s}", "n", (int)i + 1, "title", m->sources[i]->title, "url",
                                             m->sources[i]->url));
    }
    return json_pack("{s:I, s:s, s:s, s:I, s:s, s:b, s:o}", "id", (json_int_t)m->id, "role", m->role, "content",
                     m->content, "created_at_ms", (json_int_t)m->created_at_ms, "turn_id", m->turn_id, "partial",
                     m->partial, "sources", src);
}

static void op_done(rpc_result *res, void *arg)
{
    session_op *op = arg;
    if (res->code != RPC_OK) {
        /* The RPC layer refusing the gateway (RPC_SECRET differs) is ours to
         * report (503, logged), not the visitor's 401. */
        switch (rpc_auth_refused(res->code, res->reason) ? RPC_INTERNAL : res->code) {
        case RPC_UNAUTHENTICATED:
        case RPC_PERMISSION_DENIED:
            op_error(op, 401, "unauthorized", res->message);
            break;
        case RPC_NOT_FOUND:
            op_error(op, 404, "session_not_found", res->message);
            break;
        case RPC_INVALID_ARGUMENT:
            op_error(op, 400, "invalid_request", res->message);
            break;
        case RPC_RESOURCE_EXHAUSTED:
            op_error(op, 429, "limit_reached", res->message);
            op->retry_after_s = (res->retry_after_ms + 999) / 1000;
            break;
        default:
            metrics_upstream_error(MS_SESSION);
            log_warn("session call failed: %s %s", rpc_code_name(res->code), res->message);
            op_error(op, 503, "service_unavailable", "The chat is briefly unavailable. Please try again in a moment.");
            op->retry_after_s = 2;
            break;
        }
    } else if (op->kind == SOP_CREATE) {
        Chat__Session__CreateReply *r = (Chat__Session__CreateReply *)res->reply;
        json_t *j = json_pack("{s:s, s:s, s:I}", "session_id", r->session_id, "token", r->token, "expires_at",
                              (json_int_t)(r->expires_at_ms / 1000));
        op->body = json_dumps(j, JSON_COMPACT);
        json_decref(j);
        op->status = 201;
    } else if (op->kind == SOP_LOAD) {
        Chat__Session__LoadReply *r = (Chat__Session__LoadReply *)res->reply;
        json_t *msgs = json_array();
        for (size_t i = 0; i < r->n_messages; i++) {
            json_array_append_new(msgs, message_json(r->messages[i]));
        }
        json_t *j = json_pack("{s:o, s:I, s:b}", "messages", msgs, "expires_at", (json_int_t)(r->expires_at_ms / 1000),
                              "more", r->more);
        if (j != NULL && r->more) {
            json_object_set_new(j, "before", json_integer((json_int_t)r->next_before_id));
        }
        op->body = json_dumps(j, JSON_COMPACT);
        json_decref(j);
        op->status = 200;
    } else if (op->kind == SOP_LEAD) {
        Chat__Session__SubmitLeadReply *r = (Chat__Session__SubmitLeadReply *)res->reply;
        json_t *j = json_pack("{s:b, s:b, s:s, s:s}", "received", 1, "within_business_hours", r->within_business_hours,
                              "business_hours", r->business_hours, "promise", r->promise);
        op->body = json_dumps(j, JSON_COMPACT);
        json_decref(j);
        op->status = 201;
    } else {
        Chat__Session__EraseReply *r = (Chat__Session__EraseReply *)res->reply;
        json_t *j = json_pack("{s:b, s:i}", "erased", 1, "messages_deleted", (int)r->messages_deleted);
        op->body = json_dumps(j, JSON_COMPACT);
        json_decref(j);
        op->status = 200;
    }
    protobuf_c_message_free_unpacked(res->reply, NULL);
    MHD_resume_connection(op->conn);
    gw_suspended_add(-1);
}

static session_op *sessions_call(struct MHD_Connection *conn, session_op_kind kind, const char *sid, const char *token,
                                 const char *ip_hash, const char *origin, const char *locale, unsigned limit,
                                 int64_t before_id)
{
    session_op *op = calloc(1, sizeof(*op));
    if (op == NULL) {
        return NULL;
    }
    op->load_limit = limit;
    op->load_before = before_id;
    op->kind = kind;
    op->conn = conn;
    gw_suspended_add(1);
    MHD_suspend_connection(conn);
    if (kind == SOP_CREATE) {
        Chat__Session__CreateRequest rq = CHAT__SESSION__CREATE_REQUEST__INIT;
        rq.ip_hash = (char *)ip_hash;
        rq.origin = (char *)(origin ? origin : "");
        rq.locale = (char *)(locale ? locale : "");
        bk_call(sess_b->client[BK_SESSION], "Create", &rq.base, SESSIONS_TIMEOUT_MS, NULL, op_done, op,
                SESSIONS_UNREACHABLE);
    } else if (kind == SOP_LOAD) {
        Chat__Session__LoadRequest rq = CHAT__SESSION__LOAD_REQUEST__INIT;
        rq.session_id = (char *)sid;
        rq.token = (char *)token;
        rq.limit = op->load_limit;
        rq.before_id = op->load_before;
        bk_call(sess_b->client[BK_SESSION], "Load", &rq.base, SESSIONS_TIMEOUT_MS, NULL, op_done, op,
                SESSIONS_UNREACHABLE);
    } else {
        Chat__Session__EraseRequest rq = CHAT__SESSION__ERASE_REQUEST__INIT;
        rq.session_id = (char *)sid;
        rq.token = (char *)token;
        bk_call(sess_b->client[BK_SESSION], "Erase", &rq.base, SESSIONS_TIMEOUT_MS, NULL, op_done, op,
                SESSIONS_UNREACHABLE);
    }
    return op;
}

session_op *sessions_start(struct MHD_Connection *conn, session_op_kind kind, const char *sid, const char *token,
                           const char *ip_hash, const char *origin, const char *locale)
{
    return sessions_call(conn, kind, sid, token, ip_hash, origin, locale, 0, 0);
}

session_op *sessions_start_load(struct MHD_Connection *conn, const char *sid, const char *token, unsigned limit,
                                int64_t before_id)
{
    return sessions_call(conn, SOP_LOAD, sid, token, NULL, NULL, NULL, limit, before_id);
}

enum MHD_Result sessions_respond(session_op *op, struct MHD_Connection *conn, const char *cors_origin)
{
    if (op->body == NULL) {
        return gw_send_error(conn, 500, "internal", "out of memory", cors_origin);
    }
    return gw_send_json_full(conn, op->status, op->body, cors_origin, op->retry_after_s);
}

enum MHD_Result sessions_lead(struct MHD_Connection *conn, const char *body, size_t len, const char *sid,
                              const char *ip_hash, const char *origin, session_op **out)
{
    *out = NULL;
    json_error_t je;
    json_t *j = json_loadb(body ? body : "", len, 0, &je);
    if (!json_is_object(j)) {
        json_decref(j);
        return gw_send_error(conn, 400, "invalid_json", "the request body is not a JSON object", origin);
    }
    static const char *const keys[] = {"name", "email", "phone", "company", "message"};
    const char *v[5];
    for (int i = 0; i < 5; i++) {
        json_t *f = json_object_get(j, keys[i]);
        if (f != NULL && !json_is_string(f) && !json_is_null(f)) {
            json_decref(j);
            char m[64];
            snprintf(m, sizeof(m), "\"%s\" must be a string", keys[i]);
            return gw_send_error(conn, 400, "invalid_lead", m, origin);
        }
        v[i] = json_string_value(f);
    }
    if (v[4] != NULL && utf8_count_chars(v[4], strlen(v[4])) > 4000) {
        json_decref(j);
        return gw_send_error(conn, 400, "invalid_lead", "the message is longer than 4000 characters", origin);
    }
    /* The honeypot: a field people never see. Any value but an empty
     * string or null means a bot filled the form in. */
    json_t *hp = json_object_get(j, SESSIONS_HONEYPOT_FIELD);
    int trapped = hp != NULL && !json_is_null(hp) && !(json_is_string(hp) && json_string_length(hp) == 0);
    if (trapped) {
        log_fields(LOG_INFO, "honeypot", "ip_hash", ip_hash, "field", SESSIONS_HONEYPOT_FIELD, NULL);
    }
    session_op *op = calloc(1, sizeof(*op));
    if (op == NULL) {
        json_decref(j);
        return gw_send_error(conn, 500, "internal", "out of memory", origin);
    }
    op->kind = SOP_LEAD;
    op->conn = conn;
    Chat__Session__SubmitLeadRequest rq = CHAT__SESSION__SUBMIT_LEAD_REQUEST__INIT;
    rq.session_id = (char *)(sid ? sid : "");
    rq.name = (char *)(v[0] ? v[0] : "");
    rq.email = (char *)(v[1] ? v[1] : "");
    /* The same normalisation as the chat's lead slots: a phone in E.164
     * when it can be read (else as typed: a person reads it), a company
     * from a business email when none was given. */
    char phone[LEAD_E164_MAX], company[LEAD_COMPANY_GUESS_MAX];
    rq.phone = (char *)(v[2] ? v[2] : "");
    if (v[2] != NULL && lead_phone_e164(v[2], NULL, phone, sizeof(phone)) == 0) {
        rq.phone = phone;
    }
    rq.company = (char *)(v[3] ? v[3] : "");
    if ((v[3] == NULL || v[3][0] == '\0') && v[1] != NULL &&
        lead_company_from_email(v[1], company, sizeof(company)) == 1) {
        rq.company = company;
    }
    rq.message = (char *)(v[4] ? v[4] : "");
    rq.consent = json_is_true(json_object_get(j, "consent"));
    rq.ip_hash = (char *)ip_hash;
    rq.source = "form";
    rq.discard = trapped;
    gw_suspended_add(1);
    MHD_suspend_connection(conn);
    bk_call(sess_b->client[BK_SESSION], "SubmitLead", &rq.base, SESSIONS_TIMEOUT_MS, NULL, op_done, op,
            SESSIONS_UNREACHABLE);
    json_decref(j);
    *out = op;
    return MHD_YES;
}

void sessions_free(session_op *op)
{
    if (op == NULL) {
        return;
    }
    free(op->body);
    free(op);
}
