/* timer_heap.h: the engine's timers, a binary min-heap ordered by time and,
 * among equal times, by insertion (FIFO).
 *
 * An entry says what is due (type, generation, epoch); the heap knows only
 * `when` and `order`. Owns: its array (tmh_free); the entries' generation
 * references belong to whoever pops them. Not thread-safe: the engine
 * guards it with its mutex. */
#ifndef LLM_TIMER_HEAP_H
#define LLM_TIMER_HEAP_H

#include <stddef.h>
#include <stdint.h>

#include "generation.h"

#define TMH_FIRST_CAP 256

typedef struct eng_timer {
    int64_t when;
    uint64_t order; /* FIFO among equal times (set by tmh_push) */
    int type;
    gen *g; /* a reference, except for the engine's sweep */
    uint64_t epoch;
} eng_timer;

typedef struct timer_heap {
    eng_timer *v;
    size_t n, cap;
    uint64_t order;
} timer_heap;

/* Adds t. Returns 0, or -1 when out of memory (t not added). */
int tmh_push(timer_heap *h, eng_timer t);
/* Removes and returns the earliest entry; h must not be empty. */
eng_timer tmh_pop(timer_heap *h);
/* When the earliest entry is due, or INT64_MAX when the heap is empty. */
int64_t tmh_next(const timer_heap *h);
/* Releases the array (entries must have been popped or are dropped). */
void tmh_free(timer_heap *h);

#endif
