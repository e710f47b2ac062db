/* ratelimit.h: per-client token buckets in a fixed-size table.
 *
 * Each client key (an IPv4 address, or an IPv6 address cut to its first
 * `ipv6_prefix` bits, /64 by default) has one bucket per class (session
 * creation, chat turns, the contact form, the admin API). A bucket holds up to `burst`
 * tokens and gains `count` tokens per `period`; a request takes one token or
 * is refused with the seconds until one is there (Retry-After).
 *
 * A bucket is stored as the time it will be full again (its "theoretical
 * arrival time", GCRA): tokens(now) = burst - (full_at - now) / interval.
 * An entry whose buckets are all full holds nothing worth keeping, so it is
 * free for any key.
 *
 * Memory is fixed at rl_new: `entries` slots of rl_entry_size() bytes, never
 * more. A key lives in one of RL_PROBE slots after its (seeded) hash; when
 * none of them is its own or free, the one that will be full soonest (the
 * least debt forgiven) is taken over. A flood of distinct addresses thus
 * costs the table nothing beyond its size; it can at worst make the limiter
 * forget the clients closest to being forgiven anyway.
 *
 * Time is passed in (monotonic microseconds) so tests choose it.
 *
 * Owns: the table (rl_new to rl_free). Thread-safe: one mutex around each
 * rl_take. */
#ifndef GW_RATELIMIT_H
#define GW_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>

#include "client_ip.h"

#define RL_PROBE 8                  /* slots a key may live in */
#define RL_TABLE_MIN 64             /* smallest table (RATE_TABLE_SIZE) */
#define RL_TABLE_MAX (1 << 24)      /* largest table: 16 M entries */
#define RL_COUNT_MAX 1000000        /* tokens per period, and burst, at most */
#define RL_PERIOD_MAX_S (7 * 86400) /* a week */
#define RL_RATE_TEXT_MAX 64         /* longest rate text ("30/10m burst 10") */
#define RL_KEY_LEN 16               /* a client key: IPv4 as ::ffff:a.b.c.d, IPv6 masked */

typedef enum { RL_SESSIONS, RL_CHAT, RL_LEADS, RL_ADMIN, RL_CLASSES } rl_class;

typedef struct rl_rate {
    uint32_t count;    /* tokens per period; 0 = no limit */
    int64_t period_us; /* > 0 when count > 0 */
    uint32_t burst;    /* bucket size, 1..RL_COUNT_MAX; defaults to count */
} rl_rate;

/* Parses "COUNT/PERIOD" or "COUNT/PERIOD burst B" (PERIOD: a number with
 * s, m or h, or a bare unit: "30/10m", "5/h", "100/1h burst 20"), or "off"
 * (no limit). 0, or -1 with the reason in why. */
int rl_rate_parse(const char *s, rl_rate *out, char *why, size_t whylen);

typedef struct ratelimit ratelimit;

/* entries in RL_TABLE_MIN..RL_TABLE_MAX; ipv6_prefix in 16..128. seed keys
 * the slot hash (random in the gateway, fixed in tests). NULL when out of
 * memory or out of range. */
ratelimit *rl_new(size_t entries, unsigned ipv6_prefix, const rl_rate rates[RL_CLASSES], uint64_t seed);
void rl_free(ratelimit *rl);

/* Takes a token of class cls for client a at now_us: 0 when allowed, else
 * the whole seconds (>= 1, rounded up) until a token is there. */
uint32_t rl_take(ratelimit *rl, rl_class cls, const ip_addr *a, int64_t now_us);

/* The key of client a: IPv4 as ::ffff:a.b.c.d, IPv6 cut to ipv6_prefix
 * bits, all zero for no address (ip_count.c keys by it too). */
void rl_client_key(unsigned ipv6_prefix, const ip_addr *a, unsigned char key[RL_KEY_LEN]);

/* Takes n - 1 more tokens of cls from a at once, whatever the bucket holds
 * (a penalty: a wrong admin token). Its debt makes the next rl_take wait
 * longer; it is bounded like any other bucket by rl_take refusing. */
void rl_charge(ratelimit *rl, rl_class cls, const ip_addr *a, unsigned n, int64_t now_us);

size_t rl_entry_size(void);
/* The table's memory in bytes (entries * rl_entry_size()). */
size_t rl_table_bytes(const ratelimit *rl);
/* Entries whose buckets are not all full at now_us (for tests, metrics). */
size_t rl_in_use(ratelimit *rl, int64_t now_us);
/* Entries taken over from another key so far. */
uint64_t rl_evictions(ratelimit *rl);

#endif
