/*
 * extract_charset.c - bytes in any supported charset to well-formed UTF-8
 * without NULs (kb_decode): BOM, HTTP label, <meta charset>, then UTF-8
 * repair (lib/utf8.c) or iconv(3) for everything else, windows-1252 and
 * UTF-16 included.
 */
#include "extract_int.h"

#include <errno.h>
#include <iconv.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "utf8.h"

#define KB_LABEL_MAX 40    /* longest charset label we pass to iconv */
#define KB_META_SNIFF 8192 /* bytes searched for <meta charset> */

/* ------------------------------------------------------------- decoding */

typedef enum { ENC_UTF8, ENC_CP1252, ENC_UTF16LE, ENC_UTF16BE, ENC_ICONV } kb_enc;

/*
 * Copy a charset label into buf as lowercase without quotes and blanks.
 * Returns -1 for labels that are empty, too long or hold characters no
 * charset name has (they must not reach iconv_open, which also parses
 * suffixes such as "//TRANSLIT").
 */
static int label_clean(const char *in, size_t n, char buf[KB_LABEL_MAX + 1])
{
    size_t o = 0;

    while (n > 0 && (kb_is_space((unsigned char)*in) || *in == '"' || *in == '\'')) {
        in++;
        n--;
    }
    while (n > 0 && (kb_is_space((unsigned char)in[n - 1]) || in[n - 1] == '"' || in[n - 1] == '\''))
        n--;
    if (n == 0 || n > KB_LABEL_MAX)
        return -1;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c >= 'A' && c <= 'Z')
            c = (unsigned char)(c - 'A' + 'a');
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' || c == ':'))
            return -1;
        buf[o++] = (char)c;
    }
    buf[o] = '\0';
    return 0;
}

static kb_enc label_enc(const char *label)
{
    static const char *const utf8[] = {"utf-8", "utf8", "unicode-1-1-utf-8", "x-unicode20utf8", NULL};
    static const char *const cp1252[] = {"windows-1252", "cp1252",          "x-cp1252",   "iso-8859-1",  "iso8859-1",
                                         "iso_8859-1",   "iso_8859-1:1987", "latin1",     "latin-1",     "l1",
                                         "cp819",        "ibm819",          "iso-ir-100", "csisolatin1", "us-ascii",
                                         "ascii",        "ansi_x3.4-1968",  NULL};

    for (size_t i = 0; utf8[i] != NULL; i++)
        if (strcmp(label, utf8[i]) == 0)
            return ENC_UTF8;
    for (size_t i = 0; cp1252[i] != NULL; i++)
        if (strcmp(label, cp1252[i]) == 0)
            return ENC_CP1252;
    if (strcmp(label, "utf-16le") == 0 || strcmp(label, "utf-16") == 0)
        return ENC_UTF16LE;
    if (strcmp(label, "utf-16be") == 0)
        return ENC_UTF16BE;
    return ENC_ICONV;
}

static int ascii_ieq(const char *a, const char *b, size_t n)
{
    return strncasecmp(a, b, n) == 0;
}

/*
 * The charset named by the first <meta charset=...> or <meta http-equiv
 * content="...; charset=..."> in the first KB_META_SNIFF bytes.
 */
static int html_sniff_charset(const char *data, size_t len, char buf[KB_LABEL_MAX + 1])
{
    size_t n = len < KB_META_SNIFF ? len : KB_META_SNIFF;

    for (size_t i = 0; i + 5 <= n; i++) {
        size_t end;

        if (data[i] != '<' || !ascii_ieq(data + i + 1, "meta", 4))
            continue;
        for (end = i + 5; end < n && data[end] != '>'; end++)
            ;
        for (size_t k = i + 5; k + 7 <= end; k++) {
            size_t v, w;

            if (!ascii_ieq(data + k, "charset", 7))
                continue;
            v = k + 7;
            while (v < end && kb_is_space((unsigned char)data[v]))
                v++;
            if (v >= end || data[v] != '=')
                continue;
            v++;
            while (v < end && (kb_is_space((unsigned char)data[v]) || data[v] == '"' || data[v] == '\''))
                v++;
            for (w = v; w < end && data[w] != '"' && data[w] != '\'' && data[w] != ';' && data[w] != '/' &&
                        !kb_is_space((unsigned char)data[w]);
                 w++)
                ;
            if (label_clean(data + v, w - v, buf) == 0)
                return 0;
        }
        i = end;
    }
    return -1;
}

/*
 * Convert with iconv(3), windows-1252 and UTF-16 included.  `unit` is the
 * width of the input's code unit (1, or 2 for UTF-16): input iconv rejects
 * is skipped a unit at a time and each rejected unit becomes one U+FFFD, as
 * is a sequence the end of input cut short (a UTF-16 stray last byte, a
 * lone surrogate).  The result is passed through utf8_sanitize, so it is
 * well-formed and NUL-free even if the converter misbehaves.  Returns 1
 * when the label is unknown to iconv.
 */
static int decode_iconv(const char *label, const char *in, size_t len, size_t unit, char **out, size_t *olen)
{
    iconv_t cd = iconv_open("UTF-8", label);
    char *buf = NULL, *ip = (char *)in, *op;
    size_t cap, ileft = len, oleft;
    int rc = -1;

    if (cd == (iconv_t)-1)
        return 1;
    if (len > (SIZE_MAX - 64) / 4)
        goto out;
    cap = len * 4 + 64; /* UTF-8 needs at most 4 bytes per input byte */
    buf = malloc(cap);
    if (buf == NULL)
        goto out;
    op = buf;
    oleft = cap - 1;
    while (ileft > 0) {
        if (iconv(cd, &ip, &ileft, &op, &oleft) != (size_t)-1)
            break;
        if (errno == EILSEQ || errno == EINVAL) {
            if (oleft < UTF8_REPLACEMENT_LEN)
                break;
            memcpy(op, UTF8_REPLACEMENT, UTF8_REPLACEMENT_LEN);
            op += UTF8_REPLACEMENT_LEN;
            oleft -= UTF8_REPLACEMENT_LEN;
            if (errno == EINVAL && (unit == 1 || ileft <= unit))
                break; /* incomplete sequence at the end */
            ip += unit < ileft ? unit : ileft;
            ileft -= unit < ileft ? unit : ileft;
        } else {
            break; /* E2BIG cannot happen with the worst case reserved */
        }
    }
    iconv(cd, NULL, NULL, &op, &oleft);
    rc = utf8_sanitize(buf, (size_t)(op - buf), out, olen);
out:
    free(buf);
    iconv_close(cd);
    return rc;
}

/* \r\n and lone \r become \n, in place; returns the new length. */
static size_t normalise_newlines(char *s, size_t n)
{
    size_t o = 0;

    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\r') {
            s[o++] = '\n';
            if (i + 1 < n && s[i + 1] == '\n')
                i++;
        } else {
            s[o++] = s[i];
        }
    }
    s[o] = '\0';
    return o;
}

/* Decode data to a malloc'd well-formed UTF-8 string without NULs. */
kb_status kb_decode(const char *data, size_t len, kb_format fmt, const char *charset, char **out, size_t *olen,
                    char *err, size_t errlen)
{
    const unsigned char *u = (const unsigned char *)data;
    char label[KB_LABEL_MAX + 1] = "utf-8";
    kb_enc enc = ENC_UTF8;
    int have_label = 0, rc;

    *out = NULL;
    *olen = 0;
    if (len >= 3 && u[0] == 0xEF && u[1] == 0xBB && u[2] == 0xBF) {
        data += 3;
        len -= 3;
        have_label = 1;
    } else if (len >= 2 && u[0] == 0xFF && u[1] == 0xFE) {
        data += 2;
        len -= 2;
        enc = ENC_UTF16LE;
        have_label = 1;
    } else if (len >= 2 && u[0] == 0xFE && u[1] == 0xFF) {
        data += 2;
        len -= 2;
        enc = ENC_UTF16BE;
        have_label = 1;
    }
    if (!have_label && charset != NULL && label_clean(charset, strlen(charset), label) == 0) {
        enc = label_enc(label);
        have_label = 1;
    }
    if (!have_label && fmt == KB_FMT_HTML && html_sniff_charset(data, len, label) == 0) {
        enc = label_enc(label);
        /* A page cannot declare UTF-16 in itself (it would be unreadable
         * ASCII); browsers read such pages as UTF-8, and so do we. */
        if (enc == ENC_UTF16LE || enc == ENC_UTF16BE || strncmp(label, "utf-32", 6) == 0)
            enc = ENC_UTF8;
    }
    if (enc != ENC_UTF16LE && enc != ENC_UTF16BE && kb_looks_binary(data, len)) {
        kb_set_err(err, errlen, "looks like binary data, not a text page");
        return KB_EBINARY;
    }
    switch (enc) {
    case ENC_CP1252: /* the latin1 labels too, as browsers do */
        rc = decode_iconv("CP1252", data, len, 1, out, olen);
        break;
    case ENC_UTF16LE:
    case ENC_UTF16BE:
        rc = decode_iconv(enc == ENC_UTF16BE ? "UTF-16BE" : "UTF-16LE", data, len, 2, out, olen);
        break;
    case ENC_ICONV:
        rc = decode_iconv(label, data, len, 1, out, olen);
        break;
    default:
        rc = utf8_sanitize(data, len, out, olen);
        break;
    }
    if (rc == 1) /* a charset iconv does not know: read it as UTF-8 */
        rc = utf8_sanitize(data, len, out, olen);
    if (rc != 0) {
        kb_set_err(err, errlen, "out of memory decoding %zu bytes", len);
        return KB_ENOMEM;
    }
    if ((enc == ENC_UTF16LE || enc == ENC_UTF16BE) && kb_looks_binary(*out, *olen)) {
        free(*out);
        *out = NULL;
        kb_set_err(err, errlen, "looks like binary data, not a text page");
        return KB_EBINARY;
    }
    if (fmt != KB_FMT_HTML)
        *olen = normalise_newlines(*out, *olen);
    return KB_OK;
}
