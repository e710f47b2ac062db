/* test_gateway_json_shape.c: the depth and member counter that runs before
 * a request body is parsed (gateway/json_shape.c). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "json_shape.h"
#include "watchdog.h"

TestSuite(gateway_json_shape, .init = wd_suite_init, .timeout = WD_SUITE_TIMEOUT);

static json_shape_status check(const char *s, unsigned depth, unsigned keys, json_shape *sh)
{
    return json_shape_check(s, strlen(s), depth, keys, sh);
}

Test(gateway_json_shape, flat_object_counts_members)
{
    json_shape sh;
    cr_assert_eq(check("{\"message\":\"hi\",\"token\":\"t\"}", 8, 64, &sh), JSON_SHAPE_OK);
    cr_assert_eq(sh.depth, 1);
    cr_assert_eq(sh.keys, 2);
}

Test(gateway_json_shape, depth_limit_is_inclusive)
{
    json_shape sh;
    cr_assert_eq(check("[[[]]]", 3, 64, &sh), JSON_SHAPE_OK);
    cr_assert_eq(sh.depth, 3);
    cr_assert_eq(check("[[[[]]]]", 3, 64, &sh), JSON_SHAPE_TOO_DEEP);
    cr_assert_eq(check("{\"a\":{\"b\":{\"c\":{\"d\":1}}}}", 3, 64, NULL), JSON_SHAPE_TOO_DEEP);
}

Test(gateway_json_shape, siblings_do_not_add_depth)
{
    json_shape sh;
    cr_assert_eq(check("[[],[],[],[],[]]", 2, 64, &sh), JSON_SHAPE_OK);
    cr_assert_eq(sh.depth, 2);
}

Test(gateway_json_shape, key_limit)
{
    char buf[1024] = "{";
    for (int i = 0; i < 65; i++) {
        char m[32];
        snprintf(m, sizeof(m), "%s\"k%d\":%d", i ? "," : "", i, i);
        strcat(buf, m);
    }
    strcat(buf, "}");
    json_shape sh;
    cr_assert_eq(check(buf, 8, 64, &sh), JSON_SHAPE_TOO_MANY_KEYS);
    cr_assert_eq(sh.keys, 65);
    cr_assert_eq(check(buf, 8, 65, &sh), JSON_SHAPE_OK);
}

Test(gateway_json_shape, strings_do_not_count)
{
    json_shape sh;
    /* brackets, colons and escaped quotes inside strings are text */
    cr_assert_eq(check("{\"m\":\"[[[[{{{{:::: \\\" [[[[ \\\\\"}", 1, 1, &sh), JSON_SHAPE_OK);
    cr_assert_eq(sh.depth, 1);
    cr_assert_eq(sh.keys, 1);
}

Test(gateway_json_shape, escaped_backslash_ends_string)
{
    /* "a\\" ends at the second quote; the [ after it is structure */
    json_shape sh;
    cr_assert_eq(check("[\"a\\\\\",[[]]]", 2, 8, &sh), JSON_SHAPE_TOO_DEEP);
}

Test(gateway_json_shape, unbalanced_text_is_not_an_error_here)
{
    json_shape sh;
    cr_assert_eq(check("}}}]]]{", 8, 8, &sh), JSON_SHAPE_OK);
    cr_assert_eq(sh.depth, 1);
    cr_assert_eq(check("", 8, 8, &sh), JSON_SHAPE_OK);
    cr_assert_eq(sh.depth, 0);
    cr_assert_eq(sh.keys, 0);
}
