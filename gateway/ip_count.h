/* ip_count.h: how many connections each client key holds right now, in a
 * table of fixed size (open addressing, linear probing, deletion by
 * backward shift, so no tombstones pile up).
 *
 * A key is rl_client_key()'s (IPv4, or IPv6 cut to a prefix). Each key
 * held counts one entry; conn_guard.c sizes the table at twice the
 * connection limit, so it cannot fill while MHD's limit holds, and a full
 * table refuses (never grows).
 *
 * Owns: the table (ic_new to ic_free). Not thread-safe: the caller locks. */
#ifndef GW_IP_COUNT_H
#define GW_IP_COUNT_H

#include <stddef.h>

#include "ratelimit.h"

#define IC_SLOTS_MIN 16         /* smallest table */
#define IC_SLOTS_MAX (1u << 22) /* largest table: 4 M keys */

typedef struct ip_count ip_count;

/* A table of at least `slots` slots (rounded up to a power of two, within
 * IC_SLOTS_MIN..IC_SLOTS_MAX). NULL when out of memory. */
ip_count *ic_new(size_t slots);
void ic_free(ip_count *ic);

/* Adds one for key unless it already holds max: the new count (1..max),
 * or 0 when refused (at max, or the table is full). */
unsigned ic_add(ip_count *ic, const unsigned char key[RL_KEY_LEN], unsigned max);
/* Takes one away (a key reaching 0 leaves the table); no-op for an absent key. */
void ic_del(ip_count *ic, const unsigned char key[RL_KEY_LEN]);
/* The count of key (0 when absent). */
unsigned ic_get(const ip_count *ic, const unsigned char key[RL_KEY_LEN]);
/* Keys in the table. */
size_t ic_keys(const ip_count *ic);

#endif
