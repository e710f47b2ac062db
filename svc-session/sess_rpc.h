/* sess_rpc.h: the handlers of chat.session.Session and the service state
 * they share.
 *
 * Handlers run on the RPC server's worker threads. Each validates its
 * input (sizes, UTF-8, id formats, token), does its work through
 * sess_store with the worker's own db_conn (rpc_call_worker_data), and
 * answers once. sess_state is made by main before serving and only read
 * afterwards, so handlers share it without locks. */
#ifndef SESS_RPC_H
#define SESS_RPC_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "sess_handoff.h"
#include "sess_hours.h"
#include "sess_outbox.h"
#include "sess_price.h"
#include "sess_retention.h"
#include "sess_store.h"
#include "session.pb-c.h"

/* Input caps (bytes). */
#define SESS_MAX_FIELD 256 /* ids, hashes, origin, locale, user agent, token, provider, model */
#define SESS_MAX_TURN_ID 64
#define SESS_MAX_USER_MESSAGE 16384
#define SESS_MAX_ANSWER 65536
#define SESS_MAX_STOP_REASON 64
#define SESS_MAX_COMMIT_MESSAGES 8
#define SESS_MAX_SOURCES 32
#define SESS_MAX_SOURCE_TITLE 1024
#define SESS_MAX_SOURCE_URL 2048
#define SESS_MAX_SOURCE_TEXT 16384
#define SESS_MAX_LEAD_FIELD 1024
#define SESS_MAX_LEAD_NEED 4096
#define SESS_MAX_LEAD_EXTRA 8192
#define SESS_MAX_HISTORY 1000 /* history_limit and Load's limit are capped here */

typedef struct sess_state {
    uint8_t secret[CFG_VALUE_MAX];
    size_t secret_len;
    uint8_t previous[CFG_VALUE_MAX]; /* SESSION_SECRET_PREVIOUS: verifies, never signs */
    size_t previous_len;             /* 0 = no rotation in progress */
    sess_limits lim;
    unsigned history_limit;
    int64_t retention_interval_ms;
    sess_retention *retention;
    sess_hours hours;
    sess_handoff_conf handoff; /* .hours points at hours above */
    sess_outbox *outbox;       /* NULL when no channel is configured */
    sess_prices prices;        /* MODEL_PRICES */
    char currency[8];          /* COST_CURRENCY */
} sess_state;

typedef Chat__Session__Session_Service sess_svc;

/* A store operation on a worker's connection. */
typedef rpc_code (*sess_op)(PGconn *pg, void *arg, sess_err *e);

/* Runs op on the calling worker's connection; when the connection was lost
 * during it, reconnects and runs it once more (every operation is
 * idempotent). */
rpc_code sess_with_db(void *cd, sess_op op, void *arg, sess_err *e);
/* Fails the call with e's message (and retry-after). */
void sess_fail(void *cd, rpc_code code, const sess_err *e);

void sess_rpc_create(sess_svc *svc, const Chat__Session__CreateRequest *in, Chat__Session__CreateReply_Closure done,
                     void *cd);
void sess_rpc_begin(sess_svc *svc, const Chat__Session__BeginRequest *in, Chat__Session__BeginReply_Closure done,
                    void *cd);
void sess_rpc_commit(sess_svc *svc, const Chat__Session__CommitRequest *in, Chat__Session__CommitReply_Closure done,
                     void *cd);
void sess_rpc_release(sess_svc *svc, const Chat__Session__ReleaseRequest *in, Chat__Session__ReleaseReply_Closure done,
                      void *cd);
void sess_rpc_load(sess_svc *svc, const Chat__Session__LoadRequest *in, Chat__Session__LoadReply_Closure done,
                   void *cd);
void sess_rpc_erase(sess_svc *svc, const Chat__Session__EraseRequest *in, Chat__Session__EraseReply_Closure done,
                    void *cd);

#endif
