/* offline_lead.c: the contact rules of the offline provider, part one: an
 * email address (also "tom (at) acme [dot] io") and a phone number found in
 * a visitor's message, the first or, for a correction, the last one not
 * taken back ("not a@b.c"); and the text helpers the lead rules share.
 * Names and companies are offline_names.c's; checking and normalising the
 * values is lib/lead_slots.c's. */
#include "offline.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "offline_int.h"

#define OFFL_DEOBF_MAX 2048 /* bytes of a message we rewrite "(at)" in */

/* ================================================================ text */

void offl_copy(char *out, size_t outlen, const char *s, size_t n)
{
    if (outlen == 0) {
        return;
    }
    if (n >= outlen) {
        n = outlen - 1;
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80) {
            n--; /* do not cut a UTF-8 sequence */
        }
    }
    memcpy(out, s, n);
    out[n] = '\0';
}

const char *offl_find_phrase(const char *hay, const char *phrase, int whole_word)
{
    size_t n = strlen(phrase);
    for (const char *p = hay; *p; p++) {
        if (p > hay && offl_word_byte((unsigned char)p[-1]) && offl_word_byte((unsigned char)phrase[0])) {
            continue;
        }
        if (strncasecmp(p, phrase, n) != 0) {
            continue;
        }
        if (whole_word && offl_word_byte((unsigned char)p[n]) && offl_word_byte((unsigned char)phrase[n - 1])) {
            continue;
        }
        return p;
    }
    return NULL;
}

/* 1 when the value at p is what the visitor takes back ("not a@b.c",
 * "nicht 0151 ...", "instead of ..."). */
static int offl_negated(const char *msg, const char *p)
{
    static const char *const neg[] = {"not ", "nicht ", "instead of ", "statt ", "anstatt ", "not: "};
    for (size_t i = 0; i < sizeof(neg) / sizeof(neg[0]); i++) {
        size_t k = strlen(neg[i]);
        if ((size_t)(p - msg) >= k && strncasecmp(p - k, neg[i], k) == 0) {
            return 1;
        }
    }
    return 0;
}

/* ================================================================ email */

static int offl_local_char(unsigned char c)
{
    return isalnum(c) || strchr("._%+-", c) != NULL;
}
static int offl_domain_char(unsigned char c)
{
    return isalnum(c) || c == '.' || c == '-';
}

/* The first address at or after from; *end is where it ends. */
static int offl_email_from(const char *msg, const char *from, char *out, size_t outlen, const char **end)
{
    for (const char *at = strchr(from, '@'); at != NULL; at = strchr(at + 1, '@')) {
        const char *l = at;
        while (l > msg && offl_local_char((unsigned char)l[-1])) {
            l--;
        }
        while (l < at && *l == '.') {
            l++;
        }
        const char *r = at + 1;
        while (offl_domain_char((unsigned char)*r)) {
            r++;
        }
        while (r > at + 1 && (r[-1] == '.' || r[-1] == '-')) {
            r--;
        }
        const char *dot = NULL;
        for (const char *p = at + 1; p < r; p++) {
            if (*p == '.') {
                dot = p;
            }
        }
        if (l == at || dot == NULL || dot == at + 1 || r - dot < 3) {
            continue;
        }
        int tld_alpha = 1;
        for (const char *p = dot + 1; p < r; p++) {
            tld_alpha &= isalpha((unsigned char)*p) != 0;
        }
        if (!tld_alpha) {
            continue;
        }
        offl_copy(out, outlen, l, (size_t)(r - l));
        *end = r;
        return 1;
    }
    return 0;
}

/* "tom (at) acme [dot] io" -> "tom@acme.io" into buf; 0 when msg has no
 * such spelling. */
static int offl_deobfuscate(const char *msg, char *buf, size_t buflen)
{
    static const struct {
        const char *from;
        char to;
    } sp[] = {{" (at) ", '@'},  {" [at] ", '@'}, {"(at)", '@'},  {"[at]", '@'},   {" (dot) ", '.'},
              {" [dot] ", '.'}, {"(dot)", '.'},  {"[dot]", '.'}, {" (ät) ", '@'}, {" (punkt) ", '.'}};
    if (strlen(msg) >= buflen) {
        return 0; /* longer than any message with an address people type out */
    }
    if (strstr(msg, "(at)") == NULL && strstr(msg, "[at]") == NULL && strstr(msg, "(AT)") == NULL &&
        strstr(msg, "[AT]") == NULL) {
        return 0;
    }
    size_t k = 0;
    for (const char *p = msg; *p && k + 1 < buflen;) {
        int hit = 0;
        for (size_t i = 0; i < sizeof(sp) / sizeof(sp[0]) && !hit; i++) {
            size_t n = strlen(sp[i].from);
            if (strncasecmp(p, sp[i].from, n) == 0) {
                buf[k++] = sp[i].to;
                p += n;
                hit = 1;
            }
        }
        if (!hit) {
            buf[k++] = *p++;
        }
    }
    buf[k] = '\0';
    return 1;
}

int offl_find_email_at(const char *msg, int last, char *out, size_t outlen)
{
    out[0] = '\0';
    char buf[OFFL_DEOBF_MAX];
    if (offl_deobfuscate(msg, buf, sizeof(buf))) {
        msg = buf;
    }
    const char *end = msg;
    char tmp[OFFL_FIELD_MAX];
    int found = 0;
    while (offl_email_from(msg, end, tmp, sizeof(tmp), &end)) {
        if (!found || !offl_negated(msg, end - strlen(tmp))) {
            snprintf(out, outlen, "%s", tmp);
        }
        found = 1;
        if (!last) {
            break;
        }
    }
    return found;
}

int offl_find_email(const char *msg, char *out, size_t outlen)
{
    return offl_find_email_at(msg, 0, out, outlen);
}

/* ================================================================ phone */

/* The first number at or after from; *end is where it ends. */
static int offl_phone_from(const char *msg, const char *from, char *out, size_t outlen, const char **end)
{
    for (const char *p = from; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (!(c == '+' || c == '(' || isdigit(c))) {
            continue;
        }
        if (p > msg && (offl_word_byte((unsigned char)p[-1]) || p[-1] == '@' || p[-1] == '.' || p[-1] == '-' ||
                        p[-1] == '$' || p[-1] == '/')) {
            continue;
        }
        if (p >= msg + 3 && memcmp(p - 3, "\xE2\x82\xAC", 3) == 0) {
            continue; /* "€" */
        }
        const char *q = p + 1;
        size_t digits = isdigit(c) ? 1 : 0;
        int seps = 0;
        for (;;) {
            unsigned char d = (unsigned char)*q;
            if (isdigit(d)) {
                digits++;
            } else if (d == ' ') {
                if (!(isdigit((unsigned char)q[1]) || q[1] == '(')) {
                    break;
                }
                seps = 1;
            } else if (d == '-' || d == '/' || d == '.' || d == '(' || d == ')') {
                if (!(isdigit((unsigned char)q[1]) || q[1] == '(' || (d == ')' && q[1] == ' '))) {
                    break;
                }
                seps = 1;
            } else {
                break;
            }
            q++;
        }
        while (q > p && !isdigit((unsigned char)q[-1])) {
            q--;
        }
        const char *next = q;
        if (*next == '@' || *next == '%' || (offl_word_byte((unsigned char)*next) && !isspace((unsigned char)*next))) {
            p = q > p ? q - 1 : p;
            continue;
        }
        int plausible = digits >= 7 && digits <= 15 && (c == '+' || c == '(' || seps || (digits >= 9 && c == '0'));
        /* 2024-05-01 is a date. */
        if (plausible && q - p == 10 && p[4] == '-' && p[7] == '-') {
            plausible = 0;
        }
        if (plausible) {
            offl_copy(out, outlen, p, (size_t)(q - p));
            *end = q;
            return 1;
        }
        p = q > p ? q - 1 : p;
    }
    return 0;
}

int offl_find_phone_at(const char *msg, int last, char *out, size_t outlen)
{
    out[0] = '\0';
    const char *end = msg;
    char tmp[OFFL_FIELD_MAX];
    int found = 0;
    while (offl_phone_from(msg, end, tmp, sizeof(tmp), &end)) {
        if (!found || !offl_negated(msg, end - strlen(tmp))) {
            snprintf(out, outlen, "%s", tmp);
        }
        found = 1;
        if (!last) {
            break;
        }
    }
    return found;
}

int offl_find_phone(const char *msg, char *out, size_t outlen)
{
    return offl_find_phone_at(msg, 0, out, outlen);
}
