/* sess_token.c: see sess_token.h. */
#include "sess_token.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <string.h>
#include <sys/random.h>

static const char sess_b64url_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

size_t sess_b64url_encode(const uint8_t *in, size_t n, char *out, size_t outlen)
{
    size_t need = (n / 3) * 4 + (n % 3 == 0 ? 0 : n % 3 + 1);
    if (outlen < need + 1) {
        return 0;
    }
    size_t o = 0;
    size_t i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = sess_b64url_alphabet[v >> 18 & 63];
        out[o++] = sess_b64url_alphabet[v >> 12 & 63];
        out[o++] = sess_b64url_alphabet[v >> 6 & 63];
        out[o++] = sess_b64url_alphabet[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;
        out[o++] = sess_b64url_alphabet[v >> 18 & 63];
        out[o++] = sess_b64url_alphabet[v >> 12 & 63];
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
        out[o++] = sess_b64url_alphabet[v >> 18 & 63];
        out[o++] = sess_b64url_alphabet[v >> 12 & 63];
        out[o++] = sess_b64url_alphabet[v >> 6 & 63];
    }
    out[o] = '\0';
    return o;
}

int sess_random_bytes(void *buf, size_t n)
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

int sess_token_new_id(char out[SESS_ID_LEN + 1])
{
    uint8_t raw[SESS_ID_RANDOM_BYTES];
    if (sess_random_bytes(raw, sizeof(raw)) != 0) {
        return -1;
    }
    memcpy(out, SESS_ID_PREFIX, 2);
    sess_b64url_encode(raw, sizeof(raw), out + 2, SESS_ID_LEN - 1);
    return 0;
}

static int sess_b64url_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

int sess_token_id_valid(const char *s)
{
    if (s == NULL || strncmp(s, SESS_ID_PREFIX, 2) != 0) {
        return 0;
    }
    for (size_t i = 2; i < SESS_ID_LEN; i++) {
        if (!sess_b64url_char(s[i])) {
            return 0; /* also stops at a NUL of a short id */
        }
    }
    return s[SESS_ID_LEN] == '\0';
}

static int sess_token_mac(const uint8_t *key, size_t keylen, const char *sid, char out[SESS_MAC_B64_LEN + 1])
{
    uint8_t mac[EVP_MAX_MD_SIZE];
    unsigned maclen = 0;
    if (HMAC(EVP_sha256(), key, (int)keylen, (const uint8_t *)sid, SESS_ID_LEN, mac, &maclen) == NULL ||
        maclen != 32) {
        return -1;
    }
    sess_b64url_encode(mac, maclen, out, SESS_MAC_B64_LEN + 1);
    OPENSSL_cleanse(mac, sizeof(mac));
    return 0;
}

int sess_token_sign(const uint8_t *key, size_t keylen, const char *sid, char out[SESS_TOKEN_LEN + 1])
{
    if (!sess_token_id_valid(sid)) {
        return -1;
    }
    memcpy(out, sid, SESS_ID_LEN);
    out[SESS_ID_LEN] = '.';
    return sess_token_mac(key, keylen, sid, out + SESS_ID_LEN + 1);
}

int sess_token_verify(const uint8_t *key, size_t keylen, const char *sid, const char *token)
{
    if (!sess_token_id_valid(sid) || token == NULL || strlen(token) != SESS_TOKEN_LEN ||
        memcmp(token, sid, SESS_ID_LEN) != 0 || token[SESS_ID_LEN] != '.') {
        return 0;
    }
    char want[SESS_MAC_B64_LEN + 1];
    if (sess_token_mac(key, keylen, sid, want) != 0) {
        return 0;
    }
    int same = CRYPTO_memcmp(want, token + SESS_ID_LEN + 1, SESS_MAC_B64_LEN) == 0;
    OPENSSL_cleanse(want, sizeof(want));
    return same;
}
