/* fuzz_chat_body.c: the body of POST /v1/chat (gateway/chat_body.c).
 *
 * Input: the Authorization header value, a newline, the body. An empty
 * first line means no Authorization header. Tokens are signed with
 * FUZZ_SECRET (the seeds in corpus/chat_body carry such tokens).
 * Checked: on success the message is what chat_body.h promises (a NUL-free,
 * non-blank string of at most TURN_MESSAGE_MAX_CHARS characters) and the
 * session id is the token's. */
#include <string.h>

#include "auth.h"
#include "chat_body.h"
#include "fuzz.h"
#include "token.h"
#include "turn.h"
#include "utf8.h"

#define FUZZ_SECRET "fuzz-session-secret-0123456789abcdef"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    char err[256];
    if (auth_init(FUZZ_SECRET, "fuzz-ip-secret", NULL, NULL, 0, err, sizeof(err)) != 0) {
        fprintf(stderr, "auth_init: %s\n", err);
        abort();
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *p = data;
    size_t n = size, hlen;
    const uint8_t *h = fuzz_line(&p, &n, &hlen);
    char *header = hlen > 0 ? fuzz_cstr(h, hlen) : NULL;
    /* The body as MHD hands it: its own buffer of exactly body_len bytes. */
    char *body = n > 0 ? fuzz_cstr(p, n) : NULL;

    chat_body b;
    chat_refusal why;
    if (chat_body_parse(body, n, auth_bearer_value(header), &b, &why) == 0) {
        FUZZ_CHECK(b.json != NULL && b.message != NULL && b.token != NULL, "incomplete chat_body");
        FUZZ_CHECK(memchr(b.message, '\0', b.message_len) == NULL, "message with a NUL");
        FUZZ_CHECK(utf8_valid(b.message, b.message_len), "message not UTF-8");
        FUZZ_CHECK(utf8_count_chars(b.message, b.message_len) <= TURN_MESSAGE_MAX_CHARS, "message too long");
        FUZZ_CHECK(b.message[strspn(b.message, " \t\r\n")] != '\0', "blank message");
        FUZZ_CHECK(auth_valid_session_id(b.sid), "bad session id %s", b.sid);
        FUZZ_CHECK(token_verify((const uint8_t *)FUZZ_SECRET, strlen(FUZZ_SECRET), b.sid, b.token),
                   "token does not verify");
        chat_body_free(&b);
    } else {
        FUZZ_CHECK(why.status == 400 || why.status == 401, "status %u", why.status);
        FUZZ_CHECK(why.code != NULL && why.message[0] != '\0', "refusal without words");
        FUZZ_CHECK(b.json == NULL, "refusal kept its JSON");
    }
    free(body);
    free(header);
    return 0;
}
