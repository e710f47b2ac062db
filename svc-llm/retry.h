/* retry.h: when to try an upstream request again, and the circuit breaker
 * (svc-llm).
 *
 * The retry rule is the official Anthropic/OpenAI SDKs' (facts sheet §1):
 * at most RETRY_MAX retries; an HTTP answer is retried when
 * http_should_retry() says so (x-should-retry wins, else 408/409/429/5xx);
 * timeouts, connection errors and a stream that broke before its first
 * token are retried; the wait is http_retry_delay_ms() (retry-after-ms /
 * retry-after up to 60 s, else min(0.5 * 2^n, 8) s less up to 25 % jitter).
 *
 * The breaker opens after BREAKER_THRESHOLD consecutive failed requests and
 * stays open BREAKER_OPEN_MS; while open, generations go straight to the
 * offline provider. When the time is up one request is let through; if it
 * fails too the breaker opens again at once, if it succeeds it closes.
 *
 * Pure functions and a plain struct: the engine thread owns every breaker. */
#ifndef LLM_RETRY_H
#define LLM_RETRY_H

#include <stdint.h>

#include "http_client.h"

#define RETRY_MAX 2
#define BREAKER_THRESHOLD 5
#define BREAKER_OPEN_MS 30000

typedef enum {
    UPFAIL_HTTP,    /* a non-2xx answer (resp holds status and headers) */
    UPFAIL_TIMEOUT, /* no answer in time */
    UPFAIL_CONNECT, /* could not connect, or the connection broke */
    UPFAIL_STREAM,  /* a 2xx stream that ended or broke before its first token */
} upfail_kind;

/* Whether the request that just failed (attempt counts from 0) is tried
 * again; *delay_ms is then the wait. resp may be NULL unless UPFAIL_HTTP. */
int retry_decide(upfail_kind kind, const http_response *resp, unsigned attempt, unsigned *delay_ms);

typedef struct breaker {
    unsigned failures;     /* consecutive */
    int64_t open_until_ms; /* 0 = closed */
    int64_t probe_ms;      /* when the trial request after opening went out; 0 = none */
    unsigned threshold;
    int64_t open_ms;
} breaker;

void breaker_init(breaker *b, unsigned threshold, int64_t open_ms);
/* 1 when a request may go upstream now (after the open time, the first
 * caller gets the one trial request; a trial without an outcome for
 * open_ms, e.g. cancelled, lets another through). */
int breaker_allow(breaker *b, int64_t now_ms);
/* Records the outcome of a request; returns 1 when this failure opened it. */
int breaker_record(breaker *b, int ok, int64_t now_ms);

#endif
