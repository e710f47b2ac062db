/* embed_openai.c: the OpenAI embeddings client (POST {base}/embeddings),
 * batching within the API's limits and retrying as the official SDKs do. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "embed.h"
#include "http_client.h"
#include "log.h"

#define EMBED_KEY_MAX 512

typedef struct openai_state {
    char url[HTTP_URL_MAX];
    char auth[EMBED_KEY_MAX + 32];
    unsigned timeout_ms;
    unsigned max_retries;
} openai_state;

int embed_openai_open(void **state, const embed_opts *o, char *err, size_t errlen)
{
    if (o->api_key == NULL || o->api_key[0] == '\0') {
        snprintf(err, errlen, "OPENAI_API_KEY is required for EMBEDDING_PROVIDER=openai");
        return -1;
    }
    if (strlen(o->api_key) > EMBED_KEY_MAX) {
        snprintf(err, errlen, "OPENAI_API_KEY is too long");
        return -1;
    }
    openai_state *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    const char *base = o->base_url ? o->base_url : "https://api.openai.com/v1";
    size_t bl = strlen(base);
    while (bl > 0 && base[bl - 1] == '/') {
        bl--;
    }
    snprintf(s->url, sizeof(s->url), "%.*s/embeddings", (int)bl, base);
    snprintf(s->auth, sizeof(s->auth), "Authorization: Bearer %s", o->api_key);
    s->timeout_ms = o->timeout_ms ? o->timeout_ms : 60000;
    s->max_retries = o->max_retries ? o->max_retries : 4;
    *state = s;
    return 0;
}

void embed_openai_close(void *state)
{
    free(state);
}

static void embed_sleep_ms(unsigned ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* One request for texts[0..n); fills out. 0, or -1 with err. */
static int openai_batch(openai_state *s, const char *model, unsigned dim, const char *const *texts, size_t n,
                        float *out, uint64_t *requests, char *err, size_t errlen)
{
    json_t *input = json_array();
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(texts[i]);
        /* the API refuses empty strings; a single space embeds as nothing */
        json_array_append_new(
            input, len == 0 ? json_string(" ")
                            : json_stringn(texts[i], len > EMBED_MAX_INPUT_BYTES ? EMBED_MAX_INPUT_BYTES : len));
    }
    json_t *req = json_pack("{s:s, s:o, s:s}", "model", model, "input", input, "encoding_format", "float");
    if (strncmp(model, "text-embedding-3", 16) == 0) {
        json_object_set_new(req, "dimensions", json_integer(dim));
    }
    char *body = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    if (body == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    const char *headers[] = {s->auth, "Content-Type: application/json", NULL};
    http_request rq = {.method = "POST",
                       .url = s->url,
                       .headers = headers,
                       .body = body,
                       .body_len = strlen(body),
                       .timeout_ms = s->timeout_ms,
                       .max_body = HTTP_RESP_MAX};
    int rc = -1;
    for (unsigned attempt = 0;; attempt++) {
        http_response r;
        http_status st = http_perform(&rq, &r);
        (*requests)++;
        int retry = 0;
        if (st != HTTP_OK) {
            snprintf(err, errlen, "embeddings request failed: %s", r.error);
            retry = st == HTTP_ETIMEOUT || st == HTTP_ECONNECT;
        } else if (r.status != 200) {
            json_error_t je;
            json_t *ej = json_loadb(r.body, r.body_len, 0, &je);
            const char *msg = ej ? json_string_value(json_object_get(json_object_get(ej, "error"), "message")) : NULL;
            snprintf(err, errlen, "embeddings API answered %ld: %s", r.status, msg ? msg : "(no message)");
            json_decref(ej);
            retry = http_should_retry(&r);
        } else {
            json_error_t je;
            json_t *res = json_loadb(r.body, r.body_len, 0, &je);
            json_t *data = res ? json_object_get(res, "data") : NULL;
            if (!json_is_array(data) || json_array_size(data) != n) {
                snprintf(err, errlen, "malformed embeddings response (%s)", res ? "wrong data" : je.text);
                retry = 1; /* a truncated body is a transport problem */
            } else {
                rc = 0;
                for (size_t i = 0; i < n && rc == 0; i++) {
                    json_t *item = json_array_get(data, i);
                    json_int_t idx = json_integer_value(json_object_get(item, "index"));
                    json_t *vec = json_object_get(item, "embedding");
                    if (idx < 0 || (size_t)idx >= n || !json_is_array(vec) || json_array_size(vec) != dim) {
                        snprintf(err, errlen, "malformed embedding %zu (expected %u dimensions)", i, dim);
                        rc = -1;
                        break;
                    }
                    for (unsigned d = 0; d < dim; d++) {
                        out[(size_t)idx * dim + d] = (float)json_number_value(json_array_get(vec, d));
                    }
                }
            }
            json_decref(res);
        }
        unsigned delay = retry && attempt < s->max_retries ? http_retry_delay_ms(&r, attempt) : 0;
        http_response_free(&r);
        if (rc == 0 || !retry || attempt >= s->max_retries) {
            break;
        }
        log_warn("embeddings: %s; retry %u in %u ms", err, attempt + 1, delay);
        embed_sleep_ms(delay);
    }
    free(body);
    return rc;
}

int embed_openai_embed(void *state, const char *model, unsigned dim, const char *const *texts, size_t n, float *out,
                       uint64_t *requests, char *err, size_t errlen)
{
    openai_state *s = state;
    size_t i = 0;
    while (i < n) {
        size_t j = i, tokens = 0;
        while (j < n && j - i < EMBED_BATCH_MAX_INPUTS) {
            size_t t = strlen(texts[j]) / 4 + 1;
            if (j > i && tokens + t > EMBED_BATCH_MAX_TOKENS) {
                break;
            }
            tokens += t;
            j++;
        }
        if (openai_batch(s, model, dim, texts + i, j - i, out + i * dim, requests, err, errlen) != 0) {
            return -1;
        }
        i = j;
    }
    return 0;
}
