/* fuzz.h: what the libFuzzer targets in tests/fuzz/ share: the entry
 * points' declarations, a check that turns a broken promise of the code
 * under test into a crash libFuzzer reports, and the cutting of an input
 * into lines (several targets read "one field a line").
 *
 * Header-only; each target is one process, one thread. */
#ifndef FUZZ_H
#define FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A documented property of the function under test does not hold. */
#define FUZZ_CHECK(cond, ...)                                                                                          \
    do {                                                                                                               \
        if (!(cond)) {                                                                                                 \
            fprintf(stderr, "fuzz check failed at %s:%d: %s: ", __FILE__, __LINE__, #cond);                            \
            fprintf(stderr, __VA_ARGS__);                                                                              \
            fputc('\n', stderr);                                                                                       \
            abort();                                                                                                   \
        }                                                                                                              \
    } while (0)

/* A NUL-terminated copy of data[0..n) (malloc; the caller frees). */
static inline char *fuzz_cstr(const uint8_t *data, size_t n)
{
    char *s = malloc(n + 1);
    if (s == NULL) {
        abort();
    }
    if (n > 0) {
        memcpy(s, data, n);
    }
    s[n] = '\0';
    return s;
}

/* The next line of *p (n bytes left), without its '\n'; advances past it.
 * The last line is whatever remains. */
static inline const uint8_t *fuzz_line(const uint8_t **p, size_t *n, size_t *len)
{
    const uint8_t *s = *p;
    const uint8_t *nl = *n ? memchr(s, '\n', *n) : NULL;
    *len = nl ? (size_t)(nl - s) : *n;
    size_t step = nl ? *len + 1 : *len;
    *p += step;
    *n -= step;
    return s;
}

#endif
