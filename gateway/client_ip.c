/* client_ip.c: see client_ip.h. */
#include "client_ip.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "config.h"

static const unsigned char v4_mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

int ip_parse(const char *s, size_t n, ip_addr *out)
{
    char buf[CLIENT_IP_TEXT_MAX];
    if (n == 0 || n >= sizeof(buf) || memchr(s, '\0', n) != NULL) {
        return -1;
    }
    memcpy(buf, s, n);
    buf[n] = '\0';
    memset(out, 0, sizeof(*out));
    if (inet_pton(AF_INET, buf, out->b) == 1) {
        out->family = AF_INET;
        return 0;
    }
    if (inet_pton(AF_INET6, buf, out->b) != 1) {
        return -1;
    }
    out->family = AF_INET6;
    if (memcmp(out->b, v4_mapped_prefix, sizeof(v4_mapped_prefix)) == 0) {
        memmove(out->b, out->b + 12, 4);
        memset(out->b + 4, 0, 12);
        out->family = AF_INET;
    }
    return 0;
}

void ip_format(const ip_addr *a, char out[CLIENT_IP_TEXT_MAX])
{
    out[0] = '\0';
    if (a->family == AF_INET || a->family == AF_INET6) {
        inet_ntop(a->family, a->b, out, CLIENT_IP_TEXT_MAX);
    }
}

/* Clears the bits after the first `bits`. */
static void ip_mask(unsigned char *b, size_t len, unsigned bits)
{
    for (size_t i = 0; i < len; i++) {
        if (bits >= 8) {
            bits -= 8;
        } else {
            b[i] &= (unsigned char)(0xff << (8 - bits));
            bits = 0;
        }
    }
}

int cidr_parse(const char *s, size_t n, cidr *out, char *why, size_t whylen)
{
    memset(out, 0, sizeof(*out));
    if (n == 0 || n > CLIENT_IP_CIDR_MAX) {
        snprintf(why, whylen, "empty or longer than %d characters", CLIENT_IP_CIDR_MAX);
        return -1;
    }
    const char *slash = memchr(s, '/', n);
    size_t alen = slash ? (size_t)(slash - s) : n;
    /* Whether the text was IPv6 decides the prefix range, also for a
     * v4-mapped address (folded to IPv4 by ip_parse). */
    int v6_text = memchr(s, ':', alen) != NULL;
    if (ip_parse(s, alen, &out->net) != 0) {
        snprintf(why, whylen, "\"%.*s\" is not an IPv4 or IPv6 address", (int)alen, s);
        return -1;
    }
    unsigned max = v6_text ? 128 : 32;
    unsigned bits = max;
    if (slash != NULL) {
        const char *p = slash + 1, *end = s + n;
        if (p == end || end - p > 3) {
            snprintf(why, whylen, "the prefix after '/' must be a number 0..%u", max);
            return -1;
        }
        bits = 0;
        for (; p < end; p++) {
            if (*p < '0' || *p > '9') {
                snprintf(why, whylen, "the prefix after '/' must be a number 0..%u", max);
                return -1;
            }
            bits = bits * 10 + (unsigned)(*p - '0');
        }
        if (bits > max) {
            snprintf(why, whylen, "the prefix /%u is longer than %u bits", bits, max);
            return -1;
        }
    }
    if (v6_text && out->net.family == AF_INET) { /* ::ffff:a.b.c.d/N */
        if (bits < 96) {
            snprintf(why, whylen, "an IPv4-mapped range needs a prefix of /96 or more");
            return -1;
        }
        bits -= 96;
    }
    out->bits = bits;
    ip_mask(out->net.b, out->net.family == AF_INET ? 4 : 16, bits);
    return 0;
}

int cidr_contains(const cidr *c, const ip_addr *a)
{
    if (c->net.family != a->family) {
        return 0;
    }
    unsigned full = c->bits / 8, rest = c->bits % 8;
    if (memcmp(c->net.b, a->b, full) != 0) {
        return 0;
    }
    if (rest == 0) {
        return 1;
    }
    unsigned char mask = (unsigned char)(0xff << (8 - rest));
    return (c->net.b[full] & mask) == (a->b[full] & mask);
}

void client_ip_cfg_init(client_ip_cfg *c)
{
    memset(c, 0, sizeof(*c));
}

static int client_ip_add(client_ip_cfg *c, const char *s, size_t n, const char *var, const char *where, char *err,
                         size_t errlen)
{
    char why[128];
    if (c->n >= CLIENT_IP_PROXIES_MAX) {
        snprintf(err, errlen, "%s: more than %d trusted ranges in all%s", var, CLIENT_IP_PROXIES_MAX, where);
        return -1;
    }
    if (cidr_parse(s, n, &c->proxies[c->n], why, sizeof(why)) != 0) {
        snprintf(err, errlen, "%s: \"%.*s\" is not an IP address or CIDR range (%s)%s", var,
                 (int)(n < CLIENT_IP_CIDR_MAX ? n : CLIENT_IP_CIDR_MAX), s, why, where);
        return -1;
    }
    c->n++;
    return 0;
}

int client_ip_add_list(client_ip_cfg *c, const char *list, const char *var, char *err, size_t errlen)
{
    const char *p;
    size_t n;
    while ((p = cfg_list_next(&list, &n)) != NULL) {
        if (client_ip_add(c, p, n, var, "", err, errlen) != 0) {
            return -1;
        }
    }
    return 0;
}

int client_ip_add_file(client_ip_cfg *c, const char *path, const char *var, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        snprintf(err, errlen, "%s: cannot read \"%s\": %s", var, path, strerror(errno));
        return -1;
    }
    char line[CLIENT_IP_FILE_LINE_MAX], where[CLIENT_IP_FILE_LINE_MAX + 64];
    unsigned lineno = 0;
    size_t added = 0;
    int rc = 0;
    while (rc == 0 && fgets(line, sizeof(line), f) != NULL) {
        lineno++;
        size_t len = strlen(line);
        if (len == sizeof(line) - 1 && line[len - 1] != '\n' && !feof(f)) {
            snprintf(err, errlen, "%s: \"%s\" line %u is longer than %d characters", var, path, lineno,
                     CLIENT_IP_FILE_LINE_MAX - 2);
            rc = -1;
            break;
        }
        const char *s = line;
        while (*s == ' ' || *s == '\t') {
            s++;
        }
        len = strlen(s);
        while (len > 0 && (s[len - 1] == '\n' || s[len - 1] == '\r' || s[len - 1] == ' ' || s[len - 1] == '\t')) {
            len--;
        }
        if (len == 0 || s[0] == '#') {
            continue;
        }
        snprintf(where, sizeof(where), " in \"%s\" line %u", path, lineno);
        rc = client_ip_add(c, s, len, var, where, err, errlen);
        added += rc == 0;
    }
    if (rc == 0 && ferror(f)) {
        snprintf(err, errlen, "%s: cannot read \"%s\"", var, path);
        rc = -1;
    }
    fclose(f);
    if (rc == 0 && added == 0) {
        snprintf(err, errlen, "%s: \"%s\" lists no ranges", var, path);
        rc = -1;
    }
    return rc;
}

int client_ip_trusted(const client_ip_cfg *c, const ip_addr *a)
{
    for (size_t i = 0; i < c->n; i++) {
        if (cidr_contains(&c->proxies[i], a)) {
            return 1;
        }
    }
    return 0;
}

/* s[*start..*end) without surrounding spaces and tabs. */
static void trim(const char *s, size_t *start, size_t *end)
{
    while (*start < *end && (s[*start] == ' ' || s[*start] == '\t')) {
        (*start)++;
    }
    while (*end > *start && (s[*end - 1] == ' ' || s[*end - 1] == '\t')) {
        (*end)--;
    }
}

/* X-Forwarded-For right to left: 1 with the first untrusted hop in out, or
 * 0 with the last trusted hop (or the peer) in out. */
static int client_ip_xff(const client_ip_cfg *c, const char *const *xff, size_t nxff, ip_addr *out)
{
    size_t hops = 0;
    for (size_t i = nxff; i-- > 0;) {
        const char *v = xff[i] ? xff[i] : "";
        size_t end = strlen(v);
        for (;;) {
            size_t start = end;
            while (start > 0 && v[start - 1] != ',') {
                start--;
            }
            size_t a = start, b = end;
            trim(v, &a, &b);
            if (a < b) {
                ip_addr hop;
                if (++hops > CLIENT_IP_XFF_HOPS_MAX || ip_parse(v + a, b - a, &hop) != 0) {
                    return 0;
                }
                if (!client_ip_trusted(c, &hop)) {
                    *out = hop;
                    return 1;
                }
                *out = hop;
            }
            if (start == 0) {
                break;
            }
            end = start - 1;
        }
    }
    return 0;
}

void client_ip_resolve(const client_ip_cfg *c, const ip_addr *peer, const char *const *cf, size_t ncf,
                       const char *const *xff, size_t nxff, ip_addr *out)
{
    *out = *peer;
    if (!client_ip_trusted(c, peer)) {
        return;
    }
    if (c->trust_xff && nxff > 0) {
        client_ip_xff(c, xff, nxff, out);
        return;
    }
    if (ncf == 1 && cf[0] != NULL) {
        size_t a = 0, b = strlen(cf[0]);
        trim(cf[0], &a, &b);
        ip_addr v;
        if (ip_parse(cf[0] + a, b - a, &v) == 0) {
            *out = v;
        }
    }
}
