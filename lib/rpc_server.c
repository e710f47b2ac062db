/* rpc_server.c: the generic RPC server (see rpc_server.h).
 *
 * Threads: slot_cb runs on nng's task threads; rpc_worker on the server's
 * own worker threads; a deferred closure on whatever thread calls it. The
 * work queue and the in-flight count are guarded by s->mtx; counters are
 * atomics. A slot belongs to whichever of them its state names: RECV and
 * SEND to nng, WORK to the queue and then one worker, DEFERRED to the
 * handler that deferred it until it calls the closure. */
#include "rpc_server.h"
#include "svc_metrics.h"

#include <arpa/inet.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "rpc.pb-c.h"
#include "rpc_auth.h"
#include "rpc_envelope.h"

#ifndef CHAT_VERSION
#define CHAT_VERSION "dev"
#endif

#define RPC_SERVER_MAX_CONTEXTS 65536u
#define RPC_SERVER_MAX_WORKERS 256u
#define RPC_NAME_MAX 64
#define RPC_REPLICA_MAX 128
#define RPC_PEER_MAX 64             /* "[ffff:...]:65535" */
#define RPC_AUTH_LOG_PEERS 64       /* peers whose refusals are throttled one by one */
#define RPC_AUTH_LOG_EVERY_MS 60000 /* one refusal line per peer per minute */

enum slot_state { SLOT_RECV, SLOT_WORK, SLOT_SEND };
enum call_state { CALL_IN_HANDLER = 1, CALL_DEFERRED = 2, CALL_DONE = 3 };

typedef struct rpc_slot rpc_slot;

/* What the worker running a handler keeps on its own stack. */
typedef struct rpc_invocation {
    int replied;
    int deferred;
    void *worker_data;
} rpc_invocation;

struct rpc_call {
    rpc_slot *slot;
    unsigned method_index;
    const ProtobufCMethodDescriptor *method;
    Chat__Rpc__Request *env; /* unpacked envelope, until the body is decoded */
    nng_msg *msg;            /* the request's message, reused for the reply */
    char rid[RPC_REQUEST_ID_MAX + 1];
    int64_t start_us;
    int64_t deadline_us;
    rpc_code code;
    char message[RPC_STATUS_MESSAGE_MAX + 1];
    uint32_t retry_after_ms;
    char reason[RPC_REASON_MAX + 1];
    uint8_t nonce[RPC_AUTH_NONCE_LEN]; /* the request's, to bind the reply MAC */
    size_t nonce_len;
    int counted; /* included in s->in_flight until its reply is sent or dropped */
    _Atomic int state;
    rpc_invocation *inv; /* valid while CALL_IN_HANDLER */
};

struct rpc_slot {
    rpc_server *srv;
    nng_ctx ctx;
    nng_aio *aio;
    enum slot_state state;
    rpc_call call;
};

/* The last refusal logged for one peer address. */
typedef struct auth_log_peer {
    char addr[RPC_PEER_MAX];
    int64_t last_ms;
    uint64_t suppressed;
} auth_log_peer;

struct rpc_server {
    ProtobufCService *service;
    rpc_auth *auth; /* NULL without a secret */
    pthread_mutex_t log_mtx;
    auth_log_peer log_peers[RPC_AUTH_LOG_PEERS];
    rpc_server_opts opts;
    char name[RPC_NAME_MAX];
    char replica[RPC_REPLICA_MAX];
    nng_socket sock;
    int sock_open;
    rpc_slot *slots;
    unsigned nslots;
    pthread_t *threads;
    unsigned nthreads;
    int64_t started_ms;

    pthread_mutex_t mtx;
    pthread_cond_t work_cv; /* queue not empty, or stopping */
    pthread_cond_t idle_cv; /* in_flight reached 0 */
    pthread_cond_t init_cv; /* a worker finished worker_init */
    rpc_slot **queue;       /* ring, capacity nslots */
    unsigned qhead, qlen;
    unsigned in_flight;
    unsigned inits_done, inits_failed;
    int stopping;
    _Atomic int draining;
    _Atomic int closing; /* aios are being stopped: callbacks re-arm nothing */

    _Atomic uint64_t st_received, st_handled, st_malformed, st_unknown, st_expired, st_rejected, st_unauth;
};

static void slot_cb(void *arg);

/* --- replies ---------------------------------------------------------- */

static void call_set_status(rpc_call *call, rpc_code code, const char *fmt, va_list ap)
{
    call->code = code;
    vsnprintf(call->message, sizeof(call->message), fmt, ap);
}

static void call_status(rpc_call *call, rpc_code code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void call_status(rpc_call *call, rpc_code code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    call_set_status(call, code, fmt, ap);
    va_end(ap);
}

/* Packs the reply envelope (status + body) into call->msg. Returns 0, or -1
 * when even an error reply could not be built (out of memory). */
static int call_pack_reply(rpc_call *call, const ProtobufCMessage *out)
{
    Chat__Rpc__Reply rep = CHAT__RPC__REPLY__INIT;
    uint8_t *body = NULL;
    size_t blen = 0;

    if (out != NULL && call->code == RPC_OK) {
        blen = protobuf_c_message_get_packed_size(out);
        size_t cap = call->slot->srv->opts.max_msg;
        body = blen + RPC_REPLY_SLACK > cap ? NULL : malloc(blen ? blen : 1);
        if (blen + RPC_REPLY_SLACK > cap) {
            /* The client would drop the whole connection (and every call
             * on it) at a message over its cap: fail this call alone. */
            log_warn("rpc: %s reply of %zu bytes is over the %zu-byte message cap; answered RESOURCE_EXHAUSTED",
                     call->method ? call->method->name : "?", blen, cap);
            call_status(call, RPC_RESOURCE_EXHAUSTED, "the reply (%zu bytes) is over the %zu-byte message cap", blen,
                        cap);
            blen = 0;
        } else if (body == NULL) {
            call_status(call, RPC_RESOURCE_EXHAUSTED, "out of memory packing the reply");
            blen = 0;
        } else {
            protobuf_c_message_pack(out, body);
            rep.body.data = body;
            rep.body.len = blen;
        }
    } else if (out == NULL && call->code == RPC_OK) {
        call_status(call, RPC_INTERNAL, "the handler failed without a status");
    }
    rep.code = (Chat__Rpc__Code)call->code;
    rep.message = call->message;
    rep.retry_after_ms = call->retry_after_ms;
    rep.reason = call->reason;
    rep.request_id = call->rid;
    uint8_t mac[RPC_AUTH_MAC_LEN];
    rpc_auth *auth = call->slot->srv->auth;
    if (auth != NULL && rpc_auth_reply_mac(auth, call->nonce, call->nonce_len, &rep, mac) == 0) {
        rep.mac.data = mac;
        rep.mac.len = sizeof(mac);
    }

    size_t n = chat__rpc__reply__get_packed_size(&rep);
    int rv = -1;
    if (call->msg == NULL) {
        if (nng_msg_alloc(&call->msg, n) != 0) {
            call->msg = NULL;
            goto out;
        }
    } else {
        nng_msg_clear(call->msg);
        if (nng_msg_realloc(call->msg, n) != 0) {
            goto out;
        }
    }
    chat__rpc__reply__pack(&rep, nng_msg_body(call->msg));
    rv = 0;
out:
    free(body);
    return rv;
}

/* Hands call->msg to nng; the SEND completion re-arms the slot. */
static void slot_send(rpc_slot *slot)
{
    slot->state = SLOT_SEND;
    nng_aio_set_msg(slot->aio, slot->call.msg);
    slot->call.msg = NULL;
    nng_ctx_send(slot->ctx, slot->aio);
}

/* Re-arms a slot whose message could not be answered (dropped). */
static void slot_recv(rpc_slot *slot)
{
    if (slot->call.msg != NULL) {
        nng_msg_free(slot->call.msg);
        slot->call.msg = NULL;
    }
    slot->state = SLOT_RECV;
    nng_ctx_recv(slot->ctx, slot->aio);
}

static void server_call_finished(rpc_server *s)
{
    pthread_mutex_lock(&s->mtx);
    if (s->in_flight > 0 && --s->in_flight == 0) {
        pthread_cond_broadcast(&s->idle_cv);
    }
    pthread_mutex_unlock(&s->mtx);
}

/* Answer a call immediately with a status, from the slot's callback. */
static void slot_reply_status(rpc_slot *slot)
{
    if (call_pack_reply(&slot->call, NULL) != 0) {
        slot_recv(slot);
        return;
    }
    slot_send(slot);
}

static void call_log_done(const rpc_call *call)
{
    int64_t us = clock_mono_us() - call->start_us;
    svc_metrics_rpc(call->method ? call->method->name : "?", call->code, us);
    char took[32];
    snprintf(took, sizeof(took), "%lld", (long long)us);
    log_level lvl = call->code == RPC_INTERNAL ? LOG_ERROR : LOG_DEBUG;
    log_fields(lvl, "rpc call", "method", call->method ? call->method->name : "?", "code", rpc_code_name(call->code),
               "status", call->message, "us", took, NULL);
}

/* The closure every handler receives (as protobuf-c's typed closure). */
static void rpc_closure(const ProtobufCMessage *out, void *closure_data)
{
    rpc_call *call = closure_data;
    int prev = atomic_exchange(&call->state, CALL_DONE);
    if (prev == CALL_DONE) {
        log_error("rpc: a handler of %s answered twice; the second answer is ignored",
                  call->method ? call->method->name : "?");
        return;
    }
    if (call_pack_reply(call, out) != 0) {
        log_error("rpc: out of memory building a reply; the call is dropped");
    }
    call_log_done(call);
    if (prev == CALL_IN_HANDLER) {
        call->inv->replied = 1; /* the worker sends after the handler returns */
        return;
    }
    rpc_slot *slot = call->slot;
    if (call->msg == NULL) {
        call->counted = 0;
        server_call_finished(slot->srv);
        slot_recv(slot);
    } else {
        slot_send(slot);
    }
}

/* --- authentication ---------------------------------------------------- */

/* The peer's address ("10.0.0.7", "fdaa::3", "ipc"), without the port: a
 * reconnecting peer is still the same peer. */
static void msg_peer(nng_msg *msg, char *out, size_t outlen)
{
    nng_sockaddr sa;
    snprintf(out, outlen, "?");
    nng_pipe p = nng_msg_get_pipe(msg);
    if (nng_pipe_get_addr(p, NNG_OPT_REMADDR, &sa) != 0) {
        return;
    }
    if (sa.s_family == NNG_AF_INET) {
        inet_ntop(AF_INET, &sa.s_in.sa_addr, out, (socklen_t)outlen);
    } else if (sa.s_family == NNG_AF_INET6) {
        inet_ntop(AF_INET6, sa.s_in6.sa_addr, out, (socklen_t)outlen);
    } else if (sa.s_family == NNG_AF_IPC) {
        snprintf(out, outlen, "ipc");
    } else if (sa.s_family == NNG_AF_INPROC) {
        snprintf(out, outlen, "inproc");
    }
}

/* Logs a refusal unless this peer had one logged within the last minute
 * (then it is counted, and the count goes with the next line). When every
 * tracked peer logged within the minute, a new peer is counted too, so a
 * flood from many addresses writes at most RPC_AUTH_LOG_PEERS lines a
 * minute. */
static void auth_log_refusal(rpc_server *s, const char *peer, const char *method, const char *rid, rpc_auth_status st,
                             const char *why)
{
    int64_t now = clock_mono_ms();
    uint64_t before = 0;
    int write = 0;
    pthread_mutex_lock(&s->log_mtx);
    auth_log_peer *hit = NULL, *oldest = &s->log_peers[0];
    for (unsigned i = 0; i < RPC_AUTH_LOG_PEERS; i++) {
        auth_log_peer *lp = &s->log_peers[i];
        if (lp->addr[0] != '\0' && strcmp(lp->addr, peer) == 0) {
            hit = lp;
            break;
        }
        if (lp->addr[0] == '\0' || lp->last_ms < oldest->last_ms) {
            oldest = lp;
        }
    }
    if (hit == NULL) {
        if (oldest->addr[0] == '\0' || now - oldest->last_ms >= RPC_AUTH_LOG_EVERY_MS) {
            hit = oldest;
            snprintf(hit->addr, sizeof(hit->addr), "%s", peer);
            hit->last_ms = now - RPC_AUTH_LOG_EVERY_MS;
            hit->suppressed = 0;
        } else {
            oldest->suppressed++; /* every slot busy: count it against the oldest */
        }
    }
    if (hit != NULL) {
        if (now - hit->last_ms >= RPC_AUTH_LOG_EVERY_MS) {
            write = 1;
            before = hit->suppressed;
            hit->suppressed = 0;
            hit->last_ms = now;
        } else {
            hit->suppressed++;
        }
    }
    pthread_mutex_unlock(&s->log_mtx);
    if (write) {
        char more[32];
        snprintf(more, sizeof(more), "%llu", (unsigned long long)before);
        log_fields(LOG_WARN, "rpc: request refused UNAUTHENTICATED (one line per peer per minute)", "server", s->name,
                   "peer", peer, "method", method, "rid", rid, "reason", rpc_auth_status_name(st), "detail", why,
                   "suppressed_since_last", more, NULL);
    }
}

/* Checks the request's authentication; on a refusal answers it and returns
 * -1 (env is freed). */
static int slot_authenticate(rpc_slot *slot, Chat__Rpc__Request *env)
{
    rpc_server *s = slot->srv;
    rpc_call *call = &slot->call;
    if (env->nonce.len == RPC_AUTH_NONCE_LEN) {
        memcpy(call->nonce, env->nonce.data, RPC_AUTH_NONCE_LEN);
        call->nonce_len = RPC_AUTH_NONCE_LEN;
    }
    char why[RPC_STATUS_MESSAGE_MAX + 1];
    rpc_auth_status st = rpc_auth_check_request(s->auth, env, clock_wall_ms(), why, sizeof(why));
    if (st == RPC_AUTH_OK) {
        return 0;
    }
    atomic_fetch_add(&s->st_unauth, 1);
    char peer[RPC_PEER_MAX], shown[RPC_METHOD_MAX + 1];
    msg_peer(call->msg, peer, sizeof(peer));
    snprintf(shown, sizeof(shown), "%s", env->method ? env->method : "");
    auth_log_refusal(s, peer, shown, call->rid, st, why);
    if (st == RPC_AUTH_CACHE_FLOOR) {
        /* A good request the overloaded cache cannot vouch for: retryable. */
        call_status(call, RPC_UNAVAILABLE, "%s", why);
        call->retry_after_ms = 100;
    } else {
        call_status(call, RPC_UNAUTHENTICATED, "%s: %s", s->name, why);
    }
    rpc_set_reason(call, rpc_auth_status_name(st));
    chat__rpc__request__free_unpacked(env, NULL);
    slot_reply_status(slot);
    return -1;
}

/* --- the context state machine (nng threads) --------------------------- */

static void slot_on_request(rpc_slot *slot, nng_msg *msg)
{
    rpc_server *s = slot->srv;
    rpc_call *call = &slot->call;

    memset(call, 0, sizeof(*call));
    call->slot = slot;
    call->msg = msg;
    call->start_us = clock_mono_us();
    atomic_fetch_add(&s->st_received, 1);

    rpc_env_request rq;
    rpc_env_status es = rpc_env_decode_request(s->service->descriptor, nng_msg_body(msg), nng_msg_len(msg),
                                               s->opts.default_timeout_ms, &rq);
    if (es == RPC_ENV_MALFORMED) {
        atomic_fetch_add(&s->st_malformed, 1);
        log_warn("rpc: malformed envelope (%zu bytes) answered INVALID_ARGUMENT", nng_msg_len(msg));
        call_status(call, RPC_INVALID_ARGUMENT, "malformed request envelope");
        slot_reply_status(slot);
        return;
    }
    snprintf(call->rid, sizeof(call->rid), "%s", rq.rid);
    call->deadline_us = call->start_us + (int64_t)rq.timeout_ms * 1000;
    if (es == RPC_ENV_UNKNOWN_METHOD) {
        atomic_fetch_add(&s->st_unknown, 1);
        log_fields(LOG_WARN, "rpc: unknown method answered UNIMPLEMENTED", "method", rq.method_shown, "rid", call->rid,
                   NULL);
        call_status(call, RPC_UNIMPLEMENTED, "unknown method \"%s\" (this is %s)", rq.method_shown,
                    s->service->descriptor->name);
        slot_reply_status(slot);
        return;
    }
    /* Before anything else is done for it: is the caller one of ours?
     * (An unknown method was answered above without this: it reveals
     * nothing and runs nothing.) */
    if (slot_authenticate(slot, rq.env) != 0) {
        return;
    }
    const ProtobufCServiceDescriptor *desc = s->service->descriptor;
    const ProtobufCMethodDescriptor *md = rq.method;
    Chat__Rpc__Request *env = rq.env;
    call->method = md;
    call->method_index = (unsigned)(md - desc->methods);

    if (atomic_load(&s->draining)) {
        atomic_fetch_add(&s->st_rejected, 1);
        call_status(call, RPC_UNAVAILABLE, "%s is shutting down", s->name);
        call->retry_after_ms = 1000;
        chat__rpc__request__free_unpacked(env, NULL);
        slot_reply_status(slot);
        return;
    }

    call->env = env;
    call->counted = 1;
    pthread_mutex_lock(&s->mtx);
    s->in_flight++;
    s->queue[(s->qhead + s->qlen) % s->nslots] = slot;
    s->qlen++;
    slot->state = SLOT_WORK;
    pthread_cond_signal(&s->work_cv);
    pthread_mutex_unlock(&s->mtx);
}

static void slot_cb(void *arg)
{
    rpc_slot *slot = arg;
    rpc_server *s = slot->srv;
    int rv = nng_aio_result(slot->aio);

    if (atomic_load(&s->closing)) {
        /* server_free is stopping every aio: re-arm nothing. */
        if (slot->state == SLOT_SEND && rv != 0) {
            nng_msg *m = nng_aio_get_msg(slot->aio);
            if (m != NULL) {
                nng_msg_free(m);
            }
        }
        if (slot->state == SLOT_RECV && rv == 0) {
            nng_msg_free(nng_aio_get_msg(slot->aio));
        }
        return;
    }

    switch (slot->state) {
    case SLOT_RECV:
        if (rv == NNG_ECLOSED || rv == NNG_ECANCELED) {
            return;
        }
        if (rv != 0) {
            log_warn("rpc: receive failed: %s", nng_strerror(rv));
            slot_recv(slot);
            return;
        }
        slot_on_request(slot, nng_aio_get_msg(slot->aio));
        return;
    case SLOT_SEND:
        if (rv != 0) {
            nng_msg *m = nng_aio_get_msg(slot->aio);
            if (m != NULL) {
                nng_msg_free(m);
            }
        }
        if (slot->call.counted) {
            slot->call.counted = 0;
            server_call_finished(s);
        }
        if (rv == NNG_ECLOSED) {
            return;
        }
        slot_recv(slot);
        return;
    case SLOT_WORK:
        return;
    }
}

/* --- workers ------------------------------------------------------------ */

typedef struct worker_arg {
    rpc_server *srv;
    unsigned index;
} worker_arg;

static void worker_handle(rpc_server *s, rpc_slot *slot, void *worker_data)
{
    rpc_call *call = &slot->call;
    Chat__Rpc__Request *env = call->env;

    log_set_request_id(call->rid);
    if (clock_mono_us() > call->deadline_us) {
        atomic_fetch_add(&s->st_expired, 1);
        log_fields(LOG_INFO, "rpc: request expired before it was worked on; dropped", "method", call->method->name,
                   NULL);
        chat__rpc__request__free_unpacked(env, NULL);
        call->env = NULL;
        call->counted = 0;
        server_call_finished(s);
        slot_recv(slot);
        log_set_request_id(NULL);
        return;
    }

    ProtobufCMessage *input = protobuf_c_message_unpack(call->method->input, NULL, env->body.len, env->body.data);
    chat__rpc__request__free_unpacked(env, NULL);
    call->env = NULL;
    if (input == NULL) {
        atomic_fetch_add(&s->st_malformed, 1);
        log_fields(LOG_WARN, "rpc: malformed request body answered INVALID_ARGUMENT", "method", call->method->name,
                   NULL);
        call_status(call, RPC_INVALID_ARGUMENT, "malformed %s request", call->method->name);
        atomic_store(&call->state, CALL_DONE);
        if (call_pack_reply(call, NULL) != 0) {
            call->counted = 0;
            server_call_finished(s);
            slot_recv(slot);
        } else {
            slot_send(slot);
        }
        log_set_request_id(NULL);
        return;
    }

    atomic_fetch_add(&s->st_handled, 1);
    rpc_invocation inv = {.worker_data = worker_data};
    call->inv = &inv;
    atomic_store(&call->state, CALL_IN_HANDLER);
    protobuf_c_service_invoke_internal(s->service, call->method_index, input, (ProtobufCClosure)rpc_closure, call);
    protobuf_c_message_free_unpacked(input, NULL);

    if (inv.deferred) {
        /* The closure (maybe already run on another thread) owns the slot. */
        log_set_request_id(NULL);
        return;
    }
    if (!inv.replied) {
        /* The handler returned without answering: a bug, never a hang. */
        call_status(call, RPC_INTERNAL, "%s returned no reply", call->method->name);
        rpc_closure(NULL, call); /* state becomes DONE, packed, logged */
    }
    if (call->msg == NULL) {
        call->counted = 0;
        server_call_finished(s);
        slot_recv(slot);
    } else {
        slot_send(slot);
    }
    log_set_request_id(NULL);
}

static void *rpc_worker(void *arg)
{
    worker_arg *wa = arg;
    rpc_server *s = wa->srv;
    void *wdata = NULL;
    int rv = 0;
    if (s->opts.worker_init != NULL) {
        rv = s->opts.worker_init(&wdata, wa->index, s->opts.arg);
    }
    pthread_mutex_lock(&s->mtx);
    s->inits_done++;
    if (rv != 0) {
        s->inits_failed++;
    }
    pthread_cond_broadcast(&s->init_cv);
    pthread_mutex_unlock(&s->mtx);
    free(wa);
    if (rv != 0) {
        return NULL;
    }

    for (;;) {
        pthread_mutex_lock(&s->mtx);
        while (s->qlen == 0 && !s->stopping) {
            pthread_cond_wait(&s->work_cv, &s->mtx);
        }
        if (s->stopping) {
            /* Calls still queued are abandoned (server_free frees them):
             * a stop comes after the drain, so their callers gave up. */
            pthread_mutex_unlock(&s->mtx);
            break;
        }
        rpc_slot *slot = s->queue[s->qhead];
        s->qhead = (s->qhead + 1) % s->nslots;
        s->qlen--;
        pthread_mutex_unlock(&s->mtx);
        worker_handle(s, slot, wdata);
    }
    if (s->opts.worker_fini != NULL) {
        s->opts.worker_fini(wdata, s->opts.arg);
    }
    return NULL;
}

/* --- lifecycle ------------------------------------------------------------ */

static void rpc_pipe_event(nng_pipe p, nng_pipe_ev ev, void *arg)
{
    rpc_server *s = arg;
    nng_sockaddr sa;
    char addr[64] = "?";
    if (nng_pipe_get_addr(p, NNG_OPT_REMADDR, &sa) == 0 && sa.s_family == NNG_AF_INET) {
        const uint8_t *ip = (const uint8_t *)&sa.s_in.sa_addr;
        snprintf(addr, sizeof(addr), "%u.%u.%u.%u:%u", ip[0], ip[1], ip[2], ip[3],
                 (unsigned)((sa.s_in.sa_port >> 8) | ((sa.s_in.sa_port & 0xff) << 8)) & 0xffff);
    }
    /* nng closes a connection that sends an oversized message without telling
     * us why; this line is the trace it leaves. */
    log_fields(LOG_INFO, ev == NNG_PIPE_EV_ADD_POST ? "rpc: peer connected" : "rpc: peer disconnected", "server",
               s->name, "peer", addr, NULL);
}

/* The order matters: no thread may be inside an nng_ctx_* call of ours when
 * the socket closes. So: stop the workers (each finishes the call it has,
 * whose send then completes on nng's side), stop every aio (waiting for
 * callbacks; they re-arm nothing once closing is set), then close. */
static void server_free(rpc_server *s)
{
    if (s == NULL) {
        return;
    }
    if (s->threads != NULL) {
        pthread_mutex_lock(&s->mtx);
        s->stopping = 1;
        pthread_cond_broadcast(&s->work_cv);
        pthread_mutex_unlock(&s->mtx);
        for (unsigned i = 0; i < s->nthreads; i++) {
            pthread_join(s->threads[i], NULL);
        }
        free(s->threads);
        s->threads = NULL;
    }
    atomic_store(&s->closing, 1);
    if (s->slots != NULL) {
        for (unsigned i = 0; i < s->nslots; i++) {
            if (s->slots[i].aio != NULL) {
                nng_aio_stop(s->slots[i].aio);
            }
        }
    }
    if (s->sock_open) {
        nng_close(s->sock);
        s->sock_open = 0;
    }
    if (s->slots != NULL) {
        /* Calls still queued never reached a worker. */
        for (unsigned i = 0; i < s->qlen; i++) {
            rpc_slot *slot = s->queue[(s->qhead + i) % s->nslots];
            if (slot->call.env != NULL) {
                chat__rpc__request__free_unpacked(slot->call.env, NULL);
                slot->call.env = NULL;
            }
        }
        for (unsigned i = 0; i < s->nslots; i++) {
            if (s->slots[i].aio != NULL) {
                nng_aio_free(s->slots[i].aio);
            }
            if (s->slots[i].call.msg != NULL) {
                nng_msg_free(s->slots[i].call.msg);
            }
        }
        free(s->slots);
    }
    free(s->queue);
    pthread_mutex_destroy(&s->mtx);
    pthread_cond_destroy(&s->work_cv);
    pthread_cond_destroy(&s->idle_cv);
    pthread_cond_destroy(&s->init_cv);
    pthread_mutex_destroy(&s->log_mtx);
    rpc_auth_free(s->auth);
    free(s);
}

int rpc_server_start(rpc_server **out, ProtobufCService *service, const rpc_server_opts *opts, char *err, size_t errlen)
{
    int rv;
    *out = NULL;
    rpc_server *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    pthread_mutex_init(&s->mtx, NULL);
    pthread_cond_init(&s->work_cv, NULL);
    pthread_cond_init(&s->idle_cv, NULL);
    pthread_cond_init(&s->init_cv, NULL);
    pthread_mutex_init(&s->log_mtx, NULL);
    s->service = service;
    s->opts = *opts;
    s->opts.secret = NULL; /* not kept: the key lives in s->auth */
    s->started_ms = clock_mono_ms();
    snprintf(s->name, sizeof(s->name), "%s", opts->name ? opts->name : service->descriptor->name);
    char host[64] = "localhost";
    gethostname(host, sizeof(host) - 1);
    snprintf(s->replica, sizeof(s->replica), "%s-%ld", host, (long)getpid());
    if (s->opts.contexts == 0) {
        s->opts.contexts = 128;
    }
    if (s->opts.workers == 0) {
        s->opts.workers = 4;
    }
    if (s->opts.max_msg == 0) {
        s->opts.max_msg = RPC_DEFAULT_MAX_MSG;
    }
    if (s->opts.default_timeout_ms == 0) {
        s->opts.default_timeout_ms = RPC_DEFAULT_TIMEOUT_MS;
    }
    if (s->opts.contexts > RPC_SERVER_MAX_CONTEXTS || s->opts.workers > RPC_SERVER_MAX_WORKERS) {
        snprintf(err, errlen, "too many contexts (max %u) or workers (max %u)", RPC_SERVER_MAX_CONTEXTS,
                 RPC_SERVER_MAX_WORKERS);
        goto fail;
    }

    if (opts->secret != NULL && opts->secret[0] != '\0') {
        char e[256];
        unsigned cap = opts->replay_capacity ? opts->replay_capacity : RPC_REPLAY_DEFAULT;
        if (rpc_auth_new(&s->auth, opts->secret, opts->auth_window_ms, cap, e, sizeof(e)) != 0) {
            snprintf(err, errlen, "%s", e);
            goto fail;
        }
    }

    if ((rv = nng_rep0_open(&s->sock)) != 0) {
        snprintf(err, errlen, "cannot open a REP socket: %s", nng_strerror(rv));
        goto fail;
    }
    s->sock_open = 1;
    nng_socket_set_size(s->sock, NNG_OPT_RECVMAXSZ, s->opts.max_msg);
    nng_pipe_notify(s->sock, NNG_PIPE_EV_ADD_POST, rpc_pipe_event, s);
    nng_pipe_notify(s->sock, NNG_PIPE_EV_REM_POST, rpc_pipe_event, s);

    s->nslots = s->opts.contexts;
    s->slots = calloc(s->nslots, sizeof(*s->slots));
    s->queue = calloc(s->nslots, sizeof(*s->queue));
    if (s->slots == NULL || s->queue == NULL) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    for (unsigned i = 0; i < s->nslots; i++) {
        rpc_slot *slot = &s->slots[i];
        slot->srv = s;
        if ((rv = nng_aio_alloc(&slot->aio, slot_cb, slot)) != 0 || (rv = nng_ctx_open(&slot->ctx, s->sock)) != 0) {
            snprintf(err, errlen, "cannot set up context %u: %s", i, nng_strerror(rv));
            goto fail;
        }
    }

    s->threads = calloc(s->opts.workers, sizeof(*s->threads));
    if (s->threads == NULL) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    for (unsigned i = 0; i < s->opts.workers; i++) {
        worker_arg *wa = malloc(sizeof(*wa));
        if (wa == NULL) {
            snprintf(err, errlen, "out of memory");
            goto fail;
        }
        wa->srv = s;
        wa->index = i;
        if (pthread_create(&s->threads[i], NULL, rpc_worker, wa) != 0) {
            free(wa);
            snprintf(err, errlen, "cannot start worker thread %u", i);
            goto fail;
        }
        s->nthreads++;
    }
    pthread_mutex_lock(&s->mtx);
    while (s->inits_done < s->nthreads) {
        pthread_cond_wait(&s->init_cv, &s->mtx);
    }
    unsigned failed = s->inits_failed;
    pthread_mutex_unlock(&s->mtx);
    if (failed > 0) {
        snprintf(err, errlen, "%u of %u workers failed to initialise", failed, s->nthreads);
        goto fail;
    }

    if ((rv = nng_listen(s->sock, opts->url, NULL, 0)) != 0) {
        snprintf(err, errlen, "cannot listen on %s: %s", opts->url, nng_strerror(rv));
        goto fail;
    }
    for (unsigned i = 0; i < s->nslots; i++) {
        slot_recv(&s->slots[i]);
    }
    *out = s;
    return 0;
fail:
    server_free(s);
    return -1;
}

unsigned rpc_server_drain(rpc_server *s, int timeout_ms)
{
    atomic_store(&s->draining, 1);
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&s->mtx);
    while (s->in_flight > 0) {
        if (pthread_cond_timedwait(&s->idle_cv, &s->mtx, &until) != 0) {
            break;
        }
    }
    unsigned left = s->in_flight;
    pthread_mutex_unlock(&s->mtx);
    return left;
}

void rpc_server_stop(rpc_server *s)
{
    server_free(s);
}

void rpc_server_get_stats(rpc_server *s, rpc_server_stats *out)
{
    out->received = atomic_load(&s->st_received);
    out->handled = atomic_load(&s->st_handled);
    out->malformed = atomic_load(&s->st_malformed);
    out->unknown = atomic_load(&s->st_unknown);
    out->expired = atomic_load(&s->st_expired);
    out->rejected = atomic_load(&s->st_rejected);
    out->unauthenticated = atomic_load(&s->st_unauth);
    pthread_mutex_lock(&s->mtx);
    out->in_flight = s->in_flight;
    pthread_mutex_unlock(&s->mtx);
}

/* --- handler helpers ------------------------------------------------------ */

void rpc_fail(void *closure_data, rpc_code code, const char *fmt, ...)
{
    rpc_call *call = closure_data;
    va_list ap;
    va_start(ap, fmt);
    call_set_status(call, code, fmt, ap);
    va_end(ap);
}

const char *rpc_call_method_name(const void *closure_data)
{
    const rpc_call *call = closure_data;
    return call->method ? call->method->name : "?";
}

void rpc_set_reason(void *closure_data, const char *reason)
{
    rpc_call *call = closure_data;
    snprintf(call->reason, sizeof(call->reason), "%s", reason ? reason : "");
}

void rpc_set_retry_after(void *closure_data, uint32_t ms)
{
    ((rpc_call *)closure_data)->retry_after_ms = ms;
}

const char *rpc_call_request_id(const void *closure_data)
{
    return ((const rpc_call *)closure_data)->rid;
}

int64_t rpc_call_remaining_ms(const void *closure_data)
{
    const rpc_call *call = closure_data;
    return (call->deadline_us - clock_mono_us()) / 1000;
}

void *rpc_call_worker_data(const void *closure_data)
{
    const rpc_call *call = closure_data;
    if (atomic_load(&((rpc_call *)call)->state) != CALL_IN_HANDLER || call->inv == NULL) {
        return NULL;
    }
    return call->inv->worker_data;
}

void *rpc_call_server_arg(const void *closure_data)
{
    return ((const rpc_call *)closure_data)->slot->srv->opts.arg;
}

void rpc_defer(void *closure_data)
{
    rpc_call *call = closure_data;
    rpc_invocation *inv = call->inv;
    int expected = CALL_IN_HANDLER;
    if (inv != NULL && atomic_compare_exchange_strong(&call->state, &expected, CALL_DEFERRED)) {
        inv->deferred = 1;
        call->inv = NULL;
    }
}

void rpc_fill_health(const void *closure_data, Chat__Rpc__HealthReply *out)
{
    const rpc_call *call = closure_data;
    rpc_server *s = call->slot->srv;
    static _Thread_local char detail[256];
    out->service = s->name;
    out->version = CHAT_VERSION;
    out->uptime_ms = (uint64_t)(clock_mono_ms() - s->started_ms);
    out->replica_id = s->replica;
    detail[0] = '\0';
    out->ready = s->opts.ready ? (s->opts.ready(detail, sizeof(detail), s->opts.arg) != 0) : 1;
    out->detail = detail;
}
