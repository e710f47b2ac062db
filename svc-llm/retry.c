/* retry.c: see retry.h. */
#include "retry.h"

int retry_decide(upfail_kind kind, const http_response *resp, unsigned attempt, unsigned *delay_ms)
{
    *delay_ms = 0;
    if (attempt >= RETRY_MAX) {
        return 0;
    }
    if (kind == UPFAIL_HTTP) {
        if (resp == NULL || !http_should_retry(resp)) {
            return 0;
        }
        *delay_ms = http_retry_delay_ms(resp, attempt);
        return 1;
    }
    *delay_ms = http_retry_delay_ms(resp, attempt);
    return 1;
}

void breaker_init(breaker *b, unsigned threshold, int64_t open_ms)
{
    b->failures = 0;
    b->open_until_ms = 0;
    b->probe_ms = 0;
    b->threshold = threshold ? threshold : 1;
    b->open_ms = open_ms;
}

int breaker_allow(breaker *b, int64_t now_ms)
{
    if (b->open_until_ms == 0) {
        return 1;
    }
    if (now_ms < b->open_until_ms) {
        return 0;
    }
    if (b->probe_ms != 0 && now_ms - b->probe_ms < b->open_ms) {
        return 0; /* the trial request is still out */
    }
    b->probe_ms = now_ms;
    return 1;
}

int breaker_record(breaker *b, int ok, int64_t now_ms)
{
    b->probe_ms = 0;
    if (ok) {
        b->failures = 0;
        b->open_until_ms = 0;
        return 0;
    }
    if (++b->failures < b->threshold) {
        return 0;
    }
    /* Open; once the time is up, a single further failure reopens it. */
    b->failures = b->threshold - 1;
    b->open_until_ms = now_ms + b->open_ms;
    return 1;
}
