/* fuzz_sse.h: what the two provider stream targets (fuzz_sse_anthropic.c,
 * fuzz_sse_openai.c) share: the SSE parser (svc-llm/event_stream.c) fed an
 * input whole and cut into pieces, which must give the same events and the
 * same ending, and the cutting itself (piece sizes from a generator seeded
 * by the input, so a crash replays).
 *
 * Small caps (FUZZ_SSE_LINE_MAX...) here, so inputs of a few KB reach the
 * parser's cap errors; the provider pipeline runs with the service's caps.
 * Header-only, for one thread. */
#ifndef FUZZ_SSE_H
#define FUZZ_SSE_H

#include "event_stream.h"
#include "fuzz.h"

#define FUZZ_SSE_LINE_MAX 512
#define FUZZ_SSE_EVENT_MAX 2048
#define FUZZ_SSE_TOTAL_MAX 8192
#define FUZZ_SSE_PIECE_MAX 64 /* largest piece of a cut feed */

typedef struct fuzz_trace {
    uint64_t hash; /* FNV-1a over every event's name and data */
    size_t events;
} fuzz_trace;

static inline uint64_t fuzz_fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *s = p;
    for (size_t i = 0; i < n; i++) {
        h = (h ^ s[i]) * 1099511628211ull;
    }
    return h;
}

static inline int fuzz_trace_event(void *arg, const char *name, const char *data, size_t len)
{
    fuzz_trace *t = arg;
    FUZZ_CHECK(name != NULL && name[0] != '\0' && strlen(name) < EVS_NAME_MAX, "event name");
    FUZZ_CHECK(data[len] == '\0', "data not NUL-terminated");
    t->hash = fuzz_fnv(t->hash, name, strlen(name) + 1);
    t->hash = fuzz_fnv(t->hash, data, len + 1);
    t->events++;
    return 0;
}

/* Piece sizes: xorshift64 seeded with the input's length and first bytes. */
static inline size_t fuzz_piece(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *state = x;
    return 1 + (size_t)(x % FUZZ_SSE_PIECE_MAX);
}

static inline uint64_t fuzz_seed(const uint8_t *data, size_t size)
{
    uint64_t s = 0x9E3779B97F4A7C15ull ^ size;
    return fuzz_fnv(s, data, size < 8 ? size : 8) | 1;
}

/* Feeds data to p in pieces (all at once when whole); returns the first
 * non-zero evs_feed result, or 0. */
static inline int fuzz_sse_feed(evs_parser *p, const uint8_t *data, size_t size, int whole)
{
    if (whole) {
        return evs_feed(p, (const char *)data, size);
    }
    uint64_t st = fuzz_seed(data, size);
    size_t off = 0;
    while (off < size) {
        size_t k = fuzz_piece(&st);
        if (k > size - off) {
            k = size - off;
        }
        int rv = evs_feed(p, (const char *)data + off, k);
        if (rv != 0) {
            return rv;
        }
        off += k;
    }
    return 0;
}

/* The parser alone, whole and cut: the same events, the same ending. */
static inline void fuzz_sse_split_invariance(const uint8_t *data, size_t size)
{
    fuzz_trace t[2];
    int rv[2];
    for (int whole = 0; whole < 2; whole++) {
        evs_parser p;
        t[whole] = (fuzz_trace){.hash = 14695981039346656037ull};
        evs_init(&p, FUZZ_SSE_LINE_MAX, FUZZ_SSE_EVENT_MAX, FUZZ_SSE_TOTAL_MAX, fuzz_trace_event, &t[whole]);
        rv[whole] = fuzz_sse_feed(&p, data, size, whole);
        evs_free(&p);
    }
    FUZZ_CHECK(rv[0] == rv[1], "whole: %d, in pieces: %d", rv[1], rv[0]);
    FUZZ_CHECK(t[0].events == t[1].events && t[0].hash == t[1].hash, "whole: %zu events, in pieces: %zu", t[1].events,
               t[0].events);
}

#endif
