/* bench_chat.c: load generator for the chat path (gateway HTTP + SSE), the
 * in-run baselines it is compared with, and a timestamping fake model.
 *
 *   bench_chat turns    --port P --conc C [--duration S | --turns N] [--warmup S]
 *                       [--pool N] [--per-session K] [--pace-ms MS] [--think-ms MS] [--stamps] [--turn-timeout S]
 *                       [--client-ips N]
 *                       [--rss-pid PID] [--cpu name=PID[+],...] [--tag T] [--summary FILE]
 *       C conversations in a closed loop, each with its own session: a
 *       conversation sends its next POST /v1/chat as soon as the previous
 *       turn's `done` arrived (over the same keep-alive connection, as a
 *       browser would). Per turn: TTFT = request written -> first `token`
 *       event parsed; total = request written -> `done` parsed; errors by
 *       kind (http_<status>, event_<code> for `error` events, conn_* for
 *       connection failures, no_done). Sessions come from a pool created
 *       first (POST /v1/sessions); a conversation moves to a fresh session
 *       after K turns (default 10) so histories stay conversation-sized.
 *       Turns sent during the first S seconds (--warmup) are not recorded.
 *       --client-ips N: every request made for session j of the pool
 *       (creating it, its turns) carries `CF-Connecting-IP: 10.a.b.c`, a.b.c
 *       being (j mod N) + 1 in 24 bits: each visitor its own address, for a
 *       gateway that trusts 127.0.0.1 as a proxy (bench_limits.sh).
 *       --think-ms MS: a conversation waits MS ms after a turn's `done`
 *       before its next turn (a visitor reading; with C conversations the
 *       offered rate is about C / (MS + turn time), for make soak).
 *       --pace-ms MS: the model emits one word every MS ms (offline
 *       provider, OFFLINE_TOKENS_PER_SECOND): relay lag by schedule, see
 *       below. --stamps: the model is `bench_chat fake-anthropic`, whose
 *       words are CLOCK_MONOTONIC timestamps: relay lag = receive - stamp.
 *   bench_chat streams  --port P --turns T --readers M --hold-until S [--finish S]
 *                       [--heartbeat S] [--rss-pid PID] [--cpu ...] [--tag T] [--summary FILE]
 *       T turns that stay silent for a long time (the script points svc-llm
 *       at the fake Anthropic server with a large first_token_delay_ms), M
 *       readers attached to them through GET /v1/chat/{id}/events
 *       (Last-Event-ID: the last event seen), round robin. Holds every
 *       stream open until S seconds after the turns started and counts the
 *       ": ping" heartbeats each stream receives in the hold window; then
 *       waits (--finish) for the answers and reports how long each reader
 *       waited for `done` after the first reader of its turn got it.
 *   bench_chat baseline --session-url U --retrieval-url U --llm-url U
 *                       [--calls N] [--seconds S] [--threads N] [--tag T] [--summary FILE]
 *       The services' RPCs alone with rpc_call_sync: retrieval.Search
 *       (hybrid, k=5), session.Begin+Commit, llm.Generate+Poll until done;
 *       latency from one caller (N calls) and throughput from N threads.
 *   bench_chat fake-anthropic [--tps N] [--words N] [--port-file F]
 *       A minimal Anthropic Messages streaming server: every text_delta is
 *       " ~T<CLOCK_MONOTONIC us>~", stamped right before its write().
 *   bench_chat questions
 *       Prints the questions `turns` asks, one a line (tests/bench/compare.sh
 *       embeds them for the peer with query_vectors).
 *
 * Relay lag (model emits -> reader receives):
 *   --stamps: exact. Each word carries the time it was written to the
 *     socket by the fake; the reader subtracts it from the time read()
 *     returned the bytes (same machine, same clock).
 *   --pace-ms: by schedule. The offline provider emits word k of an answer
 *     at T0 + (k-1)*MS. Word boundaries are recovered from the received
 *     text with the provider's own tokenizer (svc-llm/offline.c
 *     offl_next_token), so an event whose last word is word k arrived at
 *     a_k; a_k - (k-1)*MS - min over the turn of the same quantity is that
 *     event's lag beyond the best-delivered word of the turn (a lower bound
 *     of the absolute lag; provider timer lateness counts as lag).
 *
 * --rss-pid: the gateway's VmRSS, sampled every 250 ms. --cpu: CPU time
 * (utime+stime from /proc) of each named process over the measured window
 * ("+": with its direct children, for postgres), also per turn and per token
 * event, next to the machine's busy time from /proc/stat (a large remainder
 * means something else ran on the machine and the figures are perturbed).
 *
 * All HTTP is one thread, epoll, non-blocking sockets to 127.0.0.1 (the
 * descriptor limit is raised to the hard limit); the client parses the
 * status line and headers, decodes chunked transfer encoding and parses SSE
 * incrementally. Output: human-readable lines, and with --summary key=value
 * lines prefixed by --tag (for bench_chat.sh). Exit status 0 when the run
 * completed (turn errors are reported, not fatal), 1 on a set-up failure. */
#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common.pb-c.h"
#include "llm.pb-c.h"
#include "log.h"
#include "retrieval.pb-c.h"
#include "rpc.h"
#include "rpc_client.h"
#include "session.pb-c.h"

/* ============================================================ utilities */

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "bench_chat: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(1);
}

static void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (q == NULL) {
        die("out of memory");
    }
    return q;
}

static void *xcalloc(size_t n, size_t sz)
{
    void *p = calloc(n ? n : 1, sz ? sz : 1);
    if (p == NULL) {
        die("out of memory");
    }
    return p;
}

static void raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

/* --- samples and percentiles ----------------------------------------------- */

typedef struct samples {
    double *v;
    size_t n, cap;
    int sorted;
} samples;

static void samp_add(samples *s, double x)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 1024;
        s->v = xrealloc(s->v, s->cap * sizeof(double));
    }
    s->v[s->n++] = x;
    s->sorted = 0;
}

static int dcmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Nearest-rank percentile; -1 when empty. */
static double samp_pct(samples *s, double p)
{
    if (s->n == 0) {
        return -1;
    }
    if (!s->sorted) {
        qsort(s->v, s->n, sizeof(double), dcmp);
        s->sorted = 1;
    }
    size_t rank = (size_t)(p / 100.0 * (double)s->n + 0.999999);
    if (rank < 1) {
        rank = 1;
    }
    if (rank > s->n) {
        rank = s->n;
    }
    return s->v[rank - 1];
}

static double samp_mean(const samples *s)
{
    if (s->n == 0) {
        return -1;
    }
    double t = 0;
    for (size_t i = 0; i < s->n; i++) {
        t += s->v[i];
    }
    return t / (double)s->n;
}

/* --- summary file ---------------------------------------------------------- */

static FILE *g_summary;
static const char *g_tag = "chat";

static void summ(const char *key, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void summ(const char *key, const char *fmt, ...)
{
    if (g_summary == NULL) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    fprintf(g_summary, "%s_%s=", g_tag, key);
    vfprintf(g_summary, fmt, ap);
    fprintf(g_summary, "\n");
    fflush(g_summary);
    va_end(ap);
}

/* --- /proc: RSS and CPU of the programs under test --------------------------- */

static long proc_rss_kb(int pid)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        return -1;
    }
    long kb = -1;
    while (fgets(line, sizeof(line), f)) {
        if (strncmp(line, "VmRSS:", 6) == 0) {
            kb = strtol(line + 6, NULL, 10);
            break;
        }
    }
    fclose(f);
    return kb;
}

/* utime+stime of pid in clock ticks (-1 when gone); *ppid gets its parent. */
static long long proc_ticks(int pid, int *ppid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        return -1;
    }
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    if (p == NULL) {
        return -1;
    }
    /* after ")": state(3) ppid(4) ... utime(14) stime(15) */
    char *save = NULL, *tok = strtok_r(p + 2, " ", &save);
    long long ut = 0, st = 0;
    for (int field = 3; tok != NULL; field++, tok = strtok_r(NULL, " ", &save)) {
        if (field == 4 && ppid) {
            *ppid = atoi(tok);
        } else if (field == 14) {
            ut = atoll(tok);
        } else if (field == 15) {
            st = atoll(tok);
            break;
        }
    }
    return ut + st;
}

#define CPU_MAX 12
typedef struct cpu_watch {
    char name[32];
    int pid;
    int children; /* also its direct children (postgres backends) */
    long long t0, t1;
} cpu_watch;
static cpu_watch g_cpu[CPU_MAX];
static int g_ncpu;

static long long cpu_ticks_of(const cpu_watch *w)
{
    long long t = proc_ticks(w->pid, NULL);
    if (t < 0) {
        return 0;
    }
    if (w->children) {
        /* add its direct children (postgres backends) */
        DIR *d = opendir("/proc");
        struct dirent *de;
        while (d != NULL && (de = readdir(d)) != NULL) {
            int pid = atoi(de->d_name);
            if (pid <= 0) {
                continue;
            }
            int pp = 0;
            long long ct = proc_ticks(pid, &pp);
            if (ct > 0 && pp == w->pid) {
                t += ct;
            }
        }
        if (d != NULL) {
            closedir(d);
        }
    }
    return t;
}

static void cpu_parse(const char *arg)
{
    char *s = strdup(arg), *save = NULL;
    for (char *item = strtok_r(s, ",", &save); item && g_ncpu < CPU_MAX; item = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(item, '=');
        if (eq == NULL) {
            die("--cpu wants name=pid[+],...");
        }
        cpu_watch *w = &g_cpu[g_ncpu++];
        snprintf(w->name, sizeof(w->name), "%.*s", (int)(eq - item), item);
        w->pid = atoi(eq + 1);
        w->children = strchr(eq, '+') != NULL;
    }
    free(s);
}

static double g_cpu_t0_s, g_cpu_t1_s;
static struct rusage g_ru0;
static long long g_sys0_busy, g_sys0_all, g_sys1_busy, g_sys1_all;

/* The machine's busy and total jiffies (all CPUs) from /proc/stat. */
static void sys_ticks(long long *busy, long long *all)
{
    *busy = *all = 0;
    FILE *f = fopen("/proc/stat", "r");
    if (f == NULL) {
        return;
    }
    long long v[10] = {0};
    if (fscanf(f, "cpu %lld %lld %lld %lld %lld %lld %lld %lld %lld %lld", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5],
               &v[6], &v[7], &v[8], &v[9]) >= 4) {
        for (int i = 0; i < 8; i++) {
            *all += v[i];
        }
        *busy = *all - v[3] - v[4]; /* minus idle and iowait */
    }
    fclose(f);
}

/* Machine CPU over the last window, % of one core (-1 unknown). */
static double sys_busy_pct(void)
{
    long long all = g_sys1_all - g_sys0_all;
    if (all <= 0) {
        return -1;
    }
    return 100.0 * (double)(g_sys1_busy - g_sys0_busy) / (double)all * (double)sysconf(_SC_NPROCESSORS_ONLN);
}

static void cpu_start(void)
{
    sys_ticks(&g_sys0_busy, &g_sys0_all);
    for (int i = 0; i < g_ncpu; i++) {
        g_cpu[i].t0 = cpu_ticks_of(&g_cpu[i]);
    }
    getrusage(RUSAGE_SELF, &g_ru0);
    g_cpu_t0_s = (double)now_us() / 1e6;
}
static double g_self_cpu_s;
static void cpu_stop(void)
{
    for (int i = 0; i < g_ncpu; i++) {
        g_cpu[i].t1 = cpu_ticks_of(&g_cpu[i]);
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    g_self_cpu_s =
        (double)(ru.ru_utime.tv_sec - g_ru0.ru_utime.tv_sec + ru.ru_stime.tv_sec - g_ru0.ru_stime.tv_sec) +
        (double)(ru.ru_utime.tv_usec - g_ru0.ru_utime.tv_usec + ru.ru_stime.tv_usec - g_ru0.ru_stime.tv_usec) / 1e6;
    g_cpu_t1_s = (double)now_us() / 1e6;
    sys_ticks(&g_sys1_busy, &g_sys1_all);
}

/* ====================================================== HTTP/SSE client */

typedef enum { CS_CONNECTING, CS_SENDING, CS_READING } conn_state;
enum { CH_SIZE, CH_DATA, CH_DATA_END, CH_TRAILER };

typedef struct conn conn;
struct conn {
    int fd;
    conn_state st;
    int owner; /* index in the mode's table */
    int kind;  /* mode-defined */
    int dead;  /* closed: freed after the current callback */
    int reused;
    /* request */
    char *out;
    size_t out_len, out_off;
    int64_t t_sent; /* request fully written */
    /* response head */
    char *head;
    size_t head_len, head_cap;
    int head_done, status, chunked, server_close, sse;
    long long clen, got;
    char turn_id[48];
    /* chunked decoder */
    int ch_state;
    size_t ch_left;
    char ch_line[40];
    size_t ch_line_len;
    int resp_done;
    /* body (non-SSE) */
    char *body;
    size_t body_len, body_cap;
    /* SSE parser */
    char *line;
    size_t line_len, line_cap;
    char ev[32];
    char *data;
    size_t data_len, data_cap;
    unsigned long last_id;
    int got_any;
};

typedef struct handler {
    void (*on_head)(conn *c, int64_t t);
    void (*on_event)(conn *c, const char *ev, const char *data, size_t len, int64_t t);
    void (*on_ping)(conn *c, int64_t t);
    void (*on_done)(conn *c, int64_t t);                  /* response complete */
    void (*on_fail)(conn *c, const char *why, int64_t t); /* conn is closed after */
} handler;

static int g_ep = -1;
static handler g_h;
static struct sockaddr_in g_addr;
static long g_open_conns;
static char g_host[64];

static void conn_free(conn *c)
{
    free(c->out);
    free(c->head);
    free(c->body);
    free(c->line);
    free(c->data);
    free(c);
}

/* Closes now (the struct is freed at the end of the loop iteration). */
static conn *g_graveyard[65536];
static size_t g_ngrave;
static void conn_close(conn *c)
{
    if (c->dead) {
        return;
    }
    c->dead = 1;
    if (c->fd >= 0) {
        epoll_ctl(g_ep, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
        c->fd = -1;
        g_open_conns--;
    }
    if (g_ngrave < sizeof(g_graveyard) / sizeof(g_graveyard[0])) {
        g_graveyard[g_ngrave++] = c;
    } else {
        conn_free(c); /* should not happen: flushed every iteration */
    }
}

static void conn_bury(void)
{
    for (size_t i = 0; i < g_ngrave; i++) {
        conn_free(g_graveyard[i]);
    }
    g_ngrave = 0;
}

static void conn_reset(conn *c)
{
    c->head_len = 0;
    c->head_done = c->status = c->chunked = c->server_close = c->sse = 0;
    c->clen = -1;
    c->got = 0;
    c->turn_id[0] = '\0';
    c->ch_state = CH_SIZE;
    c->ch_left = 0;
    c->ch_line_len = 0;
    c->resp_done = 0;
    c->body_len = 0;
    c->line_len = 0;
    c->ev[0] = '\0';
    c->data_len = 0;
    c->last_id = 0;
    c->got_any = 0;
    c->t_sent = 0;
}

static void conn_fail(conn *c, const char *why)
{
    if (c->dead) {
        return;
    }
    if (g_h.on_fail) {
        g_h.on_fail(c, why, now_us());
    }
    conn_close(c);
}

static void conn_want(conn *c, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.ptr = c};
    epoll_ctl(g_ep, EPOLL_CTL_MOD, c->fd, &ev);
}

static void conn_try_send(conn *c)
{
    while (c->out_off < c->out_len) {
        ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
        if (n > 0) {
            c->out_off += (size_t)n;
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            conn_want(c, EPOLLIN | EPOLLOUT);
            return;
        }
        if (n < 0 && errno == EINTR) {
            continue;
        }
        conn_fail(c, errno == ECONNRESET || errno == EPIPE ? "conn_reset" : "conn_send");
        return;
    }
    c->t_sent = now_us();
    c->st = CS_READING;
    conn_want(c, EPOLLIN);
}

/* Sets the request and sends it (on a new or an idle keep-alive conn). */
static void conn_request(conn *c, const char *req, size_t len)
{
    conn_reset(c);
    if (c->out_len < len + 1 || c->out == NULL) {
        c->out = xrealloc(c->out, len + 1);
    }
    memcpy(c->out, req, len);
    c->out_len = len;
    c->out_off = 0;
    if (c->st == CS_CONNECTING) {
        return; /* sent once connected */
    }
    c->st = CS_SENDING;
    conn_try_send(c);
}

static conn *conn_open(int owner, int kind)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return NULL;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    conn *c = xcalloc(1, sizeof(*c));
    c->fd = fd;
    c->owner = owner;
    c->kind = kind;
    c->st = CS_CONNECTING;
    c->clen = -1;
    g_open_conns++;
    struct epoll_event ev = {.events = EPOLLOUT | EPOLLIN, .data.ptr = c};
    if (epoll_ctl(g_ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
        close(fd);
        g_open_conns--;
        free(c);
        return NULL;
    }
    int r = connect(fd, (struct sockaddr *)&g_addr, sizeof(g_addr));
    if (r == 0) {
        c->st = CS_SENDING;
    } else if (errno != EINPROGRESS) {
        epoll_ctl(g_ep, EPOLL_CTL_DEL, fd, NULL);
        close(fd);
        g_open_conns--;
        free(c);
        return NULL;
    }
    return c;
}

/* --- response parsing ------------------------------------------------------- */

static void sse_line(conn *c, char *l, size_t n, int64_t t)
{
    if (n == 0) {
        if (c->ev[0] || c->data_len) {
            if (c->data == NULL) {
                c->data = xrealloc(NULL, 64);
                c->data_cap = 64;
            }
            c->data[c->data_len] = '\0';
            if (g_h.on_event) {
                g_h.on_event(c, c->ev[0] ? c->ev : "message", c->data, c->data_len, t);
            }
        }
        c->ev[0] = '\0';
        c->data_len = 0;
        return;
    }
    if (l[0] == ':') {
        if (strstr(l, "ping") != NULL && g_h.on_ping) {
            g_h.on_ping(c, t);
        }
        return;
    }
    char *colon = memchr(l, ':', n);
    size_t fl = colon ? (size_t)(colon - l) : n;
    const char *v = colon ? colon + 1 : "";
    size_t vl = colon ? n - fl - 1 : 0;
    if (vl > 0 && *v == ' ') {
        v++;
        vl--;
    }
    if (fl == 5 && memcmp(l, "event", 5) == 0) {
        snprintf(c->ev, sizeof(c->ev), "%.*s", (int)vl, v);
    } else if (fl == 4 && memcmp(l, "data", 4) == 0) {
        size_t need = c->data_len + vl + 2;
        if (need > c->data_cap) {
            c->data_cap = need * 2;
            c->data = xrealloc(c->data, c->data_cap);
        }
        if (c->data_len > 0) {
            c->data[c->data_len++] = '\n';
        }
        memcpy(c->data + c->data_len, v, vl);
        c->data_len += vl;
    } else if (fl == 2 && memcmp(l, "id", 2) == 0) {
        c->last_id = strtoul(v, NULL, 10);
    }
}

static void sse_feed(conn *c, const char *p, size_t n, int64_t t)
{
    while (n > 0 && !c->dead) {
        const char *nl = memchr(p, '\n', n);
        size_t k = nl ? (size_t)(nl - p) : n;
        if (c->line_len + k + 1 > c->line_cap) {
            c->line_cap = (c->line_len + k + 1) * 2;
            c->line = xrealloc(c->line, c->line_cap);
        }
        memcpy(c->line + c->line_len, p, k);
        c->line_len += k;
        if (nl == NULL) {
            return;
        }
        p += k + 1;
        n -= k + 1;
        size_t L = c->line_len;
        if (L > 0 && c->line[L - 1] == '\r') {
            L--;
        }
        c->line[L] = '\0';
        c->line_len = 0;
        sse_line(c, c->line, L, t);
    }
}

static void deliver(conn *c, const char *p, size_t n, int64_t t)
{
    if (c->sse) {
        sse_feed(c, p, n, t);
        return;
    }
    if (c->body_len + n + 1 > c->body_cap) {
        c->body_cap = (c->body_len + n + 1) * 2;
        c->body = xrealloc(c->body, c->body_cap);
    }
    memcpy(c->body + c->body_len, p, n);
    c->body_len += n;
    c->body[c->body_len] = '\0';
}

static void resp_complete(conn *c, int64_t t)
{
    c->resp_done = 1;
    if (g_h.on_done) {
        g_h.on_done(c, t);
    }
}

static void body_feed(conn *c, const char *p, size_t n, int64_t t)
{
    if (c->chunked) {
        while (n > 0 && !c->dead && !c->resp_done) {
            char ch;
            switch (c->ch_state) {
            case CH_SIZE:
                ch = *p++;
                n--;
                if (ch == '\n') {
                    c->ch_line[c->ch_line_len] = '\0';
                    size_t size = strtoul(c->ch_line, NULL, 16);
                    c->ch_line_len = 0;
                    if (size == 0) {
                        c->ch_state = CH_TRAILER;
                    } else {
                        c->ch_left = size;
                        c->ch_state = CH_DATA;
                    }
                } else if (ch != '\r' && c->ch_line_len < sizeof(c->ch_line) - 1) {
                    c->ch_line[c->ch_line_len++] = ch;
                }
                break;
            case CH_DATA: {
                size_t k = n < c->ch_left ? n : c->ch_left;
                deliver(c, p, k, t);
                p += k;
                n -= k;
                c->ch_left -= k;
                if (c->ch_left == 0) {
                    c->ch_state = CH_DATA_END;
                }
                break;
            }
            case CH_DATA_END:
                ch = *p++;
                n--;
                if (ch == '\n') {
                    c->ch_state = CH_SIZE;
                }
                break;
            case CH_TRAILER:
                ch = *p++;
                n--;
                if (ch == '\n') {
                    if (c->ch_line_len == 0) {
                        resp_complete(c, t);
                        return;
                    }
                    c->ch_line_len = 0;
                } else if (ch != '\r') {
                    c->ch_line_len++;
                }
                break;
            }
        }
        return;
    }
    if (c->clen >= 0) {
        long long left = c->clen - c->got;
        size_t k = (long long)n < left ? n : (size_t)left;
        deliver(c, p, k, t);
        c->got += (long long)k;
        if (c->got >= c->clen && !c->dead) {
            resp_complete(c, t);
        }
        return;
    }
    deliver(c, p, n, t); /* until the server closes */
}

static const char *hdr_value(const char *head, const char *name, char *out, size_t outlen)
{
    size_t nl = strlen(name);
    for (const char *p = strstr(head, "\r\n"); p != NULL; p = strstr(p + 2, "\r\n")) {
        const char *h = p + 2;
        if (strncasecmp(h, name, nl) == 0 && h[nl] == ':') {
            const char *v = h + nl + 1;
            while (*v == ' ' || *v == '\t') {
                v++;
            }
            const char *e = strstr(v, "\r\n");
            size_t vl = e ? (size_t)(e - v) : strlen(v);
            snprintf(out, outlen, "%.*s", (int)vl, v);
            return out;
        }
    }
    return NULL;
}

static void conn_feed(conn *c, const char *p, size_t n, int64_t t)
{
    c->got_any = 1;
    if (c->head_done) {
        body_feed(c, p, n, t);
        return;
    }
    if (c->head_len + n + 1 > c->head_cap) {
        c->head_cap = (c->head_len + n + 1) * 2;
        c->head = xrealloc(c->head, c->head_cap);
    }
    memcpy(c->head + c->head_len, p, n);
    c->head_len += n;
    c->head[c->head_len] = '\0';
    char *end = strstr(c->head, "\r\n\r\n");
    if (end == NULL) {
        if (c->head_len > 32768) {
            conn_fail(c, "conn_bad_head");
        }
        return;
    }
    size_t hl = (size_t)(end - c->head) + 4;
    end[2] = '\0'; /* keep the last header's CRLF for hdr_value */
    if (strncmp(c->head, "HTTP/1.", 7) != 0) {
        conn_fail(c, "conn_bad_status");
        return;
    }
    c->status = atoi(c->head + 9);
    char v[128];
    if (hdr_value(c->head, "Transfer-Encoding", v, sizeof(v)) && strcasestr(v, "chunked")) {
        c->chunked = 1;
    }
    if (hdr_value(c->head, "Content-Length", v, sizeof(v))) {
        c->clen = atoll(v);
    }
    if (hdr_value(c->head, "Connection", v, sizeof(v)) && strcasestr(v, "close")) {
        c->server_close = 1;
    }
    if (hdr_value(c->head, "Content-Type", v, sizeof(v)) && strcasestr(v, "text/event-stream")) {
        c->sse = 1;
    }
    if (hdr_value(c->head, "X-Turn-Id", v, sizeof(v))) {
        snprintf(c->turn_id, sizeof(c->turn_id), "%.47s", v);
    }
    c->head_done = 1;
    size_t rest = c->head_len - hl;
    const char *rp = c->head + hl;
    if (g_h.on_head) {
        g_h.on_head(c, t);
    }
    if (c->dead) {
        return;
    }
    if (!c->chunked && c->clen == 0) {
        resp_complete(c, t);
        return;
    }
    if (rest > 0) {
        /* copy out: the handler may reuse c->head */
        char *tmp = xrealloc(NULL, rest);
        memcpy(tmp, rp, rest);
        body_feed(c, tmp, rest, t);
        free(tmp);
    }
}

static void conn_on_event(conn *c, uint32_t events)
{
    if (c->dead) {
        return;
    }
    if (c->st == CS_CONNECTING) {
        if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) {
            int err = 0;
            socklen_t el = sizeof(err);
            getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
            if (err != 0) {
                conn_fail(c, err == ECONNREFUSED ? "conn_refused" : "conn_connect");
                return;
            }
            if (c->out_len > 0) {
                c->st = CS_SENDING;
                conn_try_send(c);
            } else {
                c->st = CS_SENDING;
                conn_want(c, EPOLLIN);
            }
        }
        return;
    }
    if ((events & EPOLLOUT) && c->st == CS_SENDING) {
        conn_try_send(c);
        if (c->dead) {
            return;
        }
    }
    if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
        char buf[65536];
        for (int rounds = 0; rounds < 8 && !c->dead; rounds++) {
            ssize_t n = recv(c->fd, buf, sizeof(buf), 0);
            int64_t t = now_us();
            if (n > 0) {
                conn_feed(c, buf, (size_t)n, t);
                if ((size_t)n < sizeof(buf)) {
                    break;
                }
                continue;
            }
            if (n == 0) {
                if (c->head_done && !c->chunked && c->clen < 0 && !c->resp_done) {
                    resp_complete(c, t); /* close-delimited body */
                    if (!c->dead) {
                        conn_close(c);
                    }
                } else if (!c->resp_done) {
                    conn_fail(c, c->got_any ? "conn_eof_mid_response"
                                            : (c->reused ? "conn_keepalive_closed" : "conn_eof"));
                } else {
                    conn_fail(c, "conn_idle_closed");
                }
                return;
            }
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                break;
            }
            if (errno == EINTR) {
                continue;
            }
            conn_fail(c, errno == ECONNRESET ? "conn_reset" : "conn_recv");
            return;
        }
    }
}

/* Runs the event loop once (up to timeout_ms). */
static void loop_once(int timeout_ms)
{
    struct epoll_event evs[1024];
    int n = epoll_wait(g_ep, evs, 1024, timeout_ms);
    for (int i = 0; i < n; i++) {
        conn_on_event(evs[i].data.ptr, evs[i].events);
    }
    conn_bury();
}

static void client_init(int port)
{
    raise_nofile();
    signal(SIGPIPE, SIG_IGN);
    g_ep = epoll_create1(EPOLL_CLOEXEC);
    if (g_ep < 0) {
        die("epoll_create1: %s", strerror(errno));
    }
    memset(&g_addr, 0, sizeof(g_addr));
    g_addr.sin_family = AF_INET;
    g_addr.sin_port = htons((uint16_t)port);
    inet_pton(AF_INET, "127.0.0.1", &g_addr.sin_addr);
    snprintf(g_host, sizeof(g_host), "127.0.0.1:%d", port);
}

/* --- small JSON helpers (the gateway's compact JSON) --------------------------- */

/* Unescapes the JSON string starting after the opening quote at p; writes
 * at most cap-1 bytes to out; returns the length written. */
static size_t json_unescape(const char *p, const char *end, char *out, size_t cap)
{
    size_t o = 0;
    while (p < end && *p != '"' && o + 4 < cap) {
        if (*p != '\\') {
            out[o++] = *p++;
            continue;
        }
        p++;
        if (p >= end) {
            break;
        }
        char e = *p++;
        switch (e) {
        case 'n':
            out[o++] = '\n';
            break;
        case 't':
            out[o++] = '\t';
            break;
        case 'r':
            out[o++] = '\r';
            break;
        case 'b':
            out[o++] = '\b';
            break;
        case 'f':
            out[o++] = '\f';
            break;
        case 'u': {
            unsigned cp = 0;
            for (int i = 0; i < 4 && p < end; i++, p++) {
                cp = cp * 16 +
                     (unsigned)(isdigit((unsigned char)*p) ? *p - '0' : (tolower((unsigned char)*p) - 'a' + 10));
            }
            if (cp < 0x80) {
                out[o++] = (char)cp;
            } else if (cp < 0x800) {
                out[o++] = (char)(0xC0 | (cp >> 6));
                out[o++] = (char)(0x80 | (cp & 0x3F));
            } else {
                out[o++] = (char)(0xE0 | (cp >> 12));
                out[o++] = (char)(0x80 | ((cp >> 6) & 0x3F));
                out[o++] = (char)(0x80 | (cp & 0x3F));
            }
            break;
        }
        default:
            out[o++] = e;
            break;
        }
    }
    out[o] = '\0';
    return o;
}

/* The string value of "key" in a flat JSON object text (unescaped). */
static int json_str(const char *data, size_t len, const char *key, char *out, size_t cap)
{
    char pat[64];
    snprintf(pat, sizeof(pat), "\"%s\":\"", key);
    const char *p = strstr(data, pat);
    if (p == NULL) {
        out[0] = '\0';
        return -1;
    }
    p += strlen(pat);
    json_unescape(p, data + len, out, cap);
    return 0;
}

/* ======================================================= session pool */

typedef struct bsess {
    char id[64];
    char token[192];
} bsess;

static bsess *g_pool;
static int g_npool, g_pool_made, g_pool_pending, g_pool_fail;
static int *g_freeq;
static int g_fq_head, g_fq_len;

static void fq_push(int s)
{
    g_freeq[(g_fq_head + g_fq_len) % g_npool] = s;
    g_fq_len++;
}
static int fq_pop(void)
{
    if (g_fq_len == 0) {
        return -1;
    }
    int s = g_freeq[g_fq_head];
    g_fq_head = (g_fq_head + 1) % g_npool;
    g_fq_len--;
    return s;
}

enum { K_SESSION = 1, K_CHAT = 2, K_RESUME = 3 };

#define CLIENT_IPS_MAX (1 << 24) /* --client-ips: addresses 10.0.0.1 .. 10.255.255.255 */
#define CLIENT_IP_LINE_MAX 48    /* "CF-Connecting-IP: 10.255.255.255\r\n" */
static int g_client_ips;         /* --client-ips N; 0: no header */

/* The CF-Connecting-IP header line of session j ("" without --client-ips). */
static void client_ip_line(int j, char out[CLIENT_IP_LINE_MAX])
{
    out[0] = '\0';
    if (g_client_ips > 0) {
        unsigned a = (unsigned)(j % g_client_ips) + 1;
        snprintf(out, CLIENT_IP_LINE_MAX, "CF-Connecting-IP: 10.%u.%u.%u\r\n", (a >> 16) & 255, (a >> 8) & 255,
                 a & 255);
    }
}

static void pool_send(conn *c)
{
    char req[256], ip[CLIENT_IP_LINE_MAX];
    client_ip_line(c->owner, ip);
    int n = snprintf(req, sizeof(req),
                     "POST /v1/sessions HTTP/1.1\r\nHost: %s\r\n%sContent-Type: application/json\r\n"
                     "Content-Length: 2\r\n\r\n{}",
                     g_host, ip);
    conn_request(c, req, (size_t)n);
}

/* Called by a mode's on_done for K_SESSION; returns 1 when handled. */
static int g_pool_next;
static void pool_on_done(conn *c)
{
    g_pool_pending--;
    if (c->status == 201) {
        bsess *s = &g_pool[c->owner];
        if (json_str(c->body, c->body_len, "session_id", s->id, sizeof(s->id)) == 0 &&
            json_str(c->body, c->body_len, "token", s->token, sizeof(s->token)) == 0) {
            g_pool_made++;
            fq_push(c->owner);
        } else {
            g_pool_fail++;
        }
    } else {
        g_pool_fail++;
    }
    if (g_pool_next < g_npool && !c->server_close) {
        c->owner = g_pool_next++;
        g_pool_pending++;
        c->reused = 1;
        pool_send(c);
    } else {
        conn_close(c);
    }
}

static void pool_on_fail(conn *c)
{
    if (c->resp_done) {
        return; /* an idle connection closed */
    }
    g_pool_pending--;
    g_pool_fail++;
}

static void pool_h_done(conn *c, int64_t t)
{
    (void)t;
    pool_on_done(c);
}
static void pool_h_fail(conn *c, const char *why, int64_t t)
{
    (void)why;
    (void)t;
    pool_on_fail(c);
}

/* Creates n sessions through POST /v1/sessions, `par` at a time. */
static void pool_create(int n, int par)
{
    g_npool = n;
    g_pool = xcalloc((size_t)n, sizeof(bsess));
    g_freeq = xcalloc((size_t)n, sizeof(int));
    g_pool_next = 0;
    handler saved = g_h;
    g_h = (handler){.on_done = pool_h_done, .on_fail = pool_h_fail};
    int64_t t0 = now_us();
    for (int i = 0; i < par && g_pool_next < n; i++) {
        conn *c = conn_open(g_pool_next, K_SESSION);
        if (c == NULL) {
            die("cannot open a connection: %s", strerror(errno));
        }
        c->owner = g_pool_next++;
        g_pool_pending++;
        pool_send(c);
    }
    while (g_pool_pending > 0 || g_pool_next < n) {
        loop_once(100);
        if (now_us() - t0 > 120 * 1000000LL) {
            die("creating %d sessions took over 120 s (%d made, %d failed)", n, g_pool_made, g_pool_fail);
        }
        /* keep `par` connections busy even after a failure */
        while (g_pool_pending < par && g_pool_next < n) {
            conn *c = conn_open(g_pool_next, K_SESSION);
            if (c == NULL) {
                break;
            }
            c->owner = g_pool_next++;
            g_pool_pending++;
            pool_send(c);
        }
    }
    /* close the idle keep-alive connections */
    g_h = saved;
    double s = (double)(now_us() - t0) / 1e6;
    printf("   sessions: %d created in %.2f s (%.0f/s)%s\n", g_pool_made, s, g_pool_made / (s > 0 ? s : 1),
           g_pool_fail ? " -- some failed" : "");
    summ("sessions_per_s", "%.0f", g_pool_made / (s > 0 ? s : 1));
    if (g_pool_fail > 0) {
        printf("   session creation failures: %d\n", g_pool_fail);
    }
    if (g_pool_made == 0) {
        die("no session could be created");
    }
}

/* ======================================================= turns (closed loop) */

static const char *const g_questions[] = {
    "How much does the Growth plan cost per month?",
    "Is there a free trial, and how long is it?",
    "Which integrations do you support?",
    "Do you offer single sign-on (SSO)?",
    "Where is my data stored?",
    "How do I contact support?",
    "Can I cancel my subscription at any time?",
    "What is included in the Enterprise plan?",
};
#define NQUESTIONS (sizeof(g_questions) / sizeof(g_questions[0]))

typedef struct conv {
    conn *c;
    int sess;
    int turns_in_sess;
    int active;   /* a turn is running */
    int recorded; /* this turn counts */
    int64_t t_sent, t_first, t_done;
    int got_done, got_error;
    char err[48];
    int64_t next_at; /* when to start the next turn (after an error) */
    int queued;      /* in the ready queue */
    unsigned q;
    /* relay lag, schedule method */
    size_t ntok;
    int in_word;
    double *dv;  /* per token event: arrival - schedule (us) */
    int64_t *dt; /* per token event: arrival time */
    size_t dn, dcap;
} conv;

typedef struct err_count {
    char kind[48];
    long n;
} err_count;

static struct {
    int conc, per_session, pool, stamps;
    double pace_ms, think_ms, duration_s, warmup_s, drain_s, turn_timeout_s;
    long max_turns;
    int rss_pid;
    conv *cv;
    int64_t t_start, t_warm, t_end;
    int stopping;
    long started, recorded, ok, failed, completed_in_window;
    long events_token, pings;
    long long tokens_received; /* words, schedule method */
    samples ttft, total, lag, lag_abs, first_lag;
    err_count errs[64];
    int nerr;
    long rss_start, rss_max, rss_end;
    long reconnects;
    long stamps_seen;
    int nactive;
    int *rq;
    int rq_head, rq_len;
} T;

static void rq_push(int i)
{
    if (T.cv[i].queued) {
        return;
    }
    T.cv[i].queued = 1;
    T.rq[(T.rq_head + T.rq_len) % T.conc] = i;
    T.rq_len++;
}

static int rq_pop(void)
{
    if (T.rq_len == 0) {
        return -1;
    }
    int i = T.rq[T.rq_head];
    T.rq_head = (T.rq_head + 1) % T.conc;
    T.rq_len--;
    T.cv[i].queued = 0;
    return i;
}

static void count_err(const char *kind)
{
    for (int i = 0; i < T.nerr; i++) {
        if (strcmp(T.errs[i].kind, kind) == 0) {
            T.errs[i].n++;
            return;
        }
    }
    if (T.nerr < 64) {
        snprintf(T.errs[T.nerr].kind, sizeof(T.errs[0].kind), "%s", kind);
        T.errs[T.nerr++].n = 1;
    }
}

static void turn_send(int i, int64_t t)
{
    conv *v = &T.cv[i];
    if (v->sess < 0 || v->turns_in_sess >= T.per_session) {
        if (v->sess >= 0) {
            fq_push(v->sess);
        }
        v->sess = fq_pop();
        v->turns_in_sess = 0;
        if (v->sess < 0) {
            die("session pool exhausted (raise --pool)");
        }
    }
    const char *q = g_questions[(v->q++ + (unsigned)i) % NQUESTIONS];
    char body[512];
    int bl = snprintf(body, sizeof(body), "{\"message\":\"%s\"}", q);
    char req[1024], ip[CLIENT_IP_LINE_MAX];
    client_ip_line(v->sess, ip);
    int n = snprintf(req, sizeof(req),
                     "POST /v1/chat HTTP/1.1\r\nHost: %s\r\n%sContent-Type: application/json\r\n"
                     "Accept: text/event-stream\r\nAuthorization: Bearer %s\r\nContent-Length: %d\r\n\r\n%s",
                     g_host, ip, g_pool[v->sess].token, bl, body);
    if (v->c == NULL || v->c->dead) {
        v->c = conn_open(i, K_CHAT);
        if (v->c == NULL) {
            count_err("conn_socket");
            v->next_at = t + 100000;
            return;
        }
        v->c->reused = 0;
    } else {
        v->c->reused = 1;
    }
    v->turns_in_sess++;
    v->active = 1;
    T.nactive++;
    v->recorded = !T.stopping && t >= T.t_warm;
    v->t_sent = 0;
    v->t_first = v->t_done = 0;
    v->got_done = v->got_error = 0;
    v->err[0] = '\0';
    v->ntok = 0;
    v->in_word = 0;
    v->dn = 0;
    T.started++;
    conn_request(v->c, req, (size_t)n);
}

/* Ends the turn of conversation i; schedules the next. */
static void turn_end(int i, int64_t t, const char *err)
{
    conv *v = &T.cv[i];
    if (!v->active) {
        return;
    }
    v->active = 0;
    T.nactive--;
    if (v->t_sent == 0 && v->c) {
        v->t_sent = v->c->t_sent;
    }
    int ok = err == NULL && v->got_done && !v->got_error;
    if (!ok && err == NULL && !v->got_error && !v->got_done) {
        err = "no_done";
    }
    if (v->recorded) {
        T.recorded++;
        if (ok) {
            T.ok++;
            if (v->t_first > 0) {
                samp_add(&T.ttft, (double)(v->t_first - v->t_sent) / 1000.0);
            }
            samp_add(&T.total, (double)(v->t_done - v->t_sent) / 1000.0);
        } else {
            T.failed++;
            count_err(err ? err : v->err);
        }
    }
    /* relay lag: every token event that arrived within the window, whatever
     * the turn (long answers start before the window) */
    if (T.pace_ms > 0 && v->dn > 0) {
        double mn = v->dv[0];
        for (size_t k = 1; k < v->dn; k++) {
            if (v->dv[k] < mn) {
                mn = v->dv[k];
            }
        }
        for (size_t k = 0; k < v->dn; k++) {
            if (v->dt[k] >= T.t_warm && v->dt[k] <= T.t_end) {
                samp_add(&T.lag, (v->dv[k] - mn) / 1000.0);
            }
        }
    }
    if (ok && v->t_done >= T.t_warm && v->t_done <= T.t_end) {
        T.completed_in_window++;
    }
    /* a short pause after an error (no tight error loop); --think-ms after a
     * success (the scan below starts it) */
    v->next_at = ok ? (T.think_ms > 0 ? t + (int64_t)(T.think_ms * 1000.0) : 0) : t + 20000;
    if (ok && v->next_at == 0) {
        rq_push(i);
    }
}

static void tokens_schedule(conv *v, const char *text, size_t n, int64_t t)
{
    size_t before = v->ntok;
    for (size_t k = 0; k < n; k++) {
        unsigned char b = (unsigned char)text[k];
        if (b < 0x80 && isspace(b)) {
            v->in_word = 0;
        } else if (b >= 0x80 || isalnum(b)) {
            if (!v->in_word) {
                v->ntok++;
                v->in_word = 1;
            }
        } else {
            v->ntok++;
            v->in_word = 0;
        }
    }
    if (v->ntok == before) {
        return;
    }
    if (t >= T.t_warm && t <= T.t_end) {
        T.tokens_received += (long long)(v->ntok - before);
    }
    double d = (double)t - ((double)v->ntok - 1.0) * T.pace_ms * 1000.0;
    if (v->dn == v->dcap) {
        v->dcap = v->dcap ? v->dcap * 2 : 256;
        v->dv = xrealloc(v->dv, v->dcap * sizeof(double));
        v->dt = xrealloc(v->dt, v->dcap * sizeof(int64_t));
    }
    v->dt[v->dn] = t;
    v->dv[v->dn++] = d;
}

static void tokens_stamps(const char *text, int64_t t)
{
    for (const char *p = strstr(text, "~T"); p != NULL; p = strstr(p + 2, "~T")) {
        long long us = strtoll(p + 2, NULL, 10);
        if (us > 0 && t >= T.t_warm && t <= T.t_end) {
            T.stamps_seen++;
            T.tokens_received++;
            samp_add(&T.lag_abs, (double)(t - us) / 1000.0);
        }
    }
}

static void turns_on_event(conn *c, const char *ev, const char *data, size_t len, int64_t t)
{
    conv *v = &T.cv[c->owner];
    if (strcmp(ev, "token") == 0) {
        if (t >= T.t_warm && t <= T.t_end) {
            T.events_token++;
        }
        if (v->t_first == 0) {
            v->t_first = t;
        }
        if (T.pace_ms > 0 || T.stamps) {
            static char text[300000];
            const char *p = strstr(data, "\"text\":\"");
            if (p != NULL) {
                size_t n = json_unescape(p + 8, data + len, text, sizeof(text));
                if (T.pace_ms > 0) {
                    tokens_schedule(v, text, n, t);
                }
                if (T.stamps) {
                    tokens_stamps(text, t);
                }
            }
        }
    } else if (strcmp(ev, "done") == 0) {
        v->got_done = 1;
        v->t_done = t;
    } else if (strcmp(ev, "error") == 0) {
        char code[40];
        json_str(data, len, "code", code, sizeof(code));
        v->got_error = 1;
        snprintf(v->err, sizeof(v->err), "event_%s", code[0] ? code : "?");
    }
}

static void turns_on_head(conn *c, int64_t t)
{
    (void)t;
    conv *v = &T.cv[c->owner];
    v->t_sent = c->t_sent;
}

static void turns_on_done(conn *c, int64_t t)
{
    int i = c->owner;
    conv *v = &T.cv[i];
    if (c->status != 200) {
        char k[32];
        snprintf(k, sizeof(k), "http_%d", c->status);
        turn_end(i, t, k);
    } else {
        turn_end(i, t, NULL);
    }
    if (c->server_close && v->c == c) {
        v->c = NULL;
        conn_close(c);
    }
}

static void turns_on_fail(conn *c, const char *why, int64_t t)
{
    int i = c->owner;
    conv *v = &T.cv[i];
    if (v->c != c) {
        return;
    }
    v->c = NULL;
    if (!v->active) {
        return; /* an idle keep-alive connection closed */
    }
    if (strcmp(why, "conn_keepalive_closed") == 0 && !c->got_any) {
        /* the server closed an idle keep-alive connection as we reused it:
         * not the turn's fault; send it again on a new connection */
        T.reconnects++;
        v->active = 0;
        T.nactive--;
        T.started--;
        v->turns_in_sess--;
        v->q--;
        v->next_at = 0;
        rq_push(i);
        return;
    }
    turn_end(i, t, why);
}

static void turns_sample_rss(void)
{
    if (T.rss_pid > 0) {
        long kb = proc_rss_kb(T.rss_pid);
        if (kb > T.rss_max) {
            T.rss_max = kb;
        }
    }
}

static int cmd_turns(int port)
{
    client_init(port);
    g_h = (handler){
        .on_head = turns_on_head, .on_event = turns_on_event, .on_done = turns_on_done, .on_fail = turns_on_fail};
    if (T.pool < T.conc) {
        T.pool = T.conc;
    }
    pool_create(T.pool, T.conc < 64 ? 64 : (T.conc > 256 ? 256 : T.conc));
    g_h = (handler){
        .on_head = turns_on_head, .on_event = turns_on_event, .on_done = turns_on_done, .on_fail = turns_on_fail};
    T.cv = xcalloc((size_t)T.conc, sizeof(conv));
    for (int i = 0; i < T.conc; i++) {
        T.cv[i].sess = -1;
    }
    T.t_start = now_us();
    T.t_warm = T.t_start + (int64_t)(T.warmup_s * 1e6);
    T.t_end = T.duration_s > 0 ? T.t_warm + (int64_t)(T.duration_s * 1e6) : INT64_MAX;
    T.rq = xcalloc((size_t)T.conc, sizeof(int));
    int measuring = 0;
    int64_t last_rss = 0, last_scan = 0;
    /* conversations start gradually (8 per loop round) so that the first
     * turns do not all collide */
    int launched = 0;
    for (;;) {
        int64_t t = now_us();
        if (!measuring && t >= T.t_warm) {
            measuring = 1;
            cpu_start();
            T.rss_start = T.rss_pid > 0 ? proc_rss_kb(T.rss_pid) : -1;
            T.rss_max = T.rss_start;
        }
        if (!T.stopping && (t >= T.t_end || (T.max_turns > 0 && T.recorded >= T.max_turns))) {
            T.stopping = 1;
            if (T.t_end == INT64_MAX) {
                T.t_end = t;
            }
            if (!measuring) {
                cpu_start();
            }
            cpu_stop();
            T.rss_end = T.rss_pid > 0 ? proc_rss_kb(T.rss_pid) : -1;
            if (T.rss_end > T.rss_max) {
                T.rss_max = T.rss_end;
            }
        }
        if (measuring && !T.stopping && t - last_rss > 250000) {
            turns_sample_rss();
            last_rss = t;
        }
        for (int k = 0; k < 8 && launched < T.conc; k++) {
            rq_push(launched++);
        }
        if (!T.stopping) {
            int i;
            while ((i = rq_pop()) >= 0) {
                turn_send(i, t);
            }
        }
        if (t - last_scan > (T.think_ms > 0 ? 20000 : 100000)) {
            last_scan = t;
            for (int i = 0; i < T.conc && i < launched; i++) {
                conv *v = &T.cv[i];
                if (v->active) {
                    if (v->c && v->c->t_sent > 0 && t - v->c->t_sent > (int64_t)(T.turn_timeout_s * 1e6)) {
                        conn *c = v->c;
                        v->c = NULL;
                        turn_end(i, t, "timeout");
                        conn_close(c);
                    }
                } else if (v->next_at != 0 && t >= v->next_at) {
                    v->next_at = 0;
                    rq_push(i);
                }
            }
        }
        if (T.stopping && T.nactive == 0) {
            break;
        }
        if (T.stopping && t - T.t_end > (int64_t)(T.drain_s * 1e6)) {
            for (int i = 0; i < T.conc; i++) {
                if (T.cv[i].active) {
                    turn_end(i, t, "timeout_drain");
                }
            }
            break;
        }
        loop_once(launched < T.conc ? 1 : 20);
    }
    for (int i = 0; i < T.conc; i++) {
        if (T.cv[i].c) {
            conn_close(T.cv[i].c);
        }
    }
    conn_bury();

    double win = (double)(T.t_end - T.t_warm) / 1e6;
    double tps = win > 0 ? (double)T.completed_in_window / win : 0;
    printf("   %d conversations, %.1f s measured (warm-up %.1f s): %ld turns recorded, %ld ok, %ld failed\n", T.conc,
           win, T.warmup_s, T.recorded, T.ok, T.failed);
    printf("   turns/s (done within the window):      %10.1f\n", tps);
    printf("   TTFT ms     p50 %8.3f  p90 %8.3f  p99 %8.3f  max %8.3f  (n=%zu)\n", samp_pct(&T.ttft, 50),
           samp_pct(&T.ttft, 90), samp_pct(&T.ttft, 99), samp_pct(&T.ttft, 100), T.ttft.n);
    printf("   to done ms  p50 %8.3f  p90 %8.3f  p99 %8.3f  max %8.3f\n", samp_pct(&T.total, 50),
           samp_pct(&T.total, 90), samp_pct(&T.total, 99), samp_pct(&T.total, 100));
    if (T.nerr > 0) {
        printf("   errors:");
        for (int i = 0; i < T.nerr; i++) {
            printf(" %s=%ld", T.errs[i].kind, T.errs[i].n);
        }
        printf("\n");
    } else {
        printf("   errors: none\n");
    }
    if (T.reconnects) {
        printf("   keep-alive connections closed by the server and redone: %ld\n", T.reconnects);
    }
    summ("conc", "%d", T.conc);
    summ("turns", "%ld", T.recorded);
    summ("ok", "%ld", T.ok);
    summ("failed", "%ld", T.failed);
    summ("turns_per_s", "%.1f", tps);
    summ("ttft_p50_ms", "%.3f", samp_pct(&T.ttft, 50));
    summ("ttft_p99_ms", "%.3f", samp_pct(&T.ttft, 99));
    summ("done_p50_ms", "%.3f", samp_pct(&T.total, 50));
    summ("done_p99_ms", "%.3f", samp_pct(&T.total, 99));
    {
        char eb[512] = "";
        size_t o = 0;
        for (int i = 0; i < T.nerr && o < sizeof(eb) - 64; i++) {
            o += (size_t)snprintf(eb + o, sizeof(eb) - o, "%s%s=%ld", i ? "," : "", T.errs[i].kind, T.errs[i].n);
        }
        summ("errors", "%s", o ? eb : "none");
    }
    if (T.pace_ms > 0 || T.stamps) {
        double words_s = win > 0 ? (double)T.tokens_received / win : 0;
        printf("   words received in the window: %lld (%.0f/s, %.1f/s per conversation)\n", T.tokens_received, words_s,
               words_s / T.conc);
        summ("words_per_s", "%.0f", words_s);
    }
    if (T.pace_ms > 0) {
        printf("   relay lag by schedule ms (beyond the turn's best word): p50 %.3f  p90 %.3f  p99 %.3f  max %.3f  "
               "(n=%zu)\n",
               samp_pct(&T.lag, 50), samp_pct(&T.lag, 90), samp_pct(&T.lag, 99), samp_pct(&T.lag, 100), T.lag.n);
        summ("lag_sched_p50_ms", "%.3f", samp_pct(&T.lag, 50));
        summ("lag_sched_p99_ms", "%.3f", samp_pct(&T.lag, 99));
    }
    if (T.stamps) {
        printf("   relay lag, fake stamp -> reader ms:  p50 %.3f  p90 %.3f  p99 %.3f  max %.3f  (n=%zu)\n",
               samp_pct(&T.lag_abs, 50), samp_pct(&T.lag_abs, 90), samp_pct(&T.lag_abs, 99), samp_pct(&T.lag_abs, 100),
               T.lag_abs.n);
        summ("lag_abs_p50_ms", "%.3f", samp_pct(&T.lag_abs, 50));
        summ("lag_abs_p99_ms", "%.3f", samp_pct(&T.lag_abs, 99));
        summ("lag_abs_n", "%zu", T.lag_abs.n);
    }
    printf("   token events in the window: %ld (%.0f/s)\n", T.events_token, win > 0 ? T.events_token / win : 0);
    summ("token_events_per_s", "%.0f", win > 0 ? T.events_token / win : 0);
    if (T.rss_pid > 0) {
        printf("   gateway VmRSS: %.1f MB at window start, %.1f MB peak, %.1f MB at the end\n", T.rss_start / 1024.0,
               T.rss_max / 1024.0, T.rss_end / 1024.0);
        summ("rss_start_mb", "%.1f", T.rss_start / 1024.0);
        summ("rss_peak_mb", "%.1f", T.rss_max / 1024.0);
        summ("rss_end_mb", "%.1f", T.rss_end / 1024.0);
    }
    if (g_ncpu > 0) {
        double wall = g_cpu_t1_s - g_cpu_t0_s;
        long hz = sysconf(_SC_CLK_TCK);
        double units = (double)T.completed_in_window;
        double evs = (double)T.events_token;
        printf("   CPU over the window: %% of one core, CPU ms per turn done in the window%s\n",
               evs > 0 ? ", CPU us per token event" : "");
        double total = 0;
        for (int i = 0; i <= g_ncpu; i++) {
            const char *name = i < g_ncpu ? g_cpu[i].name : "bench_chat";
            double s = i < g_ncpu ? (double)(g_cpu[i].t1 - g_cpu[i].t0) / (double)hz : g_self_cpu_s;
            total += s;
            printf("     %-14s %6.1f%%   %7.3f ms/turn", name, 100.0 * s / wall, units > 0 ? 1000.0 * s / units : 0);
            if (evs > 0) {
                printf("   %7.1f us/event", 1e6 * s / evs);
            }
            printf("\n");
            char k[800];
            snprintf(k, sizeof(k), "cpu_pct_%s", name);
            summ(k, "%.1f", 100.0 * s / wall);
            snprintf(k, sizeof(k), "cpu_ms_turn_%s", name);
            summ(k, "%.3f", units > 0 ? 1000.0 * s / units : 0);
        }
        printf("     %-14s %6.1f%%   %7.3f ms/turn", "total", 100.0 * total / wall,
               units > 0 ? 1000.0 * total / units : 0);
        if (evs > 0) {
            printf("   %7.1f us/event", 1e6 * total / evs);
        }
        printf("   (machine: %ld cores = %d%%)\n", sysconf(_SC_NPROCESSORS_ONLN),
               (int)(100 * sysconf(_SC_NPROCESSORS_ONLN)));
        double busy = sys_busy_pct();
        if (busy >= 0) {
            /* kernel time on behalf of nobody in particular (softirq
             * networking) is in `busy` but in no process */
            printf("     machine busy %.0f%%; not accounted to the processes above: %.0f%%%s\n", busy,
                   busy - 100.0 * total / wall,
                   busy - 100.0 * total / wall > 40 ? "  <- other load on the machine? figures may be perturbed" : "");
            summ("machine_busy_pct", "%.0f", busy);
            summ("machine_other_pct", "%.0f", busy - 100.0 * total / wall);
        }
    }
    return 0;
}

/* ======================================================= streams (open, idle) */

typedef struct lturn {
    int sess;
    char tid[48];
    unsigned long last_id;
    int ready;
    int64_t t_first_done;
} lturn;

typedef struct rdr {
    conn *c;
    int turn;
    int is_origin; /* the POST /v1/chat stream itself */
    int open;      /* 200 head received, not closed */
    int status;
    int64_t t_open, t_closed;
    long pings_total, pings_window;
    int64_t last_ping, max_gap_window;
    int64_t t_done;
    int got_done;
    long tokens;
    char closed_why[40];
} rdr;

static struct {
    int nturns, nreaders;
    double hold_until_s, finish_s, attach_timeout_s, heartbeat_s;
    int rss_pid;
    lturn *lt;
    rdr *rd; /* nturns origins first, then readers */
    int nrd;
    int64_t t_turns, hold_start, hold_end;
    int in_hold;
    int pending; /* connecting, no head yet */
    long attach_fail;
    err_count errs[64];
    int nerr;
} S;

static void s_count_err(const char *kind)
{
    for (int i = 0; i < S.nerr; i++) {
        if (strcmp(S.errs[i].kind, kind) == 0) {
            S.errs[i].n++;
            return;
        }
    }
    if (S.nerr < 64) {
        snprintf(S.errs[S.nerr].kind, sizeof(S.errs[0].kind), "%s", kind);
        S.errs[S.nerr++].n = 1;
    }
}

static void streams_on_head(conn *c, int64_t t)
{
    rdr *r = &S.rd[c->owner];
    S.pending--;
    r->status = c->status;
    if (c->status == 200) {
        r->open = 1;
        r->t_open = t;
        r->last_ping = t;
    } else {
        char k[32];
        snprintf(k, sizeof(k), "http_%d", c->status);
        s_count_err(k);
        S.attach_fail++;
    }
}

static void streams_on_event(conn *c, const char *ev, const char *data, size_t len, int64_t t)
{
    (void)len;
    rdr *r = &S.rd[c->owner];
    lturn *l = &S.lt[r->turn];
    if (r->is_origin && strcmp(ev, "meta") == 0) {
        json_str(data, len, "turn_id", l->tid, sizeof(l->tid));
    }
    if (r->is_origin && strcmp(ev, "sources") == 0) {
        l->last_id = c->last_id;
        l->ready = 1;
    }
    if (strcmp(ev, "token") == 0) {
        r->tokens++;
    }
    if (strcmp(ev, "done") == 0) {
        r->got_done = 1;
        r->t_done = t;
        if (l->t_first_done == 0 || t < l->t_first_done) {
            l->t_first_done = t;
        }
    }
    if (strcmp(ev, "error") == 0) {
        char code[40];
        json_str(data, len, "code", code, sizeof(code));
        char k[64];
        snprintf(k, sizeof(k), "event_%s", code);
        s_count_err(k);
    }
}

static void streams_on_ping(conn *c, int64_t t)
{
    rdr *r = &S.rd[c->owner];
    r->pings_total++;
    if (S.in_hold && t >= S.hold_start) {
        r->pings_window++;
        int64_t gap = t - (r->last_ping > S.hold_start ? r->last_ping : S.hold_start);
        if (gap > r->max_gap_window) {
            r->max_gap_window = gap;
        }
    }
    r->last_ping = t;
}

static void streams_on_done(conn *c, int64_t t)
{
    rdr *r = &S.rd[c->owner];
    if (r->open) {
        r->open = 0;
        r->t_closed = t;
        snprintf(r->closed_why, sizeof(r->closed_why), "%s", r->got_done ? "ended_after_done" : "ended");
    }
    r->c = NULL;
    conn_close(c);
}

static void streams_on_fail(conn *c, const char *why, int64_t t)
{
    rdr *r = &S.rd[c->owner];
    if (!c->head_done) {
        S.pending--;
        S.attach_fail++;
        s_count_err(why);
    }
    if (r->open) {
        r->open = 0;
        r->t_closed = t;
        snprintf(r->closed_why, sizeof(r->closed_why), "%s", why);
    }
    r->c = NULL;
}

static int streams_open_count(void)
{
    int n = 0;
    for (int i = 0; i < S.nrd; i++) {
        n += S.rd[i].open;
    }
    return n;
}

static int cmd_streams(int port)
{
    client_init(port);
    long rss_base = S.rss_pid > 0 ? proc_rss_kb(S.rss_pid) : -1;
    pool_create(S.nturns, 64);
    if (g_pool_made < S.nturns) {
        die("only %d of %d sessions", g_pool_made, S.nturns);
    }
    g_h = (handler){.on_head = streams_on_head,
                    .on_event = streams_on_event,
                    .on_ping = streams_on_ping,
                    .on_done = streams_on_done,
                    .on_fail = streams_on_fail};
    S.lt = xcalloc((size_t)S.nturns, sizeof(lturn));
    S.nrd = S.nturns + S.nreaders;
    S.rd = xcalloc((size_t)S.nrd, sizeof(rdr));

    /* 1. the long turns */
    S.t_turns = now_us();
    for (int i = 0; i < S.nturns; i++) {
        S.lt[i].sess = fq_pop();
        rdr *r = &S.rd[i];
        r->turn = i;
        r->is_origin = 1;
        r->c = conn_open(i, K_CHAT);
        if (r->c == NULL) {
            die("cannot open a connection");
        }
        const char *body = "{\"message\":\"Tell me everything about your product, in detail.\"}";
        char req[1024];
        int n = snprintf(req, sizeof(req),
                         "POST /v1/chat HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
                         "Accept: text/event-stream\r\nAuthorization: Bearer %s\r\nContent-Length: %zu\r\n\r\n%s",
                         g_host, g_pool[S.lt[i].sess].token, strlen(body), body);
        S.pending++;
        conn_request(r->c, req, (size_t)n);
    }
    int ready = 0;
    while (ready < S.nturns) {
        loop_once(50);
        ready = 0;
        for (int i = 0; i < S.nturns; i++) {
            ready += S.lt[i].ready;
        }
        if (now_us() - S.t_turns > 30 * 1000000LL) {
            die("only %d of %d long turns started within 30 s", ready, S.nturns);
        }
    }
    printf("   %d long turns started (meta + sources received) in %.2f s\n", S.nturns,
           (double)(now_us() - S.t_turns) / 1e6);

    /* 2. attach the readers, at most 256 connecting at once (the gateway's
     * listen backlog is 1024) */
    int64_t ta = now_us();
    int next = 0;
    while (next < S.nreaders || S.pending > 0) {
        while (next < S.nreaders && S.pending < 256) {
            int idx = S.nturns + next;
            rdr *r = &S.rd[idx];
            r->turn = next % S.nturns;
            lturn *l = &S.lt[r->turn];
            r->c = conn_open(idx, K_RESUME);
            if (r->c == NULL) {
                s_count_err("conn_socket");
                S.attach_fail++;
                next++;
                continue;
            }
            char req[512];
            int n = snprintf(req, sizeof(req),
                             "GET /v1/chat/%s/events HTTP/1.1\r\nHost: %s\r\nAccept: text/event-stream\r\n"
                             "Authorization: Bearer %s\r\nLast-Event-ID: %lu\r\n\r\n",
                             l->tid, g_host, g_pool[l->sess].token, l->last_id);
            S.pending++;
            conn_request(r->c, req, (size_t)n);
            next++;
        }
        loop_once(5);
        if (now_us() - ta > (int64_t)(S.attach_timeout_s * 1e6)) {
            printf("   attach: timed out after %.0f s with %d connecting\n", S.attach_timeout_s, S.pending);
            break;
        }
    }
    double attach_s = (double)(now_us() - ta) / 1e6;
    int open_after_attach = streams_open_count();
    printf("   %d readers attached via GET /v1/chat/{id}/events in %.2f s (%ld failed); streams open: %d\n",
           S.nreaders - (int)S.attach_fail, attach_s, S.attach_fail, open_after_attach);
    summ("attach_s", "%.2f", attach_s);
    summ("attach_failed", "%ld", S.attach_fail);

    /* 3. hold */
    S.hold_start = now_us();
    S.in_hold = 1;
    int64_t until = S.t_turns + (int64_t)(S.hold_until_s * 1e6);
    if (until < S.hold_start + 5000000) {
        printf("   warning: the hold window is short (attach took long)\n");
        until = S.hold_start + 5000000;
    }
    cpu_start();
    long rss0 = S.rss_pid > 0 ? proc_rss_kb(S.rss_pid) : -1, rssmax = rss0;
    int64_t last = 0;
    while (now_us() < until) {
        loop_once(50);
        int64_t t = now_us();
        if (t - last > 500000 && S.rss_pid > 0) {
            long kb = proc_rss_kb(S.rss_pid);
            if (kb > rssmax) {
                rssmax = kb;
            }
            last = t;
        }
    }
    S.hold_end = now_us();
    S.in_hold = 0;
    cpu_stop();
    long rss1 = S.rss_pid > 0 ? proc_rss_kb(S.rss_pid) : -1;
    if (rss1 > rssmax) {
        rssmax = rss1;
    }
    double win = (double)(S.hold_end - S.hold_start) / 1e6;
    int open_end = streams_open_count();
    /* gaps: also the time since the last ping at the end of the window */
    samples pings = {0}, gaps = {0};
    long zero = 0, tokens_early = 0;
    for (int i = 0; i < S.nrd; i++) {
        rdr *r = &S.rd[i];
        if (!r->open) {
            continue;
        }
        int64_t tail = S.hold_end - (r->last_ping > S.hold_start ? r->last_ping : S.hold_start);
        if (tail > r->max_gap_window) {
            r->max_gap_window = tail;
        }
        samp_add(&pings, (double)r->pings_window);
        samp_add(&gaps, (double)r->max_gap_window / 1e6);
        zero += r->pings_window == 0;
        tokens_early += r->tokens > 0;
    }
    int closed_in_hold = 0;
    for (int i = 0; i < S.nrd; i++) {
        closed_in_hold += S.rd[i].t_closed > 0 && S.rd[i].t_closed <= S.hold_end;
    }
    double expect = win / S.heartbeat_s;
    printf("   hold window %.1f s: %d of %d streams still open (%d closed during the hold)\n", win, open_end, S.nrd,
           closed_in_hold);
    printf("   heartbeats per open stream in the window: mean %.2f  min %.0f  p50 %.0f  max %.0f "
           "(every %.0f s would give ~%.0f); streams with none: %ld\n",
           samp_mean(&pings), samp_pct(&pings, 0), samp_pct(&pings, 50), samp_pct(&pings, 100), S.heartbeat_s, expect,
           zero);
    printf("   longest silence per stream in the window s: p50 %.1f  p99 %.1f  max %.1f\n", samp_pct(&gaps, 50),
           samp_pct(&gaps, 99), samp_pct(&gaps, 100));
    if (tokens_early) {
        printf("   note: %ld streams already got tokens during the hold (first_token_delay too short)\n", tokens_early);
    }
    if (S.rss_pid > 0) {
        printf("   gateway VmRSS: %.1f MB before, %.1f MB at hold start, %.1f MB peak (%.1f KB per open stream)\n",
               rss_base / 1024.0, rss0 / 1024.0, rssmax / 1024.0,
               open_end ? (double)(rssmax - rss_base) / open_end : 0);
        summ("rss_kb_per_stream", "%.1f", open_end ? (double)(rssmax - rss_base) / open_end : 0);
    }
    if (g_ncpu > 0) {
        long hz = sysconf(_SC_CLK_TCK);
        for (int i = 0; i < g_ncpu; i++) {
            double s = (double)(g_cpu[i].t1 - g_cpu[i].t0) / (double)hz;
            printf("   CPU %s during the hold: %.1f%% of one core\n", g_cpu[i].name, 100.0 * s / win);
            char k[800];
            snprintf(k, sizeof(k), "hold_cpu_pct_%s", g_cpu[i].name);
            summ(k, "%.1f", 100.0 * s / win);
        }
    }
    if (sys_busy_pct() >= 0) {
        printf("   machine busy during the hold: %.0f%% (of %ld00%%)\n", sys_busy_pct(), sysconf(_SC_NPROCESSORS_ONLN));
    }
    summ("streams", "%d", S.nrd);
    summ("open_end", "%d", open_end);
    summ("closed_in_hold", "%d", closed_in_hold);
    summ("hold_s", "%.1f", win);
    summ("pings_mean", "%.2f", samp_mean(&pings));
    summ("pings_min", "%.0f", samp_pct(&pings, 0));
    summ("pings_max", "%.0f", samp_pct(&pings, 100));
    summ("pings_expected", "%.0f", expect);
    summ("zero_ping_streams", "%ld", zero);
    summ("max_silence_p50_s", "%.1f", samp_pct(&gaps, 50));
    summ("max_silence_max_s", "%.1f", samp_pct(&gaps, 100));
    summ("rss_mb", "%.1f", rssmax / 1024.0);

    /* 4. the answers arrive: how long after the first reader of a turn
     * does each reader get `done`? */
    if (S.finish_s > 0) {
        int64_t fin_until = 0;
        int64_t tf = now_us();
        for (;;) {
            loop_once(50);
            int64_t t = now_us();
            int any = 0, all = 1;
            for (int i = 0; i < S.nturns; i++) {
                any |= S.lt[i].t_first_done > 0;
            }
            for (int i = 0; i < S.nrd; i++) {
                if (S.rd[i].status == 200 && !S.rd[i].got_done) {
                    all = 0;
                    break;
                }
            }
            if (any && fin_until == 0) {
                fin_until = t + (int64_t)(S.finish_s * 1e6);
            }
            if (all || (fin_until && t >= fin_until) || t - tf > (int64_t)((S.finish_s + 120) * 1e6)) {
                break;
            }
        }
        samples wait = {0};
        long missing = 0, got = 0;
        for (int i = 0; i < S.nrd; i++) {
            rdr *r = &S.rd[i];
            if (r->status != 200) {
                continue;
            }
            if (r->got_done) {
                got++;
                samp_add(&wait, (double)(r->t_done - S.lt[r->turn].t_first_done) / 1000.0);
            } else {
                missing++;
            }
        }
        printf("   answers released: %ld streams got `done`, %ld did not within %.0f s of the first;\n", got, missing,
               S.finish_s);
        printf("   delay after the first reader of the same turn, ms: p50 %.1f  p90 %.1f  p99 %.1f  max %.1f\n",
               samp_pct(&wait, 50), samp_pct(&wait, 90), samp_pct(&wait, 99), samp_pct(&wait, 100));
        summ("done_got", "%ld", got);
        summ("done_missing", "%ld", missing);
        summ("done_delay_p50_ms", "%.1f", samp_pct(&wait, 50));
        summ("done_delay_p99_ms", "%.1f", samp_pct(&wait, 99));
        summ("done_delay_max_ms", "%.1f", samp_pct(&wait, 100));
    }
    if (S.nerr) {
        printf("   errors:");
        for (int i = 0; i < S.nerr; i++) {
            printf(" %s=%ld", S.errs[i].kind, S.errs[i].n);
        }
        printf("\n");
    }
    {
        /* why streams closed, if they did before the end */
        err_count why[16];
        int nw = 0;
        for (int i = 0; i < S.nrd; i++) {
            rdr *r = &S.rd[i];
            if (r->t_closed == 0 || r->t_closed > S.hold_end) {
                continue;
            }
            int k;
            for (k = 0; k < nw && strcmp(why[k].kind, r->closed_why) != 0; k++) {
            }
            if (k == nw && nw < 16) {
                snprintf(why[nw].kind, sizeof(why[0].kind), "%s", r->closed_why);
                why[nw++].n = 0;
            }
            if (k < 16) {
                why[k].n++;
            }
        }
        if (nw) {
            printf("   closed before the end of the hold:");
            for (int k = 0; k < nw; k++) {
                printf(" %s=%ld", why[k].kind, why[k].n);
            }
            printf("\n");
        }
    }
    for (int i = 0; i < S.nrd; i++) {
        if (S.rd[i].c) {
            conn_close(S.rd[i].c);
        }
    }
    conn_bury();
    return 0;
}

/* ======================================================= RPC baselines */

typedef struct base_cfg {
    rpc_client *session, *retrieval, *llm;
    int calls, threads;
    double seconds;
    Chat__Retrieval__SearchReply *sources; /* for Generate */
} base_cfg;
static base_cfg B;

typedef struct bsess_rpc {
    char *id, *token, *ckpt;
} bsess_rpc;

static int base_create(bsess_rpc *s)
{
    Chat__Session__CreateRequest rq = CHAT__SESSION__CREATE_REQUEST__INIT;
    rq.ip_hash = "bench";
    rq.origin = "";
    rq.locale = "en";
    rq.user_agent = "bench_chat";
    rpc_result res;
    if (rpc_call_sync(B.session, "Create", &rq.base, 5000, NULL, &res) != RPC_OK) {
        fprintf(stderr, "session.Create: %s %s\n", rpc_code_name(res.code), res.message);
        return -1;
    }
    Chat__Session__CreateReply *r = (Chat__Session__CreateReply *)res.reply;
    s->id = strdup(r->session_id);
    s->token = strdup(r->token);
    s->ckpt = strdup("");
    protobuf_c_message_free_unpacked(res.reply, NULL);
    return 0;
}

static atomic_long g_seq;

/* One Begin + Commit; times in us (begin, commit). 0 ok. */
static int base_turn(bsess_rpc *s, double *tb, double *tc)
{
    char tid[48];
    snprintf(tid, sizeof(tid), "t_bench%ld", atomic_fetch_add(&g_seq, 1));
    Chat__Session__BeginRequest b = CHAT__SESSION__BEGIN_REQUEST__INIT;
    b.session_id = s->id;
    b.token = s->token;
    b.turn_id = tid;
    b.user_message = (char *)g_questions[0];
    b.ip_hash = "bench";
    rpc_result res;
    int64_t t0 = now_us();
    if (rpc_call_sync(B.session, "Begin", &b.base, 5000, NULL, &res) != RPC_OK) {
        fprintf(stderr, "session.Begin: %s %s\n", rpc_code_name(res.code), res.message);
        return -1;
    }
    int64_t t1 = now_us();
    Chat__Session__BeginReply *br = (Chat__Session__BeginReply *)res.reply;
    char parent[128];
    snprintf(parent, sizeof(parent), "%s", br->checkpoint_id);
    protobuf_c_message_free_unpacked(res.reply, NULL);

    Chat__Common__ChatMessage user = CHAT__COMMON__CHAT_MESSAGE__INIT, bot = CHAT__COMMON__CHAT_MESSAGE__INIT;
    user.role = "user";
    user.content = (char *)g_questions[0];
    user.turn_id = tid;
    bot.role = "assistant";
    bot.content = "The Growth plan costs 299 euros per month, billed monthly or yearly, and includes up to ten seats, "
                  "all integrations and priority support [1]. A 14-day free trial is available without a credit card "
                  "[2]. If you want, I can connect you with our team to discuss your needs.";
    bot.turn_id = tid;
    bot.stop_reason = "end_turn";
    Chat__Common__ChatMessage *msgs[2] = {&user, &bot};
    Chat__Common__Usage usage = CHAT__COMMON__USAGE__INIT;
    usage.provider = "offline";
    usage.model = "offline";
    usage.input_tokens = 900;
    usage.output_tokens = 60;
    Chat__Common__LeadState lead = CHAT__COMMON__LEAD_STATE__INIT;
    Chat__Session__CommitRequest c = CHAT__SESSION__COMMIT_REQUEST__INIT;
    c.session_id = s->id;
    c.turn_id = tid;
    c.parent_checkpoint_id = parent;
    c.n_messages = 2;
    c.messages = msgs;
    c.usage = &usage;
    c.lead = &lead;
    int64_t t2 = now_us();
    if (rpc_call_sync(B.session, "Commit", &c.base, 5000, NULL, &res) != RPC_OK) {
        fprintf(stderr, "session.Commit: %s %s\n", rpc_code_name(res.code), res.message);
        return -1;
    }
    int64_t t3 = now_us();
    protobuf_c_message_free_unpacked(res.reply, NULL);
    *tb = (double)(t1 - t0);
    *tc = (double)(t3 - t2);
    return 0;
}

static int base_search(unsigned q, double *us, Chat__Retrieval__SearchReply **keep)
{
    Chat__Retrieval__SearchRequest rq = CHAT__RETRIEVAL__SEARCH_REQUEST__INIT;
    rq.query = (char *)g_questions[q % NQUESTIONS];
    rq.k = 5;
    rpc_result res;
    int64_t t0 = now_us();
    if (rpc_call_sync(B.retrieval, "Search", &rq.base, 5000, NULL, &res) != RPC_OK) {
        fprintf(stderr, "retrieval.Search: %s %s\n", rpc_code_name(res.code), res.message);
        return -1;
    }
    *us = (double)(now_us() - t0);
    if (keep) {
        *keep = (Chat__Retrieval__SearchReply *)res.reply;
    } else {
        protobuf_c_message_free_unpacked(res.reply, NULL);
    }
    return 0;
}

/* Generate + Poll until done: first delta and total, us. */
static int base_generate(unsigned q, double *first_us, double *total_us)
{
    char tid[48];
    snprintf(tid, sizeof(tid), "t_benchg%ld", atomic_fetch_add(&g_seq, 1));
    Chat__Llm__GenerateRequest rq = CHAT__LLM__GENERATE_REQUEST__INIT;
    rq.session_id = "s_bench";
    rq.turn_id = tid;
    rq.user_message = (char *)g_questions[q % NQUESTIONS];
    rq.user_hash = "bench";
    rq.locale = "";
    if (B.sources) {
        rq.n_sources = B.sources->n_results;
        rq.sources = B.sources->results;
    }
    rpc_result res;
    int64_t t0 = now_us();
    if (rpc_call_sync(B.llm, "Generate", &rq.base, 5000, NULL, &res) != RPC_OK) {
        fprintf(stderr, "llm.Generate: %s %s\n", rpc_code_name(res.code), res.message);
        return -1;
    }
    Chat__Llm__GenerateReply *g = (Chat__Llm__GenerateReply *)res.reply;
    char sid[256];
    snprintf(sid, sizeof(sid), "%s", g->stream_id);
    protobuf_c_message_free_unpacked(res.reply, NULL);
    uint32_t after = 0;
    int64_t first = 0;
    for (int i = 0; i < 10000; i++) {
        Chat__Llm__PollRequest p = CHAT__LLM__POLL_REQUEST__INIT;
        p.stream_id = sid;
        p.after_seq = after;
        p.max_wait_ms = 10000;
        if (rpc_call_sync(B.llm, "Poll", &p.base, 15000, NULL, &res) != RPC_OK) {
            fprintf(stderr, "llm.Poll: %s %s\n", rpc_code_name(res.code), res.message);
            return -1;
        }
        Chat__Llm__PollReply *pr = (Chat__Llm__PollReply *)res.reply;
        for (size_t k = 0; k < pr->n_deltas; k++) {
            if (pr->deltas[k]->seq > after) {
                after = pr->deltas[k]->seq;
            }
            if (first == 0 && pr->deltas[k]->kind == CHAT__LLM__DELTA_KIND__TEXT) {
                first = now_us();
            }
        }
        int done = pr->done;
        protobuf_c_message_free_unpacked(res.reply, NULL);
        if (done) {
            break;
        }
    }
    int64_t t1 = now_us();
    *first_us = (double)((first ? first : t1) - t0);
    *total_us = (double)(t1 - t0);
    return 0;
}

typedef enum { BW_SEARCH, BW_TURN, BW_GEN } base_what;
typedef struct base_thr {
    pthread_t th;
    base_what what;
    int idx;
    long done, fail;
    int64_t stop_at;
    bsess_rpc *sess;
    int nsess;
} base_thr;

static void *base_thread(void *arg)
{
    base_thr *t = arg;
    unsigned q = (unsigned)t->idx;
    int si = 0;
    while (now_us() < t->stop_at) {
        double a, b;
        int rc;
        if (t->what == BW_SEARCH) {
            rc = base_search(q++, &a, NULL);
        } else if (t->what == BW_TURN) {
            rc = base_turn(&t->sess[si], &a, &b);
            si = (si + 1) % t->nsess;
        } else {
            rc = base_generate(q++, &a, &b);
        }
        if (rc == 0) {
            t->done++;
        } else {
            t->fail++;
        }
    }
    return NULL;
}

static double base_throughput(base_what what, int threads, double seconds, bsess_rpc *sess, int per_thread, long *fails)
{
    base_thr *th = xcalloc((size_t)threads, sizeof(base_thr));
    int64_t t0 = now_us();
    int64_t stop = t0 + (int64_t)(seconds * 1e6);
    for (int i = 0; i < threads; i++) {
        th[i].what = what;
        th[i].idx = i;
        th[i].stop_at = stop;
        th[i].sess = sess ? sess + i * per_thread : NULL;
        th[i].nsess = per_thread;
        pthread_create(&th[i].th, NULL, base_thread, &th[i]);
    }
    long done = 0, fail = 0;
    for (int i = 0; i < threads; i++) {
        pthread_join(th[i].th, NULL);
        done += th[i].done;
        fail += th[i].fail;
    }
    double s = (double)(now_us() - t0) / 1e6;
    free(th);
    *fails = fail;
    return (double)done / s;
}

/* CPU ms per call of each watched process over the last cpu window. */
static void base_cpu_line(const char *what, double calls, const char *key)
{
    if (g_ncpu == 0 || calls <= 0) {
        return;
    }
    long hz = sysconf(_SC_CLK_TCK);
    printf("      CPU per %s:", what);
    for (int i = 0; i <= g_ncpu; i++) {
        const char *name = i < g_ncpu ? g_cpu[i].name : "caller";
        double sec = i < g_ncpu ? (double)(g_cpu[i].t1 - g_cpu[i].t0) / (double)hz : g_self_cpu_s;
        if (sec <= 0) {
            continue;
        }
        printf(" %s %.3f ms", name, 1000.0 * sec / calls);
        char k[800];
        snprintf(k, sizeof(k), "%s_cpu_ms_%s", key, name);
        summ(k, "%.3f", 1000.0 * sec / calls);
    }
    printf("\n");
}

static rpc_client *base_open(const ProtobufCServiceDescriptor *d, const char *url)
{
    rpc_client *c = NULL;
    char err[256];
    rpc_client_opts co = {.secret = getenv("RPC_SECRET")};
    if (rpc_client_open(&c, d, url, &co, err, sizeof(err)) != 0) {
        die("rpc client %s: %s", url, err);
    }
    /* wait for the connection */
    for (int i = 0; i < 500 && !rpc_client_connected(c); i++) {
        usleep(10000);
    }
    return c;
}

static int cmd_baseline(const char *su, const char *ru, const char *lu)
{
    B.session = base_open(&chat__session__session__descriptor, su);
    B.retrieval = base_open(&chat__retrieval__retrieval__descriptor, ru);
    B.llm = base_open(&chat__llm__llm__descriptor, lu);
    int failed = 0;
    double us, a, b;

    /* retrieval.Search */
    samples s1 = {0};
    for (int i = 0; i < 50; i++) {
        if (base_search((unsigned)i, &us, NULL) != 0) {
            die("retrieval.Search failed");
        }
    }
    for (int i = 0; i < B.calls; i++) {
        if (base_search((unsigned)i, &us, NULL) == 0) {
            samp_add(&s1, us / 1000.0);
        } else {
            failed++;
        }
    }
    long f1 = 0;
    cpu_start();
    double tp1 = base_throughput(BW_SEARCH, B.threads, B.seconds, NULL, 0, &f1);
    cpu_stop();
    printf("   retrieval.Search (hybrid, k=5), rpc_call_sync:  1 caller p50 %.3f ms  p99 %.3f ms;"
           "  %d threads: %.0f calls/s%s\n",
           samp_pct(&s1, 50), samp_pct(&s1, 99), B.threads, tp1, f1 ? " (some failed)" : "");
    summ("search_p50_ms", "%.3f", samp_pct(&s1, 50));
    summ("search_p99_ms", "%.3f", samp_pct(&s1, 99));
    summ("search_per_s", "%.0f", tp1);
    base_cpu_line("Search", tp1 * (g_cpu_t1_s - g_cpu_t0_s), "search");

    /* session.Begin + Commit */
    int per_thread = 50;
    int nsess = per_thread * (B.threads > 0 ? B.threads : 1);
    bsess_rpc *sess = xcalloc((size_t)nsess, sizeof(bsess_rpc));
    for (int i = 0; i < nsess; i++) {
        if (base_create(&sess[i]) != 0) {
            die("session.Create failed");
        }
    }
    samples sb = {0}, sc = {0}, sbc = {0};
    for (int i = 0; i < 20; i++) {
        base_turn(&sess[i % nsess], &a, &b);
    }
    for (int i = 0; i < B.calls; i++) {
        if (base_turn(&sess[i % nsess], &a, &b) == 0) {
            samp_add(&sb, a / 1000.0);
            samp_add(&sc, b / 1000.0);
            samp_add(&sbc, (a + b) / 1000.0);
        } else {
            failed++;
        }
    }
    long f2 = 0;
    cpu_start();
    double tp2 = base_throughput(BW_TURN, B.threads, B.seconds, sess, per_thread, &f2);
    cpu_stop();
    printf(
        "   session.Begin + Commit, rpc_call_sync:        1 caller p50 %.3f ms (Begin %.3f + Commit %.3f)  p99 %.3f ms;"
        "  %d threads: %.0f pairs/s%s\n",
        samp_pct(&sbc, 50), samp_pct(&sb, 50), samp_pct(&sc, 50), samp_pct(&sbc, 99), B.threads, tp2,
        f2 ? " (some failed)" : "");
    summ("begin_p50_ms", "%.3f", samp_pct(&sb, 50));
    summ("commit_p50_ms", "%.3f", samp_pct(&sc, 50));
    summ("begin_commit_p50_ms", "%.3f", samp_pct(&sbc, 50));
    summ("begin_commit_p99_ms", "%.3f", samp_pct(&sbc, 99));
    summ("begin_commit_per_s", "%.0f", tp2);
    base_cpu_line("Begin+Commit", tp2 * (g_cpu_t1_s - g_cpu_t0_s), "begin_commit");

    /* the same in one session as its conversation grows: Begin parses the
     * whole message list, Commit writes it again (LangGraph checkpoint) */
    {
        bsess_rpc one;
        if (base_create(&one) != 0) {
            die("session.Create failed");
        }
        samples early = {0}, late = {0};
        int n = B.calls >= 1000 ? 100 : 40;
        for (int i = 0; i < n; i++) {
            if (base_turn(&one, &a, &b) != 0) {
                failed++;
                break;
            }
            if (i < 10) {
                samp_add(&early, (a + b) / 1000.0);
            } else if (i >= n - 10) {
                samp_add(&late, (a + b) / 1000.0);
            }
        }
        printf("   session.Begin + Commit as one conversation grows: turns 1-10 p50 %.3f ms, turns %d-%d p50 %.3f ms\n",
               samp_pct(&early, 50), n - 9, n, samp_pct(&late, 50));
        summ("begin_commit_first10_ms", "%.3f", samp_pct(&early, 50));
        summ("begin_commit_last10_ms", "%.3f", samp_pct(&late, 50));
        summ("begin_commit_last_turn", "%d", n);
    }

    /* llm.Generate + Poll (the configured provider; offline, instant) */
    Chat__Retrieval__SearchReply *src = NULL;
    if (base_search(0, &us, &src) == 0) {
        B.sources = src;
    }
    samples g1 = {0}, g2 = {0};
    for (int i = 0; i < 20; i++) {
        base_generate((unsigned)i, &a, &b);
    }
    for (int i = 0; i < B.calls; i++) {
        if (base_generate((unsigned)i, &a, &b) == 0) {
            samp_add(&g1, a / 1000.0);
            samp_add(&g2, b / 1000.0);
        } else {
            failed++;
        }
    }
    long f3 = 0;
    cpu_start();
    double tp3 = base_throughput(BW_GEN, B.threads, B.seconds, NULL, 0, &f3);
    cpu_stop();
    printf("   llm.Generate + Poll to the end (offline, instant): 1 caller first text p50 %.3f ms, end p50 %.3f ms"
           "  p99 %.3f ms;  %d threads: %.0f generations/s%s\n",
           samp_pct(&g1, 50), samp_pct(&g2, 50), samp_pct(&g2, 99), B.threads, tp3, f3 ? " (some failed)" : "");
    summ("generate_first_p50_ms", "%.3f", samp_pct(&g1, 50));
    summ("generate_p50_ms", "%.3f", samp_pct(&g2, 50));
    summ("generate_per_s", "%.0f", tp3);
    base_cpu_line("Generate+Poll", tp3 * (g_cpu_t1_s - g_cpu_t0_s), "generate");
    double ideal = 1.0 / (1.0 / tp1 + 1.0 / tp2 + 1.0 / tp3);
    printf("   -> if the three shared the CPU with nothing else, a turn's RPCs alone would top out near %.0f turns/s\n"
           "      (1 / (1/search + 1/begin_commit + 1/generate)); TTFT's RPC floor at 1 conversation is\n"
           "      Begin + Search + Generate-to-first-text = %.3f ms\n",
           ideal, samp_pct(&sb, 50) + samp_pct(&s1, 50) + samp_pct(&g1, 50));
    summ("rpc_ceiling_turns_per_s", "%.0f", ideal);
    summ("ttft_rpc_floor_ms", "%.3f", samp_pct(&sb, 50) + samp_pct(&s1, 50) + samp_pct(&g1, 50));
    if (src) {
        protobuf_c_message_free_unpacked(&src->base, NULL);
    }
    rpc_client_close(B.session);
    rpc_client_close(B.retrieval);
    rpc_client_close(B.llm);
    return failed || f1 || f2 || f3 ? 1 : 0;
}

/* ======================================================= fake Anthropic (stamps) */

typedef struct fstream {
    int fd;
    int state; /* 0 reading request, 1 streaming, 2 done */
    char *in;
    size_t in_len, in_cap;
    long long need; /* request bytes still expected after the head */
    int words_left;
    int64_t next_at;
    int sent;
    char *pend; /* unsent output (back-pressure) */
    size_t pend_len, pend_off;
} fstream;

static volatile sig_atomic_t g_fake_stop;
static void fake_sig(int s)
{
    (void)s;
    g_fake_stop = 1;
}

static void fake_write(fstream *f, const char *s, size_t n)
{
    if (f->pend_len > f->pend_off) { /* keep order */
        f->pend = xrealloc(f->pend, f->pend_len + n);
        memcpy(f->pend + f->pend_len, s, n);
        f->pend_len += n;
        return;
    }
    ssize_t w = send(f->fd, s, n, MSG_NOSIGNAL);
    if (w < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            f->state = 2;
            return;
        }
        w = 0;
    }
    if ((size_t)w < n) {
        f->pend = xrealloc(f->pend, n - (size_t)w);
        memcpy(f->pend, s + w, n - (size_t)w);
        f->pend_len = n - (size_t)w;
        f->pend_off = 0;
    }
}

static int cmd_fake(int tps, int words, const char *port_file)
{
    signal(SIGPIPE, SIG_IGN);
    signal(SIGTERM, fake_sig);
    signal(SIGINT, fake_sig);
    raise_nofile();
    int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in a = {.sin_family = AF_INET};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    if (bind(ls, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(ls, 4096) != 0) {
        die("fake: bind/listen: %s", strerror(errno));
    }
    socklen_t al = sizeof(a);
    getsockname(ls, (struct sockaddr *)&a, &al);
    int port = ntohs(a.sin_port);
    if (port_file) {
        FILE *f = fopen(port_file, "w");
        if (f) {
            fprintf(f, "%d\n", port);
            fclose(f);
        }
    }
    printf("{\"port\":%d}\n", port);
    fflush(stdout);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(ep, EPOLL_CTL_ADD, ls, &ev);
    size_t cap = 16384, n = 0;
    fstream **fs = xcalloc(cap, sizeof(*fs));
    int64_t step = tps > 0 ? 1000000 / tps : 0;
    long requests = 0;
    static const char head[] =
        "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream; charset=utf-8\r\ncache-control: no-cache\r\n"
        "request-id: req_bench\r\nconnection: close\r\n\r\n"
        "event: message_start\ndata: "
        "{\"type\":\"message_start\",\"message\":{\"id\":\"msg_bench\",\"type\":\"message\","
        "\"role\":\"assistant\",\"content\":[],\"model\":\"claude-bench\",\"stop_reason\":null,\"stop_sequence\":null,"
        "\"usage\":{\"input_tokens\":100,\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":0,"
        "\"output_tokens\":1}}}\n\n"
        "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":"
        "{\"type\":\"text\",\"text\":\"\"}}\n\n"
        "event: ping\ndata: {\"type\": \"ping\"}\n\n";
    while (!g_fake_stop) {
        /* timeout: the earliest due word */
        int64_t t = now_us(), due = INT64_MAX;
        for (size_t i = 0; i < n; i++) {
            if (fs[i]->state == 1 && fs[i]->next_at < due) {
                due = fs[i]->next_at;
            }
        }
        int to = due == INT64_MAX ? 200 : (due <= t ? 0 : (int)((due - t + 999) / 1000));
        struct epoll_event evs[256];
        int k = epoll_wait(ep, evs, 256, to);
        for (int i = 0; i < k; i++) {
            if (evs[i].data.ptr == NULL) {
                for (;;) {
                    int fd = accept4(ls, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                    if (fd < 0) {
                        break;
                    }
                    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
                    fstream *f = xcalloc(1, sizeof(*f));
                    f->fd = fd;
                    f->need = -1;
                    if (n == cap) {
                        cap *= 2;
                        fs = xrealloc(fs, cap * sizeof(*fs));
                    }
                    fs[n++] = f;
                    struct epoll_event e2 = {.events = EPOLLIN, .data.ptr = f};
                    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e2);
                }
                continue;
            }
            fstream *f = evs[i].data.ptr;
            if (evs[i].events & EPOLLOUT && f->pend_len > f->pend_off) {
                ssize_t w = send(f->fd, f->pend + f->pend_off, f->pend_len - f->pend_off, MSG_NOSIGNAL);
                if (w > 0) {
                    f->pend_off += (size_t)w;
                }
                if (f->pend_off == f->pend_len) {
                    f->pend_len = f->pend_off = 0;
                    struct epoll_event e2 = {.events = EPOLLIN, .data.ptr = f};
                    epoll_ctl(ep, EPOLL_CTL_MOD, f->fd, &e2);
                }
            }
            if (!(evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))) {
                continue;
            }
            char buf[65536];
            ssize_t r = recv(f->fd, buf, sizeof(buf), 0);
            if (r <= 0) {
                if (r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
                    f->state = 2; /* client gone (cancelled) */
                }
                continue;
            }
            if (f->state != 0) {
                continue;
            }
            if (f->in_len + (size_t)r + 1 > f->in_cap) {
                f->in_cap = (f->in_len + (size_t)r + 1) * 2;
                f->in = xrealloc(f->in, f->in_cap);
            }
            memcpy(f->in + f->in_len, buf, (size_t)r);
            f->in_len += (size_t)r;
            f->in[f->in_len] = '\0';
            char *e = strstr(f->in, "\r\n\r\n");
            if (e == NULL) {
                continue;
            }
            char v[64];
            *e = '\0';
            long long cl = hdr_value(f->in, "content-length", v, sizeof(v)) ? atoll(v) : 0;
            *e = '\r';
            size_t body = f->in_len - (size_t)(e + 4 - f->in);
            if ((long long)body < cl) {
                continue;
            }
            /* the whole request: answer */
            requests++;
            f->state = 1;
            f->words_left = words;
            f->next_at = now_us();
            fake_write(f, head, sizeof(head) - 1);
        }
        /* due words */
        t = now_us();
        for (size_t i = 0; i < n; i++) {
            fstream *f = fs[i];
            while (f->state == 1 && f->next_at <= t) {
                char out[512];
                if (f->words_left > 0) {
                    int64_t stamp = now_us();
                    int len =
                        snprintf(out, sizeof(out),
                                 "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,"
                                 "\"delta\":{\"type\":\"text_delta\",\"text\":\" ~T%" PRId64 "~\"}}\n\n",
                                 stamp);
                    fake_write(f, out, (size_t)len);
                    f->words_left--;
                    f->sent++;
                    f->next_at += step;
                    if (f->pend_len > f->pend_off) {
                        struct epoll_event e2 = {.events = EPOLLIN | EPOLLOUT, .data.ptr = f};
                        epoll_ctl(ep, EPOLL_CTL_MOD, f->fd, &e2);
                    }
                    continue;
                }
                int len = snprintf(out, sizeof(out),
                                   "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n"
                                   "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":"
                                   "\"end_turn\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":%d}}\n\n"
                                   "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
                                   f->sent);
                fake_write(f, out, (size_t)len);
                f->state = 3; /* close when flushed */
            }
        }
        /* reap finished connections */
        for (size_t i = 0; i < n;) {
            fstream *f = fs[i];
            int flushed = f->pend_len == f->pend_off;
            if (f->state == 2 || (f->state == 3 && flushed)) {
                epoll_ctl(ep, EPOLL_CTL_DEL, f->fd, NULL);
                if (f->state == 3) {
                    shutdown(f->fd, SHUT_WR);
                }
                close(f->fd);
                free(f->in);
                free(f->pend);
                free(f);
                fs[i] = fs[--n];
                continue;
            }
            i++;
        }
    }
    fprintf(stderr, "fake-anthropic: %ld requests\n", requests);
    return 0;
}

/* ======================================================= main */

static void usage(void)
{
    fprintf(stderr,
            "usage: bench_chat turns --port P --conc C [--duration S|--turns N] [--warmup S] [--pool N]\n"
            "                        [--per-session K] [--pace-ms MS] [--think-ms MS] [--stamps] [--turn-timeout S]\n"
            "                        [--rss-pid PID] [--client-ips N]\n"
            "                        [--cpu name=PID[+],...] [--tag T] [--summary FILE]\n"
            "       bench_chat streams --port P --turns T --readers M --hold-until S [--finish S] [--heartbeat S]\n"
            "                        [--rss-pid PID] [--cpu ...] [--tag T] [--summary FILE]\n"
            "       bench_chat baseline --session-url U --retrieval-url U --llm-url U [--calls N] [--seconds S]\n"
            "                        [--threads N]\n"
            "       bench_chat fake-anthropic [--tps N] [--words N] [--port-file F]\n"
            "       bench_chat questions\n");
    exit(2);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage();
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    log_init("bench_chat", LOG_ERROR);
    const char *cmd = argv[1];
    int port = 0;
    T.conc = 1;
    T.per_session = 10;
    T.warmup_s = 1;
    T.drain_s = 30;
    T.turn_timeout_s = 60;
    S.nturns = 100;
    S.nreaders = 1000;
    S.hold_until_s = 30;
    S.attach_timeout_s = 90;
    S.heartbeat_s = 2;
    B.calls = 1000;
    B.threads = 16;
    B.seconds = 3;
    const char *su = NULL, *ru = NULL, *lu = NULL, *port_file = NULL;
    int tps = 0, words = 30;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define ARG(name) (strcmp(a, name) == 0 && v != NULL && ++i)
        if (ARG("--port")) {
            port = atoi(v);
        } else if (ARG("--conc")) {
            T.conc = atoi(v);
        } else if (ARG("--duration")) {
            T.duration_s = atof(v);
        } else if (ARG("--turns")) {
            T.max_turns = atol(v);
            S.nturns = atoi(v);
        } else if (ARG("--warmup")) {
            T.warmup_s = atof(v);
        } else if (ARG("--pool")) {
            T.pool = atoi(v);
        } else if (ARG("--per-session")) {
            T.per_session = atoi(v);
        } else if (ARG("--client-ips")) {
            g_client_ips = atoi(v);
            if (g_client_ips < 0 || g_client_ips > CLIENT_IPS_MAX) {
                die("--client-ips: 0..%d", CLIENT_IPS_MAX);
            }
        } else if (ARG("--turn-timeout")) {
            T.turn_timeout_s = atof(v);
        } else if (ARG("--pace-ms")) {
            T.pace_ms = atof(v);
        } else if (ARG("--think-ms")) {
            T.think_ms = atof(v);
        } else if (strcmp(a, "--stamps") == 0) {
            T.stamps = 1;
        } else if (ARG("--rss-pid")) {
            T.rss_pid = S.rss_pid = atoi(v);
        } else if (ARG("--cpu")) {
            cpu_parse(v);
        } else if (ARG("--tag")) {
            g_tag = v;
        } else if (ARG("--summary")) {
            g_summary = fopen(v, "a");
            if (g_summary == NULL) {
                die("cannot open %s", v);
            }
        } else if (ARG("--readers")) {
            S.nreaders = atoi(v);
        } else if (ARG("--hold-until")) {
            S.hold_until_s = atof(v);
        } else if (ARG("--heartbeat")) {
            S.heartbeat_s = atof(v);
        } else if (ARG("--finish")) {
            S.finish_s = atof(v);
        } else if (ARG("--session-url")) {
            su = v;
        } else if (ARG("--retrieval-url")) {
            ru = v;
        } else if (ARG("--llm-url")) {
            lu = v;
        } else if (ARG("--calls")) {
            B.calls = atoi(v);
        } else if (ARG("--seconds")) {
            B.seconds = atof(v);
        } else if (ARG("--threads")) {
            B.threads = atoi(v);
        } else if (ARG("--tps")) {
            tps = atoi(v);
        } else if (ARG("--words")) {
            words = atoi(v);
        } else if (ARG("--port-file")) {
            port_file = v;
        } else {
            fprintf(stderr, "bench_chat: unknown or incomplete argument %s\n", a);
            usage();
        }
#undef ARG
    }
    int rc;
    if (strcmp(cmd, "turns") == 0) {
        if (port <= 0 || T.conc <= 0 || (T.duration_s <= 0 && T.max_turns <= 0)) {
            usage();
        }
        rc = cmd_turns(port);
    } else if (strcmp(cmd, "streams") == 0) {
        if (port <= 0) {
            usage();
        }
        rc = cmd_streams(port);
    } else if (strcmp(cmd, "baseline") == 0) {
        if (!su || !ru || !lu) {
            usage();
        }
        rc = cmd_baseline(su, ru, lu);
    } else if (strcmp(cmd, "fake-anthropic") == 0) {
        rc = cmd_fake(tps, words, port_file);
    } else if (strcmp(cmd, "questions") == 0) {
        for (size_t i = 0; i < NQUESTIONS; i++) {
            printf("%s\n", g_questions[i]);
        }
        rc = 0;
    } else {
        usage();
    }
    if (g_summary) {
        fclose(g_summary);
    }
    return rc;
}
