/* bench_limits.c: a flood of distinct client addresses at the gateway, for
 * the memory bound of its per-IP rate-limit table (tests/bench/bench_limits.sh).
 *
 *   bench_limits flood --port P --addrs N [--conc C] [--depth D] [--path PATH]
 *                      [--v6-every K] [--rss-pid PID] [--tag T] [--summary FILE]
 *
 * Sends N requests `POST PATH` (default /v1/leads) with an empty body and no
 * Content-Type, request k from its own address in `CF-Connecting-IP`: every
 * K-th (default 2nd) an IPv6 address in its own /64 (2001:db8:HHHH:LLLL::1,
 * HHHH:LLLL = k), the others IPv4 (10.a.b.c, a.b.c = k in 24 bits), so N
 * distinct client keys at RATE_IPV6_PREFIX 16..64. The gateway must trust
 * 127.0.0.1 as a proxy (TRUSTED_PROXIES). On /v1/leads the route takes a
 * RATE_LEADS token first thing (gateway/throttle.c), which writes the key into
 * the table, then refuses the request 415 (no Content-Type) before any RPC:
 * the table is exercised, nothing is stored anywhere else. Expected answers:
 * all 415; a 429 would mean a key was seen twice.
 *
 * C keep-alive connections (default 64), each with up to D requests written
 * ahead of their answers (HTTP/1.1 pipelining, default 8). One thread, epoll,
 * non-blocking sockets to 127.0.0.1. --rss-pid: the process's VmRSS every
 * 250 ms (at the start, once a tenth of the addresses were answered, the
 * peak, at the end; and a progress line every second).
 *
 * Output: human-readable lines, and with --summary key=value lines prefixed
 * by --tag. Exit status 0 when every request was answered, 1 when some were
 * lost (a connection closed under them) or on a set-up failure. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
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

#define FL_ADDRS_MAX (1 << 24) /* distinct addresses: 24 bits of IPv4 */
#define FL_CONC_MAX 1024       /* connections */
#define FL_DEPTH_MAX 64        /* requests written ahead per connection */
#define FL_REQ_MAX 256         /* one request */
#define FL_IN_MAX 65536        /* answers buffered per connection */
#define FL_PATH_MAX 128        /* --path */
#define FL_STATUS_KINDS 8      /* distinct statuses counted */
#define FL_RSS_EVERY_US 250000 /* VmRSS sampling period */
#define FL_STALL_US 30000000LL /* no answer for this long: give up */

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
    fprintf(stderr, "bench_limits: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(1);
}

static long proc_rss_kb(int pid)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        return -1;
    }
    long kb = -1;
    while (fgets(line, sizeof(line), f) != NULL) {
        if (strncmp(line, "VmRSS:", 6) == 0) {
            kb = strtol(line + 6, NULL, 10);
            break;
        }
    }
    fclose(f);
    return kb;
}

/* ================================================================ state */

typedef struct fconn {
    int fd;
    int inflight; /* requests written or queued, not answered */
    char out[FL_DEPTH_MAX * FL_REQ_MAX];
    size_t out_len, out_off; /* bytes queued, bytes of them written */
    char in[FL_IN_MAX];
    size_t in_len;
} fconn;

static struct {
    int port, conc, depth, v6_every, rss_pid;
    long addrs;
    char path[FL_PATH_MAX];
    const char *tag;
    FILE *summary;
    long next; /* next address index to send */
    long answered, lost, reconnects, v6_sent;
    int status[FL_STATUS_KINDS], status_n[FL_STATUS_KINDS], nstatus, bad_answers;
    long rss_start, rss_max, rss_tenth; /* VmRSS kB: before, peak, once a tenth was answered */
    int ep;
    fconn *c;
} F;

static void summ(const char *key, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void summ(const char *key, const char *fmt, ...)
{
    if (F.summary == NULL) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    fprintf(F.summary, "%s%s%s=", F.tag ? F.tag : "", F.tag ? "_" : "", key);
    vfprintf(F.summary, fmt, ap);
    fprintf(F.summary, "\n");
    va_end(ap);
}

static void count_status(int st)
{
    for (int i = 0; i < F.nstatus; i++) {
        if (F.status[i] == st) {
            F.status_n[i]++;
            return;
        }
    }
    if (F.nstatus < FL_STATUS_KINDS) {
        F.status[F.nstatus] = st;
        F.status_n[F.nstatus++] = 1;
    } else {
        F.bad_answers++;
    }
}

/* ========================================================== connections */

static void conn_open(fconn *c)
{
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        die("socket: %s", strerror(errno));
    }
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)F.port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 && errno != EINPROGRESS) {
        die("connect to 127.0.0.1:%d: %s", F.port, strerror(errno));
    }
    c->inflight = 0;
    c->out_len = c->out_off = c->in_len = 0;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP, .data.ptr = c};
    if (epoll_ctl(F.ep, EPOLL_CTL_ADD, c->fd, &ev) != 0) {
        die("epoll_ctl: %s", strerror(errno));
    }
}

/* The server closed c (or it failed): its unanswered requests are lost; a
 * new connection takes its place while addresses remain. */
static void conn_reopen(fconn *c)
{
    epoll_ctl(F.ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    F.lost += c->inflight;
    c->fd = -1;
    if (F.next < F.addrs) {
        F.reconnects++;
        conn_open(c);
    }
}

/* Queues requests on c up to the pipelining depth. */
static void conn_fill(fconn *c)
{
    if (c->out_off == c->out_len) {
        c->out_off = c->out_len = 0;
    }
    while (c->inflight < F.depth && F.next < F.addrs && c->out_len + FL_REQ_MAX <= sizeof(c->out)) {
        long k = F.next++;
        char ip[64];
        if (F.v6_every > 0 && k % F.v6_every == F.v6_every - 1) {
            snprintf(ip, sizeof(ip), "2001:db8:%lx:%lx::1", (k >> 16) & 0xffff, k & 0xffff);
            F.v6_sent++;
        } else {
            snprintf(ip, sizeof(ip), "10.%ld.%ld.%ld", (k >> 16) & 255, (k >> 8) & 255, k & 255);
        }
        int n = snprintf(c->out + c->out_len, FL_REQ_MAX,
                         "POST %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nCF-Connecting-IP: %s\r\nContent-Length: 0\r\n\r\n",
                         F.path, F.port, ip);
        if (n <= 0 || n >= FL_REQ_MAX) {
            die("request longer than %d bytes", FL_REQ_MAX);
        }
        c->out_len += (size_t)n;
        c->inflight++;
    }
}

/* 1 when the header named name (with its colon) is in head[0..n), its value in v. */
static int header_value(const char *head, size_t n, const char *name, const char **v)
{
    size_t nl = strlen(name);
    for (const char *p = head; p + nl < head + n;) {
        const char *eol = memchr(p, '\n', (size_t)(head + n - p));
        if (eol == NULL) {
            break;
        }
        if ((size_t)(eol - p) > nl && strncasecmp(p, name, nl) == 0) {
            *v = p + nl;
            return 1;
        }
        p = eol + 1;
    }
    return 0;
}

/* Parses the whole answers in c->in: 0, or -1 when c must be closed. */
static int conn_parse(fconn *c)
{
    size_t off = 0;
    int closing = 0;
    while (!closing) {
        char *head = c->in + off;
        size_t avail = c->in_len - off;
        char *end = avail >= 4 ? memmem(head, avail, "\r\n\r\n", 4) : NULL;
        if (end == NULL) {
            break;
        }
        size_t hl = (size_t)(end - head) + 4;
        const char *v;
        if (avail < 12 || strncmp(head, "HTTP/1.", 7) != 0 || header_value(head, hl, "transfer-encoding:", &v)) {
            F.bad_answers++;
            return -1; /* only Content-Length framing is expected */
        }
        size_t body = header_value(head, hl, "content-length:", &v) ? strtoul(v, NULL, 10) : 0;
        if (hl + body > avail) {
            if (hl + body > sizeof(c->in)) {
                F.bad_answers++;
                return -1;
            }
            break;
        }
        closing = header_value(head, hl, "connection:", &v) && strncasecmp(v + strspn(v, " "), "close", 5) == 0;
        count_status(atoi(head + 9));
        F.answered++;
        c->inflight--;
        off += hl + body;
    }
    memmove(c->in, c->in + off, c->in_len - off);
    c->in_len -= off;
    return closing ? -1 : 0;
}

static void conn_event(fconn *c, uint32_t evs)
{
    if (evs & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
        for (;;) {
            ssize_t n = read(c->fd, c->in + c->in_len, sizeof(c->in) - c->in_len);
            if (n > 0) {
                c->in_len += (size_t)n;
                if (conn_parse(c) != 0) {
                    conn_reopen(c);
                    return;
                }
                if (c->in_len == sizeof(c->in)) {
                    F.bad_answers++;
                    conn_reopen(c);
                    return;
                }
                continue;
            }
            if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
                conn_reopen(c);
                return;
            }
            if (errno == EAGAIN) {
                break;
            }
        }
    }
    conn_fill(c);
    while (c->out_off < c->out_len) {
        ssize_t n = write(c->fd, c->out + c->out_off, c->out_len - c->out_off);
        if (n > 0) {
            c->out_off += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && errno == EAGAIN) {
            break;
        }
        conn_reopen(c);
        return;
    }
}

/* ================================================================ flood */

static int cmd_flood(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    F.ep = epoll_create1(EPOLL_CLOEXEC);
    if (F.ep < 0) {
        die("epoll_create1: %s", strerror(errno));
    }
    F.c = calloc((size_t)F.conc, sizeof(fconn));
    if (F.c == NULL) {
        die("out of memory");
    }
    F.rss_start = F.rss_pid > 0 ? proc_rss_kb(F.rss_pid) : -1;
    F.rss_max = F.rss_start;
    F.rss_tenth = -1;
    printf("   %ld distinct addresses (every %s IPv6 /64), POST %s, %d connections x %d pipelined\n", F.addrs,
           F.v6_every == 2  ? "2nd"
           : F.v6_every > 0 ? "K-th"
                            : "none",
           F.path, F.conc, F.depth);
    int64_t t0 = now_us(), last_rss = t0, last_print = t0, last_progress = t0;
    long last_answered = 0, print_answered = 0;
    for (int i = 0; i < F.conc; i++) {
        conn_open(&F.c[i]);
    }
    struct epoll_event evs[256];
    while (F.answered + F.lost < F.addrs) {
        int n = epoll_wait(F.ep, evs, 256, 100);
        if (n < 0 && errno != EINTR) {
            die("epoll_wait: %s", strerror(errno));
        }
        for (int i = 0; i < n; i++) {
            fconn *c = evs[i].data.ptr;
            if (c->fd >= 0) {
                conn_event(c, evs[i].events);
            }
        }
        int64_t t = now_us();
        if (F.rss_pid > 0 && t - last_rss >= FL_RSS_EVERY_US) {
            long kb = proc_rss_kb(F.rss_pid);
            F.rss_max = kb > F.rss_max ? kb : F.rss_max;
            last_rss = t;
        }
        if (F.rss_pid > 0 && F.rss_tenth < 0 && F.answered >= F.addrs / 10) {
            F.rss_tenth = proc_rss_kb(F.rss_pid);
        }
        if (F.answered != last_answered) {
            last_answered = F.answered;
            last_progress = t;
        } else if (t - last_progress > FL_STALL_US) {
            printf("   no answer for %lld s: stopping with %ld of %ld answered\n", FL_STALL_US / 1000000, F.answered,
                   F.addrs);
            F.lost = F.addrs - F.answered;
            break;
        }
        if (t - last_print >= 1000000) {
            printf("   t=%5.1f s  answered %8ld  %7.0f/s", (t - t0) / 1e6, F.answered,
                   (F.answered - print_answered) * 1e6 / (double)(t - last_print));
            if (F.rss_pid > 0) {
                printf("  VmRSS %.1f MB", proc_rss_kb(F.rss_pid) / 1024.0);
            }
            printf("\n");
            last_print = t;
            print_answered = F.answered;
        }
    }
    double secs = (now_us() - t0) / 1e6;
    for (int i = 0; i < F.conc; i++) {
        if (F.c[i].fd >= 0) {
            close(F.c[i].fd);
        }
    }
    close(F.ep);
    free(F.c);
    long rss_end = F.rss_pid > 0 ? proc_rss_kb(F.rss_pid) : -1;
    printf("   %ld answered in %.1f s: %.0f requests/s; lost %ld, reconnects %ld, unparsable %d\n", F.answered, secs,
           F.answered / (secs > 0 ? secs : 1), F.lost, F.reconnects, F.bad_answers);
    printf("   answers by status:");
    long expected = 0;
    for (int i = 0; i < F.nstatus; i++) {
        printf(" %d x %d", F.status[i], F.status_n[i]);
        expected += F.status[i] == 415 ? F.status_n[i] : 0;
    }
    printf("\n");
    if (F.rss_pid > 0) {
        printf("   VmRSS of pid %d: %.1f MB at the start, %.1f MB after a tenth, %.1f MB peak, %.1f MB at the end\n",
               F.rss_pid, F.rss_start / 1024.0, F.rss_tenth / 1024.0, F.rss_max / 1024.0, rss_end / 1024.0);
        summ("rss_start_kb", "%ld", F.rss_start);
        summ("rss_tenth_kb", "%ld", F.rss_tenth);
        summ("rss_peak_kb", "%ld", F.rss_max);
        summ("rss_end_kb", "%ld", rss_end);
    }
    summ("addrs", "%ld", F.addrs);
    summ("v6", "%ld", F.v6_sent);
    summ("answered", "%ld", F.answered);
    summ("status_415", "%ld", expected);
    summ("status_other", "%ld", F.answered - expected);
    summ("lost", "%ld", F.lost);
    summ("seconds", "%.1f", secs);
    summ("req_per_s", "%.0f", F.answered / (secs > 0 ? secs : 1));
    return F.lost == 0 && F.bad_answers == 0 ? 0 : 1;
}

static void usage(void) __attribute__((noreturn));
static void usage(void)
{
    fprintf(stderr, "usage: bench_limits flood --port P --addrs N [--conc C] [--depth D] [--path PATH]\n"
                    "                          [--v6-every K] [--rss-pid PID] [--tag T] [--summary FILE]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "flood") != 0) {
        usage();
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    F.conc = 64;
    F.depth = 8;
    F.v6_every = 2;
    snprintf(F.path, sizeof(F.path), "/v1/leads");
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define ARG(name) (strcmp(a, name) == 0 && v != NULL && ++i)
        if (ARG("--port")) {
            F.port = atoi(v);
        } else if (ARG("--addrs")) {
            F.addrs = atol(v);
        } else if (ARG("--conc")) {
            F.conc = atoi(v);
        } else if (ARG("--depth")) {
            F.depth = atoi(v);
        } else if (ARG("--path")) {
            if (strlen(v) >= sizeof(F.path) || v[0] != '/') {
                die("--path: an absolute path of at most %d bytes", FL_PATH_MAX - 1);
            }
            snprintf(F.path, sizeof(F.path), "%s", v);
        } else if (ARG("--v6-every")) {
            F.v6_every = atoi(v);
        } else if (ARG("--rss-pid")) {
            F.rss_pid = atoi(v);
        } else if (ARG("--tag")) {
            F.tag = v;
        } else if (ARG("--summary")) {
            F.summary = fopen(v, "a");
            if (F.summary == NULL) {
                die("cannot open %s", v);
            }
        } else {
            fprintf(stderr, "bench_limits: unknown or incomplete argument %s\n", a);
            usage();
        }
#undef ARG
    }
    if (F.port <= 0 || F.addrs <= 0 || F.addrs > FL_ADDRS_MAX || F.conc < 1 || F.conc > FL_CONC_MAX || F.depth < 1 ||
        F.depth > FL_DEPTH_MAX || F.v6_every < 0) {
        usage();
    }
    int rc = cmd_flood();
    if (F.summary != NULL) {
        fclose(F.summary);
    }
    return rc;
}
