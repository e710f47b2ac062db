/* test_session_store.c: the pure parts of svc-session/sess_store.c (the
 * rest is covered by tests/integration/test_session.sh against Postgres). */
#include <criterion/criterion.h>

#include "sess_store.h"

#define DAY 86400000LL

Test(session_store, retry_after_runs_to_the_next_utc_midnight)
{
    static const struct {
        const char *name;
        int64_t now_ms;
        uint32_t want;
    } cases[] = {
        {"at midnight: a whole day", 20000 * DAY, 86400000},
        {"one ms after midnight: rounded up to the second", 20000 * DAY + 1, 86400000},
        {"noon", 20000 * DAY + DAY / 2, 43200000},
        {"half a second before midnight", 20001 * DAY - 500, 1000},
        {"one second before midnight", 20001 * DAY - 1000, 1000},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cr_expect_eq(sess_store_ms_to_midnight(cases[i].now_ms), cases[i].want, "%s: got %u", cases[i].name,
                     sess_store_ms_to_midnight(cases[i].now_ms));
    }
}
