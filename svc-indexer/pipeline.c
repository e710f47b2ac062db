/* pipeline.c: see pipeline.h. */
#include "pipeline.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "chunk.h"
#include "clock.h"
#include "db.h"
#include "extract.h"
#include "log.h"
#include "model.h"
#include "sources.h"
#include "store.h"

#define IDX_BULK_BELOW 1000 /* chunks: below this, a run rebuilds the HNSW index at its end */

static void idx_note(idx_stats *st, const char *source, const char *msg, int skipped)
{
    if (skipped) {
        st->skipped++;
    } else {
        st->failed++;
    }
    log_fields(skipped ? LOG_INFO : LOG_WARN, skipped ? "page skipped" : "page failed", "source", source, "reason", msg,
               NULL);
    if (st->nerrors < IDX_ERRORS_MAX) {
        idx_error *e = &st->errors[st->nerrors++];
        snprintf(e->source, sizeof(e->source), "%s", source);
        snprintf(e->message, sizeof(e->message), "%s", msg);
        e->skipped = skipped;
    }
}

static int idx_cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A page read and planned, waiting for its chunks to be embedded. */
typedef struct idx_pending {
    kb_doc doc;
    kb_chunk *chunks;
    size_t nchunks;
    kb_store_doc sd;
    kb_store_plan *plan;
} idx_pending;

#define IDX_BATCH_DOCS 64
#define IDX_BATCH_CHUNKS 256

typedef struct idx_batch {
    idx_pending items[IDX_BATCH_DOCS];
    size_t n, chunks;
} idx_batch;

static void idx_pending_free(idx_pending *p)
{
    kb_store_plan_free(p->plan);
    kb_chunks_free(p->chunks, p->nchunks);
    kb_doc_free(&p->doc);
    memset(p, 0, sizeof(*p));
}

/* Embeds the batch's new chunks in one go, then writes each document in its
 * own transaction. Returns -1 when the database connection is lost. */
static int idx_flush(const idx_opts *o, idx_batch *b, idx_stats *st)
{
    int rc = 0;
    char err[512];
    kb_store_plan *plans[IDX_BATCH_DOCS];
    for (size_t i = 0; i < b->n; i++) {
        plans[i] = b->items[i].plan;
    }
    int embedded = b->n == 0 || kb_store_embed(o->emb, plans, b->n, err, sizeof(err)) == 0;
    for (size_t i = 0; i < b->n; i++) {
        idx_pending *p = &b->items[i];
        if (!embedded) {
            idx_note(st, p->sd.source, err, 0);
        } else if (rc == 0) {
            kb_store_result res;
            char e2[512];
            if (kb_store_apply(o->pg, o->emb, p->plan, &res, e2, sizeof(e2)) != 0) {
                idx_note(st, p->sd.source, e2, 0);
                if (PQstatus(o->pg) != CONNECTION_OK) {
                    rc = -1;
                }
            } else {
                st->added += res.action == KB_DOC_ADDED;
                st->changed += res.action == KB_DOC_CHANGED;
                st->chunks_embedded += res.embedded;
                st->chunks_written += res.written;
                st->chunks_deleted += res.deleted;
            }
        }
        idx_pending_free(p);
    }
    b->n = 0;
    b->chunks = 0;
    return rc;
}

/* Reads, extracts, chunks and plans one page; unchanged pages end here,
 * others join the batch. Returns -1 when the database connection is lost. */
static int idx_page(const idx_opts *o, src_fetcher *fe, size_t index, const src_page *p, idx_batch *b, idx_stats *st)
{
    char err[512];
    char *data = NULL, *ctype = NULL;
    size_t len = 0;
    if (src_fetcher_take(fe, index, &data, &len, &ctype, err, sizeof(err)) != 0) {
        int skip = strstr(err, "robots.txt") != NULL || strstr(err, "larger than") != NULL;
        idx_note(st, p->source, err, skip);
        return 0;
    }
    const char *ct = ctype ? ctype : p->content_type;
    const char *charset = NULL;
    char csbuf[64];
    if (ct != NULL) {
        const char *cs = strcasestr(ct, "charset=");
        if (cs != NULL) {
            snprintf(csbuf, sizeof(csbuf), "%s", cs + 8);
            csbuf[strcspn(csbuf, "; \"")] = '\0';
            charset = csbuf;
        }
    }
    idx_pending *it = &b->items[b->n];
    memset(it, 0, sizeof(*it));
    kb_format fmt = kb_format_from_name(p->path ? p->path : p->url, ct);
    kb_status ks = kb_extract(data, len, fmt, charset, &it->doc, err, sizeof(err));
    free(data);
    free(ctype);
    if (ks != KB_OK) {
        idx_note(st, p->source, err, ks == KB_EEMPTY || ks == KB_EBINARY || ks == KB_ETOOBIG);
        idx_pending_free(it);
        return 0;
    }
    kb_chunk_opts copts = KB_CHUNK_OPTS_DEFAULT;
    if (kb_chunk_doc(&it->doc, &copts, &it->chunks, &it->nchunks) != 0) {
        idx_note(st, p->source, "out of memory chunking", 0);
        idx_pending_free(it);
        return 0;
    }
    if (it->nchunks == 0) {
        idx_note(st, p->source, "no text to index", 1);
        idx_pending_free(it);
        return 0;
    }
    it->sd = (kb_store_doc){
        .source = p->source,
        .url = it->doc.canonical_url && it->doc.canonical_url[0] ? it->doc.canonical_url : p->url,
        .title = it->doc.title ? it->doc.title : "",
        .lang = it->doc.lang,
        .bytes = len,
        .chunks = it->chunks,
        .nchunks = it->nchunks,
    };
    if (kb_store_plan_doc(o->pg, &it->sd, o->force, &it->plan, err, sizeof(err)) != 0) {
        idx_note(st, p->source, err, 0);
        idx_pending_free(it);
        return PQstatus(o->pg) == CONNECTION_OK ? 0 : -1;
    }
    if (kb_store_plan_action(it->plan) == KB_DOC_UNCHANGED) {
        st->unchanged++;
        idx_pending_free(it);
        return 0;
    }
    b->chunks += kb_store_plan_pending(it->plan);
    b->n++;
    if (b->n == IDX_BATCH_DOCS || b->chunks >= IDX_BATCH_CHUNKS) {
        return idx_flush(o, b, st);
    }
    return 0;
}

static int idx_is_url(const char *s)
{
    return strncmp(s, "http://", 7) == 0 || strncmp(s, "https://", 8) == 0;
}

/* Filling a (nearly) empty knowledge base: inserting into the HNSW index row
 * by row costs ~5x more than building it once at the end, and there is
 * little to search meanwhile. Returns 1 when the index was dropped. */
static int idx_bulk_begin(PGconn *pg)
{
    PGresult *r = PQexec(pg, "SELECT count(*) FROM kb_chunks");
    long long n = PQresultStatus(r) == PGRES_TUPLES_OK ? atoll(PQgetvalue(r, 0, 0)) : -1;
    PQclear(r);
    if (n < 0 || n >= IDX_BULK_BELOW) {
        return 0;
    }
    char err[256];
    if (db_exec(pg, "DROP INDEX IF EXISTS kb_chunks_embedding_hnsw", err, sizeof(err)) != 0) {
        log_warn("bulk load: could not drop the HNSW index: %s", err);
        return 0;
    }
    return 1;
}

static void idx_bulk_end(PGconn *pg)
{
    char err[256];
    int64_t t0 = clock_mono_ms();
    db_exec(pg, "SET maintenance_work_mem = '256MB'", NULL, 0);
    if (db_exec(pg,
                "CREATE INDEX IF NOT EXISTS kb_chunks_embedding_hnsw ON kb_chunks USING hnsw "
                "(embedding vector_cosine_ops)",
                err, sizeof(err)) != 0) {
        log_error("bulk load: rebuilding the HNSW index failed: %s", err);
        return;
    }
    log_info("HNSW index rebuilt in %lld ms", (long long)(clock_mono_ms() - t0));
}

int idx_run(const char *const *sources, size_t nsources, const idx_opts *o, idx_stats *st, char *err, size_t errlen)
{
    memset(st, 0, sizeof(*st));
    int64_t t0 = clock_mono_us();
    uint64_t req0 = embedder_requests(o->emb);
    if (kb_store_check_model(o->pg, o->emb, err, errlen) != 0 || kb_model_load(o->pg, o->emb, err, errlen) != 0) {
        return -1;
    }
    int bulk = idx_bulk_begin(o->pg);
    int rc = 0;
    for (size_t s = 0; s < nsources && rc == 0; s++) {
        src_list list;
        memset(&list, 0, sizeof(list));
        char e2[512];
        struct stat sb;
        int lr;
        if (idx_is_url(sources[s])) {
            lr = src_list_url(sources[s], &list, e2, sizeof(e2));
        } else if (stat(sources[s], &sb) == 0 && S_ISDIR(sb.st_mode)) {
            lr = src_list_folder(sources[s], o->base_url, o->pretty_urls ? SRC_URL_PRETTY : SRC_URL_PATH, &list, e2,
                                 sizeof(e2));
        } else {
            snprintf(e2, sizeof(e2), "not a folder, sitemap or page URL");
            lr = -1;
        }
        if (lr != 0) {
            idx_note(st, sources[s], e2, 0);
            src_list_free(&list);
            continue;
        }
        if (list.n == 0) {
            idx_note(st, sources[s], "no pages found (.md, .html, .htm, .txt)", 1);
        }
        char **seen = calloc(list.n ? list.n : 1, sizeof(*seen));
        size_t nseen = 0;
        idx_batch *batch = calloc(1, sizeof(*batch));
        if (batch == NULL) {
            free(seen);
            src_list_free(&list);
            snprintf(err, errlen, "out of memory");
            rc = -1;
            break;
        }
        src_fetcher *fe = NULL;
        if (src_fetcher_start(&fe, &list, o->fetch_concurrency) != 0) {
            free(batch);
            free(seen);
            src_list_free(&list);
            snprintf(err, errlen, "out of memory");
            rc = -1;
            break;
        }
        for (size_t i = 0; i < list.n; i++) {
            if (o->stop != NULL && *o->stop) {
                break;
            }
            st->seen++;
            if (idx_page(o, fe, i, &list.pages[i], batch, st) != 0) {
                snprintf(err, errlen, "database connection lost");
                rc = -1;
                break;
            }
            if (seen != NULL) {
                seen[nseen++] = list.pages[i].source;
            }
            if (o->progress != NULL) {
                fprintf(o->progress, "\r  %zu/%zu pages, %u chunks embedded, %u failed, %u skipped   ", i + 1, list.n,
                        st->chunks_embedded, st->failed, st->skipped);
                fflush(o->progress);
            }
        }
        src_fetcher_stop(fe);
        if (idx_flush(o, batch, st) != 0 && rc == 0) {
            snprintf(err, errlen, "database connection lost");
            rc = -1;
        }
        free(batch);
        if (o->progress != NULL && list.n > 0) {
            fputc('\n', o->progress);
        }
        /* Prune only after a complete pass: a stopped run must not remove
         * what it did not get to. Failed pages count as seen. */
        int complete = rc == 0 && !(o->stop != NULL && *o->stop);
        if (o->prune && complete && seen != NULL && list.prune_prefix != NULL) {
            qsort(seen, nseen, sizeof(*seen), idx_cmp_str);
            unsigned removed = 0;
            if (kb_store_prune(o->pg, list.prune_prefix, seen, nseen, &removed, e2, sizeof(e2)) != 0) {
                idx_note(st, sources[s], e2, 0);
            }
            st->removed += removed;
        }
        free(seen);
        src_list_free(&list);
    }
    /* the local embedder learns from what is stored now (before the bulk
     * load's index build: a training rebuilds the index itself) */
    if (rc == 0) {
        kb_model_result mr;
        char e3[512];
        if (kb_model_refresh(o->pg, o->emb, st->chunks_embedded + st->chunks_deleted, o->force, &mr, e3, sizeof(e3)) !=
            0) {
            idx_note(st, "local embedder", e3, 0);
        }
        st->model_trained = mr.trained;
        st->model_version = mr.version;
        st->model_words = mr.words;
        st->model_train_seconds = mr.train_seconds;
        st->model_embed_seconds = mr.embed_seconds;
        st->chunks_embedded += mr.chunks_embedded;
    }
    if (bulk) {
        idx_bulk_end(o->pg);
    }
    if (rc == 0 && (st->chunks_written > 0 || st->chunks_deleted > 0 || st->removed > 0 || st->model_trained)) {
        char e4[256];
        if (db_exec(o->pg, "SELECT kb_refresh_text_stats()", e4, sizeof(e4)) != 0) {
            idx_note(st, "text statistics", e4, 0);
        }
    }
    st->embed_requests = embedder_requests(o->emb) - req0;
    st->seconds = (double)(clock_mono_us() - t0) / 1e6;
    return rc;
}

void idx_print_summary(const idx_stats *st, FILE *out)
{
    fprintf(out,
            "documents: %u seen, %u added, %u changed, %u unchanged, %u removed, %u failed, %u skipped\n"
            "chunks: %u embedded, %u written, %u deleted; %llu embedding requests; %.2f s\n",
            st->seen, st->added, st->changed, st->unchanged, st->removed, st->failed, st->skipped, st->chunks_embedded,
            st->chunks_written, st->chunks_deleted, (unsigned long long)st->embed_requests, st->seconds);
    if (st->model_trained) {
        fprintf(out, "local embedder: trained version %lld (%zu words) in %.2f s, chunks re-embedded in %.2f s\n",
                st->model_version, st->model_words, st->model_train_seconds, st->model_embed_seconds);
    }
    for (size_t i = 0; i < st->nerrors; i++) {
        fprintf(out, "  %s %s: %s\n", st->errors[i].skipped ? "skipped" : "FAILED ", st->errors[i].source,
                st->errors[i].message);
    }
    if (st->failed + st->skipped > st->nerrors) {
        fprintf(out, "  ... and %u more\n", (unsigned)(st->failed + st->skipped - st->nerrors));
    }
}
