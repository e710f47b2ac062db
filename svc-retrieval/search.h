/* search.h: hybrid search over the knowledge base.
 *
 * Two candidate lists — the nearest chunks by cosine distance (pgvector
 * HNSW) and the best BM25-style full-text matches (idf per lexeme, title
 * and headings weighted, the query parsed like each document's language) —
 * fused by weighted reciprocal rank, then ranked by page: a page scores its
 * best chunk plus a decaying share of its next ones. A relevance floor on
 * similarity + word coverage decides first whether the question gets any
 * result (so the assistant can say it does not know), then which chunks
 * stay. By default one result per page (max_per_document 1), the best k.
 *
 * A searcher (a connection, an embedder with the local model, a prepared
 * statement) is used by one thread at a time: each RPC worker owns one.
 * Owns: a searcher owns its connection and embedder (searcher_close); a
 * search_result owns its hits and their strings (search_result_free). */
#ifndef RET_SEARCH_H
#define RET_SEARCH_H

#include <stddef.h>
#include <stdint.h>

#include "db.h"
#include "embed.h"

#define SEARCH_QUERY_MAX 4096 /* bytes; longer queries are refused */
#define SEARCH_K_DEFAULT 5
#define SEARCH_K_MAX 50
#define SEARCH_PER_DOC_DEFAULT 1 /* one entry per page (see SEARCH_PAGE_JOIN) */
#define SEARCH_RRF_K 60
#define SEARCH_PAGE_CHUNKS_MAX 4 /* chunks of a page kept as its evidence */
#define SEARCH_PAGE_DECAY 0.15   /* a page's n-th best chunk adds decay^(n-1) of its score */
#define SEARCH_PAGE_JOIN 0.5     /* one entry per page: a next chunk joins at this share of the best */
#define SEARCH_PAGE_JOIN_MAX 3   /* chunks joined into one page entry, at most */
#define SEARCH_WEIGHT_VECTOR_DEFAULT 1.0
#define SEARCH_WEIGHT_TEXT_DEFAULT 0.5
/* The defaults of the RETRIEVAL_* settings (a searcher_opts field < 0 takes
 * its default). */
#define SEARCH_EF_SEARCH_DEFAULT 100
#define SEARCH_MIN_SIMILARITY_DEFAULT 0.70 /* the local embedder (lsa): related text scores high */
/* OpenAI's embeddings put related text at cosine ~0.3-0.6: 0.70 would admit
 * almost nothing by meaning (the kb/ set with the fake's vectors: hit@5 0.685
 * at 0.70, 0.963 at 0.30; off-topic 5/5 empty either way). */
#define SEARCH_MIN_SIMILARITY_OPENAI 0.30
#define SEARCH_MIN_RELEVANCE_DEFAULT 0.70
#define SEARCH_FLOOR_CHUNK_SHARE 0.6 /* once a question passes, a chunk needs this share of the floor */

typedef enum { SEARCH_HYBRID = 0, SEARCH_VECTOR = 1, SEARCH_TEXT = 2 } search_mode;

typedef struct search_params {
    const char *query;
    unsigned k;                /* 0 = default */
    unsigned max_per_document; /* 0 = default; at most SEARCH_PAGE_CHUNKS_MAX count */
    search_mode mode;
    double min_similarity; /* < 0 = the searcher's default */
    double min_relevance;  /* < 0 = the searcher's default */
    /* Filters (applied to the candidates, so a narrow filter may return
     * fewer than k): */
    const char *url_prefix;      /* only documents under this URL; may be NULL */
    const int64_t *document_ids; /* only these documents, when n_document_ids > 0 */
    size_t n_document_ids;
    const char *lang; /* only documents in this language; may be NULL */
} search_params;

typedef struct search_hit {
    long long chunk_id, document_id;
    double score, similarity, text_rank;
    double coverage;                         /* share of the question's idf the chunk's words cover */
    char *title, *url, *heading_path, *text; /* url includes #anchor */
} search_hit;

typedef struct search_result {
    search_hit *hits;
    size_t n;
    unsigned took_us;
} search_result;

typedef enum {
    SEARCH_OK = 0,
    SEARCH_EINVAL,   /* bad query: err says why */
    SEARCH_EMODEL,   /* embedding model mismatch: re-index */
    SEARCH_EDB,      /* database unavailable or failed */
    SEARCH_EEMBED,   /* query embedding failed */
    SEARCH_ETIMEOUT, /* the statement ran past its time (statement_timeout) */
} search_status;

typedef struct searcher searcher;

typedef struct searcher_opts {
    const char *db_url;
    const char *app_name;
    embed_opts embed;
    unsigned ef_search;                /* hnsw.ef_search */
    double min_similarity;             /* default: similarity that admits a chunk by meaning alone */
    double min_relevance;              /* default: similarity + word coverage that admits a chunk */
    double weight_vector, weight_text; /* RRF weights of the two lists; 0 = default */
    double page_decay;                 /* SEARCH_PAGE_DECAY when 0; < 0 = 0 (best chunk only) */
} searcher_opts;

int searcher_open(searcher **out, const searcher_opts *o, char *err, size_t errlen);
void searcher_close(searcher *s);
db_conn *searcher_db(searcher *s);

search_status search_run(searcher *s, const search_params *p, search_result *out, char *err, size_t errlen);
void search_result_free(search_result *r);

#endif
