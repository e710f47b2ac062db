/* client_ip.h: who the client is, from the TCP peer and the proxy headers.
 *
 * Addresses are parsed strictly (inet_pton), and an IPv4-mapped IPv6 address
 * (::ffff:a.b.c.d) is the IPv4 address it maps, so it matches IPv4 ranges
 * and prints and hashes like one. A CIDR is "ADDR" or "ADDR/PREFIX" with
 * PREFIX 0..32 (IPv4) or 0..128 (IPv6), decimal digits only; anything else
 * (a bad address, a bad or too long prefix, junk after it) is an error, so a
 * typo can never widen a range.
 *
 * The trust decision (client_ip_resolve):
 *   - a peer outside the trusted set is the client; its headers are ignored;
 *   - from a trusted peer, with X-Forwarded-For trusted and present: the
 *     right-most hop that is not itself trusted (a hop that does not parse
 *     ends the walk: the last trusted hop is the client);
 *   - else from a trusted peer: CF-Connecting-IP when it is exactly one
 *     header holding one address;
 *   - else the peer.
 *
 * Owns: a client_ip_cfg is plain memory (no pointers), filled at start and
 * read-only after: safe to read from any thread. Pure functions. */
#ifndef GW_CLIENT_IP_H
#define GW_CLIENT_IP_H

#include <stddef.h>

#define CLIENT_IP_TEXT_MAX 46       /* INET6_ADDRSTRLEN */
#define CLIENT_IP_CIDR_MAX 64       /* longest CIDR text accepted */
#define CLIENT_IP_PROXIES_MAX 256   /* trusted ranges in all (Cloudflare's + TRUSTED_PROXIES) */
#define CLIENT_IP_XFF_HOPS_MAX 32   /* X-Forwarded-For hops examined, right to left */
#define CLIENT_IP_FILE_LINE_MAX 256 /* longest line of a ranges file */

typedef struct ip_addr {
    int family;          /* AF_INET or AF_INET6 */
    unsigned char b[16]; /* network order; IPv4 in b[0..3] */
} ip_addr;

typedef struct cidr {
    ip_addr net; /* host bits cleared */
    unsigned bits;
} cidr;

typedef struct client_ip_cfg {
    cidr proxies[CLIENT_IP_PROXIES_MAX];
    size_t n;
    int trust_xff; /* TRUST_X_FORWARDED_FOR */
} client_ip_cfg;

/* s[0..n): one address, no spaces. 0, or -1 when it is not one. */
int ip_parse(const char *s, size_t n, ip_addr *out);
/* The address as text (IPv4 dotted, IPv6 as inet_ntop writes it). */
void ip_format(const ip_addr *a, char out[CLIENT_IP_TEXT_MAX]);

/* s[0..n): one CIDR. 0, or -1 with the reason in why. */
int cidr_parse(const char *s, size_t n, cidr *out, char *why, size_t whylen);
/* 1 when a is inside c (families must agree after v4-mapped folding). */
int cidr_contains(const cidr *c, const ip_addr *a);

void client_ip_cfg_init(client_ip_cfg *c);
/* Adds a list of CIDRs separated by commas and/or spaces. On error -1 with
 * err starting with var ("TRUSTED_PROXIES: ..."). */
int client_ip_add_list(client_ip_cfg *c, const char *list, const char *var, char *err, size_t errlen);
/* Adds a file of CIDRs, one a line; blank lines and lines starting with '#'
 * are skipped. An unreadable file, a bad line or an empty list is an error
 * naming var, the file and the line. */
int client_ip_add_file(client_ip_cfg *c, const char *path, const char *var, char *err, size_t errlen);

/* 1 when a is inside one of the trusted ranges. */
int client_ip_trusted(const client_ip_cfg *c, const ip_addr *a);

/* The client (see the rules above). cf: the CF-Connecting-IP values
 * (ncf of them); xff: the X-Forwarded-For header values in the order they
 * came (nxff). */
void client_ip_resolve(const client_ip_cfg *c, const ip_addr *peer, const char *const *cf, size_t ncf,
                       const char *const *xff, size_t nxff, ip_addr *out);

#endif
