/*
 * test_rpc_auth.c - unit tests for lib/rpc_auth.c and lib/rpc_replay.c, and
 * for authentication through lib/rpc_server.c and lib/rpc_client.c
 * (Criterion).
 *
 * The MAC is checked against an independent computation (OpenSSL's one-shot
 * HMAC() over the input laid out by hand as docs/internals/rpc.md states
 * it); the window, replay and refusal cases call rpc_auth_check_request with
 * a chosen clock; the end-to-end cases run a real server (chat.llm.Llm with
 * Health and an echoing Generate) on ipc:// with clients holding the secret,
 * none, or another one.
 */
#include <criterion/criterion.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "llm.pb-c.h"
#include "log.h"
#include "rpc_auth.h"
#include "rpc_client.h"
#include "rpc_replay.h"
#include "rpc_server.h"
#include "watchdog.h"

#define SECRET "test-secret-0123456789-abcdefghijklmnop"
#define OTHER_SECRET "other-secret-0123456789-abcdefghijklmno"
#define T0 1700000000000LL /* a wall-clock ms */

static FILE *g_devnull;

static void suite_init(void)
{
    wd_suite_init();
    log_init("test-rpc-auth", LOG_WARN);
    if (getenv("RPC_TEST_LOG") == NULL) {
        g_devnull = fopen("/dev/null", "w");
        if (g_devnull != NULL) {
            log_set_output(g_devnull);
        }
    }
}

static void suite_fini(void)
{
    log_set_output(NULL);
    if (g_devnull != NULL) {
        fclose(g_devnull);
        g_devnull = NULL;
    }
}

TestSuite(rpc_auth, .init = suite_init, .fini = suite_fini, .timeout = WD_SUITE_TIMEOUT);

static rpc_auth *auth_new(const char *secret, uint32_t window_ms, unsigned replay)
{
    rpc_auth *a = NULL;
    char err[256] = "";
    cr_assert_eq(rpc_auth_new(&a, secret, window_ms, replay, err, sizeof err), 0, "rpc_auth_new: %s", err);
    return a;
}

/* A request envelope whose strings and body live in static storage. */
static Chat__Rpc__Request sample_request(void)
{
    static uint8_t body[] = {0x0a, 0x03, 'a', 'b', 'c'};
    Chat__Rpc__Request env = CHAT__RPC__REQUEST__INIT;
    env.method = "chat.session.Session/Erase";
    env.request_id = "rid-1";
    env.timeout_ms = 5000;
    env.body.data = body;
    env.body.len = sizeof body;
    return env;
}

/* ------------------------------------------------ the MAC itself */

static size_t put_be(uint8_t *p, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++) {
        p[i] = (uint8_t)(v >> (8 * (bytes - 1 - i)));
    }
    return (size_t)bytes;
}

static size_t put_field(uint8_t *p, const void *data, size_t n)
{
    size_t k = put_be(p, n, 8);
    memcpy(p + k, data, n);
    return k + n;
}

Test(rpc_auth, request_mac_matches_an_independent_hmac)
{
    rpc_auth *a = auth_new(SECRET, 0, 0);
    Chat__Rpc__Request env = sample_request();
    uint8_t nonce[RPC_AUTH_NONCE_LEN], mac[RPC_AUTH_MAC_LEN];
    cr_assert_eq(rpc_auth_sign_request(a, &env, T0, nonce, mac), 0);
    cr_expect_eq(env.timestamp_ms, (uint64_t)T0);
    cr_expect_eq(env.nonce.len, RPC_AUTH_NONCE_LEN);
    cr_expect_eq(env.mac.len, RPC_AUTH_MAC_LEN);

    uint8_t in[512];
    size_t n = 0;
    n += put_field(in + n, "chat-rpc-req-v1", 15);
    n += put_field(in + n, env.method, strlen(env.method));
    n += put_field(in + n, env.request_id, strlen(env.request_id));
    n += put_be(in + n, env.timeout_ms, 4);
    n += put_be(in + n, (uint64_t)T0, 8);
    n += put_field(in + n, nonce, sizeof nonce);
    n += put_field(in + n, env.body.data, env.body.len);
    uint8_t want[EVP_MAX_MD_SIZE];
    unsigned wlen = 0;
    cr_assert_not_null(HMAC(EVP_sha256(), SECRET, (int)strlen(SECRET), in, n, want, &wlen));
    cr_assert_eq(wlen, RPC_AUTH_MAC_LEN);
    cr_expect_eq(memcmp(mac, want, RPC_AUTH_MAC_LEN), 0, "the MAC is HMAC-SHA256 over the documented layout");
    rpc_auth_free(a);
}

Test(rpc_auth, every_field_changes_the_mac)
{
    rpc_auth *a = auth_new(SECRET, 0, 0);
    Chat__Rpc__Request env = sample_request();
    uint8_t nonce[RPC_AUTH_NONCE_LEN], mac[RPC_AUTH_MAC_LEN], m2[RPC_AUTH_MAC_LEN];
    cr_assert_eq(rpc_auth_sign_request(a, &env, T0, nonce, mac), 0);
    Chat__Rpc__Request e2;
    uint8_t body2[] = {0x0a, 0x03, 'a', 'b', 'd'};
    for (int f = 0; f < 7; f++) {
        e2 = env;
        switch (f) {
        case 0:
            e2.method = "chat.session.Session/Commit";
            break;
        case 1:
            e2.request_id = "rid-2";
            break;
        case 2:
            e2.timeout_ms = 5001;
            break;
        case 3:
            e2.timestamp_ms = (uint64_t)T0 + 1;
            break;
        case 4:
            e2.body.data = body2;
            break;
        case 5:
            e2.body.len = env.body.len - 1;
            break;
        case 6: /* moving a byte between adjacent fields */
            e2.method = "chat.session.Session/Eras";
            e2.request_id = "erid-1";
            break;
        }
        cr_assert_eq(rpc_auth_request_mac(a, &e2, m2), 0);
        cr_expect_neq(memcmp(mac, m2, RPC_AUTH_MAC_LEN), 0, "field %d is covered by the MAC", f);
    }
    uint8_t n2[RPC_AUTH_NONCE_LEN], mac2[RPC_AUTH_MAC_LEN];
    e2 = sample_request();
    cr_assert_eq(rpc_auth_sign_request(a, &e2, T0, n2, mac2), 0);
    cr_expect_neq(memcmp(nonce, n2, RPC_AUTH_NONCE_LEN), 0, "every request gets a new nonce");
    cr_expect_neq(memcmp(mac, mac2, RPC_AUTH_MAC_LEN), 0, "so the same call twice has two MACs");
    rpc_auth_free(a);
}

Test(rpc_auth, secret_length_is_enforced)
{
    rpc_auth *a = NULL;
    char err[256] = "";
    cr_expect_eq(rpc_auth_new(&a, "short-secret", 0, 0, err, sizeof err), -1);
    cr_expect_null(a);
    cr_expect_not_null(strstr(err, "RPC_SECRET"), "the message names the variable: %s", err);
    cr_expect_eq(rpc_auth_secret_check("0123456789abcdef0123456789abcdef", err, sizeof err), 0, "32 is enough");
    cr_expect_eq(rpc_auth_secret_check("0123456789abcdef0123456789abcde", err, sizeof err), -1, "31 is not");
    cr_expect_eq(rpc_auth_secret_check(NULL, err, sizeof err), -1);
}

/* ------------------------------------------------ checks on the server side */

static rpc_auth_status check_at(rpc_auth *server, const Chat__Rpc__Request *env, int64_t now)
{
    char why[RPC_STATUS_MESSAGE_MAX + 1] = "";
    rpc_auth_status st = rpc_auth_check_request(server, env, now, why, sizeof why);
    if (st != RPC_AUTH_OK) {
        cr_expect_neq(why[0], '\0', "a refusal says why");
    }
    return st;
}

Test(rpc_auth, good_request_accepted_then_replay_refused)
{
    rpc_auth *client = auth_new(SECRET, 0, 0);
    rpc_auth *server = auth_new(SECRET, 30000, 1024);
    Chat__Rpc__Request env = sample_request();
    uint8_t nonce[RPC_AUTH_NONCE_LEN], mac[RPC_AUTH_MAC_LEN];
    cr_assert_eq(rpc_auth_sign_request(client, &env, T0, nonce, mac), 0);
    cr_expect_eq(check_at(server, &env, T0 + 5), RPC_AUTH_OK);
    cr_expect_eq(check_at(server, &env, T0 + 10), RPC_AUTH_REPLAYED, "the same bytes again");
    cr_expect_eq(check_at(server, &env, T0 + 29000), RPC_AUTH_REPLAYED, "still inside the window");
    cr_expect_eq(check_at(server, &env, T0 + 30001), RPC_AUTH_STALE, "after the window: stale, not accepted");
    cr_expect_str_eq(rpc_auth_status_name(RPC_AUTH_REPLAYED), "replayed");
    rpc_auth_free(client);
    rpc_auth_free(server);
}

Test(rpc_auth, window_edges_both_directions)
{
    rpc_auth *client = auth_new(SECRET, 0, 0);
    rpc_auth *server = auth_new(SECRET, 30000, 1024);
    cr_expect_eq(rpc_auth_window_ms(client), RPC_AUTH_DEFAULT_WINDOW_MS, "0 = the default 30 s");
    struct {
        int64_t skew; /* timestamp - server clock */
        rpc_auth_status want;
    } cases[] = {
        {-30000, RPC_AUTH_OK},   {-30001, RPC_AUTH_STALE}, {30000, RPC_AUTH_OK},
        {30001, RPC_AUTH_STALE}, {0, RPC_AUTH_OK},         {-T0, RPC_AUTH_STALE},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        Chat__Rpc__Request env = sample_request();
        uint8_t nonce[RPC_AUTH_NONCE_LEN], mac[RPC_AUTH_MAC_LEN];
        cr_assert_eq(rpc_auth_sign_request(client, &env, T0 + cases[i].skew, nonce, mac), 0);
        cr_expect_eq(check_at(server, &env, T0), cases[i].want, "skew %lld ms", (long long)cases[i].skew);
    }
    rpc_auth_free(client);
    rpc_auth_free(server);
}

Test(rpc_auth, wrong_secret_missing_mac_and_altered_body_refused)
{
    rpc_auth *client = auth_new(SECRET, 0, 0);
    rpc_auth *other = auth_new(OTHER_SECRET, 0, 0);
    rpc_auth *server = auth_new(SECRET, 30000, 1024);
    uint8_t nonce[RPC_AUTH_NONCE_LEN], mac[RPC_AUTH_MAC_LEN];

    Chat__Rpc__Request env = sample_request();
    cr_assert_eq(rpc_auth_sign_request(other, &env, T0, nonce, mac), 0);
    cr_expect_eq(check_at(server, &env, T0), RPC_AUTH_BAD_MAC, "signed with another secret");

    env = sample_request();
    cr_expect_eq(check_at(server, &env, T0), RPC_AUTH_MISSING, "no MAC at all");

    env = sample_request();
    cr_assert_eq(rpc_auth_sign_request(client, &env, T0, nonce, mac), 0);
    uint8_t altered[] = {0x0a, 0x03, 'a', 'b', 'X'};
    env.body.data = altered;
    cr_expect_eq(check_at(server, &env, T0), RPC_AUTH_BAD_MAC, "a body altered in transit");

    env = sample_request();
    cr_assert_eq(rpc_auth_sign_request(client, &env, T0, nonce, mac), 0);
    env.timestamp_ms += 1; /* a stale request re-stamped by an attacker */
    cr_expect_eq(check_at(server, &env, T0), RPC_AUTH_BAD_MAC, "a timestamp altered in transit");

    env = sample_request();
    cr_assert_eq(rpc_auth_sign_request(client, &env, T0, nonce, mac), 0);
    env.mac.len = 31;
    cr_expect_eq(check_at(server, &env, T0), RPC_AUTH_MALFORMED, "a MAC of the wrong length");

    /* None of the refused requests took a place in the replay cache. */
    cr_expect_eq(rpc_replay_count(rpc_auth_replay(server)), 0);

    /* A service without a secret refuses signed requests (mixed
     * configuration), and takes unsigned ones. */
    env = sample_request();
    cr_assert_eq(rpc_auth_sign_request(client, &env, T0, nonce, mac), 0);
    char why[RPC_STATUS_MESSAGE_MAX + 1] = "";
    cr_expect_eq(rpc_auth_check_request(NULL, &env, T0, why, sizeof why), RPC_AUTH_UNEXPECTED);
    cr_expect_not_null(strstr(why, "RPC_SECRET differs"), "%s", why);
    env = sample_request();
    cr_expect_eq(rpc_auth_check_request(NULL, &env, T0, why, sizeof why), RPC_AUTH_OK);
    rpc_auth_free(client);
    rpc_auth_free(other);
    rpc_auth_free(server);
}

Test(rpc_auth, reply_mac_binds_the_reply_to_its_request)
{
    rpc_auth *a = auth_new(SECRET, 0, 0);
    rpc_auth *other = auth_new(OTHER_SECRET, 0, 0);
    uint8_t nonce[RPC_AUTH_NONCE_LEN] = {1, 2, 3}, nonce2[RPC_AUTH_NONCE_LEN] = {1, 2, 4};
    uint8_t body[] = {0x08, 0x01};
    Chat__Rpc__Reply rep = CHAT__RPC__REPLY__INIT;
    rep.request_id = "rid-1";
    rep.body.data = body;
    rep.body.len = sizeof body;
    uint8_t mac[RPC_AUTH_MAC_LEN];
    cr_assert_eq(rpc_auth_reply_mac(a, nonce, sizeof nonce, &rep, mac), 0);
    rep.mac.data = mac;
    rep.mac.len = sizeof mac;
    cr_expect(rpc_auth_reply_ok(a, nonce, sizeof nonce, &rep));
    cr_expect_not(rpc_auth_reply_ok(a, nonce2, sizeof nonce2, &rep), "the reply to another request");
    cr_expect_not(rpc_auth_reply_ok(other, nonce, sizeof nonce, &rep), "another secret");
    rep.code = CHAT__RPC__CODE__NOT_FOUND;
    cr_expect_not(rpc_auth_reply_ok(a, nonce, sizeof nonce, &rep), "a code altered in transit");
    rep.code = CHAT__RPC__CODE__OK;
    body[1] = 2;
    cr_expect_not(rpc_auth_reply_ok(a, nonce, sizeof nonce, &rep), "a body altered in transit");
    body[1] = 1;
    rep.mac.len = 0;
    cr_expect_not(rpc_auth_reply_ok(a, nonce, sizeof nonce, &rep), "no MAC");
    rpc_auth_free(a);
    rpc_auth_free(other);
}

Test(rpc_auth, layer_refusals_are_told_from_handler_refusals)
{
    cr_expect(rpc_auth_refused(RPC_UNAUTHENTICATED, "bad_mac"));
    cr_expect(rpc_auth_refused(RPC_UNAUTHENTICATED, "no_mac"));
    cr_expect(rpc_auth_refused(RPC_UNAUTHENTICATED, "secret_mismatch"));
    cr_expect(rpc_auth_refused(RPC_UNAUTHENTICATED, "bad_reply_mac"));
    cr_expect_not(rpc_auth_refused(RPC_UNAUTHENTICATED, ""), "a handler's refusal (a bad session token)");
    cr_expect_not(rpc_auth_refused(RPC_UNAUTHENTICATED, "rate_limited"));
    cr_expect_not(rpc_auth_refused(RPC_RESOURCE_EXHAUSTED, "bad_mac"));
}

/* ------------------------------------------------ the replay cache bound */

static void nonce_of(unsigned i, uint8_t out[RPC_REPLAY_NONCE_LEN])
{
    memset(out, 0, RPC_REPLAY_NONCE_LEN);
    /* Spread over the hash (first 4 bytes) and unique. */
    uint32_t h = i * 2654435761u;
    memcpy(out, &h, sizeof h);
    memcpy(out + 4, &i, sizeof i);
}

Test(rpc_auth, replay_cache_is_bounded_and_never_forgets_unsafely)
{
    rpc_replay *r = NULL;
    cr_assert_eq(rpc_replay_new(&r, 16), 0);
    cr_expect_eq(rpc_replay_new(&(rpc_replay *){NULL}, RPC_REPLAY_MIN - 1), -1, "below the minimum");
    cr_expect_eq(rpc_replay_new(&(rpc_replay *){NULL}, RPC_REPLAY_MAX + 1), -1, "above the maximum");
    const int64_t w = 30000;
    uint8_t n[RPC_REPLAY_NONCE_LEN];
    /* 16 requests stamped T0 .. T0+15, in a shuffled order. */
    unsigned order[16] = {3, 0, 15, 7, 1, 9, 2, 14, 4, 13, 5, 12, 6, 11, 8, 10};
    for (unsigned k = 0; k < 16; k++) {
        nonce_of(order[k], n);
        cr_expect_eq(rpc_replay_check(r, n, T0 + order[k], T0 + 20, w), RPC_REPLAY_FRESH);
    }
    cr_expect_eq(rpc_replay_count(r), 16);
    cr_expect_eq(rpc_replay_floor(r), INT64_MIN, "nothing evicted yet");
    for (unsigned i = 0; i < 16; i++) {
        nonce_of(i, n);
        cr_expect_eq(rpc_replay_check(r, n, T0 + i, T0 + 20, w), RPC_REPLAY_SEEN, "nonce %u replayed", i);
    }
    /* A 17th request inside the window: the oldest (T0) is evicted, and the
     * floor makes sure it cannot come back. */
    nonce_of(100, n);
    cr_expect_eq(rpc_replay_check(r, n, T0 + 20, T0 + 20, w), RPC_REPLAY_FRESH);
    cr_expect_eq(rpc_replay_count(r), 16, "the table never grows");
    cr_expect_eq(rpc_replay_floor(r), T0, "the floor is the evicted timestamp");
    nonce_of(0, n);
    cr_expect_eq(rpc_replay_check(r, n, T0, T0 + 20, w), RPC_REPLAY_FLOOR, "the evicted nonce is still refused");
    nonce_of(1, n);
    cr_expect_eq(rpc_replay_check(r, n, T0 + 1, T0 + 20, w), RPC_REPLAY_SEEN, "the next oldest is still held");
    /* 1000 more requests: still 16 entries, the floor rises with them. */
    for (unsigned i = 0; i < 1000; i++) {
        nonce_of(1000 + i, n);
        cr_expect_eq(rpc_replay_check(r, n, T0 + 100 + i, T0 + 1100, w), RPC_REPLAY_FRESH);
    }
    cr_expect_eq(rpc_replay_count(r), 16);
    cr_expect_eq(rpc_replay_floor(r), T0 + 100 + 1000 - 16 - 1, "the floor sits just below the 16 held");
    nonce_of(1000 + 983, n);
    cr_expect_eq(rpc_replay_check(r, n, T0 + 100 + 983, T0 + 1100, w), RPC_REPLAY_FLOOR);
    nonce_of(1000 + 984, n);
    cr_expect_eq(rpc_replay_check(r, n, T0 + 100 + 984, T0 + 1100, w), RPC_REPLAY_SEEN);
    /* Once the window has passed them, entries expire without raising the
     * floor further, and the table empties. */
    nonce_of(5000, n);
    cr_expect_eq(rpc_replay_check(r, n, T0 + 60000, T0 + 60000, w), RPC_REPLAY_FRESH);
    cr_expect_eq(rpc_replay_count(r), 1, "the expired entries left");
    cr_expect_eq(rpc_replay_floor(r), T0 + 100 + 1000 - 16 - 1);
    rpc_replay_free(r);
}

/* ------------------------------------------------ listening addresses */

Test(rpc_auth, which_urls_are_local)
{
    const char *local[] = {"tcp://127.0.0.1:7101", "tcp://127.5.6.7:1", "tcp://localhost:7101",
                           "tcp://[::1]:7101",     "ipc:///tmp/x.sock", "inproc://svc"};
    const char *open[] = {"tcp://0.0.0.0:7101",    "tcp://[::]:7101", "tcp://:7101",          "tcp://10.0.0.5:7101",
                          "tcp://chat.internal:1", "tcp://*:7101",    "tcp://128.0.0.1:7101", "tcp://[fdaa::3]:7101"};
    for (size_t i = 0; i < sizeof local / sizeof local[0]; i++) {
        cr_expect(rpc_url_is_local(local[i]), "%s is local", local[i]);
    }
    for (size_t i = 0; i < sizeof open / sizeof open[0]; i++) {
        cr_expect_not(rpc_url_is_local(open[i]), "%s is not local", open[i]);
    }
}

/* ------------------------------------------------ through a real server */

static void ts_health(Chat__Llm__Llm_Service *svc, const Chat__Rpc__HealthRequest *in,
                      Chat__Rpc__HealthReply_Closure done, void *cd)
{
    (void)svc;
    (void)in;
    Chat__Rpc__HealthReply rep = CHAT__RPC__HEALTH_REPLY__INIT;
    rpc_fill_health(cd, &rep);
    done(&rep, cd);
}

static int g_generate_calls;

static void ts_generate(Chat__Llm__Llm_Service *svc, const Chat__Llm__GenerateRequest *in,
                        Chat__Llm__GenerateReply_Closure done, void *cd)
{
    (void)svc;
    __atomic_add_fetch(&g_generate_calls, 1, __ATOMIC_SEQ_CST);
    Chat__Llm__GenerateReply rep = CHAT__LLM__GENERATE_REPLY__INIT;
    rep.stream_id = in->user_message;
    done(&rep, cd);
}

RPC_UNIMPLEMENTED_HANDLER(ts_poll, Chat__Llm__Llm_Service, Chat__Llm__PollRequest, Chat__Llm__PollReply_Closure)
RPC_UNIMPLEMENTED_HANDLER(ts_cancel, Chat__Llm__Llm_Service, Chat__Llm__CancelRequest, Chat__Llm__CancelReply_Closure)

static Chat__Llm__Llm_Service g_service = CHAT__LLM__LLM__INIT(ts_);

static rpc_server *start(char *url, size_t len, const char *secret)
{
    static int seq;
    snprintf(url, len, "ipc:///tmp/chat-rpc-auth-test-%ld-%d.sock", (long)getpid(), ++seq);
    rpc_server_opts o = {.url = url, .name = "test-auth", .secret = secret, .replay_capacity = 64};
    rpc_server *s = NULL;
    char err[256] = "";
    cr_assert_eq(rpc_server_start(&s, &g_service.base, &o, err, sizeof err), 0, "rpc_server_start: %s", err);
    return s;
}

static void stop(rpc_server *s, const char *url)
{
    rpc_server_stop(s);
    unlink(url + 6);
}

static rpc_client *client(const char *url, const char *secret)
{
    rpc_client *c = NULL;
    char err[256] = "";
    rpc_client_opts o = {.secret = secret};
    cr_assert_eq(rpc_client_open(&c, &chat__llm__llm__descriptor, url, &o, err, sizeof err), 0, "%s", err);
    return c;
}

static rpc_code generate(rpc_client *c, const char *text, rpc_result *res)
{
    Chat__Llm__GenerateRequest req = CHAT__LLM__GENERATE_REQUEST__INIT;
    req.user_message = (char *)text;
    rpc_code code = rpc_call_sync(c, "Generate", &req.base, 2000, NULL, res);
    if (code == RPC_OK) {
        cr_expect_str_eq(((Chat__Llm__GenerateReply *)res->reply)->stream_id, text);
        protobuf_c_message_free_unpacked(res->reply, NULL);
        res->reply = NULL;
    }
    return code;
}

Test(rpc_auth, server_with_secret_serves_signed_calls_and_refuses_others)
{
    char url[128];
    rpc_server *s = start(url, sizeof url, SECRET);
    rpc_client *good = client(url, SECRET), *bare = client(url, NULL), *wrong = client(url, OTHER_SECRET);
    rpc_result res;
    wd_step("signed calls");
    for (int i = 0; i < 100; i++) { /* more than the replay cache holds (64) */
        cr_assert_eq(generate(good, "hello", &res), RPC_OK, "call %d: %s", i, res.message);
    }
    wd_step("unsigned call");
    cr_expect_eq(generate(bare, "erase everything", &res), RPC_UNAUTHENTICATED);
    cr_expect_str_eq(res.reason, "no_mac");
    cr_expect_not_null(strstr(res.message, "RPC_SECRET"), "%s", res.message);
    wd_step("call with another secret");
    cr_expect_eq(generate(wrong, "erase everything", &res), RPC_UNAUTHENTICATED);
    cr_expect_str_eq(res.reason, "bad_mac");
    cr_expect_not_null(strstr(res.message, "RPC_SECRET differs between caller and service"), "%s", res.message);
    cr_expect_eq(__atomic_load_n(&g_generate_calls, __ATOMIC_SEQ_CST), 100, "no refused call reached the handler");
    wd_step("the refused connections stay usable, the good one too");
    for (int i = 0; i < 3; i++) {
        cr_expect_eq(generate(bare, "again", &res), RPC_UNAUTHENTICATED);
        cr_expect_eq(generate(good, "still fine", &res), RPC_OK, "%s", res.message);
    }
    rpc_server_stats st;
    rpc_server_get_stats(s, &st);
    cr_expect_eq(st.unauthenticated, 5);
    cr_expect_eq(st.handled, 103);
    rpc_client_close(good);
    rpc_client_close(bare);
    rpc_client_close(wrong);
    stop(s, url);
}

Test(rpc_auth, server_without_secret_refuses_a_signing_caller)
{
    char url[128];
    rpc_server *s = start(url, sizeof url, NULL);
    rpc_client *signer = client(url, SECRET), *bare = client(url, NULL);
    rpc_result res;
    cr_expect_eq(generate(signer, "x", &res), RPC_UNAUTHENTICATED);
    cr_expect_str_eq(res.reason, "secret_mismatch");
    cr_expect_not_null(strstr(res.message, "RPC_SECRET differs between caller and service"), "%s", res.message);
    cr_expect_eq(generate(bare, "x", &res), RPC_OK, "development: no secret on either side");
    cr_expect_eq(__atomic_load_n(&g_generate_calls, __ATOMIC_SEQ_CST), 1);
    rpc_client_close(signer);
    rpc_client_close(bare);
    stop(s, url);
}

/* A server that does not MAC its replies (a bare REP socket answering OK
 * to anything: what an impostor at the service's address would do) is not
 * trusted by a client with a secret. */
static void *fake_rep_main(void *arg)
{
    nng_socket *sock = arg;
    nng_msg *msg = NULL;
    if (nng_recvmsg(*sock, &msg, 0) != 0) {
        return NULL;
    }
    Chat__Llm__GenerateReply out = CHAT__LLM__GENERATE_REPLY__INIT;
    out.stream_id = "forged";
    uint8_t body[64];
    size_t blen = chat__llm__generate_reply__pack(&out, body);
    Chat__Rpc__Reply rep = CHAT__RPC__REPLY__INIT;
    rep.body.data = body;
    rep.body.len = blen;
    nng_msg_clear(msg);
    nng_msg_realloc(msg, chat__rpc__reply__get_packed_size(&rep));
    chat__rpc__reply__pack(&rep, nng_msg_body(msg));
    nng_sendmsg(*sock, msg, 0);
    return NULL;
}

Test(rpc_auth, client_refuses_a_reply_without_mac)
{
    char url[128];
    snprintf(url, sizeof url, "ipc:///tmp/chat-rpc-auth-fake-%ld.sock", (long)getpid());
    nng_socket sock;
    cr_assert_eq(nng_rep0_open(&sock), 0);
    cr_assert_eq(nng_listen(sock, url, NULL, 0), 0);
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, fake_rep_main, &sock), 0);
    rpc_client *c = client(url, SECRET);
    rpc_result res;
    Chat__Llm__GenerateRequest req = CHAT__LLM__GENERATE_REQUEST__INIT;
    wd_step("a call answered by an impostor");
    cr_expect_eq(rpc_call_sync(c, "Generate", &req.base, 2000, NULL, &res), RPC_UNAUTHENTICATED, "%s", res.message);
    cr_expect_null(res.reply, "the forged reply is not handed out");
    cr_expect_str_eq(res.reason, "bad_reply_mac");
    cr_expect_not_null(strstr(res.message, "RPC_SECRET differs"), "%s", res.message);
    pthread_join(t, NULL);
    rpc_client_close(c);
    nng_close(sock);
    unlink(url + 6);
}
