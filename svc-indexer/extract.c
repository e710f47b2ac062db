/*
 * extract.c - page to clean structured text (see extract.h): the format
 * guess, the binary sniff, and kb_extract, which checks the size, decodes
 * to UTF-8 (extract_charset.c) and hands the text to one parser per format
 * (extract_html.c, extract_md.c, extract_plain.c), all of which fill a
 * kb_doc through the same normaliser (extract_text.c).
 */
#include "extract_int.h"

#include <libxml/parser.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "utf8.h"

void kb_set_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

void kb_doc_free(kb_doc *doc)
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

const char *kb_status_name(kb_status st)
{
    switch (st) {
    case KB_OK:
        return "ok";
    case KB_EEMPTY:
        return "empty";
    case KB_ETOOBIG:
        return "too big";
    case KB_EBINARY:
        return "binary";
    case KB_EPARSE:
        return "parse error";
    case KB_ENOMEM:
        return "out of memory";
    }
    return "unknown";
}

/* ------------------------------------------------------------- formats */

static const char *kb_ext(const char *path, size_t n, size_t *elen)
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

static int kb_ext_in(const char *ext, size_t elen, const char *const *list)
{
    for (size_t i = 0; list[i] != NULL; i++)
        if (strlen(list[i]) == elen && strncasecmp(ext, list[i], elen) == 0)
            return 1;
    return 0;
}

kb_format kb_format_from_name(const char *path_or_url, const char *content_type)
{
    static const char *const html_ext[] = {"html", "htm", "xhtml", "shtml", "php", "asp", "aspx", "jsp", NULL};
    static const char *const md_ext[] = {"md", "markdown", "mdown", "mkd", "mdx", NULL};
    static const char *const text_ext[] = {"txt", "text", NULL};
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

int kb_looks_binary(const char *data, size_t len)
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

/* ========================================================== public API */

/* Title fallback: first h1, else first heading. */
static int doc_title_fallback(kb_doc *doc)
{
    const kb_block *pick = NULL;

    for (size_t i = 0; i < doc->nblocks && (pick == NULL || pick->level != 1); i++)
        if (doc->blocks[i].level == 1 || (pick == NULL && doc->blocks[i].level > 0))
            pick = &doc->blocks[i];
    free(doc->title);
    doc->title = kb_clean_copy(pick != NULL ? pick->text : "", pick != NULL ? strlen(pick->text) : 0, KB_TITLE_MAX);
    return doc->title != NULL ? 0 : -1;
}

kb_status kb_extract(const char *data, size_t len, kb_format fmt, const char *charset, kb_doc *out, char *err,
                     size_t errlen)
{
    kb_builder b = {out, 0, 0};
    kb_status st;
    char *text = NULL;
    size_t tlen = 0;

    memset(out, 0, sizeof *out);
    kb_set_err(err, errlen, "%s", "");
    if (len > KB_DOC_MAX_BYTES) {
        kb_set_err(err, errlen, "document is %zu bytes, more than the %u byte limit", len, KB_DOC_MAX_BYTES);
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
        st = kb_html_extract(text, tlen, &b, err, errlen);
        break;
    case KB_FMT_MARKDOWN:
        st = kb_md_extract(text, tlen, &b, err, errlen);
        break;
    default:
        st = kb_plain_extract(text, tlen, &b, err, errlen);
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
