/* rpc_abuse: sends a running service the inputs it must survive (a
 * malformed envelope, an unknown method, a truncated protobuf body, a 100 MB
 * message), checks each answer, then checks the service still answers
 * Health. Prints one line per case and "N passed, M failed".
 *
 *   rpc_abuse URL SERVICE     SERVICE = session|retrieval|llm|indexer
 *   rpc_abuse URL SERVICE auth METHOD...
 *
 * The auth form checks a service that has RPC_SECRET (given to this tool
 * in the same variable): each METHOD ("Erase", "Admin") called without a
 * MAC, and with another secret, is refused UNAUTHENTICATED; a request
 * signed with the secret is answered (with a valid reply MAC) and the same
 * bytes sent again (a captured request replayed) are refused; a signed
 * request altered after signing, and one stamped outside any window, are
 * refused; the service still answers Health. An empty request message of
 * each METHOD's type is enough: the check comes before the handler.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "indexer.pb-c.h"
#include "llm.pb-c.h"
#include "log.h"
#include "retrieval.pb-c.h"
#include "rpc.pb-c.h"
#include "rpc_auth.h"
#include "rpc_client.h"
#include "session.pb-c.h"

static int passed, failed;

static void check(int ok, const char *name, const char *detail)
{
    printf("%s %s%s%s\n", ok ? "ok  " : "FAIL", name, detail[0] ? ": " : "", detail);
    ok ? passed++ : failed++;
}

/* Sends raw bytes; returns the decoded reply or NULL (transport error). */
static Chat__Rpc__Reply *raw(rpc_client *c, const void *data, size_t len, uint32_t timeout_ms, int *nng_err)
{
    void *rep = NULL;
    size_t rlen = 0;
    *nng_err = rpc_call_raw(c, data, len, timeout_ms, &rep, &rlen);
    if (*nng_err != 0) {
        return NULL;
    }
    Chat__Rpc__Reply *r = chat__rpc__reply__unpack(NULL, rlen, rep);
    free(rep);
    return r;
}

static int health_ok(rpc_client *c)
{
    Chat__Rpc__HealthRequest req = CHAT__RPC__HEALTH_REQUEST__INIT;
    rpc_result res;
    for (int i = 0; i < 40; i++) { /* up to 2 s: a dropped connection reconnects */
        if (rpc_call_sync(c, "Health", &req.base, 500, NULL, &res) == RPC_OK) {
            protobuf_c_message_free_unpacked(res.reply, NULL);
            return 1;
        }
        struct timespec ts = {0, 50 * 1000000L};
        nanosleep(&ts, NULL);
    }
    return 0;
}

/* A Health envelope signed with `a` at ts (packed; caller frees). */
static unsigned char *signed_health(const rpc_auth *a, const ProtobufCServiceDescriptor *d, int64_t ts, size_t *len)
{
    static uint8_t nonce[RPC_AUTH_NONCE_LEN], mac[RPC_AUTH_MAC_LEN];
    static char method[160];
    snprintf(method, sizeof(method), "%s/Health", d->name);
    Chat__Rpc__Request env = CHAT__RPC__REQUEST__INIT;
    env.method = method;
    env.request_id = "abuse-replay";
    env.timeout_ms = 2000;
    if (rpc_auth_sign_request(a, &env, ts, nonce, mac) != 0) {
        return NULL;
    }
    *len = chat__rpc__request__get_packed_size(&env);
    unsigned char *buf = malloc(*len);
    chat__rpc__request__pack(&env, buf);
    return buf;
}

static void expect_refused(rpc_client *c, const unsigned char *buf, size_t n, const char *name, const char *reason)
{
    int e = 0;
    char detail[600];
    Chat__Rpc__Reply *r = raw(c, buf, n, 2000, &e);
    snprintf(detail, sizeof(detail), "code %d reason \"%s\": %s", r ? (int)r->code : -1, r ? r->reason : "",
             r ? r->message : "no reply");
    check(r && r->code == CHAT__RPC__CODE__UNAUTHENTICATED && strcmp(r->reason, reason) == 0, name, detail);
    if (r) {
        chat__rpc__reply__free_unpacked(r, NULL);
    }
}

static int auth_cases(const char *url, const ProtobufCServiceDescriptor *d, int nmethods, char **methods)
{
    char err[256], detail[700];
    const char *secret = getenv("RPC_SECRET");
    if (secret == NULL || rpc_auth_secret_check(secret, err, sizeof(err)) != 0) {
        fprintf(stderr, "rpc_abuse auth: give the service's RPC_SECRET in RPC_SECRET\n");
        return 2;
    }
    char other[80];
    snprintf(other, sizeof(other), "not-the-deployment-secret-%s", "0123456789abcdef");
    rpc_client *bare = NULL, *wrong = NULL, *good = NULL;
    rpc_client_opts wo = {.secret = other}, go = {.secret = secret};
    if (rpc_client_open(&bare, d, url, NULL, err, sizeof(err)) != 0 ||
        rpc_client_open(&wrong, d, url, &wo, err, sizeof(err)) != 0 ||
        rpc_client_open(&good, d, url, &go, err, sizeof(err)) != 0) {
        fprintf(stderr, "rpc_abuse: %s\n", err);
        return 2;
    }
    check(health_ok(good), "health with the secret", "");
    for (int i = 0; i < nmethods; i++) {
        const ProtobufCMethodDescriptor *md = protobuf_c_service_descriptor_get_method_by_name(d, methods[i]);
        if (md == NULL) {
            check(0, methods[i], "no such method");
            continue;
        }
        ProtobufCMessage *req = calloc(1, md->input->sizeof_message);
        protobuf_c_message_init(md->input, req);
        rpc_client *cls[2] = {bare, wrong};
        const char *what[2] = {"without a MAC", "with another secret"};
        const char *reason[2] = {"no_mac", "bad_mac"};
        for (int k = 0; k < 2; k++) {
            rpc_result res;
            rpc_call_sync(cls[k], methods[i], req, 2000, NULL, &res);
            char name[160];
            snprintf(name, sizeof(name), "%s %s -> UNAUTHENTICATED", methods[i], what[k]);
            snprintf(detail, sizeof(detail), "%s (%s): %s", rpc_code_name(res.code), res.reason, res.message);
            check(res.code == RPC_UNAUTHENTICATED && strcmp(res.reason, reason[k]) == 0, name, detail);
            if (res.reply) {
                protobuf_c_message_free_unpacked(res.reply, NULL);
            }
        }
        free(req);
    }

    rpc_auth *a = NULL;
    if (rpc_auth_new(&a, secret, 0, 0, err, sizeof(err)) != 0) {
        fprintf(stderr, "rpc_abuse: %s\n", err);
        return 2;
    }
    size_t n = 0;
    unsigned char *buf = signed_health(a, d, clock_wall_ms(), &n);
    int e = 0;
    Chat__Rpc__Reply *r = raw(bare, buf, n, 2000, &e);
    Chat__Rpc__Request *sent = chat__rpc__request__unpack(NULL, n, buf);
    int mac_ok = r && sent && rpc_auth_reply_ok(a, sent->nonce.data, sent->nonce.len, r);
    snprintf(detail, sizeof(detail), "code %d, reply MAC %s", r ? (int)r->code : -1, mac_ok ? "valid" : "invalid");
    check(r && r->code == CHAT__RPC__CODE__OK && mac_ok, "signed request -> OK with a valid reply MAC", detail);
    if (r) {
        chat__rpc__reply__free_unpacked(r, NULL);
    }
    expect_refused(bare, buf, n, "the same request again (replayed) -> UNAUTHENTICATED", "replayed");
    if (sent != NULL) {
        /* Altered in transit: the request id changed after signing. */
        char *orig = sent->request_id;
        sent->request_id = "abuse-altered";
        sent->nonce.data[0] ^= 1; /* not a replay: a nonce the service has not seen */
        size_t n2 = chat__rpc__request__get_packed_size(sent);
        unsigned char *buf2 = malloc(n2);
        chat__rpc__request__pack(sent, buf2);
        sent->request_id = orig;
        expect_refused(bare, buf2, n2, "a signed request altered after signing -> UNAUTHENTICATED", "bad_mac");
        free(buf2);
    }
    free(buf);
    /* Stamped beyond the largest window there can be. */
    buf = signed_health(a, d, clock_wall_ms() - RPC_AUTH_WINDOW_MAX_MS - 60000, &n);
    expect_refused(bare, buf, n, "a request stamped 11 minutes ago -> UNAUTHENTICATED", "stale");
    free(buf);
    if (sent) {
        chat__rpc__request__free_unpacked(sent, NULL);
    }
    rpc_auth_free(a);

    check(health_ok(good), "health after (with the secret)", "");
    rpc_client_close(bare);
    rpc_client_close(wrong);
    rpc_client_close(good);
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (argc < 3 || (argc > 3 && strcmp(argv[3], "auth") != 0)) {
        fprintf(stderr, "usage: rpc_abuse URL session|retrieval|llm|indexer [auth METHOD...]\n");
        return 2;
    }
    log_init("rpc_abuse", LOG_ERROR);
    const ProtobufCServiceDescriptor *d = strcmp(argv[2], "session") == 0     ? &chat__session__session__descriptor
                                          : strcmp(argv[2], "retrieval") == 0 ? &chat__retrieval__retrieval__descriptor
                                          : strcmp(argv[2], "llm") == 0       ? &chat__llm__llm__descriptor
                                                                              : &chat__indexer__indexer__descriptor;
    if (argc > 3) {
        return auth_cases(argv[1], d, argc - 4, argv + 4);
    }
    char err[256], detail[256];
    rpc_client *c = NULL;
    rpc_client_opts co = {.secret = getenv("RPC_SECRET")};
    if (rpc_client_open(&c, d, argv[1], &co, err, sizeof(err)) != 0) {
        fprintf(stderr, "rpc_abuse: %s\n", err);
        return 2;
    }
    check(health_ok(c), "health before", "");

    int e = 0;
    unsigned char junk[64];
    memset(junk, 0xff, sizeof(junk));
    Chat__Rpc__Reply *r = raw(c, junk, sizeof(junk), 2000, &e);
    snprintf(detail, sizeof(detail), "code %d", r ? (int)r->code : -1);
    check(r && r->code == CHAT__RPC__CODE__INVALID_ARGUMENT, "malformed envelope -> INVALID_ARGUMENT", detail);
    if (r)
        chat__rpc__reply__free_unpacked(r, NULL);

    char method[160];
    snprintf(method, sizeof(method), "%s/NoSuchMethod", d->name);
    Chat__Rpc__Request env = CHAT__RPC__REQUEST__INIT;
    env.method = method;
    env.request_id = "abuse-1";
    /* With RPC_SECRET the raw envelopes are signed, so the checks behind
     * authentication are the ones exercised. */
    rpc_auth *a = NULL;
    if (co.secret != NULL && co.secret[0] != '\0' && rpc_auth_new(&a, co.secret, 0, 0, err, sizeof(err)) != 0) {
        fprintf(stderr, "rpc_abuse: %s\n", err);
        return 2;
    }
    uint8_t nonce[RPC_AUTH_NONCE_LEN], mac[RPC_AUTH_MAC_LEN];
    if (a != NULL) {
        rpc_auth_sign_request(a, &env, clock_wall_ms(), nonce, mac);
    }
    size_t n = chat__rpc__request__get_packed_size(&env);
    unsigned char *buf = malloc(n);
    chat__rpc__request__pack(&env, buf);
    r = raw(c, buf, n, 2000, &e);
    free(buf);
    snprintf(detail, sizeof(detail), "code %d", r ? (int)r->code : -1);
    check(r && r->code == CHAT__RPC__CODE__UNIMPLEMENTED, "unknown method -> UNIMPLEMENTED", detail);
    if (r)
        chat__rpc__reply__free_unpacked(r, NULL);

    /* A body cut in the middle of a field: a length-delimited field 1 that
     * claims 100 bytes but carries 3. Health is the one method every
     * service has; its request type is the same everywhere. */
    snprintf(method, sizeof(method), "%s/Health", d->name);
    unsigned char body[] = {0x0a, 100, 'a', 'b', 'c'};
    env.method = method;
    env.body.data = body;
    env.body.len = sizeof(body);
    if (a != NULL) {
        rpc_auth_sign_request(a, &env, clock_wall_ms(), nonce, mac);
    }
    n = chat__rpc__request__get_packed_size(&env);
    buf = malloc(n);
    chat__rpc__request__pack(&env, buf);
    r = raw(c, buf, n, 2000, &e);
    free(buf);
    snprintf(detail, sizeof(detail), "code %d", r ? (int)r->code : -1);
    check(r && r->code == CHAT__RPC__CODE__INVALID_ARGUMENT, "truncated protobuf -> INVALID_ARGUMENT", detail);
    if (r)
        chat__rpc__reply__free_unpacked(r, NULL);

    size_t big = 100u << 20;
    unsigned char *huge = malloc(big);
    memset(huge, 0x0a, big);
    r = raw(c, huge, big, 3000, &e);
    free(huge);
    snprintf(detail, sizeof(detail), "%s", r ? "answered" : "connection dropped");
    check(r == NULL || r->code != CHAT__RPC__CODE__OK, "100 MB message -> dropped or refused", detail);
    if (r)
        chat__rpc__reply__free_unpacked(r, NULL);

    check(health_ok(c), "health after", "");
    rpc_auth_free(a);
    rpc_client_close(c);
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
