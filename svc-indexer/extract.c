/*
 * extract.c - page to clean structured text (see extract.h).
 *
 * Pipeline: size and binary checks, decode to well-formed UTF-8, then one
 * parser per format fills a kb_doc through the same text normaliser
 * (kb_text), so the guarantees on block text (single spaces, no controls,
 * well-formed UTF-8) hold in one place whatever the format.
 *
 * HTML goes through libxml2's recovering parser, which already fixes the
 * structure of broken pages (unclosed <p> and <li>); we only walk the tree.
 * Markdown and plain text are parsed line by line here: we need the
 * structure (headings, paragraphs, list items, table rows) and clean text,
 * not rendering, and a full CommonMark implementation would be far more
 * code than that needs.  Every forward scan in the Markdown inline parser
 * draws from a per-paragraph budget, so hostile input stays linear.
 */
#include "extract.h"

#include <errno.h>
#include <iconv.h>
#include <libxml/HTMLparser.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dynbuf.h"
#include "utf8.h"

#define KB_ANCHOR_MAX   256   /* longer ids/slugs are dropped/cut */
#define KB_LABEL_MAX    40    /* longest charset label we pass to iconv */
#define KB_META_SNIFF   8192  /* bytes searched for <meta charset> */
#define KB_LIST_DEPTH   64    /* nested <ol> counters kept; deeper: "- " */
#define KB_CSS_DECL_MAX 64    /* inline style declarations compared */
#define KB_CAPS_HEAD_MAX 80   /* longest capitals-only line taken as heading */
/* Longest normalised text: decoding (cp1252 to UTF-8 is at most 3 bytes a
 * byte) and separators never take a page of KB_DOC_MAX_BYTES past it. */
#define KB_TEXT_MAX     (4 * (size_t)KB_DOC_MAX_BYTES)

static int
kb_is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static void
kb_set_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* ------------------------------------------------------------- kb_text */

/*
 * A growing string that normalises as it goes: runs of whitespace become
 * one space (owed, written only before the next visible character, so the
 * text is trimmed on both ends), control characters and invisible format
 * characters are dropped, ill-formed UTF-8 becomes U+FFFD.  A separator
 * (" | " between table cells) can be owed instead of a space.
 */
typedef struct {
    dynbuf d;        /* the text; a zeroed kb_text gets KB_TEXT_MAX on use */
    int space;       /* a space is owed */
    const char *sep; /* a separator is owed (wins over the space) */
    int oom;         /* an append failed (memory or KB_TEXT_MAX): sticky */
} kb_text;

static void
text_raw(kb_text *t, const char *s, size_t n)
{
    if (t->oom)
        return;
    if (t->d.toobig == 0)
        dyn_init(&t->d, KB_TEXT_MAX);
    if (dyn_add(&t->d, s, n) != 0)
        t->oom = 1;
}

/* Write what is owed before a visible character. */
static void
text_owed(kb_text *t)
{
    if (t->d.len > 0) {
        if (t->sep != NULL)
            text_raw(t, t->sep, strlen(t->sep));
        else if (t->space)
            text_raw(t, " ", 1);
    }
    t->sep = NULL;
    t->space = 0;
}

static void
text_space(kb_text *t)
{
    t->space = 1;
}

static void
text_sep(kb_text *t, const char *sep)
{
    if (t->d.len > 0)
        t->sep = sep;
}

/* Unicode spaces that count as whitespace. */
static int
cp_is_space(uint32_t cp)
{
    return cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 ||
           cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

/* C1 controls, soft hyphen, zero-width space, word joiner, BOM: dropped. */
static int
cp_is_invisible(uint32_t cp)
{
    return (cp >= 0x80 && cp <= 0x9F) || cp == 0xAD || cp == 0x200B || cp == 0x2060 || cp == 0xFEFF;
}

static void
text_put(kb_text *t, const char *s, size_t n)
{
    size_t i = 0;

    while (i < n && !t->oom) {
        unsigned char c = (unsigned char)s[i];
        size_t run = i;
        uint32_t cp;
        size_t k;

        if (c < 0x80) {
            if (kb_is_space(c)) {
                t->space = 1;
                i++;
                continue;
            }
            if (c < 0x20 || c == 0x7F) {
                i++;
                continue;
            }
            /* A run of printable ASCII in one copy. */
            while (run < n && (unsigned char)s[run] > 0x20 && (unsigned char)s[run] < 0x7F)
                run++;
            text_owed(t);
            text_raw(t, s + i, run - i);
            i = run;
            continue;
        }
        k = utf8_decode(s + i, n - i, &cp);
        if (cp == UTF8_BAD) {
            text_owed(t);
            text_raw(t, UTF8_REPLACEMENT, UTF8_REPLACEMENT_LEN);
        } else if (cp_is_space(cp)) {
            t->space = 1;
        } else if (!cp_is_invisible(cp)) {
            text_owed(t);
            text_raw(t, s + i, k);
        }
        i += k;
    }
}

static void
text_puts(kb_text *t, const char *s)
{
    text_put(t, s, strlen(s));
}

static void
text_put_cp(kb_text *t, uint32_t cp)
{
    char b[4];

    if (cp == 0)
        cp = 0xFFFD;
    text_put(t, b, utf8_encode(cp, b));
}

static void
text_clear(kb_text *t)
{
    dyn_reset(&t->d);
    t->space = 0;
    t->sep = NULL;
}

static void
text_free(kb_text *t)
{
    dyn_free(&t->d);
    memset(t, 0, sizeof *t);
}

/* A malloc'd copy of the text (NULL on OOM); the buffer is cleared. */
static char *
text_take(kb_text *t)
{
    char *p;

    if (t->oom)
        return NULL;
    p = malloc(t->d.len + 1);
    if (p == NULL) {
        t->oom = 1;
        return NULL;
    }
    memcpy(p, dyn_str(&t->d), t->d.len);
    p[t->d.len] = '\0';
    text_clear(t);
    return p;
}

/* Normalised malloc'd copy of s[0..n), cut to < cap bytes (0: no cut). */
static char *
kb_clean_copy(const char *s, size_t n, size_t cap)
{
    kb_text t = { 0 };
    char *p;

    text_put(&t, s, n);
    if (t.oom) {
        text_free(&t);
        return NULL;
    }
    if (cap > 0 && t.d.len >= cap) {
        size_t keep = utf8_truncate(t.d.data, t.d.len, cap - 1);
        while (keep > 0 && t.d.data[keep - 1] == ' ')
            keep--;
        dyn_truncate(&t.d, keep);
    }
    p = text_take(&t);
    text_free(&t);
    return p;
}

/* ------------------------------------------------------------- kb_doc */

typedef struct {
    kb_doc *doc;
    size_t cap;
    int oom;
} kb_builder;

/*
 * Append a block made of the text in t (cleared afterwards) when it is not
 * empty.  anchor is copied; NULL or "" means none.
 */
static void
doc_add(kb_builder *b, int level, kb_text *t, const char *anchor)
{
    kb_block *blk;

    if (t->oom)
        b->oom = 1;
    if (b->oom || t->d.len == 0) {
        text_clear(t);
        return;
    }
    if (b->doc->nblocks == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 32;
        kb_block *p = realloc(b->doc->blocks, cap * sizeof *p);
        if (p == NULL) {
            b->oom = 1;
            return;
        }
        b->doc->blocks = p;
        b->cap = cap;
    }
    blk = &b->doc->blocks[b->doc->nblocks];
    blk->level = level;
    blk->anchor = NULL;
    if (anchor != NULL && anchor[0] != '\0') {
        blk->anchor = strdup(anchor);
        if (blk->anchor == NULL) {
            b->oom = 1;
            return;
        }
    }
    blk->text = text_take(t);
    if (blk->text == NULL) {
        free(blk->anchor);
        b->oom = 1;
        return;
    }
    b->doc->nblocks++;
}

void
kb_doc_free(kb_doc *doc)
{
    if (doc == NULL)
        return;
    for (size_t i = 0; i < doc->nblocks; i++) {
        free(doc->blocks[i].text);
        free(doc->blocks[i].anchor);
    }
    free(doc->blocks);
    free(doc->title);
    free(doc->canonical_url);
    free(doc->lang);
    memset(doc, 0, sizeof *doc);
}

const char *
kb_status_name(kb_status st)
{
    switch (st) {
    case KB_OK:      return "ok";
    case KB_EEMPTY:  return "empty";
    case KB_ETOOBIG: return "too big";
    case KB_EBINARY: return "binary";
    case KB_EPARSE:  return "parse error";
    case KB_ENOMEM:  return "out of memory";
    }
    return "unknown";
}

/* ------------------------------------------------------------- formats */

static const char *
kb_ext(const char *path, size_t n, size_t *elen)
{
    size_t i = n;

    while (i > 0 && path[i - 1] != '/' && path[i - 1] != '.')
        i--;
    if (i == 0 || path[i - 1] != '.') {
        *elen = 0;
        return NULL;
    }
    *elen = n - i;
    return path + i;
}

static int
kb_ext_in(const char *ext, size_t elen, const char *const *list)
{
    for (size_t i = 0; list[i] != NULL; i++)
        if (strlen(list[i]) == elen && strncasecmp(ext, list[i], elen) == 0)
            return 1;
    return 0;
}

kb_format
kb_format_from_name(const char *path_or_url, const char *content_type)
{
    static const char *const html_ext[] = { "html", "htm", "xhtml", "shtml", "php", "asp",
                                            "aspx", "jsp", NULL };
    static const char *const md_ext[] = { "md", "markdown", "mdown", "mkd", "mdx", NULL };
    static const char *const text_ext[] = { "txt", "text", NULL };
    int is_md_name = 0, is_url = 0;
    const char *ext = NULL;
    size_t elen = 0;

    if (path_or_url != NULL) {
        const char *path = path_or_url;
        size_t n = strcspn(path_or_url, "?#");
        const char *scheme = strstr(path_or_url, "://");

        if (scheme != NULL && (size_t)(scheme - path_or_url) < n) {
            /* Only the path counts: "https://x.test" has no extension. */
            const char *host = scheme + 3;
            is_url = 1;
            path = memchr(host, '/', n - (size_t)(host - path_or_url));
            n = path != NULL ? n - (size_t)(path - path_or_url) : 0;
        }
        if (path != NULL)
            ext = kb_ext(path, n, &elen);
        is_md_name = ext != NULL && kb_ext_in(ext, elen, md_ext);
    }
    if (content_type != NULL) {
        size_t n = strcspn(content_type, ";");
        while (n > 0 && kb_is_space((unsigned char)content_type[n - 1]))
            n--;
        while (n > 0 && kb_is_space((unsigned char)*content_type)) {
            content_type++;
            n--;
        }
#define CT_IS(lit) (n == sizeof(lit) - 1 && strncasecmp(content_type, lit, n) == 0)
        if (CT_IS("text/html") || CT_IS("application/xhtml+xml"))
            return KB_FMT_HTML;
        if (CT_IS("text/markdown") || CT_IS("text/x-markdown"))
            return KB_FMT_MARKDOWN;
        if (CT_IS("text/plain"))
            return is_md_name ? KB_FMT_MARKDOWN : KB_FMT_TEXT;
#undef CT_IS
    }
    if (ext != NULL) {
        if (kb_ext_in(ext, elen, html_ext))
            return KB_FMT_HTML;
        if (is_md_name)
            return KB_FMT_MARKDOWN;
        if (kb_ext_in(ext, elen, text_ext))
            return KB_FMT_TEXT;
    }
    return is_url && ext == NULL ? KB_FMT_HTML : KB_FMT_TEXT;
}

int
kb_looks_binary(const char *data, size_t len)
{
    size_t n = len < KB_BINARY_SNIFF ? len : KB_BINARY_SNIFF;
    size_t ctl = 0;

    if (n >= 5 && memcmp(data, "%PDF-", 5) == 0)
        return 1;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)data[i];
        if (c == 0)
            return 1;
        if ((c < 0x20 && !kb_is_space(c) && c != 0x1B) || c == 0x7F)
            ctl++;
    }
    return ctl * 32 > n;
}

/* ------------------------------------------------------------- decoding */

typedef enum { ENC_UTF8, ENC_CP1252, ENC_UTF16LE, ENC_UTF16BE, ENC_ICONV } kb_enc;

/* windows-1252 0x80..0x9F; 0 marks the five undefined bytes. */
static const uint16_t cp1252_high[32] = {
    0x20AC, 0,      0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160,
    0x2039, 0x0152, 0,      0x017D, 0,      0,      0x2018, 0x2019, 0x201C, 0x201D, 0x2022,
    0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0,      0x017E, 0x0178,
};

/*
 * Copy a charset label into buf as lowercase without quotes and blanks.
 * Returns -1 for labels that are empty, too long or hold characters no
 * charset name has (they must not reach iconv_open, which also parses
 * suffixes such as "//TRANSLIT").
 */
static int
label_clean(const char *in, size_t n, char buf[KB_LABEL_MAX + 1])
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
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' ||
              c == ':'))
            return -1;
        buf[o++] = (char)c;
    }
    buf[o] = '\0';
    return 0;
}

static kb_enc
label_enc(const char *label)
{
    static const char *const utf8[] = { "utf-8", "utf8", "unicode-1-1-utf-8", "x-unicode20utf8",
                                        NULL };
    static const char *const cp1252[] = { "windows-1252", "cp1252", "x-cp1252", "iso-8859-1",
                                          "iso8859-1", "iso_8859-1", "iso_8859-1:1987", "latin1",
                                          "latin-1", "l1", "cp819", "ibm819", "iso-ir-100",
                                          "csisolatin1", "us-ascii", "ascii", "ansi_x3.4-1968",
                                          NULL };

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

static int
ascii_ieq(const char *a, const char *b, size_t n)
{
    return strncasecmp(a, b, n) == 0;
}

/*
 * The charset named by the first <meta charset=...> or <meta http-equiv
 * content="...; charset=..."> in the first KB_META_SNIFF bytes.
 */
static int
html_sniff_charset(const char *data, size_t len, char buf[KB_LABEL_MAX + 1])
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
            for (w = v; w < end && data[w] != '"' && data[w] != '\'' && data[w] != ';' &&
                        data[w] != '/' && !kb_is_space((unsigned char)data[w]);
                 w++)
                ;
            if (label_clean(data + v, w - v, buf) == 0)
                return 0;
        }
        i = end;
    }
    return -1;
}

static int
decode_cp1252(const char *in, size_t len, char **out, size_t *olen)
{
    char *buf;
    size_t o = 0;

    if (len > (SIZE_MAX - 1) / 3)
        return -1;
    buf = malloc(len * 3 + 1);
    if (buf == NULL)
        return -1;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)in[i];
        uint32_t cp = c;

        if (c == 0)
            continue;
        if (c >= 0x80 && c <= 0x9F)
            cp = cp1252_high[c - 0x80] ? cp1252_high[c - 0x80] : 0xFFFD;
        o += utf8_encode(cp, buf + o);
    }
    buf[o] = '\0';
    *out = buf;
    *olen = o;
    return 0;
}

static int
decode_utf16(const char *in, size_t len, int big_endian, char **out, size_t *olen)
{
    const unsigned char *u = (const unsigned char *)in;
    char *buf;
    size_t o = 0, i = 0;

    /* Each unit (2 bytes) gives at most 3 bytes; a stray last byte 3. */
    if (len > (SIZE_MAX - 4) / 2)
        return -1;
    buf = malloc(len * 2 + 4);
    if (buf == NULL)
        return -1;
    while (i + 1 < len) {
        uint32_t cp = big_endian ? (uint32_t)(u[i] << 8 | u[i + 1]) : (uint32_t)(u[i + 1] << 8 | u[i]);

        i += 2;
        if (cp >= 0xD800 && cp <= 0xDBFF && i + 1 < len) {
            uint32_t lo = big_endian ? (uint32_t)(u[i] << 8 | u[i + 1]) : (uint32_t)(u[i + 1] << 8 | u[i]);
            if (lo >= 0xDC00 && lo <= 0xDFFF) {
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                i += 2;
            }
        }
        if (cp == 0)
            continue;
        o += utf8_encode(cp, buf + o); /* lone surrogates become U+FFFD */
    }
    if (i < len)
        o += utf8_encode(0xFFFD, buf + o);
    buf[o] = '\0';
    *out = buf;
    *olen = o;
    return 0;
}

/*
 * Convert with iconv(3).  Bytes iconv rejects become U+FFFD; the result is
 * passed through utf8_sanitize, so it is well-formed and NUL-free even if
 * the converter misbehaves.  Returns 1 when the label is unknown to iconv.
 */
static int
decode_iconv(const char *label, const char *in, size_t len, char **out, size_t *olen)
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
            if (errno == EINVAL)
                break; /* incomplete sequence at the end */
            ip++;
            ileft--;
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
static size_t
normalise_newlines(char *s, size_t n)
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
static kb_status
kb_decode(const char *data, size_t len, kb_format fmt, const char *charset, char **out,
          size_t *olen, char *err, size_t errlen)
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
    case ENC_CP1252:
        rc = decode_cp1252(data, len, out, olen);
        break;
    case ENC_UTF16LE:
    case ENC_UTF16BE:
        rc = decode_utf16(data, len, enc == ENC_UTF16BE, out, olen);
        break;
    case ENC_ICONV:
        rc = decode_iconv(label, data, len, out, olen);
        if (rc == 1) /* unknown charset: read it as UTF-8 */
            rc = utf8_sanitize(data, len, out, olen);
        break;
    default:
        rc = utf8_sanitize(data, len, out, olen);
        break;
    }
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

/* ================================================================ HTML */

typedef enum {
    TAG_INLINE = 0,
    TAG_DROP,       /* never read */
    TAG_HEADER,     /* dropped unless inside main/article/section */
    TAG_BLOCK,      /* ends the paragraph before and after it */
    TAG_SECTION,    /* a block that scopes <header> */
    TAG_LIST,       /* ul, ol: a block holding items */
    TAG_ITEM,       /* li */
    TAG_ROW,        /* tr */
    TAG_CELL,       /* td, th */
    TAG_HEADING,    /* h1..h6 */
    TAG_BR,
    TAG_A,
} tag_kind;

typedef struct {
    const char *name;
    tag_kind kind;
} tag_def;

/* Keep sorted by name: tag_kind_of() uses bsearch, and a misplaced entry
 * would silently read as inline.  Tags not listed are inline. */
static const tag_def tag_defs[] = {
    { "a", TAG_A },          { "address", TAG_BLOCK },   { "article", TAG_SECTION },
    { "aside", TAG_DROP },   { "audio", TAG_DROP },      { "blockquote", TAG_BLOCK },
    { "body", TAG_BLOCK },   { "br", TAG_BR },           { "button", TAG_DROP },
    { "canvas", TAG_DROP },  { "caption", TAG_BLOCK },   { "center", TAG_BLOCK },
    { "datalist", TAG_DROP }, { "dd", TAG_BLOCK },       { "details", TAG_BLOCK },
    { "dialog", TAG_DROP },  { "dir", TAG_LIST },        { "div", TAG_BLOCK },
    { "dl", TAG_BLOCK },     { "dt", TAG_BLOCK },        { "embed", TAG_DROP },
    { "fieldset", TAG_BLOCK }, { "figcaption", TAG_BLOCK }, { "figure", TAG_BLOCK },
    { "footer", TAG_DROP },  { "form", TAG_DROP },       { "h1", TAG_HEADING },
    { "h2", TAG_HEADING },   { "h3", TAG_HEADING },      { "h4", TAG_HEADING },
    { "h5", TAG_HEADING },   { "h6", TAG_HEADING },      { "head", TAG_DROP },
    { "header", TAG_HEADER }, { "hgroup", TAG_BLOCK },   { "hr", TAG_BLOCK },
    { "html", TAG_BLOCK },   { "iframe", TAG_DROP },     { "input", TAG_DROP },
    { "label", TAG_DROP },   { "legend", TAG_BLOCK },    { "li", TAG_ITEM },
    { "main", TAG_SECTION }, { "menu", TAG_LIST },       { "nav", TAG_DROP },
    { "noscript", TAG_DROP }, { "object", TAG_DROP },    { "ol", TAG_LIST },
    { "option", TAG_DROP },  { "p", TAG_BLOCK },         { "pre", TAG_BLOCK },
    { "script", TAG_DROP },  { "section", TAG_SECTION }, { "select", TAG_DROP },
    { "style", TAG_DROP },   { "summary", TAG_BLOCK },   { "svg", TAG_DROP },
    { "table", TAG_BLOCK },  { "tbody", TAG_BLOCK },     { "td", TAG_CELL },
    { "template", TAG_DROP }, { "textarea", TAG_DROP },  { "tfoot", TAG_BLOCK },
    { "th", TAG_CELL },      { "thead", TAG_BLOCK },     { "title", TAG_DROP },
    { "tr", TAG_ROW },       { "ul", TAG_LIST },         { "video", TAG_DROP },
};

static int
tag_cmp(const void *key, const void *elem)
{
    return strcmp((const char *)key, ((const tag_def *)elem)->name);
}

static tag_kind
tag_kind_of(const xmlNode *n)
{
    const tag_def *d;

    if (n->name == NULL)
        return TAG_INLINE;
    d = bsearch(n->name, tag_defs, sizeof tag_defs / sizeof tag_defs[0], sizeof tag_defs[0], tag_cmp);
    return d != NULL ? d->kind : TAG_INLINE;
}

/* Attribute value (in the tree, not copied); "" for a bare attribute. */
static const char *
html_attr(const xmlNode *n, const char *name)
{
    for (const xmlAttr *a = n->properties; a != NULL; a = a->next) {
        if (a->name == NULL || strcasecmp((const char *)a->name, name) != 0)
            continue;
        if (a->children != NULL && a->children->content != NULL)
            return (const char *)a->children->content;
        return "";
    }
    return NULL;
}

/* s (trimmed) equals word, case-insensitively. */
static int
attr_is(const char *s, const char *word)
{
    size_t n, w = strlen(word);

    if (s == NULL)
        return 0;
    while (kb_is_space((unsigned char)*s))
        s++;
    n = strlen(s);
    while (n > 0 && kb_is_space((unsigned char)s[n - 1]))
        n--;
    return n == w && strncasecmp(s, word, n) == 0;
}

/* Inline style with display:none or visibility:hidden. */
static int
css_hides(const char *style)
{
    const char *p = style;

    while (*p != '\0') {
        char decl[KB_CSS_DECL_MAX] = { 0 };
        size_t o = 0;
        int too_long = 0;

        for (; *p != '\0' && *p != ';'; p++) {
            unsigned char c = (unsigned char)*p;
            if (kb_is_space(c))
                continue;
            if (o + 1 >= sizeof decl) {
                too_long = 1;
                continue;
            }
            decl[o++] = (char)(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
        }
        decl[o] = '\0';
        if (*p == ';')
            p++;
        if (too_long)
            continue;
        if ((strncmp(decl, "display:none", 12) == 0 && (decl[12] == '\0' || decl[12] == '!')) ||
            (strncmp(decl, "visibility:hidden", 17) == 0 && (decl[17] == '\0' || decl[17] == '!')))
            return 1;
    }
    return 0;
}

/* First token of role= names a landmark that holds site chrome. */
static int
role_is_chrome(const char *role)
{
    static const char *const chrome[] = { "navigation", "banner", "contentinfo", "complementary",
                                          "search", "dialog", "alertdialog", NULL };
    size_t n;

    while (kb_is_space((unsigned char)*role))
        role++;
    for (n = 0; role[n] != '\0' && !kb_is_space((unsigned char)role[n]); n++)
        ;
    for (size_t i = 0; chrome[i] != NULL; i++)
        if (strlen(chrome[i]) == n && strncasecmp(role, chrome[i], n) == 0)
            return 1;
    return 0;
}

/* Hidden or chrome by attributes, whatever the tag. */
static int
html_hidden(const xmlNode *n)
{
    const char *v;

    if ((v = html_attr(n, "hidden")) != NULL && !attr_is(v, "until-found"))
        return 1;
    if (attr_is(html_attr(n, "aria-hidden"), "true"))
        return 1;
    if ((v = html_attr(n, "style")) != NULL && css_hides(v))
        return 1;
    if ((v = html_attr(n, "role")) != NULL && role_is_chrome(v))
        return 1;
    return 0;
}

static int
html_is(const xmlNode *n, const char *name)
{
    return n->type == XML_ELEMENT_NODE && n->name != NULL && strcmp((const char *)n->name, name) == 0;
}

/*
 * Iterative pre-order walk helper: the node after n, not descending into n
 * when skip_children is set, never leaving root.  NULL at the end.
 */
static xmlNode *
html_next(xmlNode *n, const xmlNode *root, int skip_children)
{
    if (!skip_children && n->children != NULL)
        return n->children;
    while (n != root && n->next == NULL)
        n = n->parent;
    return n == root ? NULL : n->next;
}

/* ------------------------------------------------ page metadata and roots */

typedef struct {
    xmlNode *title;      /* first <title> outside svg */
    const char *canonical;
    xmlNode *main;       /* first visible <main> / role=main */
    xmlNode **articles;  /* outermost visible <article>s, when no main */
    size_t narticles, cap;
    int oom;
} html_scan;

static int
rel_has_canonical(const char *rel)
{
    const char *p = rel;

    while (*p != '\0') {
        size_t n;
        while (kb_is_space((unsigned char)*p))
            p++;
        for (n = 0; p[n] != '\0' && !kb_is_space((unsigned char)p[n]); n++)
            ;
        if (n == 9 && strncasecmp(p, "canonical", 9) == 0)
            return 1;
        p += n;
    }
    return 0;
}

static void
html_scan_doc(xmlNode *root, html_scan *sc)
{
    xmlNode *n = root;

    while (n != NULL) {
        int skip = 0;

        if (n->type == XML_ELEMENT_NODE) {
            tag_kind k = tag_kind_of(n);

            if (html_is(n, "title")) {
                if (sc->title == NULL)
                    sc->title = n;
                skip = 1;
            } else if (html_is(n, "link")) {
                const char *rel = html_attr(n, "rel");
                const char *href = html_attr(n, "href");
                if (sc->canonical == NULL && rel != NULL && href != NULL && rel_has_canonical(rel))
                    sc->canonical = href;
            } else if ((k == TAG_DROP && !html_is(n, "head")) || k == TAG_HEADER || html_hidden(n)) {
                /* <head> is read: title and link live there.  Skipping
                 * <svg> also skips its <title>, an icon label. */
                skip = 1;
            } else if (html_is(n, "main") || attr_is(html_attr(n, "role"), "main")) {
                if (sc->main == NULL)
                    sc->main = n;
                skip = 1;
            } else if (html_is(n, "article")) {
                if (sc->narticles == sc->cap) {
                    size_t cap = sc->cap ? sc->cap * 2 : 8;
                    xmlNode **p = realloc(sc->articles, cap * sizeof *p);
                    if (p == NULL) {
                        sc->oom = 1;
                        return;
                    }
                    sc->articles = p;
                    sc->cap = cap;
                }
                sc->articles[sc->narticles++] = n;
                skip = 1; /* outermost only; a <main> inside is read with it */
            }
        }
        n = html_next(n, root, skip);
    }
}

/*
 * Put text from libxml2, which leaves an '&' only where it could not read
 * an entity.  Browsers still decode the legacy names without ';' (exactly
 * the Latin-1 ones: "&amp more", "&copy 2025"), longest match first; so do
 * we, and anything else stays a literal '&'.
 */
static void
html_put_text(kb_text *t, const char *s)
{
    const char *amp;

    while ((amp = strchr(s, '&')) != NULL) {
        char name[9];
        size_t k = 0, best = 0;
        uint32_t value = 0;

        text_put(t, s, (size_t)(amp - s));
        while (k < 8 && ((amp[1 + k] >= 'a' && amp[1 + k] <= 'z') || (amp[1 + k] >= 'A' && amp[1 + k] <= 'Z'))) {
            const htmlEntityDesc *e;

            name[k] = amp[1 + k];
            name[++k] = '\0';
            e = htmlEntityLookup((const xmlChar *)name);
            if (e != NULL && e->value <= 0xFF) {
                best = k;
                value = e->value;
            }
        }
        if (best > 0) {
            text_put_cp(t, value);
            s = amp + 1 + best;
            if (*s == ';')
                s++;
        } else {
            text_put(t, "&", 1);
            s = amp + 1;
        }
    }
    text_puts(t, s);
}

/* ------------------------------------------------------------ tree walk */

typedef struct {
    kb_builder *b;
    kb_text cur;           /* the paragraph, item, row or heading being read */
    size_t prefix_len;     /* bytes of list marker at the start of cur */
    const xmlNode *heading;
    int level;
    char *anchor;          /* heading anchor, malloc'd */
    const xmlNode *row;
    int sectioning;        /* open main/article/section elements */
    int lists;             /* open ul/ol elements */
    int ol[KB_LIST_DEPTH]; /* next number per open list; -1 for ul */
} html_walk;

/*
 * End the paragraph being read.  A list marker with no text after it yet
 * stays, for the item's first text (<li><p>text</p></li>).
 */
static void
walk_flush(html_walk *w)
{
    if (w->prefix_len > 0 && w->cur.d.len <= w->prefix_len)
        return;
    w->prefix_len = 0;
    doc_add(w->b, 0, &w->cur, NULL);
}

/* Forget a list marker that no text followed. */
static void
walk_drop_marker(html_walk *w)
{
    if (w->prefix_len > 0 && w->cur.d.len <= w->prefix_len)
        text_clear(&w->cur);
    w->prefix_len = 0;
}

static void
walk_set_anchor(html_walk *w, const char *id)
{
    size_t n;

    if (w->anchor != NULL || id == NULL)
        return;
    n = strlen(id);
    if (n == 0 || n > KB_ANCHOR_MAX)
        return;
    w->anchor = kb_clean_copy(id, n, 0);
    if (w->anchor == NULL)
        w->b->oom = 1;
    else if (w->anchor[0] == '\0') {
        free(w->anchor);
        w->anchor = NULL;
    }
}

/* Inside a heading or a table row every block boundary is just a space. */
static int
walk_inline_only(const html_walk *w)
{
    return w->heading != NULL || w->row != NULL;
}

static void
walk_open(html_walk *w, const xmlNode *n, tag_kind k)
{
    switch (k) {
    case TAG_BR:
        text_space(&w->cur);
        break;
    case TAG_A:
        if (w->heading != NULL) {
            const char *id = html_attr(n, "id");
            walk_set_anchor(w, id != NULL ? id : html_attr(n, "name"));
        }
        break;
    case TAG_HEADING:
        if (walk_inline_only(w)) {
            text_space(&w->cur);
            break;
        }
        walk_drop_marker(w);
        walk_flush(w);
        w->heading = n;
        w->level = n->name[1] - '0';
        walk_set_anchor(w, html_attr(n, "id"));
        break;
    case TAG_ROW:
        if (walk_inline_only(w)) {
            text_space(&w->cur);
            break;
        }
        walk_drop_marker(w);
        walk_flush(w);
        w->row = n;
        break;
    case TAG_CELL:
        if (w->row != NULL)
            text_sep(&w->cur, " | ");
        else if (w->heading != NULL)
            text_space(&w->cur);
        else
            walk_flush(w);
        break;
    case TAG_ITEM: {
        char marker[24];
        int num;

        if (walk_inline_only(w)) {
            text_space(&w->cur);
            break;
        }
        walk_flush(w);
        walk_drop_marker(w);
        num = w->lists > 0 && w->lists <= KB_LIST_DEPTH ? w->ol[w->lists - 1] : -1;
        if (num >= 0) {
            snprintf(marker, sizeof marker, "%d.", num);
            w->ol[w->lists - 1]++;
        } else {
            snprintf(marker, sizeof marker, "-");
        }
        text_raw(&w->cur, marker, strlen(marker));
        text_space(&w->cur);
        w->prefix_len = w->cur.d.len;
        break;
    }
    case TAG_LIST:
        if (w->lists < KB_LIST_DEPTH) {
            const char *start = html_attr(n, "start");
            long v = start != NULL ? strtol(start, NULL, 10) : 1;
            w->ol[w->lists] = html_is(n, "ol") ? (v >= 0 && v < 1000000 ? (int)v : 1) : -1;
        }
        w->lists++;
        goto block;
    case TAG_SECTION:
    case TAG_HEADER:
        w->sectioning++;
        goto block;
    case TAG_BLOCK:
    block:
        if (walk_inline_only(w))
            text_space(&w->cur);
        else
            walk_flush(w);
        break;
    default:
        break;
    }
}

static void
walk_close(html_walk *w, const xmlNode *n, tag_kind k)
{
    switch (k) {
    case TAG_HEADING:
        if (n != w->heading) {
            text_space(&w->cur);
            break;
        }
        doc_add(w->b, w->level, &w->cur, w->anchor);
        free(w->anchor);
        w->anchor = NULL;
        w->heading = NULL;
        w->level = 0;
        break;
    case TAG_ROW:
        if (n != w->row) {
            text_space(&w->cur);
            break;
        }
        walk_flush(w);
        w->row = NULL;
        break;
    case TAG_CELL:
        if (w->row == NULL && w->heading == NULL)
            walk_flush(w);
        break;
    case TAG_LIST:
        w->lists--;
        goto block;
    case TAG_SECTION:
    case TAG_HEADER:
        w->sectioning--;
        goto block;
    case TAG_ITEM:
        if (walk_inline_only(w)) {
            text_space(&w->cur);
            break;
        }
        walk_flush(w);
        walk_drop_marker(w);
        break;
    case TAG_BLOCK:
    block:
        if (walk_inline_only(w))
            text_space(&w->cur);
        else
            walk_flush(w);
        break;
    default:
        break;
    }
}

static int
walk_dropped(const html_walk *w, const xmlNode *n, tag_kind k)
{
    if (k == TAG_DROP)
        return 1;
    if (k == TAG_HEADER && w->sectioning == 0)
        return 1;
    return html_hidden(n);
}

static void
html_walk_tree(html_walk *w, xmlNode *root)
{
    xmlNode *n = root;

    while (n != NULL && !w->b->oom) {
        int skip = 1;

        if (n->type == XML_ELEMENT_NODE) {
            tag_kind k = tag_kind_of(n);
            if (!walk_dropped(w, n, k)) {
                walk_open(w, n, k);
                if (n->children != NULL)
                    skip = 0;
                else
                    walk_close(w, n, k);
            }
        } else if ((n->type == XML_TEXT_NODE || n->type == XML_CDATA_SECTION_NODE) &&
                   n->content != NULL) {
            html_put_text(&w->cur, (const char *)n->content);
        }
        if (!skip) {
            n = n->children;
            continue;
        }
        /* Leave finished elements, closing each on the way up. */
        while (n != root && n->next == NULL) {
            n = n->parent;
            walk_close(w, n, tag_kind_of(n));
        }
        n = n == root ? NULL : n->next;
    }
    walk_flush(w);
    walk_drop_marker(w);
    if (w->cur.oom)
        w->b->oom = 1;
}

static int
lang_ok(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > KB_LANG_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
              c == '_'))
            return 0;
    }
    return 1;
}

static char *
html_node_text(const xmlNode *n, size_t cap)
{
    kb_text t = { 0 };
    char *p;

    for (const xmlNode *c = n->children; c != NULL; c = c->next)
        if (c->type == XML_TEXT_NODE && c->content != NULL)
            html_put_text(&t, (const char *)c->content);
    p = t.oom ? NULL : kb_clean_copy(dyn_str(&t.d), t.d.len, cap);
    text_free(&t);
    return p;
}

static kb_status
html_extract(const char *text, size_t len, kb_builder *b, char *err, size_t errlen)
{
    const int opts = HTML_PARSE_RECOVER | HTML_PARSE_NOERROR | HTML_PARSE_NOWARNING |
                     HTML_PARSE_NONET | HTML_PARSE_IGNORE_ENC;
    html_scan sc = { 0 };
    html_walk w = { 0 };
    kb_doc *doc = b->doc;
    xmlDoc *x;
    xmlNode *root;
    kb_status st = KB_OK;

    if (len > INT32_MAX) {
        kb_set_err(err, errlen, "document too large for the HTML parser");
        return KB_ETOOBIG;
    }
    x = htmlReadMemory(text, (int)len, NULL, "UTF-8", opts);
    if (x == NULL) {
        kb_set_err(err, errlen, "the HTML parser returned no document");
        return KB_EPARSE;
    }
    root = xmlDocGetRootElement(x);
    if (root == NULL)
        goto out; /* nothing at all: reported as empty by the caller */

    html_scan_doc(root, &sc);
    if (sc.oom) {
        b->oom = 1;
        goto out;
    }
    if (sc.title != NULL && (doc->title = html_node_text(sc.title, KB_TITLE_MAX)) == NULL) {
        b->oom = 1;
        goto out;
    }
    if (sc.canonical != NULL && strlen(sc.canonical) <= KB_URL_MAX) {
        doc->canonical_url = kb_clean_copy(sc.canonical, strlen(sc.canonical), 0);
        if (doc->canonical_url == NULL) {
            b->oom = 1;
            goto out;
        }
        if (doc->canonical_url[0] == '\0') {
            free(doc->canonical_url);
            doc->canonical_url = NULL;
        }
    }
    if (html_is(root, "html")) {
        const char *lang = html_attr(root, "lang");
        if (lang != NULL && lang_ok(lang) && (doc->lang = strdup(lang)) == NULL) {
            b->oom = 1;
            goto out;
        }
    }

    w.b = b;
    if (sc.main != NULL) {
        html_walk_tree(&w, sc.main);
    } else if (sc.narticles > 0) {
        for (size_t i = 0; i < sc.narticles; i++)
            html_walk_tree(&w, sc.articles[i]);
    } else {
        xmlNode *body = root;
        for (xmlNode *c = root->children; c != NULL; c = c->next)
            if (html_is(c, "body"))
                body = c;
        html_walk_tree(&w, body);
    }
out:
    if (b->oom) {
        kb_set_err(err, errlen, "out of memory extracting HTML");
        st = KB_ENOMEM;
    }
    free(w.anchor);
    text_free(&w.cur);
    free(sc.articles);
    xmlFreeDoc(x);
    return st;
}

/* ============================================================ Markdown */

/* ---------------------------------------------------------------- slugs */

/* Simple lowercase for Latin-1, Latin Extended-A, Greek and Cyrillic. */
static uint32_t
cp_lower(uint32_t cp)
{
    if (cp < 0x80)
        return cp >= 'A' && cp <= 'Z' ? cp + 32 : cp;
    if (cp >= 0xC0 && cp <= 0xDE && cp != 0xD7)
        return cp + 0x20;
    if (cp == 0x130)
        return 'i';
    if ((cp >= 0x100 && cp <= 0x137 && cp % 2 == 0) || (cp >= 0x139 && cp <= 0x148 && cp % 2 == 1) ||
        (cp >= 0x14A && cp <= 0x177 && cp % 2 == 0) || (cp >= 0x179 && cp <= 0x17E && cp % 2 == 1))
        return cp + 1;
    if (cp == 0x178)
        return 0xFF;
    if (cp >= 0x391 && cp <= 0x3A9 && cp != 0x3A2)
        return cp + 0x20;
    if (cp == 0x386)
        return 0x3AC;
    if (cp >= 0x388 && cp <= 0x38A)
        return cp + 0x25;
    if (cp == 0x38C)
        return 0x3CC;
    if (cp == 0x38E || cp == 0x38F)
        return cp + 0x3F;
    if (cp >= 0x410 && cp <= 0x42F)
        return cp + 0x20;
    if (cp >= 0x400 && cp <= 0x40F)
        return cp + 0x50;
    return cp;
}

/* Non-ASCII punctuation, symbols, emoji and format characters, which a
 * GitHub slug drops (it keeps letters, marks, numbers and '_'). */
static int
cp_slug_drop(uint32_t cp)
{
    if (cp >= 0x80 && cp <= 0xBF)
        return !(cp == 0xAA || cp == 0xB2 || cp == 0xB3 || cp == 0xB5 || cp == 0xB9 || cp == 0xBA ||
                 (cp >= 0xBC && cp <= 0xBE));
    return cp == 0xD7 || cp == 0xF7 || (cp >= 0x2000 && cp <= 0x2BFF) || (cp >= 0x2E00 && cp <= 0x2E7F) ||
           (cp >= 0x3000 && cp <= 0x303F) || (cp >= 0xFE00 && cp <= 0xFE1F) ||
           (cp >= 0xFE30 && cp <= 0xFE6F) || cp == 0xFEFF || (cp >= 0xFF01 && cp <= 0xFF0F) ||
           (cp >= 0xFF1A && cp <= 0xFF20) || (cp >= 0xFF3B && cp <= 0xFF40) ||
           (cp >= 0xFF5B && cp <= 0xFF65) || cp >= 0xFFF0 || (cp >= 0x1F000 && cp <= 0x1FAFF) ||
           (cp >= 0xE0000 && cp <= 0xE007F);
}

/* GitHub-style slug of normalised heading text into t (cut at
 * KB_ANCHOR_MAX bytes). */
static void
slug_base(const char *s, kb_text *t)
{
    size_t n = strlen(s);

    text_clear(t);
    for (size_t i = 0; i < n && t->d.len < KB_ANCHOR_MAX;) {
        uint32_t cp;
        size_t k = utf8_decode(s + i, n - i, &cp);
        char b[4];

        i += k;
        if (cp == UTF8_BAD)
            continue;
        if (cp < 0x80) {
            if (cp == ' ' || cp == '-')
                text_raw(t, "-", 1);
            else if (cp == '_' || (cp >= '0' && cp <= '9') || (cp >= 'a' && cp <= 'z') ||
                     (cp >= 'A' && cp <= 'Z'))
                text_raw(t, (char[]){ (char)cp_lower(cp) }, 1);
            continue;
        }
        if (cp_slug_drop(cp) || cp_is_invisible(cp))
            continue;
        text_raw(t, b, utf8_encode(cp_lower(cp), b));
    }
    if (!t->oom)
        dyn_truncate(&t->d, utf8_truncate(dyn_str(&t->d), t->d.len, KB_ANCHOR_MAX));
}

/*
 * The slugs used so far in one document, with the github-slugger rule for
 * repeats: "a", then "a-1", "a-2"... skipping any already taken.  Open
 * addressing, at most half full.
 */
typedef struct {
    char *key;
    unsigned count;
} slug_entry;

typedef struct {
    slug_entry *tab;
    size_t cap;
    size_t used;
} slug_set;

static uint64_t
slug_hash(const char *s)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */

    for (; *s != '\0'; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ull;
    }
    return h;
}

static slug_entry *
slug_find(slug_set *ss, const char *key)
{
    size_t i;

    if (ss->cap == 0)
        return NULL;
    for (i = slug_hash(key) & (ss->cap - 1); ss->tab[i].key != NULL; i = (i + 1) & (ss->cap - 1))
        if (strcmp(ss->tab[i].key, key) == 0)
            return &ss->tab[i];
    return NULL;
}

/* Insert key (taken over on success; must not be present). */
static int
slug_insert(slug_set *ss, char *key)
{
    size_t i;

    if ((ss->used + 1) * 2 > ss->cap) {
        size_t cap = ss->cap ? ss->cap * 2 : 64;
        slug_entry *tab = calloc(cap, sizeof *tab);
        if (tab == NULL)
            return -1;
        for (size_t j = 0; j < ss->cap; j++) {
            if (ss->tab[j].key == NULL)
                continue;
            for (i = slug_hash(ss->tab[j].key) & (cap - 1); tab[i].key != NULL; i = (i + 1) & (cap - 1))
                ;
            tab[i] = ss->tab[j];
        }
        free(ss->tab);
        ss->tab = tab;
        ss->cap = cap;
    }
    for (i = slug_hash(key) & (ss->cap - 1); ss->tab[i].key != NULL; i = (i + 1) & (ss->cap - 1))
        ;
    ss->tab[i].key = key;
    ss->tab[i].count = 0;
    ss->used++;
    return 0;
}

static void
slug_set_free(slug_set *ss)
{
    for (size_t i = 0; i < ss->cap; i++)
        free(ss->tab[i].key);
    free(ss->tab);
    memset(ss, 0, sizeof *ss);
}

/* Unique slug for heading text, malloc'd; "" (not registered) when the
 * text has no letters or digits; NULL on OOM. */
static char *
slug_unique(slug_set *ss, const char *heading)
{
    kb_text t = { 0 };
    char *base, *key, *res;

    slug_base(heading, &t);
    base = text_take(&t);
    text_free(&t);
    if (base == NULL)
        return NULL;
    if (base[0] == '\0')
        return base;
    key = strdup(base);
    while (key != NULL && slug_find(ss, key) != NULL) {
        slug_entry *orig = slug_find(ss, base);
        size_t n = strlen(base) + 16;

        free(key);
        key = malloc(n);
        if (key != NULL)
            snprintf(key, n, "%s-%u", base, ++orig->count);
    }
    free(base);
    if (key == NULL)
        return NULL;
    res = strdup(key);
    if (res == NULL || slug_insert(ss, key) != 0) {
        free(res);
        free(key);
        return NULL;
    }
    return res;
}

/* -------------------------------------------------------------- inlines */

typedef struct {
    kb_text *out;
    size_t budget; /* bytes the forward scans may still look at */
} md_inline_ctx;

static int
md_is_punct(unsigned char c)
{
    return c < 0x80 && c > 0x20 && c != 0x7F && !(c >= '0' && c <= '9') && !(c >= 'a' && c <= 'z') &&
           !(c >= 'A' && c <= 'Z');
}

/* Take one step of scan budget; 0 when it is spent. */
static int
md_spend(md_inline_ctx *cx)
{
    if (cx->budget == 0)
        return 0;
    cx->budget--;
    return 1;
}

/* Closing bracket matching s[i] == '[', or 0. */
static size_t
md_match_bracket(md_inline_ctx *cx, const char *s, size_t n, size_t i)
{
    int depth = 0;

    for (size_t j = i; j < n && md_spend(cx); j++) {
        if (s[j] == '\\' && j + 1 < n) {
            j++;
        } else if (s[j] == '[') {
            depth++;
        } else if (s[j] == ']' && --depth == 0) {
            return j;
        }
    }
    return 0;
}

/* Closing parenthesis matching s[i] == '(', or 0. */
static size_t
md_match_paren(md_inline_ctx *cx, const char *s, size_t n, size_t i)
{
    int depth = 0;

    for (size_t j = i; j < n && md_spend(cx); j++) {
        if (s[j] == '\\' && j + 1 < n) {
            j++;
        } else if (s[j] == '(') {
            depth++;
        } else if (s[j] == ')' && --depth == 0) {
            return j;
        }
    }
    return 0;
}

/* &name; &#123; &#x1F; at s[i]: put the character and return the length
 * consumed, or 0 when it is not an entity. */
static size_t
md_entity(md_inline_ctx *cx, const char *s, size_t n, size_t i)
{
    char name[40];
    size_t j = i + 1, k = 0;

    if (j < n && s[j] == '#') {
        int hex = j + 1 < n && (s[j + 1] == 'x' || s[j + 1] == 'X');
        uint32_t v = 0;
        size_t digits = 0;

        for (j += hex ? 2 : 1; j < n && digits < 8; j++, digits++) {
            unsigned char c = (unsigned char)s[j];
            int d = c >= '0' && c <= '9'               ? c - '0'
                    : hex && c >= 'a' && c <= 'f'      ? c - 'a' + 10
                    : hex && c >= 'A' && c <= 'F'      ? c - 'A' + 10
                                                       : -1;
            if (d < 0)
                break;
            v = v * (hex ? 16 : 10) + (uint32_t)d;
        }
        if (digits == 0 || j >= n || s[j] != ';')
            return 0;
        text_put_cp(cx->out, v > 0x10FFFF ? 0xFFFD : v);
        return j + 1 - i;
    }
    while (j < n && k + 1 < sizeof name &&
           ((s[j] >= 'a' && s[j] <= 'z') || (s[j] >= 'A' && s[j] <= 'Z') || (s[j] >= '0' && s[j] <= '9')))
        name[k++] = s[j++];
    name[k] = '\0';
    if (k == 0 || j >= n || s[j] != ';')
        return 0;
    {
        const htmlEntityDesc *e = htmlEntityLookup((const xmlChar *)name);
        if (e == NULL)
            return 0;
        text_put_cp(cx->out, e->value);
    }
    return j + 1 - i;
}

/* <...> at s[i]: autolink (text kept), HTML tag or comment (dropped).
 * Returns the length consumed, or 0 for a literal '<'. */
static size_t
md_angle(md_inline_ctx *cx, const char *s, size_t n, size_t i)
{
    size_t j = i + 1, end, name;

    if (j + 2 < n && strncmp(s + j, "!--", 3) == 0) {
        for (end = j + 3; end + 2 < n && md_spend(cx); end++)
            if (strncmp(s + end, "-->", 3) == 0)
                return end + 3 - i;
        return 0;
    }
    for (end = j; end < n && md_spend(cx) && s[end] != '>' && s[end] != '<' && s[end] != ' '; end++)
        ;
    if (end < n && s[end] == '>' && end > j) {
        const char *colon = memchr(s + j, ':', end - j);
        const char *at = memchr(s + j, '@', end - j);
        if ((colon != NULL && colon > s + j && (s[j] | 0x20) >= 'a' && (s[j] | 0x20) <= 'z') ||
            (at != NULL && at > s + j)) {
            text_put(cx->out, s + j, end - j);
            return end + 1 - i;
        }
    }
    /* A tag: '<' or '</' then a letter, then name characters. */
    if (j < n && s[j] == '/')
        j++;
    name = j;
    if (j >= n || !((s[j] >= 'a' && s[j] <= 'z') || (s[j] >= 'A' && s[j] <= 'Z')))
        return 0;
    while (j < n && ((s[j] >= 'a' && s[j] <= 'z') || (s[j] >= 'A' && s[j] <= 'Z') ||
                     (s[j] >= '0' && s[j] <= '9') || s[j] == '-'))
        j++;
    if (j >= n || !(s[j] == '>' || s[j] == '/' || kb_is_space((unsigned char)s[j])))
        return 0;
    for (end = j; end < n && md_spend(cx) && s[end] != '>' && s[end] != '<'; end++)
        ;
    if (end >= n || s[end] != '>')
        return 0;
    /* Tags that break lines or blocks separate words; inline ones do not. */
    {
        char tag[12];
        size_t tl = j - name < sizeof tag - 1 ? j - name : sizeof tag - 1;
        static const char *const breaks[] = { "br", "p", "div", "li", "tr", "td", "th", "dt", "dd",
                                              "hr", "summary", "details", "h1", "h2", "h3", "h4",
                                              "h5", "h6", "table", "ul", "ol", NULL };
        for (size_t k = 0; k < tl; k++)
            tag[k] = (char)(s[name + k] | 0x20);
        tag[tl] = '\0';
        for (size_t k = 0; breaks[k] != NULL; k++)
            if (strcmp(tag, breaks[k]) == 0)
                text_space(cx->out);
    }
    return end + 1 - i;
}

static void md_inline(md_inline_ctx *cx, const char *s, size_t n, int depth);

/* Bytes that may start inline markup. */
static const unsigned char md_special[256] = {
    ['\\'] = 1, ['`'] = 1, ['!'] = 1, ['['] = 1, ['<'] = 1, ['&'] = 1, ['*'] = 1, ['_'] = 1, ['~'] = 1,
};

/* [text](url), [text][ref], ![alt](src) at s[i] == '['. */
static size_t
md_link(md_inline_ctx *cx, const char *s, size_t n, size_t i, int depth)
{
    size_t close, end;

    if (depth >= 4)
        return 0;
    close = md_match_bracket(cx, s, n, i);
    if (close == 0 || close + 1 >= n)
        return 0;
    if (s[close + 1] == '(') {
        end = md_match_paren(cx, s, n, close + 1);
    } else if (s[close + 1] == '[') {
        end = md_match_bracket(cx, s, n, close + 1);
    } else {
        return 0;
    }
    if (end == 0)
        return 0;
    md_inline(cx, s + i + 1, close - i - 1, depth + 1);
    return end + 1 - i;
}

/* A run of '*', '_' or '~' that delimits emphasis (CommonMark flanking
 * rules, simplified: no pairing), and is therefore dropped. */
static int
md_is_delim(const char *s, size_t n, size_t i, size_t run)
{
    unsigned char c = (unsigned char)s[i];
    unsigned char prev = i > 0 ? (unsigned char)s[i - 1] : ' ';
    unsigned char next = i + run < n ? (unsigned char)s[i + run] : ' ';
    int prev_sp = kb_is_space(prev), next_sp = kb_is_space(next);
    int prev_p = md_is_punct(prev), next_p = md_is_punct(next);
    int left = !next_sp && (!next_p || prev_sp || prev_p);
    int right = !prev_sp && (!prev_p || next_sp || next_p);

    if (c == '*')
        return left || right;
    if (c == '_')
        return (left && (!right || prev_p)) || (right && (!left || next_p));
    return run == 2 && (left || right); /* "~~" strikethrough */
}

static void
md_inline(md_inline_ctx *cx, const char *s, size_t n, int depth)
{
    size_t i = 0;

    while (i < n && !cx->out->oom) {
        unsigned char c = (unsigned char)s[i];
        size_t used = 0, run;

        switch (c) {
        case '\\':
            if (i + 1 < n && md_is_punct((unsigned char)s[i + 1])) {
                text_put(cx->out, s + i + 1, 1);
                used = 2;
            }
            break;
        case '`':
            for (run = 1; i + run < n && s[i + run] == '`'; run++)
                ;
            for (size_t j = i + run; j < n && md_spend(cx); j++) {
                size_t r;
                if (s[j] != '`')
                    continue;
                for (r = 1; j + r < n && s[j + r] == '`'; r++)
                    ;
                if (r == run) {
                    text_put(cx->out, s + i + run, j - i - run);
                    used = j + r - i;
                    break;
                }
                j += r - 1;
            }
            if (used == 0) {
                text_put(cx->out, s + i, run); /* no closing run: literal */
                used = run;
            }
            break;
        case '!':
            if (i + 1 < n && s[i + 1] == '[' && (used = md_link(cx, s, n, i + 1, depth)) > 0)
                used++;
            break;
        case '[':
            used = md_link(cx, s, n, i, depth);
            break;
        case '<':
            used = md_angle(cx, s, n, i);
            break;
        case '&':
            used = md_entity(cx, s, n, i);
            break;
        case '*':
        case '_':
        case '~':
            for (run = 1; i + run < n && s[i + run] == (char)c; run++)
                ;
            if (!md_is_delim(s, n, i, run))
                text_put(cx->out, s + i, run);
            used = run;
            break;
        default: {
            size_t j = i;
            while (j < n && !md_special[(unsigned char)s[j]])
                j++;
            text_put(cx->out, s + i, j - i);
            used = j - i;
            break;
        }
        }
        if (used == 0) {
            text_put(cx->out, s + i, 1); /* a literal special character */
            used = 1;
        }
        i += used;
    }
}

/* Clean raw Markdown inline text into out. */
static void
md_clean(const char *s, size_t n, kb_text *out)
{
    md_inline_ctx cx = { out, 4 * n + 4096 };

    md_inline(&cx, s, n, 0);
}

/* --------------------------------------------------------------- blocks */

typedef enum { MD_NONE, MD_PARA, MD_ITEM } md_kind;

typedef struct {
    kb_builder *b;
    kb_text raw;        /* raw Markdown of the open paragraph or item */
    kb_text out;        /* cleaned text being built */
    kb_text scratch;
    md_kind kind;
    char marker[16];    /* "-" or "3." for an item */
    char fence;         /* '`' or '~' inside a fenced code block, else 0 */
    size_t fence_len;
    int in_comment;
    int in_table;
    slug_set slugs;
    char *fm_title;
} md_state;

static void
md_flush(md_state *st)
{
    if (st->kind != MD_NONE && st->raw.d.len > 0) {
        text_clear(&st->out);
        if (st->kind == MD_ITEM) {
            text_raw(&st->out, st->marker, strlen(st->marker));
            text_space(&st->out);
        }
        md_clean(st->raw.d.data, st->raw.d.len, &st->out);
        if (st->kind == MD_ITEM && st->out.d.len == strlen(st->marker))
            text_clear(&st->out);
        doc_add(st->b, 0, &st->out, NULL);
    }
    text_clear(&st->raw);
    st->kind = MD_NONE;
    if (st->raw.oom || st->out.oom)
        st->b->oom = 1;
}

static void
md_heading(md_state *st, int level, const char *s, size_t n)
{
    char *slug;

    text_clear(&st->out);
    md_clean(s, n, &st->out);
    if (st->out.oom || st->out.d.len == 0)
        return;
    slug = slug_unique(&st->slugs, st->out.d.data);
    if (slug == NULL) {
        st->b->oom = 1;
        return;
    }
    doc_add(st->b, level, &st->out, slug);
    free(slug);
}

/* Line made of one repeated character c (at least min times) with blanks
 * around it, and between the characters too when spaced is set. */
static int
md_rule_of(const char *s, size_t n, char c, size_t min, int spaced)
{
    size_t count = 0, i = 0;

    while (i < n && kb_is_space((unsigned char)s[i]))
        i++;
    while (i < n) {
        if (s[i] == c) {
            count++;
            i++;
            continue;
        }
        if (!kb_is_space((unsigned char)s[i]))
            return 0;
        if (!spaced) {
            while (i < n && kb_is_space((unsigned char)s[i]))
                i++;
            return i == n && count >= min;
        }
        i++;
    }
    return count >= min;
}

static int
md_thematic_break(const char *s, size_t n)
{
    return md_rule_of(s, n, '-', 3, 1) || md_rule_of(s, n, '*', 3, 1) || md_rule_of(s, n, '_', 3, 1);
}

/* GFM table delimiter row: |, -, :, blanks only, with a '-' and a '|'. */
static int
md_table_delim(const char *s, size_t n)
{
    int dash = 0, pipe = 0;

    for (size_t i = 0; i < n; i++) {
        if (s[i] == '-')
            dash = 1;
        else if (s[i] == '|')
            pipe = 1;
        else if (s[i] != ':' && !kb_is_space((unsigned char)s[i]))
            return 0;
    }
    return dash && pipe;
}

/* One table row: cells split on unescaped '|', cleaned, empty ones
 * dropped, joined with " | ". */
static void
md_table_row(md_state *st, const char *s, size_t n)
{
    size_t start = 0;

    text_clear(&st->out);
    for (size_t i = 0; i <= n; i++) {
        if (i < n && s[i] == '\\' && i + 1 < n) {
            i++;
            continue;
        }
        if (i < n && s[i] != '|')
            continue;
        text_sep(&st->out, " | ");
        md_clean(s + start, i - start, &st->out);
        start = i + 1;
    }
    doc_add(st->b, 0, &st->out, NULL);
}

/* List marker at s: "-", "*", "+" or 1-9 digits and "." or ")", followed
 * by a blank or the end.  Returns the marker length, 0 if none. */
static size_t
md_list_marker(const char *s, size_t n)
{
    size_t i = 0;

    if (n >= 1 && (s[0] == '-' || s[0] == '*' || s[0] == '+'))
        i = 1;
    else {
        while (i < n && i < 9 && s[i] >= '0' && s[i] <= '9')
            i++;
        if (i == 0 || i >= n || (s[i] != '.' && s[i] != ')'))
            return 0;
        i++;
    }
    return i == n || s[i] == ' ' || s[i] == '\t' ? i : 0;
}

/* Remove HTML comments (which may span lines) from a line into scratch. */
static void
md_strip_comments(md_state *st, const char *s, size_t n)
{
    size_t i = 0;

    text_clear(&st->scratch);
    while (i < n) {
        if (st->in_comment) {
            const char *end = memmem(s + i, n - i, "-->", 3);
            if (end == NULL)
                return;
            i = (size_t)(end - s) + 3;
            st->in_comment = 0;
            continue;
        }
        const char *open = memmem(s + i, n - i, "<!--", 4);
        size_t stop = open != NULL ? (size_t)(open - s) : n;
        text_raw(&st->scratch, s + i, stop - i);
        if (open == NULL)
            return;
        i = stop + 4;
        st->in_comment = 1;
    }
}

static int
md_blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!kb_is_space((unsigned char)s[i]))
            return 0;
    return 1;
}

/* Next line of s[pos..n): sets *len (without '\n') and returns its start. */
static const char *
md_line(const char *s, size_t n, size_t *pos, size_t *len)
{
    const char *start = s + *pos;
    const char *nl = memchr(start, '\n', n - *pos);
    size_t l = nl != NULL ? (size_t)(nl - start) : n - *pos;

    *len = l;
    *pos += l + (nl != NULL);
    return start;
}

/* YAML front matter: "---" first line up to "---" or "...".  Returns the
 * offset after it (0 when there is none) and picks up "title:". */
static size_t
md_front_matter(md_state *st, const char *s, size_t n)
{
    size_t pos = 0, ll;
    const char *line = md_line(s, n, &pos, &ll);

    if (ll < 3 || strncmp(line, "---", 3) != 0 || !md_blank(line + 3, ll - 3))
        return 0;
    while (pos < n) {
        line = md_line(s, n, &pos, &ll);
        if (ll >= 3 && (strncmp(line, "---", 3) == 0 || strncmp(line, "...", 3) == 0) &&
            md_blank(line + 3, ll - 3))
            return pos;
        if (st->fm_title == NULL && ll > 6 && strncmp(line, "title:", 6) == 0) {
            const char *v = line + 6, *ve = line + ll;
            while (v < ve && kb_is_space((unsigned char)*v))
                v++;
            while (ve > v && kb_is_space((unsigned char)ve[-1]))
                ve--;
            if (ve - v >= 2 && (*v == '"' || *v == '\'') && ve[-1] == *v) {
                v++;
                ve--;
            }
            st->fm_title = kb_clean_copy(v, (size_t)(ve - v), KB_TITLE_MAX);
            if (st->fm_title == NULL)
                st->b->oom = 1;
        }
    }
    free(st->fm_title); /* never closed: not front matter */
    st->fm_title = NULL;
    return 0;
}

static void
md_line_block(md_state *st, const char *line, size_t len, const char *next, size_t nlen)
{
    size_t col = 0, i = 0, m;
    const char *s;

    /* Block quotes: markers are dropped, the content read as usual. */
    for (;;) {
        while (i < len && (line[i] == ' ' || line[i] == '\t'))
            i++;
        if (i < len && line[i] == '>')
            i++;
        else
            break;
    }
    for (size_t k = 0; k < i; k++)
        col += line[k] == '\t' ? 4 - col % 4 : 1;
    s = line + i;
    len -= i;
    if (md_blank(s, len)) {
        md_flush(st);
        st->in_table = 0;
        return;
    }
    if ((len >= 3 && (strncmp(s, "```", 3) == 0 || strncmp(s, "~~~", 3) == 0)) &&
        (col < 4 || st->kind == MD_ITEM)) {
        size_t fl = 0;
        while (fl < len && s[fl] == s[0])
            fl++;
        if (s[0] != '`' || memchr(s + fl, '`', len - fl) == NULL) {
            md_flush(st);
            text_clear(&st->out);
            st->fence = s[0];
            st->fence_len = fl;
            return;
        }
    }
    if (col < 4 && s[0] == '#') {
        size_t h = 0;
        while (h < len && s[h] == '#')
            h++;
        if (h <= 6 && (h == len || s[h] == ' ' || s[h] == '\t')) {
            size_t e = len;
            md_flush(st);
            st->in_table = 0;
            /* Drop a closing "###" run that follows a blank. */
            while (e > h && kb_is_space((unsigned char)s[e - 1]))
                e--;
            {
                size_t c = e;
                while (c > h && s[c - 1] == '#')
                    c--;
                if (c == h || kb_is_space((unsigned char)s[c - 1]))
                    e = c;
            }
            md_heading(st, (int)h, s + h, e - h);
            return;
        }
    }
    if (col < 4 && st->kind == MD_PARA && st->raw.d.len > 0 &&
        (md_rule_of(s, len, '=', 1, 0) || md_rule_of(s, len, '-', 1, 0))) {
        int level = s[0] == '=' ? 1 : 2;
        text_clear(&st->out);
        md_heading(st, level, st->raw.d.data, st->raw.d.len);
        text_clear(&st->raw);
        st->kind = MD_NONE;
        return;
    }
    if (col < 4 && md_thematic_break(s, len)) {
        md_flush(st);
        return;
    }
    if (memchr(s, '|', len) != NULL &&
        (st->in_table || (next != NULL && md_table_delim(next, nlen)))) {
        if (!st->in_table)
            md_flush(st);
        st->in_table = 1;
        if (!md_table_delim(s, len))
            md_table_row(st, s, len);
        return;
    }
    st->in_table = 0;
    if (col < 4 && st->kind == MD_NONE && s[0] == '[') {
        const char *rb = memchr(s, ']', len);
        if (rb != NULL && rb + 1 < s + len && rb[1] == ':')
            return; /* link reference definition */
    }
    if ((m = md_list_marker(s, len)) > 0) {
        md_flush(st);
        st->kind = MD_ITEM;
        if (s[0] >= '0' && s[0] <= '9')
            snprintf(st->marker, sizeof st->marker, "%.*s.", (int)(m - 1), s);
        else
            snprintf(st->marker, sizeof st->marker, "-");
        s += m;
        len -= m;
    } else if (st->kind == MD_NONE) {
        st->kind = MD_PARA;
    }
    /* A trailing backslash is a hard line break: just a space here. */
    if (len > 0 && s[len - 1] == '\\')
        len--;
    text_space(&st->raw);
    text_put(&st->raw, s, len);
}

static kb_status
md_extract(const char *text, size_t len, kb_builder *b, char *err, size_t errlen)
{
    md_state st = { 0 };
    size_t pos;

    st.b = b;
    pos = md_front_matter(&st, text, len);
    while (pos < len && !b->oom) {
        size_t ll, nl = 0, npos;
        int was_in_comment;
        const char *line = md_line(text, len, &pos, &ll), *next = NULL;

        if (st.fence) {
            size_t i = 0, f = 0;
            while (i < ll && (line[i] == ' ' || line[i] == '\t'))
                i++;
            while (i + f < ll && line[i + f] == st.fence)
                f++;
            if (f >= st.fence_len && md_blank(line + i + f, ll - i - f)) {
                doc_add(b, 0, &st.out, NULL);
                st.fence = 0;
            } else {
                text_space(&st.out);
                text_put(&st.out, line, ll);
            }
            continue;
        }
        was_in_comment = st.in_comment;
        md_strip_comments(&st, line, ll);
        if (md_blank(dyn_str(&st.scratch.d), st.scratch.d.len) &&
            (was_in_comment || !md_blank(line, ll)))
            continue; /* comment only: not a paragraph break */
        if (pos < len) {
            npos = pos;
            next = md_line(text, len, &npos, &nl);
        }
        md_line_block(&st, dyn_str(&st.scratch.d), st.scratch.d.len, next, nl);
        if (st.out.oom || st.raw.oom || st.scratch.oom)
            b->oom = 1;
    }
    if (st.fence)
        doc_add(b, 0, &st.out, NULL); /* unclosed fence: code to the end */
    md_flush(&st);

    if (st.fm_title != NULL && st.fm_title[0] != '\0') {
        b->doc->title = st.fm_title;
        st.fm_title = NULL;
    }
    free(st.fm_title);
    text_free(&st.raw);
    text_free(&st.out);
    text_free(&st.scratch);
    slug_set_free(&st.slugs);
    if (b->oom) {
        kb_set_err(err, errlen, "out of memory extracting Markdown");
        return KB_ENOMEM;
    }
    return KB_OK;
}

/* ========================================================== plain text */

/* "=====", "-----", "*****" ... (three or more, blanks around). */
static int
text_rule_char(const char *s, size_t n)
{
    static const char rules[] = "=-*_~#+";

    for (const char *r = rules; *r != '\0'; r++)
        if (md_rule_of(s, n, *r, 3, 0))
            return *r;
    return 0;
}

/* A short line in capitals ("CONTACT", "2. FEES") reads as a heading. */
static int
text_caps_heading(const char *s, size_t n)
{
    size_t upper = 0;

    if (n == 0 || n > KB_CAPS_HEAD_MAX || s[n - 1] == '.' || s[n - 1] == ',')
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] >= 'a' && s[i] <= 'z')
            return 0;
        if (s[i] >= 'A' && s[i] <= 'Z')
            upper++;
    }
    return upper >= 2;
}

static int
text_bullet(const char *s, size_t n)
{
    size_t i = 0;

    while (i < n && (s[i] == ' ' || s[i] == '\t'))
        i++;
    if (n - i >= 4 && strncmp(s + i, "\xE2\x80\xA2 ", 4) == 0) /* "• " */
        return 1;
    return md_list_marker(s + i, n - i) > 0;
}

typedef struct {
    kb_builder *b;
    kb_text cur;
    size_t lines;       /* lines in cur */
    size_t para_lines;  /* lines since the last blank line */
} text_state;

static void
text_flush(text_state *ts, int maybe_heading)
{
    int level = 0;

    if (maybe_heading && ts->lines == 1 && ts->para_lines == 1 && text_caps_heading(ts->cur.d.data, ts->cur.d.len))
        level = 2;
    doc_add(ts->b, level, &ts->cur, NULL);
    ts->lines = 0;
}

static kb_status
text_extract(const char *text, size_t len, kb_builder *b, char *err, size_t errlen)
{
    text_state ts = { 0 };
    size_t pos = 0;

    ts.b = b;
    while (pos < len && !b->oom) {
        size_t ll;
        const char *line = md_line(text, len, &pos, &ll);
        int rule;

        if (md_blank(line, ll)) {
            text_flush(&ts, 1);
            ts.para_lines = 0;
            continue;
        }
        if (b->doc->title == NULL && !text_rule_char(line, ll)) {
            b->doc->title = kb_clean_copy(line, ll, KB_TITLE_MAX);
            if (b->doc->title == NULL)
                b->oom = 1;
        }
        if ((rule = text_rule_char(line, ll)) != 0) {
            if (ts.lines == 1 && ts.para_lines == 1)
                doc_add(b, rule == '=' ? 1 : 2, &ts.cur, NULL);
            else
                text_flush(&ts, 0);
            ts.lines = 0;
            ts.para_lines = 0; /* what follows is a new paragraph */
            continue;
        }
        if (ts.lines > 0 && text_bullet(line, ll))
            text_flush(&ts, 0);
        text_space(&ts.cur);
        text_put(&ts.cur, line, ll);
        ts.lines++;
        ts.para_lines++;
    }
    text_flush(&ts, 1);
    if (ts.cur.oom)
        b->oom = 1;
    text_free(&ts.cur);
    if (b->oom) {
        kb_set_err(err, errlen, "out of memory extracting text");
        return KB_ENOMEM;
    }
    return KB_OK;
}

/* ========================================================== public API */

/* Title fallback: first h1, else first heading. */
static int
doc_title_fallback(kb_doc *doc)
{
    const kb_block *pick = NULL;

    for (size_t i = 0; i < doc->nblocks && (pick == NULL || pick->level != 1); i++)
        if (doc->blocks[i].level == 1 || (pick == NULL && doc->blocks[i].level > 0))
            pick = &doc->blocks[i];
    free(doc->title);
    doc->title = kb_clean_copy(pick != NULL ? pick->text : "", pick != NULL ? strlen(pick->text) : 0,
                               KB_TITLE_MAX);
    return doc->title != NULL ? 0 : -1;
}

kb_status
kb_extract(const char *data, size_t len, kb_format fmt, const char *charset, kb_doc *out, char *err,
           size_t errlen)
{
    kb_builder b = { out, 0, 0 };
    kb_status st;
    char *text = NULL;
    size_t tlen = 0;

    memset(out, 0, sizeof *out);
    kb_set_err(err, errlen, "%s", "");
    if (len > KB_DOC_MAX_BYTES) {
        kb_set_err(err, errlen, "document is %zu bytes, more than the %u byte limit", len,
                   KB_DOC_MAX_BYTES);
        return KB_ETOOBIG;
    }
    if (data == NULL || len == 0) {
        kb_set_err(err, errlen, "document is empty");
        return KB_EEMPTY;
    }
    st = kb_decode(data, len, fmt, charset, &text, &tlen, err, errlen);
    if (st != KB_OK)
        return st;

    switch (fmt) {
    case KB_FMT_HTML:
        xmlInitParser();
        st = html_extract(text, tlen, &b, err, errlen);
        break;
    case KB_FMT_MARKDOWN:
        st = md_extract(text, tlen, &b, err, errlen);
        break;
    default:
        st = text_extract(text, tlen, &b, err, errlen);
        break;
    }
    free(text);
    if (st == KB_OK && out->nblocks == 0) {
        kb_set_err(err, errlen, "no text found (only markup or page chrome)");
        st = KB_EEMPTY;
    }
    if (st == KB_OK && (out->title == NULL || out->title[0] == '\0') && doc_title_fallback(out) != 0) {
        kb_set_err(err, errlen, "out of memory");
        st = KB_ENOMEM;
    }
    if (st != KB_OK)
        kb_doc_free(out);
    return st;
}
