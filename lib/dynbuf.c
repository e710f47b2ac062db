/* dynbuf.c: see dynbuf.h. */
#include "dynbuf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DYN_FIRST_ALLOC 64
#define DYN_PRINTF_STACK 256 /* dyn_printf formats this much without malloc */

void dyn_init(dynbuf *b, size_t toobig)
{
    memset(b, 0, sizeof(*b));
    b->toobig = toobig;
}

void dyn_init_fixed(dynbuf *b, char *storage, size_t size)
{
    memset(b, 0, sizeof(*b));
    b->data = storage;
    b->cap = size;
    b->toobig = size - 1;
    b->fixed = 1;
    storage[0] = '\0';
}

static int dyn_reserve(dynbuf *b, size_t n)
{
    if (b->len + n + 1 <= b->cap) {
        return 0;
    }
    if (b->fixed) {
        b->full = 1;
        return -1;
    }
    size_t cap = b->cap ? b->cap : DYN_FIRST_ALLOC;
    while (cap < b->len + n + 1) {
        cap *= 2;
    }
    char *d = realloc(b->data, cap);
    if (d == NULL) {
        b->oom = 1;
        return -1;
    }
    b->data = d;
    b->cap = cap;
    return 0;
}

int dyn_add(dynbuf *b, const void *p, size_t n)
{
    if (n > b->toobig || b->len > b->toobig - n) {
        b->full = 1;
        return -1;
    }
    if (dyn_reserve(b, n) != 0) {
        return -1;
    }
    if (n > 0) {
        memcpy(b->data + b->len, p, n);
    }
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int dyn_adds(dynbuf *b, const char *s)
{
    return dyn_add(b, s, strlen(s));
}

int dyn_addc(dynbuf *b, char c)
{
    return dyn_add(b, &c, 1);
}

int dyn_vprintf(dynbuf *b, const char *fmt, va_list ap)
{
    char small[DYN_PRINTF_STACK];
    va_list again;
    va_copy(again, ap);
    int n = vsnprintf(small, sizeof(small), fmt, ap);
    int rv = -1;
    if (n < 0) {
        goto out;
    }
    if ((size_t)n < sizeof(small)) {
        rv = dyn_add(b, small, (size_t)n);
        goto out;
    }
    char *big = malloc((size_t)n + 1);
    if (big == NULL) {
        b->oom = 1;
        goto out;
    }
    vsnprintf(big, (size_t)n + 1, fmt, again);
    rv = dyn_add(b, big, (size_t)n);
    free(big);
out:
    va_end(again);
    return rv;
}

int dyn_printf(dynbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rv = dyn_vprintf(b, fmt, ap);
    va_end(ap);
    return rv;
}

const char *dyn_str(const dynbuf *b)
{
    return b->data ? b->data : "";
}

size_t dyn_len(const dynbuf *b)
{
    return b->len;
}

size_t dyn_room(const dynbuf *b)
{
    return b->len < b->toobig ? b->toobig - b->len : 0;
}

void dyn_reset(dynbuf *b)
{
    b->len = 0;
    b->full = 0;
    b->oom = 0;
    if (b->data != NULL) {
        b->data[0] = '\0';
    }
}

void dyn_truncate(dynbuf *b, size_t n)
{
    if (n < b->len) {
        b->len = n;
        b->data[n] = '\0';
    }
}

char *dyn_take(dynbuf *b)
{
    char *s = b->data ? b->data : calloc(1, 1);
    b->data = NULL;
    b->len = b->cap = 0;
    b->full = 0;
    b->oom = 0;
    return s;
}

void dyn_free(dynbuf *b)
{
    if (!b->fixed) {
        free(b->data);
    }
    b->data = NULL;
    b->len = b->cap = 0;
}
