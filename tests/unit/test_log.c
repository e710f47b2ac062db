/*
 * test_log.c - unit tests for lib/log.c (Criterion + jansson).
 *
 * Output is captured with open_memstream(); every line is parsed with
 * jansson (which also rejects invalid UTF-8 and duplicate keys here), so a
 * test fails on any line that is not exactly one valid JSON object.
 */
#include <criterion/criterion.h>

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

#define MAX_LINES 2048
#define REPL "\xEF\xBF\xBD" /* U+FFFD */
#define ELLIPSIS "\xE2\x80\xA6"

static char *cap_buf;
static size_t cap_len;
static FILE *cap_f;

static void setup(void)
{
    cap_f = open_memstream(&cap_buf, &cap_len);
    cr_assert_not_null(cap_f);
    log_set_output(cap_f);
}

static void teardown(void)
{
    log_set_output(NULL);
    fclose(cap_f);
    free(cap_buf);
}

TestSuite(log, .init = setup, .fini = teardown);

/* Split the captured output into lines; each must end with '\n'. */
static size_t split_lines(const char *lines[], size_t lens[], size_t max)
{
    size_t n = 0;
    const char *p = cap_buf;
    const char *end = cap_buf + cap_len;

    cr_assert(cap_len == 0 || end[-1] == '\n', "output ends mid-line");
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        cr_assert_not_null(nl);
        cr_assert_lt(n, max);
        lines[n] = p;
        lens[n] = (size_t)(nl - p);
        n++;
        p = nl + 1;
    }
    return n;
}

/* Parse one line as a JSON object, failing the test otherwise. */
static json_t *parse(const char *line, size_t len)
{
    json_error_t e;
    json_t *j = json_loadb(line, len, JSON_REJECT_DUPLICATES, &e);

    cr_assert_not_null(j, "invalid JSON (%s): %.*s", e.text, (int)len, line);
    cr_assert(json_is_object(j));
    for (size_t i = 0; i < len; i++)
        cr_assert_geq((unsigned char)line[i], 0x20, "raw control byte in line: %.*s", (int)len, line);
    cr_assert_leq(len + 1, (size_t)LOG_LINE_MAX);
    return j;
}

/* The only line written so far, parsed. */
static json_t *only_line(void)
{
    const char *lines[2];
    size_t lens[2];

    cr_assert_eq(split_lines(lines, lens, 2), 1, "want exactly one line:\n%s", cap_buf);
    return parse(lines[0], lens[0]);
}

/* Start a fresh capture within one test. */
static void reset_capture(void)
{
    teardown();
    setup();
}

static const char *sget(json_t *j, const char *key)
{
    json_t *v = json_object_get(j, key);

    return json_is_string(v) ? json_string_value(v) : NULL;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);

    return a >= b && memcmp(s + a - b, suffix, b) == 0;
}

/* ---------------------------------------------------------------- tests */

Test(log, one_valid_line_with_standard_keys)
{
    log_init("svc-session", LOG_DEBUG);
    log_info("hello %d", 42);

    cr_assert_eq(strncmp(cap_buf, "{\"ts\":\"", 7), 0, "%s", cap_buf);
    json_t *j = only_line();
    const char *ts = sget(j, "ts");
    cr_assert_not_null(ts);
    /* 2026-11-27T15:30:00.123Z */
    cr_expect_eq(strlen(ts), 24u, "%s", ts);
    for (size_t i = 0; i < strlen(ts); i++) {
        const char *shape = "dddd-dd-ddTdd:dd:dd.dddZ";
        if (shape[i] == 'd')
            cr_expect(ts[i] >= '0' && ts[i] <= '9', "ts %s", ts);
        else
            cr_expect_eq(ts[i], shape[i], "ts %s", ts);
    }
    cr_expect_str_eq(sget(j, "level"), "info");
    cr_expect_str_eq(sget(j, "prog"), "svc-session");
    cr_expect_str_eq(sget(j, "msg"), "hello 42");
    cr_expect_null(json_object_get(j, "rid"), "no rid unless set");
    cr_expect_eq(json_object_size(j), 4u);
    json_decref(j);
}

Test(log, defaults_without_init)
{
    log_debug("hidden");
    log_info("shown");
    json_t *j = only_line();
    cr_expect_str_eq(sget(j, "prog"), "unknown");
    cr_expect_str_eq(sget(j, "msg"), "shown");
    json_decref(j);
}

Test(log, level_filtering)
{
    const char *lines[8];
    size_t lens[8];
    static const char *want[] = {"warn", "error"};

    log_init("p", LOG_WARN);
    cr_expect(!log_enabled(LOG_DEBUG));
    cr_expect(!log_enabled(LOG_INFO));
    cr_expect(log_enabled(LOG_WARN));
    cr_expect(log_enabled(LOG_ERROR));
    log_debug("d");
    log_info("i");
    log_fields(LOG_INFO, "fi", "k", "v", NULL);
    log_warn("w");
    log_error("e");
    cr_assert_eq(split_lines(lines, lens, 8), 2, "%s", cap_buf);
    for (size_t i = 0; i < 2; i++) {
        json_t *j = parse(lines[i], lens[i]);
        cr_expect_str_eq(sget(j, "level"), want[i]);
        json_decref(j);
    }

    log_init("p", LOG_ERROR);
    log_warn("w2");
    cr_expect_eq(split_lines(lines, lens, 8), 2, "warn filtered at ERROR");
    log_init("p", LOG_DEBUG);
    log_debug("d2");
    cr_expect_eq(split_lines(lines, lens, 8), 3, "debug shown at DEBUG");
}

Test(log, level_parse_and_name)
{
    static const struct {
        const char *in;
        int ok;
        log_level want;
    } cases[] = {
        {"debug", 1, LOG_DEBUG},   {"INFO", 1, LOG_INFO},   {"Warn", 1, LOG_WARN},  {"warning", 1, LOG_WARN},
        {"error", 1, LOG_ERROR},   {"ERROR", 1, LOG_ERROR}, {"loud", 0, LOG_INFO},  {"", 0, LOG_INFO},
        {"warnings", 0, LOG_INFO}, {"err", 0, LOG_INFO},    {" info", 0, LOG_INFO},
    };

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        log_level l = (log_level)99;
        int r = log_level_parse(cases[i].in, &l);
        if (cases[i].ok) {
            cr_expect_eq(r, 0, "[%s]", cases[i].in);
            cr_expect_eq(l, cases[i].want, "[%s]", cases[i].in);
        } else {
            cr_expect_eq(r, -1, "[%s]", cases[i].in);
            cr_expect_eq((int)l, 99, "[%s] out untouched", cases[i].in);
        }
    }
    cr_expect_eq(log_level_parse(NULL, &(log_level){LOG_INFO}), -1);
    cr_expect_str_eq(log_level_name(LOG_DEBUG), "debug");
    cr_expect_str_eq(log_level_name(LOG_INFO), "info");
    cr_expect_str_eq(log_level_name(LOG_WARN), "warn");
    cr_expect_str_eq(log_level_name(LOG_ERROR), "error");
    cr_expect_str_eq(log_level_name((log_level)42), "unknown");
}

Test(log, escaping_round_trips)
{
    static const char *msgs[] = {
        "say \"hi\"",
        "back\\slash",
        "two\nlines\r\n",
        "tab\there",
        "ctl \x01\x02\x1f\x7f end",
        "bell\a bs\b ff\f",
        "utf8 h\xC3\xA9llo \xE2\x9C\x93 \xF0\x9F\x98\x80",
        "</script>",
    };

    for (size_t i = 0; i < sizeof msgs / sizeof msgs[0]; i++) {
        const char *lines[16];
        size_t lens[16];
        log_info("%s", msgs[i]);
        cr_assert_eq(split_lines(lines, lens, 16), i + 1, "one line each");
        json_t *j = parse(lines[i], lens[i]);
        cr_expect_str_eq(sget(j, "msg"), msgs[i], "round trip %zu", i);
        json_decref(j);
    }
    cr_expect_not_null(strstr(cap_buf, "say \\\"hi\\\""));
    cr_expect_not_null(strstr(cap_buf, "back\\\\slash"));
    cr_expect_not_null(strstr(cap_buf, "two\\nlines\\r\\n"));
    cr_expect_not_null(strstr(cap_buf, "ctl \\u0001\\u0002\\u001f\\u007f end"));
}

Test(log, invalid_utf8_replaced)
{
    static const struct {
        const char *label, *in, *want;
    } cases[] = {
        {"lone ff",
         "a\xFF"
         "b",
         "a" REPL "b"},
        {"truncated at end", "x\xC3", "x" REPL},
        {"truncated mid", "\xE2\x82x", REPL "x"},
        {"lone continuation", "\x80z", REPL "z"},
        {"overlong", "\xC0\xAF", REPL REPL},
        {"surrogate", "\xED\xA0\x80", REPL REPL REPL},
        {"above U+10FFFF", "\xF4\x90\x80\x80", REPL REPL REPL REPL},
        {"valid 4-byte kept", "\xF4\x8F\xBF\xBF", "\xF4\x8F\xBF\xBF"},
    };

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *lines[16];
        size_t lens[16];
        log_fields(LOG_WARN, cases[i].in, "field", cases[i].in, NULL);
        cr_assert_eq(split_lines(lines, lens, 16), i + 1);
        json_t *j = parse(lines[i], lens[i]);
        cr_expect_str_eq(sget(j, "msg"), cases[i].want, "[%s] msg", cases[i].label);
        cr_expect_str_eq(sget(j, "field"), cases[i].want, "[%s] field", cases[i].label);
        json_decref(j);
    }
}

Test(log, request_id_only_when_set)
{
    const char *lines[8];
    size_t lens[8];
    json_t *j;

    cr_expect_str_eq(log_request_id(), "");
    log_set_request_id("req-1");
    cr_expect_str_eq(log_request_id(), "req-1");
    log_info("with");
    log_set_request_id("");
    log_info("cleared by empty");
    log_set_request_id("req-2");
    log_set_request_id(NULL);
    log_info("cleared by NULL");
    cr_expect_str_eq(log_request_id(), "");
    cr_assert_eq(split_lines(lines, lens, 8), 3);

    j = parse(lines[0], lens[0]);
    cr_expect_str_eq(sget(j, "rid"), "req-1");
    cr_expect_lt(strstr(lines[0], "\"rid\"") - lines[0], strstr(lines[0], "\"msg\"") - lines[0], "rid before msg");
    json_decref(j);
    for (size_t i = 1; i < 3; i++) {
        j = parse(lines[i], lens[i]);
        cr_expect_null(json_object_get(j, "rid"), "line %zu", i);
        json_decref(j);
    }
}

Test(log, request_id_truncated)
{
    char long_id[200];
    char want[LOG_RID_MAX + 1];

    memset(long_id, 'r', sizeof long_id - 1);
    long_id[sizeof long_id - 1] = '\0';
    log_set_request_id(long_id);
    memset(want, 'r', LOG_RID_MAX);
    want[LOG_RID_MAX] = '\0';
    cr_expect_str_eq(log_request_id(), want);

    /* a 2-byte character straddling the cap is dropped, not split */
    memset(long_id, 'a', LOG_RID_MAX - 1);
    memcpy(long_id + LOG_RID_MAX - 1, "\xC3\xA9tail", 7);
    log_set_request_id(long_id);
    cr_expect_eq(strlen(log_request_id()), (size_t)LOG_RID_MAX - 1);

    log_set_request_id("id \"quoted\"\n");
    log_info("x");
    json_t *j = only_line();
    cr_expect_str_eq(sget(j, "rid"), "id \"quoted\"\n");
    json_decref(j);
}

/* ------------------------------------------------------------- threads */

#define PER_THREAD 300

static pthread_barrier_t start_line;

static void *worker(void *arg)
{
    const char *name = arg;
    char rid[32];

    snprintf(rid, sizeof rid, "rid-%s", name);
    log_set_request_id(rid);
    pthread_barrier_wait(&start_line);
    for (int i = 0; i < PER_THREAD; i++)
        log_info("%s %d %s", name, i, "padding padding padding padding padding padding padding");
    return NULL;
}

Test(log, request_id_is_per_thread_and_lines_do_not_interleave)
{
    static const char *lines[MAX_LINES];
    static size_t lens[MAX_LINES];
    pthread_t a, b;
    size_t n, seen_a = 0, seen_b = 0, seen_main = 0;

    log_set_request_id("main-rid");
    log_set_request_id(NULL); /* main thread: none */
    cr_assert_eq(pthread_barrier_init(&start_line, NULL, 3), 0);
    cr_assert_eq(pthread_create(&a, NULL, worker, "A"), 0);
    cr_assert_eq(pthread_create(&b, NULL, worker, "B"), 0);
    pthread_barrier_wait(&start_line);
    for (int i = 0; i < 50; i++)
        log_info("M %d", i);
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    pthread_barrier_destroy(&start_line);
    cr_expect_str_eq(log_request_id(), "", "threads did not touch main's id");

    n = split_lines(lines, lens, MAX_LINES);
    cr_assert_eq(n, 2 * PER_THREAD + 50u);
    for (size_t i = 0; i < n; i++) {
        json_t *j = parse(lines[i], lens[i]);
        const char *msg = sget(j, "msg");
        const char *rid = sget(j, "rid");
        cr_assert_not_null(msg);
        if (msg[0] == 'A') {
            cr_expect_str_eq(rid, "rid-A", "%s", msg);
            seen_a++;
        } else if (msg[0] == 'B') {
            cr_expect_str_eq(rid, "rid-B", "%s", msg);
            seen_b++;
        } else {
            cr_expect_null(json_object_get(j, "rid"), "%s", msg);
            seen_main++;
        }
        json_decref(j);
    }
    cr_expect_eq(seen_a, (size_t)PER_THREAD);
    cr_expect_eq(seen_b, (size_t)PER_THREAD);
    cr_expect_eq(seen_main, 50u);
}

/* ---------------------------------------------------------- truncation */

/* Log prefix + `unit` repeated `count` times; return the parsed msg. */
static char *log_repeated(const char *prefix, const char *unit, size_t count)
{
    size_t pl = strlen(prefix);
    size_t ul = strlen(unit);
    char *big = malloc(pl + ul * count + 1);
    const char *lines[MAX_LINES];
    size_t lens[MAX_LINES];
    size_t n;
    char *msg;

    cr_assert_not_null(big);
    memcpy(big, prefix, pl);
    for (size_t i = 0; i < count; i++)
        memcpy(big + pl + i * ul, unit, ul);
    big[pl + ul * count] = '\0';
    log_info("%s", big);
    free(big);
    n = split_lines(lines, lens, MAX_LINES);
    cr_assert_geq(n, 1u);
    json_t *j = parse(lines[n - 1], lens[n - 1]);
    msg = strdup(sget(j, "msg"));
    json_decref(j);
    return msg;
}

Test(log, long_messages_truncated_validly)
{
    static const struct {
        const char *label, *prefix, *unit;
        size_t count;
    } cases[] = {
        {"ascii", "", "x", 10000},
        {"quotes double in size", "", "\"", 3000},
        {"control chars grow 6x", "", "\x01", 2000},
        {"2-byte chars", "", "\xC3\xA9", 5000},
        {"2-byte chars, odd offset", "a", "\xC3\xA9", 5000},
        {"3-byte chars", "", "\xE2\x9C\x93", 3000},
        /* the LOG_MSG_MAX cut leaves 3 of 4 bytes of the last character */
        {"4-byte chars, offset 1", "a", "\xF0\x9F\x98\x80", 3000},
        {"4-byte chars, offset 2", "ab", "\xF0\x9F\x98\x80", 3000},
    };

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *msg = log_repeated(cases[i].prefix, cases[i].unit, cases[i].count);
        size_t pl = strlen(cases[i].prefix);
        size_t ul = strlen(cases[i].unit);
        cr_expect(ends_with(msg, ELLIPSIS), "[%s] ends with ellipsis", cases[i].label);
        cr_expect_null(strstr(msg, REPL), "[%s] no char split", cases[i].label);
        /* everything before the ellipsis is whole copies of the unit */
        size_t body = strlen(msg) - strlen(ELLIPSIS);
        cr_expect_eq(strncmp(msg, cases[i].prefix, pl), 0);
        cr_expect_eq((body - pl) % ul, 0u, "[%s]", cases[i].label);
        cr_expect_gt(body, 0u, "[%s] something kept", cases[i].label);
        cr_expect_leq(body, (size_t)LOG_MSG_MAX, "[%s]", cases[i].label);
        free(msg);
    }

    /* at the cap exactly: no truncation */
    char *msg = log_repeated("", "y", LOG_MSG_MAX);
    cr_expect_eq(strlen(msg), (size_t)LOG_MSG_MAX);
    cr_expect(!ends_with(msg, ELLIPSIS));
    free(msg);
}

/* -------------------------------------------------------------- fields */

Test(log, extra_fields)
{
    log_init("svc", LOG_INFO);
    log_set_request_id("r9");
    log_fields(LOG_ERROR, "request \"done\"", "method", "GET", "path", "/a\"b\\c\n", "empty", "", "missing",
               (const char *)NULL, "msg", "collides", NULL);
    json_t *j = only_line();
    cr_expect_str_eq(sget(j, "level"), "error");
    cr_expect_str_eq(sget(j, "prog"), "svc");
    cr_expect_str_eq(sget(j, "rid"), "r9");
    cr_expect_str_eq(sget(j, "msg"), "request \"done\"");
    cr_expect_str_eq(sget(j, "method"), "GET");
    cr_expect_str_eq(sget(j, "path"), "/a\"b\\c\n");
    cr_expect_str_eq(sget(j, "empty"), "");
    cr_expect(json_is_null(json_object_get(j, "missing")));
    cr_expect_str_eq(sget(j, "_msg"), "collides");
    cr_expect_null(json_object_get(j, "_truncated"));
    cr_expect_eq(json_object_size(j), 10u);
    json_decref(j);
}

Test(log, fields_capped_and_line_stays_valid)
{
    char *big = malloc(5000);

    cr_assert_not_null(big);
    memset(big, 'v', 4999);
    big[4999] = '\0';
    /* one long value: cut at LOG_FIELD_MAX */
    log_fields(LOG_INFO, "m", "big", big, NULL);
    json_t *j = only_line();
    const char *v = sget(j, "big");
    cr_assert_not_null(v);
    cr_expect(ends_with(v, ELLIPSIS));
    cr_expect_eq(strlen(v), (size_t)LOG_FIELD_MAX + strlen(ELLIPSIS));
    json_decref(j);
    free(big);

    /* a long message plus many big fields: fields dropped and marked */
    reset_capture();
    big = malloc(LOG_FIELD_MAX + 1);
    cr_assert_not_null(big);
    memset(big, 'w', LOG_FIELD_MAX);
    big[LOG_FIELD_MAX] = '\0';
    char msg[LOG_MSG_MAX + 1];
    memset(msg, 'm', LOG_MSG_MAX);
    msg[LOG_MSG_MAX] = '\0';
    log_fields(LOG_INFO, msg, "f1", big, "f2", big, "f3", big, "f4", big, "f5", big, "f6", big, NULL);
    free(big);
    j = only_line();
    cr_expect_eq(strlen(sget(j, "msg")), (size_t)LOG_MSG_MAX);
    cr_expect(json_is_true(json_object_get(j, "_truncated")));
    cr_expect_not_null(json_object_get(j, "f1"), "first field kept");
    cr_expect_null(json_object_get(j, "f6"), "last field dropped");
    json_decref(j);
    cr_expect_leq(cap_len, (size_t)LOG_LINE_MAX);

    /* many small fields still all fit */
    reset_capture();
    log_fields(LOG_INFO, "small", "a", "1", "b", "2", "c", "3", "d", "4", "e", "5", "f", "6", "g", "7", "h", "8", NULL);
    j = only_line();
    cr_expect_eq(json_object_size(j), 4u + 8u);
    cr_expect_str_eq(sget(j, "h"), "8");
    json_decref(j);
}

Test(log, program_name_handling)
{
    char long_prog[200];
    const char *lines[8];
    size_t lens[8];
    json_t *j;

    memset(long_prog, 'p', sizeof long_prog - 1);
    long_prog[sizeof long_prog - 1] = '\0';
    log_init(long_prog, LOG_INFO);
    log_info("a");
    log_init(NULL, LOG_INFO);
    log_info("b");
    log_init("svc \"x\"", LOG_INFO);
    log_info("c");
    cr_assert_eq(split_lines(lines, lens, 8), 3);
    j = parse(lines[0], lens[0]);
    cr_expect_eq(strlen(sget(j, "prog")), (size_t)LOG_PROG_MAX);
    json_decref(j);
    j = parse(lines[1], lens[1]);
    cr_expect_str_eq(sget(j, "prog"), "unknown");
    json_decref(j);
    j = parse(lines[2], lens[2]);
    cr_expect_str_eq(sget(j, "prog"), "svc \"x\"");
    json_decref(j);
}

Test(log, out_of_range_level_written_as_error)
{
    log_init("p", LOG_ERROR);
    log_msg((log_level)17, "odd level");
    json_t *j = only_line();
    cr_expect_str_eq(sget(j, "level"), "error");
    json_decref(j);
}
