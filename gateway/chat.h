/* chat.h: POST /v1/chat (start a turn, answer with its SSE stream) and
 * GET /v1/chat/{turn_id}/events (resume one). Runs on the HTTP thread.
 * Every check that can fail without a service is done here first, so bad
 * input never reaches one. */
#ifndef GW_CHAT_H
#define GW_CHAT_H

#include <microhttpd.h>

#include "request.h"

/* The body is complete: validate, start the turn (suspends conn). */
enum MHD_Result chat_post(struct MHD_Connection *conn, gw_request *rq);
/* After Begin answered (the connection resumed): the SSE stream or the
 * refusal. */
enum MHD_Result chat_after_begin(struct MHD_Connection *conn, gw_request *rq);
enum MHD_Result chat_resume(struct MHD_Connection *conn, gw_request *rq, const char *turn_id);

#endif
