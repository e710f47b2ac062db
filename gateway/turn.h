/* turn.h: one chat turn and its event stream.
 *
 * A turn runs the steps of docs/architecture.md "One chat turn" with async RPC:
 * session.Begin -> retrieval.Search -> llm.Generate -> llm.Poll ... ->
 * session.Commit, each step started from the previous step's callback (on
 * nng's threads; the HTTP thread never waits). Every event the visitor
 * should see is appended to the turn's log (SSE text with ids 1, 2, ...);
 * HTTP readers (sse.c) copy from the log and park when they have read it
 * all, so a reconnecting visitor (Last-Event-ID) resumes the same turn
 * without losing or repeating text.
 *
 * Ownership: a turn is reference counted. The registry holds one reference
 * until the turn has been finished for TURN_RETAIN (or sooner, oldest first,
 * when finished turns hold more than TURN_RETAIN_BYTES), every RPC in flight
 * one, every attached reader one. A finished turn keeps only its event log.
 * t->mtx guards everything mutable. */
#ifndef GW_TURN_H
#define GW_TURN_H

#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "auth.h"
#include "backends.h"
#include "lead_score.h"

#define TURN_ID_MAX 32
#define TURN_LOG_MAX (1u << 20)      /* bytes of events per turn */
#define TURN_MESSAGE_MAX_CHARS 4000  /* visitor message, in characters */
#define TURN_ANSWER_MAX (256u << 10) /* bytes of answer text kept */

typedef struct turn turn;

/* What a turn's event log knows of one reader (sse.c embeds it in its own
 * reader): whether it is parked waiting for an event, whether a heartbeat
 * is due, and how to park and wake it. The log depends on this, not on sse.c, so the
 * dependency runs one way: sse.c reads turns. parked, ping_due and
 * next_in_turn are guarded by the turn's lock. */
typedef struct turn_reader turn_reader;
struct turn_reader {
    int parked;                    /* suspended, waiting for an event */
    int ping_due;                  /* write ": ping" next */
    _Atomic int64_t last_write_ms; /* written by the HTTP thread, read by the heartbeat thread */
    turn_reader *next_in_turn;
    /* Suspends the reader's connection: called by turn_read under the turn
     * lock (so no event can slip between "nothing to read" and parking), on
     * the HTTP thread. */
    void (*park)(turn_reader *r);
    void (*wake)(turn_reader *r); /* resumes the reader's connection; any thread */
};

/* Settings shared by every turn (read-only after start). */
typedef struct turn_cfg {
    backends *b;
    unsigned search_k;
    uint32_t begin_timeout_ms, search_timeout_ms, generate_timeout_ms, commit_timeout_ms;
    uint32_t poll_wait_ms;
    int64_t retain_ms;           /* finished turns kept for resume */
    size_t retain_bytes;         /* ... while together they hold at most this */
    int64_t disconnect_grace_ms; /* no reader this long: cancel the generation */
    unsigned max_turns;          /* running at once */
    const char *locale;
    lead_weights weights; /* LEAD_SCORE_WEIGHTS */
    int handoff_score;    /* HANDOFF_SCORE: a lead this qualified is handed off at Commit */
} turn_cfg;

typedef enum {
    TURN_BEGIN_PENDING = 0, /* waiting for session.Begin */
    TURN_BEGIN_REFUSED,     /* Begin answered with an HTTP-level error */
    TURN_STREAMING,         /* events flow; the HTTP answer is an SSE stream */
} turn_phase;

int turns_init(const turn_cfg *settings);
void turns_shutdown(void);

/* Creates and registers a turn and starts session.Begin. `conn` is the
 * suspended HTTP connection resumed when Begin answers. Returns the turn
 * (one reference for the caller) or NULL with *http_status/err set. */
turn *turn_start(struct MHD_Connection *conn, const char *session_id, const char *token, const char *message,
                 const char *ip_hash, unsigned *http_status, char *err, size_t errlen);

/* For the HTTP thread after the connection resumed: the phase, and when
 * refused, the HTTP status, error code and message. */
turn_phase turn_begin_result(turn *t, unsigned *status, const char **code, const char **message,
                             uint32_t *retry_after_s);

/* Looks up a turn for resume (a new reference) if it belongs to session_id. */
turn *turn_find(const char *turn_id, const char *session_id);

void turn_ref(turn *t);
void turn_unref(turn *t);
const char *turn_id(const turn *t);

/* Byte offset in the log after event `last_id` (0 = from the start). */
size_t turn_offset_after(turn *t, unsigned long last_id);

/* --- for sse.c (called with no turn lock held) ---------------------------- */

/* Copies log bytes from *off into buf; see sse.c for the protocol.
 * Returns bytes copied, 0 when the reader must park (it is then registered
 * as parked), or -1 at the end of the stream. */
ssize_t turn_read(turn *t, turn_reader *r, size_t *off, char *buf, size_t max, int *ping_due, int *parked);
void turn_attach(turn *t, turn_reader *r);
void turn_detach(turn *t, turn_reader *r);
/* Under the turn lock: if reader r is parked and due for a heartbeat, unpark
 * it (the caller resumes it) and return 1. */
int turn_heartbeat(turn *t, turn_reader *r, int64_t now_ms, int64_t every_ms);

/* Periodic housekeeping (heartbeat thread): drops expired finished turns,
 * cancels running turns without readers past the grace. */
void turns_sweep(int64_t now_ms);
size_t turns_count(void);
/* Finished turns kept for resume, and the bytes they hold. */
void turns_retained(size_t *count, size_t *bytes);
/* Shutdown: ends every stream (readers finish what the log has). */
void turns_finish_all(void);

/* Connections suspended while an RPC runs (Begin, session calls, readyz):
 * counted so a stop can wait for them to resume. */
void gw_suspended_add(int delta);
long gw_suspended_count(void);

#endif
