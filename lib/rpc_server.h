/* rpc_server.h: a generic RPC server over an nng REP socket, dispatching
 * protobuf-c services.
 *
 * A server owns a REP socket listening on one URL, a fixed pool of nng
 * contexts (the most requests it holds at once) and a fixed pool of worker
 * threads. Each context is a small state machine driven by its aio callback
 * (on nng's threads): receive, decode the envelope, hand the call to a
 * worker, send the reply, receive again. A malformed envelope, an unknown
 * method, a request whose deadline has passed, and anything arriving while
 * the server drains are answered (or dropped) there without a worker.
 *
 * Handlers are the functions of a protobuf-c generated service struct (fill
 * it with the generated FOO__INIT(prefix_) macro, so adding a method is
 * writing prefix_method). A handler runs on a worker thread, may block (on
 * Postgres, say: each worker owns what worker_init made for it), and ends by
 * calling its closure exactly once: closure(&reply, closure_data) for OK, or
 * rpc_fail(...) then closure(NULL, closure_data). The input message is freed
 * when the handler returns.
 *
 * Authentication (opts.secret) is checked in the aio callback too, before
 * the method is looked up: a refused request gets UNAUTHENTICATED with a
 * reason ("bad_mac", "replayed", ...), is logged at most once a minute per
 * peer address (RPC_AUTH_LOG_PEERS addresses tracked), and the connection
 * stays open for the caller's good requests.
 *
 * A handler that must wait for something else (a long poll) calls
 * rpc_defer() before returning and later calls the closure from any thread;
 * it must copy what it needs from the input before returning.
 */
#ifndef CHAT_RPC_SERVER_H
#define CHAT_RPC_SERVER_H

#include <protobuf-c/protobuf-c.h>
#include <stdint.h>

#include "rpc.h"

typedef struct rpc_server rpc_server;
typedef struct rpc_call rpc_call;

typedef struct rpc_server_opts {
    const char *url;             /* "tcp://127.0.0.1:7101" */
    const char *name;            /* "svc-session", for logs and Health */
    unsigned contexts;           /* requests held at once; 0 = 128 */
    unsigned workers;            /* worker threads; 0 = 4 */
    size_t max_msg;              /* largest request accepted and reply sent (a bigger reply is RESOURCE_EXHAUSTED); 0 =
                                    RPC_DEFAULT_MAX_MSG */
    uint32_t default_timeout_ms; /* for requests that carry none; 0 = RPC_DEFAULT_TIMEOUT_MS */
    /* Authentication (rpc_auth.h): with a secret, every request must carry
     * a valid MAC, a timestamp inside auth_window_ms (0 = 30 s) and an
     * unseen nonce (replay cache of replay_capacity entries, 0 =
     * RPC_REPLAY_DEFAULT), and every reply is MACed. NULL: requests must
     * carry no MAC (a signed request means the caller has a secret this
     * server lacks, and is refused). Copied at start. */
    const char *secret;
    uint32_t auth_window_ms;
    unsigned replay_capacity;
    /* Optional per-worker state (a database connection): made on the worker
     * thread before it takes calls; a non-zero return stops the start. */
    int (*worker_init)(void **worker_data, unsigned index, void *arg);
    void (*worker_fini)(void *worker_data, void *arg);
    /* Optional readiness check for Health: 1 ready, 0 not (detail says why). */
    int (*ready)(char *detail, size_t detail_len, void *arg);
    void *arg;
} rpc_server_opts;

/* Starts listening and serving `service` (which must outlive the server).
 * Returns 0, or -1 with a reason in err. */
int rpc_server_start(rpc_server **out, ProtobufCService *service, const rpc_server_opts *opts, char *err,
                     size_t errlen);

/* Stops taking new work (new requests are answered UNAVAILABLE) and waits up
 * to timeout_ms for the calls in flight to be answered. Returns the number
 * still in flight when it gave up (0 = fully drained). */
unsigned rpc_server_drain(rpc_server *s, int timeout_ms);

/* Joins the workers (a call a worker is handling is finished and its reply
 * sent: a stop is graceful for the work in hand; calls still queued are
 * dropped), stops every context, closes the socket, frees the
 * server. Deferred calls must have been answered (rpc_server_drain waits
 * for them): a closure called after this is a use after free. */
void rpc_server_stop(rpc_server *s);

/* Counters, for tests and metrics. */
typedef struct rpc_server_stats {
    uint64_t received;        /* envelopes received */
    uint64_t handled;         /* calls passed to a handler */
    uint64_t malformed;       /* bad envelope or bad body */
    uint64_t unknown;         /* unknown method */
    uint64_t expired;         /* dropped: deadline passed before a worker took it */
    uint64_t rejected;        /* answered UNAVAILABLE while draining */
    uint64_t unauthenticated; /* refused by the authentication check */
    unsigned in_flight;
} rpc_server_stats;
void rpc_server_get_stats(rpc_server *s, rpc_server_stats *out);

/* --- For handlers (call is the closure_data a handler receives) --------- */

/* Sets the status of the reply; the handler then calls closure(NULL, cd).
 * The message is for people and is truncated to RPC_STATUS_MESSAGE_MAX. */
void rpc_fail(void *closure_data, rpc_code code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* A machine-readable reason sent with an error ("rate_limited",
 * "budget_exhausted"; cut to RPC_REASON_MAX), for callers that must tell
 * apart causes sharing one code. */
void rpc_set_reason(void *closure_data, const char *reason);
/* A hint sent with UNAVAILABLE or RESOURCE_EXHAUSTED. */
void rpc_set_retry_after(void *closure_data, uint32_t ms);
/* The called method's name ("Begin"), valid for the process's life. */
const char *rpc_call_method_name(const void *closure_data);
/* The call's request id ("" if none). Valid until the closure is called. */
const char *rpc_call_request_id(const void *closure_data);
/* Milliseconds left before the caller gives up (<= 0: already expired). */
int64_t rpc_call_remaining_ms(const void *closure_data);
/* What worker_init made for the worker running the handler; NULL after
 * rpc_defer. */
void *rpc_call_worker_data(const void *closure_data);
/* The opts.arg of the server. */
void *rpc_call_server_arg(const void *closure_data);
/* The handler will call the closure later, from any thread. Call it on the
 * handler's thread before returning. */
void rpc_defer(void *closure_data);

/* Fills a Health reply for this server (name, version, uptime, readiness).
 * Strings point into the server; valid until the closure is called. */
struct Chat__Rpc__HealthReply;
void rpc_fill_health(const void *closure_data, struct Chat__Rpc__HealthReply *out);

/* Defines handler `name` of a generated service that answers UNIMPLEMENTED
 * (for methods declared in a .proto before the issue that builds them). */
#define RPC_UNIMPLEMENTED_HANDLER(name, service_type, input_type, closure_type)                                        \
    static void name(service_type *svc_, const input_type *in_, closure_type done_, void *cd_)                         \
    {                                                                                                                  \
        (void)svc_;                                                                                                    \
        (void)in_;                                                                                                     \
        rpc_fail(cd_, RPC_UNIMPLEMENTED, "%s is not available in this version", #name);                                \
        done_(NULL, cd_);                                                                                              \
    }

#endif
