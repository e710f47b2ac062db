/* fuzz_client_ip.c: addresses and CIDRs (gateway/client_ip.c): ip_parse,
 * cidr_parse, a TRUSTED_PROXIES list (client_ip_add_list) and the decision
 * from CF-Connecting-IP / X-Forwarded-For (client_ip_resolve).
 *
 * Input, one field a line: the TRUSTED_PROXIES list; the TCP peer; then
 * header values, "cf:" ones for CF-Connecting-IP, any other for
 * X-Forwarded-For. A first list starting with '+' trusts X-Forwarded-For.
 * Every line is also parsed as an address and as a CIDR on its own.
 * Checked: an address prints and parses back to itself; a CIDR contains its
 * own network; the client is the peer, or an address a header named. */
#include <arpa/inet.h>

#include "client_ip.h"
#include "fuzz.h"

#define FUZZ_HEADERS_MAX 40

static client_ip_cfg fuzz_cfg; /* static: 6 KB is too big for libFuzzer's stack checks */

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    return 0;
}

static void fuzz_one_line(const char *s, size_t n)
{
    ip_addr a, back;
    if (ip_parse(s, n, &a) == 0) {
        FUZZ_CHECK(a.family == AF_INET || a.family == AF_INET6, "family %d", a.family);
        char text[CLIENT_IP_TEXT_MAX];
        ip_format(&a, text);
        FUZZ_CHECK(ip_parse(text, strlen(text), &back) == 0, "\"%s\" does not parse back", text);
        FUZZ_CHECK(back.family == a.family && memcmp(back.b, a.b, sizeof(a.b)) == 0, "\"%s\" changed", text);
    }
    cidr c;
    char why[160];
    if (cidr_parse(s, n, &c, why, sizeof(why)) == 0) {
        FUZZ_CHECK(c.bits <= (c.net.family == AF_INET ? 32u : 128u), "%u bits", c.bits);
        FUZZ_CHECK(cidr_contains(&c, &c.net), "a CIDR outside itself");
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *all = fuzz_cstr(data, size);
    const uint8_t *p = (const uint8_t *)all;
    size_t n = size, len;

    const char *cf[FUZZ_HEADERS_MAX], *xff[FUZZ_HEADERS_MAX];
    size_t ncf = 0, nxff = 0;
    const char *list = NULL, *peer_s = NULL;
    size_t peer_len = 0;
    for (int line = 0; n > 0 || line == 0; line++) {
        char *s = (char *)fuzz_line(&p, &n, &len);
        s[len] = '\0'; /* the '\n' or the copy's NUL */
        fuzz_one_line(s, len);
        if (line == 0) {
            list = s;
        } else if (line == 1) {
            peer_s = s;
            peer_len = len;
        } else if (strncmp(s, "cf:", 3) == 0 && ncf < FUZZ_HEADERS_MAX) {
            cf[ncf++] = s + 3;
        } else if (nxff < FUZZ_HEADERS_MAX) {
            xff[nxff++] = s;
        }
        if (n == 0) {
            break;
        }
    }

    client_ip_cfg_init(&fuzz_cfg);
    fuzz_cfg.trust_xff = list[0] == '+';
    char err[256];
    if (client_ip_add_list(&fuzz_cfg, list + (list[0] == '+'), "TRUSTED_PROXIES", err, sizeof(err)) != 0) {
        FUZZ_CHECK(strncmp(err, "TRUSTED_PROXIES", 15) == 0, "error not naming its variable: %s", err);
    }
    FUZZ_CHECK(fuzz_cfg.n <= CLIENT_IP_PROXIES_MAX, "%zu ranges", fuzz_cfg.n);
    ip_addr peer;
    if (peer_s != NULL && ip_parse(peer_s, peer_len, &peer) == 0) {
        ip_addr out;
        client_ip_resolve(&fuzz_cfg, &peer, cf, ncf, xff, nxff, &out);
        FUZZ_CHECK(out.family == AF_INET || out.family == AF_INET6, "resolved to family %d", out.family);
        if (!client_ip_trusted(&fuzz_cfg, &peer)) {
            FUZZ_CHECK(memcmp(&out, &peer, sizeof(out)) == 0, "an untrusted peer's headers were believed");
        }
    }
    free(all);
    return 0;
}
