/* test_dynbuf.c: the capped growable buffer (lib/dynbuf.c). */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "dynbuf.h"

Test(dynbuf, grows_up_to_the_cap_and_refuses_past_it)
{
    dynbuf b;
    dyn_init(&b, 10);
    cr_expect_str_eq(dyn_str(&b), "");
    cr_expect_eq(dyn_adds(&b, "hello"), 0);
    cr_expect_eq(dyn_printf(&b, "%d", 12345), 0);
    cr_expect_str_eq(dyn_str(&b), "hello12345");
    cr_expect_eq(dyn_room(&b), 0);
    cr_expect_eq(dyn_addc(&b, 'x'), -1);
    cr_expect(b.full);
    cr_expect_not(b.oom);
    cr_expect_str_eq(dyn_str(&b), "hello12345", "a refused append stores nothing");
    dyn_reset(&b);
    cr_expect_not(b.full);
    cr_expect_eq(dyn_len(&b), 0);
    dyn_free(&b);
}

Test(dynbuf, printf_longer_than_the_stack_buffer)
{
    dynbuf b;
    dyn_init(&b, 4096);
    char big[1000];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    cr_assert_eq(dyn_printf(&b, "<%s>", big), 0);
    cr_expect_eq(dyn_len(&b), 1001);
    char *s = dyn_take(&b);
    cr_expect_eq(strlen(s), 1001);
    cr_expect_eq(dyn_len(&b), 0);
    free(s);
    dyn_free(&b);
}

Test(dynbuf, fixed_storage_never_allocates)
{
    char store[6];
    dynbuf b;
    dyn_init_fixed(&b, store, sizeof(store));
    cr_expect_eq(dyn_adds(&b, "abc"), 0);
    cr_expect_eq(dyn_adds(&b, "def"), -1);
    cr_expect(b.full);
    cr_expect_eq(dyn_adds(&b, "de"), 0);
    cr_expect_str_eq(store, "abcde");
    dyn_truncate(&b, 1);
    cr_expect_str_eq(store, "a");
}

Test(dynbuf, take_of_an_empty_buffer_is_an_empty_string)
{
    dynbuf b;
    dyn_init(&b, 8);
    char *s = dyn_take(&b);
    cr_assert_not_null(s);
    cr_expect_str_eq(s, "");
    free(s);
}
