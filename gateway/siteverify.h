/* siteverify.h: Cloudflare Turnstile's Siteverify API as a wire format
 * (docs/internals/external-formats.md §6): the request body the gateway
 * sends and the verdict read from the reply. No I/O here; turnstile.c does
 * the call.
 *
 * Owns nothing: the request body is malloc'd for the caller, the reply is
 * read into caller memory. Pure functions: any thread. */
#ifndef GW_SITEVERIFY_H
#define GW_SITEVERIFY_H

#include <stddef.h>

#define SV_TOKEN_MAX 2048   /* Cloudflare's longest widget token */
#define SV_UUID_LEN 36      /* an idempotency_key, 8-4-4-4-12 hex */
#define SV_CODES_MAX 256    /* the reply's error-codes, joined with "," */
#define SV_HOSTNAME_MAX 256 /* the reply's hostname, longer ones are cut */
#define SV_REPLY_MAX 8192   /* a larger reply body is not Siteverify's */

typedef enum {
    SV_PASS,      /* success: true (and the hostname expected) */
    SV_FAIL,      /* the token was refused: the visitor's problem */
    SV_RETRY,     /* Cloudflare's own trouble ("internal-error"): ask again with the same idempotency_key */
    SV_BAD_SETUP, /* the secret is missing or refused: the operator's problem */
    SV_GARBLED,   /* not a Siteverify reply */
} sv_verdict;

typedef struct sv_reply {
    int success;
    char codes[SV_CODES_MAX];       /* "invalid-input-response,..." ("" when none) */
    char hostname[SV_HOSTNAME_MAX]; /* "" when absent */
} sv_reply;

/* The JSON request body {"secret","response","remoteip","idempotency_key"};
 * remoteip may be NULL or "" (then left out). malloc'd; NULL when out of
 * memory. */
char *sv_request_body(const char *secret, const char *response, const char *remoteip, const char *idempotency_key);

/* Reads a reply body. expected_hosts: TURNSTILE_EXPECTED_HOSTNAME (a
 * comma/space-separated list, compared case-insensitively; NULL or "" =
 * any). A success whose hostname is not listed is SV_FAIL with code
 * "hostname-mismatch" added to out->codes. */
sv_verdict sv_reply_parse(const char *body, size_t len, const char *expected_hosts, sv_reply *out);

/* A random (version 4) UUID as text, SV_UUID_LEN chars + NUL; -1 when the
 * kernel gives no randomness. */
int sv_uuid4(char out[SV_UUID_LEN + 1]);

/* 1 when a widget token is plausible before any call: 1..SV_TOKEN_MAX
 * printable ASCII characters. */
int sv_token_plausible(const char *token);

#endif
