/* sess_admin.h: the Admin RPC, the operator's view of hand-offs and
 * sessions (the gateway serves it as /admin/..., behind ADMIN_TOKEN; the
 * caller is trusted to have checked it).
 *
 * Every answer is one JSON document built by Postgres (json_build_object),
 * so what the operator sees is exactly what is stored. Answers are bounded:
 * lists are paged (keyset on id, at most ADMIN_PAGE_MAX rows), a
 * transcript is at most ADMIN_TRANSCRIPT_MAX messages, and an export larger
 * than ADMIN_REPLY_MAX fails with RESOURCE_EXHAUSTED instead of breaking
 * the RPC cap. Runs on an RPC worker with its db_conn. */
#ifndef SESS_ADMIN_H
#define SESS_ADMIN_H

#include "sess_rpc.h"

#define ADMIN_PAGE_DEFAULT 50
#define ADMIN_PAGE_MAX 200
#define ADMIN_TRANSCRIPT_MAX 1000
#define ADMIN_REPLY_MAX (3u << 20) /* under the 4 MB RPC message cap */

void sess_rpc_admin(sess_svc *svc, const Chat__Session__AdminRequest *in, Chat__Session__AdminReply_Closure done,
                    void *cd);

#endif
