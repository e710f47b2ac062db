/* test_gateway_botcheck.c: the Siteverify wire format (gateway/siteverify.c:
 * the request body, verdicts from replies, the expected-hostname rule,
 * malformed replies, UUIDs, token plausibility) and the bot-score parser
 * (gateway/bot_score.c). */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "bot_score.h"
#include "siteverify.h"

static sv_verdict parse(const char *body, const char *hosts, sv_reply *r)
{
    return sv_reply_parse(body, strlen(body), hosts, r);
}

Test(siteverify, request_body_has_every_field)
{
    char *b = sv_request_body("sec\"ret", "tok", "203.0.113.7", "0b7c-key");
    cr_assert_not_null(b);
    json_error_t je;
    json_t *j = json_loads(b, 0, &je);
    cr_assert_not_null(j, "%s", b);
    cr_assert_str_eq(json_string_value(json_object_get(j, "secret")), "sec\"ret");
    cr_assert_str_eq(json_string_value(json_object_get(j, "response")), "tok");
    cr_assert_str_eq(json_string_value(json_object_get(j, "remoteip")), "203.0.113.7");
    cr_assert_str_eq(json_string_value(json_object_get(j, "idempotency_key")), "0b7c-key");
    json_decref(j);
    free(b);
}

Test(siteverify, request_body_leaves_out_an_empty_remoteip)
{
    char *b = sv_request_body("s", "t", "", NULL);
    json_error_t je;
    json_t *j = json_loads(b, 0, &je);
    cr_assert_eq(json_object_size(j), 2, "%s", b);
    cr_assert_null(json_object_get(j, "remoteip"));
    cr_assert_null(json_object_get(j, "idempotency_key"));
    json_decref(j);
    free(b);
}

Test(siteverify, success_passes)
{
    sv_reply r;
    cr_assert_eq(parse("{\"success\":true,\"error-codes\":[],\"challenge_ts\":\"2024-01-01T00:00:00.000Z\","
                       "\"hostname\":\"example.com\",\"action\":\"\",\"cdata\":\"\"}",
                       NULL, &r),
                 SV_PASS);
    cr_assert(r.success);
    cr_assert_str_eq(r.hostname, "example.com");
    cr_assert_str_eq(r.codes, "");
}

Test(siteverify, refusals_fail_with_their_codes)
{
    sv_reply r;
    cr_assert_eq(parse("{\"success\":false,\"error-codes\":[\"invalid-input-response\"]}", NULL, &r), SV_FAIL);
    cr_assert_str_eq(r.codes, "invalid-input-response");
    cr_assert_eq(parse("{\"success\":false,\"error-codes\":[\"timeout-or-duplicate\",\"bad-request\"]}", NULL, &r),
                 SV_FAIL);
    cr_assert_str_eq(r.codes, "timeout-or-duplicate,bad-request");
    cr_assert_eq(parse("{\"success\":false}", NULL, &r), SV_FAIL, "no error-codes is still a refusal");
}

Test(siteverify, secret_trouble_is_the_operators)
{
    sv_reply r;
    cr_assert_eq(parse("{\"success\":false,\"error-codes\":[\"invalid-input-secret\"]}", NULL, &r), SV_BAD_SETUP);
    cr_assert_eq(parse("{\"success\":false,\"error-codes\":[\"missing-input-secret\"]}", NULL, &r), SV_BAD_SETUP);
    cr_assert_eq(parse("{\"success\":false,\"error-codes\":[\"internal-error\"]}", NULL, &r), SV_RETRY);
}

Test(siteverify, expected_hostname)
{
    const char *ok = "{\"success\":true,\"error-codes\":[],\"hostname\":\"Chat.Example.org\"}";
    sv_reply r;
    cr_assert_eq(parse(ok, "", &r), SV_PASS, "an empty list accepts any host");
    cr_assert_eq(parse(ok, "www.example.org, chat.example.org", &r), SV_PASS, "listed, other case");
    cr_assert_eq(parse(ok, "example.org", &r), SV_FAIL, "a parent domain is another host");
    cr_assert_str_eq(r.codes, "hostname-mismatch");
    cr_assert_eq(parse(ok, "chat.example.org.evil", &r), SV_FAIL);
    cr_assert_eq(parse("{\"success\":true,\"error-codes\":[]}", "chat.example.org", &r), SV_FAIL,
                 "no hostname when one is expected");
}

Test(siteverify, garbled_replies)
{
    sv_reply r;
    const char *bad[] = {"",
                         "not json",
                         "[]",
                         "{}",
                         "{\"success\":\"true\"}",
                         "{\"success\":1}",
                         "{\"success\":true,\"error-codes\":\"none\"}",
                         "{\"success\":true"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_assert_eq(parse(bad[i], NULL, &r), SV_GARBLED, "%s", bad[i]);
    }
    cr_assert_eq(sv_reply_parse(NULL, 0, NULL, &r), SV_GARBLED);
    char *big = malloc(SV_REPLY_MAX + 2);
    memset(big, ' ', SV_REPLY_MAX + 1);
    memcpy(big, "{\"success\":true}", 16);
    big[SV_REPLY_MAX + 1] = '\0';
    cr_assert_eq(sv_reply_parse(big, SV_REPLY_MAX + 1, NULL, &r), SV_GARBLED, "over the cap");
    free(big);
}

Test(siteverify, many_codes_are_cut_not_overflowed)
{
    char body[4096] = "{\"success\":false,\"error-codes\":[";
    for (int i = 0; i < 60; i++) {
        strcat(body, i ? ",\"invalid-input-response\"" : "\"invalid-input-response\"");
    }
    strcat(body, "]}");
    sv_reply r;
    cr_assert_eq(parse(body, NULL, &r), SV_FAIL);
    cr_assert_lt(strlen(r.codes), SV_CODES_MAX);
    cr_assert(strncmp(r.codes, "invalid-input-response,", 23) == 0);
    cr_assert_neq(r.codes[strlen(r.codes) - 1], ',', "no dangling separator");
}

Test(siteverify, uuid4)
{
    char a[SV_UUID_LEN + 1], b[SV_UUID_LEN + 1];
    cr_assert_eq(sv_uuid4(a), 0);
    cr_assert_eq(sv_uuid4(b), 0);
    cr_assert_eq(strlen(a), SV_UUID_LEN);
    cr_assert_str_neq(a, b);
    for (int i = 0; i < SV_UUID_LEN; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            cr_assert_eq(a[i], '-', "%s", a);
        } else {
            cr_assert(strchr("0123456789abcdef", a[i]) != NULL, "%s", a);
        }
    }
    cr_assert_eq(a[14], '4', "version 4: %s", a);
    cr_assert(strchr("89ab", a[19]) != NULL, "variant: %s", a);
}

Test(siteverify, token_plausible)
{
    cr_assert(sv_token_plausible("0.abcDEF-_"));
    cr_assert_not(sv_token_plausible(NULL));
    cr_assert_not(sv_token_plausible(""));
    cr_assert_not(sv_token_plausible("a b"));
    cr_assert_not(sv_token_plausible("a\nb"));
    cr_assert_not(sv_token_plausible("caf\xc3\xa9"));
    char t[SV_TOKEN_MAX + 2];
    memset(t, 'a', sizeof(t));
    t[SV_TOKEN_MAX] = '\0';
    cr_assert(sv_token_plausible(t), "exactly 2048");
    t[SV_TOKEN_MAX] = 'a';
    t[SV_TOKEN_MAX + 1] = '\0';
    cr_assert_not(sv_token_plausible(t), "2049");
}

Test(bot_score, parse)
{
    cr_assert_eq(bot_score_parse("1"), 1);
    cr_assert_eq(bot_score_parse("99"), 99);
    cr_assert_eq(bot_score_parse(" 29 "), 29);
    cr_assert_eq(bot_score_parse("07"), 7);
    const char *bad[] = {"", " ", "0", "00", "100", "999", "-5", "+5", "5.0", "5x", "x5", "1 2", "0x10", "٥"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_assert_eq(bot_score_parse(bad[i]), -1, "\"%s\"", bad[i]);
    }
    cr_assert_eq(bot_score_parse(NULL), -1);
}
