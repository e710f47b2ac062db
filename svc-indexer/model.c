/* model.c: see model.h. */
#include "model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "db.h"
#include "log.h"

#define KB_MODEL_VEC_TEXT_PER_DIM 16
#define KB_MODEL_COPY_LINE_MAX(dim) ((size_t)(dim)*KB_MODEL_VEC_TEXT_PER_DIM + 48)

static int kb_model_ok(PGresult *r, ExecStatusType want, char *err, size_t errlen, const char *what)
{
    if (r != NULL && PQresultStatus(r) == want) {
        return 1;
    }
    snprintf(err, errlen, "%s: %s", what, r ? PQresultErrorMessage(r) : "no result");
    size_t n = strlen(err);
    while (n > 0 && err[n - 1] == '\n') {
        err[--n] = '\0';
    }
    return 0;
}

int kb_model_load(PGconn *pg, embedder *e, char *err, size_t errlen)
{
    if (!embedder_needs_model(e)) {
        return 0;
    }
    const char *p[] = {embedder_model(e)};
    PGresult *r =
        PQexecParams(pg, "SELECT version, data FROM kb_local_model WHERE model = $1", 1, NULL, p, NULL, NULL, 1);
    if (!kb_model_ok(r, PGRES_TUPLES_OK, err, errlen, "reading the local model")) {
        PQclear(r);
        return -1;
    }
    int rc = 0;
    if (PQntuples(r) == 1) {
        /* binary results: version is an int8 in network order */
        const unsigned char *vb = (const unsigned char *)PQgetvalue(r, 0, 0);
        long long version = 0;
        for (int i = 0; i < 8; i++) {
            version = (version << 8) | vb[i];
        }
        if (version != embedder_model_version(e)) {
            lsa_model *m = NULL;
            if (lsa_load((const unsigned char *)PQgetvalue(r, 0, 1), (size_t)PQgetlength(r, 0, 1), &m, err, errlen) !=
                0) {
                rc = -1;
            } else {
                embedder_set_model(e, m, version);
            }
        }
    }
    PQclear(r);
    return rc;
}

typedef struct kb_model_chunks {
    long long *ids;
    char **texts;
    size_t n;
} kb_model_chunks;

static void kb_model_chunks_free(kb_model_chunks *c)
{
    for (size_t i = 0; i < c->n; i++) {
        free(c->texts[i]);
    }
    free(c->texts);
    free(c->ids);
    memset(c, 0, sizeof(*c));
}

/* The chunks (all, or those without a vector) as the store embeds them:
 * title, headings, text. */
static int kb_model_read_chunks(PGconn *pg, int only_missing, kb_model_chunks *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    PGresult *r = PQexec(pg, only_missing ? "SELECT c.id, d.title || E'\\n' || c.heading_path || E'\\n' || c.text"
                                            " FROM kb_chunks c JOIN kb_documents d ON d.id = c.document_id"
                                            " WHERE c.embedding IS NULL ORDER BY c.id"
                                          : "SELECT c.id, d.title || E'\\n' || c.heading_path || E'\\n' || c.text"
                                            " FROM kb_chunks c JOIN kb_documents d ON d.id = c.document_id"
                                            " ORDER BY c.id");
    if (!kb_model_ok(r, PGRES_TUPLES_OK, err, errlen, "reading the chunks")) {
        PQclear(r);
        return -1;
    }
    size_t n = (size_t)PQntuples(r);
    out->ids = malloc((n ? n : 1) * sizeof(*out->ids));
    out->texts = calloc(n ? n : 1, sizeof(*out->texts));
    if (out->ids == NULL || out->texts == NULL) {
        PQclear(r);
        kb_model_chunks_free(out);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        out->ids[i] = atoll(PQgetvalue(r, (int)i, 0));
        out->texts[i] = strdup(PQgetvalue(r, (int)i, 1));
        out->n++;
        if (out->texts[i] == NULL) {
            PQclear(r);
            kb_model_chunks_free(out);
            snprintf(err, errlen, "out of memory");
            return -1;
        }
    }
    PQclear(r);
    return 0;
}

/* Embeds the chunks and writes their vectors through COPY + UPDATE, in the
 * caller's transaction. */
static int kb_model_write_vectors(PGconn *pg, embedder *e, const kb_model_chunks *c, char *err, size_t errlen)
{
    unsigned dim = embedder_dimensions(e);
    char sql[160];
    snprintf(sql, sizeof(sql), "CREATE TEMP TABLE kb_new_vectors (id BIGINT, v vector(%u)) ON COMMIT DROP", dim);
    if (db_exec(pg, sql, err, errlen) != 0) {
        return -1;
    }
    PGresult *r = PQexec(pg, "COPY kb_new_vectors (id, v) FROM STDIN");
    if (!kb_model_ok(r, PGRES_COPY_IN, err, errlen, "copying vectors")) {
        PQclear(r);
        return -1;
    }
    PQclear(r);
    size_t cap = KB_MODEL_COPY_LINE_MAX(dim);
    char *line = malloc(cap);
    float *v = malloc(dim * sizeof(float));
    int rc = line && v ? 0 : -1;
    for (size_t i = 0; rc == 0 && i < c->n; i++) {
        const char *t[] = {c->texts[i]};
        if (embedder_embed(e, t, 1, v, err, errlen) != 0) {
            rc = -1;
            break;
        }
        int k = snprintf(line, cap, "%lld\t", c->ids[i]);
        size_t m = embed_to_pgvector(v, dim, line + k, cap - (size_t)k - 2);
        if (m == 0) {
            snprintf(err, errlen, "vector text too long");
            rc = -1;
            break;
        }
        line[k + m] = '\n';
        if (PQputCopyData(pg, line, (int)(k + m + 1)) != 1) {
            snprintf(err, errlen, "copying vectors: %s", PQerrorMessage(pg));
            rc = -1;
        }
    }
    free(line);
    free(v);
    PQputCopyEnd(pg, rc == 0 ? NULL : "embedding failed");
    r = PQgetResult(pg);
    char copy_err[256];
    if (!kb_model_ok(r, PGRES_COMMAND_OK, copy_err, sizeof(copy_err), "copying vectors") && rc == 0) {
        snprintf(err, errlen, "%s", copy_err);
        rc = -1;
    }
    PQclear(r);
    while ((r = PQgetResult(pg)) != NULL) {
        PQclear(r);
    }
    if (rc == 0 && db_exec(pg, "UPDATE kb_chunks c SET embedding = n.v FROM kb_new_vectors n WHERE c.id = n.id", err,
                           errlen) != 0) {
        rc = -1;
    }
    return rc;
}

static int kb_model_train(PGconn *pg, embedder *e, long long old_version, kb_model_result *res, char *err,
                          size_t errlen)
{
    int64_t t0 = clock_mono_us();
    kb_model_chunks c;
    if (kb_model_read_chunks(pg, 0, &c, err, errlen) != 0) {
        return -1;
    }
    lsa_model *m = NULL;
    if (lsa_train((const char *const *)c.texts, c.n, embedder_dimensions(e), EMBED_LOCAL_LANG, &m, err, errlen) != 0) {
        kb_model_chunks_free(&c);
        return -1;
    }
    int64_t t1 = clock_mono_us();
    unsigned char *blob = NULL;
    size_t blen = 0;
    if (lsa_save(m, &blob, &blen) != 0) {
        lsa_free(m);
        kb_model_chunks_free(&c);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    size_t words = lsa_words(m);
    /* the embedder uses the new model from here; on failure the old one is
     * loaded back */
    embedder_set_model(e, m, old_version + 1);
    int rc = -1;
    if (db_exec(pg, "BEGIN", err, errlen) != 0) {
        goto out;
    }
    if (db_exec(pg, "DROP INDEX IF EXISTS kb_chunks_embedding_hnsw", err, errlen) != 0 ||
        kb_model_write_vectors(pg, e, &c, err, errlen) != 0) {
        goto rollback;
    }
    char version[24], dim[16], nwords[24], nchunks[24];
    snprintf(version, sizeof(version), "%lld", old_version + 1);
    snprintf(dim, sizeof(dim), "%u", embedder_dimensions(e));
    snprintf(nwords, sizeof(nwords), "%zu", words);
    snprintf(nchunks, sizeof(nchunks), "%zu", c.n);
    const char *p[] = {embedder_model(e), version, dim, nwords, nchunks, (const char *)blob};
    int lens[] = {0, 0, 0, 0, 0, (int)blen};
    int fmts[] = {0, 0, 0, 0, 0, 1};
    PGresult *r = PQexecParams(pg,
                               "INSERT INTO kb_local_model (model, version, dimensions, words, trained_chunks, "
                               "changed_chunks, data) VALUES ($1, $2::bigint, $3::int, $4::int, $5::int, 0, $6) "
                               "ON CONFLICT (singleton) DO UPDATE SET model = $1, version = $2::bigint, "
                               "dimensions = $3::int, words = $4::int, trained_chunks = $5::int, changed_chunks = 0, "
                               "data = $6, trained_at = now()",
                               6, NULL, p, lens, fmts, 0);
    int ok = kb_model_ok(r, PGRES_COMMAND_OK, err, errlen, "storing the local model");
    PQclear(r);
    if (!ok) {
        goto rollback;
    }
    db_exec(pg, "SET LOCAL maintenance_work_mem = '256MB'", NULL, 0);
    if (db_exec(pg, "CREATE INDEX kb_chunks_embedding_hnsw ON kb_chunks USING hnsw (embedding vector_cosine_ops)", err,
                errlen) != 0 ||
        db_exec(pg, "COMMIT", err, errlen) != 0) {
        goto rollback;
    }
    res->trained = 1;
    res->version = old_version + 1;
    res->words = words;
    res->chunks_embedded = (unsigned)c.n;
    res->train_seconds = (double)(t1 - t0) / 1e6;
    res->embed_seconds = (double)(clock_mono_us() - t1) / 1e6;
    log_info("local embedder trained: version %lld, %zu words, %zu chunks; %.2f s training, %.2f s re-embedding "
             "and indexing",
             res->version, words, c.n, res->train_seconds, res->embed_seconds);
    rc = 0;
    goto out;
rollback:
    db_exec(pg, "ROLLBACK", NULL, 0);
    embedder_set_model(e, NULL, 0);
    {
        char e2[256];
        if (kb_model_load(pg, e, e2, sizeof(e2)) != 0) {
            log_warn("reloading the previous local model: %s", e2);
        }
    }
out:
    free(blob);
    kb_model_chunks_free(&c);
    return rc;
}

int kb_model_refresh(PGconn *pg, embedder *e, unsigned changed, int force, kb_model_result *res, char *err,
                     size_t errlen)
{
    memset(res, 0, sizeof(*res));
    if (!embedder_needs_model(e)) {
        return 0;
    }
    const char *p[] = {embedder_model(e)};
    PGresult *r = PQexecParams(pg,
                               "SELECT version, trained_chunks, changed_chunks, (SELECT count(*) FROM kb_chunks) "
                               "FROM kb_local_model WHERE model = $1",
                               1, NULL, p, NULL, NULL, 0);
    if (!kb_model_ok(r, PGRES_TUPLES_OK, err, errlen, "reading the local model")) {
        PQclear(r);
        return -1;
    }
    long long version = 0, trained = 0, since = 0, now = 0;
    if (PQntuples(r) == 1) {
        version = atoll(PQgetvalue(r, 0, 0));
        trained = atoll(PQgetvalue(r, 0, 1));
        since = atoll(PQgetvalue(r, 0, 2));
        now = atoll(PQgetvalue(r, 0, 3));
    }
    PQclear(r);
    since += changed;
    long long drift = now > trained ? now - trained : trained - now;
    if (drift > since) {
        since = drift;
    }
    int due = version == 0 || force || since * 100 > trained * KB_MODEL_RETRAIN_PERCENT;
    if (due) {
        if (version == 0) {
            r = PQexec(pg, "SELECT count(*) FROM kb_chunks");
            now = PQresultStatus(r) == PGRES_TUPLES_OK ? atoll(PQgetvalue(r, 0, 0)) : 0;
            PQclear(r);
            if (now == 0) {
                return 0; /* nothing to learn from yet */
            }
        }
        if (kb_model_train(pg, e, version, res, err, errlen) != 0) {
            return -1;
        }
        return 0;
    }
    res->version = version;
    if (changed > 0) {
        char ch[16];
        snprintf(ch, sizeof(ch), "%u", changed);
        const char *pc[] = {ch};
        r = PQexecParams(pg, "UPDATE kb_local_model SET changed_chunks = changed_chunks + $1::int", 1, NULL, pc, NULL,
                         NULL, 0);
        PQclear(r);
    }
    /* chunks stored before any model could embed them (with a model, every
     * stored chunk has its vector: nothing to look for after no change) */
    if (changed == 0) {
        return 0;
    }
    kb_model_chunks c;
    if (kb_model_read_chunks(pg, 1, &c, err, errlen) != 0) {
        return -1;
    }
    int rc = 0;
    if (c.n > 0) {
        if (db_exec(pg, "BEGIN", err, errlen) != 0) {
            kb_model_chunks_free(&c);
            return -1;
        }
        rc = kb_model_write_vectors(pg, e, &c, err, errlen);
        if (rc == 0 && db_exec(pg, "COMMIT", err, errlen) != 0) {
            rc = -1;
        }
        if (rc != 0) {
            db_exec(pg, "ROLLBACK", NULL, 0);
        } else {
            res->chunks_embedded = (unsigned)c.n;
        }
    }
    kb_model_chunks_free(&c);
    return rc;
}
