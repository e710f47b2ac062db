/*
 * test_embed_local.c - unit tests for lib/stem.c, lib/lsa.c and the local
 * embedder in lib/embed.c: Snowball stems and stop words, an LSA model that
 * learns a synonym from co-occurrence, deterministic training, the model's
 * bytes, and an embedder that refuses to embed before it has a model.
 */
#include <criterion/criterion.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "embed.h"
#include "lsa.h"
#include "stem.h"
#include "utf8.h"

#define WORDS_MAX 32

typedef struct words {
    char w[WORDS_MAX][STEM_WORD_MAX + 1];
    size_t n;
} words;

static void collect(const char *stem, size_t n, size_t pos, void *arg)
{
    words *ws = arg;
    cr_assert_eq(pos, ws->n);
    cr_assert_eq(strlen(stem), n);
    if (ws->n < WORDS_MAX) {
        memcpy(ws->w[ws->n], stem, n + 1);
        ws->n++;
    }
}

static words stems(const char *lang, const char *text)
{
    stemmer *st = NULL;
    cr_assert_eq(stem_open(&st, lang), 0);
    words ws = {.n = 0};
    stem_words(st, text, strlen(text), collect, &ws);
    stem_close(st);
    return ws;
}

Test(stem, english_forms_share_a_stem)
{
    words ws = stems("en", "Cancelled cancellation CANCELING plans planning");
    cr_assert_eq(ws.n, 5);
    cr_assert_str_eq(ws.w[0], "cancel");
    cr_assert_str_eq(ws.w[1], "cancel");
    cr_assert_str_eq(ws.w[2], "cancel");
    cr_assert_str_eq(ws.w[3], "plan");
    cr_assert_str_eq(ws.w[4], "plan");
}

Test(stem, question_words_are_stop_words)
{
    words ws = stems("en", "How do I cancel my plan? Can you tell me, please?");
    cr_assert_eq(ws.n, 2);
    cr_assert_str_eq(ws.w[0], "cancel");
    cr_assert_str_eq(ws.w[1], "plan");
}

Test(stem, german_by_language_code)
{
    words ws = stems("de-DE", "Die Häuser und die Rechnungen");
    cr_assert_eq(ws.n, 2);
    cr_assert_str_eq(ws.w[0], "haus");
    cr_assert_str_eq(ws.w[1], "rechnung");
}

Test(stem, unknown_language_keeps_words)
{
    words ws = stems("xx", "running invoices");
    cr_assert_eq(ws.n, 2);
    cr_assert_str_eq(ws.w[0], "running");
    cr_assert_str_eq(ws.w[1], "invoices");
}

Test(stem, long_words_are_cut_to_valid_utf8)
{
    char text[400] = "";
    for (int i = 0; i < 60; i++) {
        strcat(text, "é"); /* 2 bytes each: 120 bytes, one word */
    }
    stemmer *st = NULL;
    cr_assert_eq(stem_open(&st, NULL), 0);
    words ws = {.n = 0};
    stem_words(st, text, strlen(text), collect, &ws);
    stem_close(st);
    cr_assert_eq(ws.n, 1);
    cr_assert_leq(strlen(ws.w[0]), STEM_WORD_MAX);
    cr_assert_gt(strlen(ws.w[0]), STEM_WORD_MAX - 4);
    cr_assert(utf8_valid(ws.w[0], strlen(ws.w[0])));
}

/* Two topics. "throwaway" occurs only in some temporary-file texts; the
 * model should still place a temporary-file text without that word close
 * to the question "throwaway", and a random-number text far from it. */
static const char *const topic_a[] = {"temporary", "file",      "deleted", "automatically", "scratch",
                                      "cleanup",   "directory", "removed", "closed",        "disk"};
static const char *const topic_b[] = {"random", "number", "seed",         "generator", "shuffle",
                                      "sample", "choice", "distribution", "integer",   "uniform"};
#define CORPUS_N 120

static char **corpus(void)
{
    char **t = calloc(CORPUS_N, sizeof(*t));
    unsigned x = 12345;
    for (int i = 0; i < CORPUS_N; i++) {
        const char *const *v = i % 2 ? topic_b : topic_a;
        char buf[512] = "";
        for (int k = 0; k < 6; k++) {
            x = x * 1103515245u + 12345u;
            strcat(buf, v[(x >> 16) % 10]);
            strcat(buf, " ");
        }
        if (i % 2 == 0 && i % 3 == 0) {
            strcat(buf, "throwaway");
        }
        t[i] = strdup(buf);
    }
    return t;
}

static void corpus_free(char **t)
{
    for (int i = 0; i < CORPUS_N; i++) {
        free(t[i]);
    }
    free(t);
}

static double dot(const float *a, const float *b, unsigned n)
{
    double s = 0;
    for (unsigned i = 0; i < n; i++) {
        s += (double)a[i] * b[i];
    }
    return s;
}

/* Few dimensions for two topics: the model must generalise, not memorise. */
#define TOPIC_DIM 4

Test(lsa, learns_a_word_from_the_company_it_keeps)
{
    char **t = corpus();
    lsa_model *m = NULL;
    char err[256];
    cr_assert_eq(lsa_train((const char *const *)t, CORPUS_N, TOPIC_DIM, "en", &m, err, sizeof(err)), 0, "%s", err);
    stemmer *st = NULL;
    stem_open(&st, "en");
    float q[TOPIC_DIM], a[TOPIC_DIM], b[TOPIC_DIM];
    cr_assert_eq(lsa_embed(m, st, "throwaway", 9, q), 1);
    cr_assert_gt(lsa_embed(m, st, "temporary scratch file removed from disk", 40, a), 0);
    cr_assert_gt(lsa_embed(m, st, "random integer from a uniform distribution", 42, b), 0);
    double qa = dot(q, a, TOPIC_DIM), qb = dot(q, b, TOPIC_DIM);
    cr_assert_gt(qa, 0.6, "throwaway vs temporary file: %.3f", qa);
    cr_assert_lt(qb, 0.3, "throwaway vs random numbers: %.3f", qb);
    /* a one-word question is a dense vector, not a few hashed features */
    unsigned nz = 0;
    for (int i = 0; i < TOPIC_DIM; i++) {
        nz += fabsf(q[i]) > 1e-6f;
    }
    cr_assert_geq(nz, TOPIC_DIM - 1);
    cr_assert_float_eq(dot(q, q, TOPIC_DIM), 1.0, 1e-4);
    /* words the model never saw give nothing */
    cr_assert_eq(lsa_embed(m, st, "zeppelin", 8, q), 0);
    cr_assert_float_eq(dot(q, q, TOPIC_DIM), 0.0, 1e-9);
    stem_close(st);
    lsa_free(m);
    corpus_free(t);
}

Test(lsa, training_is_deterministic_and_bytes_round_trip)
{
    char **t = corpus();
    lsa_model *m1 = NULL, *m2 = NULL, *m3 = NULL;
    char err[256];
    cr_assert_eq(lsa_train((const char *const *)t, CORPUS_N, 32, "en", &m1, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(lsa_train((const char *const *)t, CORPUS_N, 32, "en", &m2, err, sizeof(err)), 0, "%s", err);
    unsigned char *b1 = NULL, *b2 = NULL;
    size_t l1 = 0, l2 = 0;
    cr_assert_eq(lsa_save(m1, &b1, &l1), 0);
    cr_assert_eq(lsa_save(m2, &b2, &l2), 0);
    cr_assert_eq(l1, l2);
    cr_assert_eq(memcmp(b1, b2, l1), 0);
    cr_assert_eq(lsa_load(b1, l1, &m3, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(lsa_dimensions(m3), 32);
    cr_assert_eq(lsa_words(m3), lsa_words(m1));
    stemmer *st = NULL;
    stem_open(&st, "en");
    float v1[32], v3[32];
    lsa_embed(m1, st, "scratch directory cleanup", 25, v1);
    lsa_embed(m3, st, "scratch directory cleanup", 25, v3);
    cr_assert_eq(memcmp(v1, v3, sizeof(v1)), 0);
    /* damaged bytes are refused, never read past */
    lsa_model *bad = NULL;
    cr_assert_eq(lsa_load(b1, l1 - 1, &bad, err, sizeof(err)), -1);
    cr_assert_eq(lsa_load(b1, 20, &bad, err, sizeof(err)), -1);
    b1[0] = 'X';
    cr_assert_eq(lsa_load(b1, l1, &bad, err, sizeof(err)), -1);
    cr_assert_null(bad);
    stem_close(st);
    free(b1);
    free(b2);
    lsa_free(m1);
    lsa_free(m2);
    lsa_free(m3);
    corpus_free(t);
}

Test(lsa, too_little_to_learn_from_is_an_error)
{
    const char *one[] = {"just one chunk"};
    lsa_model *m = NULL;
    char err[256] = "";
    cr_assert_eq(lsa_train(one, 1, 64, "en", &m, err, sizeof(err)), -1);
    cr_assert_null(m);
    cr_assert(strstr(err, "too few") != NULL, "%s", err);
}

Test(embedder, local_needs_a_model_then_embeds_unit_vectors)
{
    embed_opts o = {.provider = "local"};
    embedder *e = NULL;
    char err[256];
    cr_assert_eq(embedder_open(&e, &o, err, sizeof(err)), 0, "%s", err);
    cr_assert_str_eq(embedder_model(e), EMBED_LOCAL_MODEL);
    cr_assert_eq(embedder_dimensions(e), EMBED_LOCAL_DIM);
    cr_assert(embedder_needs_model(e));
    cr_assert_not(embedder_ready(e));
    float *v = malloc(2 * EMBED_LOCAL_DIM * sizeof(float));
    const char *texts[] = {"temporary scratch file", "random seed"};
    cr_assert_eq(embedder_embed(e, texts, 2, v, err, sizeof(err)), -1);
    cr_assert(strstr(err, "no model") != NULL, "%s", err);
    char **t = corpus();
    lsa_model *m = NULL;
    cr_assert_eq(lsa_train((const char *const *)t, CORPUS_N, EMBED_LOCAL_DIM, "en", &m, err, sizeof(err)), 0);
    embedder_set_model(e, m, 7);
    cr_assert(embedder_ready(e));
    cr_assert_eq(embedder_model_version(e), 7);
    cr_assert_eq(embedder_embed(e, texts, 2, v, err, sizeof(err)), 0, "%s", err);
    cr_assert_float_eq(dot(v, v, EMBED_LOCAL_DIM), 1.0, 1e-4);
    cr_assert_float_eq(dot(v + EMBED_LOCAL_DIM, v + EMBED_LOCAL_DIM, EMBED_LOCAL_DIM), 1.0, 1e-4);
    cr_assert_lt(dot(v, v + EMBED_LOCAL_DIM, EMBED_LOCAL_DIM), 0.3);
    free(v);
    corpus_free(t);
    embedder_close(e);
}

Test(embedder, the_old_hashed_model_is_refused)
{
    embed_opts o = {.provider = "local", .model = "hash-v1"};
    embedder *e = NULL;
    char err[256];
    cr_assert_eq(embedder_open(&e, &o, err, sizeof(err)), -1);
    cr_assert(strstr(err, EMBED_LOCAL_MODEL) != NULL, "%s", err);
}
