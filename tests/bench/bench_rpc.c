/* bench_rpc.c: benchmarks of the RPC layer (lib/rpc_server.c, lib/rpc_client.c)
 * against raw nng REQ/REP measured in the same run.
 *
 *   bench_rpc [--quick] [--summary FILE]
 *
 *   A  raw nng REQ/REP ping-pong (synchronous nng_sendmsg/nng_recvmsg, one
 *      client thread, one server thread) of payloads the size of our packed
 *      request and reply envelopes: us per round trip (mean, p50, p99).
 *   B  rpc_server serving chat.llm.Llm + rpc_call_sync("Generate") from one
 *      thread: the same figures and the ratio to A (goal <= 1.2).
 *   C  throughput with 64 concurrent callers: 64 threads x rpc_call_sync, and
 *      64 rpc_call_async kept in flight from one thread; baseline: raw nng
 *      with 64 client threads (one context each) against a callback-driven
 *      REP server (128 contexts).
 *   D  10,000 calls in flight at once from one client (max_in_flight 10000,
 *      timeout 60 s; server: 1024 contexts, 4 workers).
 *   A and B are repeated over ipc:// for information.
 *
 * --summary FILE writes the key figures as key=value lines (for run.sh).
 * Exit status: 0 when every benchmark ran and every call succeeded, 1 when a
 * call failed or a set-up step did not work. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "llm.pb-c.h"
#include "log.h"
#include "rpc.h"
#include "rpc.pb-c.h"
#include "rpc_client.h"
#include "rpc_server.h"

/* --- settings --------------------------------------------------------------- */

typedef struct bench_cfg {
    int quick;
    unsigned round_trips; /* A, B */
    unsigned warmup;
    unsigned concurrency; /* C */
    double tput_secs;
    unsigned inflight; /* D */
    const char *summary_path;
} bench_cfg;

static bench_cfg B = {
    .round_trips = 20000,
    .warmup = 2000,
    .concurrency = 64,
    .tput_secs = 3.0,
    .inflight = 10000,
};

static int g_failed; /* any call failed or a set-up step did not work */
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
    va_end(ap);
}

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* A TCP port on 127.0.0.1 nothing listens on now (the kernel's choice). */
static int free_tcp_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) {
        return -1;
    }
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    int port = -1;
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 && getsockname(fd, (struct sockaddr *)&a, &len) == 0) {
        port = ntohs(a.sin_port);
    }
    close(fd);
    return port;
}

static void make_url(char *buf, size_t len, const char *transport)
{
    static int seq;
    if (strcmp(transport, "ipc") == 0) {
        snprintf(buf, len, "ipc:///tmp/bench_rpc-%ld-%d.ipc", (long)getpid(), ++seq);
    } else {
        snprintf(buf, len, "tcp://127.0.0.1:%d", free_tcp_port());
    }
}

/* --- latency statistics ------------------------------------------------------ */

typedef struct lat_stats {
    double mean_us, p50_us, p99_us, max_us;
    unsigned n;
} lat_stats;

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Sorts v in place. */
static lat_stats lat_compute(int64_t *v, unsigned n)
{
    lat_stats s = {.n = n};
    if (n == 0) {
        return s;
    }
    qsort(v, n, sizeof(*v), cmp_i64);
    double sum = 0;
    for (unsigned i = 0; i < n; i++) {
        sum += (double)v[i];
    }
    s.mean_us = sum / n / 1000.0;
    s.p50_us = (double)v[(size_t)((n - 1) * 0.50)] / 1000.0;
    s.p99_us = (double)v[(size_t)((n - 1) * 0.99)] / 1000.0;
    s.max_us = (double)v[n - 1] / 1000.0;
    return s;
}

/* --- the payload ------------------------------------------------------------- */

static char g_user_message[121];
static Chat__Llm__GenerateRequest g_req = CHAT__LLM__GENERATE_REQUEST__INIT;
static size_t g_req_env_len, g_rep_env_len;

static void payload_init(void)
{
    for (size_t i = 0; i < sizeof(g_user_message) - 1; i++) {
        g_user_message[i] = "Do you ship to Norway and what does it cost? "[i % 45];
    }
    g_user_message[sizeof(g_user_message) - 1] = '\0';
    g_req.session_id = "3f2b8c1e-9a4d-4e6f-8b7a-1c2d3e4f5a6b";
    g_req.turn_id = "7";
    g_req.user_message = g_user_message;
    g_req.locale = "en";

    /* The envelopes exactly as the client and the server pack them. */
    size_t blen = protobuf_c_message_get_packed_size(&g_req.base);
    uint8_t *body = malloc(blen);
    protobuf_c_message_pack(&g_req.base, body);
    Chat__Rpc__Request env = CHAT__RPC__REQUEST__INIT;
    env.method = "chat.llm.Llm/Generate";
    env.request_id = "0123456789abcdef";
    env.timeout_ms = RPC_DEFAULT_TIMEOUT_MS;
    env.body.data = body;
    env.body.len = blen;
    g_req_env_len = chat__rpc__request__get_packed_size(&env);
    free(body);

    Chat__Llm__GenerateReply out = CHAT__LLM__GENERATE_REPLY__INIT;
    out.stream_id = g_user_message;
    blen = protobuf_c_message_get_packed_size(&out.base);
    body = malloc(blen);
    protobuf_c_message_pack(&out.base, body);
    Chat__Rpc__Reply rep = CHAT__RPC__REPLY__INIT;
    rep.body.data = body;
    rep.body.len = blen;
    rep.message = "";
    rep.request_id = "0123456789abcdef";
    g_rep_env_len = chat__rpc__reply__get_packed_size(&rep);
    free(body);
}

/* --- our service: chat.llm.Llm ------------------------------------------------ */

typedef Chat__Llm__Llm_Service llm_svc;

static void bench_health(llm_svc *svc, const Chat__Rpc__HealthRequest *in, Chat__Rpc__HealthReply_Closure done,
                         void *cd)
{
    (void)svc;
    (void)in;
    Chat__Rpc__HealthReply out = CHAT__RPC__HEALTH_REPLY__INIT;
    rpc_fill_health(cd, &out);
    done(&out, cd);
}

static void bench_generate(llm_svc *svc, const Chat__Llm__GenerateRequest *in, Chat__Llm__GenerateReply_Closure done,
                           void *cd)
{
    (void)svc;
    Chat__Llm__GenerateReply out = CHAT__LLM__GENERATE_REPLY__INIT;
    out.stream_id = in->user_message;
    done(&out, cd);
}

RPC_UNIMPLEMENTED_HANDLER(bench_poll, llm_svc, Chat__Llm__PollRequest, Chat__Llm__PollReply_Closure)
RPC_UNIMPLEMENTED_HANDLER(bench_cancel, llm_svc, Chat__Llm__CancelRequest, Chat__Llm__CancelReply_Closure)

static llm_svc bench_service = CHAT__LLM__LLM__INIT(bench_);

static rpc_server *server_start(const char *url, unsigned contexts, unsigned workers)
{
    rpc_server_opts o = {.url = url, .name = "bench-llm", .contexts = contexts, .workers = workers};
    rpc_server *s = NULL;
    char err[256];
    if (rpc_server_start(&s, &bench_service.base, &o, err, sizeof(err)) != 0) {
        fprintf(stderr, "bench_rpc: rpc_server_start %s: %s\n", url, err);
        g_failed = 1;
        return NULL;
    }
    return s;
}

static rpc_client *client_open(const char *url, unsigned max_in_flight, uint32_t timeout_ms)
{
    rpc_client_opts o = {.default_timeout_ms = timeout_ms, .max_in_flight = max_in_flight};
    rpc_client *c = NULL;
    char err[256];
    if (rpc_client_open(&c, &chat__llm__llm__descriptor, url, &o, err, sizeof(err)) != 0) {
        fprintf(stderr, "bench_rpc: rpc_client_open %s: %s\n", url, err);
        g_failed = 1;
        return NULL;
    }
    for (int i = 0; i < 2000 && !rpc_client_connected(c); i++) {
        sleep_ms(1);
    }
    if (!rpc_client_connected(c)) {
        fprintf(stderr, "bench_rpc: client did not connect to %s\n", url);
        rpc_client_close(c);
        g_failed = 1;
        return NULL;
    }
    return c;
}

/* One Generate call; 0 when it answered OK with the echo. */
static int call_generate(rpc_client *c)
{
    rpc_result res;
    rpc_code rc = rpc_call_sync(c, "Generate", &g_req.base, 0, NULL, &res);
    int bad = rc != RPC_OK;
    if (!bad) {
        const Chat__Llm__GenerateReply *r = (const Chat__Llm__GenerateReply *)res.reply;
        bad = r == NULL || strcmp(r->stream_id, g_user_message) != 0;
        protobuf_c_message_free_unpacked(res.reply, NULL);
    }
    return bad;
}

/* --- A: raw nng REQ/REP ping-pong --------------------------------------------- */

typedef struct raw_server {
    nng_socket sock;
    pthread_t th;
} raw_server;

static void *raw_server_loop(void *arg)
{
    raw_server *rs = arg;
    for (;;) {
        nng_msg *m = NULL;
        if (nng_recvmsg(rs->sock, &m, 0) != 0) {
            break;
        }
        /* A reply the size of our reply envelope. */
        if (nng_msg_realloc(m, g_rep_env_len) != 0 || nng_sendmsg(rs->sock, m, 0) != 0) {
            nng_msg_free(m);
        }
    }
    return NULL;
}

/* Fills *out; returns 0, or -1 when set-up failed. */
static int bench_raw_pingpong(const char *url, lat_stats *out)
{
    raw_server rs;
    nng_socket req;
    int rv;
    if ((rv = nng_rep0_open(&rs.sock)) != 0 || (rv = nng_listen(rs.sock, url, NULL, 0)) != 0) {
        fprintf(stderr, "bench_rpc: raw REP on %s: %s\n", url, nng_strerror(rv));
        return -1;
    }
    pthread_create(&rs.th, NULL, raw_server_loop, &rs);
    if ((rv = nng_req0_open(&req)) != 0 || (rv = nng_dial(req, url, NULL, 0)) != 0) {
        fprintf(stderr, "bench_rpc: raw REQ to %s: %s\n", url, nng_strerror(rv));
        nng_close(rs.sock);
        pthread_join(rs.th, NULL);
        return -1;
    }
    nng_socket_set_ms(req, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);

    uint8_t *payload = malloc(g_req_env_len);
    memset(payload, 'x', g_req_env_len);
    unsigned n = B.round_trips, total = B.warmup + n;
    int64_t *lat = malloc(sizeof(*lat) * n);
    int rc = 0;
    for (unsigned i = 0; i < total; i++) {
        int64_t t0 = now_ns();
        nng_msg *m = NULL;
        if ((rv = nng_msg_alloc(&m, g_req_env_len)) != 0) {
            rc = -1;
            break;
        }
        memcpy(nng_msg_body(m), payload, g_req_env_len);
        if ((rv = nng_sendmsg(req, m, 0)) != 0) {
            nng_msg_free(m);
            rc = -1;
            break;
        }
        if ((rv = nng_recvmsg(req, &m, 0)) != 0) {
            rc = -1;
            break;
        }
        nng_msg_free(m);
        if (i >= B.warmup) {
            lat[i - B.warmup] = now_ns() - t0;
        }
    }
    if (rc != 0) {
        fprintf(stderr, "bench_rpc: raw ping-pong over %s failed: %s\n", url, nng_strerror(rv));
    } else {
        *out = lat_compute(lat, n);
    }
    nng_close(req);
    nng_close(rs.sock);
    pthread_join(rs.th, NULL);
    free(lat);
    free(payload);
    return rc;
}

/* --- B: our layer, one caller ------------------------------------------------- */

static int bench_rpc_pingpong(const char *url, lat_stats *out)
{
    rpc_server *s = server_start(url, 0, 0);
    if (s == NULL) {
        return -1;
    }
    rpc_client *c = client_open(url, 0, 0);
    if (c == NULL) {
        rpc_server_stop(s);
        return -1;
    }
    /* Health once, to check the other method of the service. */
    Chat__Rpc__HealthRequest hreq = CHAT__RPC__HEALTH_REQUEST__INIT;
    rpc_result hres;
    if (rpc_call_sync(c, "Health", &hreq.base, 0, NULL, &hres) != RPC_OK ||
        !((Chat__Rpc__HealthReply *)hres.reply)->ready) {
        fprintf(stderr, "bench_rpc: Health over %s: %s %s\n", url, rpc_code_name(hres.code), hres.message);
        g_failed = 1;
    }
    if (hres.reply != NULL) {
        protobuf_c_message_free_unpacked(hres.reply, NULL);
    }

    unsigned n = B.round_trips, total = B.warmup + n, errors = 0;
    int64_t *lat = malloc(sizeof(*lat) * n);
    for (unsigned i = 0; i < total; i++) {
        int64_t t0 = now_ns();
        errors += (unsigned)call_generate(c);
        if (i >= B.warmup) {
            lat[i - B.warmup] = now_ns() - t0;
        }
    }
    *out = lat_compute(lat, n);
    free(lat);
    rpc_client_close(c);
    rpc_server_stop(s);
    if (errors > 0) {
        fprintf(stderr, "bench_rpc: %u of %u Generate calls over %s failed\n", errors, total, url);
        g_failed = 1;
        return -1;
    }
    return 0;
}

/* --- C: throughput ------------------------------------------------------------ */

/* Baseline: raw nng, callback-driven REP server with `contexts` contexts
 * and `threads` client threads each with its own REQ context. */
typedef struct raw_actx {
    nng_ctx ctx;
    nng_aio *aio;
    int sending;
} raw_actx;

static void raw_actx_cb(void *arg)
{
    raw_actx *a = arg;
    int rv = nng_aio_result(a->aio);
    if (a->sending) {
        if (rv != 0) {
            nng_msg_free(nng_aio_get_msg(a->aio));
            if (rv == NNG_ECLOSED || rv == NNG_ECANCELED) {
                return;
            }
        }
        a->sending = 0;
        nng_ctx_recv(a->ctx, a->aio);
        return;
    }
    if (rv != 0) {
        if (rv != NNG_ECLOSED && rv != NNG_ECANCELED) {
            nng_ctx_recv(a->ctx, a->aio);
        }
        return;
    }
    nng_msg *m = nng_aio_get_msg(a->aio);
    if (nng_msg_realloc(m, g_rep_env_len) != 0) {
        nng_msg_free(m);
        nng_ctx_recv(a->ctx, a->aio);
        return;
    }
    nng_aio_set_msg(a->aio, m);
    a->sending = 1;
    nng_ctx_send(a->ctx, a->aio);
}

typedef struct tput_shared {
    const char *url;
    nng_socket req; /* raw */
    rpc_client *c;  /* ours */
    pthread_barrier_t start;
    atomic_int stop;
    atomic_ulong ok, errors;
} tput_shared;

static void *raw_tput_thread(void *arg)
{
    tput_shared *sh = arg;
    nng_ctx ctx;
    nng_aio *aio;
    unsigned long ok = 0, errors = 0;
    int ready = nng_ctx_open(&ctx, sh->req) == 0 && nng_aio_alloc(&aio, NULL, NULL) == 0;
    pthread_barrier_wait(&sh->start);
    while (ready && !atomic_load_explicit(&sh->stop, memory_order_relaxed)) {
        nng_msg *m = NULL;
        if (nng_msg_alloc(&m, g_req_env_len) != 0) {
            errors++;
            break;
        }
        memset(nng_msg_body(m), 'x', g_req_env_len);
        nng_aio_set_msg(aio, m);
        nng_ctx_send(ctx, aio);
        nng_aio_wait(aio);
        if (nng_aio_result(aio) != 0) {
            nng_msg_free(nng_aio_get_msg(aio));
            errors++;
            continue;
        }
        nng_ctx_recv(ctx, aio);
        nng_aio_wait(aio);
        if (nng_aio_result(aio) != 0) {
            errors++;
            continue;
        }
        nng_msg_free(nng_aio_get_msg(aio));
        ok++;
    }
    if (ready) {
        nng_aio_free(aio);
        nng_ctx_close(ctx);
    } else {
        errors++;
    }
    atomic_fetch_add(&sh->ok, ok);
    atomic_fetch_add(&sh->errors, errors);
    return NULL;
}

static void *rpc_tput_thread(void *arg)
{
    tput_shared *sh = arg;
    unsigned long ok = 0, errors = 0;
    pthread_barrier_wait(&sh->start);
    while (!atomic_load_explicit(&sh->stop, memory_order_relaxed)) {
        if (call_generate(sh->c) == 0) {
            ok++;
        } else {
            errors++;
        }
    }
    atomic_fetch_add(&sh->ok, ok);
    atomic_fetch_add(&sh->errors, errors);
    return NULL;
}

/* Runs `threads` copies of fn for B.tput_secs; returns calls/s (-1 on
 * errors). */
static double run_threads(tput_shared *sh, void *(*fn)(void *), unsigned threads)
{
    pthread_t *th = calloc(threads, sizeof(*th));
    pthread_barrier_init(&sh->start, NULL, threads + 1);
    atomic_store(&sh->stop, 0);
    atomic_store(&sh->ok, 0);
    atomic_store(&sh->errors, 0);
    for (unsigned i = 0; i < threads; i++) {
        pthread_create(&th[i], NULL, fn, sh);
    }
    pthread_barrier_wait(&sh->start);
    int64_t t0 = now_ns();
    sleep_ms((unsigned)(B.tput_secs * 1000));
    atomic_store(&sh->stop, 1);
    for (unsigned i = 0; i < threads; i++) {
        pthread_join(th[i], NULL);
    }
    int64_t t1 = now_ns();
    pthread_barrier_destroy(&sh->start);
    free(th);
    unsigned long errors = atomic_load(&sh->errors);
    if (errors > 0) {
        fprintf(stderr, "bench_rpc: %lu calls failed in the throughput run\n", errors);
        g_failed = 1;
        return -1;
    }
    return (double)atomic_load(&sh->ok) / ((double)(t1 - t0) / 1e9);
}

static double bench_raw_tput(const char *url, unsigned contexts, unsigned threads)
{
    nng_socket rep;
    tput_shared sh = {.url = url};
    int rv;
    if ((rv = nng_rep0_open(&rep)) != 0 || (rv = nng_listen(rep, url, NULL, 0)) != 0) {
        fprintf(stderr, "bench_rpc: raw REP on %s: %s\n", url, nng_strerror(rv));
        g_failed = 1;
        return -1;
    }
    raw_actx *ax = calloc(contexts, sizeof(*ax));
    for (unsigned i = 0; i < contexts; i++) {
        nng_aio_alloc(&ax[i].aio, raw_actx_cb, &ax[i]);
        nng_ctx_open(&ax[i].ctx, rep);
        nng_ctx_recv(ax[i].ctx, ax[i].aio);
    }
    double r = -1;
    if ((rv = nng_req0_open(&sh.req)) != 0 || (rv = nng_dial(sh.req, url, NULL, 0)) != 0) {
        fprintf(stderr, "bench_rpc: raw REQ to %s: %s\n", url, nng_strerror(rv));
        g_failed = 1;
    } else {
        nng_socket_set_ms(sh.req, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
        r = run_threads(&sh, raw_tput_thread, threads);
        nng_close(sh.req);
    }
    nng_close(rep);
    for (unsigned i = 0; i < contexts; i++) {
        nng_aio_stop(ax[i].aio);
    }
    for (unsigned i = 0; i < contexts; i++) {
        nng_aio_free(ax[i].aio);
    }
    free(ax);
    return r;
}

static double bench_rpc_tput_threads(rpc_client *c, unsigned threads)
{
    tput_shared sh = {.c = c};
    return run_threads(&sh, rpc_tput_thread, threads);
}

/* 64 async calls kept in flight from one thread. */
typedef struct async_state {
    sem_t slots;
    atomic_ulong ok, errors;
} async_state;

static void async_done(rpc_result *res, void *arg)
{
    async_state *st = arg;
    int bad = res->code != RPC_OK;
    if (!bad) {
        const Chat__Llm__GenerateReply *r = (const Chat__Llm__GenerateReply *)res->reply;
        bad = strcmp(r->stream_id, g_user_message) != 0;
        protobuf_c_message_free_unpacked(res->reply, NULL);
    }
    atomic_fetch_add(bad ? &st->errors : &st->ok, 1);
    sem_post(&st->slots);
}

static double bench_rpc_tput_async(rpc_client *c, unsigned depth)
{
    async_state st;
    sem_init(&st.slots, 0, depth);
    atomic_store(&st.ok, 0);
    atomic_store(&st.errors, 0);
    unsigned long start_failed = 0;
    unsigned outstanding = 0;
    int64_t t0 = now_ns(), until = t0 + (int64_t)(B.tput_secs * 1e9);
    while (now_ns() < until) {
        sem_wait(&st.slots);
        rpc_code rc = rpc_call_async(c, "Generate", &g_req.base, 0, NULL, async_done, &st);
        if (rc != RPC_OK) {
            start_failed++;
            sem_post(&st.slots);
            if (start_failed > 1000) {
                break;
            }
            continue;
        }
        outstanding++;
    }
    /* Wait for the last ones: every slot back. */
    for (unsigned i = 0; i < depth; i++) {
        sem_wait(&st.slots);
    }
    int64_t t1 = now_ns();
    sem_destroy(&st.slots);
    (void)outstanding;
    unsigned long errors = atomic_load(&st.errors) + start_failed;
    if (errors > 0) {
        fprintf(stderr, "bench_rpc: %lu async calls failed (%lu could not start)\n", errors, start_failed);
        g_failed = 1;
        return -1;
    }
    return (double)atomic_load(&st.ok) / ((double)(t1 - t0) / 1e9);
}

/* --- D: 10,000 in flight ------------------------------------------------------ */

typedef struct flood_state {
    int64_t *start_ns, *lat_ns;
    atomic_uint codes[RPC_CODE_MAX + 2]; /* last: a reply that was not the echo */
    atomic_uint completed;
    unsigned total;
    pthread_mutex_t mtx;
    pthread_cond_t cv;
} flood_state;

static flood_state g_flood;

static void flood_done(rpc_result *res, void *arg)
{
    unsigned i = (unsigned)(uintptr_t)arg;
    flood_state *st = &g_flood;
    st->lat_ns[i] = now_ns() - st->start_ns[i];
    unsigned code = (unsigned)res->code <= RPC_CODE_MAX ? (unsigned)res->code : RPC_UNKNOWN;
    if (res->code == RPC_OK) {
        const Chat__Llm__GenerateReply *r = (const Chat__Llm__GenerateReply *)res->reply;
        if (strcmp(r->stream_id, g_user_message) != 0) {
            code = RPC_CODE_MAX + 1;
        }
        protobuf_c_message_free_unpacked(res->reply, NULL);
    }
    atomic_fetch_add(&st->codes[code], 1);
    if (atomic_fetch_add(&st->completed, 1) + 1 == st->total) {
        pthread_mutex_lock(&st->mtx);
        pthread_cond_signal(&st->cv);
        pthread_mutex_unlock(&st->mtx);
    }
}

static void bench_flood(const char *url, unsigned n)
{
    const unsigned contexts = 1024, workers = 4;
    const uint32_t timeout_ms = 60000;
    printf("\nD. %u calls in flight at once from one client (tcp; client max_in_flight %u, timeout %u s;\n"
           "   server %u contexts, %u workers)\n",
           n, n, timeout_ms / 1000, contexts, workers);
    rpc_server *s = server_start(url, contexts, workers);
    if (s == NULL) {
        return;
    }
    rpc_client *c = client_open(url, n, timeout_ms);
    if (c == NULL) {
        rpc_server_stop(s);
        return;
    }
    flood_state *st = &g_flood;
    memset(st, 0, sizeof(*st));
    st->total = n;
    st->start_ns = calloc(n, sizeof(int64_t));
    st->lat_ns = calloc(n, sizeof(int64_t));
    pthread_mutex_init(&st->mtx, NULL);
    pthread_cond_init(&st->cv, NULL);

    unsigned start_codes[RPC_CODE_MAX + 1] = {0};
    int64_t t0 = now_ns();
    for (unsigned i = 0; i < n; i++) {
        st->start_ns[i] = now_ns();
        rpc_code rc = rpc_call_async(c, "Generate", &g_req.base, timeout_ms, NULL, flood_done, (void *)(uintptr_t)i);
        if (rc != RPC_OK) {
            start_codes[rc <= RPC_CODE_MAX ? rc : RPC_UNKNOWN]++;
            st->lat_ns[i] = 0;
            if (atomic_fetch_add(&st->completed, 1) + 1 == n) {
                break;
            }
        }
    }
    int64_t t_issued = now_ns();
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += timeout_ms / 1000 + 30;
    pthread_mutex_lock(&st->mtx);
    while (atomic_load(&st->completed) < n) {
        if (pthread_cond_timedwait(&st->cv, &st->mtx, &until) != 0) {
            break;
        }
    }
    pthread_mutex_unlock(&st->mtx);
    int64_t t_end = now_ns();
    unsigned completed = atomic_load(&st->completed);

    rpc_server_stats ss;
    rpc_server_get_stats(s, &ss);
    /* Closing ends anything still in flight (CANCELLED) before returning. */
    rpc_client_close(c);
    rpc_server_stop(s);

    unsigned errors = 0;
    for (unsigned k = 0; k <= RPC_CODE_MAX; k++) {
        errors += start_codes[k];
        if (k != RPC_OK) {
            errors += atomic_load(&st->codes[k]);
        }
    }
    errors += atomic_load(&st->codes[RPC_CODE_MAX + 1]);
    double total_ms = (double)(t_end - t0) / 1e6;
    lat_stats ls = lat_compute(st->lat_ns, n);
    printf("   issued %u calls in %.1f ms (%.1f us per rpc_call_async)\n", n, (double)(t_issued - t0) / 1e6,
           (double)(t_issued - t0) / 1e3 / n);
    printf("   completed %u of %u in %.1f ms total: %.0f calls/s\n", completed, n, total_ms,
           completed / (total_ms / 1000.0));
    printf("   per-call latency (start to callback): p50 %.1f ms, p99 %.1f ms, max %.1f ms\n", ls.p50_us / 1000,
           ls.p99_us / 1000, ls.max_us / 1000);
    printf("   server: received %llu, handled %llu, expired %llu, malformed %llu\n", (unsigned long long)ss.received,
           (unsigned long long)ss.handled, (unsigned long long)ss.expired, (unsigned long long)ss.malformed);
    printf("   completions by code:");
    for (unsigned k = 0; k <= RPC_CODE_MAX; k++) {
        unsigned v = atomic_load(&st->codes[k]);
        if (v > 0) {
            printf(" %s %u", rpc_code_name((rpc_code)k), v);
        }
    }
    if (atomic_load(&st->codes[RPC_CODE_MAX + 1]) > 0) {
        printf(" WRONG_REPLY %u", atomic_load(&st->codes[RPC_CODE_MAX + 1]));
    }
    printf("\n");
    for (unsigned k = 0; k <= RPC_CODE_MAX; k++) {
        if (start_codes[k] > 0) {
            printf("   could not start: %s %u\n", rpc_code_name((rpc_code)k), start_codes[k]);
        }
    }
    if (completed < n) {
        printf("   %u calls never completed within %u s\n", n - completed, timeout_ms / 1000 + 30);
        errors += n - completed;
    }
    printf("   errors: %u\n", errors);
    if (errors > 0) {
        g_failed = 1;
    }
    summary("flood_calls", "%u", n);
    summary("flood_errors", "%u", errors);
    summary("flood_total_ms", "%.1f", total_ms);
    summary("flood_calls_per_s", "%.0f", completed / (total_ms / 1000.0));
    summary("flood_p99_ms", "%.1f", ls.p99_us / 1000);

    pthread_mutex_destroy(&st->mtx);
    pthread_cond_destroy(&st->cv);
    free(st->start_ns);
    free(st->lat_ns);
}

/* --- main ---------------------------------------------------------------------- */

static void print_lat_row(const char *transport, const char *what, const lat_stats *s, const lat_stats *base)
{
    printf("   %-4s %-36s %9.1f %9.1f %9.1f", transport, what, s->mean_us, s->p50_us, s->p99_us);
    if (base != NULL && base->mean_us > 0) {
        printf("   x%.2f  x%.2f  x%.2f", s->mean_us / base->mean_us, s->p50_us / base->p50_us,
               s->p99_us / base->p99_us);
    } else {
        printf("   (baseline)");
    }
    printf("\n");
}

static void latency_pair(const char *transport, int with_summary)
{
    char url[128];
    lat_stats raw = {0}, ours = {0};
    make_url(url, sizeof(url), transport);
    int ra = bench_raw_pingpong(url, &raw);
    make_url(url, sizeof(url), transport);
    int rb = bench_rpc_pingpong(url, &ours);
    if (ra != 0) {
        g_failed = 1;
        printf("   %-4s raw nng REQ/REP: FAILED\n", transport);
    } else {
        print_lat_row(transport, "raw nng REQ/REP (baseline A)", &raw, NULL);
    }
    if (rb != 0) {
        printf("   %-4s rpc_call_sync Llm/Generate: FAILED\n", transport);
    } else {
        print_lat_row(transport, "rpc_call_sync Llm/Generate (B)", &ours, ra == 0 ? &raw : NULL);
    }
    if (ra == 0 && rb == 0) {
        double ratio = ours.mean_us / raw.mean_us;
        printf("   %-4s ratio B/A (mean) = %.2f   goal <= 1.20: %s\n", transport, ratio,
               ratio <= 1.2 ? "met" : "NOT met");
        if (with_summary) {
            summary("tcp_raw_mean_us", "%.1f", raw.mean_us);
            summary("tcp_raw_p50_us", "%.1f", raw.p50_us);
            summary("tcp_raw_p99_us", "%.1f", raw.p99_us);
            summary("tcp_rpc_mean_us", "%.1f", ours.mean_us);
            summary("tcp_rpc_p50_us", "%.1f", ours.p50_us);
            summary("tcp_rpc_p99_us", "%.1f", ours.p99_us);
            summary("tcp_ratio_mean", "%.2f", ratio);
            summary("tcp_ratio_p50", "%.2f", ours.p50_us / raw.p50_us);
        } else {
            summary("ipc_raw_mean_us", "%.1f", raw.mean_us);
            summary("ipc_rpc_mean_us", "%.1f", ours.mean_us);
            summary("ipc_ratio_mean", "%.2f", ratio);
        }
    }
}

static void throughput(void)
{
    char url[128];
    unsigned n = B.concurrency;
    printf("\nC. Throughput with %u concurrent callers, tcp, ~%.1f s each\n", n, B.tput_secs);
    printf("   %-58s %12s %8s\n", "what", "calls/s", "vs raw");

    make_url(url, sizeof(url), "tcp");
    double raw = bench_raw_tput(url, 128, n);
    printf("   %-58s %12.0f %8s\n", "raw nng: 64 threads x ctx send/recv, REP 128 ctx (baseline)", raw, "");

    make_url(url, sizeof(url), "tcp");
    rpc_server *s = server_start(url, 0, 0);
    rpc_client *c = s ? client_open(url, 0, 0) : NULL;
    double thr = -1, asy = -1;
    if (c != NULL) {
        for (unsigned i = 0; i < B.warmup / 4; i++) {
            call_generate(c);
        }
        thr = bench_rpc_tput_threads(c, n);
        printf("   %-58s %12.0f %7.2fx\n", "rpc: 64 threads x rpc_call_sync (128 ctx, 4 workers)", thr,
               raw > 0 ? thr / raw : 0);
        asy = bench_rpc_tput_async(c, n);
        printf("   %-58s %12.0f %7.2fx\n", "rpc: 64 rpc_call_async in flight from one thread", asy,
               raw > 0 ? asy / raw : 0);
        rpc_client_close(c);
    }
    if (s != NULL) {
        rpc_server_stop(s);
    }
    summary("tput_raw_calls_per_s", "%.0f", raw);
    summary("tput_sync64_calls_per_s", "%.0f", thr);
    summary("tput_async64_calls_per_s", "%.0f", asy);
    summary("tput_sync64_vs_raw", "%.2f", raw > 0 ? thr / raw : 0);
    summary("tput_async64_vs_raw", "%.2f", raw > 0 ? asy / raw : 0);
}

static void usage(FILE *out)
{
    fprintf(out, "usage: bench_rpc [--quick] [--summary FILE]\n"
                 "  --quick         small counts (a smoke run, e.g. under ASan)\n"
                 "  --summary FILE  also write the key figures as key=value lines\n");
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0) {
            B.quick = 1;
            B.round_trips = 2000;
            B.warmup = 200;
            B.tput_secs = 0.5;
            B.inflight = 10000;
        } else if (strcmp(argv[i], "--summary") == 0 && i + 1 < argc) {
            B.summary_path = argv[++i];
        } else if (strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (B.summary_path != NULL && (g_summary = fopen(B.summary_path, "w")) == NULL) {
        perror(B.summary_path);
        return 2;
    }
    log_init("bench_rpc", LOG_WARN);
    payload_init();

    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    printf("bench_rpc%s: nng %s, %ld CPU%s\n", B.quick ? " --quick" : "", nng_version(), cpus, cpus == 1 ? "" : "s");
    printf("payload: Llm/Generate with a %zu-byte user_message, echoed into stream_id;\n"
           "         packed request envelope %zu bytes, reply envelope %zu bytes (raw baselines send the same sizes)\n",
           strlen(g_user_message), g_req_env_len, g_rep_env_len);

    printf("\nA/B. Latency, one caller, %u round trips after %u warm-up (us per round trip)\n", B.round_trips,
           B.warmup);
    printf("   %-4s %-36s %9s %9s %9s   %s\n", "tr.", "what", "mean", "p50", "p99", "ratio mean/p50/p99");
    latency_pair("tcp", 1);
    latency_pair("ipc", 0);

    throughput();

    char url[128];
    make_url(url, sizeof(url), "tcp");
    bench_flood(url, B.inflight);

    summary("failed", "%d", g_failed);
    if (g_summary != NULL) {
        fclose(g_summary);
    }
    nng_fini();
    printf("\nbench_rpc: %s\n", g_failed ? "FAILED (see the errors above)" : "done");
    return g_failed ? 1 : 0;
}
