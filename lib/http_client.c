/* http_client.c: see http_client.h. */
#include "http_client.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "dynbuf.h"
#include "encode.h"

void http_global_init(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

static size_t http_on_body(char *ptr, size_t size, size_t nmemb, void *arg)
{
    dynbuf *b = arg;
    size_t n = size * nmemb;
    return dyn_add(b, ptr, n) == 0 ? n : 0; /* 0 aborts the transfer */
}

void http_capture_headers(CURL *h, http_response *r)
{
    static const struct {
        const char *name;
        size_t off;
    } wanted[] = {
        {"content-type", offsetof(http_response, content_type)},
        {"retry-after", offsetof(http_response, retry_after)},
        {"retry-after-ms", offsetof(http_response, retry_after_ms)},
        {"x-should-retry", offsetof(http_response, should_retry)},
    };
    for (size_t i = 0; i < sizeof(wanted) / sizeof(wanted[0]); i++) {
        char *dst = (char *)r + wanted[i].off;
        struct curl_header *hv = NULL;
        dst[0] = '\0';
        /* request -1: the last response, after any redirect or 1xx. */
        if (curl_easy_header(h, wanted[i].name, 0, CURLH_HEADER, -1, &hv) == CURLHE_OK && hv->value != NULL) {
            snprintf(dst, HTTP_HEADER_VALUE_MAX, "%s", hv->value);
        }
    }
}

http_status http_perform(const http_request *rq, http_response *out)
{
    memset(out, 0, sizeof(*out));
    CURL *h = curl_easy_init();
    if (h == NULL) {
        snprintf(out->error, sizeof(out->error), "out of memory");
        return HTTP_EOTHER;
    }
    dynbuf b;
    dyn_init(&b, rq->max_body ? rq->max_body : HTTP_RESP_MAX);
    struct curl_slist *hdrs = NULL;
    for (const char *const *p = rq->headers; p != NULL && *p != NULL; p++) {
        hdrs = curl_slist_append(hdrs, *p);
    }
    hdrs = curl_slist_append(hdrs, "Expect:");
    curl_easy_setopt(h, CURLOPT_URL, rq->url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)(rq->timeout_ms ? rq->timeout_ms : 30000));
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)(rq->connect_timeout_ms ? rq->connect_timeout_ms : 5000));
    curl_easy_setopt(h, CURLOPT_USERAGENT, rq->user_agent ? rq->user_agent : "chat/1");
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, http_on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    if (rq->max_redirects > 0) {
        curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
        curl_easy_setopt(h, CURLOPT_MAXREDIRS, (long)rq->max_redirects);
    }
    if (rq->method != NULL && strcmp(rq->method, "POST") == 0) {
        curl_easy_setopt(h, CURLOPT_POST, 1L);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, rq->body ? rq->body : "");
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(rq->body ? rq->body_len : 0));
    }
    CURLcode rc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &out->status);
    http_capture_headers(h, out);
    char *eff = NULL;
    if (curl_easy_getinfo(h, CURLINFO_EFFECTIVE_URL, &eff) == CURLE_OK && eff != NULL) {
        snprintf(out->effective_url, sizeof(out->effective_url), "%s", eff);
    }
    http_status st = HTTP_OK;
    if (b.full) {
        st = HTTP_ETOOBIG;
        snprintf(out->error, sizeof(out->error), "response larger than %zu bytes", b.toobig);
    } else if (rc == CURLE_OPERATION_TIMEDOUT) {
        st = HTTP_ETIMEOUT;
        snprintf(out->error, sizeof(out->error), "timed out after %u ms", rq->timeout_ms);
    } else if (rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST) {
        st = HTTP_ECONNECT;
        snprintf(out->error, sizeof(out->error), "%s", curl_easy_strerror(rc));
    } else if (rc == CURLE_TOO_MANY_REDIRECTS) {
        st = HTTP_EOTHER;
        snprintf(out->error, sizeof(out->error), "more than %u redirects", rq->max_redirects);
    } else if (rc != CURLE_OK) {
        st = HTTP_EOTHER;
        snprintf(out->error, sizeof(out->error), "%s", curl_easy_strerror(rc));
    }
    if (st == HTTP_OK) {
        out->body_len = dyn_len(&b);
        out->body = dyn_take(&b);
    }
    dyn_free(&b);
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(h);
    return st;
}

void http_response_free(http_response *r)
{
    free(r->body);
    r->body = NULL;
}

unsigned http_retry_delay_ms(const http_response *r, unsigned attempt)
{
    if (r != NULL && r->retry_after_ms[0]) {
        double ms = strtod(r->retry_after_ms, NULL);
        if (ms > 0 && ms <= 60000) {
            return (unsigned)ms;
        }
    }
    if (r != NULL && r->retry_after[0]) {
        char *end = NULL;
        double s = strtod(r->retry_after, &end);
        if (end != r->retry_after && *end == '\0') {
            if (s > 0 && s <= 60) {
                return (unsigned)(s * 1000);
            }
        } else {
            time_t when = curl_getdate(r->retry_after, NULL); /* an HTTP date */
            double d = when == -1 ? 0 : difftime(when, time(NULL));
            if (d > 0 && d <= 60) {
                return (unsigned)(d * 1000);
            }
        }
    }
    double base = 0.5 * (double)(1u << (attempt > 4 ? 4 : attempt));
    if (base > 8.0) {
        base = 8.0;
    }
    unsigned short rnd = 0;
    if (enc_random(&rnd, sizeof(rnd)) != 0) {
        rnd = 0;
    }
    double jitter = 1.0 - 0.25 * ((double)rnd / 65535.0);
    return (unsigned)(base * jitter * 1000.0);
}

int http_should_retry(const http_response *r)
{
    if (strcasecmp(r->should_retry, "true") == 0) {
        return 1;
    }
    if (strcasecmp(r->should_retry, "false") == 0) {
        return 0;
    }
    return r->status == 408 || r->status == 409 || r->status == 429 || r->status >= 500;
}
