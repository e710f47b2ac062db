/* siteverify.c: see siteverify.h. */
#include "siteverify.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "config.h"
#include "encode.h"

char *sv_request_body(const char *secret, const char *response, const char *remoteip, const char *idempotency_key)
{
    json_t *j = json_pack("{s:s, s:s}", "secret", secret ? secret : "", "response", response ? response : "");
    if (j == NULL) {
        return NULL;
    }
    if (remoteip != NULL && remoteip[0]) {
        json_object_set_new(j, "remoteip", json_string(remoteip));
    }
    if (idempotency_key != NULL && idempotency_key[0]) {
        json_object_set_new(j, "idempotency_key", json_string(idempotency_key));
    }
    char *text = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    return text;
}

/* 1 when host is one of the list's names. */
static int sv_host_listed(const char *list, const char *host)
{
    const char *p = list;
    size_t n;
    const char *item;
    while ((item = cfg_list_next(&p, &n)) != NULL) {
        if (n == strlen(host) && strncasecmp(item, host, n) == 0) {
            return 1;
        }
    }
    return 0;
}

/* Appends code to out->codes ("a,b"), dropping what does not fit. */
static void sv_add_code(sv_reply *out, const char *code)
{
    size_t used = strlen(out->codes);
    size_t need = strlen(code) + (used ? 1 : 0);
    if (used + need >= sizeof(out->codes)) {
        return;
    }
    snprintf(out->codes + used, sizeof(out->codes) - used, "%s%s", used ? "," : "", code);
}

static int sv_has_code(const json_t *codes, const char *want)
{
    size_t i;
    json_t *v;
    json_array_foreach(codes, i, v)
    {
        if (json_is_string(v) && strcmp(json_string_value(v), want) == 0) {
            return 1;
        }
    }
    return 0;
}

sv_verdict sv_reply_parse(const char *body, size_t len, const char *expected_hosts, sv_reply *out)
{
    memset(out, 0, sizeof(*out));
    if (body == NULL || len > SV_REPLY_MAX) {
        return SV_GARBLED;
    }
    json_error_t je;
    json_t *j = json_loadb(body, len, 0, &je);
    json_t *ok = json_object_get(j, "success");
    json_t *codes = json_object_get(j, "error-codes");
    if (!json_is_object(j) || !json_is_boolean(ok) || (codes != NULL && !json_is_array(codes))) {
        json_decref(j);
        return SV_GARBLED;
    }
    out->success = json_is_true(ok);
    size_t i;
    json_t *v;
    json_array_foreach(codes, i, v)
    {
        if (json_is_string(v)) {
            sv_add_code(out, json_string_value(v));
        }
    }
    const char *host = json_string_value(json_object_get(j, "hostname"));
    snprintf(out->hostname, sizeof(out->hostname), "%s", host ? host : "");
    sv_verdict verdict;
    if (out->success) {
        verdict = SV_PASS;
        if (expected_hosts != NULL && expected_hosts[0] && !sv_host_listed(expected_hosts, out->hostname)) {
            sv_add_code(out, "hostname-mismatch");
            verdict = SV_FAIL;
        }
    } else if (sv_has_code(codes, "missing-input-secret") || sv_has_code(codes, "invalid-input-secret")) {
        verdict = SV_BAD_SETUP;
    } else if (sv_has_code(codes, "internal-error")) {
        verdict = SV_RETRY;
    } else {
        verdict = SV_FAIL;
    }
    json_decref(j);
    return verdict;
}

int sv_uuid4(char out[SV_UUID_LEN + 1])
{
    unsigned char b[16];
    if (enc_random(b, sizeof(b)) != 0) {
        return -1;
    }
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40); /* version 4 */
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    char hex[33];
    enc_hex(b, sizeof(b), hex, sizeof(hex));
    snprintf(out, SV_UUID_LEN + 1, "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8, hex + 12, hex + 16, hex + 20);
    return 0;
}

int sv_token_plausible(const char *token)
{
    if (token == NULL || token[0] == '\0') {
        return 0;
    }
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)token; *p; p++, n++) {
        if (n >= SV_TOKEN_MAX || *p <= ' ' || *p >= 0x7f) {
            return 0;
        }
    }
    return 1;
}
