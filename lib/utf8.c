/*
 * utf8.c - UTF-8 validation, repair and cutting (see utf8.h).
 *
 * Everything is built on utf8_decode(), which checks each continuation byte
 * against the range allowed at its position (Unicode table 3-7).  Checking
 * ranges instead of decoding first and validating the value afterwards is
 * what makes "maximal ill-formed subpart" fall out naturally: decoding stops
 * at the first byte that cannot continue the sequence.
 */
#include "utf8.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static int utf8_is_cont(unsigned char c)
{
    return (c & 0xC0) == 0x80;
}

/*
 * For a lead byte: the number of continuation bytes it announces and the
 * allowed range of the first one.  Returns -1 for bytes that never start a
 * well-formed sequence (80..C1, F5..FF).
 */
static int utf8_lead(unsigned char c, unsigned char *lo, unsigned char *hi)
{
    *lo = 0x80;
    *hi = 0xBF;
    if (c < 0x80)
        return 0;
    if (c >= 0xC2 && c <= 0xDF)
        return 1;
    if (c == 0xE0) {
        *lo = 0xA0; /* no overlongs */
        return 2;
    }
    if (c == 0xED) {
        *hi = 0x9F; /* no surrogates */
        return 2;
    }
    if (c >= 0xE1 && c <= 0xEF)
        return 2;
    if (c == 0xF0) {
        *lo = 0x90; /* no overlongs */
        return 3;
    }
    if (c >= 0xF1 && c <= 0xF3)
        return 3;
    if (c == 0xF4) {
        *hi = 0x8F; /* nothing above U+10FFFF */
        return 3;
    }
    return -1;
}

size_t utf8_decode(const char *s, size_t len, uint32_t *cp)
{
    const unsigned char *u = (const unsigned char *)s;
    unsigned char lo, hi;
    int need;
    uint32_t v;

    if (len == 0) {
        *cp = UTF8_BAD;
        return 0;
    }
    need = utf8_lead(u[0], &lo, &hi);
    if (need == 0) {
        *cp = u[0];
        return 1;
    }
    if (need < 0) {
        *cp = UTF8_BAD;
        return 1;
    }
    v = u[0] & (0x3Fu >> need);
    for (int k = 1; k <= need; k++) {
        if ((size_t)k >= len || u[k] < lo || u[k] > hi) {
            *cp = UTF8_BAD;
            return (size_t)k;
        }
        v = (v << 6) | (u[k] & 0x3Fu);
        lo = 0x80;
        hi = 0xBF;
    }
    *cp = v;
    return (size_t)need + 1;
}

size_t utf8_encode(uint32_t cp, char buf[4])
{
    unsigned char *b = (unsigned char *)buf;

    if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        cp = 0xFFFD;
    if (cp < 0x80) {
        b[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        b[0] = (unsigned char)(0xC0 | (cp >> 6));
        b[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        b[0] = (unsigned char)(0xE0 | (cp >> 12));
        b[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        b[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    b[0] = (unsigned char)(0xF0 | (cp >> 18));
    b[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    b[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    b[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

int utf8_sanitize(const char *in, size_t len, char **out, size_t *out_len)
{
    char *buf;
    size_t o = 0;

    *out = NULL;
    if (out_len != NULL)
        *out_len = 0;
    /* Worst case: every byte becomes a 3-byte U+FFFD. */
    if (len > (SIZE_MAX - 1) / UTF8_REPLACEMENT_LEN)
        return -1;
    buf = malloc(len * UTF8_REPLACEMENT_LEN + 1);
    if (buf == NULL)
        return -1;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t n = utf8_decode(in + i, len - i, &cp);

        if (cp == UTF8_BAD) {
            memcpy(buf + o, UTF8_REPLACEMENT, UTF8_REPLACEMENT_LEN);
            o += UTF8_REPLACEMENT_LEN;
        } else if (cp != 0) {
            memcpy(buf + o, in + i, n);
            o += n;
        }
        i += n;
    }
    buf[o] = '\0';
    /* Give back the slack when the input was mostly valid. */
    if (o < len * UTF8_REPLACEMENT_LEN) {
        char *shrunk = realloc(buf, o + 1);
        if (shrunk != NULL)
            buf = shrunk;
    }
    *out = buf;
    if (out_len != NULL)
        *out_len = o;
    return 0;
}

int utf8_valid(const char *s, size_t len)
{
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t n;

        /* ASCII fast path: most text is mostly ASCII. */
        if ((unsigned char)s[i] < 0x80) {
            if (s[i] == '\0')
                return 0;
            i++;
            continue;
        }
        n = utf8_decode(s + i, len - i, &cp);
        if (cp == UTF8_BAD)
            return 0;
        i += n;
    }
    return 1;
}

size_t utf8_count_chars(const char *s, size_t len)
{
    size_t n = 0;

    for (size_t i = 0; i < len; i++)
        if (!utf8_is_cont((unsigned char)s[i]))
            n++;
    return n;
}

size_t utf8_truncate(const char *s, size_t len, size_t max_bytes)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t cut = max_bytes, i;
    unsigned char lo, hi;
    int need;

    if (len <= max_bytes)
        return len;
    if (!utf8_is_cont(u[cut]))
        return cut;
    /* u[cut] continues something: find the lead byte, at most 3 back. */
    i = cut;
    while (i > 0 && cut - i < 3 && utf8_is_cont(u[i]))
        i--;
    need = utf8_lead(u[i], &lo, &hi);
    if (need > 0 && i + (size_t)need >= cut)
        return i;
    return cut; /* a stray continuation byte: cutting here splits nothing */
}
