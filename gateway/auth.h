/* auth.h: who is asking. Session tokens (checked here with SESSION_SECRET,
 * with lib/token.c, so a forged token never reaches a service), the client IP (CF-Connecting-IP
 * believed only from a trusted proxy) and its HMAC, the only form of an IP
 * the system keeps. Pure functions plus a read-only configuration: safe on
 * any thread after auth_init. */
#ifndef GW_AUTH_H
#define GW_AUTH_H

#include <microhttpd.h>
#include <stddef.h>

#include "token.h"

#define AUTH_SESSION_ID_LEN TOKEN_ID_LEN /* "s_" + 22 base64url */
#define AUTH_TOKEN_LEN TOKEN_LEN
#define AUTH_IP_MAX 46
#define AUTH_IP_HASH_LEN 32 /* hex chars kept */

int auth_init(const char *session_secret, const char *ip_hash_secret, const char *trusted_proxies, int trust_cloudflare,
              char *err, size_t errlen);

/* 1 when s looks like a session id ("s_" + 22 base64url chars). */
int auth_valid_session_id(const char *s);

/* Verifies a token; on success copies its session id into sid (>= 25
 * bytes) and returns 1. */
int auth_check_token(const char *token, char *sid);

/* The token from "Authorization: Bearer <token>", or NULL. */
const char *auth_bearer(struct MHD_Connection *conn);

/* The client's IP as text: the socket peer, or CF-Connecting-IP when the
 * peer is a trusted proxy. */
void auth_client_ip(struct MHD_Connection *conn, char ip[AUTH_IP_MAX]);

/* HMAC-SHA256(IP_HASH_SECRET, ip) as 32 hex chars. */
void auth_ip_hash(const char *ip, char out[AUTH_IP_HASH_LEN + 1]);

/* A new random id with a prefix ("t_" + 22 base64url chars). */
void auth_new_id(const char *prefix, char *out, size_t len);

#endif
