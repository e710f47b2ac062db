/* json_shape.h: the shape of a JSON text (nesting depth, object members)
 * counted before it is parsed, because jansson has no depth or size option
 * and every body the gateway reads is a small flat object.
 *
 * Only structure outside strings counts; escapes inside strings are
 * skipped. The text need not be valid JSON (the parser says so later).
 *
 * Owns nothing. Pure: any thread. */
#ifndef GW_JSON_SHAPE_H
#define GW_JSON_SHAPE_H

#include <stddef.h>

#define JSON_SHAPE_DEPTH_MAX 8 /* nested objects/arrays in a request body */
#define JSON_SHAPE_KEYS_MAX 64 /* object members in a request body, all levels */

typedef enum { JSON_SHAPE_OK = 0, JSON_SHAPE_TOO_DEEP, JSON_SHAPE_TOO_MANY_KEYS } json_shape_status;

typedef struct json_shape {
    unsigned depth; /* deepest nesting seen (stops counting past max_depth) */
    unsigned keys;  /* object members seen (stops counting past max_keys) */
} json_shape;

/* Scans s[0..len): JSON_SHAPE_TOO_DEEP once nesting passes max_depth,
 * JSON_SHAPE_TOO_MANY_KEYS once members pass max_keys, else OK. out (may
 * be NULL) gets the counts so far. */
json_shape_status json_shape_check(const char *s, size_t len, unsigned max_depth, unsigned max_keys, json_shape *out);

#endif
