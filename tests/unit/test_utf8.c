/*
 * test_utf8.c - unit tests for lib/utf8.c.
 *
 * A table of named byte strings, each with the exact sanitised output
 * (Unicode "maximal subpart" replacement) and whether it is valid; then
 * properties checked over every prefix length and over pseudo-random bytes.
 */
#include <criterion/criterion.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "utf8.h"

#define R "\xEF\xBF\xBD" /* U+FFFD */

typedef struct {
    const char *label;
    const char *in;
    size_t len;
    const char *out; /* sanitised */
    int valid;
    size_t chars; /* utf8_count_chars(in), for valid inputs */
} seq_case;

#define S(lit) lit, sizeof(lit) - 1

static const seq_case cases[] = {
    {"empty", S(""), "", 1, 0},
    {"ascii", S("hello"), "hello", 1, 5},
    {"2-byte e-acute", S("caf\xC3\xA9"), "caf\xC3\xA9", 1, 4},
    {"3-byte euro", S("\xE2\x82\xAC"), "\xE2\x82\xAC", 1, 1},
    {"4-byte emoji", S("\xF0\x9F\x98\x80!"), "\xF0\x9F\x98\x80!", 1, 2},
    {"largest U+10FFFF", S("\xF4\x8F\xBF\xBF"), "\xF4\x8F\xBF\xBF", 1, 1},
    {"smallest 3-byte U+0800", S("\xE0\xA0\x80"), "\xE0\xA0\x80", 1, 1},
    {"last before surrogates U+D7FF", S("\xED\x9F\xBF"), "\xED\x9F\xBF", 1, 1},
    {"first after surrogates U+E000", S("\xEE\x80\x80"), "\xEE\x80\x80", 1, 1},
    {"overlong 2-byte slash", S("\xC0\xAF"), R R, 0, 0},
    {"overlong 2-byte C1", S("\xC1\xBF"), R R, 0, 0},
    {"overlong 3-byte", S("\xE0\x80\xAF"), R R R, 0, 0},
    {"overlong 4-byte", S("\xF0\x80\x80\xAF"), R R R R, 0, 0},
    {"surrogate U+D800", S("\xED\xA0\x80"), R R R, 0, 0},
    {"surrogate U+DFFF", S("\xED\xBF\xBF"), R R R, 0, 0},
    {"above U+10FFFF", S("\xF4\x90\x80\x80"), R R R R, 0, 0},
    {"lead F5", S("\xF5\x80\x80\x80"), R R R R, 0, 0},
    {"byte FF", S("a\xFFz"), "a" R "z", 0, 0},
    {"byte FE", S("\xFE"), R, 0, 0},
    {"lone continuation", S("x\x80y"), "x" R "y", 0, 0},
    {"two continuations", S("\x80\xBF"), R R, 0, 0},
    {"truncated 2-byte at end", S("ab\xC3"), "ab" R, 0, 0},
    {"truncated 3-byte at end", S("ab\xE2\x82"), "ab" R, 0, 0},
    {"truncated 4-byte at end", S("\xF0\x9F\x98"), R, 0, 0},
    {"truncated 3-byte mid-string", S("\xE2\x82x"), R "x", 0, 0},
    {"truncated 4-byte then valid", S("\xF0\x9F\xC3\xA9"), R "\xC3\xA9", 0, 0},
    {"NUL dropped", S("a\0b"), "ab", 0, 0},
    {"only NULs", S("\0\0"), "", 0, 0},
    {"valid around invalid", S("\xC3\xA9\xFF\xE2\x82\xAC"), "\xC3\xA9" R "\xE2\x82\xAC", 0, 0},
};

Test(utf8, sanitize_and_valid_cases)
{
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const seq_case *tc = &cases[i];
        char *out = (char *)&out; /* must be replaced */
        size_t out_len = 12345;

        cr_expect_eq(utf8_valid(tc->in, tc->len), tc->valid, "[%s] utf8_valid", tc->label);
        cr_assert_eq(utf8_sanitize(tc->in, tc->len, &out, &out_len), 0, "[%s] sanitize", tc->label);
        cr_expect_str_eq(out, tc->out, "[%s] sanitized", tc->label);
        cr_expect_eq(out_len, strlen(tc->out), "[%s] out_len", tc->label);
        cr_expect(utf8_valid(out, out_len), "[%s] output valid", tc->label);
        if (tc->valid)
            cr_expect_eq(utf8_count_chars(tc->in, tc->len), tc->chars, "[%s] chars", tc->label);
        free(out);
    }
}

Test(utf8, sanitize_out_len_optional)
{
    char *out = NULL;

    cr_assert_eq(utf8_sanitize("ok\xFF", 3, &out, NULL), 0);
    cr_expect_str_eq(out, "ok" R);
    free(out);
}

Test(utf8, decode_reports_subpart_length)
{
    static const struct {
        const char *label;
        const char *in;
        size_t len;
        size_t used;
        uint32_t cp;
    } dc[] = {
        {"ascii", S("A"), 1, 'A'},
        {"euro", S("\xE2\x82\xAC"), 3, 0x20AC},
        {"emoji", S("\xF0\x9F\x98\x80"), 4, 0x1F600},
        {"bad lead", S("\xFF"), 1, UTF8_BAD},
        {"overlong E0 stops at lead", S("\xE0\x80\x80"), 1, UTF8_BAD},
        {"truncated E2 82", S("\xE2\x82"), 2, UTF8_BAD},
        {"E2 82 then ascii",
         S("\xE2\x82"
           "A"),
         2, UTF8_BAD},
    };
    uint32_t cp;

    for (size_t i = 0; i < sizeof dc / sizeof dc[0]; i++) {
        cr_expect_eq(utf8_decode(dc[i].in, dc[i].len, &cp), dc[i].used, "[%s] used", dc[i].label);
        cr_expect_eq(cp, dc[i].cp, "[%s] cp", dc[i].label);
    }
    cr_expect_eq(utf8_decode("", 0, &cp), 0, "empty input");
}

Test(utf8, encode_round_trips_and_replaces)
{
    static const uint32_t cps[] = {0x1, 0x7F, 0x80, 0x7FF, 0x800, 0xD7FF, 0xE000, 0xFFFD, 0xFFFF, 0x10000, 0x10FFFF};
    char b[4];
    uint32_t back;

    for (size_t i = 0; i < sizeof cps / sizeof cps[0]; i++) {
        size_t n = utf8_encode(cps[i], b);
        cr_expect_eq(utf8_decode(b, n, &back), n, "U+%04X length", cps[i]);
        cr_expect_eq(back, cps[i], "U+%04X round trip", cps[i]);
    }
    cr_expect_eq(utf8_encode(0xD800, b), 3, "surrogate encoded as U+FFFD");
    cr_expect_eq(memcmp(b, R, 3), 0);
    cr_expect_eq(utf8_encode(0x110000, b), 3, "beyond U+10FFFF encoded as U+FFFD");
    cr_expect_eq(memcmp(b, R, 3), 0);
}

Test(utf8, truncate_cases)
{
    static const struct {
        const char *label;
        const char *s;
        size_t len;
        size_t max;
        size_t want;
    } tc[] = {
        {"fits", S("abc"), 10, 3},
        {"exact", S("abc"), 3, 3},
        {"ascii cut", S("abcdef"), 4, 4},
        {"zero", S("\xC3\xA9"), 0, 0},
        {"inside 2-byte", S("a\xC3\xA9"), 2, 1},
        {"after 2-byte", S("a\xC3\xA9z"), 3, 3},
        {"inside 3-byte at 1", S("\xE2\x82\xAC"), 1, 0},
        {"inside 3-byte at 2", S("\xE2\x82\xAC"), 2, 0},
        {"inside 4-byte at 3", S("x\xF0\x9F\x98\x80"), 3, 1},
        {"stray continuation is a unit", S("ab\x80\x80\x80\x80z"), 5, 5},
    };

    for (size_t i = 0; i < sizeof tc / sizeof tc[0]; i++)
        cr_expect_eq(utf8_truncate(tc[i].s, tc[i].len, tc[i].max), tc[i].want, "[%s]", tc[i].label);
}

Test(utf8, truncate_never_splits_a_sequence)
{
    static const char s[] = "a\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80z\xD0\x96\xE4\xB8\xAD";
    size_t len = sizeof s - 1;

    for (size_t max = 0; max <= len + 2; max++) {
        size_t k = utf8_truncate(s, len, max);
        cr_expect_leq(k, max < len ? max : len, "max %zu", max);
        cr_expect(utf8_valid(s, k), "prefix of %zu bytes (max %zu) is valid", k, max);
        cr_expect_geq(k + 3, max < len ? max : len, "gives back at most 3 bytes (max %zu)", max);
    }
}

/* Deterministic pseudo-random bytes (LCG), biased towards UTF-8 lead and
 * continuation bytes so that many near-valid sequences occur. */
static unsigned char next_byte(uint32_t *state)
{
    static const unsigned char picks[] = {'a',  ' ',  0x80, 0xBF, 0xC2, 0xC3, 0xE0, 0xE2,
                                          0xED, 0xF0, 0xF4, 0xF5, 0xFF, 0x00, 0xA0, 0x9F};
    *state = *state * 1103515245u + 12345u;
    return picks[(*state >> 16) % sizeof picks];
}

Test(utf8, sanitize_output_always_valid)
{
    uint32_t state = 42;
    char in[64];

    for (int round = 0; round < 20000; round++) {
        size_t len = (size_t)(round % 64);
        char *out, *again;
        size_t out_len, again_len;

        for (size_t i = 0; i < len; i++)
            in[i] = (char)next_byte(&state);
        cr_assert_eq(utf8_sanitize(in, len, &out, &out_len), 0);
        cr_assert(utf8_valid(out, out_len), "round %d: output not valid", round);
        cr_assert_eq(strlen(out), out_len, "round %d: NUL inside output", round);
        /* Sanitising valid text changes nothing. */
        cr_assert_eq(utf8_sanitize(out, out_len, &again, &again_len), 0);
        cr_assert_eq(again_len, out_len);
        cr_assert_eq(memcmp(again, out, out_len), 0, "round %d: not idempotent", round);
        free(again);
        free(out);
    }
}
