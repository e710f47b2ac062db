/*
 * extract_text.c - the text normaliser every format writes through (kb_text)
 * and the list of blocks it fills (kb_builder): see extract_int.h.
 *
 * Keeping the normalising in one place is what lets the guarantees on
 * block text (single spaces, no controls, well-formed UTF-8) hold whatever
 * the format.
 */
#include "extract_int.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "utf8.h"

/* Longest normalised text: decoding (cp1252 to UTF-8 is at most 3 bytes a
 * byte) and separators never take a page of KB_DOC_MAX_BYTES past it. */
#define KB_TEXT_MAX (4 * (size_t)KB_DOC_MAX_BYTES)

/* ------------------------------------------------------------- kb_text */

void kb_text_raw(kb_text *t, const char *s, size_t n)
{
    if (t->oom)
        return;
    if (t->d.toobig == 0)
        dyn_init(&t->d, KB_TEXT_MAX);
    if (dyn_add(&t->d, s, n) != 0)
        t->oom = 1;
}

/* Write what is owed before a visible character. */
static void text_owed(kb_text *t)
{
    if (t->d.len > 0) {
        if (t->sep != NULL)
            kb_text_raw(t, t->sep, strlen(t->sep));
        else if (t->space)
            kb_text_raw(t, " ", 1);
    }
    t->sep = NULL;
    t->space = 0;
}

void kb_text_space(kb_text *t)
{
    t->space = 1;
}

void kb_text_sep(kb_text *t, const char *sep)
{
    if (t->d.len > 0)
        t->sep = sep;
}

/* Unicode spaces that count as whitespace. */
static int cp_is_space(uint32_t cp)
{
    return cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 ||
           cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

/* C1 controls, soft hyphen, zero-width space, word joiner, BOM: dropped. */
int kb_cp_is_invisible(uint32_t cp)
{
    return (cp >= 0x80 && cp <= 0x9F) || cp == 0xAD || cp == 0x200B || cp == 0x2060 || cp == 0xFEFF;
}

void kb_text_put(kb_text *t, const char *s, size_t n)
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
            kb_text_raw(t, s + i, run - i);
            i = run;
            continue;
        }
        k = utf8_decode(s + i, n - i, &cp);
        if (cp == UTF8_BAD) {
            text_owed(t);
            kb_text_raw(t, UTF8_REPLACEMENT, UTF8_REPLACEMENT_LEN);
        } else if (cp_is_space(cp)) {
            t->space = 1;
        } else if (!kb_cp_is_invisible(cp)) {
            text_owed(t);
            kb_text_raw(t, s + i, k);
        }
        i += k;
    }
}

void kb_text_puts(kb_text *t, const char *s)
{
    kb_text_put(t, s, strlen(s));
}

void kb_text_put_cp(kb_text *t, uint32_t cp)
{
    char b[4];

    if (cp == 0)
        cp = 0xFFFD;
    kb_text_put(t, b, utf8_encode(cp, b));
}

void kb_text_clear(kb_text *t)
{
    dyn_reset(&t->d);
    t->space = 0;
    t->sep = NULL;
}

void kb_text_free(kb_text *t)
{
    dyn_free(&t->d);
    memset(t, 0, sizeof *t);
}

/* A malloc'd copy of the text (NULL on OOM); the buffer is cleared. */
char *kb_text_take(kb_text *t)
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
    kb_text_clear(t);
    return p;
}

/* Normalised malloc'd copy of s[0..n), cut to < cap bytes (0: no cut). */
char *kb_clean_copy(const char *s, size_t n, size_t cap)
{
    kb_text t = {0};
    char *p;

    kb_text_put(&t, s, n);
    if (t.oom) {
        kb_text_free(&t);
        return NULL;
    }
    if (cap > 0 && t.d.len >= cap) {
        size_t keep = utf8_truncate(t.d.data, t.d.len, cap - 1);
        while (keep > 0 && t.d.data[keep - 1] == ' ')
            keep--;
        dyn_truncate(&t.d, keep);
    }
    p = kb_text_take(&t);
    kb_text_free(&t);
    return p;
}

/* ------------------------------------------------------------- kb_doc */

/*
 * Append a block made of the text in t (cleared afterwards) when it is not
 * empty.  anchor is copied; NULL or "" means none.
 */
void kb_doc_add(kb_builder *b, int level, kb_text *t, const char *anchor)
{
    kb_block *blk;

    if (t->oom)
        b->oom = 1;
    if (b->oom || t->d.len == 0) {
        kb_text_clear(t);
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
    blk->text = kb_text_take(t);
    if (blk->text == NULL) {
        free(blk->anchor);
        b->oom = 1;
        return;
    }
    b->doc->nblocks++;
}
