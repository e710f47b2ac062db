/* embed.h: text embedders, one interface for the indexer and retrieval.
 *
 *   local   latent semantic analysis learned from the knowledge base itself
 *           (lsa.h): no network, no API key, no downloaded weights. Its
 *           vectors need a model trained on the indexed chunks: the indexer
 *           trains one (svc-indexer/model.c), stores it in Postgres with a
 *           version, and installs it with embedder_set_model; retrieval
 *           loads the same one. Without a model it cannot embed.
 *   openai  POST {base}/embeddings (OpenAI or compatible), batched within
 *           the documented limits, retried on 429/5xx honouring retry-after.
 *
 * An embedder is used by one thread at a time (each worker opens its own).
 * Vectors are L2-normalised, so cosine distance is 1 - dot product.
 * Owns: an embedder owns its model (set with embedder_set_model) and its
 * HTTP state; embedder_close frees both. */
#ifndef CHAT_EMBED_H
#define CHAT_EMBED_H

#include <stddef.h>
#include <stdint.h>

#include "lsa.h"
#include "stem.h"

/* A change that alters the local embedder's vectors bumps its model id
 * (hash-v1 was the hashed bag of words before it). */
#define EMBED_LOCAL_DIM LSA_DIM_DEFAULT
#define EMBED_LOCAL_MODEL "lsa-v1"
#define EMBED_LOCAL_LANG "en" /* the stemmer of the local embedder */
#define EMBED_HASH_DIM 384    /* embed_hash: synthetic vectors for benchmarks */
#define EMBED_OPENAI_DEFAULT_MODEL "text-embedding-3-small"
#define EMBED_OPENAI_DEFAULT_DIM 1536
#define EMBED_MAX_INPUT_BYTES 32768   /* longer texts are cut (8,192 tokens is about 32 KB) */
#define EMBED_BATCH_MAX_INPUTS 256    /* per request (the API allows 2,048) */
#define EMBED_BATCH_MAX_TOKENS 250000 /* estimated, per request (the API allows 300,000) */

typedef struct embedder embedder;

typedef struct embed_opts {
    const char *provider; /* "local" | "openai" */
    const char *model;    /* NULL = provider default */
    unsigned dimensions;  /* 0 = provider default */
    const char *api_key;  /* openai */
    const char *base_url; /* openai: "https://api.openai.com/v1" */
    unsigned timeout_ms;  /* per HTTP request; 0 = 60 s */
    unsigned max_retries; /* 0 = 4 */
} embed_opts;

int embedder_open(embedder **out, const embed_opts *o, char *err, size_t errlen);
void embedder_close(embedder *e);

const char *embedder_provider(const embedder *e);
const char *embedder_model(const embedder *e);
unsigned embedder_dimensions(const embedder *e);
/* HTTP requests made so far (0 for local); tests prove incremental indexing
 * with it. */
uint64_t embedder_requests(const embedder *e);

/* Embeds n texts into out (n * dimensions floats, caller's memory). Returns
 * 0, or -1 with a reason in err (nothing partial is meaningful then). */
int embedder_embed(embedder *e, const char *const *texts, size_t n, float *out, char *err, size_t errlen);

/* The local embedder learns from the knowledge base: 1 when e is one. */
int embedder_needs_model(const embedder *e);
/* 1 when e can embed now (remote, or local with a model installed). */
int embedder_ready(const embedder *e);
/* Installs a trained local model (e takes ownership; NULL removes it) and
 * the version it is stored under. */
void embedder_set_model(embedder *e, lsa_model *m, long long version);
long long embedder_model_version(const embedder *e); /* 0 = none */
const lsa_model *embedder_model_data(const embedder *e);

/* A hashed bag of stemmed words, word pairs and character trigrams in dim
 * dimensions: no model, no meaning beyond the words. Benchmarks use it to
 * make vectors without training. */
void embed_hash(stemmer *st, const char *text, size_t len, float *out, unsigned dim);

/* Formats a vector as pgvector text "[0.1,0.2,...]" into buf; returns the
 * length, or 0 when buf is too small (needs about 12 bytes per dimension). */
size_t embed_to_pgvector(const float *v, unsigned dim, char *buf, size_t len);

#endif
