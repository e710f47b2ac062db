/* auth.h: who is asking. Session tokens (checked here with SESSION_SECRET,
 * with lib/token.c, so a forged token never reaches a service), the client IP
 * (the rules are client_ip.h's: CF-Connecting-IP and, when configured,
 * X-Forwarded-For believed only from a trusted proxy) and its HMAC, the only
 * form of an IP the system keeps or logs. Pure functions plus a read-only
 * configuration: safe on any thread after auth_init. */
#ifndef GW_AUTH_H
#define GW_AUTH_H

#include <microhttpd.h>
#include <stddef.h>

#include "client_ip.h"
#include "token.h"

#define AUTH_SESSION_ID_LEN TOKEN_ID_LEN /* "s_" + 22 base64url */
#define AUTH_TOKEN_LEN TOKEN_LEN
#define AUTH_IP_MAX CLIENT_IP_TEXT_MAX
#define AUTH_IP_HASH_LEN 32 /* hex chars kept */

/* trusted_proxies: TRUSTED_PROXIES (NULL = none); cloudflare_ips_file: the
 * file of Cloudflare's ranges to trust (NULL = do not trust Cloudflare);
 * trust_xff: believe X-Forwarded-For from trusted peers. A malformed range
 * is an error naming its variable (start refuses). */
int auth_init(const char *session_secret, const char *ip_hash_secret, const char *trusted_proxies,
              const char *cloudflare_ips_file, int trust_xff, char *err, size_t errlen);

/* 1 when s looks like a session id ("s_" + 22 base64url chars). */
int auth_valid_session_id(const char *s);

/* Verifies a token (under SESSION_SECRET, or SESSION_SECRET_PREVIOUS
 * during a rotation); on success copies its session id into sid (>= 25
 * bytes) and returns 1. */
int auth_check_token(const char *token, char *sid);
/* SESSION_SECRET_PREVIOUS: during a rotation, tokens made under the
 * previous secret are accepted too (none is made with it). NULL or "" =
 * none. 0, or -1 with the reason in err. Call once at start, after
 * auth_init. */
int auth_set_previous_secret(const char *previous, char *err, size_t errlen);

/* The token from "Authorization: Bearer <token>", or NULL. */
const char *auth_bearer(struct MHD_Connection *conn);
/* The token in an Authorization header value ("Bearer" in any case, one
 * space, then spaces skipped), pointing into h; NULL when h is NULL, not a
 * bearer, or the token is empty. */
const char *auth_bearer_value(const char *h);

/* The TCP peer of conn (an IPv4-mapped IPv6 peer as IPv4); -1 when MHD
 * gives none. */
int auth_peer(struct MHD_Connection *conn, ip_addr *out);
/* 1 when the TCP peer of conn is in a trusted range (its proxy headers are
 * believed). */
int auth_peer_trusted(struct MHD_Connection *conn);
/* The client of conn: the peer, or what a trusted proxy says it is
 * (client_ip_resolve). */
void auth_client_ip(struct MHD_Connection *conn, ip_addr *out);
/* auth_ip_hash of the address as text. */
void auth_client_hash(const ip_addr *a, char out[AUTH_IP_HASH_LEN + 1]);

/* HMAC-SHA256(IP_HASH_SECRET, ip) as 32 hex chars. */
void auth_ip_hash(const char *ip, char out[AUTH_IP_HASH_LEN + 1]);

/* A new random id with a prefix ("t_" + 22 base64url chars). */
void auth_new_id(const char *prefix, char *out, size_t len);

#endif
