/* timer_heap.c: see timer_heap.h. */
#include "timer_heap.h"

#include <stdlib.h>

static int tmh_less(const eng_timer *a, const eng_timer *b)
{
    return a->when < b->when || (a->when == b->when && a->order < b->order);
}

int tmh_push(timer_heap *h, eng_timer t)
{
    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : TMH_FIRST_CAP;
        eng_timer *v = realloc(h->v, cap * sizeof(*v));
        if (v == NULL) {
            return -1;
        }
        h->v = v;
        h->cap = cap;
    }
    t.order = h->order++;
    size_t i = h->n++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!tmh_less(&t, &h->v[p])) {
            break;
        }
        h->v[i] = h->v[p];
        i = p;
    }
    h->v[i] = t;
    return 0;
}

eng_timer tmh_pop(timer_heap *h)
{
    eng_timer top = h->v[0];
    eng_timer last = h->v[--h->n];
    size_t i = 0, n = h->n;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) {
            break;
        }
        if (c + 1 < n && tmh_less(&h->v[c + 1], &h->v[c])) {
            c++;
        }
        if (!tmh_less(&h->v[c], &last)) {
            break;
        }
        h->v[i] = h->v[c];
        i = c;
    }
    if (n > 0) {
        h->v[i] = last;
    }
    return top;
}

int64_t tmh_next(const timer_heap *h)
{
    return h->n ? h->v[0].when : INT64_MAX;
}

void tmh_free(timer_heap *h)
{
    free(h->v);
    h->v = NULL;
    h->n = h->cap = 0;
}
