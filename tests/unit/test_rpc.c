/*
 * test_rpc.c - unit tests for lib/rpc.c, lib/rpc_server.c and lib/rpc_client.c
 * (Criterion).
 *
 * Every test starts its own server (Criterion forks per test) implementing
 * the generated chat.llm.Llm service with the handlers below, on
 * ipc:///tmp/chat-rpc-test-<pid>-<n>.sock or on tcp://127.0.0.1:<port> with
 * a port derived from the pid. Handlers:
 *
 *   Health    rpc_fill_health
 *   Generate  echoes user_message into stream_id (request id into provider,
 *             the remaining budget in ms into model); "sleep:N" sleeps N ms
 *             first; "fail:N" answers rpc_fail(code N); "noreply" returns
 *             without calling the closure
 *   Poll      rpc_defer, then replies from another thread after max_wait_ms
 *   Cancel    counts its calls
 *
 * Assertions run on the test's own thread only: callbacks and helper
 * threads record what they saw, the test checks it afterwards.
 * Set RPC_TEST_LOG=1 to see the library's log lines.
 */
#include <criterion/criterion.h>

#include <dlfcn.h>
#include <limits.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "llm.pb-c.h"
#include "log.h"
#include "rpc.h"
#include "rpc.pb-c.h"
#include "rpc_client.h"
#include "rpc_server.h"
#include "watchdog.h"

#define URL_MAX 128
#define SERVER_NAME "test-llm"

/* ------------------------------------------------------------- helpers */

static void sleep_ms(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

static int64_t now_ms(void)
{
    return clock_mono_ms();
}

static void abs_deadline(struct timespec *ts, int timeout_ms)
{
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_sec += timeout_ms / 1000;
    ts->tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

/* --------------------------------------------------- the test service */

static atomic_int g_generate_calls; /* every Generate that reached the handler */
static atomic_int g_sleep_calls;    /* of which "sleep:N" */
static atomic_int g_cancel_calls;
static atomic_int g_poll_calls;

static void ts_health(Chat__Llm__Llm_Service *svc, const Chat__Rpc__HealthRequest *in,
                      Chat__Rpc__HealthReply_Closure done, void *cd)
{
    (void)svc;
    (void)in;
    Chat__Rpc__HealthReply rep = CHAT__RPC__HEALTH_REPLY__INIT;
    rpc_fill_health(cd, &rep);
    done(&rep, cd);
}

static void ts_generate(Chat__Llm__Llm_Service *svc, const Chat__Llm__GenerateRequest *in,
                        Chat__Llm__GenerateReply_Closure done, void *cd)
{
    (void)svc;
    const char *m = in->user_message ? in->user_message : "";
    atomic_fetch_add(&g_generate_calls, 1);
    if (strncmp(m, "sleep:", 6) == 0) {
        atomic_fetch_add(&g_sleep_calls, 1);
        sleep_ms(atoi(m + 6));
    } else if (strncmp(m, "fail:", 5) == 0) {
        int code = atoi(m + 5);
        rpc_fail(cd, (rpc_code)code, "failing on purpose with code %d", code);
        done(NULL, cd);
        return;
    } else if (strcmp(m, "noreply") == 0) {
        return; /* a handler bug: the server must answer INTERNAL */
    } else if (strncmp(m, "big:", 4) == 0) {
        /* a small request whose reply is N bytes */
        size_t n = (size_t)atol(m + 4);
        char *big = malloc(n + 1);
        memset(big, 'b', n);
        big[n] = '\0';
        Chat__Llm__GenerateReply rep = CHAT__LLM__GENERATE_REPLY__INIT;
        rep.stream_id = big;
        done(&rep, cd);
        free(big);
        return;
    }
    char remaining[32];
    snprintf(remaining, sizeof remaining, "%lld", (long long)rpc_call_remaining_ms(cd));
    Chat__Llm__GenerateReply rep = CHAT__LLM__GENERATE_REPLY__INIT;
    rep.stream_id = (char *)m;
    rep.provider = (char *)rpc_call_request_id(cd);
    rep.model = remaining;
    done(&rep, cd);
}

/* Deferred Poll replies run on threads the test joins before stopping the
 * server (a deferred closure must not outlive its server). */
#define MAX_DEFERRED 32
static pthread_mutex_t g_def_mtx = PTHREAD_MUTEX_INITIALIZER;
static pthread_t g_def_threads[MAX_DEFERRED];
static int g_ndef;

typedef struct deferred_poll {
    void *cd;
    Chat__Llm__PollReply_Closure done;
    uint32_t wait_ms;
    uint32_t after_seq;
    char stream_id[128];
} deferred_poll;

static void deferred_reply(deferred_poll *d)
{
    Chat__Llm__Delta delta = CHAT__LLM__DELTA__INIT;
    Chat__Llm__Delta *deltas[1] = {&delta};
    delta.seq = d->after_seq + 1;
    delta.text = d->stream_id;
    Chat__Llm__PollReply rep = CHAT__LLM__POLL_REPLY__INIT;
    rep.n_deltas = 1;
    rep.deltas = deltas;
    rep.done = 1;
    rep.stop_reason = "end_turn";
    d->done(&rep, d->cd);
    free(d);
}

static void *deferred_main(void *arg)
{
    deferred_poll *d = arg;
    sleep_ms((int)d->wait_ms);
    deferred_reply(d);
    return NULL;
}

static void ts_poll(Chat__Llm__Llm_Service *svc, const Chat__Llm__PollRequest *in, Chat__Llm__PollReply_Closure done,
                    void *cd)
{
    (void)svc;
    atomic_fetch_add(&g_poll_calls, 1);
    deferred_poll *d = calloc(1, sizeof *d);
    if (d == NULL) {
        rpc_fail(cd, RPC_RESOURCE_EXHAUSTED, "out of memory");
        done(NULL, cd);
        return;
    }
    d->cd = cd;
    d->done = done;
    d->wait_ms = in->max_wait_ms;
    d->after_seq = in->after_seq;
    snprintf(d->stream_id, sizeof d->stream_id, "%s", in->stream_id ? in->stream_id : "");
    rpc_defer(cd);
    pthread_mutex_lock(&g_def_mtx);
    int ok = g_ndef < MAX_DEFERRED && pthread_create(&g_def_threads[g_ndef], NULL, deferred_main, d) == 0;
    if (ok) {
        g_ndef++;
    }
    pthread_mutex_unlock(&g_def_mtx);
    if (!ok) {
        deferred_reply(d); /* still a valid deferred answer, just early */
    }
}

static void join_deferred(void)
{
    pthread_mutex_lock(&g_def_mtx);
    for (int i = 0; i < g_ndef; i++) {
        pthread_join(g_def_threads[i], NULL);
    }
    g_ndef = 0;
    pthread_mutex_unlock(&g_def_mtx);
}

static void ts_cancel(Chat__Llm__Llm_Service *svc, const Chat__Llm__CancelRequest *in,
                      Chat__Llm__CancelReply_Closure done, void *cd)
{
    (void)svc;
    (void)in;
    atomic_fetch_add(&g_cancel_calls, 1);
    Chat__Llm__CancelReply rep = CHAT__LLM__CANCEL_REPLY__INIT;
    rep.was_running = 1;
    done(&rep, cd);
}

static Chat__Llm__Llm_Service g_service = CHAT__LLM__LLM__INIT(ts_);

/* ------------------------------------------------------ server, client */

static FILE *g_devnull;

static void suite_init(void)
{
    wd_suite_init();
    log_init("test-rpc", LOG_WARN);
    if (getenv("RPC_TEST_LOG") == NULL) {
        g_devnull = fopen("/dev/null", "w");
        if (g_devnull != NULL) {
            log_set_output(g_devnull);
        }
    }
}

static void suite_fini(void)
{
    join_deferred();
    log_set_output(NULL);
    if (g_devnull != NULL) {
        fclose(g_devnull);
        g_devnull = NULL;
    }
}

TestSuite(rpc, .init = suite_init, .fini = suite_fini, .timeout = WD_SUITE_TIMEOUT);

static void ipc_url(char *buf, size_t len)
{
    static int seq;
    snprintf(buf, len, "ipc:///tmp/chat-rpc-test-%ld-%d.sock", (long)getpid(), ++seq);
}

typedef struct server_cfg {
    unsigned workers;
    unsigned contexts;
    size_t max_msg;
    int (*ready)(char *detail, size_t detail_len, void *arg);
} server_cfg;

static int try_start(rpc_server **s, const char *url, const server_cfg *sc, char *err, size_t errlen)
{
    rpc_server_opts o = {.url = url, .name = SERVER_NAME};
    if (sc != NULL) {
        o.workers = sc->workers;
        o.contexts = sc->contexts;
        o.max_msg = sc->max_msg;
        o.ready = sc->ready;
    }
    return rpc_server_start(s, &g_service.base, &o, err, errlen);
}

static rpc_server *start_server(const char *url, const server_cfg *sc)
{
    rpc_server *s = NULL;
    char err[256] = "";
    int rv = try_start(&s, url, sc, err, sizeof err);
    cr_assert_eq(rv, 0, "rpc_server_start(%s): %s", url, err);
    cr_assert_not_null(s);
    return s;
}

/* A free port below the ephemeral range, derived from the pid. */
static rpc_server *start_tcp_server(char *url, size_t len, const server_cfg *sc)
{
    char err[256] = "";
    for (unsigned i = 0; i < 64; i++) {
        unsigned port = 20000u + ((unsigned)getpid() * 7u + i * 131u) % 12000u;
        snprintf(url, len, "tcp://127.0.0.1:%u", port);
        rpc_server *s = NULL;
        if (try_start(&s, url, sc, err, sizeof err) == 0) {
            return s;
        }
    }
    cr_assert_fail("no free TCP port for the test server: %s", err);
    return NULL;
}

static void stop_server(rpc_server *s, const char *url)
{
    join_deferred();
    rpc_server_stop(s);
    if (strncmp(url, "ipc://", 6) == 0) {
        unlink(url + 6);
    }
}

static rpc_client *open_client(const char *url, const rpc_client_opts *o)
{
    rpc_client *c = NULL;
    char err[256] = "";
    int rv = rpc_client_open(&c, &chat__llm__llm__descriptor, url, o, err, sizeof err);
    cr_assert_eq(rv, 0, "rpc_client_open(%s): %s", url, err);
    cr_assert_not_null(c);
    return c;
}

static rpc_server_stats get_stats(rpc_server *s)
{
    rpc_server_stats st;
    memset(&st, 0xa5, sizeof st);
    rpc_server_get_stats(s, &st);
    return st;
}

/* Stats once nothing is in flight: a call's reply can reach the client
 * before the server's send completion has run and decremented in_flight. */
static rpc_server_stats wait_idle(rpc_server *s)
{
    rpc_server_stats st = get_stats(s);
    int64_t until = now_ms() + 1000;
    while (st.in_flight != 0 && now_ms() < until) {
        sleep_ms(1);
        st = get_stats(s);
    }
    return st;
}

static void result_free(rpc_result *res)
{
    if (res->reply != NULL) {
        protobuf_c_message_free_unpacked(res->reply, NULL);
        res->reply = NULL;
    }
}

static rpc_code generate(rpc_client *c, const char *msg, uint32_t timeout_ms, const char *rid, rpc_result *res)
{
    Chat__Llm__GenerateRequest req = CHAT__LLM__GENERATE_REQUEST__INIT;
    req.user_message = (char *)msg;
    return rpc_call_sync(c, "Generate", &req.base, timeout_ms, rid, res);
}

/* A Generate that must succeed and echo msg. */
static void generate_ok(rpc_client *c, const char *msg, uint32_t timeout_ms)
{
    rpc_result res;
    rpc_code rc = generate(c, msg, timeout_ms, NULL, &res);
    cr_assert_eq(rc, RPC_OK, "Generate(%s): %s: %s", msg, rpc_code_name(rc), res.message);
    cr_assert_eq(res.code, RPC_OK, "res.code matches the return value");
    cr_assert_not_null(res.reply, "Generate(%s): OK without a reply", msg);
    cr_assert_eq(res.reply->descriptor, &chat__llm__generate_reply__descriptor, "reply type");
    const Chat__Llm__GenerateReply *r = (const Chat__Llm__GenerateReply *)res.reply;
    cr_assert_str_eq(r->stream_id, msg, "Generate echoes user_message");
    result_free(&res);
}

/* Retries Generate(msg) until OK or budget_ms passes; returns attempts made,
 * counts the OK ones in *ok (0 or 1). Every failure must be UNAVAILABLE. */
static int generate_until_ok(rpc_client *c, const char *msg, int budget_ms, uint32_t timeout_ms, int *ok,
                             rpc_code *other)
{
    int64_t until = now_ms() + budget_ms;
    int attempts = 0;
    *ok = 0;
    *other = RPC_OK;
    while (now_ms() < until) {
        rpc_result res;
        attempts++;
        rpc_code rc = generate(c, msg, timeout_ms, NULL, &res);
        if (rc == RPC_OK) {
            const Chat__Llm__GenerateReply *r = (const Chat__Llm__GenerateReply *)res.reply;
            if (r != NULL && strcmp(r->stream_id, msg) == 0) {
                *ok = 1;
            } else {
                *other = RPC_INTERNAL;
            }
            result_free(&res);
            return attempts;
        }
        if (rc != RPC_UNAVAILABLE) {
            *other = rc;
        }
        result_free(&res);
        sleep_ms(20);
    }
    return attempts;
}

/* One async call's outcome. */
typedef struct waiter {
    pthread_mutex_t mtx;
    pthread_cond_t cv;
    int calls; /* times the callback ran: must end at exactly 1 */
    rpc_code code;
    char message[RPC_STATUS_MESSAGE_MAX + 1];
    char stream_id[256];
    int has_reply;
    int64_t done_ms;
} waiter;

static void waiter_init(waiter *w)
{
    memset(w, 0, sizeof *w);
    pthread_mutex_init(&w->mtx, NULL);
    pthread_cond_init(&w->cv, NULL);
    w->code = (rpc_code)-1;
}

static void waiter_fini(waiter *w)
{
    pthread_mutex_destroy(&w->mtx);
    pthread_cond_destroy(&w->cv);
}

static void waiter_cb(rpc_result *res, void *arg)
{
    waiter *w = arg;
    pthread_mutex_lock(&w->mtx);
    w->code = res->code;
    snprintf(w->message, sizeof w->message, "%s", res->message);
    if (res->reply != NULL) {
        w->has_reply = 1;
        if (res->reply->descriptor == &chat__llm__generate_reply__descriptor) {
            snprintf(w->stream_id, sizeof w->stream_id, "%s",
                     ((const Chat__Llm__GenerateReply *)res->reply)->stream_id);
        }
        protobuf_c_message_free_unpacked(res->reply, NULL);
        res->reply = NULL;
    }
    w->done_ms = now_ms();
    w->calls++;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mtx);
}

/* 1 when the callback ran within timeout_ms. */
static int waiter_wait(waiter *w, int timeout_ms)
{
    struct timespec until;
    abs_deadline(&until, timeout_ms);
    pthread_mutex_lock(&w->mtx);
    while (w->calls == 0) {
        if (pthread_cond_timedwait(&w->cv, &w->mtx, &until) != 0) {
            break;
        }
    }
    int done = w->calls > 0;
    pthread_mutex_unlock(&w->mtx);
    return done;
}

static rpc_code generate_async(rpc_client *c, const char *msg, uint32_t timeout_ms, waiter *w)
{
    Chat__Llm__GenerateRequest req = CHAT__LLM__GENERATE_REQUEST__INIT;
    req.user_message = (char *)msg;
    return rpc_call_async(c, "Generate", &req.base, timeout_ms, NULL, waiter_cb, w);
}

/* Waits until the handler has seen n "sleep:" calls. */
static void wait_sleep_calls(int n, int timeout_ms)
{
    int64_t until = now_ms() + timeout_ms;
    while (atomic_load(&g_sleep_calls) < n && now_ms() < until) {
        sleep_ms(2);
    }
    cr_assert_geq(atomic_load(&g_sleep_calls), n, "the sleep call never reached the handler");
}

/* Packs an envelope for rpc_call_raw; caller frees. */
static uint8_t *pack_envelope(const char *method, const char *rid, uint32_t timeout_ms, const void *body, size_t blen,
                              size_t *len)
{
    Chat__Rpc__Request env = CHAT__RPC__REQUEST__INIT;
    env.method = (char *)method;
    env.request_id = (char *)rid;
    env.timeout_ms = timeout_ms;
    env.body.data = (uint8_t *)body;
    env.body.len = blen;
    *len = chat__rpc__request__get_packed_size(&env);
    uint8_t *buf = malloc(*len ? *len : 1);
    cr_assert_not_null(buf);
    chat__rpc__request__pack(&env, buf);
    return buf;
}

static uint8_t *pack_message(const ProtobufCMessage *m, size_t *len)
{
    *len = protobuf_c_message_get_packed_size(m);
    uint8_t *buf = malloc(*len ? *len : 1);
    cr_assert_not_null(buf);
    protobuf_c_message_pack(m, buf);
    return buf;
}

/* Sends raw bytes; the call must get a reply, returned unpacked. */
static Chat__Rpc__Reply *raw_call(rpc_client *c, const void *data, size_t len, uint32_t timeout_ms)
{
    void *rep = NULL;
    size_t rlen = 0;
    int rv = rpc_call_raw(c, data, len, timeout_ms, &rep, &rlen);
    cr_assert_eq(rv, 0, "rpc_call_raw(%zu bytes): %s", len, nng_strerror(rv));
    Chat__Rpc__Reply *r = chat__rpc__reply__unpack(NULL, rlen, rep);
    free(rep);
    cr_assert_not_null(r, "the raw reply (%zu bytes) is not a Reply envelope", rlen);
    return r;
}

/* -------------------------------------------- 1. round trip, sync calls */

static int not_ready(char *detail, size_t len, void *arg)
{
    (void)arg;
    snprintf(detail, len, "no database");
    return 0;
}

static void roundtrip_scenario(const char *url, rpc_server *s)
{
    rpc_client *c = open_client(url, NULL);

    /* Generate: content, request id and budget reach the handler. */
    rpc_result res;
    rpc_code rc = generate(c, "hello, world", 5000, "rid-roundtrip-1", &res);
    cr_assert_eq(rc, RPC_OK, "Generate: %s: %s", rpc_code_name(rc), res.message);
    cr_assert_not_null(res.reply);
    cr_assert_eq(res.reply->descriptor, &chat__llm__generate_reply__descriptor, "reply has the method's type");
    const Chat__Llm__GenerateReply *g = (const Chat__Llm__GenerateReply *)res.reply;
    cr_expect_str_eq(g->stream_id, "hello, world", "user_message echoed into stream_id");
    cr_expect_str_eq(g->provider, "rid-roundtrip-1", "the handler sees the caller's request id");
    long long left = atoll(g->model);
    cr_expect(left > 4000 && left <= 5000, "the handler sees the caller's budget (5000 ms), got %lld", left);
    cr_expect_str_eq(res.message, "", "no status message when OK");
    result_free(&res);

    /* An empty request and a generated request id. */
    rc = generate(c, "", 0, NULL, &res);
    cr_assert_eq(rc, RPC_OK, "empty Generate: %s: %s", rpc_code_name(rc), res.message);
    g = (const Chat__Llm__GenerateReply *)res.reply;
    cr_expect_str_eq(g->stream_id, "");
    cr_expect_eq(strlen(g->provider), 16, "a request id is made when none is given: \"%s\"", g->provider);
    left = atoll(g->model);
    cr_expect(left > RPC_DEFAULT_TIMEOUT_MS - 1000 && left <= RPC_DEFAULT_TIMEOUT_MS,
              "timeout 0 = the client's default budget, got %lld", left);
    result_free(&res);

    /* Health. */
    Chat__Rpc__HealthRequest hreq = CHAT__RPC__HEALTH_REQUEST__INIT;
    rc = rpc_call_sync(c, "Health", &hreq.base, 2000, NULL, &res);
    cr_assert_eq(rc, RPC_OK, "Health: %s: %s", rpc_code_name(rc), res.message);
    cr_assert_not_null(res.reply);
    cr_assert_eq(res.reply->descriptor, &chat__rpc__health_reply__descriptor);
    const Chat__Rpc__HealthReply *h = (const Chat__Rpc__HealthReply *)res.reply;
    cr_expect_str_eq(h->service, SERVER_NAME, "Health names the server");
    cr_expect_eq(h->ready, 1, "ready without a ready() check");
    cr_expect_str_eq(h->detail, "");
    cr_expect_neq(h->version[0], '\0', "a version");
    cr_expect_neq(h->replica_id[0], '\0', "a replica id");
    result_free(&res);

    /* Cancel: counted by the handler. */
    for (int i = 0; i < 3; i++) {
        Chat__Llm__CancelRequest creq = CHAT__LLM__CANCEL_REQUEST__INIT;
        creq.stream_id = "s-1";
        rc = rpc_call_sync(c, "Cancel", &creq.base, 2000, NULL, &res);
        cr_assert_eq(rc, RPC_OK, "Cancel: %s: %s", rpc_code_name(rc), res.message);
        cr_expect_eq(((const Chat__Llm__CancelReply *)res.reply)->was_running, 1);
        result_free(&res);
    }
    cr_expect_eq(atomic_load(&g_cancel_calls), 3, "Cancel handler ran once per call");
    cr_expect_eq(rpc_client_connected(c), 1, "connected after calls");

    rpc_server_stats st = wait_idle(s);
    cr_expect_eq(st.received, 6, "envelopes received");
    cr_expect_eq(st.handled, 6, "calls handled");
    cr_expect_eq(st.malformed + st.unknown + st.expired + st.rejected, 0, "no error counted");
    cr_expect_eq(st.in_flight, 0, "nothing in flight");
    rpc_client_close(c);
}

Test(rpc, roundtrip_sync_ipc)
{
    char url[URL_MAX];
    ipc_url(url, sizeof url);
    rpc_server *s = start_server(url, NULL);
    roundtrip_scenario(url, s);
    stop_server(s, url);
}

Test(rpc, roundtrip_sync_tcp)
{
    char url[URL_MAX];
    rpc_server *s = start_tcp_server(url, sizeof url, NULL);
    roundtrip_scenario(url, s);
    stop_server(s, url);
}

Test(rpc, health_not_ready)
{
    char url[URL_MAX];
    ipc_url(url, sizeof url);
    server_cfg sc = {.ready = not_ready};
    rpc_server *s = start_server(url, &sc);
    rpc_client *c = open_client(url, NULL);
    Chat__Rpc__HealthRequest hreq = CHAT__RPC__HEALTH_REQUEST__INIT;
    rpc_result res;
    rpc_code rc = rpc_call_sync(c, "Health", &hreq.base, 2000, NULL, &res);
    cr_assert_eq(rc, RPC_OK, "Health: %s: %s", rpc_code_name(rc), res.message);
    const Chat__Rpc__HealthReply *h = (const Chat__Rpc__HealthReply *)res.reply;
    cr_expect_eq(h->ready, 0, "ready() said no");
    cr_expect_str_eq(h->detail, "no database", "ready()'s detail is passed on");
    result_free(&res);
    rpc_client_close(c);
    stop_server(s, url);
}

/* ------------------------------------------------------------ 2. async */

#define ASYNC_N 500

typedef struct batch {
    pthread_mutex_t mtx;
    pthread_cond_t cv;
    int done;
    atomic_int ok, bad;
} batch;

typedef struct batch_call {
    batch *b;
    char expect[48];
} batch_call;

static void batch_cb(rpc_result *res, void *arg)
{
    batch_call *bc = arg;
    batch *b = bc->b;
    const Chat__Llm__GenerateReply *r = (const Chat__Llm__GenerateReply *)res->reply;
    if (res->code == RPC_OK && r != NULL && r->base.descriptor == &chat__llm__generate_reply__descriptor &&
        strcmp(r->stream_id, bc->expect) == 0) {
        atomic_fetch_add(&b->ok, 1);
    } else {
        atomic_fetch_add(&b->bad, 1);
    }
    if (res->reply != NULL) {
        protobuf_c_message_free_unpacked(res->reply, NULL);
    }
    pthread_mutex_lock(&b->mtx);
    b->done++;
    pthread_cond_broadcast(&b->cv);
    pthread_mutex_unlock(&b->mtx);
}

Test(rpc, async_many)
{
    char url[URL_MAX];
    ipc_url(url, sizeof url);
    rpc_server *s = start_server(url, NULL);
    rpc_client *c = open_client(url, NULL);

    static batch_call calls[ASYNC_N];
    batch b = {.done = 0};
    pthread_mutex_init(&b.mtx, NULL);
    pthread_cond_init(&b.cv, NULL);
    int started = 0;
    for (int i = 0; i < ASYNC_N; i++) {
        calls[i].b = &b;
        snprintf(calls[i].expect, sizeof calls[i].expect, "async-%d-%d", i, rand());
        Chat__Llm__GenerateRequest req = CHAT__LLM__GENERATE_REQUEST__INIT;
        req.user_message = calls[i].expect;
        rpc_code rc = rpc_call_async(c, "Generate", &req.base, 10000, NULL, batch_cb, &calls[i]);
        cr_expect_eq(rc, RPC_OK, "call %d did not start: %s", i, rpc_code_name(rc));
        started += rc == RPC_OK;
    }
    struct timespec until;
    abs_deadline(&until, 10000);
    pthread_mutex_lock(&b.mtx);
    while (b.done < started) {
        if (pthread_cond_timedwait(&b.cv, &b.mtx, &until) != 0) {
            break;
        }
    }
    int done = b.done;
    pthread_mutex_unlock(&b.mtx);

    cr_expect_eq(started, ASYNC_N);
    cr_expect_eq(done, ASYNC_N, "callbacks run: %d of %d", done, ASYNC_N);
    cr_expect_eq(atomic_load(&b.ok), ASYNC_N, "good replies: %d", atomic_load(&b.ok));
    cr_expect_eq(atomic_load(&b.bad), 0, "bad replies: %d", atomic_load(&b.bad));
    cr_expect_eq(get_stats(s).handled, ASYNC_N);
    rpc_client_close(c);
    pthread_mutex_lock(&b.mtx);
    cr_expect_eq(b.done, ASYNC_N, "no callback runs twice or late");
    pthread_mutex_unlock(&b.mtx);
    pthread_mutex_destroy(&b.mtx);
    pthread_cond_destroy(&b.cv);
    stop_server(s, url);
}

/* ------------------------------------------------------ 3. concurrency */

#define CONC_THREADS 16
#define CONC_CALLS 200

typedef struct conc_arg {
    rpc_client *c;
    int index;
    int ok, mismatched, failed;
    rpc_code first_err;
    char first_msg[RPC_STATUS_MESSAGE_MAX + 1];
} conc_arg;

static void *conc_main(void *arg)
{
    conc_arg *a = arg;
    unsigned seed = (unsigned)a->index * 2654435761u ^ (unsigned)getpid();
    for (int i = 0; i < CONC_CALLS; i++) {
        char msg[64];
        snprintf(msg, sizeof msg, "t%02d-c%03d-%08x", a->index, i, rand_r(&seed));
        rpc_result res;
        rpc_code rc = generate(a->c, msg, 10000, NULL, &res);
        if (rc != RPC_OK) {
            if (a->failed++ == 0) {
                a->first_err = rc;
                snprintf(a->first_msg, sizeof a->first_msg, "%s", res.message);
            }
        } else if (res.reply == NULL || strcmp(((Chat__Llm__GenerateReply *)res.reply)->stream_id, msg) != 0) {
            a->mismatched++;
        } else {
            a->ok++;
        }
        result_free(&res);
    }
    return NULL;
}

Test(rpc, concurrent_sync_calls)
{
    char url[URL_MAX];
    ipc_url(url, sizeof url);
    rpc_server *s = start_server(url, NULL);
    rpc_client *c = open_client(url, NULL);
    pthread_t th[CONC_THREADS];
    conc_arg args[CONC_THREADS];
    for (int i = 0; i < CONC_THREADS; i++) {
        args[i] = (conc_arg){.c = c, .index = i};
        cr_assert_eq(pthread_create(&th[i], NULL, conc_main, &args[i]), 0);
    }
    int ok = 0;
    for (int i = 0; i < CONC_THREADS; i++) {
        pthread_join(th[i], NULL);
        cr_expect_eq(args[i].failed, 0, "thread %d: %d calls failed, first: %s: %s", i, args[i].failed,
                     rpc_code_name(args[i].first_err), args[i].first_msg);
        cr_expect_eq(args[i].mismatched, 0, "thread %d: %d replies did not match their request", i, args[i].mismatched);
        ok += args[i].ok;
    }
    cr_expect_eq(ok, CONC_THREADS * CONC_CALLS, "matching replies");
    rpc_server_stats st = wait_idle(s);
    cr_expect_eq(st.handled, CONC_THREADS * CONC_CALLS, "every call handled exactly once");
    cr_expect_eq(st.in_flight, 0);
    rpc_client_close(c);
    stop_server(s, url);
}

/* ------------------------------------------------- 4. deadline exceeded */

Test(rpc, deadline_exceeded)
{
    char url[URL_MAX];
    ipc_url(url, sizeof url);
    rpc_server *s = start_server(url, NULL);
    rpc_client *c = open_client(url, NULL);
    generate_ok(c, "warm-up", 2000);

    rpc_result res;
    int64_t t0 = now_ms();
    rpc_code rc = generate(c, "sleep:400", 100, NULL, &res);
    int64_t took = now_ms() - t0;
    cr_expect_eq(rc, RPC_DEADLINE_EXCEEDED, "sleep:400 with 100 ms: %s: %s", rpc_code_name(rc), res.message);
    cr_expect_null(res.reply);
    cr_expect(took >= 95 && took <= 300, "ended after %lld ms, expected ~100", (long long)took);
    cr_expect(rpc_code_retryable(rc));
    result_free(&res);

    /* The late reply is discarded; the next calls get their own replies. */
    generate_ok(c, "after-deadline-1", 2000);
    sleep_ms(350); /* the late reply arrives now */
    generate_ok(c, "after-deadline-2", 2000);
    rpc_client_close(c);
    stop_server(s, url);
}

/* ------------------------------------ 5. expired before being worked on */

#define EXPIRE_N 5

Test(rpc, expired_before_worked_on)
{
    char url[URL_MAX];
    ipc_url(url, sizeof url);
    /* contexts = 1 + EXPIRE_N: a slot lost on the expiry path would leave
     * the final call with no context to receive it. */
    server_cfg sc = {.workers = 1, .contexts = 1 + EXPIRE_N};
    rpc_server *s = start_server(url, &sc);
    rpc_client *c = open_client(url, NULL);

    waiter slow;
    waiter_init(&slow);
    cr_assert_eq(generate_async(c, "sleep:300", 3000, &slow), RPC_OK);
    wait_sleep_calls(1, 1000); /* the only worker is busy now */

    waiter w[EXPIRE_N];
    for (int i = 0; i < EXPIRE_N; i++) {
        waiter_init(&w[i]);
        char msg[32];
        snprintf(msg, sizeof msg, "expire-%d", i);
        cr_assert_eq(generate_async(c, msg, 50, &w[i]), RPC_OK);
    }
    int64_t t0 = now_ms();
    for (int i = 0; i < EXPIRE_N; i++) {
        cr_assert(waiter_wait(&w[i], 2000), "call %d never ended", i);
        cr_expect_eq(w[i].code, RPC_DEADLINE_EXCEEDED, "call %d: %s: %s", i, rpc_code_name(w[i].code), w[i].message);
        cr_expect_eq(w[i].calls, 1);
    }
    cr_expect_lt(now_ms() - t0, 250, "short calls end at their deadline, not with the slow call");
    cr_assert(waiter_wait(&slow, 3000), "the slow call never ended");
    cr_expect_eq(slow.code, RPC_OK, "slow call: %s: %s", rpc_code_name(slow.code), slow.message);
    cr_expect_str_eq(slow.stream_id, "sleep:300");

    /* The worker takes the expired calls after the slow one and drops them. */
    rpc_server_stats st;
    int64_t until = now_ms() + 2000;
    do {
        st = get_stats(s);
        if (st.expired >= EXPIRE_N && st.in_flight == 0) {
            break;
        }
        sleep_ms(5);
    } while (now_ms() < until);
    cr_expect_geq(st.expired, 1, "stats.expired = %llu", (unsigned long long)st.expired);
    cr_expect_eq(st.expired, EXPIRE_N, "every queued short call expired: %llu", (unsigned long long)st.expired);
    cr_expect_eq(st.handled, 1, "expired calls never reach a handler (handled %llu)", (unsigned long long)st.handled);
    cr_expect_eq(atomic_load(&g_generate_calls), 1, "the handler ran only for the slow call");
    cr_expect_eq(st.in_flight, 0);

    for (int i = 0; i < 2 * (1 + EXPIRE_N); i++) {
        char msg[32];
        snprintf(msg, sizeof msg, "still-serving-%d", i);
        generate_ok(c, msg, 2000);
    }
    for (int i = 0; i < EXPIRE_N; i++) {
        waiter_fini(&w[i]);
    }
    waiter_fini(&slow);
    rpc_client_close(c);
    stop_server(s, url);
}

/* --------------------------------------------------- 6. unknown method */

Test(rpc, unknown_method)
{
    char url[URL_MAX];
    ipc_url(url, sizeof url);
    server_cfg sc = {.contexts = 2};
    rpc_server *s = start_server(url, &sc);
    rpc_client *c = open_client(url, NULL);

    Chat__Llm__GenerateRequest req = CHAT__LLM__GENERATE_REQUEST__INIT;
    req.user_message = "hi";
    size_t blen;
    uint8_t *body = pack_message(&req.base, &blen);

    static const char *const methods[] = {
        "chat.llm.Llm/Nope",      /* right service, no such method */
        "other.Svc/Generate",     /* another service's method */
        "chat.llm.LlmX/Generate", /* a service name that only starts alike */
        "chat.llm.Llm.Generate",  /* no '/' */
        "Generate",               /* no service */
        "",                       /* nothing */
    };
    size_t n = sizeof methods / sizeof methods[0];
    for (size_t i = 0; i < n; i++) {
        size_t len;
        uint8_t *env = pack_envelope(methods[i], "rid-unknown", 2000, body, blen, &len);
        Chat__Rpc__Reply *r = raw_call(c, env, len, 2000);
        cr_expect_eq(r->code, CHAT__RPC__CODE__UNIMPLEMENTED, "[%s] code %d", methods[i], r->code);
        cr_expect_not_null(strstr(r->message, methods[i]), "[%s] message names the method: %s", methods[i], r->message);
        cr_expect_eq(r->body.len, 0, "[%s] no body", methods[i]);
        cr_expect_str_eq(r->request_id, "rid-unknown", "[%s] request id echoed", methods[i]);
        chat__rpc__reply__free_unpacked(r, NULL);
        free(env);
    }
    free(body);

    rpc_server_stats st = get_stats(s);
    cr_expect_eq(st.unknown, n, "stats.unknown = %llu", (unsigned long long)st.unknown);
    cr_expect_eq(st.handled, 0);
    cr_expect_eq(atomic_load(&g_generate_calls), 0);
    generate_ok(c, "still-serving", 2000);
    rpc_client_close(c);
    stop_server(s, url);
}

/* ------------------------------------------------ 7. malformed envelope */

Test(rpc, malformed_envelope_and_body)
{
    char url[URL_MAX];
    ipc_url(url, sizeof url);
    server_cfg sc = {.contexts = 2};
    rpc_server *s = start_server(url, &sc);
    rpc_client *c = open_client(url, NULL);

    /* Garbage envelope. */
    uint8_t garbage[32];
    memset(garbage, 0xff, sizeof garbage);
    Chat__Rpc__Reply *r = raw_call(c, garbage, sizeof garbage, 2000);
    cr_expect_eq(r->code, CHAT__RPC__CODE__INVALID_ARGUMENT, "garbage envelope: code %d (%s)", r->code, r->message);
    cr_expect_neq(r->message[0], '\0', "a message says why");
    chat__rpc__reply__free_unpacked(r, NULL);

    /* A valid envelope with a truncated body. */
    char longmsg[400];
    memset(longmsg, 'x', sizeof longmsg - 1);
    longmsg[sizeof longmsg - 1] = '\0';
    Chat__Llm__GenerateRequest req = CHAT__LLM__GENERATE_REQUEST__INIT;
    req.session_id = "sess-1";
    req.user_message = longmsg;
    size_t blen;
    uint8_t *body = pack_message(&req.base, &blen);
    size_t len;
    uint8_t *env = pack_envelope("chat.llm.Llm/Generate", "rid-trunc", 2000, body, blen / 2, &len);
    r = raw_call(c, env, len, 2000);
    cr_expect_eq(r->code, CHAT__RPC__CODE__INVALID_ARGUMENT, "truncated body: code %d (%s)", r->code, r->message);
    cr_expect_not_null(strstr(r->message, "Generate"), "message names the method: %s", r->message);
    cr_expect_str_eq(r->request_id, "rid-trunc", "request id echoed");
    chat__rpc__reply__free_unpacked(r, NULL);
    free(env);

    /* The whole body is fine (the same bytes, not cut). */
    env = pack_envelope("chat.llm.Llm/Generate", "rid-whole", 2000, body, blen, &len);
    r = raw_call(c, env, len, 2000);
    cr_expect_eq(r->code, CHAT__RPC__CODE__OK, "whole body: code %d (%s)", r->code, r->message);
    Chat__Llm__GenerateReply *g = chat__llm__generate_reply__unpack(NULL, r->body.len, r->body.data);
    cr_expect_not_null(g, "an OK raw reply carries a GenerateReply body");
    if (g != NULL) {
        cr_expect_str_eq(g->stream_id, longmsg);
        chat__llm__generate_reply__free_unpacked(g, NULL);
    }
    chat__rpc__reply__free_unpacked(r, NULL);
    free(env);
    free(body);

    /* An empty message. */
    r = raw_call(c, "", 0, 2000);
    cr_expect_eq(r->code, CHAT__RPC__CODE__UNIMPLEMENTED, "empty envelope has no method: code %d", r->code);
    chat__rpc__reply__free_unpacked(r, NULL);

    rpc_server_stats st = get_stats(s);
    cr_expect_eq(st.malformed, 2, "stats.malformed = %llu", (unsigned long long)st.malformed);
    cr_expect_eq(st.received, 4, "stats.received = %llu", (unsigned long long)st.received);
    cr_expect_eq(st.handled, 1, "only the whole body reached the handler");
    for (int i = 0; i < 4; i++) {
        generate_ok(c, "still-serving", 2000);
    }
    cr_expect_eq(wait_idle(s).in_flight, 0);
    rpc_client_close(c);
    stop_server(s, url);
}

/* ----------------------------------------------------------- 8. oversized */

#define SMALL_MAX_MSG (64u << 10)

Test(rpc, oversized_message_drops_connection)
{
    char url[URL_MAX];
    server_cfg sc = {.max_msg = SMALL_MAX_MSG};
    rpc_server *s = start_tcp_server(url, sizeof url, &sc);
    rpc_client *c = open_client(url, NULL);

    /* Just below the limit is fine. */
    char *big = malloc(60u << 10);
    cr_assert_not_null(big);
    memset(big, 'b', (60u << 10) - 1);
    big[(60u << 10) - 1] = '\0';
    generate_ok(c, big, 2000);
    free(big);

    /* 1 MiB: a valid envelope, only too big. */
    size_t blen = 1u << 20;
    uint8_t *body = calloc(1, blen);
    cr_assert_not_null(body);
    size_t len;
    uint8_t *env = pack_envelope("chat.llm.Llm/Generate", "rid-big", 2000, body, blen, &len);
    free(body);
    void *rep = NULL;
    size_t rlen = 0;
    int64_t t0 = now_ms();
    int rv = rpc_call_raw(c, env, len, 500, &rep, &rlen);
    int64_t took = now_ms() - t0;
    free(env);
    free(rep);
    cr_expect_neq(rv, 0, "a 1 MiB request to a 64 KiB server must fail (got a %zu-byte reply)", rlen);
    cr_expect_lt(took, 1500, "the failure comes within the timeout (took %lld ms)", (long long)took);

    /* A new client is served. */
    rpc_client *c2 = open_client(url, NULL);
    generate_ok(c2, "new-client", 2000);
    rpc_client_close(c2);

    /* The same client reconnects by itself. */
    int ok;
    rpc_code other;
    int attempts = generate_until_ok(c, "same-client", 2000, 500, &ok, &other);
    cr_expect_eq(ok, 1, "the same client is served again within 2 s (%d attempts, last other code %s)", attempts,
                 rpc_code_name(other));

    rpc_server_stats st = get_stats(s);
    cr_expect_eq(st.handled, 2 + (unsigned)ok, "the oversized request never reached a handler (handled %llu)",
                 (unsigned long long)st.handled);
    rpc_client_close(c);
    stop_server(s, url);
}

Test(rpc, huge_message_default_limit)
{
    char url[URL_MAX];
    rpc_server *s = start_tcp_server(url, sizeof url, NULL);
    rpc_client *c = open_client(url, NULL);
    generate_ok(c, "warm-up", 2000);

    size_t len = 100u << 20;
    uint8_t *huge = malloc(len);
    cr_assert_not_null(huge);
    memset(huge, 0x0a, len);
    void *rep = NULL;
    size_t rlen = 0;
    int rv = rpc_call_raw(c, huge, len, 1000, &rep, &rlen);
    free(huge);
    free(rep);
    cr_expect_neq(rv, 0, "100 MB to a 4 MiB server must fail");

    rpc_client *c2 = open_client(url, NULL);
    generate_ok(c2, "server-survived", 3000);
    rpc_client_close(c2);
    cr_expect_eq(get_stats(s).handled, 2, "the huge message never reached a handler");
    rpc_client_close(c);
    stop_server(s, url);
}

/* nng 1.5.2 lost a transfer resumed on a pipe that was closed meanwhile
 * (deploy/nng/0001-resume-after-close.patch): the pipe's reaper then waited
 * forever and every later nng_close() in the process hung. Both directions
 * are cut here, many times: a request cut off by the server's limit, and a
 * reply cut off by the client's. Each close must come back, and the server
 * must still serve and stop. Over tcp only, like every test here that cuts a
 * transfer: over ipc, nng 1.5.2's listener stops serving after some dozens
 * of cut transfers (unfixed; the services listen on tcp, see
 * docs/internals/rpc.md). */
static void cut_transfers(const char *url, rpc_server *s, int rounds)
{
    size_t blen = 3u << 20; /* above the server's 1 MiB: cut while being written */
    uint8_t *body = calloc(1, blen);
    cr_assert_not_null(body);
    size_t len;
    uint8_t *env = pack_envelope("chat.llm.Llm/Generate", "rid-cut", 1000, body, blen, &len);
    free(body);
    size_t mlen = 512u << 10; /* echoed back: above the client's 64 KiB */
    char *msg = malloc(mlen + 1);
    cr_assert_not_null(msg);
    memset(msg, 'r', mlen);
    msg[mlen] = '\0';
    rpc_client_opts small = {.max_msg = 64u << 10};

    for (int i = 0; i < rounds; i++) {
        rpc_client *c = open_client(url, NULL);
        void *rep = NULL;
        size_t rlen = 0;
        wd_step("a request cut off by the server's limit");
        int rv = rpc_call_raw(c, env, len, 1000, &rep, &rlen);
        free(rep);
        cr_assert_neq(rv, 0, "round %d: a 3 MiB request to a 1 MiB server must fail", i);
        wd_step("closing the client whose request was cut");
        rpc_client_close(c);

        c = open_client(url, &small);
        rpc_result res;
        wd_step("a reply cut off by the client's limit");
        rpc_code rc = generate(c, msg, 1000, NULL, &res);
        cr_assert_neq(rc, RPC_OK, "round %d: a 512 KiB reply to a 64 KiB client must fail", i);
        result_free(&res);
        wd_step("closing the client whose reply was cut");
        rpc_client_close(c);
    }
    free(env);
    free(msg);

    rpc_client *c = open_client(url, NULL);
    wd_step("a normal call after the cut transfers");
    generate_ok(c, "after-cuts", 2000);
    rpc_client_close(c);
    wd_step("stopping the server");
    stop_server(s, url);
}

Test(rpc, cut_transfers_never_wedge_close_tcp)
{
    char url[URL_MAX];
    server_cfg sc = {.max_msg = 1u << 20};
    rpc_server *s = start_tcp_server(url, sizeof url, &sc);
    cut_transfers(url, s, 150);
}

/* A reply over the server's cap fails its own call (RESOURCE_EXHAUSTED)
 * instead of going out and making the client drop the connection with
 * every other call on it. */
Test(rpc, oversized_reply_fails_only_its_call)
{
    char url[URL_MAX];
    server_cfg sc = {.max_msg = 1u << 20};
    rpc_server *s = start_tcp_server(url, sizeof url, &sc);
    rpc_client *c = open_client(url, NULL);
    waiter w;
    waiter_init(&w);
    wd_step("a slow call in flight on the same client");
    cr_assert_eq(generate_async(c, "sleep:300", 5000, &w), RPC_OK);
    rpc_result res;
    wd_step("a reply of 2 MB from a 1 MB server");
    rpc_code rc = generate(c, "big:2000000", 5000, NULL, &res);
    cr_assert_eq(rc, RPC_RESOURCE_EXHAUSTED, "got %s: %s", rpc_code_name(rc), res.message);
    cr_assert(strstr(res.message, "message cap") != NULL, "says why: %s", res.message);
    result_free(&res);
    wd_step("the call in flight still completes");
    cr_assert(waiter_wait(&w, 5000), "the other call completes");
    cr_assert_eq(w.code, RPC_OK, "the other call: %s", rpc_code_name(w.code));
    wd_step("a reply under the cap on the same client");
    rc = generate(c, "big:500000", 5000, NULL, &res);
    cr_assert_eq(rc, RPC_OK, "%s: %s", rpc_code_name(rc), res.message);
    cr_assert_eq(strlen(((const Chat__Llm__GenerateReply *)res.reply)->stream_id), 500000u);
    result_free(&res);
    generate_ok(c, "after-the-big-one", 2000);
    rpc_client_close(c);
    waiter_fini(&w);
    stop_server(s, url);
}

/* The fix above lives in our nng build: make sure it is the one loaded. */
Test(rpc, links_the_fixed_nng)
{
    Dl_info info;
    cr_assert_neq(dladdr((void *)nng_close, &info), 0, "dladdr(nng_close)");
    char path[PATH_MAX];
    cr_assert_not_null(realpath(info.dli_fname, path), "realpath(%s)", info.dli_fname);
    cr_expect_eq(strncmp(path, CHAT_NNG_PREFIX "/", strlen(CHAT_NNG_PREFIX) + 1), 0,
                 "nng is loaded from %s, not from the fixed build under %s (deploy/nng/build.sh)", path,
                 CHAT_NNG_PREFIX);
}

/* ------------------------------------------- 9. handler status handling */

typedef struct status_case {
    const char *label;
    const char *message; /* user_message sent */
    rpc_code code;
    const char *status; /* expected status message (substring), NULL = any non-empty */
} status_case;

static const status_case status_cases[] = {
    {"no reply", "noreply", RPC_INTERNAL, "Generate"},
    {"fail 3", "fail:3", RPC_INVALID_ARGUMENT, "failing on purpose with code 3"},
    {"fail 5", "fail:5", RPC_NOT_FOUND, "failing on purpose with code 5"},
    {"fail 14", "fail:14", RPC_UNAVAILABLE, "failing on purpose with code 14"},
    {"fail 0 without reply", "fail:0", RPC_INTERNAL, NULL},
    {"no reply again", "noreply", RPC_INTERNAL, "Generate"},
    {"no reply, third", "noreply", RPC_INTERNAL, "Generate"},
};

Test(rpc, handler_status)
{
    char url[URL_MAX];
    ipc_url(url, sizeof url);
    server_cfg sc = {.contexts = 2, .workers = 1};
    rpc_server *s = start_server(url, &sc);
    rpc_client *c = open_client(url, NULL);
    size_t n = sizeof status_cases / sizeof status_cases[0];
    for (size_t i = 0; i < n; i++) {
        const status_case *tc = &status_cases[i];
        rpc_result res;
        int64_t t0 = now_ms();
        rpc_code rc = generate(c, tc->message, 3000, NULL, &res);
        cr_expect_eq(rc, tc->code, "[%s] %s, expected %s (%s)", tc->label, rpc_code_name(rc), rpc_code_name(tc->code),
                     res.message);
        cr_expect_null(res.reply, "[%s] no reply body with an error", tc->label);
        cr_expect_lt(now_ms() - t0, 1000, "[%s] answered at once, not at the deadline", tc->label);
        if (tc->status != NULL) {
            cr_expect_not_null(strstr(res.message, tc->status), "[%s] status \"%s\" mentions \"%s\"", tc->label,
                               res.message, tc->status);
        } else {
            cr_expect_neq(res.message[0], '\0', "[%s] a status message", tc->label);
        }
        result_free(&res);
    }
    for (int i = 0; i < 4; i++) {
        generate_ok(c, "still-serving", 2000);
    }
    cr_expect_eq(wait_idle(s).in_flight, 0);
    rpc_client_close(c);
    stop_server(s, url);
}

/* ---------------------------------------------------- 10. deferred reply */

Test(rpc, deferred_reply)
{
    char url[URL_MAX];
    ipc_url(url, sizeof url);
    server_cfg sc = {.workers = 1, .contexts = 4};
    rpc_server *s = start_server(url, &sc);
    rpc_client *c = open_client(url, NULL);
    generate_ok(c, "warm-up", 2000);

    Chat__Llm__PollRequest preq = CHAT__LLM__POLL_REQUEST__INIT;
    preq.stream_id = "stream-42";
    preq.after_seq = 7;
    preq.max_wait_ms = 100;
    rpc_result res;
    int64_t t0 = now_ms();
    rpc_code rc = rpc_call_sync(c, "Poll", &preq.base, 3000, NULL, &res);
    int64_t took = now_ms() - t0;
    cr_assert_eq(rc, RPC_OK, "Poll: %s: %s", rpc_code_name(rc), res.message);
    cr_expect_geq(took, 100, "the deferred reply waited max_wait_ms (took %lld ms)", (long long)took);
    cr_expect_lt(took, 1000, "took %lld ms", (long long)took);
    cr_assert_not_null(res.reply);
    const Chat__Llm__PollReply *p = (const Chat__Llm__PollReply *)res.reply;
    cr_expect_eq(p->done, 1);
    cr_assert_eq(p->n_deltas, 1);
    cr_expect_eq(p->deltas[0]->seq, 8);
    cr_expect_str_eq(p->deltas[0]->text, "stream-42", "the handler's copy of the input outlived it");
    result_free(&res);

    /* A deferred call does not hold its worker: with one worker, a Generate
     * runs while two Polls wait. */
    waiter w1, w2;
    waiter_init(&w1);
    waiter_init(&w2);
    preq.max_wait_ms = 300;
    cr_assert_eq(rpc_call_async(c, "Poll", &preq.base, 3000, NULL, waiter_cb, &w1), RPC_OK);
    cr_assert_eq(rpc_call_async(c, "Poll", &preq.base, 3000, NULL, waiter_cb, &w2), RPC_OK);
    int64_t until = now_ms() + 1000;
    while (atomic_load(&g_poll_calls) < 3 && now_ms() < until) {
        sleep_ms(2);
    }
    t0 = now_ms();
    generate_ok(c, "while-polls-wait", 3000);
    cr_expect_lt(now_ms() - t0, 200, "a Generate is not stuck behind deferred Polls");
    cr_assert(waiter_wait(&w1, 3000) && waiter_wait(&w2, 3000), "the deferred Polls never ended");
    cr_expect_eq(w1.code, RPC_OK, "%s", w1.message);
    cr_expect_eq(w2.code, RPC_OK, "%s", w2.message);
    cr_expect(w1.has_reply && w2.has_reply);
    waiter_fini(&w1);
    waiter_fini(&w2);
    cr_expect_eq(get_stats(s).handled, 5);
    rpc_client_close(c);
    stop_server(s, url);
}

/* ----------------------------------------------------- 11. server restart */

static void restart_scenario(char *url, rpc_server *s1)
{
    rpc_client *c = open_client(url, NULL);
    generate_ok(c, "before-restart", 2000);

    waiter inflight;
    waiter_init(&inflight);
    cr_assert_eq(generate_async(c, "sleep:500", 5000, &inflight), RPC_OK);
    wait_sleep_calls(1, 1000);

    int64_t t0 = now_ms();
    unsigned left = rpc_server_drain(s1, 0);
    cr_expect_eq(left, 1, "drain(0) reports the call in flight");
    rpc_server_stop(s1);
    int64_t t_stopped = now_ms(); /* the socket is closed by now */
    cr_assert(waiter_wait(&inflight, 3000), "the call in flight hangs after the server stopped");
    /* A stop is graceful for the call a worker is handling (rpc_server.h):
     * its reply goes out before the socket closes. A connection lost under
     * a call is connection_lost_mid_call's case. */
    cr_expect_eq(inflight.code, RPC_OK, "the call being handled completes on a stop, got %s: %s",
                 rpc_code_name(inflight.code), inflight.message);
    cr_expect_lt(inflight.done_ms - t0, 1000, "the call in flight ended %lld ms after the stop",
                 (long long)(inflight.done_ms - t0));

    /* Down for longer than the connect grace: calls fail fast. */
    while (now_ms() - t_stopped < RPC_CONNECT_GRACE_MS + 100) {
        sleep_ms(10);
    }
    cr_expect_eq(rpc_client_connected(c), 0, "not connected while the server is down");
    for (int i = 0; i < 3; i++) {
        rpc_result res;
        int64_t t1 = now_ms();
        rpc_code rc = generate(c, "while-down", 2000, NULL, &res);
        int64_t took = now_ms() - t1;
        cr_expect_eq(rc, RPC_UNAVAILABLE, "call while down: %s: %s", rpc_code_name(rc), res.message);
        cr_expect_lt(took, 1000, "call while down took %lld ms", (long long)took);
        result_free(&res);
    }

    /* A new server on the same URL. */
    rpc_server *s2 = start_server(url, NULL);
    int ok;
    rpc_code other;
    generate_until_ok(c, "after-restart", 3000, 1000, &ok, &other);
    cr_expect_eq(ok, 1, "a call succeeds within 3 s of the restart");
    cr_expect_eq(other, RPC_OK, "failed calls before that are UNAVAILABLE, got %s", rpc_code_name(other));
    generate_ok(c, "after-restart-2", 2000);
    sleep_ms(100); /* a re-sent request would reach the handler by now */

    rpc_server_stats st = get_stats(s2);
    cr_expect_eq(st.handled, 1 + (unsigned)ok, "the new server handled only the new calls (handled %llu)",
                 (unsigned long long)st.handled);
    cr_expect_eq(st.received, 1 + (unsigned)ok, "the new server received only the new calls (received %llu)",
                 (unsigned long long)st.received);
    cr_expect_eq(atomic_load(&g_sleep_calls), 1, "the in-flight call was not re-sent");
    waiter_fini(&inflight);
    rpc_client_close(c);
    stop_server(s2, url);
}

Test(rpc, server_restart_ipc)
{
    char url[URL_MAX];
    ipc_url(url, sizeof url);
    restart_scenario(url, start_server(url, NULL));
}

Test(rpc, server_restart_tcp)
{
    char url[URL_MAX];
    rpc_server *s = start_tcp_server(url, sizeof url, NULL);
    restart_scenario(url, s);
}

/* A peer that takes the request and drops the connection without answering
 * (a crash): the call ends UNAVAILABLE at once, and is not replayed to the
 * server that takes the address next. */
Test(rpc, connection_lost_mid_call)
{
    char url[URL_MAX];
    rpc_server *probe = start_tcp_server(url, sizeof url, NULL); /* find a free port */
    stop_server(probe, url);

    nng_socket raw;
    cr_assert_eq(nng_rep0_open(&raw), 0);
    cr_assert_eq(nng_listen(raw, url, NULL, 0), 0);
    rpc_client *c = open_client(url, NULL);
    waiter w;
    waiter_init(&w);
    for (int i = 0; i < 200 && !rpc_client_connected(c); i++) {
        sleep_ms(5);
    }
    cr_assert_eq(generate_async(c, "not-twice", 10000, &w), RPC_OK);
    nng_msg *m = NULL;
    cr_assert_eq(nng_recvmsg(raw, &m, 0), 0, "the raw peer got the request");
    nng_msg_free(m);
    int64_t t0 = now_ms();
    nng_close(raw);
    cr_assert(waiter_wait(&w, 3000), "the call hangs after its connection dropped");
    cr_expect_eq(w.code, RPC_UNAVAILABLE, "got %s: %s", rpc_code_name(w.code), w.message);
    cr_expect_lt(w.done_ms - t0, 1000, "ended %lld ms after the drop", (long long)(w.done_ms - t0));

    rpc_server *s2 = start_server(url, NULL);
    for (int i = 0; i < 200 && !rpc_client_connected(c); i++) {
        sleep_ms(5);
    }
    sleep_ms(300); /* time for a replay to arrive, if there were one */
    cr_expect_eq(get_stats(s2).handled, 0, "the dropped call was replayed to the next server");
    generate_ok(c, "after", 2000);
    cr_expect_eq(get_stats(s2).handled, 1);
    rpc_client_close(c);
    stop_server(s2, url);
}

/* ---------------------------------------------------------------- 12. drain */

typedef struct drain_arg {
    rpc_server *s;
    int timeout_ms;
    unsigned left;
    int64_t took_ms;
} drain_arg;

static void *drain_main(void *arg)
{
    drain_arg *d = arg;
    int64_t t0 = now_ms();
    d->left = rpc_server_drain(d->s, d->timeout_ms);
    d->took_ms = now_ms() - t0;
    return NULL;
}

Test(rpc, drain)
{
    char url[URL_MAX];
    ipc_url(url, sizeof url);
    rpc_server *s = start_server(url, NULL);
    rpc_client *c = open_client(url, NULL);
    generate_ok(c, "warm-up", 2000);

    waiter slow;
    waiter_init(&slow);
    cr_assert_eq(generate_async(c, "sleep:300", 3000, &slow), RPC_OK);
    wait_sleep_calls(1, 1000);

    drain_arg d = {.s = s, .timeout_ms = 2000};
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, drain_main, &d), 0);

    /* Wait until the drain is in effect: Health is refused from then on. */
    int health_ok = 0;
    rpc_result res;
    rpc_code rc;
    int64_t until = now_ms() + 1000;
    for (;;) {
        Chat__Rpc__HealthRequest hreq = CHAT__RPC__HEALTH_REQUEST__INIT;
        rc = rpc_call_sync(c, "Health", &hreq.base, 2000, NULL, &res);
        result_free(&res);
        if (rc != RPC_OK || now_ms() > until) {
            break;
        }
        health_ok++;
        sleep_ms(5);
    }
    cr_assert_eq(rc, RPC_UNAVAILABLE, "Health while draining: %s: %s", rpc_code_name(rc), res.message);

    rc = generate(c, "during-drain", 2000, NULL, &res);
    cr_expect_eq(rc, RPC_UNAVAILABLE, "a new call while draining: %s: %s", rpc_code_name(rc), res.message);
    cr_expect_not_null(strstr(res.message, "shutting down"), "message: %s", res.message);
    cr_expect_gt(res.retry_after_ms, 0, "a retry-after hint");
    cr_expect_null(res.reply);
    result_free(&res);

    pthread_join(th, NULL);
    cr_expect_eq(d.left, 0, "drain returns 0 once the call in flight is answered (left %u)", d.left);
    cr_expect_lt(d.took_ms, 1500, "drain returned when idle, not at its timeout (%lld ms)", (long long)d.took_ms);
    cr_assert(waiter_wait(&slow, 2000), "the call in flight never ended");
    cr_expect_eq(slow.code, RPC_OK, "the call in flight completes OK: %s: %s", rpc_code_name(slow.code), slow.message);
    cr_expect_str_eq(slow.stream_id, "sleep:300");

    rpc_server_stats st = wait_idle(s);
    cr_expect_eq(st.rejected, 2, "stats.rejected = %llu (a Health and a Generate)", (unsigned long long)st.rejected);
    cr_expect_eq(st.handled, 2 + (unsigned)health_ok, "handled %llu", (unsigned long long)st.handled);
    cr_expect_eq(st.in_flight, 0);
    cr_expect_eq(atomic_load(&g_generate_calls), 2, "the rejected call never reached the handler");
    waiter_fini(&slow);
    rpc_client_close(c);
    stop_server(s, url);
}

/* ------------------------------------------------------- 13. client limits */

Test(rpc, client_limits)
{
    char url[URL_MAX];
    ipc_url(url, sizeof url);
    rpc_server *s = start_server(url, NULL);
    rpc_client_opts o = {.max_in_flight = 4};
    rpc_client *c = open_client(url, &o);
    generate_ok(c, "warm-up", 2000);

    waiter w[5];
    for (int i = 0; i < 5; i++) {
        waiter_init(&w[i]);
    }
    for (int i = 0; i < 4; i++) {
        cr_assert_eq(generate_async(c, "sleep:300", 3000, &w[i]), RPC_OK, "slow call %d", i);
    }
    cr_expect_eq(generate_async(c, "fifth", 3000, &w[4]), RPC_RESOURCE_EXHAUSTED, "the 5th call is refused");
    rpc_result res;
    cr_expect_eq(generate(c, "fifth-sync", 3000, NULL, &res), RPC_RESOURCE_EXHAUSTED);
    cr_expect_eq(res.code, RPC_RESOURCE_EXHAUSTED);
    cr_expect_null(res.reply);

    /* Bad calls: refused at once, the callback never runs. */
    Chat__Llm__GenerateRequest greq = CHAT__LLM__GENERATE_REQUEST__INIT;
    Chat__Llm__PollRequest preq = CHAT__LLM__POLL_REQUEST__INIT;
    struct {
        const char *label;
        const char *method;
        const ProtobufCMessage *req;
    } bad[] = {
        {"unknown method", "Nope", &greq.base},      {"full name", "chat.llm.Llm/Generate", &greq.base},
        {"lower case", "generate", &greq.base},      {"wrong request type", "Generate", &preq.base},
        {"wrong type for Poll", "Poll", &greq.base}, {"no request", "Generate", NULL},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t t0 = now_ms();
        rpc_code rc = rpc_call_async(c, bad[i].method, bad[i].req, 1000, NULL, waiter_cb, &w[4]);
        cr_expect_eq(rc, RPC_INVALID_ARGUMENT, "[%s] %s", bad[i].label, rpc_code_name(rc));
        cr_expect_lt(now_ms() - t0, 50, "[%s] refused immediately", bad[i].label);
    }

    for (int i = 0; i < 4; i++) {
        cr_assert(waiter_wait(&w[i], 3000), "slow call %d never ended", i);
        cr_expect_eq(w[i].code, RPC_OK, "slow call %d: %s: %s", i, rpc_code_name(w[i].code), w[i].message);
    }
    sleep_ms(50);
    pthread_mutex_lock(&w[4].mtx);
    cr_expect_eq(w[4].calls, 0, "a call that did not start never runs its callback");
    pthread_mutex_unlock(&w[4].mtx);
    cr_expect_eq(atomic_load(&g_generate_calls), 5, "only the started calls reached the server");

    /* With the slow calls done, there is room again. */
    generate_ok(c, "room-again", 2000);
    for (int i = 0; i < 5; i++) {
        waiter_fini(&w[i]);
    }
    rpc_client_close(c);
    stop_server(s, url);
}

/* A call that has returned is no longer in flight: sequential calls on a
 * client with max_in_flight = 1 must never be refused. */
#define SEQ_CALLS 2000

Test(rpc, client_limit_sequential_calls)
{
    char url[URL_MAX];
    ipc_url(url, sizeof url);
    rpc_server *s = start_server(url, NULL);
    rpc_client_opts o = {.max_in_flight = 1};
    rpc_client *c = open_client(url, &o);
    int refused = 0, failed = 0, first_refused = -1;
    for (int i = 0; i < SEQ_CALLS; i++) {
        rpc_result res;
        char msg[32];
        snprintf(msg, sizeof msg, "seq-%d", i);
        rpc_code rc = generate(c, msg, 2000, NULL, &res);
        if (rc == RPC_RESOURCE_EXHAUSTED) {
            if (refused++ == 0) {
                first_refused = i;
            }
        } else if (rc != RPC_OK) {
            failed++;
        }
        result_free(&res);
    }
    cr_expect_eq(refused, 0, "%d of %d sequential calls refused RESOURCE_EXHAUSTED (first: call %d)", refused,
                 SEQ_CALLS, first_refused);
    cr_expect_eq(failed, 0, "%d calls failed otherwise", failed);
    rpc_client_close(c);
    stop_server(s, url);
}

/* --------------------------------------- 14. code names, ids, close */

typedef struct code_case {
    int code;
    const char *name;
    int retryable;
} code_case;

static const code_case code_cases[] = {
    {RPC_OK, "OK", 0},
    {RPC_CANCELLED, "CANCELLED", 0},
    {RPC_UNKNOWN, "UNKNOWN", 0},
    {RPC_INVALID_ARGUMENT, "INVALID_ARGUMENT", 0},
    {RPC_DEADLINE_EXCEEDED, "DEADLINE_EXCEEDED", 1},
    {RPC_NOT_FOUND, "NOT_FOUND", 0},
    {RPC_ALREADY_EXISTS, "ALREADY_EXISTS", 0},
    {RPC_PERMISSION_DENIED, "PERMISSION_DENIED", 0},
    {RPC_RESOURCE_EXHAUSTED, "RESOURCE_EXHAUSTED", 1},
    {RPC_FAILED_PRECONDITION, "FAILED_PRECONDITION", 0},
    {RPC_ABORTED, "ABORTED", 1},
    {RPC_OUT_OF_RANGE, "OUT_OF_RANGE", 0},
    {RPC_UNIMPLEMENTED, "UNIMPLEMENTED", 0},
    {RPC_INTERNAL, "INTERNAL", 0},
    {RPC_UNAVAILABLE, "UNAVAILABLE", 1},
    {RPC_DATA_LOSS, "DATA_LOSS", 0},
    {RPC_UNAUTHENTICATED, "UNAUTHENTICATED", 0},
    {17, "CODE_17", 0},
    {99, "CODE_99", 0},
    {-1, "CODE_-1", 0},
};

Test(rpc, code_names_and_retryable)
{
    for (size_t i = 0; i < sizeof code_cases / sizeof code_cases[0]; i++) {
        const code_case *tc = &code_cases[i];
        cr_expect_str_eq(rpc_code_name((rpc_code)tc->code), tc->name, "name of %d", tc->code);
        cr_expect_eq(!!rpc_code_retryable((rpc_code)tc->code), tc->retryable, "retryable(%s)", tc->name);
    }
    /* The envelope's enum has the same numbers. */
    cr_expect_eq((int)CHAT__RPC__CODE__UNAUTHENTICATED, RPC_UNAUTHENTICATED);
    cr_expect_eq((int)CHAT__RPC__CODE__UNAVAILABLE, RPC_UNAVAILABLE);
    cr_expect_eq(RPC_CODE_MAX, RPC_UNAUTHENTICATED);
}

Test(rpc, request_ids)
{
    char prev[32] = "";
    for (int i = 0; i < 100; i++) {
        char id[32];
        memset(id, '#', sizeof id);
        rpc_new_request_id(id, sizeof id);
        cr_assert_eq(strlen(id), 16, "16 chars: \"%s\"", id);
        cr_assert_eq(strspn(id, "0123456789abcdef"), 16, "hex only: \"%s\"", id);
        cr_assert_str_neq(id, prev, "ids differ between calls");
        snprintf(prev, sizeof prev, "%s", id);
    }
    char exact[17];
    rpc_new_request_id(exact, sizeof exact);
    cr_expect_eq(strlen(exact), 16, "17 bytes is enough");
    char small[16];
    memset(small, '#', sizeof small);
    rpc_new_request_id(small, sizeof small);
    cr_expect_eq(small[0], '\0', "too small a buffer gets an empty string");
}

Test(rpc, client_close_cancels_calls)
{
    char url[URL_MAX];
    ipc_url(url, sizeof url);
    rpc_server *s = start_server(url, NULL);
    rpc_client *c = open_client(url, NULL);
    generate_ok(c, "warm-up", 2000);
    waiter w;
    waiter_init(&w);
    cr_assert_eq(generate_async(c, "sleep:300", 5000, &w), RPC_OK);
    wait_sleep_calls(1, 1000);
    int64_t t0 = now_ms();
    rpc_client_close(c);
    int64_t took = now_ms() - t0;
    cr_expect_lt(took, 250, "close does not wait for the reply (took %lld ms)", (long long)took);
    pthread_mutex_lock(&w.mtx);
    cr_expect_eq(w.calls, 1, "the callback ran before close returned");
    cr_expect_eq(w.code, RPC_CANCELLED, "%s: %s", rpc_code_name(w.code), w.message);
    pthread_mutex_unlock(&w.mtx);
    waiter_fini(&w);
    stop_server(s, url);
}

/* A close (or a lost connection) that lands after nng finished sending a
 * call but before the client's callback has seen it must still end the
 * call. nng's task threads are held busy by sleeping callbacks of our own,
 * so the send completion waits in nng's queue while the client closes. */
#define BLOCKERS 32
#define BLOCK_MS 40

static atomic_int g_blockers_left;
static _Atomic int64_t g_blockers_done_ms;

static void blocker_cb(void *arg)
{
    (void)arg;
    sleep_ms(BLOCK_MS);
    if (atomic_fetch_sub(&g_blockers_left, 1) == 1) {
        atomic_store(&g_blockers_done_ms, now_ms());
    }
}

Test(rpc, client_close_races_send_completion)
{
    char url[URL_MAX];
    ipc_url(url, sizeof url);
    rpc_server *s = start_server(url, NULL);
    rpc_client *c = open_client(url, NULL);
    generate_ok(c, "warm-up", 2000);
    sleep_ms(20); /* the pipe is idle again */

    nng_aio *blk[BLOCKERS];
    atomic_store(&g_blockers_left, BLOCKERS);
    for (int i = 0; i < BLOCKERS; i++) {
        cr_assert_eq(nng_aio_alloc(&blk[i], blocker_cb, NULL), 0);
        nng_sleep_aio(0, blk[i]);
    }
    sleep_ms(10); /* every task thread is in blocker_cb now */

    waiter w;
    waiter_init(&w);
    cr_assert_eq(generate_async(c, "sleep:300", 5000, &w), RPC_OK);
    sleep_ms(5);
    rpc_client_close(c);
    int64_t closed = now_ms();
    for (int i = 0; i < BLOCKERS; i++) {
        nng_aio_free(blk[i]);
    }
    int64_t freed = atomic_load(&g_blockers_done_ms);

    pthread_mutex_lock(&w.mtx);
    cr_expect_eq(w.calls, 1, "the callback ran once, before close returned");
    cr_expect_eq(w.code, RPC_CANCELLED, "the call is cancelled by close, got %s %s", rpc_code_name(w.code), w.message);
    pthread_mutex_unlock(&w.mtx);
    cr_expect_lt(closed - freed, 200,
                 "close returned %lld ms after nng's threads were free: it waited for the reply instead",
                 (long long)(closed - freed));
    waiter_fini(&w);
    stop_server(s, url);
}

/* On tcp: with nng 1.5.2 the stale-socket probe a failed ipc listen makes
 * (connect + close at once) wedges the running ipc listener for good; that
 * is nng's bug, not this layer's, and is kept out of this test. */
Test(rpc, server_start_errors)
{
    char url[URL_MAX];
    rpc_server *s = start_tcp_server(url, sizeof url, NULL);
    rpc_server *s2 = (rpc_server *)&url; /* must be reset to NULL */
    char err[256] = "";
    rpc_server_opts o = {.url = url, .name = SERVER_NAME};
    cr_expect_eq(rpc_server_start(&s2, &g_service.base, &o, err, sizeof err), -1, "a second server on one URL");
    cr_expect_null(s2);
    cr_expect_neq(err[0], '\0', "a reason");

    o.url = "bogus://nowhere";
    err[0] = '\0';
    s2 = (rpc_server *)&url;
    cr_expect_eq(rpc_server_start(&s2, &g_service.base, &o, err, sizeof err), -1, "an unknown scheme");
    cr_expect_null(s2);
    cr_expect_neq(err[0], '\0');

    o.url = url;
    o.workers = 100000;
    err[0] = '\0';
    cr_expect_eq(rpc_server_start(&s2, &g_service.base, &o, err, sizeof err), -1, "too many workers");
    cr_expect_null(s2);
    cr_expect_neq(err[0], '\0');

    /* The first server is unharmed. */
    rpc_client *c = open_client(url, NULL);
    generate_ok(c, "unharmed", 2000);
    rpc_client_close(c);
    stop_server(s, url);
}
