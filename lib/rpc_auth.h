/* rpc_auth.h: authentication of RPC envelopes with a per-deployment shared
 * secret (RPC_SECRET): HMAC-SHA256 over each request and reply, a time
 * window and a replay cache (docs/internals/rpc.md, "Authentication").
 *
 * A request carries timestamp_ms (wall clock at send), a 16-byte random
 * nonce and mac = HMAC-SHA256(secret, "chat-rpc-req-v1" | method |
 * request_id | timeout_ms | timestamp_ms | nonce | body), each variable
 * field preceded by its length so no two envelopes share an input. A reply
 * carries mac = HMAC-SHA256(secret, "chat-rpc-rep-v1" | the request's nonce
 * | request_id | code | message | reason | retry_after_ms | body).
 *
 * Owns: an rpc_auth holds a copy of the key (prepared once: each MAC
 * duplicates a keyed context instead of hashing the key again) and, on a
 * server, the replay cache. Threads: every function may be called from any
 * thread at once. */
#ifndef CHAT_RPC_AUTH_H
#define CHAT_RPC_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "rpc.pb-c.h"
#include "rpc_replay.h"

#define RPC_AUTH_SECRET_MIN 32 /* characters */
#define RPC_AUTH_SECRET_MAX 1024
#define RPC_AUTH_NONCE_LEN RPC_REPLAY_NONCE_LEN
#define RPC_AUTH_MAC_LEN 32
#define RPC_AUTH_DEFAULT_WINDOW_MS 30000u
#define RPC_AUTH_WINDOW_MAX_MS 600000u

typedef struct rpc_auth rpc_auth;

/* The outcome of checking a request; its name (rpc_auth_status_name) is
 * the reason sent with the refusal. */
typedef enum rpc_auth_status {
    RPC_AUTH_OK = 0,
    RPC_AUTH_MISSING,     /* no MAC: the caller has no RPC_SECRET */
    RPC_AUTH_UNEXPECTED,  /* a MAC, but this side has no RPC_SECRET */
    RPC_AUTH_MALFORMED,   /* nonce or MAC of the wrong length */
    RPC_AUTH_BAD_MAC,     /* another secret, or altered in transit */
    RPC_AUTH_STALE,       /* timestamp outside the window */
    RPC_AUTH_REPLAYED,    /* nonce seen inside the window */
    RPC_AUTH_CACHE_FLOOR, /* older than the replay cache can vouch for (overload) */
} rpc_auth_status;

/* Checks a secret's length (RPC_AUTH_SECRET_MIN..MAX characters); 0 or -1
 * with a sentence naming RPC_SECRET in err. */
int rpc_auth_secret_check(const char *secret, char *err, size_t errlen);

/* An authenticator for `secret`. window_ms 0 = RPC_AUTH_DEFAULT_WINDOW_MS;
 * replay_capacity 0 = no replay cache (a client), else its entries (a
 * server). Returns 0, or -1 with a reason in err. */
int rpc_auth_new(rpc_auth **out, const char *secret, uint32_t window_ms, unsigned replay_capacity, char *err,
                 size_t errlen);
void rpc_auth_free(rpc_auth *a);
uint32_t rpc_auth_window_ms(const rpc_auth *a);
/* The replay cache (NULL on a client). */
rpc_replay *rpc_auth_replay(rpc_auth *a);

/* The request MAC of env (its timestamp_ms and nonce as set). 0 or -1. */
int rpc_auth_request_mac(const rpc_auth *a, const Chat__Rpc__Request *env, uint8_t mac[RPC_AUTH_MAC_LEN]);

/* Stamps env for sending at now_ms: a new random nonce into nonce_buf, the
 * MAC into mac_buf; env->nonce and env->mac point at them (the caller's
 * buffers must outlive the packing). 0 or -1 (no randomness). */
int rpc_auth_sign_request(const rpc_auth *a, Chat__Rpc__Request *env, int64_t now_ms,
                          uint8_t nonce_buf[RPC_AUTH_NONCE_LEN], uint8_t mac_buf[RPC_AUTH_MAC_LEN]);

/* Checks a received request at now_ms (wall clock): MAC in constant time,
 * then the window (both directions, edges accepted), then the replay cache
 * (recording the nonce when all passed). On failure fills why with a
 * sentence for the caller. a == NULL means this side has no secret: a
 * request without a MAC passes, one with a MAC is RPC_AUTH_UNEXPECTED. */
rpc_auth_status rpc_auth_check_request(rpc_auth *a, const Chat__Rpc__Request *env, int64_t now_ms, char *why,
                                       size_t whylen);

/* "bad_mac", "replayed", ...; "" for RPC_AUTH_OK. */
const char *rpc_auth_status_name(rpc_auth_status st);

/* Whether a call's outcome (code, reason) is the RPC layer refusing it for
 * authentication (a server's check, or the client's check of the reply),
 * not a handler's UNAUTHENTICATED (a visitor's bad session token): a
 * deployment fault the caller reports as its own, not the visitor's. */
int rpc_auth_refused(int code, const char *reason);

/* The reply MAC of rep, bound to the request's nonce (nonce_len 0 when the
 * request carried none). 0 or -1. */
int rpc_auth_reply_mac(const rpc_auth *a, const uint8_t *nonce, size_t nonce_len, const Chat__Rpc__Reply *rep,
                       uint8_t mac[RPC_AUTH_MAC_LEN]);

/* Whether rep carries a valid MAC for the request with this nonce (1/0). */
int rpc_auth_reply_ok(const rpc_auth *a, const uint8_t *nonce, size_t nonce_len, const Chat__Rpc__Reply *rep);

/* Whether url is reachable only from this machine: ipc://, inproc://, or
 * tcp on 127.0.0.0/8, ::1 or "localhost" (1); anything else, a wildcard
 * (0.0.0.0, [::], empty, *) or another host name, is 0. */
int rpc_url_is_local(const char *url);

#endif
