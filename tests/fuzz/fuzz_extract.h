/* fuzz_extract.h: what the page extractor targets (fuzz_extract_html.c,
 * fuzz_extract_md.c) check on every kb_doc, the promises of
 * svc-indexer/extract.h: a title under KB_TITLE_MAX, every string
 * well-formed UTF-8 without NUL or control characters (C0, DEL, C1), every
 * block non-empty with a level 0..6.
 * Header-only, for one thread. */
#ifndef FUZZ_EXTRACT_H
#define FUZZ_EXTRACT_H

#include "extract.h"
#include "fuzz.h"
#include "utf8.h"

static inline void fuzz_clean_string(const char *what, const char *s)
{
    size_t n = strlen(s);
    FUZZ_CHECK(utf8_valid(s, n), "%s is not UTF-8", what);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        FUZZ_CHECK(c >= 0x20 && c != 0x7F, "%s has control byte 0x%02x at %zu", what, c, i);
        FUZZ_CHECK(!(c == 0xC2 && i + 1 < n && (unsigned char)s[i + 1] >= 0x80 && (unsigned char)s[i + 1] <= 0x9F),
                   "%s has a C1 control at %zu", what, i);
    }
}

static inline void fuzz_check_doc(kb_status st, const kb_doc *doc, const char *err)
{
    if (st != KB_OK) {
        FUZZ_CHECK(err[0] != '\0', "status %s without a reason", kb_status_name(st));
        FUZZ_CHECK(doc->title == NULL && doc->blocks == NULL && doc->nblocks == 0, "a failed doc is not zeroed");
        return;
    }
    FUZZ_CHECK(doc->title != NULL && strlen(doc->title) < KB_TITLE_MAX, "title");
    fuzz_clean_string("title", doc->title);
    if (doc->canonical_url != NULL) {
        FUZZ_CHECK(strlen(doc->canonical_url) <= KB_URL_MAX, "canonical URL of %zu bytes", strlen(doc->canonical_url));
    }
    if (doc->lang != NULL) {
        FUZZ_CHECK(strlen(doc->lang) <= KB_LANG_MAX, "lang of %zu bytes", strlen(doc->lang));
    }
    FUZZ_CHECK(doc->nblocks > 0, "OK without blocks");
    for (size_t i = 0; i < doc->nblocks; i++) {
        const kb_block *b = &doc->blocks[i];
        FUZZ_CHECK(b->level >= 0 && b->level <= 6, "block %zu has level %d", i, b->level);
        FUZZ_CHECK(b->text != NULL && b->text[0] != '\0', "block %zu is empty", i);
        fuzz_clean_string("a block", b->text);
        if (b->anchor != NULL) {
            FUZZ_CHECK(b->level > 0, "block %zu: an anchor on a paragraph", i);
            FUZZ_CHECK(utf8_valid(b->anchor, strlen(b->anchor)), "anchor not UTF-8");
        }
    }
}

#endif
