/* encode.h: bytes as text (lowercase hex, base64url without padding) and
 * bytes from the kernel's random source.
 *
 * Owns nothing: every function writes into a caller buffer. No state; safe
 * on any thread. */
#ifndef ENCODE_H
#define ENCODE_H

#include <stddef.h>

/* Buffer sizes, terminating NUL included. */
#define ENC_HEX_SIZE(n) (2 * (n) + 1)
#define ENC_B64URL_SIZE(n) (((n) / 3) * 4 + ((n) % 3 == 0 ? 0 : (n) % 3 + 1) + 1)

/* Lowercase hex of in[0..n) into out (NUL-terminated). Returns the length
 * written (2n), or 0 when outlen < 2n + 1 (out is then "" if outlen > 0). */
size_t enc_hex(const void *in, size_t n, char *out, size_t outlen);

/* Base64url (RFC 4648 section 5) without padding of in[0..n) into out
 * (NUL-terminated). Returns the length written, or 0 when outlen is too small
 * (it needs ENC_B64URL_SIZE(n)). */
size_t enc_b64url(const void *in, size_t n, char *out, size_t outlen);

/* 1 when c is one of the 64 base64url characters, else 0. */
int enc_b64url_char(int c);

/* Fills buf with n bytes from getrandom(2), retrying short reads and EINTR.
 * Returns 0, or -1 (errno set) when the kernel gives no randomness. */
int enc_random(void *buf, size_t n);

#endif
