/* rpc_replay.h: the bounded cache of request nonces a server has accepted,
 * so an authenticated request captured on the network and sent again within
 * the time window is refused.
 *
 * Owns: a fixed table of `capacity` entries (nonce + timestamp), allocated
 * once by rpc_replay_new, at most 52 bytes an entry (RPC_REPLAY_ENTRY_BYTES)
 * plus the hash index; it never grows. Entries leave by age: an entry whose
 * timestamp fell out of the window is dropped, and when the table is full
 * of entries still inside the window the oldest is evicted and the cache's
 * floor rises to its timestamp. A request stamped at or before the floor is
 * refused (RPC_REPLAY_FLOOR), so an evicted nonce can never be accepted
 * again: the bound costs availability under extreme load (the window
 * effectively shrinks to capacity / call rate), never safety.
 *
 * Threads: every function may be called from any thread; one mutex guards
 * the table. */
#ifndef CHAT_RPC_REPLAY_H
#define CHAT_RPC_REPLAY_H

#include <stddef.h>
#include <stdint.h>

#define RPC_REPLAY_NONCE_LEN 16
#define RPC_REPLAY_MIN 16u            /* smallest table (tests) */
#define RPC_REPLAY_MAX (1u << 22)     /* largest table accepted */
#define RPC_REPLAY_DEFAULT (1u << 17) /* 131072 entries, 5.5 MiB */
#define RPC_REPLAY_ENTRY_BYTES 52     /* entry 32 + heap slot 4 + hash buckets 8..16 */

typedef struct rpc_replay rpc_replay;

typedef enum rpc_replay_status {
    RPC_REPLAY_FRESH = 0, /* not seen: recorded */
    RPC_REPLAY_SEEN,      /* this nonce was accepted before */
    RPC_REPLAY_FLOOR,     /* stamped at or before the floor: the cache cannot tell */
} rpc_replay_status;

/* A cache of `capacity` entries (RPC_REPLAY_MIN..RPC_REPLAY_MAX). Returns 0
 * or -1 (bad capacity, out of memory). */
int rpc_replay_new(rpc_replay **out, unsigned capacity);
void rpc_replay_free(rpc_replay *r);

/* Checks the nonce of a request stamped ts_ms (already inside the window
 * around now_ms) and records it when fresh. Entries stamped before
 * now_ms - window_ms are dropped first. */
rpc_replay_status rpc_replay_check(rpc_replay *r, const uint8_t nonce[RPC_REPLAY_NONCE_LEN], int64_t ts_ms,
                                   int64_t now_ms, int64_t window_ms);

/* Entries held now, the capacity, and the floor (INT64_MIN while nothing
 * inside the window was evicted). */
unsigned rpc_replay_count(rpc_replay *r);
unsigned rpc_replay_capacity(const rpc_replay *r);
int64_t rpc_replay_floor(rpc_replay *r);

#endif
