/* token.h: session ids and the HMAC tokens that prove a visitor owns one.
 * The one implementation of the format: svc-session mints tokens with it and
 * the gateway checks them with it, so the two can never drift apart.
 *
 * A session id is "s_" followed by 22 base64url characters (16 random bytes
 * from getrandom). A token is the id, a dot, and the base64url (no padding)
 * HMAC-SHA256 of the id under SESSION_SECRET: 43 characters. So a token is
 * checked without the database, and nobody can make one for a session they
 * were not given.
 *
 * Owns nothing: pure functions on caller buffers; thread-safe. */
#ifndef TOKEN_H
#define TOKEN_H

#include <stddef.h>
#include <stdint.h>

#define TOKEN_ID_PREFIX "s_"
#define TOKEN_ID_RANDOM_BYTES 16
#define TOKEN_ID_LEN 24      /* "s_" + 22 */
#define TOKEN_MAC_B64_LEN 43 /* base64url of 32 bytes */
#define TOKEN_LEN (TOKEN_ID_LEN + 1 + TOKEN_MAC_B64_LEN)
#define TOKEN_SECRET_MIN 32 /* bytes of SESSION_SECRET */

/* A new random session id. Returns 0, or -1 when no randomness. */
int token_new_id(char out[TOKEN_ID_LEN + 1]);

/* 1 when s is "s_" + exactly 22 base64url characters, else 0. */
int token_id_valid(const char *s);

/* Writes the token of session id sid under key into out. Returns 0, or -1
 * when sid is not a valid id or HMAC failed. */
int token_sign(const uint8_t *key, size_t keylen, const char *sid, char out[TOKEN_LEN + 1]);

/* 1 when token is the token of sid under key (compared in constant time),
 * else 0. */
int token_verify(const uint8_t *key, size_t keylen, const char *sid, const char *token);

/* 1 when token is a valid token under key of the session id it starts with,
 * which is then copied into sid; else 0 and sid is untouched. */
int token_check(const uint8_t *key, size_t keylen, const char *token, char sid[TOKEN_ID_LEN + 1]);

#endif
