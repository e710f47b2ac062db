/* query_vectors.c: the query vectors svc-retrieval would compute, for the
 * peer of tests/bench/compare.sh (tests/bench/peers/fastapi/), which has no
 * embedder of its own.
 *
 *   query_vectors < QUESTIONS > VECTORS.json      (DATABASE_URL: an indexed knowledge base)
 *
 * Reads one question a line from stdin and embeds each exactly as
 * svc-retrieval's search_run does: the local embedder (lib/embed.c) with the
 * model the indexer stored in kb_local_model, after the same check of
 * kb_embedding_model; a vector of norm 0 (no word the model knows) is null,
 * as retrieval then searches by text only. Prints one JSON object:
 *   {"provider":"local","model":"lsa-v1","version":N,"dimensions":D,
 *    "vectors":{"question":"[0.1,...]" | null, ...}}
 * the vectors in pgvector's text form, ready to bind as $1::vector.
 * Exit status 0, or 1 with a sentence on stderr (no model, a mismatch, a
 * database error).
 * Owns: everything it opens, until exit; one thread. */
#include <jansson.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "embed.h"

#define QV_LINE_MAX 4096 /* bytes of a question (SEARCH_QUERY_MAX) */
#define QV_QUESTIONS_MAX 1000

static int qv_fail(const char *what, PGresult *r)
{
    fprintf(stderr, "query_vectors: %s%s%s\n", what, r ? ": " : "", r ? PQresultErrorMessage(r) : "");
    PQclear(r);
    return 1;
}

int main(void)
{
    const char *url = getenv("DATABASE_URL");
    if (url == NULL || url[0] == '\0') {
        fprintf(stderr, "query_vectors: DATABASE_URL is not set\n");
        return 1;
    }
    PGconn *pg = PQconnectdb(url);
    if (PQstatus(pg) != CONNECTION_OK) {
        fprintf(stderr, "query_vectors: %s", PQerrorMessage(pg));
        return 1;
    }
    char err[512];
    embedder *emb = NULL;
    embed_opts eo = {.provider = "local"};
    if (embedder_open(&emb, &eo, err, sizeof(err)) != 0) {
        fprintf(stderr, "query_vectors: %s\n", err);
        return 1;
    }
    unsigned dim = embedder_dimensions(emb);
    PGresult *r = PQexec(pg, "SELECT provider, model, dimensions FROM kb_embedding_model");
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
        return qv_fail("no embedding model recorded (index the knowledge base first)", NULL);
    }
    if (strcmp(PQgetvalue(r, 0, 0), embedder_provider(emb)) != 0 ||
        strcmp(PQgetvalue(r, 0, 1), embedder_model(emb)) != 0 || (unsigned)atoi(PQgetvalue(r, 0, 2)) != dim) {
        fprintf(stderr, "query_vectors: the knowledge base was indexed with %s/%s, not %s/%s\n", PQgetvalue(r, 0, 0),
                PQgetvalue(r, 0, 1), embedder_provider(emb), embedder_model(emb));
        return 1;
    }
    PQclear(r);
    r = PQexecParams(pg, "SELECT version, data FROM kb_local_model", 0, NULL, NULL, NULL, NULL, 1);
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
        return qv_fail("no local model in kb_local_model", PQresultStatus(r) == PGRES_TUPLES_OK ? NULL : r);
    }
    const unsigned char *vb = (const unsigned char *)PQgetvalue(r, 0, 0);
    long long version = 0;
    for (int i = 0; i < 8; i++) {
        version = (version << 8) | vb[i];
    }
    lsa_model *m = NULL;
    if (lsa_load((const unsigned char *)PQgetvalue(r, 0, 1), (size_t)PQgetlength(r, 0, 1), &m, err, sizeof(err)) != 0) {
        fprintf(stderr, "query_vectors: %s\n", err);
        return 1;
    }
    PQclear(r);
    embedder_set_model(emb, m, version);

    size_t vlen = (size_t)dim * 16 + 8;
    char *vtext = malloc(vlen);
    float *vec = malloc(dim * sizeof(float));
    json_t *vectors = json_object();
    if (vtext == NULL || vec == NULL || vectors == NULL) {
        fprintf(stderr, "query_vectors: out of memory\n");
        return 1;
    }
    char line[QV_LINE_MAX + 2];
    size_t n = 0;
    while (fgets(line, sizeof(line), stdin) != NULL) {
        size_t len = strcspn(line, "\r\n");
        if (len > QV_LINE_MAX || ++n > QV_QUESTIONS_MAX) {
            fprintf(stderr, "query_vectors: more than %d questions or a line over %d bytes\n", QV_QUESTIONS_MAX,
                    QV_LINE_MAX);
            return 1;
        }
        line[len] = '\0';
        if (len == 0) {
            continue;
        }
        const char *texts[1] = {line};
        if (embedder_embed(emb, texts, 1, vec, err, sizeof(err)) != 0) {
            fprintf(stderr, "query_vectors: %s\n", err);
            return 1;
        }
        double norm = 0;
        for (unsigned d = 0; d < dim; d++) {
            norm += (double)vec[d] * vec[d];
        }
        if (norm > 0 && embed_to_pgvector(vec, dim, vtext, vlen) > 0) {
            json_object_set_new(vectors, line, json_string(vtext));
        } else {
            json_object_set_new(vectors, line, json_null());
        }
    }
    json_t *out =
        json_pack("{s:s, s:s, s:I, s:i, s:o}", "provider", embedder_provider(emb), "model", embedder_model(emb),
                  "version", (json_int_t)version, "dimensions", (int)dim, "vectors", vectors);
    if (out == NULL || json_dumpf(out, stdout, JSON_COMPACT) != 0) {
        fprintf(stderr, "query_vectors: cannot write the answer\n");
        return 1;
    }
    printf("\n");
    json_decref(out);
    free(vtext);
    free(vec);
    embedder_close(emb);
    PQfinish(pg);
    return 0;
}
