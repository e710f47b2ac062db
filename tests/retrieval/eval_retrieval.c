/* eval_retrieval: retrieval quality and latency on a question set, for every
 * search mode and a plain full-text baseline, in one run.
 *
 *   eval_retrieval QUESTIONS.tsv [--verbose]
 *
 * QUESTIONS.tsv: "question<TAB>page,page,..." (pages are paths relative to
 * the indexed folder, as in kb_documents.source after the base URL), or
 * "-" for a question the knowledge base cannot answer. A result counts for
 * a page when its document's source path is that page; the reST copy Sphinx
 * ships of a page (_sources/x.rst.txt) counts as the page (x.html).
 *
 * Ranking figures are page-level (each page once, in the order of its best
 * chunk) with no relevance floor: hit@5, MRR@10, recall@20, for hybrid,
 * vector, text and the baseline (the question's words OR-ed, ranked by
 * ts_rank_cd, as a bare Postgres query would). Then the service's default
 * call (k 5, the floor on): hit@5, how many off-topic questions got nothing,
 * and its latency (p50/p99, in process: embedding + SQL + fusion); and the
 * HNSW recall@10 of the questions' vectors against an exact scan.
 *
 * Reads DATABASE_URL and the EMBEDDING_* variables like svc-retrieval.
 * Owns: everything it allocates; one searcher, one connection. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "db.h"
#include "embed.h"
#include "lsa.h"
#include "search.h"
#include "stem.h"

#define EV_QUESTIONS_MAX 1000
#define EV_LINE_MAX 4096
#define EV_PAGES_MAX 8
#define EV_RANK 20 /* pages ranked per question */
#define EV_DOCS_MAX 200000

typedef struct ev_question {
    char *text;
    char *pages[EV_PAGES_MAX];
    size_t npages; /* 0: off-topic */
} ev_question;

typedef struct ev_doc {
    long long id;
    char *page; /* normalised source path */
} ev_doc;

static ev_doc *ev_docs;
static size_t ev_ndocs;

static int ev_cmp_doc(const void *a, const void *b)
{
    long long x = ((const ev_doc *)a)->id, y = ((const ev_doc *)b)->id;
    return x < y ? -1 : x > y;
}

/* "https://site/_sources/library/json.rst.txt" -> "library/json.html" */
static char *ev_normalise(const char *source)
{
    const char *p = strstr(source, "://");
    p = p ? strchr(p + 3, '/') : NULL;
    if (p == NULL) {
        p = source;
    } else {
        p++;
    }
    /* a file:// source or a base URL with a path: keep what follows the
     * indexed folder, which the question file names from its root */
    const char *marker = getenv("EVAL_STRIP");
    if (marker != NULL && marker[0]) {
        const char *m = strstr(source, marker);
        if (m != NULL) {
            p = m + strlen(marker);
            while (*p == '/') {
                p++;
            }
        }
    }
    char buf[EV_LINE_MAX];
    snprintf(buf, sizeof(buf), "%s", p);
    if (strncmp(buf, "_sources/", 9) == 0) {
        memmove(buf, buf + 9, strlen(buf + 9) + 1);
        size_t n = strlen(buf);
        if (n > 8 && strcmp(buf + n - 8, ".rst.txt") == 0) {
            snprintf(buf + n - 8, sizeof(buf) - (n - 8), ".html");
        } else if (n > 4 && strcmp(buf + n - 4, ".txt") == 0) {
            snprintf(buf + n - 4, sizeof(buf) - (n - 4), ".html");
        }
    }
    return strdup(buf);
}

static int ev_load_docs(PGconn *pg)
{
    PGresult *r = PQexec(pg, "SELECT id, source FROM kb_documents ORDER BY id");
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        fprintf(stderr, "eval: %s", PQresultErrorMessage(r));
        PQclear(r);
        return -1;
    }
    size_t n = (size_t)PQntuples(r);
    if (n > EV_DOCS_MAX) {
        n = EV_DOCS_MAX;
    }
    ev_docs = calloc(n ? n : 1, sizeof(*ev_docs));
    for (size_t i = 0; ev_docs != NULL && i < n; i++) {
        ev_docs[i].id = atoll(PQgetvalue(r, (int)i, 0));
        ev_docs[i].page = ev_normalise(PQgetvalue(r, (int)i, 1));
    }
    ev_ndocs = ev_docs ? n : 0;
    PQclear(r);
    return ev_docs ? 0 : -1;
}

static const char *ev_page_of(long long id)
{
    ev_doc key = {.id = id};
    ev_doc *d = bsearch(&key, ev_docs, ev_ndocs, sizeof(*ev_docs), ev_cmp_doc);
    return d ? d->page : "?";
}

static size_t ev_load_questions(const char *path, ev_question *qs)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        perror(path);
        return 0;
    }
    char line[EV_LINE_MAX];
    size_t n = 0;
    while (n < EV_QUESTIONS_MAX && fgets(line, sizeof(line), f) != NULL) {
        line[strcspn(line, "\r\n")] = '\0';
        char *tab = strchr(line, '\t');
        if (tab == NULL || strncmp(line, "question\t", 9) == 0) {
            continue;
        }
        *tab = '\0';
        ev_question *q = &qs[n++];
        q->text = strdup(line);
        if (strcmp(tab + 1, "-") == 0) {
            continue;
        }
        char *save = NULL;
        for (char *p = strtok_r(tab + 1, ",", &save); p != NULL && q->npages < EV_PAGES_MAX;
             p = strtok_r(NULL, ",", &save)) {
            q->pages[q->npages++] = strdup(p);
        }
    }
    fclose(f);
    return n;
}

/* Distinct pages in result order, at most EV_RANK. */
typedef struct ev_ranking {
    const char *pages[EV_RANK];
    size_t n;
} ev_ranking;

static void ev_rank_add(ev_ranking *rk, const char *page)
{
    for (size_t i = 0; i < rk->n; i++) {
        if (strcmp(rk->pages[i], page) == 0) {
            return;
        }
    }
    if (rk->n < EV_RANK) {
        rk->pages[rk->n++] = page;
    }
}

typedef struct ev_score {
    double hit5, mrr10, recall20;
    size_t n;
} ev_score;

static int ev_wanted(const ev_question *q, const char *page)
{
    for (size_t i = 0; i < q->npages; i++) {
        if (strcmp(q->pages[i], page) == 0) {
            return 1;
        }
    }
    return 0;
}

static void ev_score_add(ev_score *s, const ev_question *q, const ev_ranking *rk)
{
    size_t first = 0, found = 0;
    for (size_t i = 0; i < rk->n; i++) {
        if (ev_wanted(q, rk->pages[i])) {
            if (first == 0) {
                first = i + 1;
            }
            found++;
        }
    }
    s->hit5 += first >= 1 && first <= 5;
    s->mrr10 += first >= 1 && first <= 10 ? 1.0 / (double)first : 0;
    s->recall20 += (double)found / (double)q->npages;
    s->n++;
}

static const char *const ev_mode_names[] = {"hybrid", "vector", "text", "ts_rank_cd"};

/* The baseline: the question's words OR-ed, ranked by ts_rank_cd. */
static int ev_baseline(PGconn *pg, const char *q, ev_ranking *rk)
{
    const char *p[] = {q};
    PGresult *r = PQexecParams(pg,
                               "WITH q AS (SELECT replace(websearch_to_tsquery('english', $1)::text, ' & ', ' | ')"
                               "::tsquery AS q) SELECT c.document_id FROM kb_chunks c, q WHERE q.q <> ''::tsquery"
                               " AND c.tsv @@ q.q ORDER BY ts_rank_cd(c.tsv, q.q) DESC, c.id LIMIT 200",
                               1, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        fprintf(stderr, "eval: baseline: %s", PQresultErrorMessage(r));
        PQclear(r);
        return -1;
    }
    for (int i = 0; i < PQntuples(r); i++) {
        ev_rank_add(rk, ev_page_of(atoll(PQgetvalue(r, i, 0))));
    }
    PQclear(r);
    return 0;
}

static int ev_cmp_uint(const void *a, const void *b)
{
    unsigned x = *(const unsigned *)a, y = *(const unsigned *)b;
    return x < y ? -1 : x > y;
}

static const char *ev_env(const char *name, const char *def)
{
    const char *v = getenv(name);
    return v && v[0] ? v : def;
}

/* HNSW recall@10 for the questions' own vectors (the local model's, as
 * stored): the index at the service's ef_search against the exact answer
 * (a sequential scan). Returns -1 when there is no local model. */
static double ev_hnsw_recall(PGconn *pg, const ev_question *qs, size_t nq, unsigned ef)
{
    PGresult *r = PQexecParams(pg, "SELECT data FROM kb_local_model", 0, NULL, NULL, NULL, NULL, 1);
    lsa_model *m = NULL;
    char err[256];
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1 ||
        lsa_load((const unsigned char *)PQgetvalue(r, 0, 0), (size_t)PQgetlength(r, 0, 0), &m, err, sizeof(err)) != 0) {
        PQclear(r);
        return -1;
    }
    PQclear(r);
    stemmer *st = NULL;
    stem_open(&st, EMBED_LOCAL_LANG);
    unsigned dim = lsa_dimensions(m);
    float *v = malloc(dim * sizeof(float));
    size_t vlen = (size_t)dim * 16 + 8;
    char *vt = malloc(vlen);
    char set[64];
    snprintf(set, sizeof(set), "SET hnsw.ef_search = %u", ef);
    PQclear(PQexec(pg, set));
    size_t found = 0, want = 0;
    for (size_t i = 0; i < nq && v && vt; i++) {
        if (lsa_embed(m, st, qs[i].text, strlen(qs[i].text), v) == 0 || embed_to_pgvector(v, dim, vt, vlen) == 0) {
            continue;
        }
        const char *p[] = {vt};
        long long ids[2][10];
        int n[2] = {0, 0};
        for (int exact = 0; exact < 2; exact++) {
            PQclear(PQexec(pg, exact ? "SET enable_indexscan = off" : "SET enable_indexscan = on"));
            r = PQexecParams(pg,
                             "SELECT id FROM kb_chunks WHERE embedding IS NOT NULL ORDER BY embedding <=> $1::vector"
                             " LIMIT 10",
                             1, NULL, p, NULL, NULL, 0);
            for (int k = 0; PQresultStatus(r) == PGRES_TUPLES_OK && k < PQntuples(r) && k < 10; k++) {
                ids[exact][n[exact]++] = atoll(PQgetvalue(r, k, 0));
            }
            PQclear(r);
        }
        for (int a = 0; a < n[1]; a++) {
            for (int b = 0; b < n[0]; b++) {
                found += ids[1][a] == ids[0][b];
            }
        }
        want += (size_t)n[1];
    }
    PQclear(PQexec(pg, "SET enable_indexscan = on"));
    free(v);
    free(vt);
    stem_close(st);
    lsa_free(m);
    return want ? (double)found / (double)want : -1;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: eval_retrieval QUESTIONS.tsv [--verbose]\n");
        return 2;
    }
    int verbose = argc > 2 && strcmp(argv[2], "--verbose") == 0;
    static ev_question qs[EV_QUESTIONS_MAX];
    size_t nq = ev_load_questions(argv[1], qs);
    if (nq == 0) {
        fprintf(stderr, "eval: no questions in %s\n", argv[1]);
        return 2;
    }
    searcher_opts o = {
        .db_url = ev_env("DATABASE_URL", NULL),
        .app_name = "eval_retrieval",
        .embed = {.provider = ev_env("EMBEDDING_PROVIDER", "local"),
                  .model = getenv("EMBEDDING_MODEL"),
                  .api_key = getenv("OPENAI_API_KEY"),
                  .base_url = getenv("OPENAI_BASE_URL")},
        .ef_search = SEARCH_EF_SEARCH_DEFAULT,
        .min_similarity = -1,
        .min_relevance = -1,
        /* overrides, for tuning */
        .weight_vector = getenv("EVAL_WEIGHT_VECTOR") ? atof(getenv("EVAL_WEIGHT_VECTOR")) : 0,
        .weight_text = getenv("EVAL_WEIGHT_TEXT") ? atof(getenv("EVAL_WEIGHT_TEXT")) : 0,
        .page_decay = getenv("EVAL_PAGE_DECAY") ? atof(getenv("EVAL_PAGE_DECAY")) : 0,
    };
    if (getenv("EVAL_MIN_SIMILARITY") != NULL) {
        o.min_similarity = atof(getenv("EVAL_MIN_SIMILARITY"));
    }
    if (getenv("EVAL_MIN_RELEVANCE") != NULL) {
        o.min_relevance = atof(getenv("EVAL_MIN_RELEVANCE"));
    }
    char err[512];
    searcher *s = NULL;
    if (o.db_url == NULL || searcher_open(&s, &o, err, sizeof(err)) != 0) {
        fprintf(stderr, "eval: %s\n", o.db_url ? err : "DATABASE_URL is not set");
        return 2;
    }
    PGconn *pg = db_ready(searcher_db(s));
    if (pg == NULL || ev_load_docs(pg) != 0) {
        fprintf(stderr, "eval: database not reachable\n");
        searcher_close(s);
        return 1;
    }
    ev_score sc[4];
    memset(sc, 0, sizeof(sc));
    for (int mode = 0; mode < 4; mode++) {
        for (size_t i = 0; i < nq; i++) {
            if (qs[i].npages == 0) {
                continue;
            }
            ev_ranking rk = {.n = 0};
            search_result res = {0};
            if (mode == 3) {
                if (ev_baseline(pg, qs[i].text, &rk) != 0) {
                    return 1;
                }
            } else {
                search_params p = {.query = qs[i].text,
                                   .k = EV_RANK,
                                   .max_per_document = 1,
                                   .mode = (search_mode)mode,
                                   .min_similarity = 0,
                                   .min_relevance = 0};
                if (search_run(s, &p, &res, err, sizeof(err)) != SEARCH_OK) {
                    fprintf(stderr, "eval: %s: %s\n", qs[i].text, err);
                    return 1;
                }
                for (size_t h = 0; h < res.n; h++) {
                    ev_rank_add(&rk, ev_page_of(res.hits[h].document_id));
                }
            }
            ev_score_add(&sc[mode], &qs[i], &rk);
            if (verbose && mode == 0) {
                int hit = 0;
                for (size_t h = 0; h < rk.n && h < 5; h++) {
                    hit |= ev_wanted(&qs[i], rk.pages[h]);
                }
                if (!hit) {
                    printf("  MISS %s\n       want %s; got %s, %s, %s\n", qs[i].text, qs[i].pages[0],
                           rk.n > 0 ? rk.pages[0] : "-", rk.n > 1 ? rk.pages[1] : "-", rk.n > 2 ? rk.pages[2] : "-");
                }
            }
            search_result_free(&res);
        }
    }
    /* The default call, as the assistant makes it. */
    unsigned *lat = calloc(nq, sizeof(*lat));
    size_t nlat = 0, hit_floor = 0, answerable = 0, off = 0, off_empty = 0;
    for (int rep = 0; rep < 2 && lat != NULL; rep++) { /* the first pass warms caches */
        nlat = 0;
        for (size_t i = 0; i < nq; i++) {
            search_params p = {.query = qs[i].text, .mode = SEARCH_HYBRID, .min_similarity = -1, .min_relevance = -1};
            search_result res;
            int64_t t0 = clock_mono_us();
            if (search_run(s, &p, &res, err, sizeof(err)) != SEARCH_OK) {
                fprintf(stderr, "eval: %s: %s\n", qs[i].text, err);
                return 1;
            }
            lat[nlat++] = (unsigned)(clock_mono_us() - t0);
            if (rep == 1) {
                if (qs[i].npages == 0) {
                    off++;
                    off_empty += res.n == 0;
                    if (verbose && res.n > 0) {
                        printf("  OFF-TOPIC ANSWERED %s -> %s (sim %.2f)\n", qs[i].text,
                               ev_page_of(res.hits[0].document_id), res.hits[0].similarity);
                    }
                } else {
                    answerable++;
                    int hit = 0;
                    for (size_t h = 0; h < res.n; h++) {
                        hit |= ev_wanted(&qs[i], ev_page_of(res.hits[h].document_id));
                    }
                    hit_floor += hit;
                }
                if (getenv("EVAL_DUMP") != NULL) {
                    /* the best result of the no-floor call, for choosing the floor */
                    search_params pn = p;
                    pn.min_similarity = 0;
                    pn.min_relevance = 0;
                    pn.k = 10;
                    search_result rn;
                    if (search_run(s, &pn, &rn, err, sizeof(err)) == SEARCH_OK) {
                        for (size_t h = 0; h < rn.n; h++) {
                            printf("DUMP\t%zu\t%s\t%d\t%.3f\t%.3f\t%.3f\n", i, qs[i].npages ? "on" : "off",
                                   qs[i].npages ? ev_wanted(&qs[i], ev_page_of(rn.hits[h].document_id)) : 0,
                                   rn.hits[h].similarity, rn.hits[h].coverage, rn.hits[h].text_rank);
                        }
                        search_result_free(&rn);
                    }
                }
            }
            search_result_free(&res);
        }
    }
    qsort(lat, nlat, sizeof(*lat), ev_cmp_uint);
    printf("questions: %zu answerable, %zu off-topic; %zu documents indexed\n", sc[0].n, nq - sc[0].n, ev_ndocs);
    printf("%-12s %7s %7s %9s\n", "mode", "hit@5", "MRR@10", "recall@20");
    for (int mode = 0; mode < 4; mode++) {
        double n = sc[mode].n ? (double)sc[mode].n : 1;
        printf("%-12s %7.3f %7.3f %9.3f\n", ev_mode_names[mode], sc[mode].hit5 / n, sc[mode].mrr10 / n,
               sc[mode].recall20 / n);
    }
    printf("default call (hybrid, k 5, floor on): hit@5 %.3f; off-topic with no result %zu/%zu; "
           "latency p50 %.1f ms, p99 %.1f ms\n",
           answerable ? (double)hit_floor / (double)answerable : 0, off_empty, off, nlat ? lat[nlat / 2] / 1000.0 : 0,
           nlat ? lat[(nlat * 99) / 100 < nlat ? (nlat * 99) / 100 : nlat - 1] / 1000.0 : 0);
    free(lat);
    double rec = ev_hnsw_recall(pg, qs, nq, SEARCH_EF_SEARCH_DEFAULT);
    if (rec >= 0) {
        printf("HNSW recall@10 of the questions' vectors at ef_search %d: %.3f\n", SEARCH_EF_SEARCH_DEFAULT, rec);
    }
    searcher_close(s);
    return 0;
}
