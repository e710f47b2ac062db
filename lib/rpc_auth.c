/* rpc_auth.c: see rpc_auth.h. */
#include "rpc_auth.h"

#include <arpa/inet.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "encode.h"
#include "rpc.h"

#define RPC_AUTH_HOST_MAX 256

static const char req_tag[] = "chat-rpc-req-v1";
static const char rep_tag[] = "chat-rpc-rep-v1";

struct rpc_auth {
    EVP_MAC *mac;
    EVP_MAC_CTX *keyed; /* initialised with the key; duplicated per MAC */
    uint32_t window_ms;
    rpc_replay *replay;
};

int rpc_auth_secret_check(const char *secret, char *err, size_t errlen)
{
    size_t n = secret ? strlen(secret) : 0;
    if (n < RPC_AUTH_SECRET_MIN || n > RPC_AUTH_SECRET_MAX) {
        snprintf(err, errlen,
                 "RPC_SECRET must be %d to %d characters (it has %zu); make one with: openssl rand -hex 32",
                 RPC_AUTH_SECRET_MIN, RPC_AUTH_SECRET_MAX, n);
        return -1;
    }
    return 0;
}

int rpc_auth_new(rpc_auth **out, const char *secret, uint32_t window_ms, unsigned replay_capacity, char *err,
                 size_t errlen)
{
    *out = NULL;
    if (rpc_auth_secret_check(secret, err, errlen) != 0) {
        return -1;
    }
    if (window_ms > RPC_AUTH_WINDOW_MAX_MS) {
        snprintf(err, errlen, "RPC_AUTH_WINDOW must be at most %u ms", RPC_AUTH_WINDOW_MAX_MS);
        return -1;
    }
    rpc_auth *a = calloc(1, sizeof(*a));
    if (a == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    a->window_ms = window_ms ? window_ms : RPC_AUTH_DEFAULT_WINDOW_MS;
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0), OSSL_PARAM_END};
    a->mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    a->keyed = a->mac ? EVP_MAC_CTX_new(a->mac) : NULL;
    if (a->keyed == NULL || EVP_MAC_init(a->keyed, (const unsigned char *)secret, strlen(secret), params) != 1) {
        snprintf(err, errlen, "OpenSSL has no HMAC-SHA256");
        rpc_auth_free(a);
        return -1;
    }
    if (replay_capacity > 0 && rpc_replay_new(&a->replay, replay_capacity) != 0) {
        snprintf(err, errlen, "cannot make a replay cache of %u entries (%u..%u)", replay_capacity, RPC_REPLAY_MIN,
                 RPC_REPLAY_MAX);
        rpc_auth_free(a);
        return -1;
    }
    *out = a;
    return 0;
}

void rpc_auth_free(rpc_auth *a)
{
    if (a == NULL) {
        return;
    }
    EVP_MAC_CTX_free(a->keyed);
    EVP_MAC_free(a->mac);
    rpc_replay_free(a->replay);
    free(a);
}

uint32_t rpc_auth_window_ms(const rpc_auth *a)
{
    return a->window_ms;
}

rpc_replay *rpc_auth_replay(rpc_auth *a)
{
    return a->replay;
}

/* --- MAC input: fixed-width big-endian numbers, length-prefixed bytes ---- */

/* The small fields are gathered in a buffer and given to the MAC in one
 * update (each update is a call through OpenSSL's provider layer); bytes
 * longer than the room left go straight through. */
#define RPC_AUTH_GATHER_MAX 512

typedef struct mac_in {
    EVP_MAC_CTX *m;
    size_t n;
    uint8_t buf[RPC_AUTH_GATHER_MAX];
} mac_in;

static void in_flush(mac_in *in)
{
    if (in->n > 0) {
        EVP_MAC_update(in->m, in->buf, in->n);
        in->n = 0;
    }
}

static void in_raw(mac_in *in, const void *p, size_t n)
{
    if (n > sizeof(in->buf) - in->n) {
        in_flush(in);
        if (n > sizeof(in->buf)) {
            EVP_MAC_update(in->m, p, n);
            return;
        }
    }
    memcpy(in->buf + in->n, p, n);
    in->n += n;
}

static void put_u32(mac_in *in, uint32_t v)
{
    uint8_t b[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    in_raw(in, b, sizeof(b));
}

static void put_u64(mac_in *in, uint64_t v)
{
    put_u32(in, (uint32_t)(v >> 32));
    put_u32(in, (uint32_t)v);
}

static void put_bytes(mac_in *in, const void *p, size_t n)
{
    put_u64(in, (uint64_t)n);
    if (n > 0) {
        in_raw(in, p, n);
    }
}

static void put_str(mac_in *in, const char *s)
{
    put_bytes(in, s ? s : "", s ? strlen(s) : 0);
}

static int mac_begin(const rpc_auth *a, mac_in *in)
{
    in->n = 0;
    in->m = EVP_MAC_CTX_dup(a->keyed);
    return in->m != NULL ? 0 : -1;
}

static int mac_final(mac_in *in, uint8_t mac[RPC_AUTH_MAC_LEN])
{
    size_t n = 0;
    in_flush(in);
    int ok = EVP_MAC_final(in->m, mac, &n, RPC_AUTH_MAC_LEN) == 1 && n == RPC_AUTH_MAC_LEN;
    EVP_MAC_CTX_free(in->m);
    return ok ? 0 : -1;
}

int rpc_auth_request_mac(const rpc_auth *a, const Chat__Rpc__Request *env, uint8_t mac[RPC_AUTH_MAC_LEN])
{
    mac_in in;
    if (mac_begin(a, &in) != 0) {
        return -1;
    }
    put_bytes(&in, req_tag, sizeof(req_tag) - 1);
    put_str(&in, env->method);
    put_str(&in, env->request_id);
    put_u32(&in, env->timeout_ms);
    put_u64(&in, env->timestamp_ms);
    put_bytes(&in, env->nonce.data, env->nonce.len);
    put_bytes(&in, env->body.data, env->body.len);
    return mac_final(&in, mac);
}

int rpc_auth_sign_request(const rpc_auth *a, Chat__Rpc__Request *env, int64_t now_ms,
                          uint8_t nonce_buf[RPC_AUTH_NONCE_LEN], uint8_t mac_buf[RPC_AUTH_MAC_LEN])
{
    if (enc_random(nonce_buf, RPC_AUTH_NONCE_LEN) != 0) {
        return -1;
    }
    env->timestamp_ms = now_ms > 0 ? (uint64_t)now_ms : 0;
    env->nonce.data = nonce_buf;
    env->nonce.len = RPC_AUTH_NONCE_LEN;
    if (rpc_auth_request_mac(a, env, mac_buf) != 0) {
        return -1;
    }
    env->mac.data = mac_buf;
    env->mac.len = RPC_AUTH_MAC_LEN;
    return 0;
}

rpc_auth_status rpc_auth_check_request(rpc_auth *a, const Chat__Rpc__Request *env, int64_t now_ms, char *why,
                                       size_t whylen)
{
    if (a == NULL) {
        if (env->mac.len > 0) {
            snprintf(why, whylen,
                     "RPC_SECRET differs between caller and service: the caller signs its requests, this service "
                     "has no RPC_SECRET");
            return RPC_AUTH_UNEXPECTED;
        }
        return RPC_AUTH_OK;
    }
    if (env->mac.len == 0) {
        snprintf(why, whylen,
                 "unauthenticated: this service requires RPC_SECRET and the request carries no MAC (set the same "
                 "RPC_SECRET on the caller)");
        return RPC_AUTH_MISSING;
    }
    if (env->mac.len != RPC_AUTH_MAC_LEN || env->nonce.len != RPC_AUTH_NONCE_LEN) {
        snprintf(why, whylen,
                 "unauthenticated: the request's nonce (%zu bytes) or MAC (%zu bytes) has the wrong length",
                 env->nonce.len, env->mac.len);
        return RPC_AUTH_MALFORMED;
    }
    uint8_t mac[RPC_AUTH_MAC_LEN];
    if (rpc_auth_request_mac(a, env, mac) != 0) {
        snprintf(why, whylen, "unauthenticated: the MAC could not be computed");
        return RPC_AUTH_BAD_MAC;
    }
    if (CRYPTO_memcmp(mac, env->mac.data, RPC_AUTH_MAC_LEN) != 0) {
        snprintf(why, whylen,
                 "unauthenticated: the request's MAC does not match: RPC_SECRET differs between caller and service, "
                 "or the request was altered in transit");
        return RPC_AUTH_BAD_MAC;
    }
    int64_t ts = env->timestamp_ms > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)env->timestamp_ms;
    int64_t skew = ts - now_ms;
    if (skew > (int64_t)a->window_ms || skew < -(int64_t)a->window_ms) {
        snprintf(why, whylen,
                 "unauthenticated: the request is stamped %lld ms %s this service's clock, outside the %u ms window "
                 "(a replay, or clocks out of sync)",
                 (long long)(skew < 0 ? -skew : skew), skew < 0 ? "behind" : "ahead of", a->window_ms);
        return RPC_AUTH_STALE;
    }
    if (a->replay != NULL) {
        rpc_replay_status rs = rpc_replay_check(a->replay, env->nonce.data, ts, now_ms, (int64_t)a->window_ms);
        if (rs == RPC_REPLAY_SEEN) {
            snprintf(why, whylen, "unauthenticated: this request was already received (a replayed nonce)");
            return RPC_AUTH_REPLAYED;
        }
        if (rs == RPC_REPLAY_FLOOR) {
            snprintf(why, whylen,
                     "the replay cache (%u entries) is full of newer requests; this one, stamped %lld ms ago, "
                     "cannot be vouched for: retry",
                     rpc_replay_capacity(a->replay), (long long)(now_ms - ts));
            return RPC_AUTH_CACHE_FLOOR;
        }
    }
    return RPC_AUTH_OK;
}

const char *rpc_auth_status_name(rpc_auth_status st)
{
    switch (st) {
    case RPC_AUTH_OK:
        return "";
    case RPC_AUTH_MISSING:
        return "no_mac";
    case RPC_AUTH_UNEXPECTED:
        return "secret_mismatch";
    case RPC_AUTH_MALFORMED:
        return "malformed_auth";
    case RPC_AUTH_BAD_MAC:
        return "bad_mac";
    case RPC_AUTH_STALE:
        return "stale";
    case RPC_AUTH_REPLAYED:
        return "replayed";
    case RPC_AUTH_CACHE_FLOOR:
        return "replay_cache_full";
    }
    return "?";
}

int rpc_auth_refused(int code, const char *reason)
{
    if (code != RPC_UNAUTHENTICATED || reason == NULL || reason[0] == '\0') {
        return 0;
    }
    if (strcmp(reason, "bad_reply_mac") == 0) {
        return 1;
    }
    for (int st = RPC_AUTH_MISSING; st <= RPC_AUTH_CACHE_FLOOR; st++) {
        if (strcmp(reason, rpc_auth_status_name((rpc_auth_status)st)) == 0) {
            return 1;
        }
    }
    return 0;
}

int rpc_auth_reply_mac(const rpc_auth *a, const uint8_t *nonce, size_t nonce_len, const Chat__Rpc__Reply *rep,
                       uint8_t mac[RPC_AUTH_MAC_LEN])
{
    mac_in in;
    if (mac_begin(a, &in) != 0) {
        return -1;
    }
    put_bytes(&in, rep_tag, sizeof(rep_tag) - 1);
    put_bytes(&in, nonce, nonce_len);
    put_str(&in, rep->request_id);
    put_u32(&in, (uint32_t)rep->code);
    put_str(&in, rep->message);
    put_str(&in, rep->reason);
    put_u32(&in, rep->retry_after_ms);
    put_bytes(&in, rep->body.data, rep->body.len);
    return mac_final(&in, mac);
}

int rpc_auth_reply_ok(const rpc_auth *a, const uint8_t *nonce, size_t nonce_len, const Chat__Rpc__Reply *rep)
{
    uint8_t mac[RPC_AUTH_MAC_LEN];
    if (rep->mac.len != RPC_AUTH_MAC_LEN || rpc_auth_reply_mac(a, nonce, nonce_len, rep, mac) != 0) {
        return 0;
    }
    return CRYPTO_memcmp(mac, rep->mac.data, RPC_AUTH_MAC_LEN) == 0;
}

/* --- listening addresses -------------------------------------------------- */

int rpc_url_is_local(const char *url)
{
    if (strncasecmp(url, "ipc://", 6) == 0 || strncasecmp(url, "inproc://", 9) == 0) {
        return 1;
    }
    const char *rest = NULL;
    if (strncasecmp(url, "tcp://", 6) == 0) {
        rest = url + 6;
    } else if (strncasecmp(url, "tcp4://", 7) == 0 || strncasecmp(url, "tcp6://", 7) == 0) {
        rest = url + 7;
    } else {
        return 0;
    }
    char host[RPC_AUTH_HOST_MAX];
    size_t n;
    if (rest[0] == '[') {
        const char *close = strchr(rest, ']');
        if (close == NULL) {
            return 0;
        }
        n = (size_t)(close - rest - 1);
        rest++;
    } else {
        const char *colon = strrchr(rest, ':');
        n = colon ? (size_t)(colon - rest) : strlen(rest);
    }
    if (n == 0 || n >= sizeof(host)) {
        return 0; /* empty host: every interface */
    }
    memcpy(host, rest, n);
    host[n] = '\0';
    if (strcasecmp(host, "localhost") == 0) {
        return 1;
    }
    struct in_addr v4;
    struct in6_addr v6;
    if (inet_pton(AF_INET, host, &v4) == 1) {
        return (ntohl(v4.s_addr) >> 24) == 127;
    }
    if (inet_pton(AF_INET6, host, &v6) == 1) {
        return IN6_IS_ADDR_LOOPBACK(&v6);
    }
    return 0;
}
