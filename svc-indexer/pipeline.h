/* pipeline.h: one indexing run over some sources: list, fetch, extract,
 * chunk, embed, store, prune; with counts and a reason for every page that
 * failed or was skipped. Runs on the calling thread with one connection.
 * Owns: nothing beyond one run; the caller owns the stats, the connection
 * and the embedder (whose local model a run may replace). */
#ifndef IDX_PIPELINE_H
#define IDX_PIPELINE_H

#include <libpq-fe.h>
#include <stdint.h>
#include <stdio.h>

#include "embed.h"

#define IDX_ERRORS_MAX 200
#define IDX_ERROR_TEXT_MAX 300

typedef struct idx_error {
    char source[512];
    char message[IDX_ERROR_TEXT_MAX];
    int skipped; /* 1: skipped (empty, binary, robots), 0: failed */
} idx_error;

typedef struct idx_stats {
    unsigned seen, added, changed, unchanged, removed, failed, skipped;
    unsigned chunks_embedded, chunks_written, chunks_deleted;
    uint64_t embed_requests;
    /* the local embedder's model (model.h): trained this run, its version
     * afterwards, words, seconds training and re-embedding */
    int model_trained;
    long long model_version;
    size_t model_words;
    double model_train_seconds, model_embed_seconds;
    double seconds;
    idx_error errors[IDX_ERRORS_MAX];
    size_t nerrors; /* recorded (at most IDX_ERRORS_MAX; the counts are exact) */
} idx_stats;

typedef struct idx_opts {
    PGconn *pg;
    embedder *emb;
    const char *base_url;       /* names folder pages; NULL = file:// paths */
    int pretty_urls;            /* folder pages: SRC_URL_PRETTY (extension dropped) instead of the path */
    int force;                  /* re-embed unchanged chunks */
    int prune;                  /* remove documents gone from a source */
    FILE *progress;             /* a terminal to draw a progress line on, or NULL */
    volatile int *stop;         /* set to stop between pages, or NULL */
    unsigned fetch_concurrency; /* HTTP requests in flight at most (0/1 = one at a time) */
} idx_opts;

/* Returns 0 when the run completed (pages may have failed: see stats), -1
 * when it could not run at all (database, embedding model mismatch). */
int idx_run(const char *const *sources, size_t nsources, const idx_opts *o, idx_stats *st, char *err, size_t errlen);

/* Writes the summary ("documents: 34 seen, ...") and the per-page reasons. */
void idx_print_summary(const idx_stats *st, FILE *out);

#endif
