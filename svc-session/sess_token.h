/* sess_token.h: session ids and the HMAC tokens that prove a visitor owns
 * one.
 *
 * A session id is "s_" followed by 22 base64url characters (16 random
 * bytes from getrandom). A token is the id, a dot, and the base64url (no
 * padding) HMAC-SHA256 of the id under SESSION_SECRET: 43 characters. So a
 * token is checked without the database, and nobody can make one for a
 * session they were not given.
 *
 * Pure functions on caller buffers; thread-safe. */
#ifndef SESS_TOKEN_H
#define SESS_TOKEN_H

#include <stddef.h>
#include <stdint.h>

#define SESS_ID_PREFIX "s_"
#define SESS_ID_RANDOM_BYTES 16
#define SESS_ID_LEN 24                       /* "s_" + 22 */
#define SESS_MAC_B64_LEN 43                  /* base64url of 32 bytes */
#define SESS_TOKEN_LEN (SESS_ID_LEN + 1 + SESS_MAC_B64_LEN)
#define SESS_SECRET_MIN 32                   /* bytes of SESSION_SECRET */

/* Base64url without padding of in[0..n) into out (NUL-terminated). Returns
 * the length written, or 0 when outlen is too small (needs 4*ceil(n/3)+1). */
size_t sess_b64url_encode(const uint8_t *in, size_t n, char *out, size_t outlen);

/* Fills buf with n bytes from getrandom. Returns 0, or -1 (errno set). */
int sess_random_bytes(void *buf, size_t n);

/* A new random session id. Returns 0, or -1 when no randomness. */
int sess_token_new_id(char out[SESS_ID_LEN + 1]);

/* 1 when s is "s_" + exactly 22 base64url characters, else 0. */
int sess_token_id_valid(const char *s);

/* Writes the token of session id sid under key into out. Returns 0, or -1
 * when sid is not a valid id or HMAC failed. */
int sess_token_sign(const uint8_t *key, size_t keylen, const char *sid, char out[SESS_TOKEN_LEN + 1]);

/* 1 when token is the token of sid under key (compared in constant time),
 * else 0. */
int sess_token_verify(const uint8_t *key, size_t keylen, const char *sid, const char *token);

#endif
