/*
 * utf8.h - UTF-8 validation, repair and cutting.
 *
 * Owns nothing: every function works on caller buffers, and the one that
 * allocates (utf8_sanitize) hands the result to the caller.
 *
 * "Well-formed" follows the Unicode definition (table 3-7): no overlong
 * forms, no surrogates (U+D800..U+DFFF), nothing above U+10FFFF, no
 * sequence cut short.  An ill-formed sequence is replaced by one U+FFFD per
 * maximal ill-formed subpart (the Unicode "best practice"), so "\xE2\x82"
 * at the end of input becomes one U+FFFD and "\xF0\x80" becomes two.
 *
 * Thread-safety: no state; every function may be called from any thread.
 */
#ifndef UTF8_H
#define UTF8_H

#include <stddef.h>
#include <stdint.h>

#define UTF8_REPLACEMENT "\xEF\xBF\xBD" /* U+FFFD */
#define UTF8_REPLACEMENT_LEN 3

/*
 * Copy in[0..len) to a new NUL-terminated string where every ill-formed
 * sequence becomes U+FFFD and NUL bytes are dropped.  On success returns 0,
 * *out is malloc'd and owned by the caller (free()), and *out_len (when
 * out_len is not NULL) is its length.  Returns -1 on OOM or when the worst
 * case output size would overflow size_t; *out is then NULL.
 */
int utf8_sanitize(const char *in, size_t len, char **out, size_t *out_len);

/* 1 when s[0..len) is well-formed UTF-8 and holds no NUL byte, else 0. */
int utf8_valid(const char *s, size_t len);

/*
 * Number of code points in s[0..len).  Exact for well-formed input; for
 * ill-formed input it counts bytes that are not continuation bytes.
 */
size_t utf8_count_chars(const char *s, size_t len);

/*
 * Largest prefix length <= max_bytes of s[0..len) that does not end inside
 * a multi-byte sequence (returns len when len <= max_bytes).  Stray
 * continuation bytes of ill-formed input are treated as one-byte units.
 */
size_t utf8_truncate(const char *s, size_t len, size_t max_bytes);

#define UTF8_BAD 0xFFFFFFFFu /* decoded "code point" of ill-formed input */

/*
 * Decode the sequence at s[0] (len >= 1 bytes available).  Returns the
 * number of bytes consumed (1..4) and sets *cp to the code point, or to
 * UTF8_BAD when those bytes are a maximal ill-formed subpart (to be shown
 * as one U+FFFD).  Returns 0 only when len is 0.
 */
size_t utf8_decode(const char *s, size_t len, uint32_t *cp);

/*
 * Encode cp into buf[0..4) and return the length; surrogates and values
 * above U+10FFFF are encoded as U+FFFD.
 */
size_t utf8_encode(uint32_t cp, char buf[4]);

#endif /* UTF8_H */
