/* lsa.c: see lsa.h.
 *
 * Layout: words sorted (binary search at embedding time), an idf and a
 * quantized vector per word (int8 with a per-word scale: a 20,000-word,
 * 256-dimension model is 5 MB, and each retrieval worker holds one).
 * Matrices while training are row-major floats; the sparse term x chunk
 * matrix is kept by chunk (CSR over chunks). */
#include "lsa.h"

#include <lapacke.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LSA_MAGIC "KBLSA1\n"
#define LSA_MAGIC_LEN 8
#define LSA_OVERSAMPLE 16 /* extra sketch columns: accuracy of the top k */
#define LSA_SEED 0x9e3779b97f4a7c15ull
#define LSA_CHUNKS_PER_DIM 6
#define LSA_MIN_DIM 16

struct lsa_model {
    unsigned dim;
    size_t nwords;
    char **words; /* sorted; point into pool */
    char *pool;
    float *idf;
    float *scale; /* per word: vector = scale * q */
    int8_t *q;    /* nwords * dim */
};

unsigned lsa_dimensions(const lsa_model *m)
{
    return m->dim;
}
size_t lsa_words(const lsa_model *m)
{
    return m->nwords;
}

void lsa_free(lsa_model *m)
{
    if (m == NULL) {
        return;
    }
    free(m->words);
    free(m->pool);
    free(m->idf);
    free(m->scale);
    free(m->q);
    free(m);
}

/* --- counting words while training -------------------------------------------- */

typedef struct lsa_vocab {
    uint32_t *slot; /* word id + 1, 0 = empty; open addressing */
    size_t cap;     /* power of two, 2 x LSA_CANDIDATE_WORDS_MAX */
    char **word;
    uint32_t *df;
    size_t n;
    int full;
} lsa_vocab;

static uint64_t lsa_hash(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ull;
    }
    return h ^ (h >> 29);
}

/* The id of a word, added when new; -1 when the table is full. */
static long lsa_vocab_id(lsa_vocab *v, const char *w, size_t n)
{
    size_t i = (size_t)lsa_hash(w, n) & (v->cap - 1);
    while (v->slot[i] != 0) {
        const char *x = v->word[v->slot[i] - 1];
        if (strlen(x) == n && memcmp(x, w, n) == 0) {
            return (long)v->slot[i] - 1;
        }
        i = (i + 1) & (v->cap - 1);
    }
    if (v->n >= LSA_CANDIDATE_WORDS_MAX) {
        v->full = 1;
        return -1;
    }
    v->word[v->n] = strndup(w, n);
    if (v->word[v->n] == NULL) {
        return -1;
    }
    v->slot[i] = (uint32_t)(v->n + 1);
    return (long)v->n++;
}

typedef struct lsa_collect {
    lsa_vocab *v;
    uint32_t *ids; /* this text's word ids */
    size_t n;
} lsa_collect;

static void lsa_collect_word(const char *w, size_t n, size_t pos, void *arg)
{
    (void)pos;
    lsa_collect *c = arg;
    if (c->n >= LSA_TEXT_WORDS_MAX) {
        return;
    }
    long id = lsa_vocab_id(c->v, w, n);
    if (id >= 0) {
        c->ids[c->n++] = (uint32_t)id;
    }
}

static int lsa_cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* --- random numbers, for the sketch ------------------------------------------- */

static uint64_t lsa_rng_next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static float lsa_gauss(uint64_t *s)
{
    double u1 = ((double)(lsa_rng_next(s) >> 11) + 1.0) / 9007199254740993.0;
    double u2 = (double)(lsa_rng_next(s) >> 11) / 9007199254740992.0;
    return (float)(sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2));
}

/* --- the sparse matrix and its products ----------------------------------------- */

typedef struct lsa_csr {
    size_t nrows;  /* chunks */
    size_t *start; /* nrows + 1 */
    uint32_t *col; /* word */
    float *val;
} lsa_csr;

/* Y (nwords x l) = A W, where A is words x chunks, stored by chunk, and W
 * is chunks x l. */
static void lsa_mul_a(const lsa_csr *a, const float *w, size_t nwords, size_t l, float *y)
{
    memset(y, 0, nwords * l * sizeof(float));
    for (size_t d = 0; d < a->nrows; d++) {
        const float *wd = w + d * l;
        for (size_t k = a->start[d]; k < a->start[d + 1]; k++) {
            float *yt = y + (size_t)a->col[k] * l;
            float x = a->val[k];
            for (size_t j = 0; j < l; j++) {
                yt[j] += x * wd[j];
            }
        }
    }
}

/* Z (chunks x l) = A^T Q, Q words x l. */
static void lsa_mul_at(const lsa_csr *a, const float *q, size_t l, float *z)
{
    for (size_t d = 0; d < a->nrows; d++) {
        float *zd = z + d * l;
        memset(zd, 0, l * sizeof(float));
        for (size_t k = a->start[d]; k < a->start[d + 1]; k++) {
            const float *qt = q + (size_t)a->col[k] * l;
            float x = a->val[k];
            for (size_t j = 0; j < l; j++) {
                zd[j] += x * qt[j];
            }
        }
    }
}

/* Replaces m (rows x l, row-major, rows >= l) by an orthonormal basis of
 * its columns. */
static int lsa_orthonormalise(float *m, size_t rows, size_t l)
{
    float *tau = malloc(l * sizeof(float));
    if (tau == NULL) {
        return -1;
    }
    int rc = LAPACKE_sgeqrf(LAPACK_ROW_MAJOR, (lapack_int)rows, (lapack_int)l, m, (lapack_int)l, tau);
    if (rc == 0) {
        rc = LAPACKE_sorgqr(LAPACK_ROW_MAJOR, (lapack_int)rows, (lapack_int)l, (lapack_int)l, m, (lapack_int)l, tau);
    }
    free(tau);
    return rc == 0 ? 0 : -1;
}

/* --- training ------------------------------------------------------------------ */

typedef struct lsa_cand {
    uint32_t id, df;
} lsa_cand;

static int lsa_cmp_cand(const void *a, const void *b)
{
    const lsa_cand *x = a, *y = b;
    if (x->df != y->df) {
        return x->df > y->df ? -1 : 1;
    }
    return x->id < y->id ? -1 : x->id > y->id;
}

static const char *const *lsa_sort_words_base;
static int lsa_cmp_word_idx(const void *a, const void *b)
{
    return strcmp(lsa_sort_words_base[*(const uint32_t *)a], lsa_sort_words_base[*(const uint32_t *)b]);
}

int lsa_train(const char *const *texts, size_t n, unsigned dim, const char *lang, lsa_model **out, char *err,
              size_t errlen)
{
    *out = NULL;
    int rc = -1;
    stemmer *st = NULL;
    lsa_vocab v = {0};
    lsa_csr a = {0};
    uint32_t *doc_ids = NULL, *newid = NULL, *order = NULL;
    size_t *doc_start = NULL;
    lsa_cand *cand = NULL;
    float *omega = NULL, *y = NULL, *z = NULL, *c = NULL, *ev = NULL, *row = NULL;
    lsa_model *m = NULL;
    size_t ntrain = n < LSA_TRAIN_CHUNKS_MAX ? n : LSA_TRAIN_CHUNKS_MAX;
    size_t nw = 0, l = 0;

    if (ntrain < LSA_MIN_CHUNKS) {
        snprintf(err, errlen, "%zu chunks are too few to learn from", n);
        goto out;
    }
    if (stem_open(&st, lang) != 0) {
        goto oom;
    }
    v.cap = (size_t)LSA_CANDIDATE_WORDS_MAX * 2;
    v.slot = calloc(v.cap, sizeof(*v.slot));
    v.word = calloc(LSA_CANDIDATE_WORDS_MAX, sizeof(*v.word));
    v.df = calloc(LSA_CANDIDATE_WORDS_MAX, sizeof(*v.df));
    doc_start = calloc(ntrain + 1, sizeof(*doc_start));
    uint32_t *text_ids = malloc(LSA_TEXT_WORDS_MAX * sizeof(*text_ids));
    size_t cap_ids = 1 << 16, n_ids = 0;
    doc_ids = malloc(cap_ids * sizeof(*doc_ids));
    uint32_t *doc_tf = malloc(cap_ids * sizeof(*doc_tf));
    if (v.slot == NULL || v.word == NULL || v.df == NULL || doc_start == NULL || text_ids == NULL || doc_ids == NULL ||
        doc_tf == NULL) {
        free(text_ids);
        free(doc_tf);
        goto oom;
    }

    /* 1. words per chunk (distinct, with counts) and document frequencies */
    for (size_t i = 0; i < ntrain; i++) {
        size_t src = ntrain == n ? i : (size_t)((double)i * (double)n / (double)ntrain);
        lsa_collect col = {.v = &v, .ids = text_ids, .n = 0};
        stem_words(st, texts[src], strlen(texts[src]), lsa_collect_word, &col);
        qsort(text_ids, col.n, sizeof(*text_ids), lsa_cmp_u32);
        doc_start[i] = n_ids;
        for (size_t k = 0; k < col.n;) {
            size_t e = k;
            while (e < col.n && text_ids[e] == text_ids[k]) {
                e++;
            }
            if (n_ids == cap_ids) {
                cap_ids *= 2;
                uint32_t *a1 = realloc(doc_ids, cap_ids * sizeof(*doc_ids));
                if (a1 != NULL) {
                    doc_ids = a1;
                }
                uint32_t *a2 = realloc(doc_tf, cap_ids * sizeof(*doc_tf));
                if (a2 != NULL) {
                    doc_tf = a2;
                }
                if (a1 == NULL || a2 == NULL) {
                    free(text_ids);
                    free(doc_tf);
                    goto oom;
                }
            }
            doc_ids[n_ids] = text_ids[k];
            doc_tf[n_ids] = (uint32_t)(e - k);
            n_ids++;
            v.df[text_ids[k]]++;
            k = e;
        }
    }
    doc_start[ntrain] = n_ids;
    free(text_ids);

    /* 2. the vocabulary: words in at least two chunks, the most frequent
     * LSA_VOCAB_MAX of them, sorted alphabetically */
    cand = malloc((v.n ? v.n : 1) * sizeof(*cand));
    newid = malloc((v.n ? v.n : 1) * sizeof(*newid));
    if (cand == NULL || newid == NULL) {
        free(doc_tf);
        goto oom;
    }
    size_t ncand = 0;
    for (size_t i = 0; i < v.n; i++) {
        newid[i] = UINT32_MAX;
        if (v.df[i] >= 2) {
            cand[ncand++] = (lsa_cand){.id = (uint32_t)i, .df = v.df[i]};
        }
    }
    qsort(cand, ncand, sizeof(*cand), lsa_cmp_cand);
    nw = ncand < LSA_VOCAB_MAX ? ncand : LSA_VOCAB_MAX;
    /* a small knowledge base has fewer dimensions of meaning than dim: the
     * rest of its vectors stay zero */
    l = (size_t)dim + LSA_OVERSAMPLE;
    l = l < nw ? l : nw;
    l = l < ntrain ? l : ntrain;
    size_t kdim = dim < l ? dim : l;
    /* and a small one generalises only with fewer dimensions than it has
     * chunks: at most one per LSA_CHUNKS_PER_DIM (measured on kb/'s 204
     * chunks: 0.93 -> 0.98 hit@5; a large one is capped by dim anyway) */
    if (kdim > ntrain / LSA_CHUNKS_PER_DIM) {
        kdim = ntrain / LSA_CHUNKS_PER_DIM > LSA_MIN_DIM ? ntrain / LSA_CHUNKS_PER_DIM : LSA_MIN_DIM;
        kdim = kdim < l ? kdim : l;
        l = kdim + LSA_OVERSAMPLE < l ? kdim + LSA_OVERSAMPLE : l;
    }
    if (nw == 0) {
        snprintf(err, errlen, "no word occurs in two chunks: nothing to learn from");
        free(doc_tf);
        goto out;
    }
    order = malloc(nw * sizeof(*order));
    if (order == NULL) {
        free(doc_tf);
        goto oom;
    }
    for (size_t i = 0; i < nw; i++) {
        order[i] = cand[i].id;
    }
    lsa_sort_words_base = (const char *const *)v.word;
    qsort(order, nw, sizeof(*order), lsa_cmp_word_idx);
    for (size_t i = 0; i < nw; i++) {
        newid[order[i]] = (uint32_t)i;
    }

    m = calloc(1, sizeof(*m));
    if (m == NULL) {
        free(doc_tf);
        goto oom;
    }
    m->dim = dim;
    m->nwords = nw;
    m->words = malloc(nw * sizeof(*m->words));
    m->idf = malloc(nw * sizeof(*m->idf));
    m->scale = malloc(nw * sizeof(*m->scale));
    m->q = malloc(nw * dim);
    size_t pool_len = 0;
    for (size_t i = 0; i < nw; i++) {
        pool_len += strlen(v.word[order[i]]) + 1;
    }
    m->pool = malloc(pool_len ? pool_len : 1);
    if (m->words == NULL || m->idf == NULL || m->scale == NULL || m->q == NULL || m->pool == NULL) {
        free(doc_tf);
        goto oom;
    }
    size_t off = 0;
    for (size_t i = 0; i < nw; i++) {
        const char *w = v.word[order[i]];
        size_t wl = strlen(w) + 1;
        memcpy(m->pool + off, w, wl);
        m->words[i] = m->pool + off;
        off += wl;
        m->idf[i] = (float)log((double)ntrain / (double)v.df[order[i]]) + 1.0f;
    }

    /* 3. the weighted, column-normalised matrix */
    a.nrows = ntrain;
    a.start = calloc(ntrain + 1, sizeof(*a.start));
    a.col = malloc((n_ids ? n_ids : 1) * sizeof(*a.col));
    a.val = malloc((n_ids ? n_ids : 1) * sizeof(*a.val));
    if (a.start == NULL || a.col == NULL || a.val == NULL) {
        free(doc_tf);
        goto oom;
    }
    size_t nnz = 0;
    for (size_t d = 0; d < ntrain; d++) {
        a.start[d] = nnz;
        double norm = 0;
        size_t first = nnz;
        for (size_t k = doc_start[d]; k < doc_start[d + 1]; k++) {
            uint32_t t = newid[doc_ids[k]];
            if (t == UINT32_MAX) {
                continue;
            }
            float w = (1.0f + logf((float)doc_tf[k])) * m->idf[t];
            a.col[nnz] = t;
            a.val[nnz] = w;
            norm += (double)w * w;
            nnz++;
        }
        float inv = norm > 0 ? (float)(1.0 / sqrt(norm)) : 0;
        for (size_t k = first; k < nnz; k++) {
            a.val[k] *= inv;
        }
    }
    a.start[ntrain] = nnz;
    free(doc_tf);

    /* 4. randomized SVD: Y = A Omega, one power iteration, B = Q^T A, and
     * the eigenvectors of B B^T give U = Q W */
    omega = malloc(ntrain * l * sizeof(float));
    y = malloc(nw * l * sizeof(float));
    z = malloc(ntrain * l * sizeof(float));
    c = calloc(l * l, sizeof(float));
    ev = malloc(l * sizeof(float));
    row = malloc(dim * sizeof(float));
    if (omega == NULL || y == NULL || z == NULL || c == NULL || ev == NULL || row == NULL) {
        goto oom;
    }
    uint64_t seed = LSA_SEED;
    for (size_t i = 0; i < ntrain * l; i++) {
        omega[i] = lsa_gauss(&seed);
    }
    lsa_mul_a(&a, omega, nw, l, y);
    if (lsa_orthonormalise(y, nw, l) != 0) {
        goto lapack;
    }
    lsa_mul_at(&a, y, l, z);
    if (lsa_orthonormalise(z, ntrain, l) != 0) {
        goto lapack;
    }
    lsa_mul_a(&a, z, nw, l, y);
    if (lsa_orthonormalise(y, nw, l) != 0) {
        goto lapack;
    }
    lsa_mul_at(&a, y, l, z); /* z = B^T, chunks x l */
    for (size_t d = 0; d < ntrain; d++) {
        const float *zd = z + d * l;
        for (size_t i = 0; i < l; i++) {
            float x = zd[i];
            float *ci = c + i * l;
            for (size_t j = i; j < l; j++) {
                ci[j] += x * zd[j];
            }
        }
    }
    if (LAPACKE_ssyev(LAPACK_ROW_MAJOR, 'V', 'U', (lapack_int)l, c, (lapack_int)l, ev) != 0) {
        goto lapack;
    }
    /* 5. word vectors: rows of Q W for the dim largest eigenvalues (last
     * columns of c), quantized */
    for (size_t t = 0; t < nw; t++) {
        const float *qt = y + t * l;
        float mx = 0;
        memset(row, 0, dim * sizeof(float));
        for (size_t k = 0; k < kdim; k++) {
            size_t col = l - 1 - k;
            double s = 0;
            for (size_t j = 0; j < l; j++) {
                s += (double)qt[j] * c[j * l + col];
            }
            row[k] = (float)s;
            if (fabsf(row[k]) > mx) {
                mx = fabsf(row[k]);
            }
        }
        m->scale[t] = mx > 0 ? mx / 127.0f : 0;
        for (unsigned k = 0; k < dim; k++) {
            m->q[t * dim + k] = (int8_t)lrintf(mx > 0 ? row[k] / m->scale[t] : 0);
        }
    }
    *out = m;
    m = NULL;
    rc = 0;
    goto out;
lapack:
    snprintf(err, errlen, "the singular value decomposition failed (LAPACK)");
    goto out;
oom:
    snprintf(err, errlen, "out of memory training the local embedder");
out:
    lsa_free(m);
    for (size_t i = 0; i < v.n; i++) {
        free(v.word[i]);
    }
    free(v.word);
    free(v.slot);
    free(v.df);
    free(doc_ids);
    free(doc_start);
    free(newid);
    free(order);
    free(cand);
    free(a.start);
    free(a.col);
    free(a.val);
    free(omega);
    free(y);
    free(z);
    free(c);
    free(ev);
    free(row);
    stem_close(st);
    return rc;
}

/* --- embedding ------------------------------------------------------------------ */

static long lsa_find(const lsa_model *m, const char *w)
{
    size_t lo = 0, hi = m->nwords;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(m->words[mid], w);
        if (c == 0) {
            return (long)mid;
        }
        if (c < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return -1;
}

typedef struct lsa_lookup {
    const lsa_model *m;
    uint32_t ids[LSA_TEXT_WORDS_MAX];
    size_t n;
} lsa_lookup;

static void lsa_lookup_word(const char *w, size_t n, size_t pos, void *arg)
{
    (void)n;
    (void)pos;
    lsa_lookup *lk = arg;
    long id = lsa_find(lk->m, w);
    if (id >= 0 && lk->n < LSA_TEXT_WORDS_MAX) {
        lk->ids[lk->n++] = (uint32_t)id;
    }
}

size_t lsa_embed(const lsa_model *m, stemmer *st, const char *text, size_t len, float *out)
{
    memset(out, 0, m->dim * sizeof(float));
    lsa_lookup *lk = malloc(sizeof(*lk));
    if (lk == NULL) {
        return 0;
    }
    lk->m = m;
    lk->n = 0;
    stem_words(st, text, len, lsa_lookup_word, lk);
    qsort(lk->ids, lk->n, sizeof(lk->ids[0]), lsa_cmp_u32);
    size_t known = lk->n;
    for (size_t k = 0; k < lk->n;) {
        size_t e = k;
        while (e < lk->n && lk->ids[e] == lk->ids[k]) {
            e++;
        }
        uint32_t t = lk->ids[k];
        float w = (1.0f + logf((float)(e - k))) * m->idf[t] * m->scale[t];
        const int8_t *q = m->q + (size_t)t * m->dim;
        for (unsigned j = 0; j < m->dim; j++) {
            out[j] += w * (float)q[j];
        }
        k = e;
    }
    free(lk);
    double norm = 0;
    for (unsigned j = 0; j < m->dim; j++) {
        norm += (double)out[j] * out[j];
    }
    if (norm > 0) {
        float inv = (float)(1.0 / sqrt(norm));
        for (unsigned j = 0; j < m->dim; j++) {
            out[j] *= inv;
        }
    }
    return known;
}

/* --- bytes ----------------------------------------------------------------------- */

int lsa_save(const lsa_model *m, unsigned char **data, size_t *len)
{
    size_t n = LSA_MAGIC_LEN + 8;
    for (size_t i = 0; i < m->nwords; i++) {
        n += 1 + strlen(m->words[i]);
    }
    n += m->nwords * (2 * sizeof(float) + m->dim);
    unsigned char *b = malloc(n), *p = b;
    if (b == NULL) {
        return -1;
    }
    memcpy(p, LSA_MAGIC, LSA_MAGIC_LEN);
    p += LSA_MAGIC_LEN;
    uint32_t hdr[2] = {m->dim, (uint32_t)m->nwords};
    memcpy(p, hdr, 8);
    p += 8;
    for (size_t i = 0; i < m->nwords; i++) {
        size_t wl = strlen(m->words[i]);
        *p++ = (unsigned char)wl;
        memcpy(p, m->words[i], wl);
        p += wl;
    }
    memcpy(p, m->idf, m->nwords * sizeof(float));
    p += m->nwords * sizeof(float);
    memcpy(p, m->scale, m->nwords * sizeof(float));
    p += m->nwords * sizeof(float);
    memcpy(p, m->q, m->nwords * m->dim);
    *data = b;
    *len = n;
    return 0;
}

int lsa_load(const unsigned char *data, size_t len, lsa_model **out, char *err, size_t errlen)
{
    *out = NULL;
    if (len < LSA_MAGIC_LEN + 8 || memcmp(data, LSA_MAGIC, LSA_MAGIC_LEN) != 0) {
        snprintf(err, errlen, "not a local embedder model");
        return -1;
    }
    uint32_t hdr[2];
    memcpy(hdr, data + LSA_MAGIC_LEN, 8);
    if (hdr[0] == 0 || hdr[0] > 2000 || hdr[1] == 0 || hdr[1] > LSA_VOCAB_MAX) {
        snprintf(err, errlen, "local embedder model: bad header");
        return -1;
    }
    lsa_model *m = calloc(1, sizeof(*m));
    if (m == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    m->dim = hdr[0];
    m->nwords = hdr[1];
    const unsigned char *p = data + LSA_MAGIC_LEN + 8, *end = data + len;
    m->words = malloc(m->nwords * sizeof(*m->words));
    m->pool = malloc(len);
    m->idf = malloc(m->nwords * sizeof(float));
    m->scale = malloc(m->nwords * sizeof(float));
    m->q = malloc(m->nwords * m->dim);
    if (m->words == NULL || m->pool == NULL || m->idf == NULL || m->scale == NULL || m->q == NULL) {
        lsa_free(m);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    size_t off = 0;
    for (size_t i = 0; i < m->nwords; i++) {
        if (p >= end || (size_t)(end - p) < 1u + *p) {
            lsa_free(m);
            snprintf(err, errlen, "local embedder model: truncated");
            return -1;
        }
        size_t wl = *p++;
        memcpy(m->pool + off, p, wl);
        m->pool[off + wl] = '\0';
        m->words[i] = m->pool + off;
        off += wl + 1;
        p += wl;
    }
    size_t rest = m->nwords * (2 * sizeof(float) + m->dim);
    if ((size_t)(end - p) != rest) {
        lsa_free(m);
        snprintf(err, errlen, "local embedder model: %zu bytes where %zu were expected", (size_t)(end - p), rest);
        return -1;
    }
    memcpy(m->idf, p, m->nwords * sizeof(float));
    p += m->nwords * sizeof(float);
    memcpy(m->scale, p, m->nwords * sizeof(float));
    p += m->nwords * sizeof(float);
    memcpy(m->q, p, m->nwords * m->dim);
    *out = m;
    return 0;
}
