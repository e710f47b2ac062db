/* embed.c: the embedder interface, the local embedder's use of its model
 * (see embed.h, lsa.h) and the hashed bag of words benchmarks use. */
#include "embed.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EMBED_PROVIDER_MAX 16
#define EMBED_MODEL_MAX 128

struct embedder {
    char provider[EMBED_PROVIDER_MAX];
    char model[EMBED_MODEL_MAX];
    unsigned dim;
    uint64_t requests;
    void *remote;   /* openai state */
    stemmer *st;    /* local */
    lsa_model *lsa; /* local: the trained model, or NULL */
    long long lsa_version;
};

/* Implemented in embed_openai.c. */
int embed_openai_open(void **state, const embed_opts *o, char *err, size_t errlen);
int embed_openai_embed(void *state, const char *model, unsigned dim, const char *const *texts, size_t n, float *out,
                       uint64_t *requests, char *err, size_t errlen);
void embed_openai_close(void *state);

static uint64_t embed_fnv(const char *s, size_t n, uint64_t seed)
{
    uint64_t h = 1469598103934665603ull ^ seed;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ull;
    }
    /* final mix so nearby inputs spread over all bits */
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return h;
}

static void embed_add(float *v, unsigned dim, const char *s, size_t n, uint64_t seed, float w)
{
    uint64_t h = embed_fnv(s, n, seed);
    unsigned idx = (unsigned)(h % dim);
    v[idx] += (h >> 63) ? -w : w;
}

typedef struct embed_hash_state {
    float *v;
    unsigned dim;
    char prev[STEM_WORD_MAX + 1];
    size_t prevn;
} embed_hash_state;

static void embed_hash_word(const char *w, size_t n, size_t pos, void *arg)
{
    (void)pos;
    embed_hash_state *h = arg;
    embed_add(h->v, h->dim, w, n, 1, 1.0f);
    char b[STEM_WORD_MAX + 3];
    b[0] = '#';
    memcpy(b + 1, w, n);
    b[n + 1] = '#';
    size_t bn = n + 2;
    float tw = 0.6f / (float)(bn >= 3 ? bn - 2 : 1);
    for (size_t k = 0; k + 3 <= bn; k++) {
        embed_add(h->v, h->dim, b + k, 3, 2, tw);
    }
    if (h->prevn > 0) {
        char pair[2 * STEM_WORD_MAX + 2];
        memcpy(pair, h->prev, h->prevn);
        pair[h->prevn] = ' ';
        memcpy(pair + h->prevn + 1, w, n);
        embed_add(h->v, h->dim, pair, h->prevn + 1 + n, 3, 0.5f);
    }
    memcpy(h->prev, w, n);
    h->prevn = n;
}

void embed_hash(stemmer *st, const char *text, size_t len, float *out, unsigned dim)
{
    memset(out, 0, dim * sizeof(float));
    embed_hash_state h = {.v = out, .dim = dim};
    stem_words(st, text, len, embed_hash_word, &h);
    /* sublinear weights: sign(x) * log(1 + |x|), then L2 normalise */
    double norm = 0;
    for (unsigned d = 0; d < dim; d++) {
        float x = out[d];
        float y = x >= 0 ? log1pf(x) : -log1pf(-x);
        out[d] = y;
        norm += (double)y * y;
    }
    if (norm > 0) {
        float inv = (float)(1.0 / sqrt(norm));
        for (unsigned d = 0; d < dim; d++) {
            out[d] *= inv;
        }
    }
}

int embedder_open(embedder **out, const embed_opts *o, char *err, size_t errlen)
{
    *out = NULL;
    embedder *e = calloc(1, sizeof(*e));
    if (e == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    const char *p = o->provider ? o->provider : "local";
    if (strcmp(p, "local") == 0) {
        snprintf(e->provider, sizeof(e->provider), "local");
        snprintf(e->model, sizeof(e->model), "%s", o->model ? o->model : EMBED_LOCAL_MODEL);
        e->dim = o->dimensions ? o->dimensions : EMBED_LOCAL_DIM;
        if (strcmp(e->model, EMBED_LOCAL_MODEL) != 0) {
            snprintf(err, errlen, "unknown local embedding model \"%s\" (the local embedder is %s)", e->model,
                     EMBED_LOCAL_MODEL);
            free(e);
            return -1;
        }
        if (stem_open(&e->st, EMBED_LOCAL_LANG) != 0) {
            snprintf(err, errlen, "out of memory");
            free(e);
            return -1;
        }
    } else if (strcmp(p, "openai") == 0) {
        snprintf(e->provider, sizeof(e->provider), "openai");
        snprintf(e->model, sizeof(e->model), "%s", o->model ? o->model : EMBED_OPENAI_DEFAULT_MODEL);
        e->dim = o->dimensions ? o->dimensions : EMBED_OPENAI_DEFAULT_DIM;
        if (embed_openai_open(&e->remote, o, err, errlen) != 0) {
            free(e);
            return -1;
        }
    } else {
        snprintf(err, errlen, "unknown embedding provider \"%s\" (use local or openai)", p);
        free(e);
        return -1;
    }
    if (e->dim == 0 || e->dim > 2000) {
        snprintf(err, errlen, "embedding dimension %u out of range 1..2000 (pgvector's HNSW limit)", e->dim);
        embedder_close(e);
        return -1;
    }
    *out = e;
    return 0;
}

void embedder_close(embedder *e)
{
    if (e == NULL) {
        return;
    }
    if (e->remote != NULL) {
        embed_openai_close(e->remote);
    }
    stem_close(e->st);
    lsa_free(e->lsa);
    free(e);
}

int embedder_needs_model(const embedder *e)
{
    return e->remote == NULL;
}
int embedder_ready(const embedder *e)
{
    return e->remote != NULL || e->lsa != NULL;
}
long long embedder_model_version(const embedder *e)
{
    return e->lsa ? e->lsa_version : 0;
}
const lsa_model *embedder_model_data(const embedder *e)
{
    return e->lsa;
}

void embedder_set_model(embedder *e, lsa_model *m, long long version)
{
    lsa_free(e->lsa);
    e->lsa = m;
    e->lsa_version = m ? version : 0;
}

const char *embedder_provider(const embedder *e)
{
    return e->provider;
}
const char *embedder_model(const embedder *e)
{
    return e->model;
}
unsigned embedder_dimensions(const embedder *e)
{
    return e->dim;
}
uint64_t embedder_requests(const embedder *e)
{
    return e->requests;
}

int embedder_embed(embedder *e, const char *const *texts, size_t n, float *out, char *err, size_t errlen)
{
    if (e->remote == NULL) {
        if (e->lsa == NULL || lsa_dimensions(e->lsa) != e->dim) {
            snprintf(err, errlen, "the local embedder has no model trained on this knowledge base yet (index first)");
            return -1;
        }
        for (size_t i = 0; i < n; i++) {
            size_t len = strlen(texts[i]);
            lsa_embed(e->lsa, e->st, texts[i], len > EMBED_MAX_INPUT_BYTES ? EMBED_MAX_INPUT_BYTES : len,
                      out + i * e->dim);
        }
        return 0;
    }
    return embed_openai_embed(e->remote, e->model, e->dim, texts, n, out, &e->requests, err, errlen);
}

size_t embed_to_pgvector(const float *v, unsigned dim, char *buf, size_t len)
{
    size_t off = 0;
    if (len < 3) {
        return 0;
    }
    buf[off++] = '[';
    for (unsigned i = 0; i < dim; i++) {
        int w = snprintf(buf + off, len - off, i ? ",%.6g" : "%.6g", (double)v[i]);
        if (w < 0 || (size_t)w >= len - off) {
            return 0;
        }
        off += (size_t)w;
    }
    if (off + 2 > len) {
        return 0;
    }
    buf[off++] = ']';
    buf[off] = '\0';
    return off;
}
