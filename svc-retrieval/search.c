/* search.c: see search.h. */
#include "search.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "utf8.h"

#define SEARCH_CANDIDATES_MIN 40

struct searcher {
    db_conn *db;
    embedder *emb;
    searcher_opts o;
    PGconn *prepared_on; /* the connection the statements were prepared on */
    int model_ok;        /* 1 ok, 0 not checked, -1 mismatch, 2 nothing indexed */
    char model_msg[300];
    char *vtext;
    size_t vlen;
    float *qvec;
};

/* The full-text candidates. A visitor's question rarely has all its words
 * in one chunk, so the terms are OR-ed; but on a large knowledge base the
 * OR-ed query matches a large share of all chunks, and ranking every match
 * is what costs. So: chunks with all the words (AND) and chunks with any of
 * them (OR), each capped at SEARCH_TEXT_MATCHES before ranking; the vector
 * list covers what the cap leaves out. The CTEs are MATERIALIZED so the
 * tsqueries are built once per search, not once per row. */
#define SEARCH_TEXT_MATCHES "1000"
#define SEARCH_TEXT_CTES                                                                                        \
    " q AS MATERIALIZED (SELECT websearch_to_tsquery('english', $2) AS qa,"                                     \
    "  replace(websearch_to_tsquery('english', $2)::text, ' & ', ' | ')::tsquery AS qo),"                       \
    " m AS MATERIALIZED ("                                                                                      \
    "  (SELECT c.id FROM kb_chunks c, q WHERE q.qa <> ''::tsquery AND c.tsv @@ q.qa LIMIT " SEARCH_TEXT_MATCHES \
    ") UNION"                                                                                                   \
    "  (SELECT c.id FROM kb_chunks c, q WHERE q.qo <> ''::tsquery AND c.tsv @@ q.qo LIMIT " SEARCH_TEXT_MATCHES \
    "))"

/* Candidate lists, fused. $1 query vector, $2 query text, $3 candidates. */
static const char *const search_sql[3] = {
    [SEARCH_HYBRID] =
        "WITH v AS (SELECT id, row_number() OVER (ORDER BY d) AS r FROM ("
        "  SELECT id, embedding <=> $1::vector AS d FROM kb_chunks WHERE embedding IS NOT NULL"
        "  ORDER BY embedding <=> $1::vector LIMIT $3) s),"
        SEARCH_TEXT_CTES ","
        " t AS (SELECT id, rank, row_number() OVER (ORDER BY rank DESC, id) AS r FROM ("
        "  SELECT c.id, ts_rank_cd(c.tsv, q.qo) AS rank FROM m JOIN kb_chunks c ON c.id = m.id, q"
        "  ORDER BY rank DESC, c.id LIMIT $3) s2),"
        " f AS (SELECT coalesce(v.id, t.id) AS id,"
        "  coalesce(1.0 / (60 + v.r), 0) + coalesce(1.0 / (60 + t.r), 0) AS score, coalesce(t.rank, 0) AS trank"
        "  FROM v FULL OUTER JOIN t ON v.id = t.id)"
        " SELECT f.id, c.document_id, f.score, 1 - (c.embedding <=> $1::vector), f.trank,"
        "  d.title, d.url, c.anchor, c.heading_path, c.text, d.lang"
        " FROM f JOIN kb_chunks c ON c.id = f.id JOIN kb_documents d ON d.id = c.document_id"
        " ORDER BY f.score DESC, f.id",
    [SEARCH_VECTOR] =
        "SELECT s.id, c.document_id, 1.0 / (60 + row_number() OVER (ORDER BY s.d)), 1 - s.d, 0::real,"
        "  d.title, d.url, c.anchor, c.heading_path, c.text, d.lang FROM ("
        "  SELECT id, embedding <=> $1::vector AS d FROM kb_chunks WHERE embedding IS NOT NULL"
        "  ORDER BY embedding <=> $1::vector LIMIT $3) s"
        " JOIN kb_chunks c ON c.id = s.id JOIN kb_documents d ON d.id = c.document_id WHERE $2::text IS NOT NULL"
        " ORDER BY s.d, s.id",
    [SEARCH_TEXT] =
        "WITH " SEARCH_TEXT_CTES
        " SELECT s.id, c.document_id, 1.0 / (60 + row_number() OVER (ORDER BY s.rank DESC, s.id)),"
        "  1 - (c.embedding <=> $1::vector), s.rank, d.title, d.url, c.anchor, c.heading_path, c.text, d.lang FROM ("
        "  SELECT c.id, ts_rank_cd(c.tsv, q.qo) AS rank FROM m JOIN kb_chunks c ON c.id = m.id, q"
        "  ORDER BY rank DESC, c.id LIMIT $3) s"
        " JOIN kb_chunks c ON c.id = s.id JOIN kb_documents d ON d.id = c.document_id"
        " ORDER BY s.rank DESC, s.id",
};
static const char *const search_stmt_names[3] = {"search_hybrid", "search_vector", "search_text"};

int searcher_open(searcher **out, const searcher_opts *o, char *err, size_t errlen)
{
    *out = NULL;
    searcher *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    s->o = *o;
    if (s->o.min_similarity < 0) {
        s->o.min_similarity = SEARCH_MIN_SIMILARITY_DEFAULT;
    }
    if (s->o.min_text_rank < 0) {
        s->o.min_text_rank = SEARCH_MIN_TEXT_RANK_DEFAULT;
    }
    if (s->o.min_similarity_text < 0) {
        s->o.min_similarity_text = SEARCH_MIN_SIMILARITY_TEXT_DEFAULT;
    }
    if (embedder_open(&s->emb, &o->embed, err, errlen) != 0) {
        free(s);
        return -1;
    }
    unsigned dim = embedder_dimensions(s->emb);
    s->vlen = (size_t)dim * 16 + 8;
    s->vtext = malloc(s->vlen);
    s->qvec = malloc(dim * sizeof(float));
    if (s->vtext == NULL || s->qvec == NULL) {
        snprintf(err, errlen, "out of memory");
        searcher_close(s);
        return -1;
    }
    db_open(&s->db, o->db_url, o->app_name ? o->app_name : "svc-retrieval");
    if (s->db == NULL) {
        snprintf(err, errlen, "out of memory");
        searcher_close(s);
        return -1;
    }
    *out = s;
    return 0;
}

void searcher_close(searcher *s)
{
    if (s == NULL) {
        return;
    }
    db_close(s->db);
    embedder_close(s->emb);
    free(s->vtext);
    free(s->qvec);
    free(s);
}

db_conn *searcher_db(searcher *s) { return s->db; }

/* Prepares statements and checks the model on a (new) connection. */
static int searcher_prepare(searcher *s, PGconn *pg, char *err, size_t errlen)
{
    if (s->prepared_on == pg) {
        return 0;
    }
    char set[64];
    snprintf(set, sizeof(set), "SET hnsw.ef_search = %u", s->o.ef_search ? s->o.ef_search : 40);
    if (db_exec(pg, set, err, errlen) != 0) {
        return -1;
    }
    for (int i = 0; i < 3; i++) {
        PGresult *r = PQprepare(pg, search_stmt_names[i], search_sql[i], 3, NULL);
        int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
        if (!ok) {
            snprintf(err, errlen, "preparing search: %s", PQresultErrorMessage(r));
        }
        PQclear(r);
        if (!ok) {
            return -1;
        }
    }
    s->prepared_on = pg;
    s->model_ok = 0;
    return 0;
}

/* 1 = the knowledge base was built with our model, 2 = nothing indexed,
 * -1 = another model (message in s->model_msg), -2 = database error. */
static int searcher_check_model(searcher *s, PGconn *pg)
{
    if (s->model_ok == 1) {
        return 1;
    }
    PGresult *r = PQexec(pg, "SELECT provider, model, dimensions FROM kb_embedding_model");
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        PQclear(r);
        return -2;
    }
    int rc;
    if (PQntuples(r) == 0) {
        rc = 2; /* checked again next time: an index run may fix it */
    } else if (strcmp(PQgetvalue(r, 0, 0), embedder_provider(s->emb)) == 0 &&
               strcmp(PQgetvalue(r, 0, 1), embedder_model(s->emb)) == 0 &&
               (unsigned)atoi(PQgetvalue(r, 0, 2)) == embedder_dimensions(s->emb)) {
        rc = 1;
    } else {
        snprintf(s->model_msg, sizeof(s->model_msg),
                 "embedding model mismatch: the knowledge base was indexed with %s/%s (%s dimensions) but this "
                 "service embeds queries with %s/%s (%u dimensions); re-index or configure the same model",
                 PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 1), PQgetvalue(r, 0, 2), embedder_provider(s->emb),
                 embedder_model(s->emb), embedder_dimensions(s->emb));
        rc = -1;
    }
    PQclear(r);
    s->model_ok = rc == 1 ? 1 : 0;
    return rc;
}

static int search_query_has_words(const char *q)
{
    for (const unsigned char *p = (const unsigned char *)q; *p; p++) {
        if ((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p >= 0x80) {
            return 1;
        }
    }
    return 0;
}

search_status search_run(searcher *s, const search_params *p, search_result *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    int64_t t0 = clock_mono_us();
    const char *q = p->query ? p->query : "";
    size_t qlen = strlen(q);
    if (qlen > SEARCH_QUERY_MAX) {
        snprintf(err, errlen, "query is %zu bytes; the limit is %d", qlen, SEARCH_QUERY_MAX);
        return SEARCH_EINVAL;
    }
    if (!utf8_valid(q, qlen)) {
        snprintf(err, errlen, "query is not valid UTF-8");
        return SEARCH_EINVAL;
    }
    size_t i = 0;
    while (i < qlen && (q[i] == ' ' || q[i] == '\t' || q[i] == '\n' || q[i] == '\r')) {
        i++;
    }
    if (i == qlen) {
        snprintf(err, errlen, "query is empty");
        return SEARCH_EINVAL;
    }
    if (p->mode > SEARCH_TEXT) {
        snprintf(err, errlen, "unknown search mode %d", (int)p->mode);
        return SEARCH_EINVAL;
    }
    unsigned k = p->k ? p->k : SEARCH_K_DEFAULT;
    if (k > SEARCH_K_MAX) {
        k = SEARCH_K_MAX;
    }
    unsigned per_doc = p->max_per_document ? p->max_per_document : SEARCH_PER_DOC_DEFAULT;
    double min_sim = p->min_similarity >= 0 ? p->min_similarity : s->o.min_similarity;
    double min_rank = p->min_text_rank >= 0 ? p->min_text_rank : s->o.min_text_rank;
    double min_sim_text = p->min_similarity_text >= 0 ? p->min_similarity_text : s->o.min_similarity_text;
    if (!search_query_has_words(q)) {
        out->took_us = (unsigned)(clock_mono_us() - t0);
        return SEARCH_OK; /* pure punctuation: nothing can match */
    }

    PGconn *pg = db_ready(s->db);
    if (pg == NULL || searcher_prepare(s, pg, err, errlen) != 0) {
        if (pg == NULL) {
            snprintf(err, errlen, "database not reachable: %s", s->db->error);
        }
        return SEARCH_EDB;
    }
    int m = searcher_check_model(s, pg);
    if (m == -2) {
        snprintf(err, errlen, "database error reading the embedding model");
        return SEARCH_EDB;
    }
    if (m == -1) {
        snprintf(err, errlen, "%s", s->model_msg);
        return SEARCH_EMODEL;
    }
    if (m == 2) {
        out->took_us = (unsigned)(clock_mono_us() - t0);
        return SEARCH_OK; /* nothing indexed yet */
    }

    const char *texts[1] = {q};
    if (embedder_embed(s->emb, texts, 1, s->qvec, err, errlen) != 0) {
        return SEARCH_EEMBED;
    }
    if (embed_to_pgvector(s->qvec, embedder_dimensions(s->emb), s->vtext, s->vlen) == 0) {
        snprintf(err, errlen, "query vector too long");
        return SEARCH_EEMBED;
    }
    char cand[16];
    unsigned nc = k * 4 * per_doc;
    snprintf(cand, sizeof(cand), "%u", nc < SEARCH_CANDIDATES_MIN ? SEARCH_CANDIDATES_MIN : nc);
    const char *params[3] = {s->vtext, q, cand};
    PGresult *r = PQexecPrepared(pg, search_stmt_names[p->mode], 3, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
        if (state != NULL && strcmp(state, "57014") == 0) {
            snprintf(err, errlen, "the search took too long and was stopped");
            PQclear(r);
            return SEARCH_ETIMEOUT;
        }
        snprintf(err, errlen, "search failed: %s", PQresultErrorMessage(r));
        size_t n = strlen(err);
        while (n > 0 && err[n - 1] == '\n') {
            err[--n] = '\0';
        }
        PQclear(r);
        if (PQstatus(pg) != CONNECTION_OK) {
            s->prepared_on = NULL;
        }
        return SEARCH_EDB;
    }
    int rows = PQntuples(r);
    out->hits = calloc(k, sizeof(*out->hits));
    if (out->hits == NULL) {
        PQclear(r);
        snprintf(err, errlen, "out of memory");
        return SEARCH_EDB;
    }
    long long *docs = calloc((size_t)rows + 1, sizeof(*docs));
    unsigned *per = calloc((size_t)rows + 1, sizeof(*per));
    size_t ndocs = 0;
    for (int row = 0; row < rows && out->n < k && docs && per; row++) {
        double sim = PQgetisnull(r, row, 3) ? 0 : atof(PQgetvalue(r, row, 3));
        double rank = atof(PQgetvalue(r, row, 4));
        if (isnan(sim)) {
            sim = 0;
        }
        if (!(sim >= min_sim || (rank >= min_rank && sim >= min_sim_text))) {
            continue; /* below the relevance floor */
        }
        const char *url = PQgetvalue(r, row, 6);
        if (p->url_prefix != NULL && p->url_prefix[0] && strncmp(url, p->url_prefix, strlen(p->url_prefix)) != 0) {
            continue;
        }
        if (p->lang != NULL && p->lang[0] && strcmp(PQgetvalue(r, row, 10), p->lang) != 0) {
            continue;
        }
        long long doc = atoll(PQgetvalue(r, row, 1));
        if (p->n_document_ids > 0) {
            size_t di = 0;
            while (di < p->n_document_ids && p->document_ids[di] != doc) {
                di++;
            }
            if (di == p->n_document_ids) {
                continue;
            }
        }
        size_t d = 0;
        while (d < ndocs && docs[d] != doc) {
            d++;
        }
        if (d == ndocs) {
            docs[ndocs++] = doc;
        }
        if (per[d] >= per_doc) {
            continue;
        }
        per[d]++;
        search_hit *h = &out->hits[out->n++];
        h->chunk_id = atoll(PQgetvalue(r, row, 0));
        h->document_id = doc;
        h->score = atof(PQgetvalue(r, row, 2));
        h->similarity = sim;
        h->text_rank = rank;
        h->title = strdup(PQgetvalue(r, row, 5));
        const char *anchor = PQgetvalue(r, row, 7);
        size_t ul = strlen(url) + strlen(anchor) + 2;
        h->url = malloc(ul);
        if (h->url != NULL) {
            snprintf(h->url, ul, "%s%s%s", url, anchor[0] && !strchr(url, '#') ? "#" : "",
                     strchr(url, '#') ? "" : anchor);
        }
        h->heading_path = strdup(PQgetvalue(r, row, 8));
        h->text = strdup(PQgetvalue(r, row, 9));
    }
    free(docs);
    free(per);
    PQclear(r);
    out->took_us = (unsigned)(clock_mono_us() - t0);
    return SEARCH_OK;
}

void search_result_free(search_result *r)
{
    for (size_t i = 0; i < r->n; i++) {
        free(r->hits[i].title);
        free(r->hits[i].url);
        free(r->hits[i].heading_path);
        free(r->hits[i].text);
    }
    free(r->hits);
    memset(r, 0, sizeof(*r));
}
