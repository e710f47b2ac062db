/* chat.c: see chat.h. */
#include "chat.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth.h"
#include "bot_score.h"
#include "chat_body.h"
#include "metrics.h"
#include "respond.h"
#include "sse.h"
#include "throttle.h"
#include "turn.h"

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
    chat_body b;
    chat_refusal why;
    if (chat_body_parse(rq->body, rq->body_len, auth_bearer(conn), &b, &why) != 0) {
        metrics_request(MR_CHAT, why.status);
        return gw_send_error(conn, why.status, why.code, why.message, o);
    }
    char iph[AUTH_IP_HASH_LEN + 1];
    auth_client_hash(&client, iph);
    unsigned st = 0;
    char err[256];
    turn *t = turn_start(conn, b.sid, b.token, b.message, iph, &st, err, sizeof(err));
    chat_body_free(&b);
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
