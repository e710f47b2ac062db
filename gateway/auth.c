/* auth.c: see auth.h. */
#include "auth.h"

#include <arpa/inet.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "client_ip.h"
#include "encode.h"
#include "token.h"

#define AUTH_SECRET_MAX 256
#define AUTH_HEADER_VALUES_MAX 16 /* X-Forwarded-For / CF-Connecting-IP header lines kept (the last ones) */

static unsigned char auth_session_secret[AUTH_SECRET_MAX];
static size_t auth_session_secret_len;
static unsigned char auth_previous_secret[AUTH_SECRET_MAX]; /* SESSION_SECRET_PREVIOUS, during a rotation */
static size_t auth_previous_secret_len;
static unsigned char auth_ip_secret[AUTH_SECRET_MAX];
static size_t auth_ip_secret_len;
static client_ip_cfg auth_clients;

int auth_init(const char *session_secret, const char *ip_hash_secret, const char *trusted_proxies,
              const char *cloudflare_ips_file, int trust_xff, char *err, size_t errlen)
{
    if (session_secret == NULL || strlen(session_secret) < 32 || strlen(session_secret) >= AUTH_SECRET_MAX) {
        snprintf(err, errlen, "SESSION_SECRET: must be 32 to %d characters (the same value as svc-session's)",
                 AUTH_SECRET_MAX - 1);
        return -1;
    }
    auth_session_secret_len = strlen(session_secret);
    memcpy(auth_session_secret, session_secret, auth_session_secret_len);
    if (ip_hash_secret != NULL && ip_hash_secret[0]) {
        auth_ip_secret_len = strlen(ip_hash_secret) < AUTH_SECRET_MAX ? strlen(ip_hash_secret) : AUTH_SECRET_MAX;
        memcpy(auth_ip_secret, ip_hash_secret, auth_ip_secret_len);
    } else {
        auth_ip_secret_len = 32;
        if (enc_random(auth_ip_secret, auth_ip_secret_len) != 0) {
            snprintf(err, errlen, "IP_HASH_SECRET: unset, and the kernel gives no randomness to make one");
            return -1;
        }
    }
    client_ip_cfg_init(&auth_clients);
    auth_clients.trust_xff = trust_xff;
    if (cloudflare_ips_file != NULL &&
        client_ip_add_file(&auth_clients, cloudflare_ips_file, "CLOUDFLARE_IPS_FILE", err, errlen) != 0) {
        return -1;
    }
    if (client_ip_add_list(&auth_clients, trusted_proxies, "TRUSTED_PROXIES", err, errlen) != 0) {
        return -1;
    }
    return 0;
}

int auth_valid_session_id(const char *s)
{
    return token_id_valid(s);
}

int auth_set_previous_secret(const char *previous, char *err, size_t errlen)
{
    auth_previous_secret_len = 0;
    if (previous == NULL || previous[0] == '\0') {
        return 0;
    }
    if (strlen(previous) < 32 || strlen(previous) >= AUTH_SECRET_MAX) {
        snprintf(err, errlen, "SESSION_SECRET_PREVIOUS: must be 32 to %d characters (the secret being retired)",
                 AUTH_SECRET_MAX - 1);
        return -1;
    }
    auth_previous_secret_len = strlen(previous);
    memcpy(auth_previous_secret, previous, auth_previous_secret_len);
    return 0;
}

int auth_check_token(const char *token, char *sid)
{
    return token_check(auth_session_secret, auth_session_secret_len, token, sid) ||
           (auth_previous_secret_len > 0 && token_check(auth_previous_secret, auth_previous_secret_len, token, sid));
}

const char *auth_bearer(struct MHD_Connection *conn)
{
    return auth_bearer_value(MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION));
}

const char *auth_bearer_value(const char *h)
{
    if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0) {
        return NULL;
    }
    h += 7;
    while (*h == ' ') {
        h++;
    }
    return *h ? h : NULL;
}

/* The values of one request header, the last AUTH_HEADER_VALUES_MAX kept. */
typedef struct auth_header_values {
    const char *name;
    const char *v[AUTH_HEADER_VALUES_MAX];
    size_t n;   /* kept */
    size_t all; /* seen */
} auth_header_values;

static enum MHD_Result auth_collect(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    (void)kind;
    auth_header_values *h = cls;
    if (key == NULL || strcasecmp(key, h->name) != 0) {
        return MHD_YES;
    }
    if (h->n == AUTH_HEADER_VALUES_MAX) {
        memmove(h->v, h->v + 1, (AUTH_HEADER_VALUES_MAX - 1) * sizeof(h->v[0]));
        h->n--;
    }
    h->v[h->n++] = value ? value : "";
    h->all++;
    return MHD_YES;
}

int auth_peer(struct MHD_Connection *conn, ip_addr *out)
{
    memset(out, 0, sizeof(*out));
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (ci == NULL || ci->client_addr == NULL) {
        return -1;
    }
    if (ci->client_addr->sa_family == AF_INET) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)ci->client_addr;
        out->family = AF_INET;
        memcpy(out->b, &s4->sin_addr, 4);
        return 0;
    }
    if (ci->client_addr->sa_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ci->client_addr;
        char text[CLIENT_IP_TEXT_MAX];
        inet_ntop(AF_INET6, &s6->sin6_addr, text, sizeof(text));
        return ip_parse(text, strlen(text), out); /* folds ::ffff:a.b.c.d */
    }
    return -1;
}

int auth_peer_trusted(struct MHD_Connection *conn)
{
    ip_addr peer;
    return auth_peer(conn, &peer) == 0 && client_ip_trusted(&auth_clients, &peer);
}

void auth_client_ip(struct MHD_Connection *conn, ip_addr *out)
{
    ip_addr peer;
    if (auth_peer(conn, &peer) != 0) {
        *out = peer; /* family 0: no address; every such client shares one hash and one bucket */
        return;
    }
    if (!client_ip_trusted(&auth_clients, &peer)) {
        *out = peer; /* the headers are not even read */
        return;
    }
    auth_header_values cf = {.name = "CF-Connecting-IP"}, xff = {.name = "X-Forwarded-For"};
    MHD_get_connection_values(conn, MHD_HEADER_KIND, auth_collect, &cf);
    if (auth_clients.trust_xff) {
        MHD_get_connection_values(conn, MHD_HEADER_KIND, auth_collect, &xff);
    }
    /* Two CF-Connecting-IP lines are ambiguous: neither is believed. */
    client_ip_resolve(&auth_clients, &peer, cf.v, cf.all == 1 ? 1 : 0, xff.v, xff.n, out);
}

void auth_client_hash(const ip_addr *a, char out[AUTH_IP_HASH_LEN + 1])
{
    char text[CLIENT_IP_TEXT_MAX];
    ip_format(a, text);
    auth_ip_hash(text, out);
}

void auth_ip_hash(const char *ip, char out[AUTH_IP_HASH_LEN + 1])
{
    unsigned char mac[32];
    unsigned int maclen = 0;
    HMAC(EVP_sha256(), auth_ip_secret, (int)auth_ip_secret_len, (const unsigned char *)ip, strlen(ip), mac, &maclen);
    enc_hex(mac, AUTH_IP_HASH_LEN / 2, out, AUTH_IP_HASH_LEN + 1);
}

void auth_new_id(const char *prefix, char *out, size_t len)
{
    unsigned char raw[16] = {0};
    (void)enc_random(raw, sizeof(raw)); /* after boot getrandom does not fail */
    char b[ENC_B64URL_SIZE(sizeof(raw))];
    enc_b64url(raw, sizeof(raw), b, sizeof(b));
    snprintf(out, len, "%s%s", prefix, b);
}
