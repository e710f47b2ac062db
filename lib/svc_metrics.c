/* svc_metrics.c: see svc_metrics.h. */
#include "svc_metrics.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"

#define SVC_METRICS_CODES 17 /* rpc codes 0..16 */
#define SVC_METRICS_ADDR_MAX 64

static const double svc_buckets_s[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5};
#define SVC_NBUCKETS (sizeof(svc_buckets_s) / sizeof(svc_buckets_s[0]))

typedef struct svc_series {
    const char *name; /* set once, then read without the lock */
    _Atomic uint64_t bucket[SVC_NBUCKETS + 1];
    _Atomic uint64_t sum_us, count;
    _Atomic uint64_t codes[SVC_METRICS_CODES]; /* RPC only */
} svc_series;

typedef struct svc_table {
    svc_series s[SVC_METRICS_NAMES_MAX + 1]; /* the last: "other" */
    _Atomic size_t n;
    pthread_mutex_t mu;
} svc_table;

static svc_table svc_rpc = {.mu = PTHREAD_MUTEX_INITIALIZER};
static svc_table svc_dbt = {.mu = PTHREAD_MUTEX_INITIALIZER};
static struct {
    void (*fn)(FILE *, void *);
    void *arg;
} svc_sources[SVC_METRICS_SOURCES_MAX];
static _Atomic size_t svc_nsources;
static int64_t svc_started_ms;

static svc_series *svc_find(svc_table *t, const char *name)
{
    size_t n = atomic_load_explicit(&t->n, memory_order_acquire);
    for (size_t i = 0; i < n; i++) {
        if (t->s[i].name == name || strcmp(t->s[i].name, name) == 0) {
            return &t->s[i];
        }
    }
    pthread_mutex_lock(&t->mu);
    n = atomic_load_explicit(&t->n, memory_order_relaxed);
    svc_series *found = NULL;
    for (size_t i = 0; i < n && found == NULL; i++) {
        if (strcmp(t->s[i].name, name) == 0) {
            found = &t->s[i];
        }
    }
    if (found == NULL && n < SVC_METRICS_NAMES_MAX) {
        found = &t->s[n];
        found->name = name;
        atomic_store_explicit(&t->n, n + 1, memory_order_release);
    }
    pthread_mutex_unlock(&t->mu);
    if (found == NULL) {
        found = &t->s[SVC_METRICS_NAMES_MAX];
    }
    return found;
}

static void svc_observe(svc_series *s, int64_t us)
{
    size_t b = 0;
    while (b < SVC_NBUCKETS && (double)us / 1e6 > svc_buckets_s[b]) {
        b++;
    }
    atomic_fetch_add_explicit(&s->bucket[b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->sum_us, us > 0 ? (uint64_t)us : 0, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->count, 1, memory_order_relaxed);
}

void svc_metrics_rpc(const char *method, rpc_code code, int64_t us)
{
    svc_series *s = svc_find(&svc_rpc, method ? method : "?");
    svc_observe(s, us);
    if ((unsigned)code < SVC_METRICS_CODES) {
        atomic_fetch_add_explicit(&s->codes[code], 1, memory_order_relaxed);
    }
}

void svc_metrics_db(const char *op, int64_t us)
{
    svc_observe(svc_find(&svc_dbt, op ? op : "?"), us);
}

int svc_metrics_source(void (*fn)(FILE *out, void *arg), void *arg)
{
    size_t n = atomic_load(&svc_nsources);
    if (n >= SVC_METRICS_SOURCES_MAX) {
        return -1;
    }
    svc_sources[n].fn = fn;
    svc_sources[n].arg = arg;
    atomic_store(&svc_nsources, n + 1);
    return 0;
}

static void svc_histogram(FILE *f, const char *metric, const char *service, const char *label, svc_table *t)
{
    size_t n = atomic_load_explicit(&t->n, memory_order_acquire);
    for (size_t i = 0; i <= SVC_METRICS_NAMES_MAX; i++) {
        if (i >= n && i != SVC_METRICS_NAMES_MAX) {
            continue;
        }
        const svc_series *s = &t->s[i];
        const char *name = i == SVC_METRICS_NAMES_MAX ? "other" : s->name;
        uint64_t cum = 0;
        for (size_t b = 0; b < SVC_NBUCKETS; b++) {
            cum += atomic_load(&s->bucket[b]);
            fprintf(f, "%s_bucket{service=\"%s\",%s=\"%s\",le=\"%g\"} %llu\n", metric, service, label, name,
                    svc_buckets_s[b], (unsigned long long)cum);
        }
        cum += atomic_load(&s->bucket[SVC_NBUCKETS]);
        fprintf(f, "%s_bucket{service=\"%s\",%s=\"%s\",le=\"+Inf\"} %llu\n", metric, service, label, name,
                (unsigned long long)cum);
        fprintf(f, "%s_sum{service=\"%s\",%s=\"%s\"} %.6f\n", metric, service, label, name,
                (double)atomic_load(&s->sum_us) / 1e6);
        fprintf(f, "%s_count{service=\"%s\",%s=\"%s\"} %llu\n", metric, service, label, name,
                (unsigned long long)atomic_load(&s->count));
    }
}

static long svc_rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0, rss = 0;
    if (f != NULL) {
        if (fscanf(f, "%ld %ld", &pages, &rss) != 2) {
            rss = 0;
        }
        fclose(f);
    }
    return rss * sysconf(_SC_PAGESIZE);
}

char *svc_metrics_render(const char *service, size_t *len)
{
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    if (f == NULL) {
        return NULL;
    }
    fprintf(f, "# HELP chat_rpc_server_seconds Served RPC calls: time from receipt to reply, by method.\n"
               "# TYPE chat_rpc_server_seconds histogram\n");
    svc_histogram(f, "chat_rpc_server_seconds", service, "method", &svc_rpc);
    fprintf(f, "# HELP chat_rpc_server_calls_total Served RPC calls by method and status code.\n"
               "# TYPE chat_rpc_server_calls_total counter\n");
    size_t nm = atomic_load_explicit(&svc_rpc.n, memory_order_acquire);
    for (size_t i = 0; i < nm; i++) {
        for (int c = 0; c < SVC_METRICS_CODES; c++) {
            uint64_t v = atomic_load(&svc_rpc.s[i].codes[c]);
            if (v > 0) {
                fprintf(f, "chat_rpc_server_calls_total{service=\"%s\",method=\"%s\",code=\"%s\"} %llu\n", service,
                        svc_rpc.s[i].name, rpc_code_name((rpc_code)c), (unsigned long long)v);
            }
        }
    }
    fprintf(f, "# HELP chat_db_operation_seconds Database operations (a store call and its statements).\n"
               "# TYPE chat_db_operation_seconds histogram\n");
    svc_histogram(f, "chat_db_operation_seconds", service, "op", &svc_dbt);
    fprintf(f, "# HELP chat_process_resident_memory_bytes Resident memory.\n"
               "# TYPE chat_process_resident_memory_bytes gauge\n");
    fprintf(f, "chat_process_resident_memory_bytes{service=\"%s\"} %ld\n", service, svc_rss_bytes());
    fprintf(f, "# HELP chat_process_uptime_seconds Time since start.\n# TYPE chat_process_uptime_seconds gauge\n");
    fprintf(f, "chat_process_uptime_seconds{service=\"%s\"} %.3f\n", service,
            (double)(clock_mono_ms() - svc_started_ms) / 1000.0);
    size_t ns = atomic_load(&svc_nsources);
    for (size_t i = 0; i < ns; i++) {
        svc_sources[i].fn(f, svc_sources[i].arg);
    }
    if (fclose(f) != 0) {
        free(buf);
        return NULL;
    }
    *len = n;
    return buf;
}

/* --- HTTP ----------------------------------------------------------------- */

static struct MHD_Daemon *svc_httpd;
static char svc_service[64];

static enum MHD_Result svc_http(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                const char *version, const char *data, size_t *size, void **con_cls)
{
    (void)cls;
    (void)version;
    (void)data;
    (void)size;
    (void)con_cls;
    unsigned status = 200;
    char *body = NULL;
    size_t len = 0;
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
        status = 405;
    } else if (strcmp(url, "/metrics") != 0) {
        status = 404;
    } else if ((body = svc_metrics_render(svc_service, &len)) == NULL) {
        status = 500;
    }
    struct MHD_Response *r =
        body != NULL
            ? MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE)
            : MHD_create_response_from_buffer(strlen("not found\n"), (void *)"not found\n", MHD_RESPMEM_PERSISTENT);
    if (r == NULL) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", body != NULL ? "text/plain; version=0.0.4" : "text/plain");
    enum MHD_Result ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ret;
}

int svc_metrics_http_start(const char *service, const char *addr, char *err, size_t errlen)
{
    svc_started_ms = clock_mono_ms();
    snprintf(svc_service, sizeof(svc_service), "%s", service);
    if (addr == NULL || addr[0] == '\0') {
        return 0;
    }
    char host[SVC_METRICS_ADDR_MAX];
    snprintf(host, sizeof(host), "%s", addr);
    char *colon = strrchr(host, ':');
    char *end = NULL;
    long port = colon ? strtol(colon + 1, &end, 10) : 0;
    if (colon == NULL || end == colon + 1 || *end != '\0' || port < 1 || port > 65535) {
        snprintf(err, errlen, "METRICS_ADDR: \"%.40s\" is not like 127.0.0.1:9464", addr);
        return -1;
    }
    *colon = '\0';
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
    if (host[0] == '\0' || strcmp(host, "[::]") == 0) {
        /* every address, IPv6 and IPv4 (Fly's private network is IPv6) */
        svc_httpd = MHD_start_daemon(flags | MHD_USE_DUAL_STACK, (uint16_t)port, NULL, NULL, svc_http, NULL,
                                     MHD_OPTION_CONNECTION_LIMIT, (unsigned)16, MHD_OPTION_CONNECTION_TIMEOUT,
                                     (unsigned)10, MHD_OPTION_END);
    } else {
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
        if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
            snprintf(err, errlen, "METRICS_ADDR: \"%.40s\" is not an IPv4 address and port (or :port, [::]:port)",
                     addr);
            return -1;
        }
        svc_httpd = MHD_start_daemon(flags, 0, NULL, NULL, svc_http, NULL, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
                                     MHD_OPTION_CONNECTION_LIMIT, (unsigned)16, MHD_OPTION_CONNECTION_TIMEOUT,
                                     (unsigned)10, MHD_OPTION_END);
    }
    if (svc_httpd == NULL) {
        snprintf(err, errlen, "METRICS_ADDR: cannot listen on %.40s", addr);
        return -1;
    }
    return 0;
}

void svc_metrics_http_stop(void)
{
    if (svc_httpd != NULL) {
        MHD_stop_daemon(svc_httpd);
        svc_httpd = NULL;
    }
}
