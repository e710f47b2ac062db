/* sess_uuid6.c: see sess_uuid6.h. */
#include "sess_uuid6.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "encode.h"

static pthread_mutex_t sess_uuid6_mu = PTHREAD_MUTEX_INITIALIZER;
static uint64_t sess_uuid6_last;

void sess_uuid6_format(uint64_t ts, uint16_t clock_seq, uint64_t node, char out[SESS_UUID_LEN + 1])
{
    ts &= 0x0FFFFFFFFFFFFFFFULL;
    unsigned time_high = (unsigned)(ts >> 28);
    unsigned time_mid = (unsigned)(ts >> 12 & 0xFFFF);
    unsigned version_time_low = 0x6000 | (unsigned)(ts & 0x0FFF);
    unsigned variant_clock_seq = 0x8000 | (clock_seq & 0x3FFF);
    snprintf(out, SESS_UUID_LEN + 1, "%08x-%04x-%04x-%04x-%012llx", time_high, time_mid, version_time_low,
             variant_clock_seq, (unsigned long long)(node & 0xFFFFFFFFFFFFULL));
}

static int sess_hex(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

int sess_uuid6_parse(const char *s, uint64_t *ts)
{
    if (s == NULL || strlen(s) != SESS_UUID_LEN) {
        return -1;
    }
    uint64_t hi = 0; /* the first 16 hex digits: time_high, time_mid, version, time_low */
    int digits = 0;
    for (int i = 0; i < SESS_UUID_LEN; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-') {
                return -1;
            }
            continue;
        }
        int h = sess_hex(s[i]);
        if (h < 0) {
            return -1;
        }
        if (digits < 16) {
            hi = hi << 4 | (uint64_t)h;
        }
        digits++;
    }
    if ((hi >> 12 & 0xF) != 6) {
        return -1;
    }
    *ts = (hi >> 16) << 12 | (hi & 0x0FFF);
    return 0;
}

uint64_t sess_uuid6_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (uint64_t)t.tv_sec * 10000000ULL + (uint64_t)t.tv_nsec / 100 + SESS_UUID6_UNIX_OFFSET;
}

int sess_uuid6_next(const char *floor, char out[SESS_UUID_LEN + 1], uint64_t *ts_out)
{
    uint8_t rnd[8];
    if (enc_random(rnd, sizeof(rnd)) != 0) {
        return -1;
    }
    uint64_t floor_ts = 0;
    if (floor != NULL && floor[0] != '\0' && sess_uuid6_parse(floor, &floor_ts) != 0) {
        floor_ts = 0;
    }
    uint64_t ts = sess_uuid6_now();
    pthread_mutex_lock(&sess_uuid6_mu);
    if (ts <= sess_uuid6_last) {
        ts = sess_uuid6_last + 1;
    }
    if (ts <= floor_ts) {
        ts = floor_ts + 1;
    }
    sess_uuid6_last = ts;
    pthread_mutex_unlock(&sess_uuid6_mu);

    uint16_t clock_seq = (uint16_t)(rnd[0] << 8 | rnd[1]);
    uint64_t node = 0;
    for (int i = 2; i < 8; i++) {
        node = node << 8 | rnd[i];
    }
    node |= 0x010000000000ULL; /* multicast bit: a random node, not a MAC address */
    sess_uuid6_format(ts, clock_seq, node, out);
    if (ts_out != NULL) {
        *ts_out = ts;
    }
    return 0;
}

void sess_uuid6_iso8601(uint64_t ts, char *buf, unsigned long len)
{
    uint64_t unix_ticks = ts > SESS_UUID6_UNIX_OFFSET ? ts - SESS_UUID6_UNIX_OFFSET : 0;
    time_t secs = (time_t)(unix_ticks / 10000000ULL);
    unsigned usec = (unsigned)(unix_ticks % 10000000ULL / 10);
    struct tm tm;
    gmtime_r(&secs, &tm);
    char base[32];
    strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf, len, "%s.%06u+00:00", base, usec);
}
