/* throttle.c: see throttle.h. */
#include "throttle.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

#include "auth.h"
#include "clock.h"
#include "encode.h"
#include "log.h"
#include "respond.h"

static ratelimit *throttle_table;

static const char *const throttle_vars[RL_CLASSES] = {"RATE_SESSIONS", "RATE_CHAT", "RATE_LEADS", "RATE_ADMIN"};
static const char *const throttle_names[RL_CLASSES] = {"sessions", "chat", "leads", "admin"};

int throttle_init(const cfg *c, char *err, size_t errlen)
{
    rl_rate rates[RL_CLASSES];
    for (int i = 0; i < RL_CLASSES; i++) {
        char why[160];
        if (rl_rate_parse(cfg_str(c, throttle_vars[i]), &rates[i], why, sizeof(why)) != 0) {
            snprintf(err, errlen, "%s: %s", throttle_vars[i], why);
            return -1;
        }
    }
    uint64_t seed = 0;
    if (enc_random(&seed, sizeof(seed)) != 0) {
        snprintf(err, errlen, "RATE_TABLE_SIZE: the kernel gives no randomness to seed the table");
        return -1;
    }
    throttle_table =
        rl_new((size_t)cfg_int(c, "RATE_TABLE_SIZE"), (unsigned)cfg_int(c, "RATE_IPV6_PREFIX"), rates, seed);
    if (throttle_table == NULL) {
        snprintf(err, errlen, "RATE_TABLE_SIZE: cannot allocate %lld entries of %zu bytes",
                 cfg_int(c, "RATE_TABLE_SIZE"), rl_entry_size());
        return -1;
    }
    return 0;
}

void throttle_free(void)
{
    rl_free(throttle_table);
    throttle_table = NULL;
}

size_t throttle_table_bytes(void)
{
    return throttle_table ? rl_table_bytes(throttle_table) : 0;
}

void throttle_message(rl_class cls, uint32_t retry_s, char out[THROTTLE_MESSAGE_MAX])
{
    char wait[48];
    if (retry_s < 60) {
        snprintf(wait, sizeof(wait), "%u second%s", retry_s, retry_s == 1 ? "" : "s");
    } else {
        uint32_t m = (retry_s + 59) / 60;
        snprintf(wait, sizeof(wait), "%u minute%s", m, m == 1 ? "" : "s");
    }
    switch (cls) {
    case RL_SESSIONS:
        snprintf(out, THROTTLE_MESSAGE_MAX,
                 "Too many new conversations were started from your network. Please try again in %s, or leave us "
                 "a message.",
                 wait);
        break;
    case RL_CHAT:
        snprintf(out, THROTTLE_MESSAGE_MAX,
                 "You are sending messages faster than the chat can answer. Please try again in %s, or leave us a "
                 "message.",
                 wait);
        break;
    case RL_ADMIN:
        snprintf(out, THROTTLE_MESSAGE_MAX,
                 "Too many admin API requests (or wrong tokens) came from your network. Please try again in %s.", wait);
        break;
    default:
        snprintf(out, THROTTLE_MESSAGE_MAX, "Too many messages were sent from your network. Please try again in %s.",
                 wait);
        break;
    }
}

void throttle_charge(rl_class cls, const ip_addr *client, unsigned n)
{
    rl_charge(throttle_table, cls, client, n, clock_mono_us());
}

int throttle_refuse(struct MHD_Connection *conn, rl_class cls, const ip_addr *client, const char *origin,
                    metric_route mr, enum MHD_Result *ret)
{
    uint32_t retry = rl_take(throttle_table, cls, client, clock_mono_us());
    if (retry == 0) {
        return 0;
    }
    char msg[THROTTLE_MESSAGE_MAX], iph[AUTH_IP_HASH_LEN + 1], ra[16];
    throttle_message(cls, retry, msg);
    auth_client_hash(client, iph);
    snprintf(ra, sizeof(ra), "%u", retry);
    log_fields(LOG_DEBUG, "rate limited", "limit", throttle_names[cls], "ip_hash", iph, "retry_after_s", ra, NULL);
    metrics_request(mr, 429);
    json_t *j = json_pack("{s:{s:s, s:s}}", "error", "code", "rate_limited", "message", msg);
    char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    *ret = gw_send_json_full(conn, MHD_HTTP_TOO_MANY_REQUESTS, text ? text : "{\"error\":{\"code\":\"rate_limited\"}}",
                             origin, retry);
    free(text);
    return 1;
}
