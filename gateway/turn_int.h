/* turn_int.h: what the files of a turn share (gateway only; the interface
 * is turn.h): the turn itself. turn.c runs the steps, turn_registry.c keeps
 * every turn by id and frees them, turn_log.c is the event log.
 *
 * Owns: a turn owns its message, log, answer, lead strings and extra, and the Begin
 * and Search replies; it is freed when its last reference goes
 * (turn_unref). t->mtx guards everything mutable. */
#ifndef GW_TURN_INT_H
#define GW_TURN_INT_H

#include <jansson.h>

#include "metrics.h"
#include "retrieval.pb-c.h"
#include "session.pb-c.h"
#include "turn.h"

#define TURN_HANDOFF_REASON_MAX 1024 /* bytes, as svc-session accepts */

typedef enum { ST_BEGIN, ST_SEARCH, ST_GENERATE, ST_POLL, ST_COMMIT, ST_FINISHED } turn_step;

struct turn {
    char id[TURN_ID_MAX];
    char session_id[AUTH_SESSION_ID_LEN + 1];
    char token[AUTH_TOKEN_LEN + 1];
    char ip_hash[AUTH_IP_HASH_LEN + 1];
    char *message;
    pthread_mutex_t mtx;
    int refs;
    turn *next_bucket;
    int registered;
    /* under the registry's lock: the list of running turns, or once
     * retired the list of finished ones (oldest first), and the bytes a
     * retired turn holds */
    turn *list_prev, *list_next;
    int retired;
    size_t retained_bytes;

    /* the HTTP request waiting for Begin */
    struct MHD_Connection *pending;
    turn_phase phase;
    unsigned refused_status;
    char refused_code[32];
    char refused_message[RPC_STATUS_MESSAGE_MAX + 1];
    uint32_t refused_retry_s;

    /* the event log */
    char *log;
    size_t log_len, log_cap;
    size_t *ends; /* ends[i] = offset after event i+1 */
    size_t nevents, ends_cap;
    int finished;
    int64_t finished_at_ms;
    turn_reader *readers;
    unsigned nreaders;
    int64_t detached_at_ms;

    /* the conversation */
    turn_step step;
    Chat__Session__BeginReply *begin;
    Chat__Retrieval__SearchReply *search;
    int search_failed; /* Search answered with an error: sources are "degraded" */
    int joins;         /* of Begin and Search, how many have not answered */
    char stream_id[128];
    uint32_t after_seq;
    char *answer;
    size_t answer_len;
    int cancel_requested, cancel_sent;
    int partial;
    char stop_reason[32];
    char provider[32];
    Chat__Common__Usage usage;
    char usage_model[64];
    Chat__Common__LeadState lead;
    int lead_changed;
    char *lead_strings[12];
    int consent_set;       /* a record_lead call said yes or no */
    int phone_raw;         /* this turn's phone: 0 none, 1 normalised, 2 kept as given (not E.164) */
    char *lead_extra;      /* the lead's extra_json as committed (score, phone_raw, company_source) */
    int handoff_requested; /* a request_handoff tool call in this turn */
    char handoff_reason[TURN_HANDOFF_REASON_MAX];
    char handoff_urgency[8];
    int64_t start_us, first_token_us;
};

/* Settings shared by every turn (turns_init; read-only afterwards). */
extern turn_cfg turn_conf;

/* --- turn_registry.c ------------------------------------------------------ */

/* 1 when max_turns turns are running already (finished ones do not count:
 * their memory is bounded by retain_bytes instead). */
int turn_registry_full(void);
/* Adds t to the registry (which takes one of t's references). */
void turn_register(turn *t);
/* After turn_finish: keeps only what a resume reads (the event log, trimmed
 * to size), moves t to the finished list and drops the oldest finished turns
 * while they hold more than retain_bytes. A turn whose Begin was refused
 * (answered 409/429/... without a stream) leaves the registry at once.
 * Idempotent. */
void turn_retire(turn *t);

/* --- turn_log.c ----------------------------------------------------------- */

turn_reader **turn_unpark_all_locked(turn *t, size_t *n);
void turn_wake_all(turn_reader **wake, size_t n);
void turn_emit(turn *t, const char *event, json_t *data);
void turn_finish(turn *t, metric_turn_outcome outcome);

/* --- turn.c --------------------------------------------------------------- */

void turn_send_cancel(turn *t);

#endif
