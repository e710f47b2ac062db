/*
 * test_config.c - unit tests for lib/config.c (Criterion).
 *
 * Values come from a fake environment passed to cfg_load_from(); one test
 * uses the real environment through cfg_load().  Type rules are checked
 * with a table of small named cases.
 */
/* GCC 12 takes the buffer open_memstream() hands back for a pointer to the
 * local that received it and warns on every use (a false positive). */
#pragma GCC diagnostic ignored "-Wdangling-pointer"
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

#define ERR_MAX 512

/* ------------------------------------------------------------ fake env */

typedef struct {
    const char *name;
    const char *value;
} kv;

/* arg: kv array ended by a NULL name. */
static const char *fake_get(const char *name, void *arg)
{
    for (const kv *p = arg; p->name != NULL; p++)
        if (strcmp(p->name, name) == 0)
            return p->value;
    return NULL;
}

static char *capture_print(const cfg *c)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);

    cr_assert_not_null(f);
    cfg_print(c, f);
    fclose(f);
    return buf;
}

static char *capture_help(const cfg_var *vars, size_t n)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);

    cr_assert_not_null(f);
    cfg_help(vars, n, f);
    fclose(f);
    return buf;
}

/* ------------------------------------------------------- table of cases */

typedef struct {
    const char *label;
    cfg_var var;       /* .name is always "V" */
    const char *value; /* NULL = not in the environment */
    int ok;
    long long num;   /* expected cfg_int / cfg_bool when ok */
    const char *str; /* expected cfg_str when ok ("" = expect NULL) */
    const char *err; /* expected err (exact) when !ok */
} type_case;

#define V(t, ...)                                                                                                      \
    {                                                                                                                  \
        .name = "V", .type = (t), __VA_ARGS__                                                                          \
    }
#define PORT_RANGE .min = 1, .max = 65535
#define LEVELS .choices = "debug|info|warn|error"
#define ZMQ .schemes = "tcp|ipc|inproc"

static const type_case cases[] = {
    /* CFG_STR */
    {"str plain", V(CFG_STR), "hello", 1, 0, "hello", NULL},
    {"str unset", V(CFG_STR), NULL, 1, 0, "", NULL},
    {"str empty is unset", V(CFG_STR), "", 1, 0, "", NULL},
    {"str default", V(CFG_STR, .def = "dflt"), NULL, 1, 0, "dflt", NULL},
    {"str empty uses default", V(CFG_STR, .def = "dflt"), "", 1, 0, "dflt", NULL},
    {"str required empty", V(CFG_STR, .flags = CFG_REQUIRED), "", 0, 0, NULL, "V: required but not set"},
    {"str required with default", V(CFG_STR, .flags = CFG_REQUIRED, .def = "x"), NULL, 1, 0, "x", NULL},

    /* CFG_INT */
    {"int", V(CFG_INT), "42", 1, 42, "42", NULL},
    {"int negative", V(CFG_INT), "-7", 1, -7, "-7", NULL},
    {"int plus", V(CFG_INT), "+5", 1, 5, "+5", NULL},
    {"int max", V(CFG_INT), "9223372036854775807", 1, 9223372036854775807LL, NULL, NULL},
    {"int min", V(CFG_INT), "-9223372036854775808", 1, -9223372036854775807LL - 1, NULL, NULL},
    {"int words", V(CFG_INT), "abc", 0, 0, NULL, "V: \"abc\" is not an integer"},
    {"int trailing garbage", V(CFG_INT), "12abc", 0, 0, NULL, "V: \"12abc\" is not an integer"},
    {"int trailing space", V(CFG_INT), "12 ", 0, 0, NULL, "V: \"12 \" is not an integer"},
    {"int leading space", V(CFG_INT), " 12", 0, 0, NULL, "V: \" 12\" is not an integer"},
    {"int hex", V(CFG_INT), "0x10", 0, 0, NULL, "V: \"0x10\" is not an integer"},
    {"int sign only", V(CFG_INT), "-", 0, 0, NULL, "V: \"-\" is not an integer"},
    {"int decimal", V(CFG_INT), "1.5", 0, 0, NULL, "V: \"1.5\" is not an integer"},
    {"int overflow", V(CFG_INT), "9223372036854775808", 0, 0, NULL,
     "V: \"9223372036854775808\" is out of the 64-bit integer range"},
    {"int underflow", V(CFG_INT), "-9223372036854775809", 0, 0, NULL,
     "V: \"-9223372036854775809\" is out of the 64-bit integer range"},
    {"int above range", V(CFG_INT, PORT_RANGE), "70000", 0, 0, NULL, "V: 70000 is out of range 1..65535"},
    {"int below range", V(CFG_INT, PORT_RANGE), "0", 0, 0, NULL, "V: 0 is out of range 1..65535"},
    {"int range low edge", V(CFG_INT, PORT_RANGE), "1", 1, 1, "1", NULL},
    {"int range high edge", V(CFG_INT, PORT_RANGE), "65535", 1, 65535, "65535", NULL},
    {"int unbounded", V(CFG_INT), "70000", 1, 70000, "70000", NULL},
    {"int default", V(CFG_INT, .def = "8080", PORT_RANGE), NULL, 1, 8080, "8080", NULL},
    {"int bad default", V(CFG_INT, .def = "abc"), NULL, 0, 0, NULL, "V (default): \"abc\" is not an integer"},
    {"int default out of range", V(CFG_INT, .def = "0", PORT_RANGE), NULL, 0, 0, NULL,
     "V (default): 0 is out of range 1..65535"},
    {"int secret not echoed", V(CFG_INT, .flags = CFG_SECRET), "hunter2", 0, 0, NULL, "V: \"****\" is not an integer"},

    /* CFG_BOOL */
    {"bool 1", V(CFG_BOOL), "1", 1, 1, "1", NULL},
    {"bool 0", V(CFG_BOOL), "0", 1, 0, "0", NULL},
    {"bool true", V(CFG_BOOL), "true", 1, 1, NULL, NULL},
    {"bool false", V(CFG_BOOL), "false", 1, 0, NULL, NULL},
    {"bool yes", V(CFG_BOOL), "yes", 1, 1, NULL, NULL},
    {"bool no", V(CFG_BOOL), "no", 1, 0, NULL, NULL},
    {"bool on", V(CFG_BOOL), "on", 1, 1, NULL, NULL},
    {"bool off", V(CFG_BOOL), "off", 1, 0, NULL, NULL},
    {"bool TRUE", V(CFG_BOOL), "TRUE", 1, 1, NULL, NULL},
    {"bool Off", V(CFG_BOOL), "Off", 1, 0, NULL, NULL},
    {"bool default", V(CFG_BOOL, .def = "yes"), NULL, 1, 1, "yes", NULL},
    {"bool maybe", V(CFG_BOOL), "maybe", 0, 0, NULL,
     "V: \"maybe\" is not a boolean (use 1|0|true|false|yes|no|on|off)"},
    {"bool 2", V(CFG_BOOL), "2", 0, 0, NULL, "V: \"2\" is not a boolean (use 1|0|true|false|yes|no|on|off)"},

    /* CFG_ENUM */
    {"enum", V(CFG_ENUM, LEVELS), "warn", 1, 0, "warn", NULL},
    {"enum first", V(CFG_ENUM, LEVELS), "debug", 1, 0, "debug", NULL},
    {"enum last", V(CFG_ENUM, LEVELS), "error", 1, 0, "error", NULL},
    {"enum canonical case", V(CFG_ENUM, LEVELS), "INFO", 1, 0, "info", NULL},
    {"enum bad", V(CFG_ENUM, LEVELS), "loud", 0, 0, NULL, "V: \"loud\" is not one of debug|info|warn|error"},
    {"enum prefix", V(CFG_ENUM, LEVELS), "inf", 0, 0, NULL, "V: \"inf\" is not one of debug|info|warn|error"},
    {"enum two items", V(CFG_ENUM, LEVELS), "info|warn", 0, 0, NULL,
     "V: \"info|warn\" is not one of debug|info|warn|error"},
    {"enum bad default", V(CFG_ENUM, LEVELS, .def = "verbose"), NULL, 0, 0, NULL,
     "V (default): \"verbose\" is not one of debug|info|warn|error"},

    /* CFG_URL */
    {"url tcp", V(CFG_URL, ZMQ), "tcp://127.0.0.1:5555", 1, 0, "tcp://127.0.0.1:5555", NULL},
    {"url ipc", V(CFG_URL, ZMQ), "ipc:///tmp/s.sock", 1, 0, "ipc:///tmp/s.sock", NULL},
    {"url scheme case", V(CFG_URL, ZMQ), "TCP://h:1", 1, 0, "TCP://h:1", NULL},
    {"url bad scheme", V(CFG_URL, ZMQ), "http://x", 0, 0, NULL, "V: scheme \"http\" not accepted (use tcp|ipc|inproc)"},
    {"url scheme prefix", V(CFG_URL, ZMQ), "tc://x", 0, 0, NULL, "V: scheme \"tc\" not accepted (use tcp|ipc|inproc)"},
    {"url nothing after", V(CFG_URL, ZMQ), "tcp://", 0, 0, NULL, "V: \"tcp://\" is not a URL (expected scheme://...)"},
    {"url no scheme", V(CFG_URL), "localhost:5555", 0, 0, NULL,
     "V: \"localhost:5555\" is not a URL (expected scheme://...)"},
    {"url digit scheme", V(CFG_URL), "1http://x", 0, 0, NULL, "V: \"1http://x\" is not a URL (expected scheme://...)"},
    {"url any scheme", V(CFG_URL), "foo+bar://x", 1, 0, "foo+bar://x", NULL},
    {"url postgres", V(CFG_URL, .schemes = "postgres|postgresql"), "postgresql://u@db/app", 1, 0,
     "postgresql://u@db/app", NULL},
    {"url password not echoed", V(CFG_URL, .schemes = "http|https"), "ftp://u:pa55@h/", 0, 0, NULL,
     "V: scheme \"ftp\" not accepted (use http|https)"},
    {"url bad default", V(CFG_URL, ZMQ, .def = "nope"), NULL, 0, 0, NULL,
     "V (default): \"nope\" is not a URL (expected scheme://...)"},

    /* CFG_DURATION_MS */
    {"dur plain ms", V(CFG_DURATION_MS), "250", 1, 250, "250", NULL},
    {"dur ms", V(CFG_DURATION_MS), "250ms", 1, 250, "250ms", NULL},
    {"dur s", V(CFG_DURATION_MS), "15s", 1, 15000, "15s", NULL},
    {"dur m", V(CFG_DURATION_MS), "2m", 1, 120000, "2m", NULL},
    {"dur h", V(CFG_DURATION_MS), "1h", 1, 3600000, "1h", NULL},
    {"dur zero", V(CFG_DURATION_MS), "0", 1, 0, "0", NULL},
    {"dur upper unit", V(CFG_DURATION_MS), "3S", 1, 3000, NULL, NULL},
    {"dur default", V(CFG_DURATION_MS, .def = "30s"), NULL, 1, 30000, "30s", NULL},
    {"dur bad unit", V(CFG_DURATION_MS), "15x", 0, 0, NULL,
     "V: \"15x\" is not a duration (use e.g. 250ms, 15s, 2m, 1h or plain "
     "milliseconds)"},
    {"dur unit only", V(CFG_DURATION_MS), "s", 0, 0, NULL,
     "V: \"s\" is not a duration (use e.g. 250ms, 15s, 2m, 1h or plain "
     "milliseconds)"},
    {"dur negative", V(CFG_DURATION_MS), "-5s", 0, 0, NULL,
     "V: \"-5s\" is not a duration (use e.g. 250ms, 15s, 2m, 1h or plain "
     "milliseconds)"},
    {"dur fraction", V(CFG_DURATION_MS), "1.5s", 0, 0, NULL,
     "V: \"1.5s\" is not a duration (use e.g. 250ms, 15s, 2m, 1h or plain "
     "milliseconds)"},
    {"dur space", V(CFG_DURATION_MS), "15 s", 0, 0, NULL,
     "V: \"15 s\" is not a duration (use e.g. 250ms, 15s, 2m, 1h or plain "
     "milliseconds)"},
    {"dur trailing garbage", V(CFG_DURATION_MS), "15sec", 0, 0, NULL,
     "V: \"15sec\" is not a duration (use e.g. 250ms, 15s, 2m, 1h or plain "
     "milliseconds)"},
    {"dur max ms", V(CFG_DURATION_MS), "9223372036854775807", 1, 9223372036854775807LL, NULL, NULL},
    {"dur digits overflow", V(CFG_DURATION_MS), "9223372036854775808", 0, 0, NULL,
     "V: \"9223372036854775808\" is too long a duration"},
    {"dur unit overflow", V(CFG_DURATION_MS), "2562047788016h", 0, 0, NULL,
     "V: \"2562047788016h\" is too long a duration"},
    {"dur unit no overflow", V(CFG_DURATION_MS), "2562047788015h", 1, 2562047788015LL * 3600000LL, NULL, NULL},
    {"dur above range", V(CFG_DURATION_MS, .min = 1, .max = 60000), "2m", 0, 0, NULL,
     "V: \"2m\" (120000 ms) is out of range 1..60000 ms"},
    {"dur below range", V(CFG_DURATION_MS, .min = 1, .max = 60000), "0ms", 0, 0, NULL,
     "V: \"0ms\" (0 ms) is out of range 1..60000 ms"},
    {"dur in range", V(CFG_DURATION_MS, .min = 1, .max = 60000), "60s", 1, 60000, "60s", NULL},
};

Test(config, type_cases)
{
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const type_case *tc = &cases[i];
        kv env[] = {{"V", tc->value}, {NULL, NULL}};
        char err[ERR_MAX] = "untouched";
        cfg *c = (cfg *)&err; /* must be reset to NULL on failure */
        int r = cfg_load_from(&c, &tc->var, 1, fake_get, env, err, sizeof err);

        if (!tc->ok) {
            cr_expect_eq(r, -1, "[%s] expected failure", tc->label);
            cr_expect_null(c, "[%s] *out must be NULL on failure", tc->label);
            cr_expect_str_eq(err, tc->err, "[%s] err", tc->label);
            cfg_free(c);
            continue;
        }
        cr_expect_eq(r, 0, "[%s] expected success, got: %s", tc->label, err);
        cr_expect_str_eq(err, "", "[%s] err cleared on success", tc->label);
        if (r != 0)
            continue;
        if (tc->str != NULL && tc->str[0] == '\0')
            cr_expect_null(cfg_str(c, "V"), "[%s] unset", tc->label);
        else if (tc->str != NULL)
            cr_expect_str_eq(cfg_str(c, "V"), tc->str, "[%s] str", tc->label);
        if (tc->var.type == CFG_INT || tc->var.type == CFG_DURATION_MS)
            cr_expect_eq(cfg_int(c, "V"), tc->num, "[%s] int", tc->label);
        if (tc->var.type == CFG_BOOL)
            cr_expect_eq(cfg_bool(c, "V"), (int)tc->num, "[%s] bool", tc->label);
        cr_expect_eq(cfg_is_set(c, "V"), tc->value != NULL && tc->value[0] != '\0', "[%s] is_set", tc->label);
        cfg_free(c);
    }
}

/* ----------------------------------------------------------- single tests */

static const cfg_var db_vars[] = {
    {.name = "DATABASE_URL",
     .type = CFG_URL,
     .flags = CFG_REQUIRED,
     .help = "Postgres connection",
     .alias = "CHECKPOINT_DB_URL",
     .schemes = "postgres|postgresql"},
};

Test(config, required_missing)
{
    static const cfg_var vars[] = {
        {.name = "DATABASE_URL", .type = CFG_URL, .flags = CFG_REQUIRED},
    };
    kv env[] = {{"OTHER", "x"}, {NULL, NULL}};
    char err[ERR_MAX];
    cfg *c = NULL;

    cr_assert_eq(cfg_load_from(&c, vars, 1, fake_get, env, err, sizeof err), -1);
    cr_expect_str_eq(err, "DATABASE_URL: required but not set");
    cr_expect_null(c);
}

Test(config, required_missing_mentions_alias)
{
    kv env[] = {{"DATABASE_URL", ""}, {NULL, NULL}};
    char err[ERR_MAX];
    cfg *c = NULL;

    cr_assert_eq(cfg_load_from(&c, db_vars, 1, fake_get, env, err, sizeof err), -1);
    cr_expect_str_eq(err, "DATABASE_URL: required but not set (nor CHECKPOINT_DB_URL)");
}

Test(config, alias_used_when_main_unset)
{
    kv env[] = {{"CHECKPOINT_DB_URL", "postgres://h/db"}, {NULL, NULL}};
    char err[ERR_MAX];
    cfg *c = NULL;

    cr_assert_eq(cfg_load_from(&c, db_vars, 1, fake_get, env, err, sizeof err), 0, "%s", err);
    cr_expect_str_eq(cfg_str(c, "DATABASE_URL"), "postgres://h/db");
    cr_expect_eq(cfg_is_set(c, "DATABASE_URL"), 1);
    cr_expect_null(cfg_str(c, "CHECKPOINT_DB_URL"), "only main name looks up");
    cfg_free(c);
}

Test(config, alias_used_when_main_empty)
{
    kv env[] = {{"DATABASE_URL", ""}, {"CHECKPOINT_DB_URL", "postgres://h/db"}, {NULL, NULL}};
    char err[ERR_MAX];
    cfg *c = NULL;

    cr_assert_eq(cfg_load_from(&c, db_vars, 1, fake_get, env, err, sizeof err), 0, "%s", err);
    cr_expect_str_eq(cfg_str(c, "DATABASE_URL"), "postgres://h/db");
    cfg_free(c);
}

Test(config, main_name_wins_over_alias)
{
    kv env[] = {{"DATABASE_URL", "postgres://main/db"}, {"CHECKPOINT_DB_URL", "postgres://alias/db"}, {NULL, NULL}};
    char err[ERR_MAX];
    cfg *c = NULL;

    cr_assert_eq(cfg_load_from(&c, db_vars, 1, fake_get, env, err, sizeof err), 0, "%s", err);
    cr_expect_str_eq(cfg_str(c, "DATABASE_URL"), "postgres://main/db");
    cfg_free(c);
}

Test(config, alias_error_names_both)
{
    kv env[] = {{"CHECKPOINT_DB_URL", "http://h/db"}, {NULL, NULL}};
    char err[ERR_MAX];
    cfg *c = NULL;

    cr_assert_eq(cfg_load_from(&c, db_vars, 1, fake_get, env, err, sizeof err), -1);
    cr_expect_str_eq(err, "DATABASE_URL (via CHECKPOINT_DB_URL): scheme "
                          "\"http\" not accepted (use postgres|postgresql)");
}

Test(config, first_error_wins)
{
    static const cfg_var vars[] = {
        {.name = "A", .type = CFG_INT},
        {.name = "B", .type = CFG_INT},
        {.name = "C", .type = CFG_INT},
    };
    kv env[] = {{"A", "1"}, {"B", "x"}, {"C", "y"}, {NULL, NULL}};
    char err[ERR_MAX];
    cfg *c = NULL;

    cr_assert_eq(cfg_load_from(&c, vars, 3, fake_get, env, err, sizeof err), -1);
    cr_expect_str_eq(err, "B: \"x\" is not an integer");
}

Test(config, value_length_cap)
{
    static const cfg_var vars[] = {{.name = "BIG", .type = CFG_STR}};
    char *big = malloc(CFG_VALUE_MAX + 2);
    kv env[] = {{"BIG", big}, {NULL, NULL}};
    char err[ERR_MAX];
    cfg *c = NULL;

    cr_assert_not_null(big);
    memset(big, 'a', CFG_VALUE_MAX);
    big[CFG_VALUE_MAX] = '\0';
    cr_expect_eq(cfg_load_from(&c, vars, 1, fake_get, env, err, sizeof err), 0,
                 "exactly CFG_VALUE_MAX bytes is accepted: %s", err);
    cr_expect_eq(strlen(cfg_str(c, "BIG")), (size_t)CFG_VALUE_MAX);
    cfg_free(c);

    big[CFG_VALUE_MAX] = 'a';
    big[CFG_VALUE_MAX + 1] = '\0';
    cr_expect_eq(cfg_load_from(&c, vars, 1, fake_get, env, err, sizeof err), -1);
    cr_expect_str_eq(err, "BIG: value is too long (more than 4096 bytes)");
    free(big);
}

Test(config, secret_values_never_in_errors)
{
    static const cfg_var vars[] = {
        {.name = "TOKEN", .type = CFG_ENUM, .flags = CFG_SECRET, .choices = "a|b"},
    };
    kv env[] = {{"TOKEN", "hunter2"}, {NULL, NULL}};
    char err[ERR_MAX];
    cfg *c = NULL;

    cr_assert_eq(cfg_load_from(&c, vars, 1, fake_get, env, err, sizeof err), -1);
    cr_expect_null(strstr(err, "hunter2"), "%s", err);
    cr_expect_eq(strncmp(err, "TOKEN: ", 7), 0, "%s", err);
}

Test(config, url_password_masked_in_errors)
{
    static const cfg_var vars[] = {
        {.name = "U", .type = CFG_INT},
    };
    kv env[] = {{"U", "postgres://me:s3cret@h/db"}, {NULL, NULL}};
    char err[ERR_MAX];
    cfg *c = NULL;

    cr_assert_eq(cfg_load_from(&c, vars, 1, fake_get, env, err, sizeof err), -1);
    cr_expect_str_eq(err, "U: \"postgres://me:****@h/db\" is not an integer");
}

Test(config, long_and_control_values_sanitised_in_errors)
{
    static const cfg_var vars[] = {{.name = "N", .type = CFG_INT}};
    char val[600];
    kv env[] = {{"N", val}, {NULL, NULL}};
    char err[ERR_MAX];
    cfg *c = NULL;

    memset(val, 'x', sizeof val - 1);
    val[sizeof val - 1] = '\0';
    val[3] = '\n';
    cr_assert_eq(cfg_load_from(&c, vars, 1, fake_get, env, err, sizeof err), -1);
    cr_expect_null(strchr(err, '\n'), "no raw newline: %s", err);
    cr_expect_not_null(strstr(err, "xxx\\nxx"), "%s", err);
    cr_expect_not_null(strstr(err, "...\" is not an integer"), "%s", err);
    cr_expect_lt(strlen(err), 200u);
}

Test(config, small_or_null_err_buffer)
{
    static const cfg_var vars[] = {{.name = "N", .type = CFG_INT}};
    kv env[] = {{"N", "abc"}, {NULL, NULL}};
    char err[8];
    cfg *c = NULL;

    cr_expect_eq(cfg_load_from(&c, vars, 1, fake_get, env, err, sizeof err), -1);
    cr_expect_str_eq(err, "N: \"abc");
    cr_expect_eq(cfg_load_from(&c, vars, 1, fake_get, env, NULL, 0), -1);
}

Test(config, table_mistakes)
{
    static const cfg_var dup[] = {
        {.name = "X", .type = CFG_STR},
        {.name = "X", .type = CFG_INT},
    };
    static const cfg_var nochoice[] = {{.name = "E", .type = CFG_ENUM}};
    static const cfg_var bounds[] = {
        {.name = "I", .type = CFG_INT, .min = 10, .max = 1},
    };
    kv env[] = {{NULL, NULL}};
    char err[ERR_MAX];
    cfg *c = NULL;

    cr_expect_eq(cfg_load_from(&c, dup, 2, fake_get, env, err, sizeof err), -1);
    cr_expect_str_eq(err, "X: declared twice");
    cr_expect_eq(cfg_load_from(&c, nochoice, 1, fake_get, env, err, sizeof err), -1);
    cr_expect_str_eq(err, "E: CFG_ENUM without choices");
    cr_expect_eq(cfg_load_from(&c, bounds, 1, fake_get, env, err, sizeof err), -1);
    cr_expect_str_eq(err, "I: invalid bounds 10..1");
    cr_expect_eq(cfg_load_from(NULL, bounds, 1, fake_get, env, err, sizeof err), -1);
}

Test(config, accessors_on_unknown_and_wrong_type)
{
    static const cfg_var vars[] = {
        {.name = "S", .type = CFG_STR, .def = "12"},
        {.name = "UNSET_INT", .type = CFG_INT},
    };
    kv env[] = {{NULL, NULL}};
    char err[ERR_MAX];
    cfg *c = NULL;

    cr_assert_eq(cfg_load_from(&c, vars, 2, fake_get, env, err, sizeof err), 0);
    cr_expect_null(cfg_str(c, "NOPE"));
    cr_expect_eq(cfg_int(c, "NOPE"), 0);
    cr_expect_eq(cfg_bool(c, "NOPE"), 0);
    cr_expect_eq(cfg_is_set(c, "NOPE"), 0);
    cr_expect_eq(cfg_int(c, "S"), 0, "CFG_STR is not an int");
    cr_expect_eq(cfg_is_set(c, "S"), 0, "default is not 'set'");
    cr_expect_null(cfg_str(c, "UNSET_INT"));
    cr_expect_eq(cfg_int(c, "UNSET_INT"), 0);
    cr_expect_null(cfg_str(NULL, "S"));
    cfg_free(c);
    cfg_free(NULL);
}

Test(config, load_reads_real_environment)
{
    static const cfg_var vars[] = {
        {.name = "CFG_TEST_PORT", .type = CFG_INT, .min = 1, .max = 65535},
        {.name = "CFG_TEST_FLAG", .type = CFG_BOOL, .def = "off"},
    };
    char err[ERR_MAX];
    cfg *c = NULL;

    cr_assert_eq(setenv("CFG_TEST_PORT", "8443", 1), 0);
    unsetenv("CFG_TEST_FLAG");
    cr_assert_eq(cfg_load(&c, vars, 2, err, sizeof err), 0, "%s", err);
    cr_expect_eq(cfg_int(c, "CFG_TEST_PORT"), 8443);
    cr_expect_eq(cfg_bool(c, "CFG_TEST_FLAG"), 0);
    cfg_free(c);

    cr_assert_eq(setenv("CFG_TEST_PORT", "70000", 1), 0);
    cr_expect_eq(cfg_load(&c, vars, 2, err, sizeof err), -1);
    cr_expect_str_eq(err, "CFG_TEST_PORT: 70000 is out of range 1..65535");
}

Test(config, print_masks_secrets_and_url_passwords)
{
    static const cfg_var vars[] = {
        {.name = "API_KEY", .type = CFG_STR, .flags = CFG_SECRET},
        {.name = "OTHER_KEY", .type = CFG_STR, .flags = CFG_SECRET},
        {.name = "DATABASE_URL", .type = CFG_URL},
        {.name = "PLAIN_URL", .type = CFG_URL},
        {.name = "PORT", .type = CFG_INT, .def = "8080"},
        {.name = "NOTE", .type = CFG_STR},
        {.name = "LEVEL", .type = CFG_ENUM, .choices = "debug|info"},
        {.name = "MULTI", .type = CFG_STR},
        {.name = "AT_IN_PATH", .type = CFG_URL},
    };
    kv env[] = {
        {"API_KEY", "sk-123456"},
        {"DATABASE_URL", "postgres://app:pa55word@db:5432/app?sslmode=off"},
        {"PLAIN_URL", "postgres://app@db/app"},
        {"LEVEL", "DEBUG"},
        {"MULTI", "a\nb"},
        {"AT_IN_PATH", "http://h/x:y@z"},
        {NULL, NULL},
    };
    char err[ERR_MAX];
    cfg *c = NULL;
    char *out;

    cr_assert_eq(cfg_load_from(&c, vars, 9, fake_get, env, err, sizeof err), 0, "%s", err);
    out = capture_print(c);
    cr_expect_str_eq(out, "API_KEY=****\n"
                          "OTHER_KEY=(unset)\n"
                          "DATABASE_URL=postgres://app:****@db:5432/app?sslmode=off\n"
                          "PLAIN_URL=postgres://app@db/app\n"
                          "PORT=8080\n"
                          "NOTE=(unset)\n"
                          "LEVEL=debug\n"
                          "MULTI=a\\nb\n"
                          "AT_IN_PATH=http://h/x:y@z\n");
    cr_expect_null(strstr(out, "sk-123456"));
    cr_expect_null(strstr(out, "pa55word"));
    /* the real value is still available to the program */
    cr_expect_str_eq(cfg_str(c, "DATABASE_URL"), "postgres://app:pa55word@db:5432/app?sslmode=off");
    free(out);
    cfg_free(c);
}

Test(config, help_lists_names_aligned)
{
    static const cfg_var vars[] = {
        {.name = "DATABASE_URL",
         .type = CFG_URL,
         .flags = CFG_REQUIRED,
         .help = "Postgres connection",
         .alias = "CHECKPOINT_DB_URL",
         .schemes = "postgres|postgresql"},
        {.name = "API_KEY", .type = CFG_STR, .flags = CFG_SECRET, .def = "dev-key", .help = "Provider key"},
        {.name = "HTTP_PORT", .type = CFG_INT, .def = "8080", .min = 1, .max = 65535, .help = "Listen port"},
        {.name = "LOG_LEVEL",
         .type = CFG_ENUM,
         .def = "info",
         .choices = "debug|info|warn|error",
         .help = "Minimum level"},
    };
    char *out = capture_help(vars, 4);
    const char *names[] = {"DATABASE_URL", "API_KEY", "HTTP_PORT", "LOG_LEVEL"};
    const char *helps[] = {"Postgres connection", "Provider key", "Listen port", "Minimum level"};
    long col = -1;

    for (size_t i = 0; i < 4; i++) {
        const char *line = strstr(out, names[i]);
        const char *h;
        cr_assert_not_null(line, "%s missing:\n%s", names[i], out);
        h = strstr(line, helps[i]);
        cr_assert_not_null(h, "%s help missing", names[i]);
        /* help starts at the same column on every line */
        size_t bol = (size_t)(line - out);
        while (bol > 0 && out[bol - 1] != '\n')
            bol--;
        long at = (long)((size_t)(h - out) - bol);
        if (col < 0)
            col = at;
        cr_expect_eq(at, col, "misaligned help for %s:\n%s", names[i], out);
    }
    cr_expect_not_null(strstr(out, "(required)"));
    cr_expect_not_null(strstr(out, "(secret)"));
    cr_expect_not_null(strstr(out, "(alias CHECKPOINT_DB_URL)"));
    cr_expect_not_null(strstr(out, "[1..65535]"));
    cr_expect_not_null(strstr(out, "[debug|info|warn|error]"));
    cr_expect_not_null(strstr(out, "8080"));
    cr_expect_null(strstr(out, "dev-key"), "secret default masked");
    cr_expect_eq(strncmp(out, "VARIABLE", 8), 0, "header row");
    free(out);
}

Test(config, list_items_split_on_commas_and_spaces)
{
    static const char *const want[] = {"https://a.test", "b", "c"};
    const char *list = " https://a.test,, b ,c ";
    const char *item;
    size_t n, i = 0;

    while ((item = cfg_list_next(&list, &n)) != NULL) {
        cr_assert_lt(i, 3);
        cr_expect_eq(n, strlen(want[i]));
        cr_expect_eq(strncmp(item, want[i], n), 0, "item %zu", i);
        i++;
    }
    cr_expect_eq(i, 3);
    list = NULL;
    cr_expect_null(cfg_list_next(&list, &n));
    list = " , ";
    cr_expect_null(cfg_list_next(&list, &n));
}
