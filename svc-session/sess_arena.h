/* sess_arena.h: a bump allocator for one reply.
 *
 * A handler builds its protobuf reply (messages, sources, strings) in an
 * arena, sends it, then frees the arena at once. Not thread-safe: one arena
 * belongs to one call. Allocation fails (NULL) past SESS_ARENA_MAX bytes,
 * which bounds what one reply may hold. */
#ifndef SESS_ARENA_H
#define SESS_ARENA_H

#include <stddef.h>

#define SESS_ARENA_MAX (64u << 20)

typedef struct sess_arena_chunk sess_arena_chunk;
typedef struct sess_arena {
    sess_arena_chunk *head;
    size_t total;
} sess_arena;

#define SESS_ARENA_INIT                                                                                                \
    {                                                                                                                  \
        NULL, 0                                                                                                        \
    }

/* Zeroed memory owned by the arena, or NULL. */
void *sess_arena_alloc(sess_arena *a, size_t n);
/* A copy of s[0..n) plus a NUL, or NULL. */
char *sess_arena_strndup(sess_arena *a, const char *s, size_t n);
char *sess_arena_strdup(sess_arena *a, const char *s);
/* Frees everything; the arena may be used again. */
void sess_arena_free(sess_arena *a);

#endif
