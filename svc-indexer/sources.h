/* sources.h: where pages come from.
 *
 * A source is a folder (read recursively: .md, .markdown, .html, .htm, .txt)
 * or an http(s) URL: a sitemap (".xml", or a body that is a <urlset> or
 * <sitemapindex>) whose <loc> pages are fetched, or a single page. Fetches
 * use libcurl with a timeout, a size cap, bounded redirects and robots.txt
 * (User-agent * rules, Allow/Disallow by longest prefix).
 * Owns: a src_list owns its pages' strings (src_list_free); fetched bytes
 * belong to the caller. */
#ifndef IDX_SOURCES_H
#define IDX_SOURCES_H

#include <stddef.h>

#define SRC_PAGE_MAX_BYTES (10u << 20) /* bigger pages are skipped with a reason */
#define SRC_MAX_PAGES 50000            /* per source */
#define SRC_MAX_REDIRECTS 5
#define SRC_FETCH_TIMEOUT_MS 20000
#define SRC_USER_AGENT "chat-indexer/1 (+https://github.com/)"

/* One page to index. */
typedef struct src_page {
    char *source;       /* identity (URL, or base URL + relative path) */
    char *url;          /* citation URL before any canonical link */
    char *path;         /* local file, or NULL for URLs */
    char *content_type; /* from HTTP, or NULL */
} src_page;

typedef struct src_list {
    src_page *pages;
    size_t n, cap;
    char *prune_prefix; /* documents under this prefix not seen are removed */
} src_list;

/* How a folder's files map to the URLs the site serves them at:
 *   SRC_URL_PATH    the relative path as is (guide/intro.html), and an
 *                   index.html or index.htm names its folder (guide/); the
 *                   default, what a static web server does;
 *   SRC_URL_PRETTY  the extension dropped (guide/intro), any index names
 *                   its folder: sites with pretty URLs.
 * A page's <link rel="canonical"> still wins over either (pipeline.c). */
typedef enum { SRC_URL_PATH = 0, SRC_URL_PRETTY = 1 } src_url_style;

/* The URL of the file at rel (relative to the folder) under base (no
 * trailing slash) into out; returns 0, or -1 when it does not fit. */
int src_folder_url(const char *base, const char *rel, src_url_style style, char *out, size_t cap);

/* Lists a folder's pages. base_url ("https://example.com", may be NULL)
 * names them: the source is base + "/" + relative path, the citation URL
 * is src_folder_url's. Sorted by path. */
int src_list_folder(const char *dir, const char *base_url, src_url_style style, src_list *out, char *err,
                    size_t errlen);

/* Lists the pages of an http(s) source: a sitemap's pages (nested sitemap
 * indexes followed one level), or the URL itself. */
int src_list_url(const char *url, src_list *out, char *err, size_t errlen);

/* Reads a page's bytes (file or HTTP GET, honouring robots.txt). *data is
 * malloc'd; content_type/charset may be set from HTTP (caller frees).
 * Returns 0, or -1 with a per-page reason in err. */
int src_fetch(const src_page *p, char **data, size_t *len, char **content_type, char *err, size_t errlen);

void src_list_free(src_list *l);

/* Fetches a list's pages ahead of the indexer on `concurrency` threads
 * (the politeness limit: at most that many requests in flight), at most
 * SRC_FETCH_WINDOW pages ahead of the consumer (a memory bound). The
 * consumer takes pages in order 0..n-1 from one thread. concurrency <= 1
 * or a local list fetches on the consumer's thread. */
#define SRC_FETCH_WINDOW 16
typedef struct src_fetcher src_fetcher;
int src_fetcher_start(src_fetcher **out, const src_list *l, unsigned concurrency);
/* Page i, as src_fetch would return it. */
int src_fetcher_take(src_fetcher *f, size_t i, char **data, size_t *len, char **content_type, char *err, size_t errlen);
void src_fetcher_stop(src_fetcher *f);

#endif
