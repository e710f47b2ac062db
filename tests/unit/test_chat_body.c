/* test_chat_body.c: the checks of POST /v1/chat's body (gateway/chat_body.c)
 * and the Authorization bearer (auth_bearer_value, gateway/auth.c), each
 * refusal with its status, code and sentence. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "auth.h"
#include "chat_body.h"
#include "token.h"
#include "turn.h"

#define SECRET "unit-test-secret-0123456789abcdefghij"
#define SID "s_AAAAAAAAAAAAAAAAAAAAAA"
#define SID2 "s_Zm9vYmFyYmF6cXV4LV9fMQ"

static char tok[TOKEN_LEN + 1], tok2[TOKEN_LEN + 1];

static void setup(void)
{
    char err[256];
    cr_assert_eq(auth_init(SECRET, "ip-secret", NULL, NULL, 0, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(token_sign((const uint8_t *)SECRET, strlen(SECRET), SID, tok), 0);
    cr_assert_eq(token_sign((const uint8_t *)SECRET, strlen(SECRET), SID2, tok2), 0);
}

TestSuite(chat_body, .init = setup);

static void refused(const char *body, const char *bearer, unsigned status, const char *code, const char *words)
{
    chat_body b;
    chat_refusal why;
    cr_assert_eq(chat_body_parse(body, body ? strlen(body) : 0, bearer, &b, &why), -1, "accepted %s", body);
    cr_expect_eq(why.status, status, "%s: status %u", body, why.status);
    cr_expect_str_eq(why.code, code, "%s", body);
    cr_expect(strstr(why.message, words) != NULL, "%s: \"%s\"", body, why.message);
    cr_expect_null(b.json);
}

Test(chat_body, bearer_token_and_message)
{
    chat_body b;
    chat_refusal why;
    const char *body = "{\"message\":\"  How much is Growth?\"}";
    cr_assert_eq(chat_body_parse(body, strlen(body), tok, &b, &why), 0, "%s", why.message);
    cr_expect_str_eq(b.sid, SID);
    cr_expect_eq(b.token, tok);
    cr_expect_str_eq(b.message, "  How much is Growth?");
    cr_expect_eq(b.message_len, strlen("  How much is Growth?"));
    chat_body_free(&b);
    cr_expect_null(b.json);
}

Test(chat_body, body_token_and_session_id)
{
    char body[256];
    snprintf(body, sizeof(body), "{\"token\":\"%s\",\"session_id\":\"%s\",\"message\":\"hi\"}", tok2, SID2);
    chat_body b;
    chat_refusal why;
    cr_assert_eq(chat_body_parse(body, strlen(body), NULL, &b, &why), 0, "%s", why.message);
    cr_expect_str_eq(b.sid, SID2);
    cr_expect_str_eq(b.token, tok2);
    chat_body_free(&b);
}

Test(chat_body, refusals)
{
    char body[256];
    refused("{\"message\":\"\xff\"}", tok, 400, "invalid_utf8", "not valid UTF-8");
    refused(NULL, tok, 400, "invalid_json", "not a JSON object");
    refused("[1]", tok, 400, "invalid_json", "not a JSON object");
    refused("{\"message\":\"hi\"}", NULL, 401, "unauthorized", "token is required");
    refused("{\"message\":\"hi\"}", "s_AAAAAAAAAAAAAAAAAAAAAA.nope", 401, "unauthorized", "not valid");
    snprintf(body, sizeof(body), "{\"session_id\":\"%s\",\"message\":\"hi\"}", SID2);
    refused(body, tok, 401, "unauthorized", "does not belong");
    refused("{\"message\":3}", tok, 400, "invalid_message", "must be a string");
    /* jansson refuses \u0000 unless asked (JSON_ALLOW_NUL), so the NUL check
     * behind it is a second line only. */
    refused("{\"message\":\"a\\u0000b\"}", tok, 400, "invalid_json", "not a JSON object");
    refused("{\"message\":\" \\t\\r\\n\"}", tok, 400, "empty_message", "empty");
}

Test(chat_body, message_length_in_characters)
{
    /* TURN_MESSAGE_MAX_CHARS two-byte characters pass; one more does not. */
    size_t n = TURN_MESSAGE_MAX_CHARS;
    char *body = malloc(2 * n + 64);
    cr_assert_not_null(body);
    for (int extra = 0; extra < 2; extra++) {
        char *p = body + sprintf(body, "{\"message\":\"");
        for (size_t i = 0; i < n + (size_t)extra; i++) {
            *p++ = '\xc3';
            *p++ = '\xa4';
        }
        strcpy(p, "\"}");
        chat_body b;
        chat_refusal why;
        int rc = chat_body_parse(body, strlen(body), tok, &b, &why);
        if (extra == 0) {
            cr_expect_eq(rc, 0, "%s", why.message);
            chat_body_free(&b);
        } else {
            cr_expect_eq(rc, -1);
            cr_expect_str_eq(why.code, "message_too_long");
            cr_expect(strstr(why.message, "4001 characters") != NULL, "%s", why.message);
        }
    }
    free(body);
}

Test(chat_body, bearer_header)
{
    const char *h = "Bearer abc";
    cr_expect_eq(auth_bearer_value(h), h + 7);
    cr_expect_str_eq(auth_bearer_value("bearer    abc"), "abc");
    cr_expect_str_eq(auth_bearer_value("BEARER x y"), "x y");
    cr_expect_null(auth_bearer_value(NULL));
    cr_expect_null(auth_bearer_value("Bearer"));
    cr_expect_null(auth_bearer_value("Bearer    "));
    cr_expect_null(auth_bearer_value("Basic dXNlcjpwYXNz"));
    cr_expect_null(auth_bearer_value("Bearer\tabc"));
}
