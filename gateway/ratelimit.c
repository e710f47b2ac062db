/* ratelimit.c: see ratelimit.h. */
#include "ratelimit.h"

#include <arpa/inet.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RL_US_PER_S 1000000LL

typedef struct rl_entry {
    unsigned char key[RL_KEY_LEN]; /* IPv4 as ::ffff:a.b.c.d, IPv6 masked */
    int64_t full_at[RL_CLASSES];   /* monotonic us when the bucket is full again */
} rl_entry;

struct ratelimit {
    pthread_mutex_t mtx;
    rl_entry *slots;
    size_t n;
    unsigned ipv6_prefix;
    uint64_t seed;
    uint64_t evictions;
    rl_rate rate[RL_CLASSES];
    int64_t interval_us[RL_CLASSES];  /* period / count */
    int64_t tolerance_us[RL_CLASSES]; /* (burst - 1) * interval */
};

/* --- rates ----------------------------------------------------------------- */

/* Reads a decimal number of at most 9 digits at *p. */
static int rl_number(const char **p, uint64_t *out)
{
    const char *s = *p;
    uint64_t v = 0;
    int digits = 0;
    while (*s >= '0' && *s <= '9' && digits < 10) {
        v = v * 10 + (uint64_t)(*s - '0');
        s++;
        digits++;
    }
    if (digits == 0 || digits > 9) {
        return -1;
    }
    *p = s;
    *out = v;
    return 0;
}

int rl_rate_parse(const char *s, rl_rate *out, char *why, size_t whylen)
{
    memset(out, 0, sizeof(*out));
    if (s == NULL || strlen(s) > RL_RATE_TEXT_MAX) {
        snprintf(why, whylen, "missing or longer than %d characters", RL_RATE_TEXT_MAX);
        return -1;
    }
    while (*s == ' ') {
        s++;
    }
    if (strcmp(s, "off") == 0) {
        return 0;
    }
    const char *p = s;
    uint64_t count = 0, n = 1, burst = 0;
    if (rl_number(&p, &count) != 0 || count < 1 || count > RL_COUNT_MAX || *p != '/') {
        snprintf(why, whylen, "\"%s\" is not COUNT/PERIOD (COUNT 1..%d), e.g. \"30/10m\" or \"off\"", s, RL_COUNT_MAX);
        return -1;
    }
    p++;
    if (*p >= '0' && *p <= '9' && rl_number(&p, &n) != 0) {
        n = 0;
    }
    int64_t unit = *p == 's' ? 1 : *p == 'm' ? 60 : *p == 'h' ? 3600 : 0;
    if (unit == 0 || n < 1 || (int64_t)n * unit > RL_PERIOD_MAX_S) {
        snprintf(why, whylen, "\"%s\": the period must be a number with s, m or h, up to a week (\"10m\", \"1h\")", s);
        return -1;
    }
    p++;
    while (*p == ' ') {
        p++;
    }
    if (*p != '\0') {
        if (strncmp(p, "burst", 5) != 0 || p[5] != ' ') {
            snprintf(why, whylen, "\"%s\": only \"burst N\" may follow the period", s);
            return -1;
        }
        p += 5;
        while (*p == ' ') {
            p++;
        }
        if (rl_number(&p, &burst) != 0 || burst < 1 || burst > RL_COUNT_MAX) {
            snprintf(why, whylen, "\"%s\": burst must be a number 1..%d", s, RL_COUNT_MAX);
            return -1;
        }
    }
    while (*p == ' ') {
        p++;
    }
    if (*p != '\0') {
        snprintf(why, whylen, "\"%s\": unexpected text after the rate", s);
        return -1;
    }
    out->count = (uint32_t)count;
    out->period_us = (int64_t)n * unit * RL_US_PER_S;
    out->burst = burst ? (uint32_t)burst : (uint32_t)count;
    return 0;
}

/* --- the table ------------------------------------------------------------- */

ratelimit *rl_new(size_t entries, unsigned ipv6_prefix, const rl_rate rates[RL_CLASSES], uint64_t seed)
{
    if (entries < RL_TABLE_MIN || entries > RL_TABLE_MAX || ipv6_prefix < 16 || ipv6_prefix > 128) {
        return NULL;
    }
    ratelimit *rl = calloc(1, sizeof(*rl));
    if (rl == NULL || (rl->slots = calloc(entries, sizeof(rl_entry))) == NULL) {
        free(rl);
        return NULL;
    }
    pthread_mutex_init(&rl->mtx, NULL);
    rl->n = entries;
    rl->ipv6_prefix = ipv6_prefix;
    rl->seed = seed;
    for (int c = 0; c < RL_CLASSES; c++) {
        rl->rate[c] = rates[c];
        if (rates[c].count > 0) {
            rl->interval_us[c] = rates[c].period_us / rates[c].count;
            if (rl->interval_us[c] < 1) {
                rl->interval_us[c] = 1;
            }
            rl->tolerance_us[c] = (int64_t)(rates[c].burst - 1) * rl->interval_us[c];
        }
    }
    return rl;
}

void rl_free(ratelimit *rl)
{
    if (rl == NULL) {
        return;
    }
    pthread_mutex_destroy(&rl->mtx);
    free(rl->slots);
    free(rl);
}

void rl_client_key(unsigned ipv6_prefix, const ip_addr *a, unsigned char key[RL_KEY_LEN])
{
    memset(key, 0, RL_KEY_LEN);
    if (a->family == AF_INET) {
        key[10] = key[11] = 0xff;
        memcpy(key + 12, a->b, 4);
        return;
    }
    if (a->family != AF_INET6) {
        return; /* no address: one shared key, all zero */
    }
    unsigned bits = ipv6_prefix;
    for (unsigned i = 0; i < RL_KEY_LEN && bits > 0; i++) {
        key[i] = bits >= 8 ? a->b[i] : (unsigned char)(a->b[i] & (0xff << (8 - bits)));
        bits = bits >= 8 ? bits - 8 : 0;
    }
}

static uint64_t rl_mix(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

static uint64_t rl_hash(const ratelimit *rl, const unsigned char key[RL_KEY_LEN])
{
    uint64_t w0, w1;
    memcpy(&w0, key, 8);
    memcpy(&w1, key + 8, 8);
    return rl_mix(rl_mix(rl->seed ^ w0) ^ w1 ^ (rl->seed >> 1));
}

/* The latest full_at of e: it holds state until then. */
static int64_t rl_busy_until(const rl_entry *e)
{
    int64_t t = e->full_at[0];
    for (int c = 1; c < RL_CLASSES; c++) {
        if (e->full_at[c] > t) {
            t = e->full_at[c];
        }
    }
    return t;
}

/* The slot for key: its own, else a free one, else the soonest full one
 * (taken over). Under the mutex. */
static rl_entry *rl_slot(ratelimit *rl, const unsigned char key[RL_KEY_LEN], int64_t now_us)
{
    size_t start = (size_t)(rl_hash(rl, key) % rl->n);
    rl_entry *free_slot = NULL, *soonest = NULL;
    for (size_t i = 0; i < RL_PROBE; i++) {
        rl_entry *e = &rl->slots[(start + i) % rl->n];
        if (memcmp(e->key, key, RL_KEY_LEN) == 0) {
            return e;
        }
        int64_t busy = rl_busy_until(e);
        if (busy <= now_us) {
            if (free_slot == NULL) {
                free_slot = e;
            }
        } else if (soonest == NULL || busy < rl_busy_until(soonest)) {
            soonest = e;
        }
    }
    rl_entry *e = free_slot;
    if (e == NULL) {
        e = soonest;
        rl->evictions++;
    }
    memcpy(e->key, key, RL_KEY_LEN);
    for (int c = 0; c < RL_CLASSES; c++) {
        e->full_at[c] = 0;
    }
    return e;
}

uint32_t rl_take(ratelimit *rl, rl_class cls, const ip_addr *a, int64_t now_us)
{
    if (rl == NULL || cls >= RL_CLASSES || rl->rate[cls].count == 0) {
        return 0;
    }
    unsigned char key[RL_KEY_LEN];
    rl_client_key(rl->ipv6_prefix, a, key);
    pthread_mutex_lock(&rl->mtx);
    rl_entry *e = rl_slot(rl, key, now_us);
    int64_t tat = e->full_at[cls] > now_us ? e->full_at[cls] : now_us;
    uint32_t wait_s = 0;
    if (tat - now_us > rl->tolerance_us[cls]) {
        int64_t wait_us = tat - rl->tolerance_us[cls] - now_us;
        int64_t s = (wait_us + RL_US_PER_S - 1) / RL_US_PER_S;
        wait_s = s < 1 ? 1 : (uint32_t)s;
    } else {
        e->full_at[cls] = tat + rl->interval_us[cls];
    }
    pthread_mutex_unlock(&rl->mtx);
    return wait_s;
}

void rl_charge(ratelimit *rl, rl_class cls, const ip_addr *a, unsigned n, int64_t now_us)
{
    if (rl == NULL || cls >= RL_CLASSES || rl->rate[cls].count == 0 || n < 2) {
        return;
    }
    unsigned char key[RL_KEY_LEN];
    rl_client_key(rl->ipv6_prefix, a, key);
    pthread_mutex_lock(&rl->mtx);
    rl_entry *e = rl_slot(rl, key, now_us);
    int64_t tat = e->full_at[cls] > now_us ? e->full_at[cls] : now_us;
    e->full_at[cls] = tat + (int64_t)(n - 1) * rl->interval_us[cls];
    pthread_mutex_unlock(&rl->mtx);
}

size_t rl_entry_size(void)
{
    return sizeof(rl_entry);
}

size_t rl_table_bytes(const ratelimit *rl)
{
    return rl->n * sizeof(rl_entry);
}

size_t rl_in_use(ratelimit *rl, int64_t now_us)
{
    size_t used = 0;
    pthread_mutex_lock(&rl->mtx);
    for (size_t i = 0; i < rl->n; i++) {
        used += rl_busy_until(&rl->slots[i]) > now_us;
    }
    pthread_mutex_unlock(&rl->mtx);
    return used;
}

uint64_t rl_evictions(ratelimit *rl)
{
    pthread_mutex_lock(&rl->mtx);
    uint64_t n = rl->evictions;
    pthread_mutex_unlock(&rl->mtx);
    return n;
}
