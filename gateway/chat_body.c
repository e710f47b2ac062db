/* chat_body.c: see chat_body.h. */
#include "chat_body.h"

#include <stdio.h>
#include <string.h>

#include "turn.h"
#include "utf8.h"

static int chat_refuse(chat_body *out, chat_refusal *why, unsigned status, const char *code, const char *message)
{
    json_decref(out->json);
    memset(out, 0, sizeof(*out));
    why->status = status;
    why->code = code;
    snprintf(why->message, sizeof(why->message), "%s", message);
    return -1;
}

int chat_body_parse(const char *body, size_t len, const char *bearer, chat_body *out, chat_refusal *why)
{
    memset(out, 0, sizeof(*out));
    if (!utf8_valid(body ? body : "", len)) {
        return chat_refuse(out, why, 400, "invalid_utf8", "the request body is not valid UTF-8");
    }
    json_error_t je;
    out->json = json_loadb(body ? body : "", len, 0, &je);
    if (!json_is_object(out->json)) {
        return chat_refuse(out, why, 400, "invalid_json", "the request body is not a JSON object");
    }
    const char *token = bearer;
    if (token == NULL) {
        token = json_string_value(json_object_get(out->json, "token"));
    }
    if (token == NULL) {
        return chat_refuse(out, why, 401, "unauthorized",
                           "a session token is required (Authorization: Bearer <token>)");
    }
    if (!auth_check_token(token, out->sid)) {
        return chat_refuse(out, why, 401, "unauthorized", "the session token is not valid");
    }
    const char *claimed = json_string_value(json_object_get(out->json, "session_id"));
    if (claimed != NULL && strcmp(claimed, out->sid) != 0) {
        return chat_refuse(out, why, 401, "unauthorized", "the token does not belong to this session");
    }
    json_t *mj = json_object_get(out->json, "message");
    const char *msg = json_string_value(mj);
    if (msg == NULL) {
        return chat_refuse(out, why, 400, "invalid_message", "\"message\" must be a string");
    }
    size_t mlen = json_string_length(mj);
    if (memchr(msg, '\0', mlen) != NULL) {
        return chat_refuse(out, why, 400, "invalid_message", "the message contains a NUL character");
    }
    size_t i = 0;
    while (i < mlen && (msg[i] == ' ' || msg[i] == '\t' || msg[i] == '\n' || msg[i] == '\r')) {
        i++;
    }
    if (i == mlen) {
        return chat_refuse(out, why, 400, "empty_message", "the message is empty");
    }
    size_t chars = utf8_count_chars(msg, mlen);
    if (chars > TURN_MESSAGE_MAX_CHARS) {
        char m[CHAT_REFUSAL_MAX];
        snprintf(m, sizeof(m), "the message has %zu characters; the limit is %d", chars, TURN_MESSAGE_MAX_CHARS);
        return chat_refuse(out, why, 400, "message_too_long", m);
    }
    out->token = token;
    out->message = msg;
    out->message_len = mlen;
    return 0;
}

void chat_body_free(chat_body *b)
{
    if (b != NULL) {
        json_decref(b->json);
        memset(b, 0, sizeof(*b));
    }
}
