/* sess_arena.c: see sess_arena.h. */
#include "sess_arena.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define SESS_ARENA_CHUNK 8192

struct sess_arena_chunk {
    sess_arena_chunk *next;
    size_t used, cap;
    _Alignas(max_align_t) unsigned char data[];
};

void *sess_arena_alloc(sess_arena *a, size_t n)
{
    n = (n + _Alignof(max_align_t) - 1) & ~(size_t)(_Alignof(max_align_t) - 1);
    if (n > SESS_ARENA_MAX || a->total + n > SESS_ARENA_MAX) {
        return NULL;
    }
    sess_arena_chunk *c = a->head;
    if (c == NULL || c->cap - c->used < n) {
        size_t cap = n > SESS_ARENA_CHUNK ? n : SESS_ARENA_CHUNK;
        c = malloc(sizeof(*c) + cap);
        if (c == NULL) {
            return NULL;
        }
        c->used = 0;
        c->cap = cap;
        c->next = a->head;
        a->head = c;
    }
    void *p = c->data + c->used;
    c->used += n;
    a->total += n;
    memset(p, 0, n);
    return p;
}

char *sess_arena_strndup(sess_arena *a, const char *s, size_t n)
{
    char *p = sess_arena_alloc(a, n + 1);
    if (p != NULL) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

char *sess_arena_strdup(sess_arena *a, const char *s)
{
    return sess_arena_strndup(a, s, strlen(s));
}

void sess_arena_free(sess_arena *a)
{
    sess_arena_chunk *c = a->head;
    while (c != NULL) {
        sess_arena_chunk *next = c->next;
        free(c);
        c = next;
    }
    a->head = NULL;
    a->total = 0;
}
