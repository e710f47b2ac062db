/*
 * test_llm_retry.c - unit tests for svc-llm/retry.c: the SDK retry policy
 * decisions and the circuit breaker (Criterion).
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <string.h>

#include "retry.h"

static http_response resp(long status, const char *retry_after, const char *retry_after_ms, const char *should)
{
    http_response r;
    memset(&r, 0, sizeof(r));
    r.status = status;
    snprintf(r.retry_after, sizeof(r.retry_after), "%s", retry_after ? retry_after : "");
    snprintf(r.retry_after_ms, sizeof(r.retry_after_ms), "%s", retry_after_ms ? retry_after_ms : "");
    snprintf(r.should_retry, sizeof(r.should_retry), "%s", should ? should : "");
    return r;
}

typedef struct retry_case {
    const char *name;
    long status;
    const char *retry_after, *retry_after_ms, *should;
    unsigned attempt;
    int want_retry;
    unsigned min_ms, max_ms;
} retry_case;

Test(retry, http_decisions)
{
    static const retry_case cases[] = {
        {"429 with retry-after 1 s", 429, "1", NULL, NULL, 0, 1, 1000, 1000},
        {"429 with retry-after-ms 250 wins", 429, "5", "250", NULL, 0, 1, 250, 250},
        {"529 first retry: 0.5 s less up to 25 %", 529, NULL, NULL, NULL, 0, 1, 375, 500},
        {"500 second retry: 1 s less up to 25 %", 500, NULL, NULL, NULL, 1, 1, 750, 1000},
        {"after 2 retries: no more", 529, NULL, NULL, NULL, 2, 0, 0, 0},
        {"408 retried", 408, NULL, NULL, NULL, 0, 1, 375, 500},
        {"409 retried", 409, NULL, NULL, NULL, 0, 1, 375, 500},
        {"400 not retried", 400, NULL, NULL, NULL, 0, 0, 0, 0},
        {"401 not retried", 401, NULL, NULL, NULL, 0, 0, 0, 0},
        {"x-should-retry false beats 500", 500, NULL, NULL, "false", 0, 0, 0, 0},
        {"x-should-retry true beats 400", 400, NULL, NULL, "true", 0, 1, 375, 500},
        {"retry-after over 60 s ignored", 429, "120", NULL, NULL, 0, 1, 375, 500},
        {"retry-after 0 ignored", 429, "0", NULL, NULL, 0, 1, 375, 500},
        {"retry-after 2.5 s (float)", 503, "2.5", NULL, NULL, 1, 1, 2500, 2500},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const retry_case *c = &cases[i];
        http_response r = resp(c->status, c->retry_after, c->retry_after_ms, c->should);
        unsigned delay = 12345;
        int got = retry_decide(UPFAIL_HTTP, &r, c->attempt, &delay);
        cr_assert_eq(got, c->want_retry, "%s: retry %d", c->name, got);
        if (got) {
            cr_assert(delay >= c->min_ms && delay <= c->max_ms, "%s: delay %u not in [%u, %u]", c->name, delay,
                      c->min_ms, c->max_ms);
        }
    }
}

Test(retry, transport_failures_are_retried_with_backoff)
{
    unsigned delay = 0;
    cr_assert(retry_decide(UPFAIL_TIMEOUT, NULL, 0, &delay));
    cr_assert(delay >= 375 && delay <= 500);
    cr_assert(retry_decide(UPFAIL_CONNECT, NULL, 1, &delay));
    cr_assert(delay >= 750 && delay <= 1000);
    cr_assert(retry_decide(UPFAIL_STREAM, NULL, 0, &delay));
    cr_assert_not(retry_decide(UPFAIL_CONNECT, NULL, 2, &delay));
    cr_assert_not(retry_decide(UPFAIL_HTTP, NULL, 0, &delay), "an HTTP failure without a response is not retried");
}

Test(breaker, opens_after_threshold_and_probes_once)
{
    breaker b;
    breaker_init(&b, 5, 30000);
    int64_t t = 1000;
    for (int i = 0; i < 4; i++) {
        cr_assert(breaker_allow(&b, t));
        cr_assert_not(breaker_record(&b, 0, t));
    }
    cr_assert(breaker_allow(&b, t));
    cr_assert(breaker_record(&b, 0, t), "the 5th consecutive failure opens it");
    cr_assert_not(breaker_allow(&b, t + 1));
    cr_assert_not(breaker_allow(&b, t + 29999));
    cr_assert(breaker_allow(&b, t + 30000), "after the open time: one trial");
    cr_assert_not(breaker_allow(&b, t + 30001), "only one trial at a time");
    cr_assert(breaker_record(&b, 0, t + 30002), "a failed trial reopens it at once");
    cr_assert_not(breaker_allow(&b, t + 30003));
    cr_assert(breaker_allow(&b, t + 60003));
    breaker_record(&b, 1, t + 60004);
    cr_assert(breaker_allow(&b, t + 60005), "a successful trial closes it");
    cr_assert(breaker_allow(&b, t + 60006));
}

Test(breaker, success_resets_the_count)
{
    breaker b;
    breaker_init(&b, 3, 1000);
    breaker_record(&b, 0, 0);
    breaker_record(&b, 0, 0);
    breaker_record(&b, 1, 0);
    cr_assert_not(breaker_record(&b, 0, 0));
    cr_assert_not(breaker_record(&b, 0, 0));
    cr_assert(breaker_record(&b, 0, 0));
}

Test(breaker, abandoned_trial_lets_another_through_later)
{
    breaker b;
    breaker_init(&b, 1, 1000);
    breaker_record(&b, 0, 0);
    cr_assert(breaker_allow(&b, 1000));
    cr_assert_not(breaker_allow(&b, 1500));
    cr_assert(breaker_allow(&b, 2000), "the trial never reported back (cancelled)");
}
