/* sess_handoff.h: a hand-off to sales as a stored record — what kind of
 * request it is, what the visitor is promised (from the business hours),
 * and the row with its notifications (outbox) written in the caller's
 * transaction.
 *
 * One chat hand-off per session and kind of reason: a retried turn, or a
 * later turn asking again for the same thing, updates the row (the lead
 * fields may have grown) instead of adding one, and notifies only once.
 * No state of its own; the functions run on the caller's connection. */
#ifndef SESS_HANDOFF_H
#define SESS_HANDOFF_H

#include <libpq-fe.h>
#include <stdint.h>
#include <time.h>

#include "sess_hours.h"
#include "sess_store.h"

#define HANDOFF_PROMISE_MAX 256
#define HANDOFF_REASON_MAX 1024
#define HANDOFF_WHEN_MAX 96

/* Settings shared by every hand-off (made at start, read-only). */
typedef struct sess_handoff_conf {
    int64_t response_ms;     /* promised reply time when open (HANDOFF_RESPONSE_TIME) */
    int webhook, email;      /* which notification channels are configured */
    const sess_hours *hours; /* business hours */
    int retention_days;
} sess_handoff_conf;

/* A chat hand-off asked for in a turn (reason from the model's tool or the
 * offline rules; urgency "", "low", "normal" or "high"). */
typedef struct sess_handoff_req {
    const char *reason;
    const char *urgency;
    const char *message; /* the visitor's message of the turn, for the kind */
} sess_handoff_req;

typedef struct sess_handoff_out {
    int64_t id;  /* 0 when no hand-off was recorded */
    int created; /* 1 for a new row (notifications queued), 0 for an update */
    char promise[HANDOFF_PROMISE_MAX];
} sess_handoff_out;

/* The kind of a hand-off, from English and German keywords in its reason
 * and the visitor's message (either may be NULL; the first
 * HANDOFF_REASON_MAX bytes of each count): "demo", "pricing", "support",
 * "person" or "other". */
const char *sess_handoff_kind(const char *reason, const char *message);

/* What the visitor is told at `now`, in their language (lang "de..." is
 * German, else English): open, "A colleague will reply within 15
 * minutes."; closed, "We are closed now; we will reply on Monday from 09:00
 * (Europe/Berlin)."; *open is set to whether the hours are open. */
void sess_handoff_promise(const sess_handoff_conf *c, time_t now, const char *lang, char *out, size_t outlen,
                          int *open);

/* Records (or updates) the chat hand-off of session sid from its stored
 * lead (sessions.lead, as the caller's transaction left it) and queues its
 * notifications when the row is new. Runs inside the caller's transaction.
 * RPC_OK with *out, or an error with *e (sess_pg_fail). */
rpc_code sess_handoff_record_chat(PGconn *pg, const sess_handoff_conf *c, const char *sid, const char *turn_id,
                                  const sess_handoff_req *rq, sess_handoff_out *out, sess_err *e);

/* The hand-off a committed turn recorded, for a retried Commit: *out->id 0
 * when it recorded none. */
rpc_code sess_handoff_of_turn(PGconn *pg, const char *sid, const char *turn_id, sess_handoff_out *out, sess_err *e);

/* The outbox channels for a new record, as a Postgres array literal
 * ("{webhook,email}", "{}"). */
const char *sess_handoff_channels(const sess_handoff_conf *c);

#endif
