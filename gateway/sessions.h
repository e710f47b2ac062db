/* sessions.h: the session endpoints, each one async RPC to svc-session:
 *   POST /v1/sessions                -> Create
 *   GET /v1/sessions/{id}/messages   -> Load (?limit=&before=, paged)
 *   DELETE /v1/sessions/{id}         -> Erase
 *   POST /v1/leads                   -> SubmitLead (the contact form)
 * The HTTP connection is suspended while the call runs; the callback (nng
 * thread) stores the answer and resumes it; sessions_respond (HTTP thread)
 * sends it. Owns: a session_op and the answer it holds, from sessions_start
 * until sessions_free (the request's release). */
#ifndef GW_SESSIONS_H
#define GW_SESSIONS_H

#include <microhttpd.h>
#include <stdint.h>

#include "backends.h"

typedef struct session_op session_op;
typedef enum { SOP_CREATE, SOP_LOAD, SOP_ERASE, SOP_LEAD } session_op_kind;

void sessions_init(backends *b);

/* Starts the call and suspends conn. sid/token may be NULL for CREATE. */
session_op *sessions_start(struct MHD_Connection *conn, session_op_kind kind, const char *sid, const char *token,
                           const char *ip_hash, const char *origin, const char *locale);
#define SESSIONS_PAGE_MAX 1000 /* ?limit= of the messages route at most (svc-session's SESS_MAX_HISTORY) */
/* Starts Load of one page: the newest `limit` messages (0 = up to
 * SESSIONS_PAGE_MAX) with an id below before_id (0 = the newest). */
session_op *sessions_start_load(struct MHD_Connection *conn, const char *sid, const char *token, unsigned limit,
                                int64_t before_id);
#define SESSIONS_HONEYPOT_FIELD "website" /* the contact form's hidden field */

/* POST /v1/leads with its JSON body (validated here first: bad input gets
 * 400 without a call). Answers directly on error; else starts the call.
 * When the honeypot field is filled, the call still runs (the same checks,
 * the same answer) but svc-session stores nothing, and "honeypot" is
 * logged. */
enum MHD_Result sessions_lead(struct MHD_Connection *conn, const char *body, size_t len, const char *sid,
                              const char *ip_hash, const char *origin, session_op **out);
enum MHD_Result sessions_respond(session_op *op, struct MHD_Connection *conn, const char *cors_origin);
void sessions_free(session_op *op);

#endif
