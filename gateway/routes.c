/* routes.c: see routes.h. Handlers run on the HTTP thread; the ones that
 * need the services suspend the connection and leave rq->resume to answer
 * when it resumes (request.h). */
#include "routes.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "admin.h"
#include "auth.h"
#include "bot_score.h"
#include "chat.h"
#include "log.h"
#include "metrics.h"
#include "ready.h"
#include "respond.h"
#include "sessions.h"
#include "static.h"
#include "throttle.h"
#include "turn.h"
#include "turnstile.h"

#ifndef CHAT_VERSION
#define CHAT_VERSION "dev"
#endif

#define ROUTE_PARAM_MAX 64        /* longest "{}" segment any route takes */
#define ROUTE_BOT_CHECK_RETRY_S 5 /* Retry-After when Siteverify does not answer */

/* param: the "{}" segment of the path, or NULL when the pattern has none. */
typedef enum MHD_Result (*route_fn)(struct MHD_Connection *conn, gw_request *rq, const char *param);

typedef struct route {
    const char *method;       /* "GET" (HEAD too), "POST", "DELETE" */
    const char *pattern;      /* the path; "{}" stands for one non-empty segment */
    size_t param_max;         /* longest "{}" segment accepted */
    const char *wrong_method; /* the 405 message when only the path matches */
    route_fn fn;
} route;

/* --- handlers ------------------------------------------------------------ */

static enum MHD_Result route_healthz(struct MHD_Connection *conn, gw_request *rq, const char *param)
{
    (void)param;
    metrics_request(MR_HEALTH, 200);
    return gw_send_json(conn, MHD_HTTP_OK, "{\"status\":\"ok\",\"version\":\"" CHAT_VERSION "\"}", rq->origin);
}

static enum MHD_Result route_metrics(struct MHD_Connection *conn, gw_request *rq, const char *param)
{
    (void)param;
    enum MHD_Result refused;
    if (admin_token_set() && !admin_allowed(conn, rq, &refused)) {
        return refused; /* the admin API's limit and brute-force guard */
    }
    if (!admin_privileged(conn)) {
        metrics_request(MR_HEALTH, 401);
        return gw_send_error(conn, MHD_HTTP_UNAUTHORIZED, "unauthorized",
                             admin_token_set() ? "the admin token is required (Authorization: Bearer ...)"
                                               : "metrics are served to loopback only until ADMIN_TOKEN is set",
                             rq->origin);
    }
    metrics_request(MR_HEALTH, 200);
    size_t len = 0;
    char *text = metrics_render(&len);
    if (text == NULL) {
        return MHD_NO;
    }
    struct MHD_Response *r = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
    if (r == NULL) {
        free(text);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; version=0.0.4");
    gw_security_headers(r, NULL);
    enum MHD_Result ret = MHD_queue_response(conn, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result route_ready_resume(struct MHD_Connection *conn, gw_request *rq)
{
    return ready_respond(rq->state, conn, admin_privileged(conn));
}

static void route_ready_release(void *state)
{
    ready_free(state);
}

static enum MHD_Result route_readyz(struct MHD_Connection *conn, gw_request *rq, const char *param)
{
    (void)param;
    metrics_request(MR_HEALTH, 200);
    ready_check *rc = NULL;
    if (ready_start(&rc, conn, rq->b) != 0) {
        return gw_send_error(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal", "out of memory", rq->origin);
    }
    rq->state = rc;
    rq->resume = route_ready_resume;
    rq->release = route_ready_release;
    return MHD_YES;
}

static enum MHD_Result route_session_op_resume(struct MHD_Connection *conn, gw_request *rq)
{
    return sessions_respond(rq->state, conn, rq->origin);
}

static void route_session_op_release(void *state)
{
    sessions_free(state);
}

/* Keeps a started session call in rq; 500 when none could start. */
static enum MHD_Result route_session_op(struct MHD_Connection *conn, gw_request *rq, session_op *op)
{
    if (op == NULL) {
        return gw_send_error(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal", "out of memory", rq->origin);
    }
    rq->state = op;
    rq->resume = route_session_op_resume;
    rq->release = route_session_op_release;
    return MHD_YES;
}

/* Starts session.Create for the client (the checks are passed). */
static enum MHD_Result route_session_begin(struct MHD_Connection *conn, gw_request *rq, const ip_addr *client)
{
    char iph[AUTH_IP_HASH_LEN + 1];
    auth_client_hash(client, iph);
    const char *locale = NULL;
    json_t *j = NULL;
    if (rq->body_len > 0 && !rq->too_big) {
        json_error_t je;
        j = json_loadb(rq->body, rq->body_len, 0, &je);
        locale = json_string_value(json_object_get(j, "locale"));
        if (locale != NULL && strlen(locale) > 35) {
            locale = NULL;
        }
    }
    session_op *op = sessions_start(conn, SOP_CREATE, NULL, NULL, iph, rq->origin, locale);
    json_decref(j);
    return route_session_op(conn, rq, op);
}

static void route_turnstile_release(void *state)
{
    turnstile_check_free(state);
}

/* After Siteverify (HTTP thread): on to Create, or the refusal. */
static enum MHD_Result route_session_checked(struct MHD_Connection *conn, gw_request *rq)
{
    if (!turnstile_done(rq->state)) {
        return MHD_YES; /* a spurious wake: Siteverify has not answered */
    }
    const char *codes;
    ts_outcome o = turnstile_outcome(rq->state, &codes);
    ip_addr client;
    char iph[AUTH_IP_HASH_LEN + 1];
    auth_client_ip(conn, &client);
    auth_client_hash(&client, iph);
    if (o == TS_FAILED) {
        log_fields(LOG_INFO, "bot check failed", "ip_hash", iph, "error_codes", codes, NULL);
        metrics_request(MR_SESSIONS, 403);
        return gw_send_error(conn, MHD_HTTP_FORBIDDEN, "bot_check_failed",
                             "We could not confirm that you are a person, so the chat cannot start. Please try the "
                             "check again, or leave us a message with the contact form.",
                             rq->origin);
    }
    if (o == TS_UNAVAILABLE && !turnstile_fail_open()) {
        metrics_request(MR_SESSIONS, 503);
        return gw_send_json_full(conn, MHD_HTTP_SERVICE_UNAVAILABLE,
                                 "{\"error\":{\"code\":\"bot_check_unavailable\",\"message\":\"The check that keeps "
                                 "bots out is not answering right now. Please try again in a few seconds, or leave us "
                                 "a message with the contact form.\"}}",
                                 rq->origin, ROUTE_BOT_CHECK_RETRY_S);
    }
    if (o == TS_UNAVAILABLE) {
        log_fields(LOG_WARN, "bot check unavailable: let through (TURNSTILE_FAIL_OPEN)", "ip_hash", iph, "reason",
                   codes, NULL);
    }
    turnstile_check_free(rq->state);
    rq->state = NULL;
    rq->resume = NULL;
    rq->release = NULL;
    return route_session_begin(conn, rq, &client);
}

static enum MHD_Result route_session_create(struct MHD_Connection *conn, gw_request *rq, const char *param)
{
    (void)param;
    ip_addr client;
    auth_client_ip(conn, &client);
    enum MHD_Result refused;
    if (throttle_refuse(conn, RL_SESSIONS, &client, rq->origin, MR_SESSIONS, &refused) ||
        bot_score_refuse(conn, rq->origin, MR_SESSIONS, &refused)) {
        return refused;
    }
    if (!turnstile_enabled()) {
        return route_session_begin(conn, rq, &client);
    }
    json_t *j = NULL;
    const char *tok = NULL;
    if (rq->body_len > 0 && !rq->too_big) {
        json_error_t je;
        j = json_loadb(rq->body, rq->body_len, 0, &je);
        tok = json_string_value(json_object_get(j, "turnstile_token"));
    }
    if (tok == NULL || tok[0] == '\0') {
        tok = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "CF-Turnstile-Response");
    }
    if (tok == NULL || tok[0] == '\0') {
        json_decref(j);
        metrics_request(MR_SESSIONS, 403);
        return gw_send_error(conn, MHD_HTTP_FORBIDDEN, "bot_check_required",
                             "Please confirm that you are a person first: a new conversation needs the Turnstile "
                             "check's token (\"turnstile_token\" in the body, or the CF-Turnstile-Response header).",
                             rq->origin);
    }
    if (!sv_token_plausible(tok)) {
        json_decref(j);
        metrics_request(MR_SESSIONS, 403);
        return gw_send_error(conn, MHD_HTTP_FORBIDDEN, "bot_check_failed",
                             "The Turnstile token is malformed (at most 2048 printable characters). Please try the "
                             "check again, or leave us a message with the contact form.",
                             rq->origin);
    }
    char ip[CLIENT_IP_TEXT_MAX];
    ip_format(&client, ip);
    ts_check *c = turnstile_verify(conn, tok, ip);
    json_decref(j);
    if (c == NULL) {
        return gw_send_error(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal", "out of memory", rq->origin);
    }
    rq->state = c;
    rq->resume = route_session_checked;
    rq->release = route_turnstile_release;
    return MHD_YES;
}

/* GET /v1/config: what the widget needs to know before it starts. */
static enum MHD_Result route_config(struct MHD_Connection *conn, gw_request *rq, const char *param)
{
    (void)param;
    metrics_request(MR_OTHER, 200);
    const char *key = turnstile_site_key();
    json_t *j = json_pack("{s:o}", "turnstile_site_key", key ? json_string(key) : json_null());
    char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (text == NULL) {
        return gw_send_error(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal", "out of memory", rq->origin);
    }
    enum MHD_Result r = gw_send_json(conn, MHD_HTTP_OK, text, rq->origin);
    free(text);
    return r;
}

static enum MHD_Result route_lead(struct MHD_Connection *conn, gw_request *rq, const char *param)
{
    (void)param;
    ip_addr client;
    auth_client_ip(conn, &client);
    enum MHD_Result refused;
    if (throttle_refuse(conn, RL_LEADS, &client, rq->origin, MR_LEADS, &refused)) {
        return refused;
    }
    const char *ct = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
    if (ct == NULL || strncasecmp(ct, "application/json", 16) != 0) {
        metrics_request(MR_LEADS, 415);
        return gw_send_error(conn, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type",
                             "send the form as JSON (Content-Type: application/json)", rq->origin);
    }
    char iph[AUTH_IP_HASH_LEN + 1], sid[AUTH_SESSION_ID_LEN + 1];
    auth_client_hash(&client, iph);
    const char *tok = auth_bearer(conn);
    int linked = tok != NULL && auth_check_token(tok, sid);
    session_op *op = NULL;
    enum MHD_Result r = sessions_lead(conn, rq->body, rq->body_len, linked ? sid : NULL, iph, rq->origin, &op);
    if (op != NULL) {
        rq->state = op;
        rq->resume = route_session_op_resume;
        rq->release = route_session_op_release;
    }
    return r;
}

/* The Bearer token of a session route, when it signs session id: else NULL
 * with the 401/403 already queued in *ret. */
static const char *route_session_token(struct MHD_Connection *conn, gw_request *rq, const char *id, metric_route mr,
                                       enum MHD_Result *ret)
{
    char sid[AUTH_SESSION_ID_LEN + 1];
    const char *token = auth_bearer(conn);
    if (token == NULL || !auth_check_token(token, sid)) {
        metrics_request(mr, 401);
        *ret =
            gw_send_error(conn, MHD_HTTP_UNAUTHORIZED, "unauthorized", "a valid session token is required", rq->origin);
        return NULL;
    }
    if (strcmp(sid, id) != 0) {
        metrics_request(mr, 403);
        *ret = gw_send_error(conn, MHD_HTTP_FORBIDDEN, "forbidden", "the token belongs to another session", rq->origin);
        return NULL;
    }
    return token;
}

/* A call on one session (Load or Erase) for the holder of its token. */
static enum MHD_Result route_session_call(struct MHD_Connection *conn, gw_request *rq, const char *id,
                                          session_op_kind kind, metric_route mr)
{
    enum MHD_Result ret;
    const char *token = route_session_token(conn, rq, id, mr, &ret);
    if (token == NULL) {
        return ret;
    }
    return route_session_op(conn, rq, sessions_start(conn, kind, id, token, NULL, rq->origin, NULL));
}

static enum MHD_Result route_session_erase(struct MHD_Connection *conn, gw_request *rq, const char *id)
{
    return route_session_call(conn, rq, id, SOP_ERASE, MR_ERASE);
}

/* A positive decimal number of at most 18 digits; 0 when s is not one. */
static int64_t route_count(const char *s)
{
    if (s == NULL || s[0] < '1' || s[0] > '9' || strlen(s) > 18) {
        return 0;
    }
    int64_t v = 0;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9') {
            return 0;
        }
        v = v * 10 + (*p - '0');
    }
    return v;
}

/* GET /v1/sessions/{id}/messages?limit=&before=: one page of the transcript. */
static enum MHD_Result route_session_messages(struct MHD_Connection *conn, gw_request *rq, const char *id)
{
    const char *ls = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "limit");
    const char *bs = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "before");
    int64_t limit = ls != NULL ? route_count(ls) : 0, before = bs != NULL ? route_count(bs) : 0;
    if ((ls != NULL && (limit == 0 || limit > SESSIONS_PAGE_MAX)) || (bs != NULL && before == 0)) {
        metrics_request(MR_MESSAGES, 400);
        return gw_send_error(conn, MHD_HTTP_BAD_REQUEST, "invalid_page",
                             "limit is a number from 1 to 1000 and before a message id (the \"before\" of the "
                             "previous page)",
                             rq->origin);
    }
    enum MHD_Result ret;
    const char *token = route_session_token(conn, rq, id, MR_MESSAGES, &ret);
    if (token == NULL) {
        return ret;
    }
    return route_session_op(conn, rq, sessions_start_load(conn, id, token, (unsigned)limit, before));
}

static enum MHD_Result route_chat(struct MHD_Connection *conn, gw_request *rq, const char *param)
{
    (void)param;
    return chat_post(conn, rq);
}

static enum MHD_Result route_chat_events(struct MHD_Connection *conn, gw_request *rq, const char *turn_id)
{
    return chat_resume(conn, rq, turn_id);
}

/* --- the table ----------------------------------------------------------- */

static const route routes[] = {
    {"GET", "/healthz", 0, "this endpoint only answers GET", route_healthz},
    {"GET", "/readyz", 0, "this endpoint only answers GET", route_readyz},
    {"GET", "/metrics", 0, "this endpoint only answers GET", route_metrics},
    {"GET", "/v1/config", 0, "this endpoint only answers GET", route_config},
    {"POST", "/v1/sessions", 0, "use POST", route_session_create},
    {"POST", "/v1/leads", 0, "use POST", route_lead},
    {"DELETE", "/v1/sessions/{}", AUTH_SESSION_ID_LEN, "use DELETE to erase a session", route_session_erase},
    {"GET", "/v1/sessions/{}/messages", AUTH_SESSION_ID_LEN, "use GET", route_session_messages},
    {"POST", "/v1/chat", 0, "use POST", route_chat},
    {"GET", "/v1/chat/{}/events", TURN_ID_MAX - 1, "use GET", route_chat_events},
    {"GET", "/admin/handoffs", 0, "use GET", admin_handoffs},
    {"GET", "/admin/handoffs/{}", 20, "use GET to read a hand-off, POST to change its status", admin_handoff},
    {"POST", "/admin/handoffs/{}", 20, "use GET to read a hand-off, POST to change its status", admin_handoff_update},
    {"GET", "/admin/sessions/{}/export", AUTH_SESSION_ID_LEN, "use GET", admin_session_export},
    {"DELETE", "/admin/sessions/{}", AUTH_SESSION_ID_LEN, "use DELETE to erase a session", admin_session_erase},
    {"POST", "/admin/reindex", 0, "use POST", admin_reindex},
    {"GET", "/admin/index", 0, "use GET", admin_index_status},
    {"POST", "/admin/retention/run", 0, "use POST", admin_retention},
    {"GET", "/admin/usage", 0, "use GET", admin_usage},
};

/* 1 when url is pattern, with its "{}" segment (1..max bytes, no '/')
 * copied into param. */
static int route_match(const route *r, const char *url, char param[ROUTE_PARAM_MAX + 1])
{
    const char *hole = strstr(r->pattern, "{}");
    if (hole == NULL) {
        return strcmp(url, r->pattern) == 0;
    }
    size_t pre = (size_t)(hole - r->pattern);
    if (strncmp(url, r->pattern, pre) != 0) {
        return 0;
    }
    const char *seg = url + pre;
    size_t n = strcspn(seg, "/");
    if (n == 0 || n > r->param_max || n > ROUTE_PARAM_MAX || strcmp(seg + n, hole + 2) != 0) {
        return 0;
    }
    memcpy(param, seg, n);
    param[n] = '\0';
    return 1;
}

static int route_method_is(const char *method, const char *want)
{
    if (strcmp(want, MHD_HTTP_METHOD_GET) == 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) == 0) {
        return 1;
    }
    return strcmp(method, want) == 0;
}

enum MHD_Result routes_dispatch(struct MHD_Connection *conn, gw_request *rq, const char *url, const char *method)
{
    const route *path_only = NULL;
    char param[ROUTE_PARAM_MAX + 1];
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        const route *r = &routes[i];
        if (!route_match(r, url, param)) {
            continue;
        }
        if (route_method_is(method, r->method)) {
            return r->fn(conn, rq, strstr(r->pattern, "{}") ? param : NULL);
        }
        if (path_only == NULL) {
            path_only = r;
        }
    }
    if (path_only != NULL) {
        return gw_send_error(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "method_not_allowed", path_only->wrong_method,
                             rq->origin);
    }
    if (route_method_is(method, MHD_HTTP_METHOD_GET)) {
        int sr = static_serve(conn, url);
        if (sr >= 0) {
            return (enum MHD_Result)sr;
        }
    }
    metrics_request(MR_OTHER, 404);
    return gw_send_error(conn, MHD_HTTP_NOT_FOUND, "not_found", "no such endpoint", rq->origin);
}
