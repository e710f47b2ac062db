/* test_gateway_ip_count.c: connections per client key (gateway/ip_count.c):
 * the cap, release, a full table refusing, and deletion keeping every
 * other key findable (checked against a plain array model). */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "ip_count.h"
#include "watchdog.h"

TestSuite(gateway_ip_count, .init = wd_suite_init, .timeout = WD_SUITE_TIMEOUT);

static void key(unsigned v, unsigned char k[RL_KEY_LEN])
{
    memset(k, 0, RL_KEY_LEN);
    memcpy(k + 12, &v, sizeof(v));
}

Test(gateway_ip_count, cap_and_release)
{
    ip_count *ic = ic_new(64);
    unsigned char a[RL_KEY_LEN], b[RL_KEY_LEN];
    key(1, a);
    key(2, b);
    for (unsigned i = 1; i <= 3; i++) {
        cr_assert_eq(ic_add(ic, a, 3), i);
    }
    cr_assert_eq(ic_add(ic, a, 3), 0, "the fourth is refused");
    cr_assert_eq(ic_add(ic, b, 3), 1, "another key is not affected");
    ic_del(ic, a);
    cr_assert_eq(ic_get(ic, a), 2);
    cr_assert_eq(ic_add(ic, a, 3), 3, "a released slot can be taken again");
    ic_del(ic, a);
    ic_del(ic, a);
    ic_del(ic, a);
    cr_assert_eq(ic_get(ic, a), 0);
    cr_assert_eq(ic_keys(ic), 1);
    ic_del(ic, a); /* absent: no-op */
    cr_assert_eq(ic_get(ic, b), 1);
    ic_free(ic);
}

Test(gateway_ip_count, full_table_refuses_new_keys)
{
    ip_count *ic = ic_new(16);
    unsigned char k[RL_KEY_LEN];
    unsigned taken = 0;
    for (unsigned v = 0; v < 40; v++) {
        key(v, k);
        taken += ic_add(ic, k, 5) != 0;
    }
    cr_assert_eq(taken, 15, "one slot stays empty: %u", taken);
    key(0, k);
    cr_assert_eq(ic_add(ic, k, 5), 2, "a key already in still counts");
    ic_free(ic);
}

Test(gateway_ip_count, random_churn_matches_a_model)
{
    enum { KEYS = 200, STEPS = 100000 };
    ip_count *ic = ic_new(256);
    unsigned model[KEYS] = {0};
    srand(7);
    for (int s = 0; s < STEPS; s++) {
        unsigned v = (unsigned)rand() % KEYS;
        unsigned char k[RL_KEY_LEN];
        key(v * 2654435761u, k);
        if (rand() % 2) {
            unsigned got = ic_add(ic, k, 4);
            unsigned want = model[v] < 4 ? model[v] + 1 : 0;
            cr_assert_eq(got, want, "step %d key %u", s, v);
            if (got) {
                model[v]++;
            }
        } else {
            ic_del(ic, k);
            if (model[v]) {
                model[v]--;
            }
        }
    }
    size_t keys = 0;
    for (unsigned v = 0; v < KEYS; v++) {
        unsigned char k[RL_KEY_LEN];
        key(v * 2654435761u, k);
        cr_assert_eq(ic_get(ic, k), model[v], "key %u", v);
        keys += model[v] != 0;
    }
    cr_assert_eq(ic_keys(ic), keys);
    ic_free(ic);
}
