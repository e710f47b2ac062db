/* search.c: see search.h. */
#include "search.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "utf8.h"

#define SEARCH_CANDIDATES_MIN 100
#define SEARCH_CANDIDATES_MAX 800 /* per side: k 50 x 4 x SEARCH_PAGE_CHUNKS_MAX */

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

/* One statement for every mode: the vector candidates, the text
 * candidates, both with their ranks; fusion is in C.
 *
 * Text side, BM25-style: the question is parsed with each text-search
 * configuration in use (or the one of the language asked for), so its
 * words are the lexemes the chunks were indexed with. Each lexeme weighs
 * its idf, ln(1 + (N - n + 0.5) / (n + 0.5)) from the per-lexeme chunk
 * counts the indexer keeps (kb_lexemes); within a chunk, ts_rank of the
 * lexeme alone saturates with repetition and weighs a title (A) and a
 * heading (B) above body text. Candidates: the chunks that have one of the
 * rarest lexemes, taken rarest first while their chunk counts add up to at
 * most SEARCH_TEXT_BUDGET (always at least the rarest one), and
 * SEARCH_TEXT_MATCHES at most: a chunk with none of them can only score by
 * common words, and fetching every chunk that has "file" is what costs
 * (the vector list covers what this leaves out). Those candidates are then
 * scored with all of the question's SEARCH_TEXT_TERMS most telling lexemes,
 * one candidate at a time (a LATERAL sum over the terms: no join of every
 * candidate with every term to sort and group, ~30 % less time at 100,000
 * chunks). The CTEs are MATERIALIZED so each is computed once per search,
 * not once per row.
 *
 * $1 query vector (NULL: no vector side), $2 query text, $3 candidates per
 * side, $4 language ('' = every configuration in use), $5 / $6 whether the
 * text / vector candidates are wanted (a mode searches one side only; the
 * floor still weighs both similarity and word coverage of every candidate,
 * so coverage is computed for the vector side's candidates too). */
#define SEARCH_TEXT_MATCHES "1000"
#define SEARCH_TEXT_BUDGET "800"
#define SEARCH_TEXT_TERMS "12"
static const char search_sql[] =
    "WITH cfg AS MATERIALIZED (SELECT CASE WHEN $4 <> '' THEN ARRAY[kb_ts_config($4)]"
    "  ELSE coalesce((SELECT configs FROM kb_text_stats), '{english}') END AS c),"
    " ql AS MATERIALIZED (SELECT DISTINCT w AS lexeme FROM cfg, unnest(cfg.c) g,"
    "  unnest(tsvector_to_array(to_tsvector(g, $2))) w),"
    " qa AS MATERIALIZED (SELECT ql.lexeme, coalesce(l.chunks, 0) AS chunks,"
    "  ln(1 + (st.chunks - coalesce(l.chunks, 0) + 0.5) / (coalesce(l.chunks, 0) + 0.5)) AS idf"
    "  FROM ql LEFT JOIN kb_lexemes l ON l.lexeme = ql.lexeme, kb_text_stats st),"
    " qsum AS MATERIALIZED (SELECT coalesce(sum(idf), 0) AS idf FROM qa),"
    " qt AS MATERIALIZED (SELECT lexeme, plainto_tsquery('simple', lexeme) AS q, chunks, idf FROM qa"
    "  WHERE chunks > 0 ORDER BY idf DESC LIMIT " SEARCH_TEXT_TERMS "),"
    " qo AS MATERIALIZED (SELECT string_agg(q::text, ' | ')::tsquery AS q FROM ("
    "  SELECT q, sum(chunks) OVER (ORDER BY idf DESC, lexeme) AS cum, row_number() OVER (ORDER BY idf DESC, lexeme) AS "
    "i"
    "  FROM qt WHERE q <> ''::tsquery) s WHERE i = 1 OR cum <= " SEARCH_TEXT_BUDGET "),"
    " m AS MATERIALIZED (SELECT c.id FROM kb_chunks c, qo WHERE $5 AND qo.q IS NOT NULL AND c.tsv @@ qo.q"
    "  LIMIT " SEARCH_TEXT_MATCHES "),"
    " t AS (SELECT id, score, matched, row_number() OVER (ORDER BY score DESC, id) AS r FROM ("
    "  SELECT m.id, x.score, x.matched FROM m JOIN kb_chunks c ON c.id = m.id,"
    "  LATERAL (SELECT sum(qt.idf * ts_rank(c.tsv, qt.q)) AS score, sum(qt.idf) AS matched"
    "   FROM qt WHERE c.tsv @@ qt.q) x"
    "  ORDER BY x.score DESC, m.id LIMIT $3) s),"
    " v AS (SELECT id, row_number() OVER (ORDER BY d, id) AS r FROM ("
    "  SELECT id, embedding <=> $1::vector AS d FROM kb_chunks WHERE $6 AND $1 IS NOT NULL AND embedding IS NOT NULL"
    "  ORDER BY embedding <=> $1::vector LIMIT $3) s)"
    " SELECT c.id, c.document_id, v.r, t.r, 1 - (c.embedding <=> $1::vector), coalesce(t.score, 0),"
    "  d.title, d.url, c.anchor, c.heading_path, c.text, d.lang,"
    "  CASE WHEN qsum.idf > 0 THEN coalesce(t.matched,"
    "   (SELECT sum(qt.idf) FROM qt WHERE c.tsv @@ qt.q), 0) / qsum.idf ELSE 0 END"
    " FROM v FULL OUTER JOIN t ON v.id = t.id CROSS JOIN qsum JOIN kb_chunks c ON c.id = coalesce(v.id, t.id)"
    " JOIN kb_documents d ON d.id = c.document_id";
#define SEARCH_STMT "search_v4"

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
        const char *prov = o->embed.provider ? o->embed.provider : "local";
        s->o.min_similarity =
            strcmp(prov, "openai") == 0 ? SEARCH_MIN_SIMILARITY_OPENAI : SEARCH_MIN_SIMILARITY_DEFAULT;
    }
    if (s->o.min_relevance < 0) {
        s->o.min_relevance = SEARCH_MIN_RELEVANCE_DEFAULT;
    }
    if (s->o.weight_vector <= 0) {
        s->o.weight_vector = SEARCH_WEIGHT_VECTOR_DEFAULT;
    }
    if (s->o.page_decay == 0) {
        s->o.page_decay = SEARCH_PAGE_DECAY;
    } else if (s->o.page_decay < 0) {
        s->o.page_decay = 0;
    }
    if (s->o.weight_text <= 0) {
        s->o.weight_text = SEARCH_WEIGHT_TEXT_DEFAULT;
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

db_conn *searcher_db(searcher *s)
{
    return s->db;
}

/* Prepares statements and checks the model on a (new) connection. */
static int searcher_prepare(searcher *s, PGconn *pg, char *err, size_t errlen)
{
    if (s->prepared_on == pg) {
        return 0;
    }
    char set[64];
    snprintf(set, sizeof(set), "SET hnsw.ef_search = %u", s->o.ef_search ? s->o.ef_search : SEARCH_EF_SEARCH_DEFAULT);
    if (db_exec(pg, set, err, errlen) != 0) {
        return -1;
    }
    PGresult *r = PQprepare(pg, SEARCH_STMT, search_sql, 6, NULL);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!ok) {
        snprintf(err, errlen, "preparing search: %s", PQresultErrorMessage(r));
    }
    PQclear(r);
    if (!ok) {
        return -1;
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

/* Loads the local embedder's model when the stored version is not the one
 * the embedder has (a retrain since, or the first search). */
static int searcher_sync_model(searcher *s, PGconn *pg, char *err, size_t errlen)
{
    PGresult *r = PQexec(pg, "SELECT version FROM kb_local_model");
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        snprintf(err, errlen, "reading the local model: %s", PQresultErrorMessage(r));
        PQclear(r);
        return -1;
    }
    long long version = PQntuples(r) == 1 ? atoll(PQgetvalue(r, 0, 0)) : 0;
    PQclear(r);
    if (version == embedder_model_version(s->emb)) {
        return 0;
    }
    if (version == 0) {
        embedder_set_model(s->emb, NULL, 0);
        return 0;
    }
    const char *pm[] = {embedder_model(s->emb)};
    r = PQexecParams(pg, "SELECT version, data FROM kb_local_model WHERE model = $1", 1, NULL, pm, NULL, NULL, 1);
    int rc = 0;
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        snprintf(err, errlen, "reading the local model: %s", PQresultErrorMessage(r));
        rc = -1;
    } else if (PQntuples(r) == 1) {
        const unsigned char *vb = (const unsigned char *)PQgetvalue(r, 0, 0);
        long long v = 0;
        for (int i = 0; i < 8; i++) {
            v = (v << 8) | vb[i];
        }
        lsa_model *m = NULL;
        if (lsa_load((const unsigned char *)PQgetvalue(r, 0, 1), (size_t)PQgetlength(r, 0, 1), &m, err, errlen) != 0) {
            rc = -1;
        } else if (lsa_dimensions(m) != embedder_dimensions(s->emb)) {
            snprintf(err, errlen, "the stored local model has %u dimensions, not %u", lsa_dimensions(m),
                     embedder_dimensions(s->emb));
            lsa_free(m);
            rc = -1;
        } else {
            embedder_set_model(s->emb, m, v);
            log_debug("local embedder model version %lld loaded (%zu words)", v, lsa_words(m));
        }
    }
    PQclear(r);
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

/* --- fusion ------------------------------------------------------------------------ */

/* One candidate chunk: its ranks on both sides (0 = not there), its scores,
 * and its fused score. */
typedef struct search_cand {
    int row;
    long long doc;
    unsigned vr, tr;
    double sim, text, cover, score;
} search_cand;

/* A page and its evidence: its best chunks' scores, decayed. */
typedef struct search_page {
    long long doc;
    double score;
    int chunks[SEARCH_PAGE_CHUNKS_MAX]; /* indexes into the candidates, best first */
    unsigned n;
    unsigned seen;
} search_page;

static int search_cmp_cand(const void *a, const void *b)
{
    const search_cand *x = a, *y = b;
    if (x->score != y->score) {
        return x->score > y->score ? -1 : 1;
    }
    return x->row - y->row;
}

static int search_cmp_page(const void *a, const void *b)
{
    const search_page *x = a, *y = b;
    if (x->score != y->score) {
        return x->score > y->score ? -1 : 1;
    }
    return x->chunks[0] - y->chunks[0];
}

static int search_doc_allowed(const search_params *p, long long doc)
{
    if (p->n_document_ids == 0) {
        return 1;
    }
    for (size_t i = 0; i < p->n_document_ids; i++) {
        if (p->document_ids[i] == doc) {
            return 1;
        }
    }
    return 0;
}

static char *search_join_url(const char *url, const char *anchor)
{
    size_t ul = strlen(url) + strlen(anchor) + 2;
    char *u = malloc(ul);
    if (u != NULL) {
        int has = strchr(url, '#') != NULL;
        snprintf(u, ul, "%s%s%s", url, anchor[0] && !has ? "#" : "", has ? "" : anchor);
    }
    return u;
}

/* The text of a page's one entry: its best chunk, then its next chunks
 * (up to SEARCH_PAGE_JOIN_MAX in all) that score at least SEARCH_PAGE_JOIN
 * of the best, separated by an ellipsis line. */
static char *search_page_text(PGresult *r, const search_cand *c, const search_page *g, const char *best)
{
    const char *parts[SEARCH_PAGE_JOIN_MAX];
    size_t np = 0, len = 0;
    for (unsigned j = 0; j < g->n && np < SEARCH_PAGE_JOIN_MAX; j++) {
        if (j > 0 && c[g->chunks[j]].score < SEARCH_PAGE_JOIN * c[g->chunks[0]].score) {
            continue;
        }
        parts[np] = j == 0 ? best : PQgetvalue(r, c[g->chunks[j]].row, 10);
        len += strlen(parts[np]) + 6;
        np++;
    }
    char *t = malloc(len + 1);
    if (t == NULL) {
        return NULL;
    }
    size_t off = 0;
    for (size_t i = 0; i < np; i++) {
        off += (size_t)snprintf(t + off, len + 1 - off, "%s%s", i ? "\n…\n" : "", parts[i]);
    }
    return t;
}

static search_status search_fuse(searcher *s, const search_params *p, PGresult *r, unsigned k, unsigned per_doc,
                                 double min_sim, double min_rel, search_result *out, char *err, size_t errlen)
{
    int rows = PQntuples(r);
    search_cand *c = calloc((size_t)rows + 1, sizeof(*c));
    search_page *pg = calloc((size_t)rows + 1, sizeof(*pg));
    out->hits = calloc(k, sizeof(*out->hits));
    if (c == NULL || pg == NULL || out->hits == NULL) {
        free(c);
        free(pg);
        free(out->hits);
        out->hits = NULL;
        snprintf(err, errlen, "out of memory");
        return SEARCH_EDB;
    }
    double wv = p->mode == SEARCH_TEXT ? 0 : s->o.weight_vector;
    double wt = p->mode == SEARCH_VECTOR ? 0 : s->o.weight_text;
    size_t nc = 0;
    double best = 0;
    for (int row = 0; row < rows; row++) {
        search_cand x = {.row = row};
        x.doc = atoll(PQgetvalue(r, row, 1));
        x.vr = PQgetisnull(r, row, 2) ? 0 : (unsigned)atoi(PQgetvalue(r, row, 2));
        x.tr = PQgetisnull(r, row, 3) ? 0 : (unsigned)atoi(PQgetvalue(r, row, 3));
        x.sim = PQgetisnull(r, row, 4) ? 0 : atof(PQgetvalue(r, row, 4));
        x.text = atof(PQgetvalue(r, row, 5));
        x.cover = atof(PQgetvalue(r, row, 12));
        if (isnan(x.sim)) {
            x.sim = 0;
        }
        x.score = (x.vr ? wv / (SEARCH_RRF_K + x.vr) : 0) + (x.tr ? wt / (SEARCH_RRF_K + x.tr) : 0);
        if (x.score <= 0) {
            continue; /* not on the side this mode searches */
        }
        if (x.sim + x.cover > best) {
            best = x.sim + x.cover;
        }
        if (!(x.sim >= min_sim || x.sim + x.cover >= min_rel * SEARCH_FLOOR_CHUNK_SHARE)) {
            continue; /* below the relevance floor */
        }
        const char *url = PQgetvalue(r, row, 7);
        if (p->url_prefix != NULL && p->url_prefix[0] && strncmp(url, p->url_prefix, strlen(p->url_prefix)) != 0) {
            continue;
        }
        if (p->lang != NULL && p->lang[0] && strcmp(PQgetvalue(r, row, 11), p->lang) != 0) {
            continue;
        }
        if (!search_doc_allowed(p, x.doc)) {
            continue;
        }
        c[nc++] = x;
    }
    /* the question as a whole: nothing is relevant enough, so nothing is
     * (the assistant can say it does not know) */
    if (best < min_rel && best < min_sim) {
        nc = 0;
    }
    qsort(c, nc, sizeof(*c), search_cmp_cand);
    /* pages: the best chunk counts fully, each next one less */
    size_t np = 0;
    for (size_t i = 0; i < nc; i++) {
        size_t d = 0;
        while (d < np && pg[d].doc != c[i].doc) {
            d++;
        }
        if (d == np) {
            pg[np++].doc = c[i].doc;
        }
        search_page *g = &pg[d];
        double w = 1.0;
        for (unsigned j = 0; j < g->seen; j++) {
            w *= s->o.page_decay;
        }
        g->score += w * c[i].score;
        g->seen++;
        if (g->n < SEARCH_PAGE_CHUNKS_MAX) {
            g->chunks[g->n++] = (int)i;
        }
    }
    qsort(pg, np, sizeof(*pg), search_cmp_page);
    for (size_t d = 0; d < np && out->n < k; d++) {
        search_page *g = &pg[d];
        unsigned take = per_doc < g->n ? per_doc : g->n;
        for (unsigned j = 0; j < take && out->n < k; j++) {
            search_cand *x = &c[g->chunks[j]];
            search_hit *h = &out->hits[out->n++];
            h->chunk_id = atoll(PQgetvalue(r, x->row, 0));
            h->document_id = x->doc;
            h->score = j == 0 ? g->score : x->score;
            h->similarity = x->sim;
            h->text_rank = x->text;
            h->coverage = x->cover;
            h->title = strdup(PQgetvalue(r, x->row, 6));
            h->url = search_join_url(PQgetvalue(r, x->row, 7), PQgetvalue(r, x->row, 8));
            h->heading_path = strdup(PQgetvalue(r, x->row, 9));
            const char *text = PQgetvalue(r, x->row, 10);
            /* one entry for the page: its next chunks join the text when
             * they are good evidence too */
            if (per_doc == 1) {
                h->text = search_page_text(r, c, g, text);
            } else {
                h->text = strdup(text);
            }
        }
    }
    free(c);
    free(pg);
    return SEARCH_OK;
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
    double min_rel = p->min_relevance >= 0 ? p->min_relevance : s->o.min_relevance;
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

    /* the local embedder's model: the one the chunks were embedded with */
    if (embedder_needs_model(s->emb) && searcher_sync_model(s, pg, err, errlen) != 0) {
        return SEARCH_EDB;
    }
    const char *vec = NULL;
    /* text mode too: the relevance floor weighs similarity in every mode */
    if (embedder_ready(s->emb)) {
        const char *texts[1] = {q};
        if (embedder_embed(s->emb, texts, 1, s->qvec, err, errlen) != 0) {
            return SEARCH_EEMBED;
        }
        double norm = 0;
        for (unsigned d = 0; d < embedder_dimensions(s->emb); d++) {
            norm += (double)s->qvec[d] * s->qvec[d];
        }
        /* no word the model knows: no meaning to search by */
        if (norm > 0) {
            if (embed_to_pgvector(s->qvec, embedder_dimensions(s->emb), s->vtext, s->vlen) == 0) {
                snprintf(err, errlen, "query vector too long");
                return SEARCH_EEMBED;
            }
            vec = s->vtext;
        }
    }
    char cand[16];
    unsigned pd = per_doc > SEARCH_PAGE_CHUNKS_MAX ? SEARCH_PAGE_CHUNKS_MAX : per_doc;
    unsigned nc = k * 4 * (pd > 2 ? pd : 2);
    nc = nc < SEARCH_CANDIDATES_MIN ? SEARCH_CANDIDATES_MIN : nc > SEARCH_CANDIDATES_MAX ? SEARCH_CANDIDATES_MAX : nc;
    snprintf(cand, sizeof(cand), "%u", nc);
    const char *params[6] = {
        vec, q, cand, p->lang ? p->lang : "", p->mode != SEARCH_VECTOR ? "t" : "f", p->mode != SEARCH_TEXT ? "t" : "f"};
    PGresult *r = PQexecPrepared(pg, SEARCH_STMT, 6, params, NULL, NULL, 0);
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
    search_status st = search_fuse(s, p, r, k, per_doc, min_sim, min_rel, out, err, errlen);
    PQclear(r);
    out->took_us = (unsigned)(clock_mono_us() - t0);
    return st;
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
