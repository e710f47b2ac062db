/* encode.c: see encode.h. */
#include "encode.h"

#include <errno.h>
#include <stdint.h>
#include <sys/random.h>

static const char enc_hex_digits[] = "0123456789abcdef";
static const char enc_b64url_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

size_t enc_hex(const void *in, size_t n, char *out, size_t outlen)
{
    const uint8_t *p = in;
    if (outlen < 2 * n + 1) {
        if (outlen > 0) {
            out[0] = '\0';
        }
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = enc_hex_digits[p[i] >> 4];
        out[2 * i + 1] = enc_hex_digits[p[i] & 15];
    }
    out[2 * n] = '\0';
    return 2 * n;
}

size_t enc_b64url(const void *in, size_t n, char *out, size_t outlen)
{
    const uint8_t *p = in;
    if (outlen < ENC_B64URL_SIZE(n)) {
        return 0;
    }
    size_t o = 0;
    size_t i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        out[o++] = enc_b64url_alphabet[v >> 18 & 63];
        out[o++] = enc_b64url_alphabet[v >> 12 & 63];
        out[o++] = enc_b64url_alphabet[v >> 6 & 63];
        out[o++] = enc_b64url_alphabet[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)p[i] << 16;
        out[o++] = enc_b64url_alphabet[v >> 18 & 63];
        out[o++] = enc_b64url_alphabet[v >> 12 & 63];
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
        out[o++] = enc_b64url_alphabet[v >> 18 & 63];
        out[o++] = enc_b64url_alphabet[v >> 12 & 63];
        out[o++] = enc_b64url_alphabet[v >> 6 & 63];
    }
    out[o] = '\0';
    return o;
}

int enc_b64url_char(int c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

int enc_random(void *buf, size_t n)
{
    uint8_t *p = buf;
    while (n > 0) {
        ssize_t got = getrandom(p, n, 0);
        if (got < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -1;
        }
        p += got;
        n -= (size_t)got;
    }
    return 0;
}
