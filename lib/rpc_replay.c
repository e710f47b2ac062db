/* rpc_replay.c: see rpc_replay.h.
 *
 * Layout: ent[] holds the entries (unused ones chained on a free list
 * through `next`); a binary min-heap of entry indices ordered by timestamp
 * finds the oldest in O(1) and removes it in O(log n); a chained hash index
 * (buckets = 2 x capacity) finds a nonce. Nonces come from callers that
 * proved they hold the secret and are random, so their first bytes are the
 * hash. */
#include "rpc_replay.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef struct replay_ent {
    uint8_t nonce[RPC_REPLAY_NONCE_LEN];
    int64_t ts;
    int32_t next; /* hash chain, or free list */
} replay_ent;

struct rpc_replay {
    pthread_mutex_t mtx;
    unsigned cap;
    unsigned count;
    uint32_t bmask;
    int32_t free_head;
    int64_t floor;
    replay_ent *ent;
    int32_t *heap;
    int32_t *buckets;
};

static uint32_t nonce_hash(const uint8_t *n)
{
    uint32_t h;
    memcpy(&h, n, sizeof(h));
    return h;
}

static void heap_set(rpc_replay *r, unsigned pos, int32_t e)
{
    r->heap[pos] = e;
}

static void heap_up(rpc_replay *r, unsigned pos)
{
    int32_t e = r->heap[pos];
    while (pos > 0) {
        unsigned parent = (pos - 1) / 2;
        if (r->ent[r->heap[parent]].ts <= r->ent[e].ts) {
            break;
        }
        heap_set(r, pos, r->heap[parent]);
        pos = parent;
    }
    heap_set(r, pos, e);
}

static void heap_down(rpc_replay *r, unsigned pos)
{
    int32_t e = r->heap[pos];
    for (;;) {
        unsigned l = 2 * pos + 1, m = pos;
        int64_t mts = r->ent[e].ts;
        if (l < r->count && r->ent[r->heap[l]].ts < mts) {
            m = l;
            mts = r->ent[r->heap[l]].ts;
        }
        if (l + 1 < r->count && r->ent[r->heap[l + 1]].ts < mts) {
            m = l + 1;
        }
        if (m == pos) {
            break;
        }
        heap_set(r, pos, r->heap[m]);
        pos = m;
    }
    heap_set(r, pos, e);
}

/* Removes the oldest entry (count > 0) and returns its timestamp. */
static int64_t pop_oldest(rpc_replay *r)
{
    int32_t e = r->heap[0];
    int64_t ts = r->ent[e].ts;
    r->count--;
    if (r->count > 0) {
        r->heap[0] = r->heap[r->count];
        heap_down(r, 0);
    }
    int32_t *link = &r->buckets[nonce_hash(r->ent[e].nonce) & r->bmask];
    while (*link != e) {
        link = &r->ent[*link].next;
    }
    *link = r->ent[e].next;
    r->ent[e].next = r->free_head;
    r->free_head = e;
    return ts;
}

int rpc_replay_new(rpc_replay **out, unsigned capacity)
{
    *out = NULL;
    if (capacity < RPC_REPLAY_MIN || capacity > RPC_REPLAY_MAX) {
        return -1;
    }
    rpc_replay *r = calloc(1, sizeof(*r));
    if (r == NULL) {
        return -1;
    }
    unsigned nb = 1;
    while (nb < 2 * capacity) {
        nb <<= 1;
    }
    r->cap = capacity;
    r->bmask = nb - 1;
    r->floor = INT64_MIN;
    r->ent = calloc(capacity, sizeof(*r->ent));
    r->heap = calloc(capacity, sizeof(*r->heap));
    r->buckets = malloc(nb * sizeof(*r->buckets));
    if (r->ent == NULL || r->heap == NULL || r->buckets == NULL) {
        rpc_replay_free(r);
        return -1;
    }
    memset(r->buckets, 0xff, nb * sizeof(*r->buckets)); /* -1: empty */
    for (unsigned i = 0; i < capacity; i++) {
        r->ent[i].next = i + 1 < capacity ? (int32_t)(i + 1) : -1;
    }
    r->free_head = 0;
    pthread_mutex_init(&r->mtx, NULL);
    *out = r;
    return 0;
}

void rpc_replay_free(rpc_replay *r)
{
    if (r == NULL) {
        return;
    }
    if (r->ent != NULL && r->heap != NULL && r->buckets != NULL) {
        pthread_mutex_destroy(&r->mtx);
    }
    free(r->ent);
    free(r->heap);
    free(r->buckets);
    free(r);
}

rpc_replay_status rpc_replay_check(rpc_replay *r, const uint8_t nonce[RPC_REPLAY_NONCE_LEN], int64_t ts_ms,
                                   int64_t now_ms, int64_t window_ms)
{
    rpc_replay_status st = RPC_REPLAY_FRESH;
    pthread_mutex_lock(&r->mtx);
    /* Entries stamped before the window can no longer be replayed (the
     * window check refuses them): drop them. */
    while (r->count > 0 && r->ent[r->heap[0]].ts < now_ms - window_ms) {
        pop_oldest(r);
    }
    if (ts_ms <= r->floor) {
        st = RPC_REPLAY_FLOOR;
        goto out;
    }
    uint32_t b = nonce_hash(nonce) & r->bmask;
    for (int32_t e = r->buckets[b]; e >= 0; e = r->ent[e].next) {
        if (memcmp(r->ent[e].nonce, nonce, RPC_REPLAY_NONCE_LEN) == 0) {
            st = RPC_REPLAY_SEEN;
            goto out;
        }
    }
    if (r->count == r->cap) {
        /* Full of entries inside the window: evict the oldest, and refuse
         * from now on anything stamped at or before it. */
        int64_t ts = pop_oldest(r);
        if (ts > r->floor) {
            r->floor = ts;
        }
        if (ts_ms <= r->floor) {
            st = RPC_REPLAY_FLOOR;
            goto out;
        }
    }
    int32_t e = r->free_head;
    r->free_head = r->ent[e].next;
    memcpy(r->ent[e].nonce, nonce, RPC_REPLAY_NONCE_LEN);
    r->ent[e].ts = ts_ms;
    r->ent[e].next = r->buckets[b];
    r->buckets[b] = e;
    r->heap[r->count] = e;
    r->count++;
    heap_up(r, r->count - 1);
out:
    pthread_mutex_unlock(&r->mtx);
    return st;
}

unsigned rpc_replay_count(rpc_replay *r)
{
    pthread_mutex_lock(&r->mtx);
    unsigned n = r->count;
    pthread_mutex_unlock(&r->mtx);
    return n;
}

unsigned rpc_replay_capacity(const rpc_replay *r)
{
    return r->cap;
}

int64_t rpc_replay_floor(rpc_replay *r)
{
    pthread_mutex_lock(&r->mtx);
    int64_t f = r->floor;
    pthread_mutex_unlock(&r->mtx);
    return f;
}
