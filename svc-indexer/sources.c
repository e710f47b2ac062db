/* sources.c: see sources.h. */
#include "sources.h"

#include <dirent.h>
#include <errno.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "http_client.h"
#include "log.h"

#define SRC_PATH_MAX 4096
#define SRC_DEPTH_MAX 32
#define ROBOTS_RULES_MAX 512
#define ROBOTS_HOSTS_MAX 64

static int src_add(src_list *l, const char *source, const char *url, const char *path, const char *ctype)
{
    if (l->n >= SRC_MAX_PAGES) {
        return -1;
    }
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        src_page *p = realloc(l->pages, cap * sizeof(*p));
        if (p == NULL) {
            return -1;
        }
        l->pages = p;
        l->cap = cap;
    }
    src_page *p = &l->pages[l->n++];
    p->source = strdup(source);
    p->url = strdup(url);
    p->path = path ? strdup(path) : NULL;
    p->content_type = ctype ? strdup(ctype) : NULL;
    return 0;
}

void src_list_free(src_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->pages[i].source);
        free(l->pages[i].url);
        free(l->pages[i].path);
        free(l->pages[i].content_type);
    }
    free(l->pages);
    free(l->prune_prefix);
    memset(l, 0, sizeof(*l));
}

/* --- folders ----------------------------------------------------------------- */

static int src_wanted_ext(const char *name)
{
    const char *dot = strrchr(name, '.');
    if (dot == NULL) {
        return 0;
    }
    return strcasecmp(dot, ".md") == 0 || strcasecmp(dot, ".markdown") == 0 || strcasecmp(dot, ".html") == 0 ||
           strcasecmp(dot, ".htm") == 0 || strcasecmp(dot, ".txt") == 0;
}

static int src_cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Collects relative paths of wanted files under dir/rel. */
static int src_walk(const char *root, const char *rel, int depth, char ***paths, size_t *n, size_t *cap)
{
    if (depth > SRC_DEPTH_MAX) {
        return 0;
    }
    char dirpath[SRC_PATH_MAX];
    snprintf(dirpath, sizeof(dirpath), "%s%s%s", root, rel[0] ? "/" : "", rel);
    DIR *d = opendir(dirpath);
    if (d == NULL) {
        return -1;
    }
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.') {
            continue; /* ., .., hidden files and folders */
        }
        char relp[SRC_PATH_MAX], full[SRC_PATH_MAX];
        int a = snprintf(relp, sizeof(relp), "%s%s%s", rel, rel[0] ? "/" : "", de->d_name);
        int b = snprintf(full, sizeof(full), "%s/%s", root, relp);
        if (a < 0 || (size_t)a >= sizeof(relp) || b < 0 || (size_t)b >= sizeof(full)) {
            continue; /* path too long */
        }
        struct stat st;
        if (lstat(full, &st) != 0 || S_ISLNK(st.st_mode)) {
            continue;
        }
        if (S_ISDIR(st.st_mode)) {
            src_walk(root, relp, depth + 1, paths, n, cap);
        } else if (S_ISREG(st.st_mode) && src_wanted_ext(de->d_name) && *n < SRC_MAX_PAGES) {
            if (*n == *cap) {
                size_t c2 = *cap ? *cap * 2 : 64;
                char **p = realloc(*paths, c2 * sizeof(*p));
                if (p == NULL) {
                    break;
                }
                *paths = p;
                *cap = c2;
            }
            (*paths)[(*n)++] = strdup(relp);
        }
    }
    closedir(d);
    return 0;
}

int src_folder_url(const char *base, const char *rel, src_url_style style, char *out, size_t cap)
{
    char path[SRC_PATH_MAX];
    if ((size_t)snprintf(path, sizeof(path), "%s", rel) >= sizeof(path)) {
        return -1;
    }
    char *slash = strrchr(path, '/');
    char *leaf = slash ? slash + 1 : path;
    char *dot = strrchr(leaf, '.');
    if (style == SRC_URL_PRETTY) {
        if (dot != NULL && dot != leaf) {
            *dot = '\0';
        }
        if (strcmp(leaf, "index") == 0) {
            *leaf = '\0';
        }
    } else if (strcasecmp(leaf, "index.html") == 0 || strcasecmp(leaf, "index.htm") == 0) {
        *leaf = '\0';
    }
    return (size_t)snprintf(out, cap, "%s/%s", base, path) < cap ? 0 : -1;
}

int src_list_folder(const char *dir, const char *base_url, src_url_style style, src_list *out, char *err, size_t errlen)
{
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "%s: not a folder (%s)", dir, strerror(errno ? errno : ENOTDIR));
        return -1;
    }
    char root[SRC_PATH_MAX];
    if (realpath(dir, root) == NULL) {
        snprintf(err, errlen, "%s: %s", dir, strerror(errno));
        return -1;
    }
    char base[SRC_PATH_MAX];
    if (base_url != NULL && base_url[0]) {
        size_t bl = strlen(base_url);
        while (bl > 0 && base_url[bl - 1] == '/') {
            bl--;
        }
        snprintf(base, sizeof(base), "%.*s", (int)bl, base_url);
    } else if ((size_t)snprintf(base, sizeof(base), "file://%s", root) >= sizeof(base)) {
        snprintf(err, errlen, "%s: path too long", dir);
        return -1;
    }
    char **paths = NULL;
    size_t n = 0, cap = 0;
    if (src_walk(root, "", 0, &paths, &n, &cap) != 0) {
        snprintf(err, errlen, "%s: cannot read the folder", dir);
        return -1;
    }
    if (n > 1) {
        qsort(paths, n, sizeof(*paths), src_cmp_str);
    }
    char prefix[SRC_PATH_MAX + 2];
    snprintf(prefix, sizeof(prefix), "%s/", base);
    out->prune_prefix = strdup(prefix);
    for (size_t i = 0; i < n; i++) {
        char source[SRC_PATH_MAX * 2], url[SRC_PATH_MAX * 2], full[SRC_PATH_MAX * 2];
        snprintf(source, sizeof(source), "%s/%s", base, paths[i]);
        snprintf(full, sizeof(full), "%s/%s", root, paths[i]);
        if (src_folder_url(base, paths[i], style, url, sizeof(url)) != 0) {
            continue; /* cannot be longer than the source, which fit */
        }
        if (src_add(out, source, url, full, NULL) != 0) {
            snprintf(err, errlen, "too many pages (max %u)", SRC_MAX_PAGES);
            for (size_t k = 0; k < n; k++) {
                free(paths[k]);
            }
            free(paths);
            return -1;
        }
    }
    for (size_t k = 0; k < n; k++) {
        free(paths[k]);
    }
    free(paths);
    return 0;
}

/* --- robots.txt ---------------------------------------------------------------- */

typedef struct robots_rule {
    int allow;
    char prefix[256];
} robots_rule;

typedef struct robots_host {
    char origin[256]; /* scheme://host[:port] */
    robots_rule rules[ROBOTS_RULES_MAX];
    size_t nrules;
} robots_host;

static robots_host *robots_cache[ROBOTS_HOSTS_MAX];
static size_t robots_n;
static pthread_mutex_t robots_mtx = PTHREAD_MUTEX_INITIALIZER;

static void src_origin(const char *url, char *origin, size_t len, const char **path)
{
    const char *s = strstr(url, "://");
    const char *p = s ? strchr(s + 3, '/') : NULL;
    size_t n = p ? (size_t)(p - url) : strlen(url);
    snprintf(origin, len, "%.*s", (int)n, url);
    *path = p ? p : "/";
}

/* Parses the groups for "*" (or our agent). */
static void robots_parse(robots_host *h, const char *txt)
{
    int in_group = 0, group_started = 0;
    const char *line = txt;
    while (line && *line) {
        const char *eol = strchr(line, '\n');
        size_t n = eol ? (size_t)(eol - line) : strlen(line);
        char buf[512];
        snprintf(buf, sizeof(buf), "%.*s", (int)(n < sizeof(buf) - 1 ? n : sizeof(buf) - 1), line);
        char *hash = strchr(buf, '#');
        if (hash) {
            *hash = '\0';
        }
        char *colon = strchr(buf, ':');
        if (colon != NULL) {
            *colon = '\0';
            char *key = buf, *val = colon + 1;
            while (*val == ' ' || *val == '\t') {
                val++;
            }
            size_t vl = strlen(val);
            while (vl > 0 && (val[vl - 1] == '\r' || val[vl - 1] == ' ')) {
                val[--vl] = '\0';
            }
            if (strcasecmp(key, "user-agent") == 0) {
                if (group_started) {
                    in_group = 0;
                    group_started = 0;
                }
                if (strcmp(val, "*") == 0 || strncasecmp(val, "chat-indexer", 12) == 0) {
                    in_group = 1;
                }
            } else if (strcasecmp(key, "allow") == 0 || strcasecmp(key, "disallow") == 0) {
                group_started = 1;
                if (in_group && h->nrules < ROBOTS_RULES_MAX && vl > 0) {
                    robots_rule *r = &h->rules[h->nrules++];
                    r->allow = strcasecmp(key, "allow") == 0;
                    snprintf(r->prefix, sizeof(r->prefix), "%s", val);
                }
            }
        }
        line = eol ? eol + 1 : NULL;
    }
}

static robots_host *robots_get(const char *origin)
{
    pthread_mutex_lock(&robots_mtx);
    for (size_t i = 0; i < robots_n; i++) {
        if (strcmp(robots_cache[i]->origin, origin) == 0) {
            robots_host *h = robots_cache[i];
            pthread_mutex_unlock(&robots_mtx);
            return h;
        }
    }
    pthread_mutex_unlock(&robots_mtx);
    robots_host *h = calloc(1, sizeof(*h));
    if (h == NULL) {
        return NULL;
    }
    snprintf(h->origin, sizeof(h->origin), "%s", origin);
    char url[300];
    snprintf(url, sizeof(url), "%s/robots.txt", origin);
    http_request rq = {.method = "GET",
                       .url = url,
                       .timeout_ms = 10000,
                       .max_body = 512 * 1024,
                       .max_redirects = SRC_MAX_REDIRECTS,
                       .user_agent = SRC_USER_AGENT};
    http_response r;
    if (http_perform(&rq, &r) == HTTP_OK && r.status == 200) {
        robots_parse(h, r.body);
    }
    http_response_free(&r);
    pthread_mutex_lock(&robots_mtx);
    if (robots_n < ROBOTS_HOSTS_MAX) {
        robots_cache[robots_n++] = h;
    }
    pthread_mutex_unlock(&robots_mtx);
    return h;
}

/* Longest matching prefix wins; Allow wins ties. */
static int robots_allowed(const char *url)
{
    char origin[256];
    const char *path;
    src_origin(url, origin, sizeof(origin), &path);
    robots_host *h = robots_get(origin);
    if (h == NULL) {
        return 1;
    }
    size_t best = 0;
    int allow = 1;
    for (size_t i = 0; i < h->nrules; i++) {
        size_t l = strlen(h->rules[i].prefix);
        if (strncmp(path, h->rules[i].prefix, l) == 0 && (l > best || (l == best && h->rules[i].allow))) {
            best = l;
            allow = h->rules[i].allow;
        }
    }
    return allow;
}

/* --- URLs and sitemaps ------------------------------------------------------------ */

static int src_get(const char *url, http_response *r, char *err, size_t errlen)
{
    http_request rq = {.method = "GET",
                       .url = url,
                       .timeout_ms = SRC_FETCH_TIMEOUT_MS,
                       .max_body = SRC_PAGE_MAX_BYTES,
                       .max_redirects = SRC_MAX_REDIRECTS,
                       .user_agent = SRC_USER_AGENT};
    http_status st = http_perform(&rq, r);
    if (st != HTTP_OK) {
        snprintf(err, errlen, "%s: %s", url, r->error);
        http_response_free(r);
        return -1;
    }
    if (r->status != 200) {
        snprintf(err, errlen, "%s: HTTP %ld", url, r->status);
        http_response_free(r);
        return -1;
    }
    return 0;
}

static void sitemap_collect(xmlNode *n, const char *want, src_list *out, char ***nested, size_t *nn)
{
    for (; n != NULL; n = n->next) {
        if (n->type == XML_ELEMENT_NODE && xmlStrcmp(n->name, (const xmlChar *)"loc") == 0) {
            xmlChar *t = xmlNodeGetContent(n);
            if (t != NULL) {
                char *s = (char *)t;
                while (*s == ' ' || *s == '\n' || *s == '\t' || *s == '\r') {
                    s++;
                }
                size_t l = strlen(s);
                while (l > 0 && (s[l - 1] == ' ' || s[l - 1] == '\n' || s[l - 1] == '\r' || s[l - 1] == '\t')) {
                    s[--l] = '\0';
                }
                if (strcmp(want, "sitemap") == 0) {
                    if (*nn < 1000) {
                        char **p = realloc(*nested, (*nn + 1) * sizeof(*p));
                        if (p != NULL) {
                            *nested = p;
                            p[(*nn)++] = strdup(s);
                        }
                    }
                } else if (strncmp(s, "http://", 7) == 0 || strncmp(s, "https://", 8) == 0) {
                    src_add(out, s, s, NULL, NULL);
                }
                xmlFree(t);
            }
        }
        sitemap_collect(n->children, want, out, nested, nn);
    }
}

/* 1 = it was a sitemap (pages added), 0 = not a sitemap, -1 error. */
static int sitemap_parse(const char *body, size_t len, src_list *out, int depth, char *err, size_t errlen)
{
    xmlDoc *doc =
        xmlReadMemory(body, (int)len, "sitemap.xml", NULL, XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    if (doc == NULL) {
        return 0;
    }
    xmlNode *root = xmlDocGetRootElement(doc);
    int kind = root == NULL                                                  ? 0
               : xmlStrcmp(root->name, (const xmlChar *)"urlset") == 0       ? 1
               : xmlStrcmp(root->name, (const xmlChar *)"sitemapindex") == 0 ? 2
                                                                             : 0;
    if (kind == 0) {
        xmlFreeDoc(doc);
        return 0;
    }
    char **nested = NULL;
    size_t nn = 0;
    sitemap_collect(root->children, kind == 1 ? "url" : "sitemap", out, &nested, &nn);
    xmlFreeDoc(doc);
    for (size_t i = 0; i < nn; i++) {
        if (depth < 2) {
            http_response r;
            char e2[256];
            if (src_get(nested[i], &r, e2, sizeof(e2)) == 0) {
                sitemap_parse(r.body, r.body_len, out, depth + 1, err, errlen);
                http_response_free(&r);
            } else {
                log_warn("sitemap %s skipped: %s", nested[i], e2);
            }
        }
        free(nested[i]);
    }
    free(nested);
    return 1;
}

int src_list_url(const char *url, src_list *out, char *err, size_t errlen)
{
    char origin[256];
    const char *path;
    src_origin(url, origin, sizeof(origin), &path);
    char prefix[300];
    snprintf(prefix, sizeof(prefix), "%s/", origin);
    out->prune_prefix = strdup(prefix);
    size_t ul = strlen(url);
    int maybe_sitemap = ul > 4 && strcasecmp(url + ul - 4, ".xml") == 0;
    if (!maybe_sitemap) {
        /* a page; the prune scope is just this page */
        free(out->prune_prefix);
        out->prune_prefix = strdup(url);
        return src_add(out, url, url, NULL, NULL) == 0 ? 0 : -1;
    }
    http_response r;
    if (src_get(url, &r, err, errlen) != 0) {
        return -1;
    }
    int k = sitemap_parse(r.body, r.body_len, out, 0, err, errlen);
    http_response_free(&r);
    if (k == 0) {
        snprintf(err, errlen, "%s: not a sitemap (expected <urlset> or <sitemapindex>)", url);
        return -1;
    }
    return 0;
}

int src_fetch(const src_page *p, char **data, size_t *len, char **content_type, char *err, size_t errlen)
{
    *data = NULL;
    *len = 0;
    *content_type = NULL;
    if (p->path != NULL) {
        FILE *f = fopen(p->path, "rb");
        if (f == NULL) {
            snprintf(err, errlen, "cannot open: %s", strerror(errno));
            return -1;
        }
        struct stat st;
        if (fstat(fileno(f), &st) != 0 || st.st_size > (off_t)SRC_PAGE_MAX_BYTES) {
            snprintf(err, errlen, "larger than %u MB; skipped", SRC_PAGE_MAX_BYTES >> 20);
            fclose(f);
            return -1;
        }
        char *buf = malloc((size_t)st.st_size + 1);
        if (buf == NULL) {
            fclose(f);
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        size_t n = fread(buf, 1, (size_t)st.st_size, f);
        fclose(f);
        buf[n] = '\0';
        *data = buf;
        *len = n;
        return 0;
    }
    if (!robots_allowed(p->url)) {
        snprintf(err, errlen, "disallowed by robots.txt");
        return -1;
    }
    http_response r;
    if (src_get(p->url, &r, err, errlen) != 0) {
        return -1;
    }
    *data = r.body;
    *len = r.body_len;
    *content_type = r.content_type[0] ? strdup(r.content_type) : NULL;
    return 0;
}

/* --- fetching ahead ------------------------------------------------------------ */

#define SRC_FETCHERS_MAX 16

typedef struct src_slot {
    int done;
    int rc;
    char *data, *ctype;
    size_t len;
    char err[256];
} src_slot;

struct src_fetcher {
    const src_list *l;
    src_slot *slots;
    size_t next, taken;
    int stopping;
    pthread_mutex_t mtx;
    pthread_cond_t cv;
    pthread_t threads[SRC_FETCHERS_MAX];
    unsigned nthreads;
};

static void *src_fetcher_main(void *arg)
{
    src_fetcher *f = arg;
    pthread_mutex_lock(&f->mtx);
    for (;;) {
        while (!f->stopping && f->next < f->l->n && f->next >= f->taken + SRC_FETCH_WINDOW) {
            pthread_cond_wait(&f->cv, &f->mtx);
        }
        if (f->stopping || f->next >= f->l->n) {
            break;
        }
        size_t i = f->next++;
        pthread_mutex_unlock(&f->mtx);
        src_slot one;
        memset(&one, 0, sizeof(one));
        one.rc = src_fetch(&f->l->pages[i], &one.data, &one.len, &one.ctype, one.err, sizeof(one.err));
        pthread_mutex_lock(&f->mtx);
        f->slots[i] = one;
        f->slots[i].done = 1;
        pthread_cond_broadcast(&f->cv);
    }
    pthread_mutex_unlock(&f->mtx);
    return NULL;
}

int src_fetcher_start(src_fetcher **out, const src_list *l, unsigned concurrency)
{
    src_fetcher *f = calloc(1, sizeof(*f));
    if (f == NULL) {
        return -1;
    }
    f->l = l;
    pthread_mutex_init(&f->mtx, NULL);
    pthread_cond_init(&f->cv, NULL);
    int remote = l->n > 0 && l->pages[0].path == NULL;
    if (remote && concurrency > 1) {
        f->slots = calloc(l->n, sizeof(*f->slots));
        if (f->slots != NULL) {
            if (concurrency > SRC_FETCHERS_MAX) {
                concurrency = SRC_FETCHERS_MAX;
            }
            for (unsigned i = 0; i < concurrency; i++) {
                if (pthread_create(&f->threads[f->nthreads], NULL, src_fetcher_main, f) == 0) {
                    f->nthreads++;
                }
            }
        }
    }
    *out = f;
    return 0;
}

int src_fetcher_take(src_fetcher *f, size_t i, char **data, size_t *len, char **content_type, char *err, size_t errlen)
{
    if (f->nthreads == 0) {
        return src_fetch(&f->l->pages[i], data, len, content_type, err, errlen);
    }
    pthread_mutex_lock(&f->mtx);
    while (!f->slots[i].done) {
        pthread_cond_wait(&f->cv, &f->mtx);
    }
    src_slot *s = &f->slots[i];
    *data = s->data;
    *len = s->len;
    *content_type = s->ctype;
    s->data = s->ctype = NULL;
    int rc = s->rc;
    if (rc != 0) {
        snprintf(err, errlen, "%s", s->err);
    }
    f->taken = i + 1;
    pthread_cond_broadcast(&f->cv);
    pthread_mutex_unlock(&f->mtx);
    return rc;
}

void src_fetcher_stop(src_fetcher *f)
{
    if (f == NULL) {
        return;
    }
    pthread_mutex_lock(&f->mtx);
    f->stopping = 1;
    pthread_cond_broadcast(&f->cv);
    pthread_mutex_unlock(&f->mtx);
    for (unsigned i = 0; i < f->nthreads; i++) {
        pthread_join(f->threads[i], NULL);
    }
    if (f->slots != NULL) {
        for (size_t i = 0; i < f->l->n; i++) {
            free(f->slots[i].data);
            free(f->slots[i].ctype);
        }
        free(f->slots);
    }
    pthread_mutex_destroy(&f->mtx);
    pthread_cond_destroy(&f->cv);
    free(f);
}
