/* admin.h: the operator's API, /admin/..., behind ADMIN_TOKEN (a bearer
 * token compared in constant time; the whole API answers 404 when the
 * token is unset):
 *   GET  /admin/handoffs                 ?status=&since=&until=&limit=&before_id=
 *   GET  /admin/handoffs/{id}            with the transcript
 *   POST /admin/handoffs/{id}            {"status": "contacted"}
 *   GET  /admin/sessions/{id}/export     every stored row of the session
 *   DELETE /admin/sessions/{id}          erase it (no visitor token needed)
 *   POST /admin/reindex                  an indexing run of INDEX_SOURCES
 *   GET  /admin/index                    the latest indexing run
 *   POST /admin/retention/run            a retention sweep now
 *   GET  /admin/usage?days=31            tokens and cost per day and model, caps
 * Each is one RPC (svc-session's Admin or Erase, svc-indexer's Index or
 * Status); the connection is suspended meanwhile. Owns: an admin_op from
 * its start until the request's release. HTTP thread, except the RPC
 * callback that resumes the connection. */
#ifndef GW_ADMIN_H
#define GW_ADMIN_H

#include <microhttpd.h>
#include <stddef.h>

#include "backends.h"
#include "request.h"

#define ADMIN_TOKEN_MIN 16
#define ADMIN_FAIL_COST 10 /* a wrong admin token counts as this many requests against RATE_ADMIN */

/* token may be NULL or "" (the API is then disabled). 0, or -1 with the
 * reason in err (too short). */
int admin_init(backends *b, const char *token, char *err, size_t errlen);

/* Whether the request may see operational detail (/readyz's per-service
 * state, /metrics): it carries the admin token, or ADMIN_TOKEN is unset and
 * the TCP peer is loopback (a developer's machine, a sidecar). Everything
 * else gets the public minimum. */
int admin_privileged(struct MHD_Connection *conn);

/* 1 when the request may use the admin API; else the 404 (API off), 429
 * (RATE_ADMIN spent) or 401 (wrong token, which costs ADMIN_FAIL_COST
 * requests: a brute-force guard) is queued in *ret. Digests are compared,
 * so neither the token's bytes nor its length show in the time taken. */
int admin_allowed(struct MHD_Connection *conn, gw_request *rq, enum MHD_Result *ret);

/* 1 when ADMIN_TOKEN is set. */
int admin_token_set(void);

/* Route handlers (routes.c's table): param is the {} segment. */
enum MHD_Result admin_handoffs(struct MHD_Connection *conn, gw_request *rq, const char *param);
enum MHD_Result admin_handoff(struct MHD_Connection *conn, gw_request *rq, const char *id);
enum MHD_Result admin_handoff_update(struct MHD_Connection *conn, gw_request *rq, const char *id);
enum MHD_Result admin_session_export(struct MHD_Connection *conn, gw_request *rq, const char *sid);
enum MHD_Result admin_session_erase(struct MHD_Connection *conn, gw_request *rq, const char *sid);
enum MHD_Result admin_reindex(struct MHD_Connection *conn, gw_request *rq, const char *param);
enum MHD_Result admin_index_status(struct MHD_Connection *conn, gw_request *rq, const char *param);
enum MHD_Result admin_usage(struct MHD_Connection *conn, gw_request *rq, const char *param);
enum MHD_Result admin_retention(struct MHD_Connection *conn, gw_request *rq, const char *param);

#endif
