/* embed.h: text embedders, one interface for the indexer and retrieval.
 *
 *   local   deterministic CPU embedding: hashed word, word-pair and
 *           character-trigram features, signed feature hashing into
 *           EMBED_LOCAL_DIM dimensions, sublinear term weights, L2 norm.
 *           No network, no model files; the embedded default.
 *   openai  POST {base}/embeddings (OpenAI or compatible), batched within
 *           the documented limits, retried on 429/5xx honouring retry-after.
 *
 * An embedder is used by one thread at a time (each worker opens its own).
 * Vectors are L2-normalised, so cosine distance is 1 - dot product. */
#ifndef CHAT_EMBED_H
#define CHAT_EMBED_H

#include <stddef.h>
#include <stdint.h>

#define EMBED_LOCAL_DIM 384
#define EMBED_LOCAL_MODEL "hash-v1"
#define EMBED_OPENAI_DEFAULT_MODEL "text-embedding-3-small"
#define EMBED_OPENAI_DEFAULT_DIM 1536
#define EMBED_MAX_INPUT_BYTES 32768    /* longer texts are cut (8,192 tokens is about 32 KB) */
#define EMBED_BATCH_MAX_INPUTS 256     /* per request (the API allows 2,048) */
#define EMBED_BATCH_MAX_TOKENS 250000  /* estimated, per request (the API allows 300,000) */

typedef struct embedder embedder;

typedef struct embed_opts {
    const char *provider;   /* "local" | "openai" */
    const char *model;      /* NULL = provider default */
    unsigned dimensions;    /* 0 = provider default */
    const char *api_key;    /* openai */
    const char *base_url;   /* openai: "https://api.openai.com/v1" */
    unsigned timeout_ms;    /* per HTTP request; 0 = 60 s */
    unsigned max_retries;   /* 0 = 4 */
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

/* The local embedding of one text (used by embedder_embed for "local"). */
void embed_local(const char *text, size_t len, float *out, unsigned dim);

/* Formats a vector as pgvector text "[0.1,0.2,...]" into buf; returns the
 * length, or 0 when buf is too small (needs about 12 bytes per dimension). */
size_t embed_to_pgvector(const float *v, unsigned dim, char *buf, size_t len);

#endif
