/*
 * test_chunk.c - unit tests for svc-indexer/chunk.c.
 *
 * Documents are built in memory (blocks of generated, numbered sentences,
 * so every sentence is unique and can be found again); every result goes
 * through check_chunks(), which asserts the invariants of chunk.h.  The
 * last tests chunk the whole kb/ sample site (run from the repository
 * root).
 */
#include <criterion/criterion.h>
#include <criterion/logging.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "chunk.h"
#include "extract.h"
#include "utf8.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* ------------------------------------------------------------ helpers */

static void add_block(kb_doc *d, int level, const char *text, const char *anchor)
{
    kb_block *p = realloc(d->blocks, (d->nblocks + 1) * sizeof *p);

    cr_assert_not_null(p);
    d->blocks = p;
    p[d->nblocks].level = level;
    p[d->nblocks].text = strdup(text);
    p[d->nblocks].anchor = anchor != NULL ? strdup(anchor) : NULL;
    cr_assert_not_null(p[d->nblocks].text);
    d->nblocks++;
}

static void doc_init(kb_doc *d)
{
    memset(d, 0, sizeof *d);
    d->title = strdup("Doc title");
}

/* A paragraph of `sentences` unique sentences (about 14 tokens each). */
static char *para(int block, int sentences)
{
    size_t cap = (size_t)sentences * 96 + 1, o = 0;
    char *s = malloc(cap);

    cr_assert_not_null(s);
    s[0] = '\0';
    for (int i = 0; i < sentences; i++)
        o += (size_t)snprintf(s + o, cap - o, "%sSentence %d of block %d explains plans, seats and prices.",
                              i ? " " : "", i, block);
    return s;
}

static void add_para(kb_doc *d, int block, int sentences)
{
    char *p = para(block, sentences);

    add_block(d, 0, p, NULL);
    free(p);
}

static void check_chunks(const kb_chunk *c, size_t n, const kb_chunk_opts *o)
{
    for (size_t i = 0; i < n; i++) {
        size_t len;

        cr_assert_not_null(c[i].text, "chunk %zu text", i);
        cr_assert_not_null(c[i].heading_path, "chunk %zu heading_path", i);
        len = strlen(c[i].text);
        cr_expect_gt(len, 0, "chunk %zu is empty", i);
        cr_expect_neq(c[i].text[0], '\n', "chunk %zu starts with a newline", i);
        cr_expect_neq(c[i].text[len - 1], '\n', "chunk %zu ends with a newline", i);
        cr_expect(utf8_valid(c[i].text, len), "chunk %zu text not valid UTF-8", i);
        cr_expect(utf8_valid(c[i].heading_path, strlen(c[i].heading_path)), "chunk %zu path", i);
        cr_expect_leq(strlen(c[i].heading_path), (size_t)KB_HEADING_PATH_MAX);
        cr_expect_eq(c[i].tokens, kb_estimate_tokens(c[i].text, len), "chunk %zu tokens field", i);
        cr_expect_leq(c[i].tokens, o->max_tokens, "chunk %zu has %u tokens, cap %u", i, c[i].tokens, o->max_tokens);
        cr_expect_eq(c[i].ord, (unsigned)i, "chunk %zu ord", i);
        if (c[i].anchor != NULL)
            cr_expect_gt(strlen(c[i].anchor), 0);
    }
}

static kb_chunk *chunk(const kb_doc *d, const kb_chunk_opts *o, size_t *n)
{
    kb_chunk *c = NULL;

    cr_assert_eq(kb_chunk_doc(d, o, &c, n), 0);
    check_chunks(c, *n, o);
    return c;
}

/* Length of the longest prefix of next that is a suffix of prev and ends
 * where next continues with a separator (the overlap); 0 when none. */
static size_t overlap_len(const char *prev, const char *next)
{
    size_t pl = strlen(prev), nl = strlen(next);

    for (size_t k = pl < nl ? pl : nl; k > 0; k--) {
        if ((next[k] == '\n' || next[k] == ' ') && memcmp(prev + pl - k, next, k) == 0 &&
            (k == pl || prev[pl - k - 1] == ' ' || prev[pl - k - 1] == '\n'))
            return k;
    }
    return 0;
}

static const kb_chunk_opts dflt = KB_CHUNK_OPTS_DEFAULT;

/* ------------------------------------------------------------ estimate */

Test(chunk, estimate_tokens_cases)
{
    static const struct {
        const char *label;
        const char *text;
        unsigned want;
    } tc[] = {
        {"empty", "", 0},
        {"one short word", "hi", 2},                                     /* 1 word: ceil(4/3) */
        {"words win on short words", "a b c d e f", 8},                  /* 6 words: 8; 11 bytes: 3 */
        {"bytes win on a URL", "https://example.com/very/long/path", 9}, /* 34 bytes */
        {"multi-byte characters cost bytes", "\xE2\x82\xAC\xE2\x82\xAC\xE2\x82\xAC\xE2\x82\xAC", 3},
        {"newlines separate words", "a\nb\nc", 4},
        {"runs of blanks are one separator", "a   b", 3},
        {"prose", "The quick brown fox jumps over the lazy dog.", 12}, /* 9 words; 44 bytes */
    };

    for (size_t i = 0; i < N(tc); i++)
        cr_expect_eq(kb_estimate_tokens(tc[i].text, strlen(tc[i].text)), tc[i].want, "[%s]", tc[i].label);
    cr_expect_eq(kb_estimate_tokens(NULL, 0), 0);
    cr_expect_eq(kb_estimate_tokens("abcdef", 3), 2, "only len bytes are read");
}

Test(chunk, estimate_tracks_english_word_counts)
{
    char *p = para(1, 40);
    size_t words = 0, len = strlen(p);
    unsigned t = kb_estimate_tokens(p, len);

    for (size_t i = 0; i < len; i++)
        words += p[i] == ' ';
    words++;
    /* BPE tokenisers give about 1.3 tokens per English word. */
    cr_expect_geq(t, words, "%u tokens for %zu words", t, words);
    cr_expect_leq(t, words * 16 / 10, "%u tokens for %zu words", t, words);
    free(p);
}

/* ---------------------------------------------------------- small docs */

Test(chunk, small_doc_is_one_chunk)
{
    kb_doc d;
    kb_chunk *c;
    size_t n;

    doc_init(&d);
    add_block(&d, 1, "Pricing", "pricing");
    add_block(&d, 0, "Plans start at 39 euros.", NULL);
    add_block(&d, 2, "Growth", "growth");
    add_block(&d, 0, "Growth costs 299 euros.", NULL);
    c = chunk(&d, &dflt, &n);
    cr_assert_eq(n, 1);
    cr_expect_str_eq(c[0].text, "Pricing\nPlans start at 39 euros.\nGrowth\nGrowth costs 299 euros.");
    cr_expect_str_eq(c[0].heading_path, "Pricing");
    cr_expect_str_eq(c[0].anchor, "pricing");
    kb_chunks_free(c, n);
    kb_doc_free(&d);
}

Test(chunk, doc_without_headings)
{
    kb_doc d;
    kb_chunk *c;
    size_t n;

    doc_init(&d);
    add_block(&d, 0, "Just one paragraph.", NULL);
    c = chunk(&d, &dflt, &n);
    cr_assert_eq(n, 1);
    cr_expect_str_eq(c[0].text, "Just one paragraph.");
    cr_expect_str_eq(c[0].heading_path, "", "no heading: empty path, title not added");
    cr_expect_null(c[0].anchor);
    kb_chunks_free(c, n);
    kb_doc_free(&d);
}

Test(chunk, empty_doc_gives_no_chunks)
{
    kb_doc d;
    kb_chunk *c = (kb_chunk *)&d;
    size_t n = 7;

    doc_init(&d);
    cr_expect_eq(kb_chunk_doc(&d, NULL, &c, &n), 0);
    cr_expect_null(c);
    cr_expect_eq(n, 0);
    kb_chunks_free(NULL, 0);
    kb_doc_free(&d);
}

/* ----------------------------------------------------------- long docs */

Test(chunk, long_section_packs_to_target)
{
    kb_doc d;
    kb_chunk *c;
    size_t n;
    unsigned total = 0;

    doc_init(&d);
    add_block(&d, 1, "Handbook", NULL);
    add_block(&d, 2, "Everything", "everything");
    for (int b = 0; b < 60; b++)
        add_para(&d, b, 3); /* about 45 tokens each */
    for (size_t i = 0; i < d.nblocks; i++)
        total += kb_estimate_tokens(d.blocks[i].text, strlen(d.blocks[i].text));
    c = chunk(&d, &dflt, &n);
    cr_expect_geq(n, total / dflt.target_tokens, "%zu chunks for %u tokens", n, total);
    cr_expect_leq(n, total / (dflt.target_tokens / 2) + 1, "%zu chunks for %u tokens", n, total);
    for (size_t i = 0; i + 1 < n; i++) {
        cr_expect_leq(c[i].tokens, dflt.target_tokens + dflt.overlap_tokens, "chunk %zu: %u", i, c[i].tokens);
        cr_expect_geq(c[i].tokens, dflt.target_tokens * 3 / 4, "chunk %zu: only %u tokens", i, c[i].tokens);
        cr_expect_str_eq(c[i].heading_path, "Handbook > Everything", "chunk %zu", i);
        cr_expect_str_eq(c[i].anchor, "everything", "chunk %zu", i);
    }
    kb_chunks_free(c, n);
    kb_doc_free(&d);
}

Test(chunk, heading_paths_and_anchors)
{
    kb_doc d;
    kb_chunk *c;
    size_t n;
    static const struct {
        const char *first_line;
        const char *path;
        const char *anchor; /* NULL: none */
    } want[] = {
        {"Pricing", "Pricing", "pricing"},
        {"Plans", "Pricing > Plans", "plans"},
        {"Growth", "Pricing > Plans > Growth", "plans"}, /* Growth has no id */
        {"Starter", "Pricing > Plans > Starter", "starter"},
        {"Deep", "Pricing > Plans > Starter > Deep", "deep"},
        {"FAQ", "Pricing > FAQ", "pricing"},  /* FAQ has none: its parent's */
        {"Appendix", "Appendix", "appendix"}, /* a new h1 resets the path */
        {"Skipped level", "Appendix > Skipped level", "appendix"},
    };

    doc_init(&d);
    add_block(&d, 1, "Pricing", "pricing");
    add_para(&d, 0, 5);
    add_block(&d, 2, "Plans", "plans");
    add_para(&d, 1, 25);
    add_block(&d, 3, "Growth", NULL);
    add_para(&d, 2, 25);
    add_block(&d, 3, "Starter", "starter");
    add_para(&d, 3, 25);
    add_block(&d, 5, "Deep", "deep");
    add_para(&d, 4, 25);
    add_block(&d, 2, "FAQ", NULL);
    add_para(&d, 5, 5);
    add_block(&d, 1, "Appendix", "appendix");
    add_para(&d, 6, 15);
    add_block(&d, 4, "Skipped level", NULL);
    add_para(&d, 7, 25);

    c = chunk(&d, &dflt, &n);
    cr_assert_eq(n, N(want), "%zu chunks", n);
    for (size_t i = 0; i < n; i++) {
        size_t fl = strcspn(c[i].text, "\n");
        cr_expect(strncmp(c[i].text, want[i].first_line, fl) == 0 && strlen(want[i].first_line) == fl,
                  "chunk %zu starts with '%.*s', want '%s'", i, (int)fl, c[i].text, want[i].first_line);
        cr_expect_str_eq(c[i].heading_path, want[i].path, "chunk %zu path", i);
        if (want[i].anchor == NULL)
            cr_expect_null(c[i].anchor, "chunk %zu anchor %s", i, c[i].anchor);
        else if (c[i].anchor == NULL)
            cr_expect_fail("chunk %zu: no anchor, want %s", i, want[i].anchor);
        else
            cr_expect_str_eq(c[i].anchor, want[i].anchor, "chunk %zu anchor", i);
    }
    kb_chunks_free(c, n);
    kb_doc_free(&d);
}

Test(chunk, trivial_intro_stays_with_first_section)
{
    kb_doc d;
    kb_chunk *c;
    size_t n;

    doc_init(&d);
    add_block(&d, 1, "Title", "title");
    add_block(&d, 0, "A short intro.", NULL);
    add_block(&d, 2, "First", "first");
    add_para(&d, 1, 20);
    add_block(&d, 2, "Second", "second");
    add_para(&d, 2, 20);
    c = chunk(&d, &dflt, &n);
    cr_assert_eq(n, 2);
    cr_expect_eq(strncmp(c[0].text, "Title\nA short intro.\nFirst\n", 27), 0, "got: %.60s", c[0].text);
    cr_expect_str_eq(c[0].heading_path, "Title");
    cr_expect_eq(strncmp(c[1].text, "Second\n", 7), 0, "got: %.60s", c[1].text);
    cr_expect_str_eq(c[1].heading_path, "Title > Second");
    cr_expect_str_eq(c[1].anchor, "second");
    kb_chunks_free(c, n);
    kb_doc_free(&d);
}

Test(chunk, chunks_never_end_with_a_heading)
{
    kb_doc d;
    kb_chunk *c;
    size_t n;

    doc_init(&d);
    add_block(&d, 2, "Section", NULL);
    add_para(&d, 0, 33); /* close to the target */
    add_block(&d, 3, "Sub one", NULL);
    add_block(&d, 4, "Sub sub", NULL);
    add_para(&d, 1, 10);
    c = chunk(&d, &dflt, &n);
    cr_assert_eq(n, 2);
    cr_expect_null(strstr(c[0].text, "Sub one"), "heading left at the end of chunk 0");
    cr_expect_eq(strncmp(c[1].text, "Sub one\nSub sub\nSentence 0 of block 1", 37), 0, "got: %.60s", c[1].text);
    cr_expect_str_eq(c[1].heading_path, "Section > Sub one > Sub sub", "path of the chunk's first text");
    kb_chunks_free(c, n);
    kb_doc_free(&d);
}

Test(chunk, headings_alone_are_not_a_chunk)
{
    kb_doc d;
    kb_chunk *c;
    size_t n;
    char *p = para(1, 40); /* over target_tokens, under max_tokens */
    unsigned pt = kb_estimate_tokens(p, strlen(p));

    cr_assert(pt > dflt.target_tokens && pt + 10 < dflt.max_tokens, "paragraph of %u tokens", pt);
    doc_init(&d);
    add_block(&d, 1, "Alone", NULL);
    add_block(&d, 2, "Still alone", NULL);
    add_block(&d, 0, p, NULL);
    c = chunk(&d, &dflt, &n);
    cr_assert_eq(n, 1, "the headings travel with the paragraph");
    cr_expect_eq(strncmp(c[0].text, "Alone\nStill alone\nSentence 0", 28), 0);
    cr_expect_str_eq(c[0].heading_path, "Alone > Still alone");
    kb_chunks_free(c, n);
    kb_doc_free(&d);
    free(p);
}

/* ------------------------------------------------------------- overlap */

Test(chunk, overlap_within_a_section_not_across_headings)
{
    kb_doc d;
    kb_chunk *c;
    size_t n, within = 0, across = 0;

    doc_init(&d);
    for (int s = 0; s < 3; s++) {
        char h[32];
        snprintf(h, sizeof h, "Section %d", s);
        add_block(&d, 2, h, NULL);
        for (int b = 0; b < 30; b++)
            add_para(&d, s * 100 + b, 2 + b % 3);
    }
    c = chunk(&d, &dflt, &n);
    cr_assert_gt(n, 6);
    for (size_t i = 1; i < n; i++) {
        size_t k = overlap_len(c[i - 1].text, c[i].text);

        if (strncmp(c[i].text, "Section ", 8) == 0) {
            across++;
            cr_expect_eq(k, 0, "chunk %zu starts a section but repeats %zu bytes", i, k);
            continue;
        }
        within++;
        cr_expect_gt(k, 0, "chunk %zu continues a section without overlap", i);
        cr_expect_leq(kb_estimate_tokens(c[i].text, k), dflt.overlap_tokens, "chunk %zu overlap too long", i);
        cr_expect_geq(kb_estimate_tokens(c[i].text, k), dflt.overlap_tokens / 4, "chunk %zu overlap too short", i);
        /* Whole sentences: the overlap starts a sentence and ends one. */
        cr_expect_eq(strncmp(c[i].text, "Sentence ", 9), 0, "chunk %zu overlap: %.40s", i, c[i].text);
        cr_expect_eq(c[i].text[k - 1], '.', "chunk %zu overlap ends mid-sentence", i);
    }
    cr_expect_eq(across, 2);
    cr_expect_gt(within, 3);
    kb_chunks_free(c, n);
    kb_doc_free(&d);
}

Test(chunk, zero_overlap_option)
{
    kb_doc d;
    kb_chunk *c;
    size_t n;
    kb_chunk_opts o = {200, 0, 300};

    doc_init(&d);
    for (int b = 0; b < 20; b++)
        add_para(&d, b, 3);
    c = chunk(&d, &o, &n);
    cr_assert_gt(n, 2);
    for (size_t i = 1; i < n; i++)
        cr_expect_eq(overlap_len(c[i - 1].text, c[i].text), 0, "chunk %zu", i);
    kb_chunks_free(c, n);
    kb_doc_free(&d);
}

/* ------------------------------------------------------- oversize blocks */

Test(chunk, giant_paragraph_split_at_sentences)
{
    kb_doc d;
    kb_chunk *c;
    size_t n;
    char *p = para(9, 200); /* one block, about 2900 tokens */

    doc_init(&d);
    add_block(&d, 1, "Big", NULL);
    add_block(&d, 0, p, NULL);
    c = chunk(&d, &dflt, &n);
    cr_assert_geq(n, 5);
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(c[i].text);
        cr_expect_eq(c[i].text[len - 1], '.', "chunk %zu ends mid-sentence: ...%s", i, c[i].text + len - 20);
        cr_expect_null(strchr(c[i].text + (i == 0 ? 4 : 0), '\n'), "pieces of one block join with spaces");
        if (i > 0) {
            cr_expect_gt(overlap_len(c[i - 1].text, c[i].text), 0, "chunk %zu: no overlap", i);
            cr_expect_eq(strncmp(c[i].text, "Sentence ", 9), 0, "chunk %zu starts mid-sentence", i);
        }
    }
    /* Nothing lost: every sentence is in some chunk. */
    for (int s = 0; s < 200; s++) {
        char needle[64];
        int found = 0;
        snprintf(needle, sizeof needle, "Sentence %d of block 9 ", s);
        for (size_t i = 0; i < n && !found; i++)
            found = strstr(c[i].text, needle) != NULL;
        cr_expect(found, "sentence %d lost", s);
    }
    kb_chunks_free(c, n);
    kb_doc_free(&d);
    free(p);
}

Test(chunk, giant_sentence_split_at_clauses_then_words)
{
    kb_doc d;
    kb_chunk *c;
    size_t n, o = 0, cap = 64 * 1024;
    char *s = malloc(cap);

    cr_assert_not_null(s);
    for (int i = 0; i < 400; i++)
        o += (size_t)snprintf(s + o, cap - o, "clause %d has some words in it; ", i);
    o += (size_t)snprintf(s + o, cap - o, "and then a single run-on part");
    for (int i = 0; i < 1500; i++)
        o += (size_t)snprintf(s + o, cap - o, " tok%d", i);
    snprintf(s + o, cap - o, ".");
    doc_init(&d);
    add_block(&d, 0, s, NULL);
    c = chunk(&d, &dflt, &n);
    cr_assert_geq(n, 6);
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(c[i].text);
        if (strstr(c[i].text, "tok") == NULL)
            cr_expect_eq(c[i].text[len - 1], ';', "chunk %zu not cut at a clause", i);
        cr_expect_neq(c[i].text[len - 1], ' ');
    }
    cr_expect_neq(strstr(c[n - 1].text, "tok1499."), NULL, "end of the block kept");
    kb_chunks_free(c, n);
    kb_doc_free(&d);
    free(s);
}

Test(chunk, giant_word_split_without_breaking_characters)
{
    kb_doc d;
    kb_chunk *c;
    size_t n, want_len = 20000 * 2;
    char *s = malloc(want_len + 1), *joined;
    size_t o = 0;

    cr_assert_not_null(s);
    for (int i = 0; i < 20000; i++) {
        memcpy(s + o, "\xC3\xA9", 2);
        o += 2;
    }
    s[o] = '\0';
    doc_init(&d);
    add_block(&d, 0, s, NULL);
    c = chunk(&d, &dflt, &n);
    cr_assert_geq(n, 10);
    joined = calloc(1, want_len + 1);
    cr_assert_not_null(joined);
    for (size_t i = 0; i < n; i++)
        strcat(joined, c[i].text); /* check_chunks checked each is valid UTF-8 */
    cr_expect_str_eq(joined, s, "the pieces, in order, give back the word (no overlap without a sentence)");
    kb_chunks_free(c, n);
    kb_doc_free(&d);
    free(joined);
    free(s);
}

/* ------------------------------------------------------------- options */

Test(chunk, options_default_and_clamped)
{
    kb_doc d;
    kb_chunk *a, *b;
    size_t na, nb;
    static const kb_chunk_opts odd[] = {{0, 0, 0}, {100, 1000, 50}, {64, 10, 65}};

    doc_init(&d);
    for (int i = 0; i < 40; i++)
        add_para(&d, i, 4);
    a = chunk(&d, &dflt, &na);
    cr_assert_eq(kb_chunk_doc(&d, NULL, &b, &nb), 0);
    cr_assert_eq(na, nb, "NULL options are the defaults");
    for (size_t i = 0; i < na; i++)
        cr_expect_str_eq(a[i].text, b[i].text);
    kb_chunks_free(a, na);
    kb_chunks_free(b, nb);
    for (size_t k = 0; k < N(odd); k++) {
        kb_chunk_opts eff = odd[k];
        if (eff.target_tokens < 16)
            eff.target_tokens = 16;
        if (eff.max_tokens < eff.target_tokens)
            eff.max_tokens = eff.target_tokens;
        cr_assert_eq(kb_chunk_doc(&d, &odd[k], &a, &na), 0, "opts %zu", k);
        check_chunks(a, na, &eff);
        cr_expect_gt(na, 1, "opts %zu", k);
        kb_chunks_free(a, na);
    }
    kb_doc_free(&d);
}

/* ----------------------------------------------------------- kb/ site */

typedef struct {
    char path[512];
} kb_path;

static size_t collect_kb(const char *dir, kb_path *out, size_t n, size_t max)
{
    DIR *dh = opendir(dir);
    struct dirent *e;

    cr_assert_not_null(dh, "cannot open %s (run the tests from the repository root)", dir);
    while ((e = readdir(dh)) != NULL) {
        char p[512];
        struct stat st;
        const char *dot;

        if (e->d_name[0] == '.')
            continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        cr_assert_eq(stat(p, &st), 0);
        if (S_ISDIR(st.st_mode)) {
            n = collect_kb(p, out, n, max);
            continue;
        }
        dot = strrchr(e->d_name, '.');
        if (dot == NULL || (strcmp(dot, ".md") != 0 && strcmp(dot, ".html") != 0 && strcmp(dot, ".txt") != 0))
            continue;
        cr_assert_lt(n, max);
        snprintf(out[n++].path, sizeof out[0].path, "%s", p);
    }
    closedir(dh);
    return n;
}

static void load_kb_doc(const char *path, kb_doc *d)
{
    FILE *f = fopen(path, "rb");
    char buf[1 << 16], err[128];
    size_t len;

    cr_assert_not_null(f, "%s", path);
    len = fread(buf, 1, sizeof buf, f);
    cr_assert(feof(f), "%s larger than the test buffer", path);
    fclose(f);
    cr_assert_eq(kb_extract(buf, len, kb_format_from_name(path, NULL), NULL, d, err, sizeof err), KB_OK, "%s: %s", path,
                 err);
}

static int cmp_unsigned(const void *a, const void *b)
{
    unsigned x = *(const unsigned *)a, y = *(const unsigned *)b;
    return x < y ? -1 : x > y;
}

Test(chunk, kb_site_chunks_are_valid_and_deterministic)
{
    static kb_path paths[256];
    static unsigned tokens[4096];
    size_t npages = collect_kb("kb", paths, 0, N(paths)), ntok = 0;

    cr_assert_geq(npages, 30);
    for (size_t p = 0; p < npages; p++) {
        kb_doc d;
        kb_chunk *a, *b;
        size_t na, nb;

        load_kb_doc(paths[p].path, &d);
        a = chunk(&d, &dflt, &na);
        b = chunk(&d, &dflt, &nb);
        cr_assert_gt(na, 0, "%s", paths[p].path);
        cr_assert_eq(na, nb, "%s: not deterministic", paths[p].path);
        for (size_t i = 0; i < na; i++) {
            cr_expect_str_eq(a[i].text, b[i].text, "%s chunk %zu", paths[p].path, i);
            cr_expect_str_eq(a[i].heading_path, b[i].heading_path);
            cr_expect((a[i].anchor == NULL) == (b[i].anchor == NULL));
            if (a[i].anchor != NULL && b[i].anchor != NULL)
                cr_expect_str_eq(a[i].anchor, b[i].anchor);
            cr_expect_gt(strlen(a[i].heading_path), 0, "%s chunk %zu: every kb page starts with a heading",
                         paths[p].path, i);
            cr_assert_lt(ntok, N(tokens));
            tokens[ntok++] = a[i].tokens;
        }
        kb_chunks_free(a, na);
        kb_chunks_free(b, nb);
        kb_doc_free(&d);
    }
    qsort(tokens, ntok, sizeof tokens[0], cmp_unsigned);
    cr_log_info("kb: %zu pages, %zu chunks, tokens min %u median %u max %u", npages, ntok, tokens[0], tokens[ntok / 2],
                tokens[ntok - 1]);
    cr_expect_leq(tokens[ntok - 1], dflt.target_tokens, "no kb section is near the cap");
}
