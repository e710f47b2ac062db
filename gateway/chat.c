/* chat.c: see chat.h. */
#include "chat.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth.h"
#include "bot_score.h"
#include "metrics.h"
#include "respond.h"
#include "sse.h"
#include "throttle.h"
#include "turn.h"
#include "utf8.h"

static void chat_release(void *state)
{
    turn_unref(state);
}

enum MHD_Result chat_post(struct MHD_Connection *conn, gw_request *rq)
{
    const char *o = rq->origin;
    /* The limit first: a refused request is not even parsed, and no turn is
     * registered for it. */
    ip_addr client;
    auth_client_ip(conn, &client);
    enum MHD_Result refused;
    if (throttle_refuse(conn, RL_CHAT, &client, o, MR_CHAT, &refused) || bot_score_refuse(conn, o, MR_CHAT, &refused)) {
        return refused;
    }
    const char *ct = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
    if (ct == NULL || strncasecmp(ct, "application/json", 16) != 0) {
        metrics_request(MR_CHAT, 415);
        return gw_send_error(conn, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type",
                             "send the message as JSON (Content-Type: application/json)", o);
    }
    if (rq->too_big) {
        metrics_request(MR_CHAT, 413);
        return gw_send_error(conn, MHD_HTTP_CONTENT_TOO_LARGE, "payload_too_large", "the request body is over 16 KB",
                             o);
    }
    if (!utf8_valid(rq->body ? rq->body : "", rq->body_len)) {
        metrics_request(MR_CHAT, 400);
        return gw_send_error(conn, MHD_HTTP_BAD_REQUEST, "invalid_utf8", "the request body is not valid UTF-8", o);
    }
    json_error_t je;
    json_t *j = json_loadb(rq->body ? rq->body : "", rq->body_len, 0, &je);
    if (!json_is_object(j)) {
        json_decref(j);
        metrics_request(MR_CHAT, 400);
        return gw_send_error(conn, MHD_HTTP_BAD_REQUEST, "invalid_json", "the request body is not a JSON object", o);
    }
    const char *token = auth_bearer(conn);
    if (token == NULL) {
        token = json_string_value(json_object_get(j, "token"));
    }
    char sid[AUTH_SESSION_ID_LEN + 1];
    if (token == NULL) {
        json_decref(j);
        metrics_request(MR_CHAT, 401);
        return gw_send_error(conn, MHD_HTTP_UNAUTHORIZED, "unauthorized",
                             "a session token is required (Authorization: Bearer <token>)", o);
    }
    if (!auth_check_token(token, sid)) {
        json_decref(j);
        metrics_request(MR_CHAT, 401);
        return gw_send_error(conn, MHD_HTTP_UNAUTHORIZED, "unauthorized", "the session token is not valid", o);
    }
    const char *claimed = json_string_value(json_object_get(j, "session_id"));
    if (claimed != NULL && strcmp(claimed, sid) != 0) {
        json_decref(j);
        metrics_request(MR_CHAT, 401);
        return gw_send_error(conn, MHD_HTTP_UNAUTHORIZED, "unauthorized", "the token does not belong to this session",
                             o);
    }
    json_t *mj = json_object_get(j, "message");
    const char *msg = json_string_value(mj);
    if (msg == NULL) {
        json_decref(j);
        metrics_request(MR_CHAT, 400);
        return gw_send_error(conn, MHD_HTTP_BAD_REQUEST, "invalid_message", "\"message\" must be a string", o);
    }
    size_t mlen = json_string_length(mj);
    if (memchr(msg, '\0', mlen) != NULL) {
        json_decref(j);
        metrics_request(MR_CHAT, 400);
        return gw_send_error(conn, MHD_HTTP_BAD_REQUEST, "invalid_message", "the message contains a NUL character", o);
    }
    size_t i = 0;
    while (i < mlen && (msg[i] == ' ' || msg[i] == '\t' || msg[i] == '\n' || msg[i] == '\r')) {
        i++;
    }
    if (i == mlen) {
        json_decref(j);
        metrics_request(MR_CHAT, 400);
        return gw_send_error(conn, MHD_HTTP_BAD_REQUEST, "empty_message", "the message is empty", o);
    }
    size_t chars = utf8_count_chars(msg, mlen);
    if (chars > TURN_MESSAGE_MAX_CHARS) {
        json_decref(j);
        metrics_request(MR_CHAT, 400);
        char m[128];
        snprintf(m, sizeof(m), "the message has %zu characters; the limit is %d", chars, TURN_MESSAGE_MAX_CHARS);
        return gw_send_error(conn, MHD_HTTP_BAD_REQUEST, "message_too_long", m, o);
    }
    char iph[AUTH_IP_HASH_LEN + 1];
    auth_client_hash(&client, iph);
    unsigned st = 0;
    char err[256];
    turn *t = turn_start(conn, sid, token, msg, iph, &st, err, sizeof(err));
    json_decref(j);
    if (t == NULL) {
        metrics_request(MR_CHAT, st);
        return gw_send_error(conn, st, "unavailable", err, o);
    }
    rq->state = t;
    rq->resume = chat_after_begin;
    rq->release = chat_release;
    return MHD_YES;
}

enum MHD_Result chat_after_begin(struct MHD_Connection *conn, gw_request *rq)
{
    unsigned status;
    const char *code, *message;
    uint32_t retry;
    turn_phase p = turn_begin_result(rq->state, &status, &code, &message, &retry);
    if (p == TURN_BEGIN_PENDING) {
        return MHD_YES; /* spurious wake; Begin still running */
    }
    if (p == TURN_BEGIN_REFUSED) {
        metrics_request(MR_CHAT, status);
        json_t *e = json_pack("{s:{s:s, s:s}}", "error", "code", code, "message", message);
        char *txt = json_dumps(e, JSON_COMPACT);
        json_decref(e);
        enum MHD_Result r = gw_send_json_full(conn, status, txt ? txt : "{}", rq->origin, retry);
        free(txt);
        return r;
    }
    metrics_request(MR_CHAT, 200);
    return sse_respond(conn, rq->state, 0, rq->origin);
}

enum MHD_Result chat_resume(struct MHD_Connection *conn, gw_request *rq, const char *tid)
{
    const char *o = rq->origin;
    const char *token = auth_bearer(conn);
    if (token == NULL) {
        token = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "token");
    }
    char sid[AUTH_SESSION_ID_LEN + 1];
    if (token == NULL || !auth_check_token(token, sid)) {
        metrics_request(MR_RESUME, 401);
        return gw_send_error(conn, MHD_HTTP_UNAUTHORIZED, "unauthorized", "a valid session token is required", o);
    }
    turn *t = turn_find(tid, sid);
    if (t == NULL) {
        metrics_request(MR_RESUME, 404);
        return gw_send_error(conn, MHD_HTTP_NOT_FOUND, "turn_not_found",
                             "no such turn for this session (it may have expired)", o);
    }
    const char *last = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Last-Event-ID");
    if (last == NULL) {
        last = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "last_event_id");
    }
    unsigned long last_id = 0;
    if (last != NULL && last[0]) {
        char *end = NULL;
        last_id = strtoul(last, &end, 10);
        if (end == last || *end != '\0') {
            turn_unref(t);
            metrics_request(MR_RESUME, 400);
            return gw_send_error(conn, MHD_HTTP_BAD_REQUEST, "invalid_last_event_id",
                                 "Last-Event-ID must be an event id number", o);
        }
    }
    rq->state = t; /* released when the request completes */
    rq->release = chat_release;
    metrics_request(MR_RESUME, 200);
    return sse_respond(conn, t, turn_offset_after(t, last_id), o);
}
