/* store.c: see store.h. */
#include "store.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "log.h"

#define KB_VEC_TEXT_PER_DIM 16

void kb_sha256_hex(const void *data, size_t len, char out[KB_HASH_HEX])
{
    unsigned char md[32];
    unsigned int mdlen = 0;
    EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL);
    static const char hex[] = "0123456789abcdef";
    for (unsigned i = 0; i < 32; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[64] = '\0';
}

/* The text that is embedded: title and section give a short chunk its
 * context ("Growth" alone means nothing). */
static char *kb_embed_text(const char *title, const kb_chunk *c)
{
    size_t n = strlen(title) + strlen(c->heading_path) + strlen(c->text) + 8;
    char *s = malloc(n);
    if (s != NULL) {
        snprintf(s, n, "%s\n%s\n%s", title, c->heading_path, c->text);
    }
    return s;
}

static void kb_chunk_hash(const kb_chunk *c, char out[KB_HASH_HEX])
{
    size_t hl = strlen(c->heading_path), tl = strlen(c->text);
    char *buf = malloc(hl + tl + 2);
    if (buf == NULL) {
        out[0] = '\0';
        return;
    }
    memcpy(buf, c->heading_path, hl);
    buf[hl] = '\x1f';
    memcpy(buf + hl + 1, c->text, tl);
    kb_sha256_hex(buf, hl + 1 + tl, out);
    free(buf);
}

/* The document's hash covers everything stored about it. */
static void kb_doc_hash(const kb_store_doc *d, char out[KB_HASH_HEX])
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
    const char *parts[] = {d->url, d->title, d->lang ? d->lang : ""};
    for (size_t i = 0; i < 3; i++) {
        EVP_DigestUpdate(ctx, parts[i], strlen(parts[i]) + 1);
    }
    for (size_t i = 0; i < d->nchunks; i++) {
        const kb_chunk *c = &d->chunks[i];
        EVP_DigestUpdate(ctx, c->heading_path, strlen(c->heading_path) + 1);
        EVP_DigestUpdate(ctx, c->anchor ? c->anchor : "", (c->anchor ? strlen(c->anchor) : 0) + 1);
        EVP_DigestUpdate(ctx, c->text, strlen(c->text) + 1);
    }
    unsigned char md[32];
    unsigned int mdlen = 0;
    EVP_DigestFinal_ex(ctx, md, &mdlen);
    EVP_MD_CTX_free(ctx);
    static const char hex[] = "0123456789abcdef";
    for (unsigned i = 0; i < 32; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[64] = '\0';
}

static int kb_result_ok(PGresult *r, ExecStatusType want, char *err, size_t errlen, const char *what)
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

int kb_store_check_model(PGconn *pg, const embedder *e, char *err, size_t errlen)
{
    char dim[16];
    snprintf(dim, sizeof(dim), "%u", embedder_dimensions(e));
    const char *p[] = {embedder_provider(e), embedder_model(e), dim};
    PGresult *r = PQexecParams(pg, "SELECT kb_use_embedding_model($1, $2, $3::int)", 3, NULL, p, NULL, NULL, 0);
    int ok = kb_result_ok(r, PGRES_TUPLES_OK, err, errlen, "embedding model check");
    if (!ok) {
        const char *hint = PQresultErrorField(r, PG_DIAG_MESSAGE_HINT);
        const char *msg = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
        if (msg != NULL) {
            snprintf(err, errlen, "%s%s%s", msg, hint ? ". " : "", hint ? hint : "");
        }
    }
    PQclear(r);
    return ok ? 0 : -1;
}

typedef struct existing_chunk {
    char hash[KB_HASH_HEX];
    char id[24];
    int ord;
    char *anchor;
    int used;
} existing_chunk;

struct kb_store_plan {
    kb_store_doc d;
    int force;
    char dhash[KB_HASH_HEX];
    char doc_id[24];
    kb_doc_action action;
    existing_chunk *old;
    size_t nold;
    char (*hash)[KB_HASH_HEX];
    existing_chunk **keep;
    char **texts; /* what to embed, in chunk order */
    size_t n_to_embed;
    float *vecs; /* n_to_embed * dim, filled by kb_store_embed */
};

static int kb_cmp_existing(const void *a, const void *b)
{
    return strcmp(((const existing_chunk *)a)->hash, ((const existing_chunk *)b)->hash);
}

void kb_store_plan_free(kb_store_plan *pl)
{
    if (pl == NULL) {
        return;
    }
    for (size_t i = 0; i < pl->nold; i++) {
        free(pl->old[i].anchor);
    }
    free(pl->old);
    for (size_t i = 0; i < pl->n_to_embed; i++) {
        free(pl->texts[i]);
    }
    free(pl->texts);
    free(pl->keep);
    free(pl->hash);
    free(pl->vecs);
    free(pl);
}

int kb_store_plan_doc(PGconn *pg, const kb_store_doc *d, int force, kb_store_plan **out, char *err, size_t errlen)
{
    *out = NULL;
    kb_store_plan *pl = calloc(1, sizeof(*pl));
    if (pl == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    pl->d = *d;
    pl->force = force;
    kb_doc_hash(d, pl->dhash);

    const char *p1[] = {d->source};
    PGresult *r =
        PQexecParams(pg, "SELECT id, content_hash FROM kb_documents WHERE source = $1", 1, NULL, p1, NULL, NULL, 0);
    if (!kb_result_ok(r, PGRES_TUPLES_OK, err, errlen, "reading the document")) {
        PQclear(r);
        kb_store_plan_free(pl);
        return -1;
    }
    if (PQntuples(r) == 1) {
        snprintf(pl->doc_id, sizeof(pl->doc_id), "%s", PQgetvalue(r, 0, 0));
        if (!force && strcmp(PQgetvalue(r, 0, 1), pl->dhash) == 0) {
            PQclear(r);
            pl->action = KB_DOC_UNCHANGED;
            *out = pl;
            return 0;
        }
    }
    PQclear(r);
    pl->action = pl->doc_id[0] ? KB_DOC_CHANGED : KB_DOC_ADDED;

    /* What the document has now. */
    if (pl->doc_id[0] && !force) {
        const char *p2[] = {pl->doc_id};
        r = PQexecParams(pg, "SELECT content_hash, id, ord, anchor FROM kb_chunks WHERE document_id = $1", 1, NULL, p2,
                         NULL, NULL, 0);
        if (!kb_result_ok(r, PGRES_TUPLES_OK, err, errlen, "reading the chunks")) {
            PQclear(r);
            kb_store_plan_free(pl);
            return -1;
        }
        size_t nold = (size_t)PQntuples(r);
        pl->old = calloc(nold ? nold : 1, sizeof(*pl->old));
        for (size_t i = 0; pl->old != NULL && i < nold; i++) {
            snprintf(pl->old[i].hash, sizeof(pl->old[i].hash), "%s", PQgetvalue(r, (int)i, 0));
            snprintf(pl->old[i].id, sizeof(pl->old[i].id), "%s", PQgetvalue(r, (int)i, 1));
            pl->old[i].ord = atoi(PQgetvalue(r, (int)i, 2));
            pl->old[i].anchor = strdup(PQgetvalue(r, (int)i, 3));
            pl->nold++;
        }
        PQclear(r);
        if (pl->old == NULL) {
            snprintf(err, errlen, "out of memory");
            kb_store_plan_free(pl);
            return -1;
        }
        qsort(pl->old, pl->nold, sizeof(*pl->old), kb_cmp_existing);
    }

    /* Match new chunks to kept ones; the rest must be embedded. */
    size_t n = d->nchunks;
    pl->hash = calloc(n ? n : 1, KB_HASH_HEX);
    pl->keep = calloc(n ? n : 1, sizeof(*pl->keep));
    pl->texts = calloc(n ? n : 1, sizeof(*pl->texts));
    if (pl->hash == NULL || pl->keep == NULL || pl->texts == NULL) {
        snprintf(err, errlen, "out of memory");
        kb_store_plan_free(pl);
        return -1;
    }
    existing_chunk *old = pl->old;
    size_t nold = pl->nold;
    for (size_t i = 0; i < n; i++) {
        kb_chunk_hash(&d->chunks[i], pl->hash[i]);
        existing_chunk key;
        snprintf(key.hash, sizeof(key.hash), "%s", pl->hash[i]);
        existing_chunk *m = nold ? bsearch(&key, old, nold, sizeof(*old), kb_cmp_existing) : NULL;
        if (m != NULL) {
            /* several equal chunks: take the first unused one */
            while (m > old && strcmp(m[-1].hash, pl->hash[i]) == 0) {
                m--;
            }
            while (m < old + nold && strcmp(m->hash, pl->hash[i]) == 0 && m->used) {
                m++;
            }
            if (m < old + nold && strcmp(m->hash, pl->hash[i]) == 0) {
                m->used = 1;
                pl->keep[i] = m;
                continue;
            }
        }
        pl->texts[pl->n_to_embed] = kb_embed_text(d->title, &d->chunks[i]);
        if (pl->texts[pl->n_to_embed] == NULL) {
            snprintf(err, errlen, "out of memory");
            kb_store_plan_free(pl);
            return -1;
        }
        pl->n_to_embed++;
    }
    *out = pl;
    return 0;
}

kb_doc_action kb_store_plan_action(const kb_store_plan *pl)
{
    return pl->action;
}
size_t kb_store_plan_pending(const kb_store_plan *pl)
{
    return pl->action == KB_DOC_UNCHANGED ? 0 : pl->n_to_embed;
}

int kb_store_embed(embedder *e, kb_store_plan *const *plans, size_t n, char *err, size_t errlen)
{
    unsigned dim = embedder_dimensions(e);
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        total += kb_store_plan_pending(plans[i]);
    }
    if (total == 0 || !embedder_ready(e)) {
        return 0; /* the local embedder before its first training: chunks wait (model.c) */
    }
    const char **texts = malloc(total * sizeof(*texts));
    float *vecs = malloc(total * dim * sizeof(float));
    if (texts == NULL || vecs == NULL) {
        free(texts);
        free(vecs);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < kb_store_plan_pending(plans[i]); j++) {
            texts[k++] = plans[i]->texts[j];
        }
    }
    int rc = embedder_embed(e, texts, total, vecs, err, errlen);
    free(texts);
    if (rc == 0) {
        k = 0;
        for (size_t i = 0; i < n && rc == 0; i++) {
            size_t m = kb_store_plan_pending(plans[i]);
            if (m == 0) {
                continue;
            }
            plans[i]->vecs = malloc(m * dim * sizeof(float));
            if (plans[i]->vecs == NULL) {
                snprintf(err, errlen, "out of memory");
                rc = -1;
                break;
            }
            memcpy(plans[i]->vecs, vecs + k * dim, m * dim * sizeof(float));
            k += m;
        }
    }
    free(vecs);
    return rc;
}

int kb_store_apply(PGconn *pg, const embedder *e, kb_store_plan *pl, kb_store_result *res, char *err, size_t errlen)
{
    memset(res, 0, sizeof(*res));
    res->action = pl->action;
    if (pl->action == KB_DOC_UNCHANGED) {
        return 0;
    }
    const kb_store_doc *d = &pl->d;
    unsigned dim = embedder_dimensions(e);
    if (pl->n_to_embed > 0 && pl->vecs == NULL && embedder_ready(e)) {
        snprintf(err, errlen, "chunks were not embedded");
        return -1;
    }
    res->embedded = pl->vecs != NULL ? (unsigned)pl->n_to_embed : 0;
    size_t vlen = (size_t)dim * KB_VEC_TEXT_PER_DIM + 8;
    char *vtext = malloc(vlen);
    if (vtext == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    int rc = -1;
    char doc_id[24];
    PGresult *r;

    /* One transaction: the document and all its chunks, or nothing. */
    if (db_exec(pg, "BEGIN", err, errlen) != 0) {
        goto out;
    }
    char bytes[24];
    snprintf(bytes, sizeof(bytes), "%zu", d->bytes);
    const char *pd[] = {d->source, d->url, d->title, pl->dhash, d->lang ? d->lang : "en", bytes};
    r = PQexecParams(pg,
                     "INSERT INTO kb_documents (source, url, title, content_hash, lang, bytes) "
                     "VALUES ($1, $2, $3, $4, $5, $6::int) ON CONFLICT (source) DO UPDATE SET url = $2, title = $3, "
                     "content_hash = $4, lang = $5, bytes = $6::int, updated_at = now(), indexed_at = now() "
                     "RETURNING id",
                     6, NULL, pd, NULL, NULL, 0);
    if (!kb_result_ok(r, PGRES_TUPLES_OK, err, errlen, "writing the document")) {
        PQclear(r);
        goto rollback;
    }
    snprintf(doc_id, sizeof(doc_id), "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    /* kept chunks carry the document's title and language for their text
     * vector (kb_chunks.tsv) */
    if (pl->action == KB_DOC_CHANGED) {
        const char *pt[] = {doc_id, d->title, d->lang ? d->lang : "en"};
        r = PQexecParams(pg,
                         "UPDATE kb_chunks SET title = $2, ts_config = kb_ts_config($3) WHERE document_id = $1 "
                         "AND (title <> $2 OR ts_config <> kb_ts_config($3))",
                         3, NULL, pt, NULL, NULL, 0);
        if (!kb_result_ok(r, PGRES_COMMAND_OK, err, errlen, "updating the chunks' title")) {
            PQclear(r);
            goto rollback;
        }
        PQclear(r);
    }

    if (pl->force) {
        const char *pf[] = {doc_id};
        r = PQexecParams(pg, "DELETE FROM kb_chunks WHERE document_id = $1", 1, NULL, pf, NULL, NULL, 0);
        if (!kb_result_ok(r, PGRES_COMMAND_OK, err, errlen, "clearing chunks")) {
            PQclear(r);
            goto rollback;
        }
        res->deleted += (unsigned)atoi(PQcmdTuples(r));
        PQclear(r);
    }
    for (size_t i = 0; i < pl->nold; i++) {
        if (pl->old[i].used) {
            continue;
        }
        const char *pdel[] = {pl->old[i].id};
        r = PQexecParams(pg, "DELETE FROM kb_chunks WHERE id = $1", 1, NULL, pdel, NULL, NULL, 0);
        if (!kb_result_ok(r, PGRES_COMMAND_OK, err, errlen, "deleting a chunk")) {
            PQclear(r);
            goto rollback;
        }
        PQclear(r);
        res->deleted++;
    }
    size_t t = 0;
    for (size_t i = 0; i < d->nchunks; i++) {
        const kb_chunk *c = &d->chunks[i];
        char ord[24];
        snprintf(ord, sizeof(ord), "%zu", i);
        const char *anchor = c->anchor ? c->anchor : "";
        if (pl->keep[i] != NULL) {
            existing_chunk *k = pl->keep[i];
            if (k->ord == (int)i && strcmp(k->anchor ? k->anchor : "", anchor) == 0) {
                continue;
            }
            const char *pu[] = {k->id, ord, anchor};
            r = PQexecParams(pg, "UPDATE kb_chunks SET ord = $2::int, anchor = $3 WHERE id = $1", 3, NULL, pu, NULL,
                             NULL, 0);
            if (!kb_result_ok(r, PGRES_COMMAND_OK, err, errlen, "updating a chunk")) {
                PQclear(r);
                goto rollback;
            }
            PQclear(r);
            res->written++;
            continue;
        }
        if (pl->vecs != NULL && embed_to_pgvector(pl->vecs + t * dim, dim, vtext, vlen) == 0) {
            snprintf(err, errlen, "vector text too long");
            goto rollback;
        }
        t++;
        char tokens[16];
        snprintf(tokens, sizeof(tokens), "%u", c->tokens);
        /* no vector yet: the local embedder's first training embeds it */
        const char *pi[] = {doc_id,      ord,    c->heading_path,         anchor,   c->text,
                            pl->hash[i], tokens, pl->vecs ? vtext : NULL, d->title, d->lang ? d->lang : "en"};
        r = PQexecParams(pg,
                         "INSERT INTO kb_chunks (document_id, ord, heading_path, anchor, text, content_hash, tokens, "
                         "embedding, title, ts_config) VALUES ($1, $2::int, $3, $4, $5, $6, $7::int, $8::vector, $9, "
                         "kb_ts_config($10))",
                         10, NULL, pi, NULL, NULL, 0);
        if (!kb_result_ok(r, PGRES_COMMAND_OK, err, errlen, "inserting a chunk")) {
            PQclear(r);
            goto rollback;
        }
        PQclear(r);
        res->written++;
    }
    if (db_exec(pg, "COMMIT", err, errlen) != 0) {
        goto rollback;
    }
    rc = 0;
    goto out;
rollback:
    db_exec(pg, "ROLLBACK", NULL, 0);
out:
    free(vtext);
    return rc;
}

int kb_store_upsert(PGconn *pg, embedder *e, const kb_store_doc *d, int force, kb_store_result *res, char *err,
                    size_t errlen)
{
    kb_store_plan *pl = NULL;
    memset(res, 0, sizeof(*res));
    if (kb_store_plan_doc(pg, d, force, &pl, err, errlen) != 0) {
        return -1;
    }
    int rc = kb_store_embed(e, &pl, 1, err, errlen);
    if (rc == 0) {
        rc = kb_store_apply(pg, e, pl, res, err, errlen);
    }
    kb_store_plan_free(pl);
    return rc;
}

int kb_store_prune(PGconn *pg, const char *prefix, char *const *seen, size_t nseen, unsigned *removed, char *err,
                   size_t errlen)
{
    *removed = 0;
    /* LIKE with the prefix escaped */
    size_t pl = strlen(prefix);
    char *pat = malloc(pl * 2 + 2);
    if (pat == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    size_t k = 0;
    for (size_t i = 0; i < pl; i++) {
        if (prefix[i] == '%' || prefix[i] == '_' || prefix[i] == '\\') {
            pat[k++] = '\\';
        }
        pat[k++] = prefix[i];
    }
    pat[k++] = '%';
    pat[k] = '\0';
    const char *p[] = {pat};
    PGresult *r =
        PQexecParams(pg, "SELECT id, source FROM kb_documents WHERE source LIKE $1", 1, NULL, p, NULL, NULL, 0);
    free(pat);
    if (!kb_result_ok(r, PGRES_TUPLES_OK, err, errlen, "listing documents")) {
        PQclear(r);
        return -1;
    }
    int rc = 0;
    for (int i = 0; i < PQntuples(r); i++) {
        const char *src = PQgetvalue(r, i, 1);
        size_t lo = 0, hi = nseen;
        int found = 0;
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            int c = strcmp(seen[mid], src);
            if (c == 0) {
                found = 1;
                break;
            }
            if (c < 0) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        if (found) {
            continue;
        }
        const char *pd[] = {PQgetvalue(r, i, 0)};
        PGresult *d = PQexecParams(pg, "DELETE FROM kb_documents WHERE id = $1", 1, NULL, pd, NULL, NULL, 0);
        if (!kb_result_ok(d, PGRES_COMMAND_OK, err, errlen, "removing a document")) {
            rc = -1;
        } else {
            (*removed)++;
            log_info("removed %s (gone from the source)", src);
        }
        PQclear(d);
    }
    PQclear(r);
    return rc;
}
