/*
 * chunk.h - cut an extracted document (extract.h) into chunks for
 * embedding and full-text search.
 *
 * Owns: the chunk array it returns, which belongs to the caller and is
 * released with kb_chunks_free().  The kb_doc is only read and may be
 * freed as soon as kb_chunk_doc() returns (chunks hold copies).
 *
 * Rules, in order:
 *   - a document of at most target_tokens is one chunk;
 *   - a heading of level 1 or 2 starts a new chunk, unless the chunk so
 *     far is trivial (<= KB_CHUNK_MIN_TOKENS), so a page title and its
 *     intro stay with the first section;
 *   - otherwise whole blocks are packed greedily up to target_tokens; a
 *     chunk never ends with a heading (it moves to the next chunk), and a
 *     chunk holding only headings takes the next block even past
 *     target_tokens (up to max_tokens);
 *   - a block is split only when it alone exceeds max_tokens: at sentence
 *     ends (". ", "? ", "! " before a capital, digit or quote), then after
 *     ": " / "; ", then between words, and as a last resort inside a word
 *     (never inside a UTF-8 sequence);
 *   - when a cut falls inside a section (the next chunk does not start
 *     with a heading), the next chunk starts with the last sentences of
 *     the previous one, about overlap_tokens of them (whole sentences;
 *     the last words when one sentence is already longer);
 *   - every chunk is non-empty and kb_estimate_tokens(text) <= max_tokens.
 * The result depends only on the document and the options.
 *
 * Thread-safety: no shared state; any thread may call any function.
 */
#ifndef KB_CHUNK_H
#define KB_CHUNK_H

#include <stddef.h>

#include "extract.h"

#define KB_CHUNK_MIN_TOKENS 50     /* below this a section heading does not cut */
#define KB_HEADING_PATH_MAX 1024   /* bytes of heading_path kept */
#define KB_HEADING_IN_PATH_MAX 200 /* bytes of one heading within the path */

typedef struct kb_chunk_opts {
    unsigned target_tokens;  /* 512 */
    unsigned overlap_tokens; /* 64 */
    unsigned max_tokens;     /* 800: hard cap */
} kb_chunk_opts;

#define KB_CHUNK_OPTS_DEFAULT                                                                                          \
    {                                                                                                                  \
        512, 64, 800                                                                                                   \
    }

typedef struct kb_chunk {
    char *heading_path; /* "Pricing > Plans > Growth": the headings above
                           the chunk's first text block (headings opening the
                           chunk included), outermost first, each cut to
                           KB_HEADING_IN_PATH_MAX bytes; "" when none.  The
                           doc title is not added (it appears only when it is
                           also the h1). */
    char *anchor;       /* anchor of the nearest of those headings that has
                           one, without '#'; NULL when none has */
    char *text;         /* blocks joined by "\n", headings on their own
                           lines; pieces of a split block joined by " " */
    unsigned tokens;    /* kb_estimate_tokens(text) */
    unsigned ord;       /* 0, 1, 2 ... in document order */
} kb_chunk;

/*
 * Token estimate: max(ceil(words * 4 / 3), ceil(bytes / 4)), where words
 * are runs of non-whitespace.  Both halves are the usual rules of thumb for
 * BPE tokenisers on English (about 0.75 words or 4 characters per token);
 * the word count wins on prose of short words and numbers, the byte count
 * on URLs, e-mail addresses, code and non-Latin text, where words split
 * into many tokens (counting bytes rather than characters also charges
 * multi-byte characters more, as BPE does).  Taking the larger errs on the
 * side of overestimating, which is the safe side for a hard cap.  Cheap
 * (one pass), deterministic, and needs no vocabulary.
 */
unsigned kb_estimate_tokens(const char *text, size_t len);

/*
 * Chunk doc into *out (caller frees with kb_chunks_free) and set *n.  opts
 * NULL means KB_CHUNK_OPTS_DEFAULT; out-of-range options are clamped:
 * target_tokens to at least 16, max_tokens to at least target_tokens,
 * overlap_tokens to at most target_tokens / 2.  A document without blocks
 * gives *out NULL and *n 0.  Returns 0, or -1 on OOM (then *out is NULL
 * and *n 0).
 */
int kb_chunk_doc(const kb_doc *doc, const kb_chunk_opts *opts, kb_chunk **out, size_t *n);

/* Free chunks c[0..n) and the array; NULL is fine. */
void kb_chunks_free(kb_chunk *c, size_t n);

#endif /* KB_CHUNK_H */
