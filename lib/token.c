/* token.c: see token.h. */
#include "token.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <string.h>

#include "encode.h"

int token_new_id(char out[TOKEN_ID_LEN + 1])
{
    uint8_t raw[TOKEN_ID_RANDOM_BYTES];
    if (enc_random(raw, sizeof(raw)) != 0) {
        return -1;
    }
    memcpy(out, TOKEN_ID_PREFIX, 2);
    enc_b64url(raw, sizeof(raw), out + 2, TOKEN_ID_LEN - 1);
    return 0;
}

int token_id_valid(const char *s)
{
    if (s == NULL || strncmp(s, TOKEN_ID_PREFIX, 2) != 0) {
        return 0;
    }
    for (size_t i = 2; i < TOKEN_ID_LEN; i++) {
        if (!enc_b64url_char((unsigned char)s[i])) {
            return 0; /* also stops at a NUL of a short id */
        }
    }
    return s[TOKEN_ID_LEN] == '\0';
}

static int token_mac(const uint8_t *key, size_t keylen, const char *sid, char out[TOKEN_MAC_B64_LEN + 1])
{
    uint8_t mac[EVP_MAX_MD_SIZE];
    unsigned maclen = 0;
    if (HMAC(EVP_sha256(), key, (int)keylen, (const uint8_t *)sid, TOKEN_ID_LEN, mac, &maclen) == NULL ||
        maclen != 32) {
        return -1;
    }
    enc_b64url(mac, maclen, out, TOKEN_MAC_B64_LEN + 1);
    OPENSSL_cleanse(mac, sizeof(mac));
    return 0;
}

int token_sign(const uint8_t *key, size_t keylen, const char *sid, char out[TOKEN_LEN + 1])
{
    if (!token_id_valid(sid)) {
        return -1;
    }
    memcpy(out, sid, TOKEN_ID_LEN);
    out[TOKEN_ID_LEN] = '.';
    return token_mac(key, keylen, sid, out + TOKEN_ID_LEN + 1);
}

int token_verify(const uint8_t *key, size_t keylen, const char *sid, const char *token)
{
    if (!token_id_valid(sid) || token == NULL || strlen(token) != TOKEN_LEN || memcmp(token, sid, TOKEN_ID_LEN) != 0 ||
        token[TOKEN_ID_LEN] != '.') {
        return 0;
    }
    char want[TOKEN_MAC_B64_LEN + 1];
    if (token_mac(key, keylen, sid, want) != 0) {
        return 0;
    }
    int same = CRYPTO_memcmp(want, token + TOKEN_ID_LEN + 1, TOKEN_MAC_B64_LEN) == 0;
    OPENSSL_cleanse(want, sizeof(want));
    return same;
}

int token_check(const uint8_t *key, size_t keylen, const char *token, char sid[TOKEN_ID_LEN + 1])
{
    if (token == NULL || strlen(token) != TOKEN_LEN) {
        return 0;
    }
    char id[TOKEN_ID_LEN + 1];
    memcpy(id, token, TOKEN_ID_LEN);
    id[TOKEN_ID_LEN] = '\0';
    if (!token_verify(key, keylen, id, token)) {
        return 0;
    }
    memcpy(sid, id, TOKEN_ID_LEN + 1);
    return 1;
}
