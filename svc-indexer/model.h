/* model.h: the local embedder's model in the knowledge base (table
 * kb_local_model): loaded before a run, trained after one when the
 * knowledge base has changed enough, and every chunk re-embedded with it.
 *
 * When to train: when there is no model yet, when --force is given, or when
 * the chunks embedded or deleted since the last training exceed
 * KB_MODEL_RETRAIN_PERCENT of the chunks it was trained on. Between
 * trainings, new chunks are embedded with the current model (words it does
 * not know count for nothing), so an unchanged run costs nothing and a
 * small edit costs only its own chunks.
 *
 * A training writes, in one transaction: every chunk's new vector (through
 * COPY into a temporary table), the model with version + 1, and the HNSW
 * index rebuilt once (searches wait for the commit and then see the new
 * vectors and the new model together).
 *
 * Called on the indexer's one thread with its connection; nothing for
 * other embedders (OpenAI needs no training).
 * Owns: nothing; a model it loads or trains goes to the embedder
 * (embedder_set_model), which frees it. */
#ifndef IDX_MODEL_H
#define IDX_MODEL_H

#include <libpq-fe.h>

#include "embed.h"

#define KB_MODEL_RETRAIN_PERCENT 20

typedef struct kb_model_result {
    int trained;              /* 1: a new model this run */
    long long version;        /* the model in use afterwards (0: none) */
    size_t words;             /* in the model */
    unsigned chunks_embedded; /* by the training (all chunks) or catching up */
    double train_seconds, embed_seconds;
} kb_model_result;

/* Installs the stored model into e (when e learns from the knowledge base
 * and one is stored). 0, or -1 with err (database, a corrupt model). */
int kb_model_load(PGconn *pg, embedder *e, char *err, size_t errlen);

/* After a run that embedded or deleted `changed` chunks: trains when due
 * (see above) or catches up chunks that have no vector yet. 0, or -1 with
 * err; a failed training leaves the previous model and vectors intact. */
int kb_model_refresh(PGconn *pg, embedder *e, unsigned changed, int force, kb_model_result *res, char *err,
                     size_t errlen);

#endif
