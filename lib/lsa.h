/* lsa.h: latent semantic analysis, the local embedder's model.
 *
 * Trained on the knowledge base's own chunks: words (stem.h) weighted by
 * sublinear tf x idf, each chunk's column normalised, then the best rank-k
 * approximation of the term x chunk matrix by randomized SVD (Halko,
 * Martinsson & Tropp 2011: a Gaussian sketch, one power iteration, QR and a
 * small symmetric eigenproblem by LAPACK). A word's vector is its row of
 * U_k; a text's vector is the tf-idf weighted sum of its words' vectors,
 * L2-normalised — dense, so a question shares meaning with a page that
 * uses other words for the same thing ("throwaway file" / "temporary").
 *
 * Training is deterministic (a fixed seed) and bounded: at most
 * LSA_TRAIN_CHUNKS_MAX chunks (evenly sampled) and LSA_VOCAB_MAX words.
 * A model is immutable once trained or loaded, so one model may be read
 * by several threads; each thread brings its own stemmer.
 *
 * Owns: lsa_train/lsa_load return a model the caller frees with lsa_free;
 * lsa_save returns a malloc'd buffer the caller frees. */
#ifndef CHAT_LSA_H
#define CHAT_LSA_H

#include <stddef.h>
#include <stdint.h>

#include "stem.h"

#define LSA_DIM_DEFAULT 256
#define LSA_VOCAB_MAX 20000                /* words in a model (the most frequent kept) */
#define LSA_TRAIN_CHUNKS_MAX 20000         /* chunks a model is trained on, at most */
#define LSA_CANDIDATE_WORDS_MAX (1u << 19) /* distinct words counted while training */
#define LSA_TEXT_WORDS_MAX 8192            /* words of one text that are embedded */
#define LSA_MIN_CHUNKS 2                   /* fewer chunks cannot be trained on */

typedef struct lsa_model lsa_model;

/* Trains a model of dim dimensions on n texts in language lang (stem.h).
 * Returns 0, or -1 with a reason in err (too few texts or words, out of
 * memory, LAPACK failed). */
int lsa_train(const char *const *texts, size_t n, unsigned dim, const char *lang, lsa_model **out, char *err,
              size_t errlen);

/* The vector of text[0..len) into out (dimensions floats); words the model
 * does not know count for nothing. Returns the number of known words (0:
 * out is all zeros). */
size_t lsa_embed(const lsa_model *m, stemmer *st, const char *text, size_t len, float *out);

unsigned lsa_dimensions(const lsa_model *m);
size_t lsa_words(const lsa_model *m);

/* A model as bytes (for the database) and back. lsa_load checks every
 * length against the buffer. */
int lsa_save(const lsa_model *m, unsigned char **data, size_t *len);
int lsa_load(const unsigned char *data, size_t len, lsa_model **out, char *err, size_t errlen);
void lsa_free(lsa_model *m);

#endif
