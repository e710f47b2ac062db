/* chat_body.h: the body of POST /v1/chat, checked without the network, so
 * the gateway and tests/fuzz/fuzz_chat_body.c run the same code: valid
 * UTF-8, a JSON object, a session token (the Authorization bearer's, else
 * the body's "token") that verifies, a "session_id" (when given) that is the
 * token's, and a "message" that is a string without NUL, not blank and at
 * most TURN_MESSAGE_MAX_CHARS characters.
 *
 * Owns: a chat_body owns its parsed JSON (message and a body token point
 * into it) until chat_body_free. Pure apart from the token check's
 * read-only secret: any thread after auth_init. */
#ifndef GW_CHAT_BODY_H
#define GW_CHAT_BODY_H

#include <jansson.h>
#include <stddef.h>

#include "auth.h"

#define CHAT_REFUSAL_MAX 128 /* the refusal's sentence */

typedef struct chat_body {
    json_t *json;        /* owned */
    const char *token;   /* the bearer (the caller's) or the body's (in json) */
    const char *message; /* in json; message_len bytes, NUL-free */
    size_t message_len;
    char sid[AUTH_SESSION_ID_LEN + 1]; /* the token's session id */
} chat_body;

typedef struct chat_refusal {
    unsigned status;  /* the HTTP status: 400 or 401 */
    const char *code; /* the JSON error code ("invalid_json", ...) */
    char message[CHAT_REFUSAL_MAX];
} chat_refusal;

/* body[0..len) (body may be NULL when len is 0); bearer: the token of the
 * Authorization header, or NULL. 0 with *out filled (chat_body_free), or -1
 * with *why filled and *out zeroed. */
int chat_body_parse(const char *body, size_t len, const char *bearer, chat_body *out, chat_refusal *why);
void chat_body_free(chat_body *b);

#endif
