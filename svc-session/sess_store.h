/* sess_store.h: svc-session's reads and writes in Postgres.
 *
 * Every function takes the calling worker's connection (one thread at a
 * time) and returns an rpc_code with a message for people in *e. A lost
 * connection is RPC_UNAVAILABLE with e->conn_lost set: the caller may
 * reconnect and call again, because every operation here is idempotent
 * (Begin and Commit by their turn id) or harmless to repeat.
 *
 * Concurrency: the sessions row is the lock of a conversation. Begin takes
 * the turn lock with one conditional UPDATE; Commit locks the row (FOR
 * UPDATE) before reading the latest checkpoint, so two Commits of one
 * session, from any replicas, run one after the other and the second sees
 * the first's checkpoint (and fails its parent check). Erase and retention
 * lock the row before deleting, so a Commit cannot leave rows behind. */
#ifndef SESS_STORE_H
#define SESS_STORE_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stdint.h>

#include "rpc.h"
#include "sess_arena.h"
#include "sess_uuid6.h"
#include "session.pb-c.h"

typedef struct sess_err {
    char msg[RPC_STATUS_MESSAGE_MAX];
    const char *reason; /* NULL or SESS_REASON_* */
    uint32_t retry_after_ms;
    int conn_lost;
} sess_err;

typedef struct sess_limits {
    int retention_days;
    int64_t lock_ttl_ms;
    int64_t max_turns;            /* turns of one session, ever */
    int64_t turns_per_minute;     /* turns of one session within a minute */
    int64_t session_tokens;       /* tokens of one session, ever */
    int64_t session_daily_tokens; /* tokens of one session per UTC day */
    int64_t global_daily_tokens;  /* tokens of all sessions per UTC day */
    int64_t daily_cost_micros;    /* cost of all sessions per UTC day */
    int64_t monthly_cost_micros;  /* cost of all sessions per UTC month */
} sess_limits;

/* Why Begin refused a turn, as rpc reasons (rpc_set_reason). */
#define SESS_LOAD_BYTES_MAX (3u << 20)        /* a Load reply's messages at most: under the 4 MB RPC cap */
#define SESS_LOAD_ROW_OVERHEAD 64             /* a message's framing beyond its column bytes, for that count */
#define SESS_REASON_RATE "rate_limited"       /* turns per minute: wait a little */
#define SESS_REASON_BUDGET "budget_exhausted" /* a turn, token or cost budget is used up */

/* Milliseconds from now_ms (Unix) to the next UTC midnight, rounded up to
 * whole seconds: when daily budgets start again. */
uint32_t sess_store_ms_to_midnight(int64_t now_ms);

rpc_code sess_store_create(PGconn *pg, const char *sid, const Chat__Session__CreateRequest *in, int retention_days,
                           int64_t *created_ms, int64_t *expires_ms, sess_err *e);

typedef struct sess_begin_out {
    int64_t turns;
    int64_t session_tokens;
    int64_t global_tokens;
    char checkpoint_id[SESS_UUID_LEN + 1]; /* "" for a new thread */
    char *messages;                        /* the messages blob (malloc'd) or NULL */
    size_t messages_len;
    char *lead; /* the lead blob (malloc'd) or NULL */
} sess_begin_out;

/* Takes the turn lock (or finds it already held by turn_id), checks the
 * turn cap and budgets, then reads the latest checkpoint with its blobs.
 * Refusals take no lock. Free out with sess_begin_out_free. */
rpc_code sess_store_begin(PGconn *pg, const char *sid, const char *turn_id, const sess_limits *lim, sess_begin_out *out,
                          sess_err *e);
/* RESOURCE_EXHAUSTED refusals of Begin carry e->reason (SESS_REASON_*). */
void sess_begin_out_free(sess_begin_out *out);

struct sess_handoff_conf;
struct sess_handoff_req;
struct sess_handoff_out;

/* Sets e->msg (printf-style). */
void sess_setmsg(sess_err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Maps a failed query to a code with a message for people in *e.
 * Connection trouble, shutdowns, resource shortage and timeouts are
 * UNAVAILABLE (retryable); serialization failures and deadlocks ABORTED;
 * anything else INTERNAL, logged with the server's message. */
rpc_code sess_pg_fail(PGconn *pg, const PGresult *r, const char *what, sess_err *e);

typedef struct sess_commit_in {
    const char *sid;
    const char *turn_id;
    const char *parent_id;     /* "" for the first checkpoint */
    const char *rows_json;     /* the messages table rows, a JSON array */
    const json_t *lc_messages; /* the same messages, LangChain-serialized */
    const char *lead_json;     /* the lead channel value */
    int lead_changed;
    const Chat__Common__Usage *usage; /* may be NULL */
    int64_t cost_micros;              /* what usage cost (MODEL_PRICES) */
    /* A hand-off asked for in this turn (NULL: none): recorded in the same
     * transaction into *handoff_out; a retried Commit answers the one it
     * recorded. */
    const struct sess_handoff_conf *handoff_conf;
    const struct sess_handoff_req *handoff;
    struct sess_handoff_out *handoff_out; /* never NULL */
} sess_commit_in;

/* One transaction: lock check, parent check, messages, checkpoint and
 * blobs, usage, session update, the hand-off. A retried Commit of a turn already
 * committed answers that turn's checkpoint id. */
rpc_code sess_store_commit(PGconn *pg, const sess_commit_in *in, char out_id[SESS_UUID_LEN + 1], sess_err *e);

/* Clears the lock if turn_id holds it; *released 1 when it did. */
rpc_code sess_store_release(PGconn *pg, const char *sid, const char *turn_id, int *released, sess_err *e);

/* The transcript (the last `limit` messages with an id below before_id, or
 * the newest when 0; oldest first), the lead and the session's times, built
 * in the arena. Messages stop before their stored size would pass
 * max_bytes (the newest one is always given); out->more and
 * out->next_before_id say whether older ones remain. */
rpc_code sess_store_load(PGconn *pg, const char *sid, unsigned limit, int64_t before_id, size_t max_bytes,
                         sess_arena *a, Chat__Session__LoadReply *out, sess_err *e);

typedef struct sess_erase_counts {
    int64_t messages, checkpoints, blobs, writes, handoffs, outbox, usage_unlinked;
} sess_erase_counts;

/* Deletes everything of a session in one transaction (usage rows stay,
 * unlinked, for the budgets) and writes an erasure_audit row with the
 * counts and cause ("request" or "admin"), no identifier. NOT_FOUND when
 * there is no such session. */
rpc_code sess_store_erase(PGconn *pg, const char *sid, const char *cause, sess_erase_counts *n, sess_err *e);

typedef struct sess_sweep_counts {
    int64_t sessions, checkpoints, handoffs;
} sess_sweep_counts;

/* Retention: deletes expired sessions (with their checkpoints, blobs,
 * writes, handoffs; messages and the outbox by cascade) in batches, each
 * batch with an erasure_audit row, and expired handoff records. Returns RPC_OK or an error with *e. */
rpc_code sess_store_sweep(PGconn *pg, sess_sweep_counts *n, sess_err *e);

#endif
