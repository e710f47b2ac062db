/* rpc_client.c: the RPC client (see rpc_client.h).
 *
 * Threads: call_cb and the pipe callbacks run on nng's threads; the public
 * functions on the caller's. c->mtx guards the list of calls in flight, the
 * free list and the connection state. A pending call object is owned by nng
 * while its aio runs, and by the free list otherwise; objects are reused
 * (an aio cannot be freed from its own callback, and reuse is cheaper). */
#include "rpc_client.h"

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "rpc.pb-c.h"
#include "rpc_auth.h"
#include "rpc_envelope.h"

#define RPC_CLIENT_URL_MAX 256
#define RPC_CLIENT_DEFAULT_MAX_IN_FLIGHT 65536u
#define RPC_CLIENT_POOL_MARGIN 256u

typedef struct rpc_pending rpc_pending;
struct rpc_pending {
    rpc_client *c;
    nng_ctx ctx;
    nng_aio *aio;
    int receiving; /* 0 = sending, 1 = waiting for the reply */
    const ProtobufCMethodDescriptor *md;
    rpc_done_fn done;
    void *arg;
    int64_t deadline_ms;
    uint32_t timeout_ms;
    rpc_code abort_code;               /* why we aborted it, when we did */
    uint8_t nonce[RPC_AUTH_NONCE_LEN]; /* the request's, to check the reply's MAC */
    rpc_pending *prev, *next;
};

struct rpc_client {
    const ProtobufCServiceDescriptor *svc;
    nng_socket sock;
    char url[RPC_CLIENT_URL_MAX];
    rpc_client_opts opts;
    rpc_auth *auth; /* NULL without a secret */
    pthread_mutex_t mtx;
    pthread_cond_t idle_cv;
    rpc_pending *active; /* calls in flight */
    rpc_pending *free_list;
    rpc_pending **all; /* every object made, for close */
    unsigned nall, capall;
    unsigned in_flight; /* calls started and not yet finished */
    unsigned busy;      /* pending objects not back on the free list */
    int pipes;
    int64_t down_since_ms;
    int closing;
};

/* --- connection state ------------------------------------------------------ */

static void client_pipe_event(nng_pipe p, nng_pipe_ev ev, void *arg)
{
    (void)p;
    rpc_client *c = arg;
    pthread_mutex_lock(&c->mtx);
    /* ADD_PRE, not ADD_POST: nng starts the protocol on a pipe (requests
     * flow, replies arrive) before it runs ADD_POST callbacks, so a busy
     * machine could complete calls on a connection still counted as down
     * (and fail the next one fast). ADD_PRE runs before the pipe starts and,
     * like ADD_POST, is always followed by REM_POST. */
    if (ev == NNG_PIPE_EV_ADD_PRE) {
        c->pipes++;
    } else if (ev == NNG_PIPE_EV_REM_POST) {
        if (c->pipes > 0) {
            c->pipes--;
        }
        if (c->pipes == 0) {
            c->down_since_ms = clock_mono_ms();
        }
        /* Never let nng replay these to the next connection: the server may
         * have acted on them already. */
        for (rpc_pending *q = c->active; q != NULL; q = q->next) {
            if (q->abort_code == RPC_OK) {
                q->abort_code = RPC_UNAVAILABLE;
                nng_aio_abort(q->aio, NNG_ECANCELED);
            }
        }
    }
    pthread_mutex_unlock(&c->mtx);
}

int rpc_client_connected(const rpc_client *c)
{
    rpc_client *m = (rpc_client *)c;
    pthread_mutex_lock(&m->mtx);
    int up = m->pipes > 0;
    pthread_mutex_unlock(&m->mtx);
    return up;
}

int rpc_client_open(rpc_client **out, const ProtobufCServiceDescriptor *service, const char *url,
                    const rpc_client_opts *opts, char *err, size_t errlen)
{
    int rv;
    *out = NULL;
    if (strlen(url) >= RPC_CLIENT_URL_MAX) {
        snprintf(err, errlen, "URL too long");
        return -1;
    }
    rpc_client *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    c->svc = service;
    snprintf(c->url, sizeof(c->url), "%s", url);
    if (opts != NULL) {
        c->opts = *opts;
    }
    if (c->opts.default_timeout_ms == 0) {
        c->opts.default_timeout_ms = RPC_DEFAULT_TIMEOUT_MS;
    }
    if (c->opts.max_msg == 0) {
        c->opts.max_msg = RPC_DEFAULT_MAX_MSG;
    }
    if (c->opts.max_in_flight == 0) {
        c->opts.max_in_flight = RPC_CLIENT_DEFAULT_MAX_IN_FLIGHT;
    }
    if (c->opts.secret != NULL && c->opts.secret[0] != '\0' &&
        rpc_auth_new(&c->auth, c->opts.secret, 0, 0, err, errlen) != 0) {
        free(c);
        return -1;
    }
    c->opts.secret = NULL; /* not kept: the key lives in c->auth */
    pthread_mutex_init(&c->mtx, NULL);
    pthread_cond_init(&c->idle_cv, NULL);
    c->down_since_ms = clock_mono_ms();

    if ((rv = nng_req0_open(&c->sock)) != 0) {
        snprintf(err, errlen, "cannot open a REQ socket: %s", nng_strerror(rv));
        goto fail;
    }
    nng_socket_set_ms(c->sock, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
    nng_socket_set_ms(c->sock, NNG_OPT_RECONNMINT, 20);
    nng_socket_set_ms(c->sock, NNG_OPT_RECONNMAXT, 500);
    nng_socket_set_size(c->sock, NNG_OPT_RECVMAXSZ, c->opts.max_msg);
    nng_pipe_notify(c->sock, NNG_PIPE_EV_ADD_PRE, client_pipe_event, c);
    nng_pipe_notify(c->sock, NNG_PIPE_EV_REM_POST, client_pipe_event, c);
    if ((rv = nng_dial(c->sock, url, NULL, NNG_FLAG_NONBLOCK)) != 0) {
        snprintf(err, errlen, "cannot dial %s: %s", url, nng_strerror(rv));
        nng_close(c->sock);
        goto fail;
    }
    *out = c;
    return 0;
fail:
    pthread_mutex_destroy(&c->mtx);
    pthread_cond_destroy(&c->idle_cv);
    rpc_auth_free(c->auth);
    free(c);
    return -1;
}

/* --- completing calls ------------------------------------------------------ */

static void pending_finish(rpc_pending *p, rpc_result *res)
{
    rpc_client *c = p->c;
    rpc_done_fn done = p->done;
    void *arg = p->arg;

    pthread_mutex_lock(&c->mtx);
    if (p->prev != NULL) {
        p->prev->next = p->next;
    } else {
        c->active = p->next;
    }
    if (p->next != NULL) {
        p->next->prev = p->prev;
    }
    p->prev = p->next = NULL;
    /* The call is over before done runs, so a caller woken by done can
     * start the next one without meeting the cap. */
    c->in_flight--;
    pthread_mutex_unlock(&c->mtx);

    done(res, arg);

    /* Reusable only now: nothing below touches p. */
    pthread_mutex_lock(&c->mtx);
    p->next = c->free_list;
    c->free_list = p;
    if (--c->busy == 0) {
        pthread_cond_broadcast(&c->idle_cv);
    }
    pthread_mutex_unlock(&c->mtx);
}

static void result_set(rpc_result *res, rpc_code code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void result_set(rpc_result *res, rpc_code code, const char *fmt, ...)
{
    va_list ap;
    res->code = code;
    va_start(ap, fmt);
    vsnprintf(res->message, sizeof(res->message), fmt, ap);
    va_end(ap);
}

static void pending_fail_nng(rpc_pending *p, int rv, rpc_result *res)
{
    rpc_client *c = p->c;
    if (rv == NNG_ECANCELED && p->abort_code != RPC_OK) {
        if (p->abort_code == RPC_UNAVAILABLE) {
            result_set(res, RPC_UNAVAILABLE, "connection to %s lost during the call", c->url);
        } else {
            result_set(res, p->abort_code, "call cancelled: the client is closing");
        }
    } else if (rv == NNG_ETIMEDOUT) {
        pthread_mutex_lock(&c->mtx);
        int up = c->pipes > 0;
        pthread_mutex_unlock(&c->mtx);
        if (up) {
            result_set(res, RPC_DEADLINE_EXCEEDED, "no reply from %s within %u ms", c->url, p->timeout_ms);
        } else {
            result_set(res, RPC_UNAVAILABLE, "%s is not reachable", c->url);
        }
    } else if (rv == NNG_ECLOSED) {
        result_set(res, RPC_CANCELLED, "call cancelled: the client is closing");
    } else {
        result_set(res, RPC_UNAVAILABLE, "transport error talking to %s: %s", c->url, nng_strerror(rv));
    }
}

/* With RPC_SECRET: a reply without our MAC did not come from a service
 * holding our secret (a service's own refusal, UNAUTHENTICATED, says why
 * in its words and is taken as it is). */
static int pending_reply_check(const Chat__Rpc__Reply *rep, void *arg, rpc_result *res)
{
    rpc_pending *p = arg;
    if (p->c->auth == NULL || rpc_auth_reply_ok(p->c->auth, p->nonce, sizeof(p->nonce), rep) ||
        rep->code == CHAT__RPC__CODE__UNAUTHENTICATED) {
        return 1;
    }
    result_set(res, RPC_UNAUTHENTICATED,
               "the %s reply from %s (%s) carries no valid MAC: RPC_SECRET differs between caller and service "
               "(or the service has none)",
               p->md->name, p->c->url, rpc_code_name((rpc_code)rep->code));
    snprintf(res->reason, sizeof(res->reason), "%s", "bad_reply_mac");
    res->retry_after_ms = 0;
    return 0;
}

static void pending_on_reply(rpc_pending *p, nng_msg *msg, rpc_result *res)
{
    rpc_env_decode_reply_checked(p->md, p->c->url, nng_msg_body(msg), nng_msg_len(msg), pending_reply_check, p, res);
    nng_msg_free(msg);
}

static void call_cb(void *arg)
{
    rpc_pending *p = arg;
    rpc_result res;
    memset(&res, 0, sizeof(res));
    int rv = nng_aio_result(p->aio);

    if (!p->receiving) {
        if (rv != 0) {
            nng_msg *m = nng_aio_get_msg(p->aio);
            if (m != NULL) {
                nng_msg_free(m);
            }
            pending_fail_nng(p, rv, &res);
            pending_finish(p, &res);
            return;
        }
        /* An abort that came after nng finished the send found nothing to
         * cancel: honour it here, under the lock the aborters hold. */
        pthread_mutex_lock(&p->c->mtx);
        if (p->abort_code == RPC_OK) {
            int64_t left = p->deadline_ms - clock_mono_ms();
            p->receiving = 1;
            nng_aio_set_timeout(p->aio, left > 0 ? (nng_duration)left : 1);
            nng_ctx_recv(p->ctx, p->aio);
            pthread_mutex_unlock(&p->c->mtx);
            return;
        }
        pthread_mutex_unlock(&p->c->mtx);
        pending_fail_nng(p, NNG_ECANCELED, &res);
        pending_finish(p, &res);
        return;
    }
    if (rv != 0) {
        pending_fail_nng(p, rv, &res);
    } else {
        pending_on_reply(p, nng_aio_get_msg(p->aio), &res);
    }
    pending_finish(p, &res);
}

/* --- starting calls -------------------------------------------------------- */

/* Takes an object from the free list or makes one; NULL at the cap. Called
 * with c->mtx held. */
static rpc_pending *pending_get(rpc_client *c)
{
    rpc_pending *p = c->free_list;
    if (p != NULL) {
        c->free_list = p->next;
        return p;
    }
    /* Objects still finishing their callback are not back yet: allow a
     * margin over the cap, bounded. */
    if (c->nall >= c->opts.max_in_flight + RPC_CLIENT_POOL_MARGIN) {
        return NULL;
    }
    if (c->nall == c->capall) {
        unsigned cap = c->capall ? c->capall * 2 : 16;
        rpc_pending **all = realloc(c->all, cap * sizeof(*all));
        if (all == NULL) {
            return NULL;
        }
        c->all = all;
        c->capall = cap;
    }
    p = calloc(1, sizeof(*p));
    if (p == NULL) {
        return NULL;
    }
    p->c = c;
    if (nng_aio_alloc(&p->aio, call_cb, p) != 0) {
        free(p);
        return NULL;
    }
    if (nng_ctx_open(&p->ctx, c->sock) != 0) {
        nng_aio_free(p->aio);
        free(p);
        return NULL;
    }
    nng_ctx_set_ms(p->ctx, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
    c->all[c->nall++] = p;
    return p;
}

/* Packs the envelope for method md into a new message (stamped and MACed
 * with c->auth, the nonce kept in nonce). */
static nng_msg *pack_request(rpc_client *c, const ProtobufCMethodDescriptor *md, const ProtobufCMessage *req,
                             uint32_t timeout_ms, const char *rid, uint8_t nonce[RPC_AUTH_NONCE_LEN])
{
    char method[RPC_METHOD_MAX + 1];
    snprintf(method, sizeof(method), "%s/%s", c->svc->name, md->name);
    size_t blen = protobuf_c_message_get_packed_size(req);
    uint8_t *body = malloc(blen ? blen : 1);
    if (body == NULL) {
        return NULL;
    }
    protobuf_c_message_pack(req, body);
    Chat__Rpc__Request env = CHAT__RPC__REQUEST__INIT;
    env.method = method;
    env.request_id = (char *)rid;
    env.timeout_ms = timeout_ms;
    env.body.data = body;
    env.body.len = blen;
    uint8_t mac[RPC_AUTH_MAC_LEN];
    nng_msg *msg = NULL;
    if (c->auth != NULL && rpc_auth_sign_request(c->auth, &env, clock_wall_ms(), nonce, mac) != 0) {
        free(body);
        return NULL;
    }
    size_t n = chat__rpc__request__get_packed_size(&env);
    if (nng_msg_alloc(&msg, n) == 0) {
        chat__rpc__request__pack(&env, nng_msg_body(msg));
    } else {
        msg = NULL;
    }
    free(body);
    return msg;
}

rpc_code rpc_call_async(rpc_client *c, const char *method, const ProtobufCMessage *req, uint32_t timeout_ms,
                        const char *request_id, rpc_done_fn done, void *arg)
{
    const ProtobufCMethodDescriptor *md = protobuf_c_service_descriptor_get_method_by_name(c->svc, method);
    if (md == NULL || req == NULL || req->descriptor != md->input) {
        log_error("rpc: %s/%s called with a wrong method or request type", c->svc->name, method);
        return RPC_INVALID_ARGUMENT;
    }
    if (timeout_ms == 0) {
        timeout_ms = c->opts.default_timeout_ms;
    }
    char rid[RPC_REQUEST_ID_MAX + 1];
    if (request_id == NULL || request_id[0] == '\0') {
        rpc_new_request_id(rid, sizeof(rid));
    } else {
        snprintf(rid, sizeof(rid), "%s", request_id);
    }

    pthread_mutex_lock(&c->mtx);
    if (c->closing) {
        pthread_mutex_unlock(&c->mtx);
        return RPC_CANCELLED;
    }
    if (c->pipes == 0 && clock_mono_ms() - c->down_since_ms > RPC_CONNECT_GRACE_MS) {
        pthread_mutex_unlock(&c->mtx);
        return RPC_UNAVAILABLE;
    }
    rpc_pending *p = c->in_flight < c->opts.max_in_flight ? pending_get(c) : NULL;
    if (p == NULL) {
        pthread_mutex_unlock(&c->mtx);
        return RPC_RESOURCE_EXHAUSTED;
    }
    p->md = md;
    p->done = done;
    p->arg = arg;
    p->receiving = 0;
    p->abort_code = RPC_OK;
    p->timeout_ms = timeout_ms;
    p->deadline_ms = clock_mono_ms() + timeout_ms;
    p->prev = NULL;
    p->next = c->active;
    if (c->active != NULL) {
        c->active->prev = p;
    }
    c->active = p;
    c->in_flight++;
    c->busy++;
    pthread_mutex_unlock(&c->mtx);

    nng_msg *msg = pack_request(c, md, req, timeout_ms, rid, p->nonce);
    if (msg == NULL) {
        /* done must not run on the caller's thread: undo and report. */
        pthread_mutex_lock(&c->mtx);
        if (p->prev != NULL) {
            p->prev->next = p->next;
        } else {
            c->active = p->next;
        }
        if (p->next != NULL) {
            p->next->prev = p->prev;
        }
        p->next = c->free_list;
        c->free_list = p;
        c->in_flight--;
        if (--c->busy == 0) {
            pthread_cond_broadcast(&c->idle_cv);
        }
        pthread_mutex_unlock(&c->mtx);
        return RPC_RESOURCE_EXHAUSTED;
    }
    nng_aio_set_timeout(p->aio, (nng_duration)timeout_ms);
    nng_aio_set_msg(p->aio, msg);
    nng_ctx_send(p->ctx, p->aio);
    return RPC_OK;
}

/* --- synchronous form ------------------------------------------------------ */

typedef struct sync_wait {
    pthread_mutex_t mtx;
    pthread_cond_t cv;
    int done;
    rpc_result *res;
} sync_wait;

static void sync_done(rpc_result *res, void *arg)
{
    sync_wait *w = arg;
    pthread_mutex_lock(&w->mtx);
    *w->res = *res;
    w->done = 1;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mtx);
}

rpc_code rpc_call_sync(rpc_client *c, const char *method, const ProtobufCMessage *req, uint32_t timeout_ms,
                       const char *request_id, rpc_result *res)
{
    memset(res, 0, sizeof(*res));
    sync_wait w = {.res = res};
    pthread_mutex_init(&w.mtx, NULL);
    pthread_cond_init(&w.cv, NULL);
    rpc_code rc = rpc_call_async(c, method, req, timeout_ms, request_id, sync_done, &w);
    if (rc != RPC_OK) {
        res->code = rc;
        snprintf(res->message, sizeof(res->message), "%s",
                 rc == RPC_UNAVAILABLE          ? "service not reachable"
                 : rc == RPC_RESOURCE_EXHAUSTED ? "too many calls in flight"
                 : rc == RPC_CANCELLED          ? "client is closing"
                                                : "bad call");
    } else {
        pthread_mutex_lock(&w.mtx);
        while (!w.done) {
            pthread_cond_wait(&w.cv, &w.mtx);
        }
        pthread_mutex_unlock(&w.mtx);
    }
    pthread_mutex_destroy(&w.mtx);
    pthread_cond_destroy(&w.cv);
    return res->code;
}

int rpc_call_raw(rpc_client *c, const void *data, size_t len, uint32_t timeout_ms, void **reply, size_t *reply_len)
{
    nng_ctx ctx;
    nng_aio *aio = NULL;
    nng_msg *msg = NULL;
    int rv;
    *reply = NULL;
    *reply_len = 0;
    if ((rv = nng_aio_alloc(&aio, NULL, NULL)) != 0) {
        return rv;
    }
    if ((rv = nng_ctx_open(&ctx, c->sock)) != 0) {
        nng_aio_free(aio);
        return rv;
    }
    nng_ctx_set_ms(ctx, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
    if ((rv = nng_msg_alloc(&msg, len)) != 0) {
        goto out;
    }
    memcpy(nng_msg_body(msg), data, len);
    nng_aio_set_timeout(aio, (nng_duration)timeout_ms);
    nng_aio_set_msg(aio, msg);
    nng_ctx_send(ctx, aio);
    nng_aio_wait(aio);
    if ((rv = nng_aio_result(aio)) != 0) {
        nng_msg_free(nng_aio_get_msg(aio));
        goto out;
    }
    nng_ctx_recv(ctx, aio);
    nng_aio_wait(aio);
    if ((rv = nng_aio_result(aio)) != 0) {
        goto out;
    }
    msg = nng_aio_get_msg(aio);
    *reply_len = nng_msg_len(msg);
    *reply = malloc(*reply_len ? *reply_len : 1);
    if (*reply != NULL) {
        memcpy(*reply, nng_msg_body(msg), *reply_len);
    } else {
        rv = NNG_ENOMEM;
    }
    nng_msg_free(msg);
out:
    nng_ctx_close(ctx);
    nng_aio_free(aio);
    return rv;
}

/* --- close ----------------------------------------------------------------- */

void rpc_client_close(rpc_client *c)
{
    if (c == NULL) {
        return;
    }
    pthread_mutex_lock(&c->mtx);
    c->closing = 1;
    for (rpc_pending *q = c->active; q != NULL; q = q->next) {
        if (q->abort_code == RPC_OK) {
            q->abort_code = RPC_CANCELLED;
            nng_aio_abort(q->aio, NNG_ECANCELED);
        }
    }
    while (c->busy > 0) {
        pthread_cond_wait(&c->idle_cv, &c->mtx);
    }
    pthread_mutex_unlock(&c->mtx);
    nng_close(c->sock);
    for (unsigned i = 0; i < c->nall; i++) {
        nng_aio_free(c->all[i]->aio);
        free(c->all[i]);
    }
    free(c->all);
    rpc_auth_free(c->auth);
    pthread_mutex_destroy(&c->mtx);
    pthread_cond_destroy(&c->idle_cv);
    free(c);
}
