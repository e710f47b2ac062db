/* dynbuf.h: a growable byte buffer with a hard size cap.
 *
 * Every buffer filled from a stranger (an upstream, a visitor, a page to
 * index) is one of these: an append that would take it past `toobig` bytes
 * fails and sets `full` instead of growing, so no input can make a buffer
 * grow without bound. The data is always NUL-terminated once anything is
 * stored (the NUL is not counted in len or toobig).
 *
 * Two kinds of storage:
 *   - dyn_init: heap memory, allocated on the first append and grown by
 *     doubling. Owns: data, until dyn_take hands it to the caller or
 *     dyn_free releases it.
 *   - dyn_init_fixed: caller memory of a fixed size (a stack line, say); it
 *     never allocates, and dyn_free/dyn_take must not be called. Owns
 *     nothing.
 *
 * Not thread-safe: one owner at a time. */
#ifndef DYNBUF_H
#define DYNBUF_H

#include <stdarg.h>
#include <stddef.h>

typedef struct dynbuf {
    char *data;    /* NULL until the first append (heap storage) */
    size_t len;    /* bytes stored, without the NUL */
    size_t cap;    /* bytes of storage */
    size_t toobig; /* most bytes it may hold (without the NUL) */
    int full;      /* an append was refused for the cap */
    int oom;       /* an allocation failed */
    int fixed;     /* data is caller storage */
} dynbuf;

/* Empty heap buffer that may hold at most toobig bytes. */
void dyn_init(dynbuf *b, size_t toobig);
/* Empty buffer over storage[0..size) (size >= 1): holds size - 1 bytes. */
void dyn_init_fixed(dynbuf *b, char *storage, size_t size);

/* Appends p[0..n): 0, or -1 when the cap (sets full) or memory (sets oom)
 * refuses the bytes; a refused append stores nothing. */
int dyn_add(dynbuf *b, const void *p, size_t n);
int dyn_adds(dynbuf *b, const char *s);
int dyn_addc(dynbuf *b, char c);
int dyn_printf(dynbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int dyn_vprintf(dynbuf *b, const char *fmt, va_list ap);

/* The contents ("" when empty; valid until the next change). */
const char *dyn_str(const dynbuf *b);
size_t dyn_len(const dynbuf *b);
/* Bytes that may still be appended before the cap. */
size_t dyn_room(const dynbuf *b);

/* Empties the buffer (keeps its storage, clears full and oom). */
void dyn_reset(dynbuf *b);
/* Shortens the contents to n bytes (n <= len). */
void dyn_truncate(dynbuf *b, size_t n);

/* Heap storage only: hands the malloc'd string to the caller (never NULL
 * unless out of memory) and leaves the buffer empty. */
char *dyn_take(dynbuf *b);
/* Heap storage only: releases the storage; the buffer is empty again. */
void dyn_free(dynbuf *b);

#endif
