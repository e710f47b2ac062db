/* throttle.h: the per-IP limits on the gateway's costly routes (POST
 * /v1/sessions, POST /v1/chat, POST /v1/leads, /admin): the one rate-limit table,
 * configured from RATE_* variables, and the 429 answer. A route asks before
 * anything else it does, so a refused request makes no RPC and leaves
 * nothing behind.
 *
 * Owns: the table, from throttle_init to throttle_free. Thread-safe (the table's
 * own mutex). */
#ifndef GW_THROTTLE_H
#define GW_THROTTLE_H

#include <microhttpd.h>
#include <stddef.h>

#include "client_ip.h"
#include "config.h"
#include "metrics.h"
#include "ratelimit.h"

#define THROTTLE_MESSAGE_MAX 256 /* the 429's sentence */

/* Reads RATE_SESSIONS, RATE_CHAT, RATE_LEADS, RATE_ADMIN, RATE_TABLE_SIZE and
 * RATE_IPV6_PREFIX. -1 with err naming the variable. */
int throttle_init(const cfg *c, char *err, size_t errlen);
void throttle_free(void);
/* The table's memory in bytes (0 before throttle_init). */
size_t throttle_table_bytes(void);

/* 0 when client may go on; else 1 with a 429 rate_limited (Retry-After,
 * the JSON error) queued and its result in *ret. */
int throttle_refuse(struct MHD_Connection *conn, rl_class cls, const ip_addr *client, const char *origin,
                    metric_route mr, enum MHD_Result *ret);

/* A penalty of n requests for client in class cls (rl_charge). */
void throttle_charge(rl_class cls, const ip_addr *client, unsigned n);

/* The visitor's sentence for a refusal of cls lasting retry_s seconds. */
void throttle_message(rl_class cls, uint32_t retry_s, char out[THROTTLE_MESSAGE_MAX]);

#endif
