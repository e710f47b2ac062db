/*
 * extract_int.h - what the files of the extractor share (svc-indexer only;
 * the public interface is extract.h).
 *
 *   extract.c          kb_extract, format guess, binary sniff, kb_doc_free
 *   extract_text.c     kb_text, the normaliser, and kb_builder, the blocks
 *   extract_charset.c  bytes in any supported charset to UTF-8
 *   extract_html.c     HTML (libxml2) to blocks
 *   extract_md.c       Markdown to blocks
 *   extract_slug.c     GitHub-style heading slugs
 *   extract_plain.c    plain text to blocks
 *
 * Owns: a kb_text owns its dynbuf (kb_text_free); a kb_builder fills the
 * caller's kb_doc; a kb_slug_set owns its keys (kb_slug_set_free).  Nothing
 * here keeps state between calls: thread-safe as extract.h says.
 */
#ifndef KB_EXTRACT_INT_H
#define KB_EXTRACT_INT_H

#include <stddef.h>
#include <stdint.h>

#include "dynbuf.h"
#include "extract.h"

#define KB_ANCHOR_MAX 256 /* longer ids/slugs are dropped/cut */

static inline int kb_is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/* printf into err[0..errlen) (nothing when err is NULL or errlen 0). */
void kb_set_err(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

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

/* The blocks of the document being extracted. */
typedef struct {
    kb_doc *doc;
    size_t cap;
    int oom;
} kb_builder;

/*
 * The slugs used so far in one document, with the github-slugger rule for
 * repeats: "a", then "a-1", "a-2"... skipping any already taken.  Open
 * addressing, at most half full.
 */
typedef struct {
    char *key;
    unsigned count;
} kb_slug_entry;

typedef struct {
    kb_slug_entry *tab;
    size_t cap;
    size_t used;
} kb_slug_set;

/* ---------------------------------------------------- extract_text.c */

void kb_text_raw(kb_text *t, const char *s, size_t n);
void kb_text_space(kb_text *t);
void kb_text_sep(kb_text *t, const char *sep);
int kb_cp_is_invisible(uint32_t cp);
void kb_text_put(kb_text *t, const char *s, size_t n);
void kb_text_puts(kb_text *t, const char *s);
void kb_text_put_cp(kb_text *t, uint32_t cp);
void kb_text_clear(kb_text *t);
void kb_text_free(kb_text *t);
char *kb_text_take(kb_text *t);
char *kb_clean_copy(const char *s, size_t n, size_t cap);
void kb_doc_add(kb_builder *b, int level, kb_text *t, const char *anchor);

/* ------------------------------------------------- extract_charset.c */

kb_status kb_decode(const char *data, size_t len, kb_format fmt, const char *charset, char **out, size_t *olen,
                    char *err, size_t errlen);

/* ---------------------------------------------------- extract_slug.c */

void kb_slug_set_free(kb_slug_set *ss);
char *kb_slug_unique(kb_slug_set *ss, const char *heading);

/* ----------------------------------------- the parsers, one per format */

kb_status kb_html_extract(const char *text, size_t len, kb_builder *b, char *err, size_t errlen);
kb_status kb_md_extract(const char *text, size_t len, kb_builder *b, char *err, size_t errlen);
kb_status kb_plain_extract(const char *text, size_t len, kb_builder *b, char *err, size_t errlen);

/* Markdown line helpers the plain-text parser shares (extract_md.c). */
int kb_md_rule_of(const char *s, size_t n, char c, size_t min, int spaced);
size_t kb_md_list_marker(const char *s, size_t n);
int kb_md_blank(const char *s, size_t n);
const char *kb_md_line(const char *s, size_t n, size_t *pos, size_t *len);

#endif /* KB_EXTRACT_INT_H */
