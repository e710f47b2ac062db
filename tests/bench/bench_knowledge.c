/* bench_knowledge.c: the knowledge benchmarks' C half, driven by
 * tests/bench/bench_knowledge.sh (which starts Postgres and svc-retrieval).
 *
 *   bench_knowledge pages DIR [--pages N] [--seed S]
 *       writes N synthetic Markdown pages (a title, an intro sentence and 8
 *       "##" sections of 2-3 paragraphs, sometimes a list) under DIR, made
 *       of kb/'s sentences and headings shuffled with a fixed seed; so the
 *       indexer's chunker cuts each page into about 8 chunks.
 *   bench_knowledge load --chunks N [--seed S] [--summary FILE]
 *       tops kb_chunks up to N rows by direct COPY (documents of 8 chunks,
 *       made like the pages above; embeddings by the local embedder's model
 *       the indexer trained on kb/ (kb_local_model), of the same text the
 *       indexer embeds: title, heading path, text), with the HNSW index
 *       dropped during the load, then builds it (timed, as the migration
 *       defines it), runs VACUUM ANALYZE and refreshes the text statistics
 *       (kb_refresh_text_stats: idf), each timed.
 *   bench_knowledge search --questions TSV [--queries N] [--callers 1,8]
 *                          [--warmup N] [--mode hybrid|vector|text]
 *                          [--max-secs S] [--tag T] [--tolerate-timeouts]
 *                          [--summary FILE]
 *       Search through RPC (rpc_call_sync, k=5 like the gateway) against the
 *       svc-retrieval at RETRIEVAL_URL: a warm-up, then N queries drawn with
 *       a fixed seed from the question set and paraphrases of it, for each
 *       number of concurrent callers (one shared client, as the gateway
 *       has): ms per call (mean, p50, p99, max), calls/s, the server's own
 *       took_us, results per query. A call that times out (the RPC deadline or
 *       the service's statement timeout) is counted with its wait; it fails
 *       the run unless --tolerate-timeouts (used at 100k, where a timeout is
 *       a finding, not a broken benchmark).
 *   bench_knowledge recall --questions TSV [--queries N] [--ef 40,100,200]
 *                          [--k 10] [--summary FILE]
 *       HNSW recall@k: for N query vectors (the local model's, of distinct
 *       questions/paraphrases), `ORDER BY embedding <=> q LIMIT k` through
 *       the index at each hnsw.ef_search against the exact answer (index
 *       scans off: a sequential scan), with the latency of each; and the
 *       plan the service's prepared vector query gets once generic.
 *
 * The text pools are read from the database: every kb/ chunk already
 * indexed (documents whose URL is not under https://bench.example/), split
 * into sentences, list items and headings, sorted and de-duplicated, so the
 * same kb/ gives the same corpus.
 * --summary FILE appends the key figures as key=value lines (for run.sh).
 * Exit status: 0 when the benchmark ran, 1 when a step failed, 2 usage. */
#include <errno.h>
#include <libpq-fe.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "chunk.h"
#include "embed.h"
#include "log.h"
#include "lsa.h"
#include "retrieval.pb-c.h"
#include "rpc.pb-c.h"
#include "rpc_client.h"
#include "stem.h"
#include "store.h"

#define BENCH_URL_PREFIX "https://bench.example/"
#define SECTIONS_PER_PAGE 8

static FILE *g_summary;

static void summary(const char *key, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void summary(const char *key, const char *fmt, ...)
{
    if (g_summary == NULL) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    fprintf(g_summary, "%s=", key);
    vfprintf(g_summary, fmt, ap);
    fputc('\n', g_summary);
    fflush(g_summary);
    va_end(ap);
}

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static double secs_since(int64_t t0)
{
    return (double)(now_ns() - t0) / 1e9;
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (p == NULL) {
        fprintf(stderr, "bench_knowledge: out of memory\n");
        exit(1);
    }
    return p;
}

static void *xrealloc(void *p, size_t n)
{
    p = realloc(p, n ? n : 1);
    if (p == NULL) {
        fprintf(stderr, "bench_knowledge: out of memory\n");
        exit(1);
    }
    return p;
}

static char *xstrndup(const char *s, size_t n)
{
    char *d = xmalloc(n + 1);
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

/* --- a deterministic random generator (xorshift64*) --------------------------- */

typedef struct rng {
    uint64_t s;
} rng;

static uint64_t rng_next(rng *r)
{
    r->s ^= r->s >> 12;
    r->s ^= r->s << 25;
    r->s ^= r->s >> 27;
    return r->s * 2685821657736338717ull;
}

static unsigned rng_below(rng *r, unsigned n)
{
    return n ? (unsigned)(rng_next(r) % n) : 0;
}

static rng rng_seeded(uint64_t seed)
{
    rng r = {.s = seed * 0x9E3779B97F4A7C15ull + 0x2545F4914F6CDD1Dull};
    if (r.s == 0) {
        r.s = 1;
    }
    for (int i = 0; i < 8; i++) {
        rng_next(&r);
    }
    return r;
}

/* --- a growable string ------------------------------------------------------------ */

typedef struct sbuf {
    char *p;
    size_t n, cap;
} sbuf;

static void sb_add(sbuf *b, const char *s, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        b->cap = (b->n + n + 1) * 2;
        b->p = xrealloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

static void sb_puts(sbuf *b, const char *s)
{
    sb_add(b, s, strlen(s));
}

static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *tmp = NULL;
    int n = vasprintf(&tmp, fmt, ap);
    va_end(ap);
    if (n < 0) {
        fprintf(stderr, "bench_knowledge: out of memory\n");
        exit(1);
    }
    sb_add(b, tmp, (size_t)n);
    free(tmp);
}

/* A field in COPY's text format. */
static void sb_copy_field(sbuf *b, const char *s)
{
    for (const char *p = s; *p; p++) {
        switch (*p) {
        case '\\':
            sb_add(b, "\\\\", 2);
            break;
        case '\t':
            sb_add(b, "\\t", 2);
            break;
        case '\n':
            sb_add(b, "\\n", 2);
            break;
        case '\r':
            sb_add(b, "\\r", 2);
            break;
        default:
            sb_add(b, p, 1);
        }
    }
}

/* --- string lists ------------------------------------------------------------------ */

typedef struct strv {
    char **v;
    size_t n, cap;
} strv;

static void sv_push(strv *s, char *str)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 64;
        s->v = xrealloc(s->v, s->cap * sizeof(*s->v));
    }
    s->v[s->n++] = str;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void sv_sort_unique(strv *s)
{
    if (s->n == 0) {
        return;
    }
    qsort(s->v, s->n, sizeof(*s->v), cmp_str);
    size_t k = 1;
    for (size_t i = 1; i < s->n; i++) {
        if (strcmp(s->v[i], s->v[k - 1]) == 0) {
            free(s->v[i]);
        } else {
            s->v[k++] = s->v[i];
        }
    }
    s->n = k;
}

static void sv_free(strv *s)
{
    for (size_t i = 0; i < s->n; i++) {
        free(s->v[i]);
    }
    free(s->v);
    memset(s, 0, sizeof(*s));
}

static const char *sv_pick(const strv *s, rng *r)
{
    return s->v[rng_below(r, (unsigned)s->n)];
}

/* --- the database ----------------------------------------------------------------- */

static void notice_print(void *arg, const char *msg)
{
    (void)arg;
    printf("   postgres: %s", msg);
}

static PGconn *db_connect(void)
{
    const char *url = getenv("DATABASE_URL");
    if (url == NULL || !url[0]) {
        fprintf(stderr, "bench_knowledge: DATABASE_URL is not set\n");
        return NULL;
    }
    PGconn *pg = PQconnectdb(url);
    if (PQstatus(pg) != CONNECTION_OK) {
        fprintf(stderr, "bench_knowledge: cannot connect: %s", PQerrorMessage(pg));
        PQfinish(pg);
        return NULL;
    }
    PQsetNoticeProcessor(pg, notice_print, NULL);
    return pg;
}

static int sql(PGconn *pg, const char *q)
{
    PGresult *r = PQexec(pg, q);
    ExecStatusType st = PQresultStatus(r);
    int ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
    if (!ok) {
        fprintf(stderr, "bench_knowledge: %s: %s", q, PQresultErrorMessage(r));
    }
    PQclear(r);
    return ok ? 0 : -1;
}

static long long sql_int(PGconn *pg, const char *q)
{
    PGresult *r = PQexec(pg, q);
    long long v = -1;
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 && !PQgetisnull(r, 0, 0)) {
        v = atoll(PQgetvalue(r, 0, 0));
    } else {
        fprintf(stderr, "bench_knowledge: %s: %s", q, PQresultErrorMessage(r));
    }
    PQclear(r);
    return v;
}

/* --- text pools from kb/ ---------------------------------------------------------- */

typedef struct pools {
    strv sentences, items, headings;
} pools;

static size_t count_words(const char *s, size_t n)
{
    size_t w = 0;
    int in = 0;
    for (size_t i = 0; i < n; i++) {
        int sp = s[i] == ' ' || s[i] == '\t';
        if (!sp && !in) {
            w++;
        }
        in = !sp;
    }
    return w;
}

static void trim(const char **s, size_t *n)
{
    while (*n > 0 && (**s == ' ' || **s == '\t')) {
        (*s)++;
        (*n)--;
    }
    while (*n > 0 && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t')) {
        (*n)--;
    }
}

static void pools_add_line(pools *pl, const char *s, size_t n)
{
    trim(&s, &n);
    if (n == 0) {
        return;
    }
    if (n > 2 && (s[0] == '-' || s[0] == '*' || s[0] == '+') && s[1] == ' ') {
        s += 2;
        n -= 2;
        trim(&s, &n);
        if (count_words(s, n) >= 3) {
            sv_push(&pl->items, xstrndup(s, n));
        }
        return;
    }
    char last = s[n - 1];
    size_t words = count_words(s, n);
    if (last != '.' && last != '?' && last != '!' && last != ':' && words <= 8) {
        if (words >= 1 && n <= 80) {
            sv_push(&pl->headings, xstrndup(s, n));
        }
        return;
    }
    /* sentences: cut after . ? ! followed by a space and a capital, digit or quote */
    size_t start = 0;
    for (size_t i = 0; i < n; i++) {
        int end = i + 1 == n;
        if (!end && (s[i] == '.' || s[i] == '?' || s[i] == '!') && s[i + 1] == ' ' && i + 2 < n) {
            unsigned char c = (unsigned char)s[i + 2];
            end = (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '"' || c == 0xE2;
        }
        if (end) {
            const char *p = s + start;
            size_t m = i + 1 - start;
            trim(&p, &m);
            size_t w = count_words(p, m);
            if (w >= 5 && w <= 60) {
                sv_push(&pl->sentences, xstrndup(p, m));
            }
            start = i + 1;
        }
    }
}

static int pools_load(PGconn *pg, pools *pl)
{
    memset(pl, 0, sizeof(*pl));
    PGresult *r =
        PQexec(pg, "SELECT c.heading_path, c.text FROM kb_chunks c JOIN kb_documents d ON d.id = c.document_id"
                   " WHERE d.url NOT LIKE '" BENCH_URL_PREFIX "%' ORDER BY d.source, c.ord");
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        fprintf(stderr, "bench_knowledge: reading kb/ chunks: %s", PQresultErrorMessage(r));
        PQclear(r);
        return -1;
    }
    for (int i = 0; i < PQntuples(r); i++) {
        const char *hp = PQgetvalue(r, i, 0);
        while (*hp) { /* "A > B > C" */
            const char *e = strstr(hp, " > ");
            size_t n = e ? (size_t)(e - hp) : strlen(hp);
            if (n > 0 && n <= 80) {
                sv_push(&pl->headings, xstrndup(hp, n));
            }
            hp += n + (e ? 3 : 0);
        }
        const char *t = PQgetvalue(r, i, 1);
        while (*t) {
            const char *e = strchr(t, '\n');
            size_t n = e ? (size_t)(e - t) : strlen(t);
            pools_add_line(pl, t, n);
            t += n + (e ? 1 : 0);
        }
    }
    PQclear(r);
    sv_sort_unique(&pl->sentences);
    sv_sort_unique(&pl->items);
    sv_sort_unique(&pl->headings);
    if (pl->sentences.n < 50 || pl->headings.n < 10 || pl->items.n < 5) {
        fprintf(stderr,
                "bench_knowledge: too little text in the database (index kb/ first): %zu sentences, %zu "
                "headings, %zu list items\n",
                pl->sentences.n, pl->headings.n, pl->items.n);
        return -1;
    }
    return 0;
}

static void pools_free(pools *pl)
{
    sv_free(&pl->sentences);
    sv_free(&pl->items);
    sv_free(&pl->headings);
}

/* One section's body: 1-3 paragraphs of 2-4 sentences, a list of 3-5 items
 * in 3 sections out of 10. sep separates blocks ("\n\n" in Markdown, "\n"
 * in a chunk's text, as the chunker joins them). */
static void gen_body(sbuf *b, const pools *pl, rng *r, const char *sep, int markdown)
{
    unsigned paras = 1 + rng_below(r, 3);
    for (unsigned p = 0; p < paras; p++) {
        unsigned ns = 2 + rng_below(r, 3);
        for (unsigned s = 0; s < ns; s++) {
            if (s > 0) {
                sb_puts(b, " ");
            }
            sb_puts(b, sv_pick(&pl->sentences, r));
        }
        sb_puts(b, sep);
    }
    if (rng_below(r, 10) < 3) {
        unsigned ni = 3 + rng_below(r, 3);
        for (unsigned i = 0; i < ni; i++) {
            sb_puts(b, "- ");
            sb_puts(b, sv_pick(&pl->items, r));
            sb_puts(b, markdown ? "\n" : sep);
        }
        if (markdown) {
            sb_puts(b, "\n");
        }
    }
}

static void gen_title(sbuf *b, const pools *pl, rng *r)
{
    const char *a = sv_pick(&pl->headings, r), *c = sv_pick(&pl->headings, r);
    sb_printf(b, "%s: %s", a, c);
}

/* --- pages ------------------------------------------------------------------------- */

static int cmd_pages(int argc, char **argv)
{
    const char *dir = NULL;
    unsigned npages = 2000;
    uint64_t seed = 42;
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--pages") == 0 && i + 1 < argc) {
            npages = (unsigned)atoi(argv[++i]);
        } else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc) {
            seed = strtoull(argv[++i], NULL, 10);
        } else if (dir == NULL && argv[i][0] != '-') {
            dir = argv[i];
        } else {
            return 2;
        }
    }
    if (dir == NULL) {
        return 2;
    }
    PGconn *pg = db_connect();
    if (pg == NULL) {
        return 1;
    }
    pools pl;
    int rc = pools_load(pg, &pl);
    PQfinish(pg);
    if (rc != 0) {
        return 1;
    }
    int64_t t0 = now_ns();
    rng r = rng_seeded(seed);
    sbuf b = {0};
    size_t bytes = 0;
    mkdir(dir, 0755);
    for (unsigned p = 0; p < npages; p++) {
        char path[4096];
        snprintf(path, sizeof(path), "%s/s%02u", dir, p / 100);
        if (p % 100 == 0 && mkdir(path, 0755) != 0 && errno != EEXIST) {
            fprintf(stderr, "bench_knowledge: mkdir %s: %s\n", path, strerror(errno));
            return 1;
        }
        snprintf(path, sizeof(path), "%s/s%02u/page-%05u.md", dir, p / 100, p);
        b.n = 0;
        sb_puts(&b, "# ");
        gen_title(&b, &pl, &r);
        sb_puts(&b, "\n\n");
        sb_puts(&b, sv_pick(&pl.sentences, &r));
        sb_puts(&b, "\n\n");
        for (unsigned s = 0; s < SECTIONS_PER_PAGE; s++) {
            sb_printf(&b, "## %s\n\n", sv_pick(&pl.headings, &r));
            gen_body(&b, &pl, &r, "\n\n", 1);
        }
        FILE *f = fopen(path, "w");
        if (f == NULL || fwrite(b.p, 1, b.n, f) != b.n || fclose(f) != 0) {
            fprintf(stderr, "bench_knowledge: writing %s failed\n", path);
            return 1;
        }
        bytes += b.n;
    }
    printf("   %u pages (%.1f MB) from %zu sentences, %zu list items, %zu headings of kb/ (seed %llu) in %.2f s\n",
           npages, (double)bytes / 1e6, pl.sentences.n, pl.items.n, pl.headings.n, (unsigned long long)seed,
           secs_since(t0));
    free(b.p);
    pools_free(&pl);
    return 0;
}

/* --- load ---------------------------------------------------------------------------- */

static int copy_send(PGconn *pg, sbuf *b)
{
    if (b->n == 0) {
        return 0;
    }
    if (PQputCopyData(pg, b->p, (int)b->n) != 1) {
        fprintf(stderr, "bench_knowledge: COPY: %s", PQerrorMessage(pg));
        return -1;
    }
    b->n = 0;
    return 0;
}

static int copy_end(PGconn *pg)
{
    if (PQputCopyEnd(pg, NULL) != 1) {
        fprintf(stderr, "bench_knowledge: COPY end: %s", PQerrorMessage(pg));
        return -1;
    }
    PGresult *r;
    int rc = 0;
    while ((r = PQgetResult(pg)) != NULL) {
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
            fprintf(stderr, "bench_knowledge: COPY: %s", PQresultErrorMessage(r));
            rc = -1;
        }
        PQclear(r);
    }
    return rc;
}

static int copy_begin(PGconn *pg, const char *q)
{
    PGresult *r = PQexec(pg, q);
    int ok = PQresultStatus(r) == PGRES_COPY_IN;
    if (!ok) {
        fprintf(stderr, "bench_knowledge: %s: %s", q, PQresultErrorMessage(r));
    }
    PQclear(r);
    return ok ? 0 : -1;
}

/* The local embedder's model, as the indexer stored it: the benchmark
 * embeds its synthetic chunks and its questions with it. */
static lsa_model *bench_model;
static stemmer *bench_stem;

static int bench_model_load(PGconn *pg)
{
    PGresult *r = PQexecParams(pg, "SELECT data FROM kb_local_model", 0, NULL, NULL, NULL, NULL, 1);
    char err[256];
    int ok = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 &&
             lsa_load((const unsigned char *)PQgetvalue(r, 0, 0), (size_t)PQgetlength(r, 0, 0), &bench_model, err,
                      sizeof(err)) == 0 &&
             lsa_dimensions(bench_model) == EMBED_LOCAL_DIM && stem_open(&bench_stem, EMBED_LOCAL_LANG) == 0;
    PQclear(r);
    if (!ok) {
        fprintf(stderr,
                "bench_knowledge: no local embedder model of %d dimensions in kb_local_model (index kb/ first)\n",
                EMBED_LOCAL_DIM);
    }
    return ok ? 0 : -1;
}

static void bench_embed(const char *text, size_t len, float *out)
{
    lsa_embed(bench_model, bench_stem, text, len, out);
}

static int cmd_load(int argc, char **argv)
{
    unsigned target = 100000;
    uint64_t seed = 7;
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--chunks") == 0 && i + 1 < argc) {
            target = (unsigned)atoi(argv[++i]);
        } else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc) {
            seed = strtoull(argv[++i], NULL, 10);
        } else {
            return 2;
        }
    }
    PGconn *pg = db_connect();
    if (pg == NULL) {
        return 1;
    }
    pools pl;
    if (pools_load(pg, &pl) != 0) {
        PQfinish(pg);
        return 1;
    }
    char q[512];
    snprintf(q, sizeof(q), "SELECT kb_use_embedding_model('local', '%s', %d)", EMBED_LOCAL_MODEL, EMBED_LOCAL_DIM);
    if (sql(pg, q) != 0 || sql(pg, "SET statement_timeout = 0") != 0 || bench_model_load(pg) != 0) {
        PQfinish(pg);
        return 1;
    }
    long long have = sql_int(pg, "SELECT count(*) FROM kb_chunks");
    long long doc0 = sql_int(pg, "SELECT coalesce(max(id), 0) FROM kb_documents");
    if (have < 0 || doc0 < 0) {
        PQfinish(pg);
        return 1;
    }
    unsigned need = have >= (long long)target ? 0 : target - (unsigned)have;
    unsigned ndocs = (need + SECTIONS_PER_PAGE - 1) / SECTIONS_PER_PAGE;
    printf("   kb_chunks has %lld rows; adding %u chunks in %u documents by COPY (HNSW index dropped meanwhile)\n",
           have, need, ndocs);

    int64_t t0 = now_ns();
    sql(pg, "SET client_min_messages = warning"); /* not "does not exist, skipping" */
    int dropped = sql(pg, "DROP INDEX IF EXISTS kb_chunks_embedding_hnsw");
    sql(pg, "RESET client_min_messages");
    if (dropped != 0 || sql(pg, "BEGIN") != 0) {
        PQfinish(pg);
        return 1;
    }
    /* The rows are generated document by document: first all documents
     * (their text decides their titles), then all chunks; the same seed
     * twice gives the same rows. */
    rng r = rng_seeded(seed);
    sbuf b = {0}, title = {0}, hp = {0}, text = {0}, etext = {0};
    char hash[KB_HASH_HEX];
    uint64_t *doc_seed = xmalloc(ndocs * sizeof(*doc_seed));
    int rc = copy_begin(pg, "COPY kb_documents (id, source, url, title, content_hash, lang, bytes) FROM STDIN");
    for (unsigned d = 0; d < ndocs && rc == 0; d++) {
        doc_seed[d] = rng_next(&r);
        rng dr = rng_seeded(doc_seed[d]);
        title.n = 0;
        gen_title(&title, &pl, &dr);
        char src[128];
        snprintf(src, sizeof(src), "%sload/doc-%06u", BENCH_URL_PREFIX, d);
        kb_sha256_hex(src, strlen(src), hash);
        sb_printf(&b, "%lld\tbench://load/doc-%06u\t%s\t", doc0 + 1 + d, d, src);
        sb_copy_field(&b, title.p);
        sb_printf(&b, "\t%s\ten\t%u\n", hash, 4000);
        if (b.n > (1u << 20)) {
            rc = copy_send(pg, &b);
        }
    }
    if (rc == 0) {
        rc = copy_send(pg, &b);
    }
    if (rc == 0) {
        rc = copy_end(pg);
    }
    double embed_s = 0;
    unsigned done = 0;
    uint64_t tokens = 0;
    char *vtext = xmalloc(EMBED_LOCAL_DIM * 16 + 8);
    float vec[EMBED_LOCAL_DIM];
    if (rc == 0) {
        rc = copy_begin(pg, "COPY kb_chunks (document_id, ord, heading_path, anchor, text, content_hash, tokens, "
                            "embedding) FROM STDIN");
    }
    for (unsigned d = 0; d < ndocs && rc == 0; d++) {
        rng dr = rng_seeded(doc_seed[d]);
        title.n = 0;
        gen_title(&title, &pl, &dr);
        for (unsigned s = 0; s < SECTIONS_PER_PAGE && done < need; s++, done++) {
            const char *h = sv_pick(&pl.headings, &dr);
            hp.n = 0;
            sb_printf(&hp, "%s > %s", title.p, h);
            text.n = 0;
            sb_printf(&text, "%s\n", h);
            if (s == 0) {
                sb_printf(&text, "%s\n", sv_pick(&pl.sentences, &dr));
            }
            gen_body(&text, &pl, &dr, "\n", 0);
            while (text.n > 0 && text.p[text.n - 1] == '\n') {
                text.p[--text.n] = '\0';
            }
            /* what store.c hashes and embeds */
            etext.n = 0;
            sb_puts(&etext, hp.p);
            sb_add(&etext, "\x1f", 1);
            sb_puts(&etext, text.p);
            kb_sha256_hex(etext.p, etext.n, hash);
            etext.n = 0;
            sb_printf(&etext, "%s\n%s\n", title.p, hp.p);
            sb_puts(&etext, text.p);
            int64_t e0 = now_ns();
            bench_embed(etext.p, etext.n, vec);
            embed_s += secs_since(e0);
            if (embed_to_pgvector(vec, EMBED_LOCAL_DIM, vtext, EMBED_LOCAL_DIM * 16 + 8) == 0) {
                fprintf(stderr, "bench_knowledge: vector text too long\n");
                rc = -1;
                break;
            }
            unsigned tk = kb_estimate_tokens(text.p, text.n);
            tokens += tk;
            sb_printf(&b, "%lld\t%u\t", doc0 + 1 + d, s);
            sb_copy_field(&b, hp.p);
            sb_puts(&b, "\tsection-");
            sb_printf(&b, "%u\t", s);
            sb_copy_field(&b, text.p);
            sb_printf(&b, "\t%s\t%u\t", hash, tk);
            sb_puts(&b, vtext);
            sb_puts(&b, "\n");
            if (b.n > (1u << 20)) {
                rc = copy_send(pg, &b);
            }
        }
    }
    if (rc == 0) {
        rc = copy_send(pg, &b);
    }
    if (rc == 0) {
        rc = copy_end(pg);
    }
    if (rc == 0) {
        rc = sql(pg, "SELECT setval(pg_get_serial_sequence('kb_documents', 'id'), (SELECT max(id) FROM kb_documents))");
    }
    if (rc == 0) {
        rc = sql(pg, "COMMIT");
    } else {
        sql(pg, "ROLLBACK");
    }
    double load_s = secs_since(t0);
    free(vtext);
    free(doc_seed);
    free(b.p);
    free(title.p);
    free(hp.p);
    free(text.p);
    free(etext.p);
    if (rc != 0) {
        pools_free(&pl);
        PQfinish(pg);
        return 1;
    }
    printf(
        "   COPY of %u documents and %u chunks (mean %.0f tokens): %.1f s, %.0f chunks/s (embedding: %.1f s of it)\n",
        ndocs, done, done ? (double)tokens / done : 0.0, load_s, done / load_s, embed_s);
    summary("load_chunks", "%u", done);
    summary("load_s", "%.1f", load_s);
    summary("load_embed_s", "%.1f", embed_s);

    long long total = sql_int(pg, "SELECT count(*) FROM kb_chunks");
    PGresult *pr = PQexec(pg, "SELECT current_setting('maintenance_work_mem'), "
                              "current_setting('max_parallel_maintenance_workers')");
    printf("   building HNSW (m=16, ef_construction=64 defaults, vector_cosine_ops) over %lld chunks; "
           "maintenance_work_mem %s, parallel workers %s\n",
           total, PQgetvalue(pr, 0, 0), PQgetvalue(pr, 0, 1));
    PQclear(pr);
    fflush(stdout);
    t0 = now_ns();
    rc = sql(pg, "CREATE INDEX kb_chunks_embedding_hnsw ON kb_chunks USING hnsw (embedding vector_cosine_ops)");
    double hnsw_s = secs_since(t0);
    if (rc == 0) {
        printf("   HNSW build: %.1f s (%.0f vectors/s)\n", hnsw_s, total / hnsw_s);
        summary("hnsw_build_s", "%.1f", hnsw_s);
        summary("hnsw_rows", "%lld", total);
        fflush(stdout);
        t0 = now_ns();
        rc = sql(pg, "VACUUM ANALYZE kb_documents");
        if (rc == 0) {
            rc = sql(pg, "VACUUM ANALYZE kb_chunks");
        }
        double vac_s = secs_since(t0);
        if (rc == 0) {
            printf("   VACUUM ANALYZE: %.1f s\n", vac_s);
            summary("vacuum_s", "%.1f", vac_s);
            t0 = now_ns();
            rc = sql(pg, "SELECT kb_refresh_text_stats()");
            printf("   text statistics (kb_refresh_text_stats): %.1f s\n", secs_since(t0));
        }
        pr = PQexec(pg, "SELECT pg_size_pretty(pg_total_relation_size('kb_chunks')), "
                        "pg_size_pretty(pg_relation_size('kb_chunks_embedding_hnsw')), "
                        "pg_size_pretty(pg_relation_size('kb_chunks_tsv_idx'))");
        if (PQresultStatus(pr) == PGRES_TUPLES_OK) {
            printf("   sizes: kb_chunks total %s, HNSW index %s, GIN (tsv) index %s\n", PQgetvalue(pr, 0, 0),
                   PQgetvalue(pr, 0, 1), PQgetvalue(pr, 0, 2));
        }
        PQclear(pr);
    }
    pools_free(&pl);
    PQfinish(pg);
    return rc == 0 ? 0 : 1;
}

/* --- queries: the question set and paraphrases -------------------------------------- */

static int queries_load(const char *tsv, strv *out)
{
    memset(out, 0, sizeof(*out));
    FILE *f = fopen(tsv, "r");
    if (f == NULL) {
        fprintf(stderr, "bench_knowledge: %s: %s\n", tsv, strerror(errno));
        return -1;
    }
    static const char *const pre[] = {"", "", "hi, ", "quick question: ", "hello! ", "sorry, ", "ok so ", "and "};
    static const char *const post[] = {"", "?", "", " please", "??", " thanks", "", "."};
    char line[2048];
    strv qs = {0};
    while (fgets(line, sizeof(line), f) != NULL) {
        line[strcspn(line, "\t\r\n")] = '\0';
        if (line[0] == '\0' || strcmp(line, "question") == 0) {
            continue;
        }
        sv_push(&qs, strdup(line));
    }
    fclose(f);
    for (size_t i = 0; i < qs.n; i++) {
        const char *q = qs.v[i];
        size_t n = strlen(q);
        while (n > 0 && (q[n - 1] == '?' || q[n - 1] == '.')) {
            n--;
        }
        for (size_t p = 0; p < sizeof(pre) / sizeof(pre[0]); p++) {
            char buf[2300];
            snprintf(buf, sizeof(buf), "%s%.*s%s", pre[p], (int)n, q, post[p]);
            if (p == 1 && buf[0] >= 'a' && buf[0] <= 'z') {
                buf[0] = (char)(buf[0] - 'a' + 'A'); /* "Can i cancel anytime?" */
            }
            sv_push(out, strdup(buf));
        }
        /* the last words only, as a visitor's terse follow-up */
        const char *sp = q + n;
        int words = 0;
        while (sp > q && words < 3) {
            sp--;
            if (*sp == ' ') {
                words++;
            }
        }
        if (sp > q) {
            sv_push(out, xstrndup(sp + 1, (size_t)(q + n - sp - 1)));
        }
    }
    sv_free(&qs);
    sv_sort_unique(out);
    return out->n > 0 ? 0 : -1;
}

/* --- latency statistics ---------------------------------------------------------------- */

typedef struct lat_stats {
    double mean, p50, p99, max; /* ms */
    size_t n;
} lat_stats;

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Sorts v (ns) in place. */
static lat_stats lat_compute(int64_t *v, size_t n)
{
    lat_stats s = {.n = n};
    if (n == 0) {
        return s;
    }
    qsort(v, n, sizeof(*v), cmp_i64);
    double sum = 0;
    for (size_t i = 0; i < n; i++) {
        sum += (double)v[i];
    }
    s.mean = sum / (double)n / 1e6;
    s.p50 = (double)v[(size_t)((double)(n - 1) * 0.50)] / 1e6;
    s.p99 = (double)v[(size_t)((double)(n - 1) * 0.99)] / 1e6;
    s.max = (double)v[n - 1] / 1e6;
    return s;
}

/* --- search through RPC -------------------------------------------------------------------- */

typedef struct search_run {
    rpc_client *c;
    const char **queries; /* n */
    size_t n;
    int mode;
    int64_t deadline; /* ns; no new call after it */
    atomic_size_t next;
    atomic_size_t done;
    atomic_uint errors;
    atomic_uint timeouts;
    atomic_ullong results, empty;
    int64_t *lat;    /* per query index, ns; -1 = not run or failed */
    int64_t *server; /* took_us * 1000 */
    pthread_mutex_t mu;
    char first_error[RPC_STATUS_MESSAGE_MAX + 64];
} search_run;

/* 0 answered, 1 timed out (the RPC deadline, or the service's statement
 * timeout: the caller waited lat_ns for nothing), -1 another error. */
static int search_one(search_run *s, const char *q, int64_t *lat_ns, int64_t *server_ns)
{
    Chat__Retrieval__SearchRequest req = CHAT__RETRIEVAL__SEARCH_REQUEST__INIT;
    req.query = (char *)q;
    req.k = 5;
    req.mode = (Chat__Retrieval__SearchMode)s->mode;
    rpc_result res;
    int64_t t0 = now_ns();
    rpc_code rc = rpc_call_sync(s->c, "Search", &req.base, 10000, NULL, &res);
    *lat_ns = now_ns() - t0;
    if (rc != RPC_OK) {
        int timeout = rc == RPC_DEADLINE_EXCEEDED || strstr(res.message, "statement timeout") != NULL;
        atomic_fetch_add(timeout ? &s->timeouts : &s->errors, 1);
        pthread_mutex_lock(&s->mu);
        if (!s->first_error[0]) {
            snprintf(s->first_error, sizeof(s->first_error), "%s: %s", rpc_code_name(rc), res.message);
        }
        pthread_mutex_unlock(&s->mu);
        *server_ns = *lat_ns;
        return timeout ? 1 : -1;
    }
    Chat__Retrieval__SearchReply *rep = (Chat__Retrieval__SearchReply *)res.reply;
    *server_ns = (int64_t)rep->took_us * 1000;
    atomic_fetch_add(&s->results, rep->n_results);
    if (rep->n_results == 0) {
        atomic_fetch_add(&s->empty, 1);
    }
    protobuf_c_message_free_unpacked(res.reply, NULL);
    return 0;
}

static void *search_thread(void *arg)
{
    search_run *s = arg;
    for (;;) {
        if (now_ns() > s->deadline) {
            break;
        }
        size_t i = atomic_fetch_add(&s->next, 1);
        if (i >= s->n) {
            break;
        }
        int64_t lat = 0, srv = 0;
        if (search_one(s, s->queries[i], &lat, &srv) >= 0) {
            s->lat[i] = lat;
            s->server[i] = srv;
            atomic_fetch_add(&s->done, 1);
        }
    }
    return NULL;
}

static int cmd_search(int argc, char **argv)
{
    const char *tsv = NULL, *tag = "kb", *callers = "1,8";
    unsigned nq = 2000, warmup = 200, max_secs = 60;
    int mode = 0, tolerate_timeouts = 0;
    uint64_t seed = 11;
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--questions") == 0 && i + 1 < argc) {
            tsv = argv[++i];
        } else if (strcmp(argv[i], "--queries") == 0 && i + 1 < argc) {
            nq = (unsigned)atoi(argv[++i]);
        } else if (strcmp(argv[i], "--warmup") == 0 && i + 1 < argc) {
            warmup = (unsigned)atoi(argv[++i]);
        } else if (strcmp(argv[i], "--callers") == 0 && i + 1 < argc) {
            callers = argv[++i];
        } else if (strcmp(argv[i], "--max-secs") == 0 && i + 1 < argc) {
            max_secs = (unsigned)atoi(argv[++i]);
        } else if (strcmp(argv[i], "--tag") == 0 && i + 1 < argc) {
            tag = argv[++i];
        } else if (strcmp(argv[i], "--tolerate-timeouts") == 0) {
            tolerate_timeouts = 1;
        } else if (strcmp(argv[i], "--mode") == 0 && i + 1 < argc) {
            const char *m = argv[++i];
            mode = strcmp(m, "vector") == 0 ? 1 : strcmp(m, "text") == 0 ? 2 : 0;
        } else {
            return 2;
        }
    }
    const char *url = getenv("RETRIEVAL_URL");
    if (tsv == NULL || url == NULL) {
        fprintf(stderr, "bench_knowledge: search needs --questions and RETRIEVAL_URL\n");
        return 2;
    }
    strv pool;
    if (queries_load(tsv, &pool) != 0) {
        return 1;
    }
    rpc_client *c = NULL;
    char err[256];
    rpc_client_opts o = {.default_timeout_ms = 10000, .secret = getenv("RPC_SECRET")};
    if (rpc_client_open(&c, &chat__retrieval__retrieval__descriptor, url, &o, err, sizeof(err)) != 0) {
        fprintf(stderr, "bench_knowledge: rpc_client_open %s: %s\n", url, err);
        sv_free(&pool);
        return 1;
    }
    for (int i = 0; i < 5000 && !rpc_client_connected(c); i++) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    static const char *const mode_names[] = {"hybrid", "vector", "text"};
    rng r = rng_seeded(seed);
    const char **qs = xmalloc(nq * sizeof(*qs));
    for (unsigned i = 0; i < nq; i++) {
        qs[i] = pool.v[rng_below(&r, (unsigned)pool.n)];
    }
    search_run s;
    memset(&s, 0, sizeof(s));
    pthread_mutex_init(&s.mu, NULL);
    s.c = c;
    s.mode = mode;
    s.lat = xmalloc(nq * sizeof(int64_t));
    s.server = xmalloc(nq * sizeof(int64_t));
    int status = 0;

    /* warm-up: one caller, queries from the same pool */
    int64_t lat, srv;
    for (unsigned i = 0; i < warmup; i++) {
        if (search_one(&s, pool.v[rng_below(&r, (unsigned)pool.n)], &lat, &srv) < 0 && i == 0) {
            fprintf(stderr, "bench_knowledge: warm-up search failed: %s\n", s.first_error);
            status = 1;
            break;
        }
    }
    printf("   %zu distinct queries (the question set and paraphrases), %u drawn with seed %llu; mode %s, k=5; "
           "%u warm-up calls\n",
           pool.n, nq, (unsigned long long)seed, mode_names[mode], warmup);
    printf("   %-8s %7s %8s %8s %8s %8s %9s %10s %10s %8s %8s %6s\n", "callers", "calls", "mean", "p50", "p99", "max",
           "calls/s", "server p50", "server p99", "results", "timeouts", "errors");
    const char *cp = callers;
    while (status == 0 && *cp) {
        unsigned nc = (unsigned)strtoul(cp, (char **)&cp, 10);
        if (*cp == ',') {
            cp++;
        }
        if (nc == 0 || nc > 256) {
            break;
        }
        atomic_store(&s.next, 0);
        atomic_store(&s.done, 0);
        atomic_store(&s.errors, 0);
        atomic_store(&s.timeouts, 0);
        atomic_store(&s.results, 0);
        atomic_store(&s.empty, 0);
        s.first_error[0] = '\0';
        s.queries = qs;
        s.n = nq;
        for (unsigned i = 0; i < nq; i++) {
            s.lat[i] = -1;
        }
        pthread_t th[256];
        int64_t t0 = now_ns();
        s.deadline = t0 + (int64_t)max_secs * 1000000000;
        unsigned started = 0;
        for (unsigned i = 0; i < nc; i++) {
            if (pthread_create(&th[i], NULL, search_thread, &s) == 0) {
                started++;
            }
        }
        for (unsigned i = 0; i < started; i++) {
            pthread_join(th[i], NULL);
        }
        double wall = secs_since(t0);
        size_t n = 0;
        for (unsigned i = 0; i < nq; i++) {
            if (s.lat[i] >= 0) {
                s.lat[n] = s.lat[i];
                s.server[n] = s.server[i];
                n++;
            }
        }
        lat_stats L = lat_compute(s.lat, n);
        lat_stats S = lat_compute(s.server, n);
        double tput = (double)n / wall;
        unsigned errors = atomic_load(&s.errors), timeouts = atomic_load(&s.timeouts);
        size_t answered = n - timeouts;
        printf("   %-8u %7zu %8.3f %8.3f %8.3f %8.2f %9.0f %10.3f %10.3f %8.2f %8u %6u%s\n", nc, n, L.mean, L.p50,
               L.p99, L.max, tput, S.p50, S.p99, answered ? (double)atomic_load(&s.results) / (double)answered : 0.0,
               timeouts, errors, n + errors < nq ? "  (stopped at --max-secs)" : "");
        if (errors || timeouts) {
            printf("   first failure: %s%s\n", s.first_error,
                   errors == 0 && tolerate_timeouts ? " (timeouts reported, not a failure of the benchmark)" : "");
        }
        if (errors || (timeouts && !tolerate_timeouts)) {
            status = 1;
        }
        char key[128];
        snprintf(key, sizeof(key), "search_%s_%s_c%u", tag, mode_names[mode], nc);
        summary(key, "mean %.3f p50 %.3f p99 %.3f", L.mean, L.p50, L.p99);
        char k2[160];
        snprintf(k2, sizeof(k2), "%s_tput", key);
        summary(k2, "%.0f", tput);
        snprintf(k2, sizeof(k2), "%s_server", key);
        summary(k2, "p50 %.3f p99 %.3f", S.p50, S.p99);
        snprintf(k2, sizeof(k2), "%s_n", key);
        summary(k2, "%zu", n);
        snprintf(k2, sizeof(k2), "%s_errors", key);
        summary(k2, "%u", errors);
        snprintf(k2, sizeof(k2), "%s_timeouts", key);
        summary(k2, "%u", timeouts);
        snprintf(k2, sizeof(k2), "%s_empty", key);
        summary(k2, "%.3f", n ? (double)atomic_load(&s.empty) / (double)n : 0.0);
    }
    printf("   (ms per call at the caller, rpc_call_sync; server: the reply's took_us, search_run alone;\n"
           "    results: mean sources returned, k=5, after the relevance floor, one per page; timeouts: the\n"
           "    service's statement timeout or the 10 s RPC deadline, counted in the latencies with their wait)\n");
    rpc_client_close(c);
    free(qs);
    free(s.lat);
    free(s.server);
    pthread_mutex_destroy(&s.mu);
    sv_free(&pool);
    return status;
}

/* --- HNSW recall ------------------------------------------------------------------------------- */

typedef struct knn {
    long long *ids; /* k, nearest first */
    double *dist;
    int n;
} knn;

static knn knn_new(unsigned k)
{
    knn a = {.ids = xmalloc(k * sizeof(long long)), .dist = xmalloc(k * sizeof(double))};
    return a;
}

static void knn_free(knn *a)
{
    free(a->ids);
    free(a->dist);
}

static int knn_query(PGconn *pg, const char *vtext, unsigned k, knn *out, int64_t *ns)
{
    char lim[16];
    snprintf(lim, sizeof(lim), "%u", k);
    const char *p[] = {vtext, lim};
    int64_t t0 = now_ns();
    PGresult *r = PQexecPrepared(pg, "knn", 2, p, NULL, NULL, 0);
    *ns = now_ns() - t0;
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        fprintf(stderr, "bench_knowledge: knn: %s", PQresultErrorMessage(r));
        PQclear(r);
        return -1;
    }
    out->n = PQntuples(r) < (int)k ? PQntuples(r) : (int)k;
    for (int i = 0; i < out->n; i++) {
        out->ids[i] = atoll(PQgetvalue(r, i, 0));
        out->dist[i] = atof(PQgetvalue(r, i, 1));
    }
    PQclear(r);
    return 0;
}

/* Whether EXPLAIN of the statement names the HNSW index (-1: EXPLAIN failed). */
static int plan_uses_hnsw(PGconn *pg, const char *explain, int nparams, const char *const *params)
{
    PGresult *r = PQexecParams(pg, explain, nparams, NULL, params, NULL, NULL, 0);
    int uses = -1;
    if (PQresultStatus(r) == PGRES_TUPLES_OK) {
        uses = 0;
        for (int i = 0; i < PQntuples(r); i++) {
            if (strstr(PQgetvalue(r, i, 0), "kb_chunks_embedding_hnsw") != NULL) {
                uses = 1;
            }
        }
    } else {
        fprintf(stderr, "bench_knowledge: EXPLAIN: %s", PQresultErrorMessage(r));
    }
    PQclear(r);
    return uses;
}

/* Every stored embedding, read once (COPY ... TO STDOUT), for the exact
 * answers by brute force: a sequential scan in SQL detoasts every vector
 * (pgvector stores them EXTERNAL, and a chunk row is larger than the TOAST
 * threshold) and took 0.2-9 s per query here. */
typedef struct vec_table {
    long long *ids;
    float *v; /* n * dim */
    double *norm;
    size_t n, cap;
} vec_table;

static int vec_table_load(PGconn *pg, vec_table *t)
{
    memset(t, 0, sizeof(*t));
    PGresult *r =
        PQexec(pg, "COPY (SELECT id, embedding FROM kb_chunks WHERE embedding IS NOT NULL ORDER BY id) TO STDOUT");
    if (PQresultStatus(r) != PGRES_COPY_OUT) {
        fprintf(stderr, "bench_knowledge: COPY out: %s", PQresultErrorMessage(r));
        PQclear(r);
        return -1;
    }
    PQclear(r);
    char *line;
    int len, rc = 0;
    while ((len = PQgetCopyData(pg, &line, 0)) > 0) {
        if (t->n == t->cap) {
            t->cap = t->cap ? t->cap * 2 : 65536;
            t->ids = xrealloc(t->ids, t->cap * sizeof(*t->ids));
            t->v = xrealloc(t->v, t->cap * EMBED_LOCAL_DIM * sizeof(float));
            t->norm = xrealloc(t->norm, t->cap * sizeof(double));
        }
        char *p = line;
        t->ids[t->n] = strtoll(p, &p, 10);
        float *v = t->v + t->n * EMBED_LOCAL_DIM;
        double nn = 0;
        if (*p == '\t') {
            p++;
        }
        if (*p == '[') {
            p++;
        }
        unsigned d = 0;
        for (; d < EMBED_LOCAL_DIM && *p && *p != ']'; d++) {
            v[d] = strtof(p, &p);
            nn += (double)v[d] * v[d];
            if (*p == ',') {
                p++;
            }
        }
        PQfreemem(line);
        if (d != EMBED_LOCAL_DIM) {
            fprintf(stderr, "bench_knowledge: an embedding of %u dimensions (want %d)\n", d, EMBED_LOCAL_DIM);
            rc = -1;
            continue;
        }
        t->norm[t->n] = sqrt(nn);
        t->n++;
    }
    while ((r = PQgetResult(pg)) != NULL) {
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
            fprintf(stderr, "bench_knowledge: COPY out: %s", PQresultErrorMessage(r));
            rc = -1;
        }
        PQclear(r);
    }
    return rc;
}

static void vec_table_free(vec_table *t)
{
    free(t->ids);
    free(t->v);
    free(t->norm);
}

/* Exact top k by cosine distance (1 - cos, as pgvector's <=>), brute force
 * over the query's non-zero dimensions. */
static void exact_knn(const vec_table *t, const float *q, unsigned k, knn *out)
{
    unsigned nz[EMBED_LOCAL_DIM], m = 0;
    double qn = 0;
    for (unsigned d = 0; d < EMBED_LOCAL_DIM; d++) {
        if (q[d] != 0) {
            nz[m++] = d;
            qn += (double)q[d] * q[d];
        }
    }
    qn = sqrt(qn);
    out->n = 0;
    for (size_t i = 0; i < t->n; i++) {
        const float *x = t->v + i * EMBED_LOCAL_DIM;
        double dot = 0;
        for (unsigned j = 0; j < m; j++) {
            dot += (double)q[nz[j]] * x[nz[j]];
        }
        double den = qn * t->norm[i];
        double dist = den > 0 ? 1.0 - dot / den : 1.0; /* pgvector: NaN for a zero vector; ours are not */
        if (out->n == (int)k && dist >= out->dist[k - 1]) {
            continue;
        }
        int pos = out->n < (int)k ? out->n++ : (int)k - 1;
        while (pos > 0 && out->dist[pos - 1] > dist) {
            out->dist[pos] = out->dist[pos - 1];
            out->ids[pos] = out->ids[pos - 1];
            pos--;
        }
        out->dist[pos] = dist;
        out->ids[pos] = t->ids[i];
    }
}

/* Share of the exact top k found (by id), and tie-aware (results no further
 * than the exact k-th, within float rounding). */
static void recall_of(const knn *a, const knn *e, double *strict, double *tie)
{
    unsigned hit = 0, hit_tie = 0;
    double kth = e->n > 0 ? e->dist[e->n - 1] : 0;
    for (int x = 0; x < a->n; x++) {
        for (int y = 0; y < e->n; y++) {
            if (a->ids[x] == e->ids[y]) {
                hit++;
                break;
            }
        }
        if (a->dist[x] <= kth + 1e-6) {
            hit_tie++;
        }
    }
    unsigned want = e->n > 0 ? (unsigned)e->n : 1;
    *strict = (double)hit / want;
    *tie = (double)(hit_tie > want ? want : hit_tie) / want;
}

static int cmd_recall(int argc, char **argv)
{
    const char *tsv = NULL, *efs = "40,100,200";
    unsigned nq = 200, k = 10, nverify = 5, ndoc = 100;
    uint64_t seed = 13;
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--questions") == 0 && i + 1 < argc) {
            tsv = argv[++i];
        } else if (strcmp(argv[i], "--queries") == 0 && i + 1 < argc) {
            nq = (unsigned)atoi(argv[++i]);
        } else if (strcmp(argv[i], "--ef") == 0 && i + 1 < argc) {
            efs = argv[++i];
        } else if (strcmp(argv[i], "--k") == 0 && i + 1 < argc) {
            k = (unsigned)atoi(argv[++i]);
        } else if (strcmp(argv[i], "--verify") == 0 && i + 1 < argc) {
            nverify = (unsigned)atoi(argv[++i]);
        } else if (strcmp(argv[i], "--doc-queries") == 0 && i + 1 < argc) {
            ndoc = (unsigned)atoi(argv[++i]);
        } else {
            return 2;
        }
    }
    if (tsv == NULL || k == 0 || k > 1000) {
        return 2;
    }
    strv pool;
    if (queries_load(tsv, &pool) != 0) {
        return 1;
    }
    /* nq distinct queries: a seeded shuffle of the pool */
    rng r = rng_seeded(seed);
    for (size_t i = pool.n; i > 1; i--) {
        size_t j = rng_below(&r, (unsigned)i);
        char *t = pool.v[i - 1];
        pool.v[i - 1] = pool.v[j];
        pool.v[j] = t;
    }
    if (nq > pool.n) {
        nq = (unsigned)pool.n;
    }
    PGconn *pg = db_connect();
    if (pg == NULL || bench_model_load(pg) != 0) {
        sv_free(&pool);
        PQfinish(pg);
        return 1;
    }
    sql(pg, "SET statement_timeout = 0");
    int64_t t0 = now_ns();
    vec_table tab;
    if (vec_table_load(pg, &tab) != 0 || tab.n == 0) {
        fprintf(stderr, "bench_knowledge: no embeddings to search\n");
        PQfinish(pg);
        sv_free(&pool);
        return 1;
    }
    double load_s = secs_since(t0);
    if (ndoc > tab.n) {
        ndoc = (unsigned)tab.n;
    }
    /* queries 0..nq-1: questions; nq..nq+ndoc-1: stored chunk vectors */
    unsigned nall = nq + ndoc;
    float *qv = xmalloc((size_t)nall * EMBED_LOCAL_DIM * sizeof(float));
    char **vt = xmalloc(nall * sizeof(*vt));
    for (unsigned i = 0; i < nall; i++) {
        float *v = qv + (size_t)i * EMBED_LOCAL_DIM;
        if (i < nq) {
            bench_embed(pool.v[i], strlen(pool.v[i]), v);
        } else {
            memcpy(v, tab.v + (size_t)rng_below(&r, (unsigned)tab.n) * EMBED_LOCAL_DIM,
                   EMBED_LOCAL_DIM * sizeof(float));
        }
        vt[i] = xmalloc(EMBED_LOCAL_DIM * 16 + 8);
        embed_to_pgvector(v, EMBED_LOCAL_DIM, vt[i], EMBED_LOCAL_DIM * 16 + 8);
    }
    t0 = now_ns();
    knn *exact = xmalloc(nall * sizeof(*exact));
    for (unsigned i = 0; i < nall; i++) {
        exact[i] = knn_new(k);
        exact_knn(&tab, qv + (size_t)i * EMBED_LOCAL_DIM, k, &exact[i]);
    }
    double brute_s = secs_since(t0);
    printf("   %zu embeddings read in %.1f s; exact top %u of %u queries by brute force in %.1f s\n", tab.n, load_s, k,
           nall, brute_s);

    int status = 0;
    PGresult *pr = PQprepare(pg, "knn",
                             "SELECT id, embedding <=> $1::vector FROM kb_chunks WHERE embedding IS NOT NULL"
                             " ORDER BY embedding <=> $1::vector LIMIT $2::int",
                             2, NULL);
    if (PQresultStatus(pr) != PGRES_COMMAND_OK) {
        fprintf(stderr, "bench_knowledge: prepare: %s", PQresultErrorMessage(pr));
        status = 1;
    }
    PQclear(pr);
    /* a custom plan every time: the plan a plain query gets */
    sql(pg, "SET plan_cache_mode = force_custom_plan");
    char lim[16];
    snprintf(lim, sizeof(lim), "%u", k);
    const char *p0[] = {vt[0], lim};
    const char *explain = "EXPLAIN SELECT id FROM kb_chunks WHERE embedding IS NOT NULL"
                          " ORDER BY embedding <=> $1::vector LIMIT $2::int";
    int64_t *lat = xmalloc(nall * sizeof(*lat));
    knn a = knn_new(k);

    /* the brute force checked against Postgres' own exact scan */
    if (nverify > nq) {
        nverify = nq;
    }
    unsigned agree = 0;
    sql(pg, "SET enable_indexscan = off");
    int exact_plan = plan_uses_hnsw(pg, explain, 2, p0);
    for (unsigned i = 0; i < nverify && status == 0; i++) {
        if (knn_query(pg, vt[i], k, &a, &lat[i]) != 0) {
            status = 1;
            break;
        }
        double s1, s2;
        recall_of(&a, &exact[i], &s1, &s2);
        agree += s2 >= 0.999;
    }
    sql(pg, "SET enable_indexscan = on");
    lat_stats E = lat_compute(lat, nverify);
    long long rows = (long long)tab.n;
    printf("   Postgres exact scan (index scans off%s) on %u of the queries: same top %u as the brute force for %u; "
           "%.0f ms mean\n",
           exact_plan == 0 ? "" : " -- (!) but the plan used the index", nverify, k, agree, E.mean);
    summary("exact_lat", "mean %.2f p50 %.2f p99 %.2f", E.mean, E.p50, E.p99);
    summary("exact_agree", "%u/%u", agree, nverify);
    summary("recall_rows", "%lld", rows);
    summary("recall_queries", "%u", nq);

    printf("   recall@%u over %lld chunks: %u question vectors (distinct questions/paraphrases, seed %llu), and\n"
           "   for comparison %u stored chunk vectors as queries\n",
           k, rows, nq, (unsigned long long)seed, ndoc);
    printf("   %-28s %9s %12s %9s %9s %9s %12s\n", "", "recall", "(tie-aware)", "mean ms", "p50 ms", "p99 ms",
           "chunk-vec rc");
    const char *ep = efs;
    while (*ep && status == 0) {
        unsigned ef = (unsigned)strtoul(ep, (char **)&ep, 10);
        if (*ep == ',') {
            ep++;
        }
        if (ef == 0) {
            break;
        }
        char set[64];
        snprintf(set, sizeof(set), "SET hnsw.ef_search = %u", ef);
        sql(pg, set);
        int uses = plan_uses_hnsw(pg, explain, 2, p0);
        double sum = 0, sum_tie = 0, sum_doc = 0;
        unsigned short_results = 0;
        for (unsigned i = 0; i < nall && status == 0; i++) {
            int64_t ns;
            if (knn_query(pg, vt[i], k, &a, &ns) != 0) {
                status = 1;
                break;
            }
            if (a.n < exact[i].n) {
                short_results++;
            }
            double s1, s2;
            recall_of(&a, &exact[i], &s1, &s2);
            if (i < nq) {
                lat[i] = ns;
                sum += s1;
                sum_tie += s2;
            } else {
                sum_doc += s1;
            }
        }
        lat_stats A = lat_compute(lat, nq);
        double rec = sum / nq, rec_tie = sum_tie / nq, rec_doc = ndoc ? sum_doc / ndoc : 0;
        char label[64];
        snprintf(label, sizeof(label), "HNSW ef_search=%u%s", ef, ef == 100 ? " (service)" : "");
        printf("   %-28s %9.4f %12.4f %9.2f %9.2f %9.2f %12.4f   %s%s\n", label, rec, rec_tie, A.mean, A.p50, A.p99,
               rec_doc, uses == 1 ? "" : "(!) plan did not use the index ",
               short_results ? "(!) fewer rows than k" : "");
        char key[64];
        snprintf(key, sizeof(key), "recall_ef%u", ef);
        summary(key, "%.4f", rec);
        snprintf(key, sizeof(key), "recall_ef%u_tie", ef);
        summary(key, "%.4f", rec_tie);
        snprintf(key, sizeof(key), "recall_ef%u_doc", ef);
        summary(key, "%.4f", rec_doc);
        snprintf(key, sizeof(key), "recall_ef%u_lat", ef);
        summary(key, "mean %.2f p50 %.2f p99 %.2f", A.mean, A.p50, A.p99);
    }
    printf("   (latency: the SQL statement alone, question vectors, from this client; recall: share of the exact\n"
           "    top %u returned; tie-aware: results no further than the exact %u-th)\n",
           k, k);

    /* The service's vector candidates query is prepared with LIMIT $3:
     * what plan does it get once Postgres may use a generic plan? */
    sql(pg, "RESET plan_cache_mode");
    sql(pg, "SET hnsw.ef_search = 100");
    pr = PQprepare(pg, "svc_vec",
                   "SELECT id, embedding <=> $1::vector AS d FROM kb_chunks WHERE embedding IS NOT NULL"
                   " AND $2::text IS NOT NULL ORDER BY embedding <=> $1::vector LIMIT $3",
                   3, NULL);
    int generic = -1;
    if (PQresultStatus(pr) == PGRES_COMMAND_OK) {
        const char *p3[] = {vt[0], "q", "40"};
        for (int i = 0; i < 7; i++) {
            PQclear(PQexecPrepared(pg, "svc_vec", 3, p3, NULL, NULL, 0));
        }
        sbuf ex = {0};
        sb_printf(&ex, "EXPLAIN EXECUTE svc_vec('%s', 'q', 40)", vt[0]);
        generic = plan_uses_hnsw(pg, ex.p, 0, NULL);
        free(ex.p);
    } else {
        fprintf(stderr, "bench_knowledge: prepare: %s", PQresultErrorMessage(pr));
    }
    PQclear(pr);
    printf("   the service's vector candidates query (prepared, LIMIT $3), after 7 executions: %s\n",
           generic == 1   ? "HNSW index scan"
           : generic == 0 ? "(!) NOT the HNSW index"
                          : "?");
    summary("svc_plan_hnsw", "%s", generic == 1 ? "yes" : "no");

    for (unsigned i = 0; i < nall; i++) {
        knn_free(&exact[i]);
        free(vt[i]);
    }
    knn_free(&a);
    free(exact);
    free(vt);
    free(qv);
    free(lat);
    vec_table_free(&tab);
    sv_free(&pool);
    PQfinish(pg);
    return status;
}

/* --- main ------------------------------------------------------------------------------------------- */

static int usage(void)
{
    fprintf(stderr, "usage: bench_knowledge pages DIR [--pages N] [--seed S]\n"
                    "       bench_knowledge load --chunks N [--seed S] [--summary FILE]\n"
                    "       bench_knowledge search --questions TSV [--queries N] [--callers 1,8] [--warmup N]\n"
                    "                              [--mode hybrid|vector|text] [--max-secs S] [--tag T]\n"
                    "                              [--tolerate-timeouts] [--summary FILE]\n"
                    "       bench_knowledge recall --questions TSV [--queries N] [--ef 40,100,200] [--k 10]\n"
                    "                              [--verify N] [--doc-queries N] [--summary FILE]\n");
    return 2;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        return usage();
    }
    /* --summary FILE anywhere: taken out before the command parses */
    int n = 1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--summary") == 0 && i + 1 < argc) {
            g_summary = fopen(argv[++i], "a");
            if (g_summary == NULL) {
                fprintf(stderr, "bench_knowledge: %s: %s\n", argv[i], strerror(errno));
                return 1;
            }
            continue;
        }
        argv[n++] = argv[i];
    }
    argc = n;
    log_init("bench_knowledge", LOG_WARN);
    setvbuf(stdout, NULL, _IOLBF, 0);
    int rc;
    if (strcmp(argv[1], "pages") == 0) {
        rc = cmd_pages(argc, argv);
    } else if (strcmp(argv[1], "load") == 0) {
        rc = cmd_load(argc, argv);
    } else if (strcmp(argv[1], "search") == 0) {
        rc = cmd_search(argc, argv);
    } else if (strcmp(argv[1], "recall") == 0) {
        rc = cmd_recall(argc, argv);
    } else {
        rc = 2;
    }
    if (rc == 2) {
        usage();
    }
    if (g_summary != NULL) {
        fclose(g_summary);
    }
    return rc;
}
