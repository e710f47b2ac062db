/* store.h: writes documents and their chunks into the knowledge base,
 * incrementally.
 *
 * A document whose content hash is unchanged costs one SELECT and nothing
 * else. A changed document keeps the chunks whose content hash it still
 * has (no embedding call, at most an UPDATE of position/anchor), embeds
 * only its new chunks, and deletes the chunks it no longer has, all in one
 * transaction, so a failure never leaves a half-written document.
 * Called from one thread with its own connection.
 * Owns: a plan owns its hashes, texts and vectors (kb_store_plan_free) and
 * borrows the kb_store_doc it was made from. */
#ifndef IDX_STORE_H
#define IDX_STORE_H

#include <libpq-fe.h>

#include "chunk.h"
#include "embed.h"

#define KB_HASH_HEX 65 /* sha-256 as hex + NUL */

typedef struct kb_store_doc {
    const char *source; /* identity: URL or base + path */
    const char *url;    /* canonical URL for citations */
    const char *title;
    const char *lang; /* may be NULL */
    size_t bytes;     /* size of the raw page */
    const kb_chunk *chunks;
    size_t nchunks;
} kb_store_doc;

typedef enum { KB_DOC_UNCHANGED = 0, KB_DOC_ADDED, KB_DOC_CHANGED } kb_doc_action;

typedef struct kb_store_result {
    kb_doc_action action;
    unsigned embedded; /* chunks sent to the embedder */
    unsigned written;  /* chunk rows inserted or updated */
    unsigned deleted;  /* chunk rows removed */
} kb_store_result;

/* Declares the embedder's model to the database (kb_use_embedding_model):
 * 0, or -1 with the database's message (a mismatch says to re-index). */
int kb_store_check_model(PGconn *pg, const embedder *e, char *err, size_t errlen);

/* The three steps of a write, so the pipeline can embed the new chunks of
 * several documents in one batch:
 *   plan:  read what the database has (1-2 SELECTs), decide what changes;
 *   embed: one embedder call for the pending chunks of several plans;
 *   apply: one transaction per document.
 * A plan keeps pointers into the kb_store_doc (its chunks must live until
 * apply). force: re-embed every chunk even when unchanged. */
typedef struct kb_store_plan kb_store_plan;
int kb_store_plan_doc(PGconn *pg, const kb_store_doc *d, int force, kb_store_plan **out, char *err, size_t errlen);
kb_doc_action kb_store_plan_action(const kb_store_plan *pl);
size_t kb_store_plan_pending(const kb_store_plan *pl); /* chunks to embed */
int kb_store_embed(embedder *e, kb_store_plan *const *plans, size_t n, char *err, size_t errlen);
int kb_store_apply(PGconn *pg, const embedder *e, kb_store_plan *pl, kb_store_result *res, char *err, size_t errlen);
void kb_store_plan_free(kb_store_plan *pl);

/* All three for one document. */
int kb_store_upsert(PGconn *pg, embedder *e, const kb_store_doc *d, int force, kb_store_result *res, char *err,
                    size_t errlen);

/* Removes documents whose source starts with prefix and is not in seen
 * (sorted with strcmp). *removed counts them. */
int kb_store_prune(PGconn *pg, const char *prefix, char *const *seen, size_t nseen, unsigned *removed, char *err,
                   size_t errlen);

/* sha-256 of data as lowercase hex. */
void kb_sha256_hex(const void *data, size_t len, char out[KB_HASH_HEX]);

#endif
