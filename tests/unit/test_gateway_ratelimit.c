/* test_gateway_ratelimit.c: the per-IP token buckets (gateway/ratelimit.c)
 * with a clock the test passes in: refill, burst, Retry-After, /64 keying,
 * eviction keeping the table bounded, the rate syntax, and the 429's
 * sentence (gateway/throttle.c). */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "ratelimit.h"
#include "throttle.h"
#include "watchdog.h"

#define S 1000000LL /* one second in us */
#define T0 (1000 * S)

TestSuite(gateway_ratelimit, .init = wd_suite_init, .timeout = WD_SUITE_TIMEOUT);

static ip_addr ip(const char *s)
{
    ip_addr a;
    cr_assert_eq(ip_parse(s, strlen(s), &a), 0, "%s", s);
    return a;
}

static rl_rate rate(const char *s)
{
    rl_rate r;
    char why[160] = "";
    cr_assert_eq(rl_rate_parse(s, &r, why, sizeof(why)), 0, "%s: %s", s, why);
    return r;
}

/* A table where every class has rate r. */
static ratelimit *table(const char *r, size_t entries)
{
    rl_rate rates[RL_CLASSES] = {rate(r), rate(r), rate(r)};
    ratelimit *rl = rl_new(entries, 64, rates, 12345);
    cr_assert_not_null(rl);
    return rl;
}

Test(gateway_ratelimit, rates_parse)
{
    rl_rate r = rate("30/10m");
    cr_expect_eq(r.count, 30);
    cr_expect_eq(r.period_us, 600 * S);
    cr_expect_eq(r.burst, 30, "burst defaults to the count");
    r = rate("30/10m burst 10");
    cr_expect_eq(r.burst, 10);
    r = rate("5/h");
    cr_expect_eq(r.period_us, 3600 * S);
    r = rate("100/1s  burst  3 ");
    cr_expect_eq(r.count, 100);
    cr_expect_eq(r.burst, 3);
    r = rate("off");
    cr_expect_eq(r.count, 0);
    static const char *const bad[] = {"",
                                      "30",
                                      "30/",
                                      "/10m",
                                      "0/10m",
                                      "30/10",
                                      "30/10x",
                                      "30/0m",
                                      "30/10m burst",
                                      "30/10m burst 0",
                                      "30/10m x",
                                      "-1/10m",
                                      "30/10m burst x",
                                      "30/200h",
                                      "1000001/1h",
                                      "30/10m burst 10 more",
                                      "9999999999/1s",
                                      "30/10 m"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        rl_rate x;
        char why[160] = "";
        cr_expect_eq(rl_rate_parse(bad[i], &x, why, sizeof(why)), -1, "\"%s\" was accepted", bad[i]);
        cr_expect(why[0], "\"%s\": no reason", bad[i]);
    }
}

Test(gateway_ratelimit, burst_then_refused_with_retry_after)
{
    ratelimit *rl = table("3/1m", 64); /* one token per 20 s, bucket of 3 */
    ip_addr a = ip("192.0.2.1");
    for (int i = 0; i < 3; i++) {
        cr_expect_eq(rl_take(rl, RL_CHAT, &a, T0), 0, "request %d is within the burst", i + 1);
    }
    cr_expect_eq(rl_take(rl, RL_CHAT, &a, T0), 20, "the 4th waits a refill interval");
    cr_expect_eq(rl_take(rl, RL_CHAT, &a, T0 + 19 * S + 1), 1, "rounded up, never 0");
    cr_expect_eq(rl_take(rl, RL_CHAT, &a, T0 + 5 * S), 15);
    cr_expect_eq(rl_take(rl, RL_CHAT, &a, T0 + 20 * S), 0, "a token after 20 s");
    cr_expect_eq(rl_take(rl, RL_CHAT, &a, T0 + 20 * S), 20, "and only one");
    rl_free(rl);
}

Test(gateway_ratelimit, refills_up_to_the_burst_only)
{
    ratelimit *rl = table("60/1m burst 5", 64); /* one a second, bucket of 5 */
    ip_addr a = ip("198.51.100.7");
    for (int i = 0; i < 5; i++) {
        cr_expect_eq(rl_take(rl, RL_SESSIONS, &a, T0), 0);
    }
    cr_expect_neq(rl_take(rl, RL_SESSIONS, &a, T0), 0);
    /* an hour idle: the bucket is full again, but holds 5, not 3600 */
    int64_t later = T0 + 3600 * S;
    for (int i = 0; i < 5; i++) {
        cr_expect_eq(rl_take(rl, RL_SESSIONS, &a, later), 0);
    }
    cr_expect_eq(rl_take(rl, RL_SESSIONS, &a, later), 1);
    /* steady state: one a second is always allowed */
    for (int i = 1; i <= 100; i++) {
        cr_expect_eq(rl_take(rl, RL_SESSIONS, &a, later + i * S), 0, "second %d", i);
    }
    cr_expect_eq(rl_in_use(rl, later + 100 * S), 1);
    cr_expect_eq(rl_in_use(rl, later + 200 * S), 0, "a full bucket holds nothing");
    rl_free(rl);
}

Test(gateway_ratelimit, classes_and_clients_are_separate)
{
    rl_rate rates[RL_CLASSES] = {rate("1/1h"), rate("2/1h"), rate("off")};
    ratelimit *rl = rl_new(64, 64, rates, 1);
    ip_addr a = ip("192.0.2.1"), b = ip("192.0.2.2");
    cr_expect_eq(rl_take(rl, RL_SESSIONS, &a, T0), 0);
    cr_expect_eq(rl_take(rl, RL_SESSIONS, &a, T0), 3600);
    cr_expect_eq(rl_take(rl, RL_CHAT, &a, T0), 0, "chat has its own bucket");
    cr_expect_eq(rl_take(rl, RL_CHAT, &a, T0), 0);
    cr_expect_eq(rl_take(rl, RL_CHAT, &a, T0), 1800);
    cr_expect_eq(rl_take(rl, RL_SESSIONS, &b, T0), 0, "another client has its own");
    for (int i = 0; i < 1000; i++) {
        cr_expect_eq(rl_take(rl, RL_LEADS, &a, T0), 0, "off: never refused");
    }
    rl_free(rl);
}

Test(gateway_ratelimit, ipv6_is_keyed_per_64_and_v4_mapped_is_v4)
{
    ratelimit *rl = table("1/1h", 64);
    ip_addr a = ip("2001:db8:1:2::1"), same64 = ip("2001:db8:1:2:ffff:eeee:dddd:cccc"), other64 = ip("2001:db8:1:3::1");
    cr_expect_eq(rl_take(rl, RL_CHAT, &a, T0), 0);
    cr_expect_neq(rl_take(rl, RL_CHAT, &same64, T0), 0, "the same /64 shares one bucket");
    cr_expect_eq(rl_take(rl, RL_CHAT, &other64, T0), 0, "the next /64 does not");
    ip_addr v4 = ip("192.0.2.9"), mapped = ip("::ffff:192.0.2.9");
    cr_expect_eq(rl_take(rl, RL_CHAT, &v4, T0), 0);
    cr_expect_neq(rl_take(rl, RL_CHAT, &mapped, T0), 0, "::ffff:a.b.c.d is a.b.c.d");
    rl_free(rl);
    /* RATE_IPV6_PREFIX=128: every address its own */
    rl_rate rates[RL_CLASSES] = {rate("1/1h"), rate("1/1h"), rate("1/1h")};
    rl = rl_new(64, 128, rates, 1);
    cr_expect_eq(rl_take(rl, RL_CHAT, &a, T0), 0);
    cr_expect_eq(rl_take(rl, RL_CHAT, &same64, T0), 0);
    rl_free(rl);
}

Test(gateway_ratelimit, a_flood_of_distinct_addresses_stays_in_the_table)
{
    const size_t n = 1024;
    ratelimit *rl = table("1/1h", n);
    cr_expect_eq(rl_table_bytes(rl), n * rl_entry_size());
    cr_expect_eq(rl_entry_size(), 48, "16-byte key + 4 x 8-byte times");
    ip_addr victim = ip("203.0.113.1");
    /* the victim spends its token first, then 100,000 addresses arrive */
    cr_expect_eq(rl_take(rl, RL_CHAT, &victim, T0), 0);
    for (uint32_t i = 0; i < 100000; i++) {
        ip_addr a = {.family = AF_INET6};
        a.b[0] = 0x20;
        a.b[1] = 0x01;
        memcpy(a.b + 4, &i, sizeof(i)); /* distinct /64s */
        rl_take(rl, RL_CHAT, &a, T0 + (int64_t)i);
    }
    cr_expect_leq(rl_in_use(rl, T0 + 100000), n, "never more entries than the table has");
    cr_expect_geq(rl_evictions(rl), 100000 - n, "the rest took over slots");
    cr_expect_eq(rl_table_bytes(rl), n * rl_entry_size(), "no growth");
    rl_free(rl);
}

Test(gateway_ratelimit, eviction_takes_the_soonest_full_entry)
{
    /* 64 slots, 8 probes: fill a probe window, then see who is forgotten */
    rl_rate rates[RL_CLASSES] = {rate("1/1h"), rate("1/1h"), rate("1/1h")};
    ratelimit *rl = rl_new(64, 64, rates, 7);
    ip_addr first = ip("192.0.2.1");
    cr_expect_eq(rl_take(rl, RL_CHAT, &first, T0), 0);
    /* later clients are fuller of debt than the first (their buckets are
     * full later); so whenever the first's window overflows, it is the first
     * that goes, and it comes back with a full bucket */
    int forgotten = 0;
    for (uint32_t i = 2; i < 2000 && !forgotten; i++) {
        ip_addr a = {.family = AF_INET};
        a.b[0] = 10;
        memcpy(a.b + 1, &i, 3);
        rl_take(rl, RL_CHAT, &a, T0 + i * S);
        forgotten = rl_take(rl, RL_CHAT, &first, T0 + i * S) == 0;
    }
    cr_expect(forgotten, "the oldest debt is forgotten first");
    cr_expect_leq(rl_in_use(rl, T0 + 2000 * S), 64);
    rl_free(rl);
}

static ratelimit *shared;
static _Atomic int shared_granted;

static void *hammer(void *arg)
{
    ip_addr a = ip(arg);
    for (int i = 0; i < 20000; i++) {
        if (rl_take(shared, RL_CHAT, &a, T0 + i) == 0) {
            shared_granted++;
        }
    }
    return NULL;
}

Test(gateway_ratelimit, threads_share_one_bucket_exactly)
{
    wd_step("four threads taking from one bucket");
    shared = table("1000/1h", 64); /* burst 1000; a token per 3.6 s */
    shared_granted = 0;
    pthread_t t[4];
    for (int i = 0; i < 4; i++) {
        pthread_create(&t[i], NULL, hammer, "192.0.2.50");
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
    }
    /* 80,000 tries within 20 ms of clock: the burst exactly, none refilled */
    cr_expect_eq(shared_granted, 1000);
    rl_free(shared);
}

Test(gateway_ratelimit, throttle_out_of_range_are_refused)
{
    rl_rate rates[RL_CLASSES] = {rate("1/1h"), rate("1/1h"), rate("1/1h")};
    cr_expect_null(rl_new(RL_TABLE_MIN - 1, 64, rates, 1));
    cr_expect_null(rl_new(RL_TABLE_MAX + 1, 64, rates, 1));
    cr_expect_null(rl_new(64, 129, rates, 1));
    cr_expect_null(rl_new(64, 8, rates, 1));
}

Test(gateway_ratelimit, the_429_sentence_says_how_long)
{
    char m[THROTTLE_MESSAGE_MAX];
    throttle_message(RL_CHAT, 20, m);
    cr_expect(strstr(m, "20 seconds") != NULL, "%s", m);
    throttle_message(RL_CHAT, 1, m);
    cr_expect(strstr(m, "1 second.") != NULL || strstr(m, "1 second,") != NULL, "%s", m);
    throttle_message(RL_SESSIONS, 61, m);
    cr_expect(strstr(m, "2 minutes") != NULL, "%s", m);
    throttle_message(RL_LEADS, 3600, m);
    cr_expect(strstr(m, "60 minutes") != NULL, "%s", m);
}

Test(gateway_ratelimit, charge_is_a_penalty)
{
    rl_rate rates[RL_CLASSES] = {rate("off"), rate("off"), rate("off"), rate("60/1m")};
    ratelimit *rl = rl_new(RL_TABLE_MIN, 64, rates, 1);
    ip_addr a = ip("198.51.100.9"), b = ip("198.51.100.10");
    /* six wrong tokens of cost 10 spend the burst of 60 */
    for (int i = 0; i < 6; i++) {
        cr_assert_eq(rl_take(rl, RL_ADMIN, &a, T0), 0, "attempt %d", i);
        rl_charge(rl, RL_ADMIN, &a, 10, T0);
    }
    uint32_t wait = rl_take(rl, RL_ADMIN, &a, T0);
    cr_assert_eq(wait, 1, "one token back after a second: %u", wait);
    cr_assert_eq(rl_take(rl, RL_ADMIN, &b, T0), 0, "another client is not charged");
    /* the penalty keeps growing with each wrong token */
    cr_assert_eq(rl_take(rl, RL_ADMIN, &a, T0 + 1 * S), 0);
    rl_charge(rl, RL_ADMIN, &a, 10, T0 + 1 * S);
    cr_assert_eq(rl_take(rl, RL_ADMIN, &a, T0 + 2 * S), 9, "the debt grew by ten: nine seconds to wait");
    rl_charge(rl, RL_ADMIN, &a, 1, T0); /* n < 2: nothing */
    rl_charge(rl, RL_CHAT, &a, 10, T0); /* off: nothing */
    cr_assert_eq(rl_take(rl, RL_CHAT, &a, T0), 0);
    rl_free(rl);
}
