/* test_session_uuid6.c: UUIDv6 checkpoint ids (svc-session/sess_uuid6.c). */
#include <criterion/criterion.h>
#include <pthread.h>
#include <regex.h>
#include <stdlib.h>
#include <string.h>

#include "sess_uuid6.h"

/* RFC 9562 appendix A.5: the UUIDv6 of 2022-02-22 14:22:22-05:00. */
#define RFC_TS 0x1EC9414C232AB00ULL
#define RFC_UUID "1ec9414c-232a-6b00-b3c8-9f6bdeced846"

static int matches_v6(const char *s)
{
    regex_t re;
    cr_assert_eq(
        regcomp(&re, "^[0-9a-f]{8}-[0-9a-f]{4}-6[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$", REG_EXTENDED | REG_NOSUB),
        0);
    int ok = regexec(&re, s, 0, NULL, 0) == 0;
    regfree(&re);
    return ok;
}

Test(session_uuid6, formats_the_rfc_example)
{
    char out[SESS_UUID_LEN + 1];
    sess_uuid6_format(RFC_TS, 0x33C8, 0x9F6BDECED846ULL, out);
    cr_expect_str_eq(out, RFC_UUID);
}

Test(session_uuid6, parses_the_rfc_example)
{
    uint64_t ts = 0;
    cr_assert_eq(sess_uuid6_parse(RFC_UUID, &ts), 0);
    cr_expect_eq(ts, RFC_TS);
    cr_expect_eq(sess_uuid6_parse("1EC9414C-232A-6B00-B3C8-9F6BDECED846", &ts), 0, "upper case");
}

Test(session_uuid6, refuses_what_is_not_a_v6_uuid)
{
    static const char *bad[] = {
        "",
        "1ec9414c-232a-1b00-b3c8-9f6bdeced846",  /* version 1 */
        "1ec9414c-232a-4b00-b3c8-9f6bdeced846",  /* version 4 */
        "1ec9414c232a6b00b3c89f6bdeced846",      /* no dashes */
        "1ec9414c-232a-6b00-b3c8-9f6bdeced84",   /* short */
        "1ec9414c-232a-6b00-b3c8-9f6bdeced8466", /* long */
        "1ec9414g-232a-6b00-b3c8-9f6bdeced846",  /* not hex */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        uint64_t ts;
        cr_expect_eq(sess_uuid6_parse(bad[i], &ts), -1, "%s", bad[i]);
    }
    uint64_t ts;
    cr_expect_eq(sess_uuid6_parse(NULL, &ts), -1);
}

Test(session_uuid6, timestamp_as_iso8601_utc_with_microseconds)
{
    char buf[48];
    sess_uuid6_iso8601(RFC_TS, buf, sizeof(buf));
    cr_expect_str_eq(buf, "2022-02-22T19:22:22.000000+00:00");
    sess_uuid6_iso8601(SESS_UUID6_UNIX_OFFSET + 12345670, buf, sizeof(buf));
    cr_expect_str_eq(buf, "1970-01-01T00:00:01.234567+00:00");
}

Test(session_uuid6, new_ids_are_v6_now_and_strictly_increasing)
{
    char prev[SESS_UUID_LEN + 1] = "";
    uint64_t before = sess_uuid6_now();
    for (int i = 0; i < 20000; i++) {
        char id[SESS_UUID_LEN + 1];
        uint64_t ts = 0, parsed = 0;
        cr_assert_eq(sess_uuid6_next(NULL, id, &ts), 0);
        cr_assert(matches_v6(id), "%s", id);
        cr_assert_eq(sess_uuid6_parse(id, &parsed), 0);
        cr_assert_eq(parsed, ts);
        cr_assert(strcmp(id, prev) > 0, "%s after %s", id, prev);
        memcpy(prev, id, sizeof(id));
    }
    uint64_t ts;
    cr_assert_eq(sess_uuid6_parse(prev, &ts), 0);
    /* 20000 ids may run ahead of the clock by at most 20000 ticks (2 ms). */
    cr_expect(ts >= before && ts <= sess_uuid6_now() + 20000);
}

Test(session_uuid6, a_new_id_sorts_after_its_floor)
{
    /* A parent from a replica whose clock is an hour ahead. */
    char floor[SESS_UUID_LEN + 1], id[SESS_UUID_LEN + 1];
    sess_uuid6_format(sess_uuid6_now() + 36000000000ULL, 0x1234, 0x010203040506ULL, floor);
    cr_assert_eq(sess_uuid6_next(floor, id, NULL), 0);
    cr_expect(strcmp(id, floor) > 0, "%s after %s", id, floor);
    /* A malformed floor is ignored. */
    cr_expect_eq(sess_uuid6_next("not-a-uuid", id, NULL), 0);
    cr_expect(matches_v6(id));
}

#define THREADS 4
#define PER_THREAD 5000
static char ids[THREADS * PER_THREAD][SESS_UUID_LEN + 1];

static void *make_ids(void *arg)
{
    size_t base = (size_t)(uintptr_t)arg * PER_THREAD;
    for (size_t i = 0; i < PER_THREAD; i++) {
        if (sess_uuid6_next(NULL, ids[base + i], NULL) != 0) {
            ids[base + i][0] = '\0';
        }
    }
    return NULL;
}

static int cmp(const void *a, const void *b)
{
    return strcmp(a, b);
}

Test(session_uuid6, ids_from_many_threads_are_distinct)
{
    pthread_t t[THREADS];
    for (uintptr_t i = 0; i < THREADS; i++) {
        cr_assert_eq(pthread_create(&t[i], NULL, make_ids, (void *)i), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(t[i], NULL);
    }
    qsort(ids, THREADS * PER_THREAD, sizeof(ids[0]), cmp);
    for (size_t i = 1; i < THREADS * PER_THREAD; i++) {
        cr_assert(ids[i][0] != '\0');
        cr_assert_str_neq(ids[i], ids[i - 1]);
    }
}
