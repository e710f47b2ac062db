/* auth.c: see auth.h. */
#include "auth.h"

#include <arpa/inet.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config.h"
#include "encode.h"
#include "token.h"

#define AUTH_SECRET_MAX 256
#define AUTH_PROXIES_MAX 64

typedef struct cidr {
    int family;
    unsigned char addr[16];
    unsigned bits;
} cidr;

static unsigned char auth_session_secret[AUTH_SECRET_MAX];
static size_t auth_session_secret_len;
static unsigned char auth_ip_secret[AUTH_SECRET_MAX];
static size_t auth_ip_secret_len;
static cidr auth_proxies[AUTH_PROXIES_MAX];
static size_t auth_nproxies;

/* Cloudflare's published ranges (docs/internals/external-formats.md §5). */
static const char *const auth_cloudflare[] = {
    "173.245.48.0/20", "103.21.244.0/22", "103.22.200.0/22",  "103.31.4.0/22",   "141.101.64.0/18", "108.162.192.0/18",
    "190.93.240.0/20", "188.114.96.0/20", "197.234.240.0/22", "198.41.128.0/17", "162.158.0.0/15",  "104.16.0.0/13",
    "104.24.0.0/14",   "172.64.0.0/13",   "131.0.72.0/22",    "2400:cb00::/32",  "2606:4700::/32",  "2803:f800::/32",
    "2405:b500::/32",  "2405:8100::/32",  "2a06:98c0::/29",   "2c0f:f248::/32",
};

static int cidr_parse(const char *s, cidr *out)
{
    char buf[64];
    snprintf(buf, sizeof(buf), "%s", s);
    char *slash = strchr(buf, '/');
    if (slash) {
        *slash = '\0';
    }
    memset(out, 0, sizeof(*out));
    if (inet_pton(AF_INET, buf, out->addr) == 1) {
        out->family = AF_INET;
        out->bits = slash ? (unsigned)atoi(slash + 1) : 32;
        return out->bits <= 32 ? 0 : -1;
    }
    if (inet_pton(AF_INET6, buf, out->addr) == 1) {
        out->family = AF_INET6;
        out->bits = slash ? (unsigned)atoi(slash + 1) : 128;
        return out->bits <= 128 ? 0 : -1;
    }
    return -1;
}

static int cidr_match(const cidr *c, int family, const unsigned char *addr)
{
    if (c->family != family) {
        return 0;
    }
    unsigned full = c->bits / 8, rest = c->bits % 8;
    if (memcmp(c->addr, addr, full) != 0) {
        return 0;
    }
    if (rest == 0) {
        return 1;
    }
    unsigned char mask = (unsigned char)(0xff << (8 - rest));
    return (c->addr[full] & mask) == (addr[full] & mask);
}

int auth_init(const char *session_secret, const char *ip_hash_secret, const char *trusted_proxies, int trust_cloudflare,
              char *err, size_t errlen)
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
    auth_nproxies = 0;
    if (trust_cloudflare) {
        for (size_t i = 0; i < sizeof(auth_cloudflare) / sizeof(auth_cloudflare[0]); i++) {
            cidr_parse(auth_cloudflare[i], &auth_proxies[auth_nproxies++]);
        }
    }
    const char *list = trusted_proxies, *p;
    size_t n;
    while ((p = cfg_list_next(&list, &n)) != NULL) {
        char one[64];
        snprintf(one, sizeof(one), "%.*s", (int)(n < 63 ? n : 63), p);
        if (auth_nproxies >= AUTH_PROXIES_MAX || cidr_parse(one, &auth_proxies[auth_nproxies]) != 0) {
            snprintf(err, errlen, "TRUSTED_PROXIES: \"%s\" is not an IP address or CIDR range", one);
            return -1;
        }
        auth_nproxies++;
    }
    return 0;
}

int auth_valid_session_id(const char *s)
{
    return token_id_valid(s);
}

int auth_check_token(const char *token, char *sid)
{
    return token_check(auth_session_secret, auth_session_secret_len, token, sid);
}

const char *auth_bearer(struct MHD_Connection *conn)
{
    const char *h = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0) {
        return NULL;
    }
    h += 7;
    while (*h == ' ') {
        h++;
    }
    return *h ? h : NULL;
}

void auth_client_ip(struct MHD_Connection *conn, char ip[AUTH_IP_MAX])
{
    ip[0] = '\0';
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    int family = 0;
    unsigned char addr[16];
    if (ci != NULL && ci->client_addr != NULL) {
        if (ci->client_addr->sa_family == AF_INET) {
            const struct sockaddr_in *s4 = (const struct sockaddr_in *)ci->client_addr;
            memcpy(addr, &s4->sin_addr, 4);
            family = AF_INET;
            inet_ntop(AF_INET, &s4->sin_addr, ip, AUTH_IP_MAX);
        } else if (ci->client_addr->sa_family == AF_INET6) {
            const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ci->client_addr;
            memcpy(addr, &s6->sin6_addr, 16);
            family = AF_INET6;
            inet_ntop(AF_INET6, &s6->sin6_addr, ip, AUTH_IP_MAX);
        }
    }
    int trusted = 0;
    for (size_t i = 0; family && i < auth_nproxies && !trusted; i++) {
        trusted = cidr_match(&auth_proxies[i], family, addr);
    }
    if (trusted) {
        const char *cf = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "CF-Connecting-IP");
        unsigned char tmp[16];
        if (cf != NULL && (inet_pton(AF_INET, cf, tmp) == 1 || inet_pton(AF_INET6, cf, tmp) == 1)) {
            snprintf(ip, AUTH_IP_MAX, "%s", cf);
        }
    }
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
