/* test_token.c: session ids and HMAC tokens (lib/token.c), and the base64url they are written in (lib/encode.c). */
#include <criterion/criterion.h>
#include <string.h>

#include "auth.h"
#include "encode.h"
#include "token.h"

#define KEY "unit-test-secret-0123456789abcdefghij"
#define KEYLEN (sizeof(KEY) - 1)
#define SID "s_AAAAAAAAAAAAAAAAAAAAAA"
/* base64url(HMAC-SHA256(KEY, SID)), computed with openssl dgst -hmac. */
#define SID_MAC "meHynhluM3y_-UFZZR8yxBoXb-KQzshFCCIoHeTeqPY"

static const struct {
    const char *in;
    size_t n;
    const char *out;
} b64_cases[] = {
    {"", 0, ""},
    {"f", 1, "Zg"},
    {"fo", 2, "Zm8"},
    {"foo", 3, "Zm9v"},
    {"foob", 4, "Zm9vYg"},
    {"\xfb\xff", 2, "-_8"},
    {"\xff\xff\xff", 3, "____"},
};

Test(session_token, base64url_without_padding)
{
    for (size_t i = 0; i < sizeof(b64_cases) / sizeof(b64_cases[0]); i++) {
        char out[32];
        size_t n = enc_b64url((const uint8_t *)b64_cases[i].in, b64_cases[i].n, out, sizeof(out));
        cr_expect_str_eq(out, b64_cases[i].out, "case %zu", i);
        cr_expect_eq(n, strlen(b64_cases[i].out));
    }
}

Test(session_token, base64url_refuses_a_short_buffer)
{
    char out[4];
    cr_expect_eq(enc_b64url((const uint8_t *)"foo", 3, out, sizeof(out)), 0); /* needs 5 */
}

Test(session_token, new_ids_are_valid_and_distinct)
{
    char prev[TOKEN_ID_LEN + 1] = "";
    for (int i = 0; i < 1000; i++) {
        char id[TOKEN_ID_LEN + 1];
        cr_assert_eq(token_new_id(id), 0);
        cr_expect_eq(strlen(id), 24);
        cr_expect(token_id_valid(id), "%s", id);
        cr_expect_str_neq(id, prev);
        memcpy(prev, id, sizeof(id));
    }
}

static const struct {
    const char *name, *id;
    int valid;
} id_cases[] = {
    {"canonical", SID, 1},
    {"every alphabet class", "s_azAZ09-_azAZ09-_azAZ09", 1},
    {"too short", "s_AAAAAAAAAAAAAAAAAAAAA", 0},
    {"too long", "s_AAAAAAAAAAAAAAAAAAAAAAA", 0},
    {"no prefix", "AAAAAAAAAAAAAAAAAAAAAAAA", 0},
    {"other prefix", "t_AAAAAAAAAAAAAAAAAAAAAA", 0},
    {"plus (plain base64)", "s_AAAAAAAAAAAAAAAAAAAAA+", 0},
    {"padding", "s_AAAAAAAAAAAAAAAAAAAA==", 0},
    {"space", "s_AAAAAAAAAAA AAAAAAAAAA", 0},
    {"empty", "", 0},
};

Test(session_token, id_format)
{
    for (size_t i = 0; i < sizeof(id_cases) / sizeof(id_cases[0]); i++) {
        cr_expect_eq(token_id_valid(id_cases[i].id), id_cases[i].valid, "%s", id_cases[i].name);
    }
    cr_expect_eq(token_id_valid(NULL), 0);
}

Test(session_token, sign_is_id_dot_hmac_sha256_base64url)
{
    char tok[TOKEN_LEN + 1];
    cr_assert_eq(token_sign((const uint8_t *)KEY, KEYLEN, SID, tok), 0);
    cr_expect_str_eq(tok, SID "." SID_MAC);
    cr_expect_eq(strlen(tok), TOKEN_LEN);
    cr_expect_eq(strlen(SID_MAC), 43);
}

Test(session_token, sign_refuses_a_malformed_id)
{
    char tok[TOKEN_LEN + 1];
    cr_expect_eq(token_sign((const uint8_t *)KEY, KEYLEN, "s_short", tok), -1);
}

Test(session_token, verify_accepts_its_own_tokens)
{
    for (int i = 0; i < 100; i++) {
        char id[TOKEN_ID_LEN + 1], tok[TOKEN_LEN + 1];
        cr_assert_eq(token_new_id(id), 0);
        cr_assert_eq(token_sign((const uint8_t *)KEY, KEYLEN, id, tok), 0);
        cr_expect(token_verify((const uint8_t *)KEY, KEYLEN, id, tok));
    }
    cr_expect(token_verify((const uint8_t *)KEY, KEYLEN, SID, SID "." SID_MAC));
}

Test(session_token, verify_rejects_any_changed_character)
{
    char tok[] = SID "." SID_MAC;
    for (size_t i = 0; i < sizeof(tok) - 1; i++) {
        char saved = tok[i];
        tok[i] = saved == 'A' ? 'B' : 'A';
        cr_expect_not(token_verify((const uint8_t *)KEY, KEYLEN, SID, tok), "position %zu", i);
        tok[i] = saved;
    }
}

Test(session_token, verify_rejects_forgeries)
{
    const char *good = SID "." SID_MAC;
    const uint8_t *k = (const uint8_t *)KEY;
    cr_expect_not(token_verify((const uint8_t *)"another-secret-0123456789abcdefghij", 35, SID, good), "another key");
    cr_expect_not(token_verify(k, KEYLEN, "s_BAAAAAAAAAAAAAAAAAAAAA", good), "another session");
    cr_expect_not(token_verify(k, KEYLEN, SID, SID "." SID_MAC "A"), "longer");
    cr_expect_not(token_verify(k, KEYLEN, SID,
                               SID "."
                                   "meHynhluM3y_-UFZZR8yxBoXb-KQzshFCCIoHeTeqP"),
                  "shorter");
    cr_expect_not(token_verify(k, KEYLEN, SID, SID ":" SID_MAC), "separator");
    cr_expect_not(token_verify(k, KEYLEN, SID, SID), "id alone");
    cr_expect_not(token_verify(k, KEYLEN, SID, ""), "empty");
    cr_expect_not(token_verify(k, KEYLEN, SID, NULL), "NULL");
    cr_expect_not(token_verify(k, KEYLEN, "s_short", good), "malformed id");
}

/* The gateway checks with SESSION_SECRET what svc-session minted with it. */
Test(session_token, a_token_minted_by_svc_session_verifies_in_the_gateway)
{
    char err[256];
    cr_assert_eq(auth_init(KEY, "", "", NULL, 0, err, sizeof(err)), 0, "%s", err);
    for (int i = 0; i < 100; i++) {
        char id[TOKEN_ID_LEN + 1], tok[TOKEN_LEN + 1], sid[AUTH_SESSION_ID_LEN + 1];
        cr_assert_eq(token_new_id(id), 0);
        cr_assert_eq(token_sign((const uint8_t *)KEY, KEYLEN, id, tok), 0);
        cr_expect(auth_valid_session_id(id), "%s", id);
        cr_assert(auth_check_token(tok, sid), "%s", tok);
        cr_expect_str_eq(sid, id);
    }
    char sid[AUTH_SESSION_ID_LEN + 1];
    cr_expect(auth_check_token(SID "." SID_MAC, sid));
    cr_expect_not(auth_check_token(SID "."
                                       "meHynhluM3y_-UFZZR8yxBoXb-KQzshFCCIoHeTeqPz",
                                   sid),
                  "changed mac");
    cr_expect_not(auth_check_token(SID, sid), "id alone");
    cr_expect_not(auth_check_token(NULL, sid), "NULL");
}

Test(encode, hex_is_lowercase_and_refuses_a_short_buffer)
{
    char out[9];
    cr_expect_eq(enc_hex("\x00\x7f\xab\xff", 4, out, sizeof(out)), 8);
    cr_expect_str_eq(out, "007fabff");
    cr_expect_eq(enc_hex("\x00\x7f\xab\xff", 4, out, 8), 0);
    cr_expect_str_eq(out, "");
}
