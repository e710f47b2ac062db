/* llm_buf.c: see llm_buf.h. */
#include "llm_buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void lbuf_init(lbuf *b, size_t max)
{
    memset(b, 0, sizeof(*b));
    b->max = max;
}

int lbuf_add(lbuf *b, const void *p, size_t n)
{
    if (n > b->max || b->len > b->max - n) {
        b->toobig = 1;
        return -1;
    }
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->len + n + 1) {
            cap *= 2;
        }
        char *d = realloc(b->data, cap);
        if (d == NULL) {
            return -1;
        }
        b->data = d;
        b->cap = cap;
    }
    if (n > 0) {
        memcpy(b->data + b->len, p, n);
    }
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int lbuf_adds(lbuf *b, const char *s) { return lbuf_add(b, s, strlen(s)); }

int lbuf_addc(lbuf *b, char c) { return lbuf_add(b, &c, 1); }

int lbuf_printf(lbuf *b, const char *fmt, ...)
{
    char small[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0) {
        return -1;
    }
    if ((size_t)n < sizeof(small)) {
        return lbuf_add(b, small, (size_t)n);
    }
    char *big = malloc((size_t)n + 1);
    if (big == NULL) {
        return -1;
    }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    int rv = lbuf_add(b, big, (size_t)n);
    free(big);
    return rv;
}

const char *lbuf_str(const lbuf *b) { return b->data ? b->data : ""; }

void lbuf_reset(lbuf *b)
{
    b->len = 0;
    b->toobig = 0;
    if (b->data != NULL) {
        b->data[0] = '\0';
    }
}

char *lbuf_take(lbuf *b)
{
    char *s = b->data ? b->data : calloc(1, 1);
    b->data = NULL;
    b->len = b->cap = 0;
    b->toobig = 0;
    return s;
}

void lbuf_free(lbuf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}
