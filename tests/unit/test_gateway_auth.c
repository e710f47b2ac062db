/* test_gateway_auth.c: the client identity rules (gateway/client_ip.c) and
 * their configuration in auth_init: strict CIDRs (a typo never widens a
 * range), IPv4/IPv6/v4-mapped matching, headers believed only from trusted
 * peers, X-Forwarded-For's right-most untrusted hop. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "auth.h"
#include "client_ip.h"

#define SECRET "unit-test-secret-0123456789abcdefghij"

static cidr parse_ok(const char *s)
{
    cidr c;
    char why[128] = "";
    cr_assert_eq(cidr_parse(s, strlen(s), &c, why, sizeof(why)), 0, "%s: %s", s, why);
    return c;
}

static ip_addr ip(const char *s)
{
    ip_addr a;
    cr_assert_eq(ip_parse(s, strlen(s), &a), 0, "%s", s);
    return a;
}

static const char *resolved(const client_ip_cfg *c, const char *peer, const char *cf, const char *xff)
{
    static char out[CLIENT_IP_TEXT_MAX];
    ip_addr p = ip(peer), r;
    const char *cfv[1] = {cf}, *xffv[1] = {xff};
    client_ip_resolve(c, &p, cfv, cf ? 1 : 0, xffv, xff ? 1 : 0, &r);
    ip_format(&r, out);
    return out;
}

static void cfg_with(client_ip_cfg *c, const char *list, int xff)
{
    char err[256] = "";
    client_ip_cfg_init(c);
    c->trust_xff = xff;
    cr_assert_eq(client_ip_add_list(c, list, "TRUSTED_PROXIES", err, sizeof(err)), 0, "%s", err);
}

Test(gateway_auth, good_cidrs_parse_with_their_prefix)
{
    cr_expect_eq(parse_ok("10.0.0.0/8").bits, 8);
    cr_expect_eq(parse_ok("10.1.2.3").bits, 32);
    cr_expect_eq(parse_ok("0.0.0.0/0").bits, 0);
    cr_expect_eq(parse_ok("192.168.1.7/32").bits, 32);
    cr_expect_eq(parse_ok("2400:cb00::/32").bits, 32);
    cr_expect_eq(parse_ok("::1").bits, 128);
    cr_expect_eq(parse_ok("2001:db8::/128").bits, 128);
    cidr m = parse_ok("::ffff:10.0.0.0/104"); /* v4-mapped: an IPv4 /8 */
    cr_expect_eq(m.net.family, AF_INET);
    cr_expect_eq(m.bits, 8);
    cidr h = parse_ok("10.9.8.7/8"); /* host bits are cleared */
    cr_expect_eq(h.net.b[1], 0);
    cr_expect_eq(h.net.b[3], 0);
}

/* The bug this replaces: the prefix was read with atoi, so "10.0.0.0/x"
 * became /0 and trusted every peer, and "/8junk" was /8. */
Test(gateway_auth, malformed_cidrs_are_refused_not_widened)
{
    static const char *const bad[] = {
        "10.0.0.0/x",
        "10.0.0.0/",
        "10.0.0.0/33",
        "10.0.0.0/8junk",
        "10.0.0.0/ 8",
        "10.0.0.0/-1",
        "10.0.0.0/+8",
        "10.0.0.0/08x",
        "10.0.0.0/1000",
        "10.0.0.300/8",
        "10.0.0/8",
        "/8",
        "",
        "2001:db8::/129",
        "2001:db8::/64/1",
        "2001:db8:::/64",
        "::ffff:10.0.0.0/80",
        "fe80::1%eth0/64",
        "10.0.0.0/8 ",
        "localhost",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cidr c;
        char why[128] = "";
        cr_expect_eq(cidr_parse(bad[i], strlen(bad[i]), &c, why, sizeof(why)), -1, "\"%s\" was accepted", bad[i]);
        cr_expect(why[0] != '\0', "\"%s\" has no reason", bad[i]);
    }
}

Test(gateway_auth, a_bad_trusted_proxy_stops_auth_init_naming_the_variable)
{
    static const char *const bad[] = {"10.0.0.0/x", "127.0.0.1/32, 10.0.0.0/33", "10.0.0.0/8junk", "nonsense"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char err[512] = "";
        cr_expect_eq(auth_init(SECRET, "k", bad[i], NULL, 0, err, sizeof(err)), -1, "%s", bad[i]);
        cr_expect(strncmp(err, "TRUSTED_PROXIES: ", 17) == 0, "%s", err);
    }
    char err[512] = "";
    cr_expect_eq(auth_init(SECRET, "k", "127.0.0.1/32, 10.0.0.0/8 2001:db8::/32", NULL, 0, err, sizeof(err)), 0, "%s",
                 err);
}

Test(gateway_auth, the_cloudflare_file_is_read_and_checked)
{
    char err[512] = "";
    cr_assert_eq(auth_init(SECRET, "k", "", "deploy/cloudflare/ips.txt", 0, err, sizeof(err)), 0, "%s", err);
    cr_expect_eq(auth_init(SECRET, "k", "", "/nonexistent/ips.txt", 0, err, sizeof(err)), -1);
    cr_expect(strstr(err, "CLOUDFLARE_IPS_FILE") == err, "%s", err);
    char path[] = "/tmp/test-cf-ips.XXXXXX";
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fputs("# comment\n\n173.245.48.0/20\n2400:cb00::/32\n103.21.244.0/2x\n", f);
    fclose(f);
    cr_expect_eq(auth_init(SECRET, "k", "", path, 0, err, sizeof(err)), -1);
    cr_expect(strstr(err, "CLOUDFLARE_IPS_FILE") == err && strstr(err, "line 5") != NULL, "%s", err);
    f = fopen(path, "w");
    fputs("# only comments\n", f);
    fclose(f);
    cr_expect_eq(auth_init(SECRET, "k", "", path, 0, err, sizeof(err)), -1);
    cr_expect(strstr(err, "no ranges") != NULL, "%s", err);
    unlink(path);
}

Test(gateway_auth, matching_ipv4_ipv6_and_v4_mapped)
{
    cidr v4 = parse_ok("173.245.48.0/20"), v6 = parse_ok("2400:cb00::/32"), one = parse_ok("127.0.0.1/32");
    ip_addr a = ip("173.245.63.255"), b = ip("173.245.64.0");
    cr_expect(cidr_contains(&v4, &a));
    cr_expect(!cidr_contains(&v4, &b));
    ip_addr mapped = ip("::ffff:173.245.48.1");
    cr_expect_eq(mapped.family, AF_INET);
    cr_expect(cidr_contains(&v4, &mapped), "a v4-mapped peer matches the IPv4 range");
    cr_expect(cidr_contains(&one, &(ip_addr){0}) == 0);
    ip_addr in6 = ip("2400:cb00:1234::1"), out6 = ip("2400:cb01::1");
    cr_expect(cidr_contains(&v6, &in6));
    cr_expect(!cidr_contains(&v6, &out6));
    cr_expect(!cidr_contains(&v6, &a), "families never cross");
    cr_expect(!cidr_contains(&v4, &in6));
    cidr all = parse_ok("0.0.0.0/0");
    cr_expect(cidr_contains(&all, &a));
    cr_expect(!cidr_contains(&all, &in6));
    char text[CLIENT_IP_TEXT_MAX];
    ip_format(&mapped, text);
    cr_expect_str_eq(text, "173.245.48.1", "a v4-mapped address prints (and hashes) as IPv4");
}

Test(gateway_auth, cf_connecting_ip_only_from_trusted_peers)
{
    client_ip_cfg c;
    cfg_with(&c, "10.0.0.0/8, 2001:db8::/32", 0);
    cr_expect_str_eq(resolved(&c, "203.0.113.9", "198.51.100.1", NULL), "203.0.113.9", "untrusted peer: ignored");
    cr_expect_str_eq(resolved(&c, "10.1.2.3", "198.51.100.1", NULL), "198.51.100.1", "trusted peer: believed");
    cr_expect_str_eq(resolved(&c, "2001:db8::5", "2a00:1450::1", NULL), "2a00:1450::1");
    cr_expect_str_eq(resolved(&c, "::ffff:10.0.0.1", " 198.51.100.2 ", NULL), "198.51.100.2");
    cr_expect_str_eq(resolved(&c, "10.1.2.3", "not-an-ip", NULL), "10.1.2.3", "junk header: the peer");
    cr_expect_str_eq(resolved(&c, "10.1.2.3", "1.2.3.4, 5.6.7.8", NULL), "10.1.2.3", "a list is not one address");
    cr_expect_str_eq(resolved(&c, "10.1.2.3", NULL, NULL), "10.1.2.3");
    /* two CF-Connecting-IP headers: ambiguous, neither believed (auth.c
     * passes ncf = 0 then) */
    ip_addr p = ip("10.1.2.3"), r;
    const char *two[2] = {"1.1.1.1", "2.2.2.2"};
    client_ip_resolve(&c, &p, two, 0, NULL, 0, &r);
    char text[CLIENT_IP_TEXT_MAX];
    ip_format(&r, text);
    cr_expect_str_eq(text, "10.1.2.3");
    /* X-Forwarded-For is ignored unless configured */
    cr_expect_str_eq(resolved(&c, "10.1.2.3", NULL, "198.51.100.7"), "10.1.2.3");
}

Test(gateway_auth, x_forwarded_for_right_most_untrusted_hop)
{
    client_ip_cfg c;
    cfg_with(&c, "10.0.0.0/8", 1);
    cr_expect_str_eq(resolved(&c, "203.0.113.9", NULL, "198.51.100.1"), "203.0.113.9", "untrusted peer: ignored");
    cr_expect_str_eq(resolved(&c, "10.0.0.1", NULL, "198.51.100.1"), "198.51.100.1");
    cr_expect_str_eq(resolved(&c, "10.0.0.1", NULL, "1.1.1.1, 198.51.100.1, 10.0.0.2"), "198.51.100.1",
                     "a spoofed left part is skipped: the right-most untrusted hop");
    cr_expect_str_eq(resolved(&c, "10.0.0.1", NULL, "1.1.1.1,198.51.100.1,10.0.0.2 , 10.0.0.3"), "198.51.100.1");
    cr_expect_str_eq(resolved(&c, "10.0.0.1", NULL, "10.0.0.5, 10.0.0.2"), "10.0.0.5", "all trusted: the left-most");
    cr_expect_str_eq(resolved(&c, "10.0.0.1", NULL, "198.51.100.1, garbage, 10.0.0.2"), "10.0.0.2",
                     "a hop that does not parse ends the walk at the last trusted one");
    cr_expect_str_eq(resolved(&c, "10.0.0.1", NULL, "198.51.100.1:5555"), "10.0.0.1");
    cr_expect_str_eq(resolved(&c, "10.0.0.1", NULL, "::ffff:198.51.100.4"), "198.51.100.4");
    cr_expect_str_eq(resolved(&c, "10.0.0.1", "192.0.2.1", "198.51.100.1"), "198.51.100.1",
                     "X-Forwarded-For wins over CF-Connecting-IP when configured");
    cr_expect_str_eq(resolved(&c, "10.0.0.1", "192.0.2.1", NULL), "192.0.2.1", "no XFF: CF-Connecting-IP");
    /* several header lines are one list, in order */
    ip_addr p = ip("10.0.0.1"), r;
    const char *lines[2] = {"1.1.1.1", "198.51.100.9, 10.0.0.7"};
    client_ip_resolve(&c, &p, NULL, 0, lines, 2, &r);
    char text[CLIENT_IP_TEXT_MAX];
    ip_format(&r, text);
    cr_expect_str_eq(text, "198.51.100.9");
    const char *lines2[2] = {"198.51.100.9", "10.0.0.7"};
    client_ip_resolve(&c, &p, NULL, 0, lines2, 2, &r);
    ip_format(&r, text);
    cr_expect_str_eq(text, "198.51.100.9", "the walk crosses header lines");
    /* a chain longer than the cap stops at the cap */
    char longer[1024] = "198.51.100.1";
    for (int i = 0; i < CLIENT_IP_XFF_HOPS_MAX + 2; i++) {
        strcat(longer, ", 10.0.0.9");
    }
    cr_expect_str_eq(resolved(&c, "10.0.0.1", NULL, longer), "10.0.0.9");
}

Test(gateway_auth, only_the_hash_of_an_ip_is_kept)
{
    char err[512] = "";
    cr_assert_eq(auth_init(SECRET, "hash-key", "", NULL, 0, err, sizeof(err)), 0, "%s", err);
    char a[AUTH_IP_HASH_LEN + 1], b[AUTH_IP_HASH_LEN + 1];
    ip_addr mapped = ip("::ffff:192.0.2.1"), plain = ip("192.0.2.1");
    auth_client_hash(&mapped, a);
    auth_client_hash(&plain, b);
    cr_expect_str_eq(a, b, "one client, one hash, however the address was written");
    cr_expect_eq(strlen(a), AUTH_IP_HASH_LEN);
    cr_expect_eq(strspn(a, "0123456789abcdef"), AUTH_IP_HASH_LEN, "hex of an HMAC, not the address: %s", a);
}
