/*
 * test_llm_sse.c - unit tests for svc-llm/event_stream.c, the incremental
 * Server-Sent Events parser (Criterion).
 *
 * Each case feeds a stream, in one piece and cut at every possible place,
 * and compares the events the parser reported with the expected list.
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <string.h>

#include "event_stream.h"

#define MAX_EVENTS 16
#define CAP 4096

typedef struct seen {
    char name[MAX_EVENTS][EVS_NAME_MAX];
    char data[MAX_EVENTS][512];
    size_t n;
    int stop_after; /* return 7 after this many events (0 = never) */
} seen;

static int on_event(void *arg, const char *name, const char *data, size_t len)
{
    seen *s = arg;
    cr_assert_eq(strlen(data), len, "data is NUL-terminated at len");
    if (s->n < MAX_EVENTS) {
        snprintf(s->name[s->n], EVS_NAME_MAX, "%s", name);
        snprintf(s->data[s->n], sizeof(s->data[0]), "%s", data);
    }
    s->n++;
    return s->stop_after && s->n >= (size_t)s->stop_after ? 7 : 0;
}

/* Feeds text cut at the given positions (cuts ascending, ncuts of them). */
static int feed_cut(seen *s, const char *text, const size_t *cuts, size_t ncuts, size_t max_line)
{
    evs_parser p;
    evs_init(&p, max_line, CAP, 1u << 20, on_event, s);
    size_t len = strlen(text), at = 0;
    int rv = 0;
    for (size_t i = 0; i <= ncuts && rv == 0; i++) {
        size_t end = i < ncuts ? cuts[i] : len;
        rv = evs_feed(&p, text + at, end - at);
        at = end;
    }
    evs_free(&p);
    return rv;
}

typedef struct expect {
    const char *name, *data;
} expect;

/* The same events whether fed whole, byte by byte, or cut at any 1 or 2
 * places. */
static void check_all_cuts(const char *text, const expect *want, size_t nwant)
{
    size_t len = strlen(text);
    for (size_t a = 0; a <= len; a++) {
        for (size_t b = a; b <= len; b += (len > 200 ? 7 : 1)) {
            seen s = {0};
            size_t cuts[2] = {a, b};
            cr_assert_eq(feed_cut(&s, text, cuts, 2, CAP), 0);
            cr_assert_eq(s.n, nwant, "cut at %zu,%zu: %zu events, want %zu", a, b, s.n, nwant);
            for (size_t i = 0; i < nwant; i++) {
                cr_assert_str_eq(s.name[i], want[i].name, "cut at %zu,%zu event %zu", a, b, i);
                cr_assert_str_eq(s.data[i], want[i].data, "cut at %zu,%zu event %zu", a, b, i);
            }
        }
    }
    /* byte by byte */
    seen s = {0};
    size_t cuts[1024];
    for (size_t i = 0; i < len && i < 1024; i++) {
        cuts[i] = i + 1;
    }
    cr_assert_eq(feed_cut(&s, text, cuts, len < 1024 ? len : 1024, CAP), 0);
    cr_assert_eq(s.n, nwant);
}

Test(sse, named_events_any_cut)
{
    const char *t = "event: message_start\ndata: {\"a\":1}\n\nevent: ping\ndata: {\"type\": \"ping\"}\n\n";
    expect w[] = {{"message_start", "{\"a\":1}"}, {"ping", "{\"type\": \"ping\"}"}};
    check_all_cuts(t, w, 2);
}

Test(sse, crlf_and_cr_line_ends)
{
    expect w[] = {{"a", "x"}, {"b", "y"}, {"message", "z"}};
    check_all_cuts("event: a\r\ndata: x\r\n\r\nevent: b\rdata: y\r\rdata: z\r\n\r\n", w, 3);
}

Test(sse, multi_line_data_joined_with_newline)
{
    expect w[] = {{"message", "line one\nline two\n\nline four"}};
    check_all_cuts("data: line one\ndata: line two\ndata:\ndata: line four\n\n", w, 1);
}

Test(sse, comments_and_unknown_fields_ignored)
{
    expect w[] = {{"e", "d"}};
    check_all_cuts(": ping\nid: 42\nretry: 1000\nfoo: bar\nevent: e\n: another comment\ndata: d\n\n", w, 1);
}

Test(sse, one_space_after_colon_is_dropped_only)
{
    expect w[] = {{"message", "x"}, {"message", " y"}, {"message", ""}};
    /* "data" without a colon is a data line with an empty value. */
    check_all_cuts("data:x\n\ndata:  y\n\ndata\n\n", w, 3);
}

Test(sse, event_without_data_not_dispatched_and_name_resets)
{
    expect w[] = {{"message", "after"}};
    check_all_cuts("event: lonely\n\ndata: after\n\n", w, 1);
}

Test(sse, unfinished_event_at_end_is_not_dispatched)
{
    expect w[] = {{"a", "1"}};
    check_all_cuts("event: a\ndata: 1\n\nevent: b\ndata: 2\n", w, 1);
}

Test(sse, leading_bom_skipped_even_split)
{
    expect w[] = {{"message", "hi"}};
    check_all_cuts("\xEF\xBB\xBF"
                   "data: hi\n\n",
                   w, 1);
}

Test(sse, utf8_split_inside_a_character)
{
    expect w[] = {{"message", "Zo\xC3\xAB \xE2\x82\xAC"}};
    check_all_cuts("data: Zo\xC3\xAB \xE2\x82\xAC\n\n", w, 1);
}

Test(sse, over_long_line_is_an_error_and_sticks)
{
    char line[300];
    memset(line, 'x', sizeof(line));
    memcpy(line, "data: ", 6);
    line[sizeof(line) - 1] = '\0';
    seen s = {0};
    evs_parser p;
    evs_init(&p, 100, CAP, 1u << 20, on_event, &s);
    /* the long line arrives in small pieces: still caught */
    int rv = 0;
    for (size_t i = 0; i < strlen(line) && rv == 0; i += 10) {
        rv = evs_feed(&p, line + i, 10);
    }
    cr_assert_eq(rv, EVS_ELINE);
    cr_assert_eq(evs_feed(&p, "\n\ndata: ok\n\n", 12), EVS_ELINE, "errors are sticky");
    cr_assert_eq(s.n, 0);
    evs_free(&p);

    /* and in one piece, with its terminator */
    seen s2 = {0};
    evs_init(&p, 100, CAP, 1u << 20, on_event, &s2);
    char whole[400];
    snprintf(whole, sizeof(whole), "%s\n\n", line);
    cr_assert_eq(evs_feed(&p, whole, strlen(whole)), EVS_ELINE);
    evs_free(&p);
}

Test(sse, event_data_and_total_caps)
{
    seen s = {0};
    evs_parser p;
    evs_init(&p, 100, 50, 1u << 20, on_event, &s);
    const char *t = "data: 0123456789012345678901234567890123456789\ndata: 0123456789\n\n";
    cr_assert_eq(evs_feed(&p, t, strlen(t)), EVS_EEVENT);
    evs_free(&p);

    evs_init(&p, 100, 100, 30, on_event, &s);
    cr_assert_eq(evs_feed(&p, "data: 12345678\n\n", 16), 0);
    cr_assert_eq(evs_feed(&p, "data: 12345678\n\n", 16), EVS_ETOTAL);
    evs_free(&p);
}

Test(sse, callback_can_stop_the_parser)
{
    seen s = {.stop_after = 1};
    evs_parser p;
    evs_init(&p, 100, 100, 1000, on_event, &s);
    const char *t = "data: 1\n\ndata: 2\n\n";
    cr_assert_eq(evs_feed(&p, t, strlen(t)), 7);
    cr_assert_eq(s.n, 1);
    evs_free(&p);
}
