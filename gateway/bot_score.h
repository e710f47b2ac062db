/* bot_score.h: a bot score set by the proxy in front of the gateway
 * (Cloudflare's bot management gives a Worker cf.botManagement.score, 1 =
 * surely a bot .. 99 = surely a person; the Worker passes it on in a
 * header). With BOT_SCORE_HEADER set, POST /v1/sessions and POST /v1/chat
 * from a trusted peer (client_ip.h's trusted ranges) whose score is below
 * BOT_SCORE_MIN get 403 bot_suspected; from any other peer the header is
 * ignored, since anyone could set it.
 *
 * Owns: the configuration, read-only after bot_score_init. Any thread. */
#ifndef GW_BOT_SCORE_H
#define GW_BOT_SCORE_H

#include <microhttpd.h>
#include <stddef.h>

#include "config.h"
#include "metrics.h"

#define BOT_SCORE_HEADER_MAX 64 /* longest header name accepted */

/* Reads BOT_SCORE_HEADER and BOT_SCORE_MIN. -1 with err naming the
 * variable (a header name that is not a token). */
int bot_score_init(const cfg *c, char *err, size_t errlen);

/* The score in s: 1..99 in decimal digits (surrounding spaces allowed),
 * else -1. */
int bot_score_parse(const char *s);

/* 0 when conn may go on; else 1 with 403 bot_suspected queued and its
 * result in *ret. */
int bot_score_refuse(struct MHD_Connection *conn, const char *origin, metric_route mr, enum MHD_Result *ret);

#endif
