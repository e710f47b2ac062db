/* http_client.h: small synchronous HTTP helpers over libcurl, for calls to
 * external APIs (embeddings) and fetching pages (indexer).
 *
 * Every response body is capped (HTTP_RESP_MAX or the caller's cap): a
 * larger body fails with HTTP_ETOOBIG instead of growing without bound.
 * Thread-safe: each call uses its own curl easy handle; call
 * http_global_init() once at start (before threads). */
#ifndef CHAT_HTTP_CLIENT_H
#define CHAT_HTTP_CLIENT_H

#include <curl/curl.h>
#include <stddef.h>
#include <stdint.h>

#define HTTP_RESP_MAX (16u << 20)
#define HTTP_HEADER_VALUE_MAX 256
#define HTTP_URL_MAX 2048

typedef enum {
    HTTP_OK = 0,       /* a response arrived (any status) */
    HTTP_ETIMEOUT = 1, /* no complete response in time */
    HTTP_ECONNECT = 2, /* could not connect / resolve */
    HTTP_ETOOBIG = 3,  /* body over the cap */
    HTTP_EOTHER = 4,
} http_status;

typedef struct http_response {
    long status; /* HTTP status, 0 when none */
    char *body;  /* NUL-terminated, malloc'd; caller frees (http_response_free) */
    size_t body_len;
    char content_type[HTTP_HEADER_VALUE_MAX];
    char retry_after[HTTP_HEADER_VALUE_MAX];    /* "retry-after" header, "" if none */
    char retry_after_ms[HTTP_HEADER_VALUE_MAX]; /* "retry-after-ms" header */
    char should_retry[HTTP_HEADER_VALUE_MAX];   /* "x-should-retry" header */
    char effective_url[HTTP_URL_MAX];           /* after redirects */
    char error[256];                            /* why, when the call failed */
} http_response;

typedef struct http_request {
    const char *method; /* "GET" or "POST" */
    const char *url;
    const char *const *headers; /* "Name: value" strings, NULL-terminated; may be NULL */
    const char *body;           /* POST body or NULL */
    size_t body_len;
    unsigned timeout_ms; /* whole request */
    unsigned connect_timeout_ms;
    size_t max_body;        /* 0 = HTTP_RESP_MAX */
    unsigned max_redirects; /* 0 = do not follow */
    const char *user_agent; /* NULL = "chat/1" */
} http_request;

void http_global_init(void);
/* Copies the headers http_response keeps (content-type, retry-after,
 * retry-after-ms, x-should-retry) of the last response on h into r ("" when
 * absent; values cut to HTTP_HEADER_VALUE_MAX - 1), with libcurl's own
 * header API. For callers that drive their own easy handle (svc-llm). */
void http_capture_headers(CURL *h, http_response *r);
http_status http_perform(const http_request *rq, http_response *out);
void http_response_free(http_response *r);

/* Delay before a retry, following the Anthropic/OpenAI SDK policy: a
 * "retry-after-ms" or "retry-after" (seconds, or an HTTP date) header between
 * 0 and 60 s is used as is; otherwise min(0.5 * 2^attempt, 8) s reduced by up
 * to 25 % jitter. attempt counts from 0. */
unsigned http_retry_delay_ms(const http_response *r, unsigned attempt);

/* Whether to retry a response, as the SDKs do: x-should-retry true/false
 * wins; otherwise 408, 409, 429 and >= 500 retry. */
int http_should_retry(const http_response *r);

#endif
