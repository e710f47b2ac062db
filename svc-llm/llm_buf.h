/* llm_buf.h: a growable byte buffer with a hard size cap (svc-llm).
 *
 * Every buffer svc-llm fills from an upstream or a visitor is one of these:
 * an append that would pass `max` fails and sets `toobig` instead of
 * growing, so no input can make a buffer grow without bound. The data is
 * always NUL-terminated (when allocated). Not thread-safe: one owner. */
#ifndef LLM_BUF_H
#define LLM_BUF_H

#include <stdarg.h>
#include <stddef.h>

typedef struct lbuf {
    char *data; /* NULL until the first append */
    size_t len;
    size_t cap;
    size_t max; /* most bytes it may hold (without the NUL) */
    int toobig; /* an append was refused for the cap */
} lbuf;

void lbuf_init(lbuf *b, size_t max);
/* 0, or -1 when the cap (sets toobig) or memory refuses the bytes. */
int lbuf_add(lbuf *b, const void *p, size_t n);
int lbuf_adds(lbuf *b, const char *s);
int lbuf_addc(lbuf *b, char c);
int lbuf_printf(lbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The contents ("" when empty; valid until the next change). */
const char *lbuf_str(const lbuf *b);
void lbuf_reset(lbuf *b);
/* Hands the malloc'd string to the caller (never NULL unless out of
 * memory) and leaves the buffer empty. */
char *lbuf_take(lbuf *b);
void lbuf_free(lbuf *b);

#endif
