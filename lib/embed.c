/* embed.c: the embedder interface and the local embedder (see embed.h).
 *
 * Why these features: visitors type short, informal questions with typos and
 * other word forms than the page ("pricing" vs "prices", "cancel" vs
 * "cancellation"). Whole words carry topic; word pairs carry phrases
 * ("single sign"); character trigrams of each word make "cancelation" and
 * "cancellation" share most features. Stop words are dropped so "what is the"
 * does not dominate short queries. Signed hashing keeps collisions unbiased. */
#include "embed.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EMBED_WORD_MAX 48
#define EMBED_PROVIDER_MAX 16
#define EMBED_MODEL_MAX 128

struct embedder {
    char provider[EMBED_PROVIDER_MAX];
    char model[EMBED_MODEL_MAX];
    unsigned dim;
    uint64_t requests;
    void *remote; /* openai state */
};

/* Implemented in embed_openai.c. */
int embed_openai_open(void **state, const embed_opts *o, char *err, size_t errlen);
int embed_openai_embed(void *state, const char *model, unsigned dim, const char *const *texts, size_t n, float *out,
                       uint64_t *requests, char *err, size_t errlen);
void embed_openai_close(void *state);

static const char *const embed_stopwords[] = {
    "a",     "about", "am",    "an",   "and",  "any",   "are",   "as",    "at",    "be",   "been",  "but",
    "by",    "can",   "could", "did",  "do",   "does",  "for",   "from",  "had",   "has",  "have",  "hello",
    "hey",   "hi",    "how",   "i",    "if",   "im",    "in",    "into",  "is",    "it",   "its",   "just",
    "me",    "my",    "of",    "on",   "or",   "our",   "please", "so",   "some",  "than", "that",  "the",
    "their", "them",  "then",  "there", "these", "they", "this",  "to",   "u",     "us",   "was",   "we",
    "were",  "what",  "when",  "where", "which", "who",  "why",   "will",  "with",  "would", "you",  "your",
    "guys",  "there", "thanks", "thank", "want", "wanna", "need", "get",   "tell",  "know",
};

static int embed_is_stop(const char *w, size_t n)
{
    for (size_t i = 0; i < sizeof(embed_stopwords) / sizeof(embed_stopwords[0]); i++) {
        if (strlen(embed_stopwords[i]) == n && memcmp(embed_stopwords[i], w, n) == 0) {
            return 1;
        }
    }
    return 0;
}

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

/* A crude stemmer: enough that plural and -ing/-ed forms share the word
 * feature (the trigrams cover the rest). */
static size_t embed_stem(char *w, size_t n)
{
    if (n > 5 && memcmp(w + n - 3, "ing", 3) == 0) {
        return n - 3;
    }
    if (n > 4 && memcmp(w + n - 2, "ed", 2) == 0) {
        return n - 2;
    }
    if (n > 4 && memcmp(w + n - 3, "ies", 3) == 0) {
        w[n - 3] = 'y';
        return n - 2;
    }
    if (n > 3 && w[n - 1] == 's' && w[n - 2] != 's') {
        return n - 1;
    }
    return n;
}

void embed_local(const char *text, size_t len, float *out, unsigned dim)
{
    memset(out, 0, dim * sizeof(float));
    char prev[EMBED_WORD_MAX + 1] = "";
    size_t prevn = 0;
    size_t i = 0;
    while (i < len) {
        /* a word: ASCII letters/digits, and any non-ASCII bytes (UTF-8
         * letters) */
        while (i < len && !isalnum((unsigned char)text[i]) && (unsigned char)text[i] < 0x80) {
            i++;
        }
        char w[EMBED_WORD_MAX + 2];
        size_t n = 0;
        while (i < len && (isalnum((unsigned char)text[i]) || (unsigned char)text[i] >= 0x80)) {
            if (n < EMBED_WORD_MAX) {
                w[n++] = (char)tolower((unsigned char)text[i]);
            }
            i++;
        }
        if (n == 0 || embed_is_stop(w, n)) {
            continue;
        }
        n = embed_stem(w, n);
        embed_add(out, dim, w, n, 1, 1.0f);
        /* character trigrams with word boundaries */
        char b[EMBED_WORD_MAX + 3];
        b[0] = '#';
        memcpy(b + 1, w, n);
        b[n + 1] = '#';
        size_t bn = n + 2;
        float tw = 0.6f / (float)(bn >= 3 ? bn - 2 : 1);
        for (size_t k = 0; k + 3 <= bn; k++) {
            embed_add(out, dim, b + k, 3, 2, tw);
        }
        if (prevn > 0) {
            char pair[2 * EMBED_WORD_MAX + 2];
            memcpy(pair, prev, prevn);
            pair[prevn] = ' ';
            memcpy(pair + prevn + 1, w, n);
            embed_add(out, dim, pair, prevn + 1 + n, 3, 0.5f);
        }
        memcpy(prev, w, n);
        prevn = n;
    }
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
    free(e);
}

const char *embedder_provider(const embedder *e) { return e->provider; }
const char *embedder_model(const embedder *e) { return e->model; }
unsigned embedder_dimensions(const embedder *e) { return e->dim; }
uint64_t embedder_requests(const embedder *e) { return e->requests; }

int embedder_embed(embedder *e, const char *const *texts, size_t n, float *out, char *err, size_t errlen)
{
    if (e->remote == NULL) {
        for (size_t i = 0; i < n; i++) {
            size_t len = strlen(texts[i]);
            embed_local(texts[i], len > EMBED_MAX_INPUT_BYTES ? EMBED_MAX_INPUT_BYTES : len, out + i * e->dim,
                        e->dim);
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
