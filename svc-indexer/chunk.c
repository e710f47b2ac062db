/*
 * chunk.c - document to chunks (see chunk.h).
 *
 * Three steps:
 *   1. units: every block becomes one unit, except blocks over max_tokens,
 *      which become several (sentences, then clauses, words, bytes);
 *   2. a heading tree (nearest heading and parent heading per block), so a
 *      chunk's heading path is a walk of at most six parents;
 *   3. greedy packing of units into chunks, with cuts at section headings
 *      and overlap after cuts inside a section.
 *
 * Units point into the document's block texts; nothing is copied until a
 * chunk's text is assembled.  Unit token counts include one byte for the
 * joiner that may follow, which makes them add up to at least the estimate
 * of the joined text: so packing by sums can never exceed max_tokens.
 */
#include "chunk.h"

#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "utf8.h"

#define KB_NONE SIZE_MAX /* "no block" in the heading tree */

/* ------------------------------------------------------------- estimate */

static int ck_is_space(unsigned char c)
{
    return c == ' ' || c == '\n' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
}

static size_t ck_words(const char *s, size_t len)
{
    size_t words = 0;
    int in_word = 0;

    for (size_t i = 0; i < len; i++) {
        int sp = ck_is_space((unsigned char)s[i]);
        if (!sp && !in_word)
            words++;
        in_word = !sp;
    }
    return words;
}

static unsigned ck_tokens(size_t words, size_t bytes)
{
    size_t by_words = words > SIZE_MAX / 8 ? SIZE_MAX / 2 : (words * 4 + 2) / 3;
    size_t by_bytes = bytes / 4 + (bytes % 4 != 0);
    size_t t = by_words > by_bytes ? by_words : by_bytes;

    return t > UINT_MAX ? UINT_MAX : (unsigned)t;
}

unsigned kb_estimate_tokens(const char *text, size_t len)
{
    if (text == NULL)
        return 0;
    return ck_tokens(ck_words(text, len), len);
}

/* ------------------------------------------------------------- strings */

typedef struct {
    char *s;
    size_t len;
    size_t cap;
    int oom;
} ck_buf;

static void buf_add(ck_buf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (n > SIZE_MAX / 4 - b->len) {
        b->oom = 1;
        return;
    }
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        char *p;
        while (cap < b->len + n + 1)
            cap *= 2;
        p = realloc(b->s, cap);
        if (p == NULL) {
            b->oom = 1;
            return;
        }
        b->s = p;
        b->cap = cap;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
}

/* The finished string (shrunk), or NULL on OOM; b is reset. */
static char *buf_take(ck_buf *b)
{
    char *p;

    if (!b->oom && b->s == NULL)
        buf_add(b, "", 0);
    if (b->oom) {
        free(b->s);
        memset(b, 0, sizeof *b);
        return NULL;
    }
    p = realloc(b->s, b->len + 1);
    if (p == NULL)
        p = b->s;
    memset(b, 0, sizeof *b);
    return p;
}

/* ---------------------------------------------------------------- units */

typedef struct {
    const char *s;
    size_t len;
    unsigned tokens; /* estimate of s plus one joiner byte */
    size_t block;
    char joiner; /* before this unit: '\n' new block, ' ' same block,
                    0 inside a word */
} ck_unit;

typedef struct {
    const kb_doc *doc;
    unsigned target, overlap, max;
    ck_unit *units;
    size_t nunits, cap;
    size_t *near;   /* per block: nearest heading at or before it */
    size_t *parent; /* per heading block: enclosing heading */
    kb_chunk *chunks;
    size_t nchunks, ccap;
    int oom;
} ck_ctx;

static unsigned unit_tokens(const char *s, size_t len)
{
    return ck_tokens(ck_words(s, len), len + 1);
}

static int block_level(const kb_block *b)
{
    return b->level >= 1 && b->level <= 6 ? b->level : 0;
}

static void add_unit(ck_ctx *cx, const char *s, size_t len, size_t block, char joiner)
{
    ck_unit *u;

    while (len > 0 && ck_is_space((unsigned char)s[len - 1]))
        len--;
    while (len > 0 && ck_is_space((unsigned char)*s)) {
        s++;
        len--;
    }
    if (len == 0 || cx->oom)
        return;
    if (cx->nunits == cx->cap) {
        size_t cap = cx->cap ? cx->cap * 2 : 64;
        ck_unit *p = realloc(cx->units, cap * sizeof *p);
        if (p == NULL) {
            cx->oom = 1;
            return;
        }
        cx->units = p;
        cx->cap = cap;
    }
    u = &cx->units[cx->nunits++];
    u->s = s;
    u->len = len;
    u->tokens = unit_tokens(s, len);
    u->block = block;
    u->joiner = joiner;
}

/* A sentence may start at s[i]: not a lowercase ASCII letter. */
static int sentence_start(const char *s, size_t len, size_t i)
{
    return i < len && !(s[i] >= 'a' && s[i] <= 'z') && !ck_is_space((unsigned char)s[i]);
}

/*
 * Where the piece starting at s[0] may end at the given split level:
 * returns the length up to and including the punctuation, 0 when there is
 * no split point.  Level 0: sentence ends; level 1: also ": " and "; ".
 */
static size_t split_point(const char *s, size_t len, int level)
{
    for (size_t i = 0; i + 1 < len; i++) {
        char c = s[i];
        if (s[i + 1] != ' ')
            continue;
        if ((c == '.' || c == '?' || c == '!') && sentence_start(s, len, i + 2))
            return i + 1;
        if (level >= 1 && (c == ':' || c == ';'))
            return i + 1;
    }
    return 0;
}

/*
 * Add s[0..len) of a block as units, splitting only when it is over
 * max_tokens.  level: 0 split at sentences, 1 also at clauses, 2 between
 * words (pieces up to target_tokens), 3 anywhere but inside a character.
 */
static void split_text(ck_ctx *cx, const char *s, size_t len, size_t block, char joiner, int level)
{
    size_t start = 0;
    char j = joiner;

    if (cx->oom || len == 0)
        return;
    if (unit_tokens(s, len) <= cx->max) {
        add_unit(cx, s, len, block, joiner);
        return;
    }
    if (level <= 1) {
        while (start < len && !cx->oom) {
            size_t end = split_point(s + start, len - start, level);
            size_t plen = end ? end : len - start;

            split_text(cx, s + start, plen, block, j, level + 1);
            j = ' ';
            start += plen;
            while (start < len && ck_is_space((unsigned char)s[start]))
                start++;
        }
        return;
    }
    if (level == 2) {
        while (start < len && !cx->oom) {
            size_t i = start, end = start, words = 0;

            while (i < len) {
                size_t we = i;
                while (we < len && !ck_is_space((unsigned char)s[we]))
                    we++;
                if (words > 0 && ck_tokens(words + 1, we - start + 1) > cx->target)
                    break;
                words++;
                end = we;
                while (we < len && ck_is_space((unsigned char)s[we]))
                    we++;
                i = we;
                if (ck_tokens(words, end - start + 1) > cx->target)
                    break; /* one word too long on its own */
            }
            if (ck_tokens(words, end - start + 1) > cx->target)
                split_text(cx, s + start, end - start, block, j, 3);
            else
                add_unit(cx, s + start, end - start, block, j);
            j = ' ';
            start = end;
            while (start < len && ck_is_space((unsigned char)s[start]))
                start++;
        }
        return;
    }
    /* A "word" longer than target_tokens: cut by bytes.  A piece of b
     * bytes without blanks is ceil((b + 1) / 4) tokens, so b <= 4t - 4
     * keeps it within target. */
    while (start < len && !cx->oom) {
        size_t piece = utf8_truncate(s + start, len - start, 4 * (size_t)cx->target - 4);

        if (piece == 0) {
            uint32_t cp;
            piece = utf8_decode(s + start, len - start, &cp);
        }
        add_unit(cx, s + start, piece, block, j);
        j = 0;
        start += piece;
    }
}

/* --------------------------------------------------------- heading tree */

static int build_tree(ck_ctx *cx)
{
    const kb_doc *doc = cx->doc;
    size_t stack[7], cur = KB_NONE;

    cx->near = malloc(doc->nblocks * sizeof *cx->near);
    cx->parent = malloc(doc->nblocks * sizeof *cx->parent);
    if (cx->near == NULL || cx->parent == NULL)
        return -1;
    for (int l = 0; l < 7; l++)
        stack[l] = KB_NONE;
    for (size_t b = 0; b < doc->nblocks; b++) {
        int level = block_level(&doc->blocks[b]);

        cx->parent[b] = KB_NONE;
        if (level > 0) {
            for (int l = level - 1; l >= 1; l--) {
                if (stack[l] != KB_NONE) {
                    cx->parent[b] = stack[l];
                    break;
                }
            }
            stack[level] = b;
            for (int l = level + 1; l < 7; l++)
                stack[l] = KB_NONE;
            cur = b;
        }
        cx->near[b] = cur;
    }
    return 0;
}

/* Heading path and anchor for a chunk whose first block is `block`. */
static int heading_path(ck_ctx *cx, size_t block, char **path, char **anchor)
{
    const kb_block *blocks = cx->doc->blocks;
    size_t chain[6], n = 0;
    ck_buf b = {0};

    *path = NULL;
    *anchor = NULL;
    for (size_t h = cx->near[block]; h != KB_NONE && n < 6; h = cx->parent[h])
        chain[n++] = h;
    for (size_t i = 0; i < n; i++) {
        if (blocks[chain[i]].anchor != NULL) {
            *anchor = strdup(blocks[chain[i]].anchor);
            if (*anchor == NULL)
                return -1;
            break;
        }
    }
    for (size_t i = n; i-- > 0;) {
        const char *t = blocks[chain[i]].text;
        size_t tl = strlen(t);

        if (i + 1 < n)
            buf_add(&b, " > ", 3);
        buf_add(&b, t, utf8_truncate(t, tl, KB_HEADING_IN_PATH_MAX));
    }
    if (!b.oom && b.len > KB_HEADING_PATH_MAX) {
        b.len = utf8_truncate(b.s, b.len, KB_HEADING_PATH_MAX);
        while (b.len > 0 && (b.s[b.len - 1] == ' ' || b.s[b.len - 1] == '>'))
            b.len--;
        b.s[b.len] = '\0';
    }
    *path = buf_take(&b);
    if (*path == NULL) {
        free(*anchor);
        *anchor = NULL;
        return -1;
    }
    return 0;
}

/* -------------------------------------------------------------- packing */

static int unit_level(const ck_ctx *cx, const ck_unit *u)
{
    return block_level(&cx->doc->blocks[u->block]);
}

/* Emit units [start, end) as a chunk, after the overlap text ov (taken). */
static void emit_chunk(ck_ctx *cx, size_t start, size_t end, char *ov)
{
    ck_buf b = {0};
    kb_chunk *c;
    size_t first;

    if (cx->oom) {
        free(ov);
        return;
    }
    if (cx->nchunks == cx->ccap) {
        size_t cap = cx->ccap ? cx->ccap * 2 : 16;
        kb_chunk *p = realloc(cx->chunks, cap * sizeof *p);
        if (p == NULL) {
            cx->oom = 1;
            free(ov);
            return;
        }
        cx->chunks = p;
        cx->ccap = cap;
    }
    if (ov != NULL) {
        buf_add(&b, ov, strlen(ov));
        if (cx->units[start].joiner)
            buf_add(&b, &cx->units[start].joiner, 1);
        free(ov);
    }
    for (size_t i = start; i < end; i++) {
        if (i > start && cx->units[i].joiner)
            buf_add(&b, &cx->units[i].joiner, 1);
        buf_add(&b, cx->units[i].s, cx->units[i].len);
    }
    /* The path describes the first text of the chunk: headings that open
     * the chunk are part of it ("Handbook > Everything", not "Handbook"). */
    first = start;
    while (first + 1 < end && unit_level(cx, &cx->units[first]) > 0)
        first++;
    c = &cx->chunks[cx->nchunks];
    memset(c, 0, sizeof *c);
    c->text = buf_take(&b);
    if (c->text == NULL || heading_path(cx, cx->units[first].block, &c->heading_path, &c->anchor) != 0) {
        free(c->text);
        cx->oom = 1;
        return;
    }
    c->tokens = kb_estimate_tokens(c->text, strlen(c->text));
    c->ord = (unsigned)cx->nchunks;
    cx->nchunks++;
}

/* Largest q < p where a sentence starts in s (0 when none). */
static size_t prev_sentence(const char *s, size_t len, size_t p)
{
    for (size_t q = p; q-- > 2;) {
        char c = s[q - 2];
        if (s[q - 1] == ' ' && (c == '.' || c == '?' || c == '!') && sentence_start(s, len, q))
            return q;
    }
    return 0;
}

/*
 * The overlap to repeat after cutting units [start, end): the longest run
 * of whole trailing sentences within overlap_tokens that does not reach
 * back past a heading; failing that, the last words of the last unit.
 * Returns a malloc'd string and its unit-style token count, or NULL.
 */
static char *make_overlap(ck_ctx *cx, size_t start, size_t end, unsigned *tokens)
{
    size_t best_k = KB_NONE, best_p = 0;
    size_t acc_words = 0, acc_bytes = 0; /* units after k, with joiners */
    ck_buf b = {0};

    *tokens = 0;
    if (cx->overlap == 0)
        return NULL;
    for (size_t k = end; k-- > start;) {
        const ck_unit *u = &cx->units[k];
        size_t base_bytes = acc_bytes, words = 0, p = u->len;
        int whole = 0;

        if (unit_level(cx, u) > 0)
            break;
        if (k + 1 < end && cx->units[k + 1].joiner)
            base_bytes++;
        for (;;) {
            size_t q = prev_sentence(u->s, u->len, p);
            size_t w = words + ck_words(u->s + q, p - q);

            if (ck_tokens(acc_words + w, base_bytes + (u->len - q) + 1) > cx->overlap)
                break;
            best_k = k;
            best_p = q;
            words = w;
            p = q;
            if (q == 0) {
                whole = 1;
                break;
            }
        }
        if (!whole)
            break;
        acc_words += words;
        acc_bytes = base_bytes + u->len;
    }
    if (best_k == KB_NONE) {
        /* No sentence fits: the last words of the last unit. */
        const ck_unit *u = &cx->units[end - 1];
        size_t q = u->len, words = 0;

        if (unit_level(cx, u) > 0)
            return NULL;
        while (q > 0) {
            size_t ws = q;
            while (ws > 0 && ck_is_space((unsigned char)u->s[ws - 1]))
                ws--;
            while (ws > 0 && !ck_is_space((unsigned char)u->s[ws - 1]))
                ws--;
            if (ws == q || ck_tokens(words + 1, u->len - ws + 1) > cx->overlap)
                break;
            words++;
            q = ws;
            best_k = end - 1;
            best_p = q;
        }
        if (best_k == KB_NONE)
            return NULL;
    }
    for (size_t k = best_k; k < end; k++) {
        const ck_unit *u = &cx->units[k];
        size_t from = k == best_k ? best_p : 0;

        if (k > best_k && u->joiner)
            buf_add(&b, &u->joiner, 1);
        buf_add(&b, u->s + from, u->len - from);
    }
    if (b.oom) {
        cx->oom = 1;
        free(b.s);
        return NULL;
    }
    *tokens = unit_tokens(b.s, b.len);
    return buf_take(&b);
}

static void pack(ck_ctx *cx)
{
    size_t cstart = 0, i = 0, total = 0;
    unsigned ctoks = 0, own = 0, ovt = 0;
    int has_text = 0; /* the chunk has more than headings */
    char *ov = NULL;

    for (size_t k = 0; k < cx->nunits; k++)
        total += cx->units[k].tokens;
    if (total <= cx->target) {
        emit_chunk(cx, 0, cx->nunits, NULL);
        return;
    }
    while (i < cx->nunits && !cx->oom) {
        const ck_unit *u = &cx->units[i];
        int level = unit_level(cx, u);

        if (i > cstart) {
            if (level >= 1 && level <= 2 && u->joiner == '\n' && own > KB_CHUNK_MIN_TOKENS) {
                emit_chunk(cx, cstart, i, ov);
                ov = NULL;
                cstart = i;
                ctoks = own = 0;
                has_text = 0;
            } else if (ctoks + u->tokens > cx->target && (has_text || ctoks + u->tokens > cx->max)) {
                /* (Headings alone are no chunk: they may take a block up to
                 * max_tokens.) */
                size_t e = i;

                /* A chunk does not end with its next section's heading. */
                while (e - 1 > cstart && unit_level(cx, &cx->units[e - 1]) > 0)
                    e--;
                emit_chunk(cx, cstart, e, ov);
                ov = NULL;
                ctoks = own = 0;
                has_text = 0;
                if (unit_level(cx, &cx->units[e]) == 0) {
                    ov = make_overlap(cx, cstart, e, &ovt);
                    if (ov != NULL && ovt + cx->units[e].tokens > cx->max) {
                        free(ov);
                        ov = NULL;
                    }
                    if (ov != NULL)
                        ctoks = ovt;
                }
                cstart = e;
                i = e;
                continue;
            }
        }
        ctoks += u->tokens;
        own += u->tokens;
        has_text |= level == 0;
        i++;
    }
    if (cstart < cx->nunits)
        emit_chunk(cx, cstart, cx->nunits, ov);
    else
        free(ov);
}

/* ----------------------------------------------------------- public API */

void kb_chunks_free(kb_chunk *c, size_t n)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < n; i++) {
        free(c[i].heading_path);
        free(c[i].anchor);
        free(c[i].text);
    }
    free(c);
}

int kb_chunk_doc(const kb_doc *doc, const kb_chunk_opts *opts, kb_chunk **out, size_t *n)
{
    static const kb_chunk_opts defaults = KB_CHUNK_OPTS_DEFAULT;
    ck_ctx cx = {0};

    *out = NULL;
    *n = 0;
    if (opts == NULL)
        opts = &defaults;
    cx.doc = doc;
    cx.target = opts->target_tokens < 16 ? 16 : opts->target_tokens;
    cx.max = opts->max_tokens < cx.target ? cx.target : opts->max_tokens;
    cx.overlap = opts->overlap_tokens > cx.target / 2 ? cx.target / 2 : opts->overlap_tokens;
    if (doc == NULL || doc->nblocks == 0)
        return 0;

    for (size_t b = 0; b < doc->nblocks && !cx.oom; b++) {
        const char *t = doc->blocks[b].text;
        if (t != NULL)
            split_text(&cx, t, strlen(t), b, '\n', 0);
    }
    if (!cx.oom && cx.nunits > 0 && build_tree(&cx) != 0)
        cx.oom = 1;
    if (!cx.oom && cx.nunits > 0)
        pack(&cx);

    free(cx.units);
    free(cx.near);
    free(cx.parent);
    if (cx.oom) {
        kb_chunks_free(cx.chunks, cx.nchunks);
        return -1;
    }
    *out = cx.chunks;
    *n = cx.nchunks;
    return 0;
}
