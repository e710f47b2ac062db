/* test_session_handoff.c: business hours (svc-session/sess_hours.c) —
 * open now, next opening, several ranges, past midnight, holidays, both
 * DST changes in Europe/Berlin — and the hand-off's promise, kind, retry
 * backoff and webhook signature (sess_handoff.c, sess_outbox.c), and the
 * sales email (sess_mail.c). */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sess_handoff.h"
#include "sess_hours.h"
#include "sess_mail.h"
#include "sess_outbox.h"

/* The instant of a Berlin wall time (the parse set TZ). */
static time_t at(int y, int mo, int d, int h, int mi)
{
    struct tm tm = {.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h, .tm_min = mi, .tm_isdst = -1};
    return mktime(&tm);
}

static sess_hours H;

static void parse_ok(const char *spec, const char *holidays)
{
    char err[256] = "";
    int rc = sess_hours_parse(&H, spec, "Europe/Berlin", holidays, err, sizeof(err));
    cr_assert_eq(rc, 0, "parse \"%s\": %s", spec, err);
}

static void parse_bad(const char *spec, const char *tz, const char *want)
{
    sess_hours h;
    char err[256] = "";
    cr_expect_eq(sess_hours_parse(&h, spec, tz, NULL, err, sizeof(err)), -1, "\"%s\" accepted", spec);
    cr_expect(strstr(err, want) != NULL, "\"%s\": error \"%s\" does not name %s", spec, err, want);
}

/* "YYYY-MM-DD HH:MM" of t in Berlin. */
static const char *wall(time_t t)
{
    static char buf[32];
    struct tm tm;
    localtime_r(&t, &tm);
    strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M", &tm);
    return buf;
}

Test(session_hours, open_and_closed_on_a_weekday_schedule)
{
    parse_ok("Mon-Fri 09:00-18:00", NULL);
    /* 2027-01-07 is a Thursday. */
    cr_expect(sess_hours_open(&H, at(2027, 1, 7, 11, 30)));
    cr_expect(sess_hours_open(&H, at(2027, 1, 7, 9, 0)), "the opening minute is open");
    cr_expect(!sess_hours_open(&H, at(2027, 1, 7, 18, 0)), "the closing minute is closed");
    cr_expect(!sess_hours_open(&H, at(2027, 1, 7, 8, 59)));
    cr_expect(!sess_hours_open(&H, at(2027, 1, 9, 12, 0)), "Saturday is closed");
    cr_expect(!sess_hours_open(&H, at(2027, 1, 10, 12, 0)), "Sunday is closed");
}

Test(session_hours, next_opening)
{
    parse_ok("Mon-Fri 09:00-18:00", NULL);
    cr_expect_str_eq(wall(sess_hours_next_open(&H, at(2027, 1, 7, 20, 0))), "2027-01-08 09:00", "Thursday night");
    cr_expect_str_eq(wall(sess_hours_next_open(&H, at(2027, 1, 8, 18, 30))), "2027-01-11 09:00", "Friday evening");
    cr_expect_str_eq(wall(sess_hours_next_open(&H, at(2027, 1, 11, 7, 0))), "2027-01-11 09:00", "Monday early");
    time_t now = at(2027, 1, 7, 12, 0);
    cr_expect_eq(sess_hours_next_open(&H, now), now, "open now: now");
}

Test(session_hours, several_ranges_a_day_and_single_days)
{
    parse_ok("Mon-Fri 09:00-12:00 13:00-17:00; Sat 10:00-14:00", NULL);
    cr_expect(sess_hours_open(&H, at(2027, 1, 7, 11, 0)));
    cr_expect(!sess_hours_open(&H, at(2027, 1, 7, 12, 30)), "lunch break");
    cr_expect(sess_hours_open(&H, at(2027, 1, 7, 16, 59)));
    cr_expect_str_eq(wall(sess_hours_next_open(&H, at(2027, 1, 7, 12, 30))), "2027-01-07 13:00");
    cr_expect(sess_hours_open(&H, at(2027, 1, 9, 13, 0)), "Saturday range");
    cr_expect_str_eq(wall(sess_hours_next_open(&H, at(2027, 1, 9, 15, 0))), "2027-01-11 09:00");
}

Test(session_hours, ranges_past_midnight_belong_to_their_first_day)
{
    parse_ok("Fri-Sat 22:00-02:00", NULL);
    cr_expect(sess_hours_open(&H, at(2027, 1, 8, 23, 0)), "Friday 23:00");
    cr_expect(sess_hours_open(&H, at(2027, 1, 9, 1, 30)), "Saturday 01:30 (Friday's range)");
    cr_expect(!sess_hours_open(&H, at(2027, 1, 9, 2, 0)));
    cr_expect(sess_hours_open(&H, at(2027, 1, 10, 1, 0)), "Sunday 01:00 (Saturday's range)");
    cr_expect(!sess_hours_open(&H, at(2027, 1, 11, 1, 0)), "Monday 01:00: Sunday has no range");
    cr_expect(!sess_hours_open(&H, at(2027, 1, 8, 1, 0)), "Friday 01:00: Thursday has no range");
    cr_expect_str_eq(wall(sess_hours_next_open(&H, at(2027, 1, 10, 3, 0))), "2027-01-15 22:00");
}

Test(session_hours, dst_spring_forward_and_fall_back_in_berlin)
{
    parse_ok("Mon-Sun 01:00-04:00", NULL);
    /* 2027-03-28: 02:00 CET becomes 03:00 CEST. */
    cr_expect(sess_hours_open(&H, at(2027, 3, 28, 3, 30)), "03:30 CEST");
    cr_expect(!sess_hours_open(&H, at(2027, 3, 28, 4, 0)), "04:00 CEST closed");
    /* 2027-10-31: 03:00 CEST becomes 02:00 CET; the wall clock rules. */
    cr_expect(sess_hours_open(&H, at(2027, 10, 31, 3, 30)), "03:30 CET");
    cr_expect(!sess_hours_open(&H, at(2027, 10, 31, 4, 0)), "04:00 CET closed");
    /* The next opening at the same wall time either side of a change. */
    parse_ok("Mon-Sun 09:00-17:00", NULL);
    time_t a = sess_hours_next_open(&H, at(2027, 3, 27, 20, 0));
    cr_expect_str_eq(wall(a), "2027-03-28 09:00");
    cr_expect_eq(a - at(2027, 3, 27, 20, 0), 12 * 3600, "a 23-hour day: 12 hours to 09:00, not 13");
    time_t b = sess_hours_next_open(&H, at(2027, 10, 30, 20, 0));
    cr_expect_str_eq(wall(b), "2027-10-31 09:00");
    cr_expect_eq(b - at(2027, 10, 30, 20, 0), 14 * 3600, "a 25-hour day: 14 hours to 09:00");
}

Test(session_hours, an_opening_inside_the_spring_gap_moves_to_after_it)
{
    parse_ok("Sun 02:30-05:00", NULL);
    /* 02:30 does not exist on 2027-03-28: the door opens at 03:30 CEST. */
    time_t t = sess_hours_next_open(&H, at(2027, 3, 27, 12, 0));
    cr_expect_str_eq(wall(t), "2027-03-28 03:30");
}

Test(session_hours, holidays_close_or_change_a_day)
{
    char path[] = "/tmp/test-holidays-XXXXXX";
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    const char *text = "# company holidays\n2027-01-07\n\n2027-01-08 10:00-12:00 # short day\n";
    cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    parse_ok("Mon-Fri 09:00-18:00", path);
    unlink(path);
    cr_expect(!sess_hours_open(&H, at(2027, 1, 7, 11, 0)), "a closed holiday");
    cr_expect(sess_hours_open(&H, at(2027, 1, 8, 11, 0)), "a short day, inside");
    cr_expect(!sess_hours_open(&H, at(2027, 1, 8, 9, 30)), "a short day, before its hours");
    cr_expect(!sess_hours_open(&H, at(2027, 1, 8, 14, 0)), "a short day, after its hours");
    cr_expect_str_eq(wall(sess_hours_next_open(&H, at(2027, 1, 6, 19, 0))), "2027-01-08 10:00");
}

Test(session_hours, bad_specs_name_the_variable)
{
    parse_bad("", "Europe/Berlin", "BUSINESS_HOURS");
    parse_bad("Mon-Fri", "Europe/Berlin", "BUSINESS_HOURS");
    parse_bad("Mon-Fri 9-18", "Europe/Berlin", "BUSINESS_HOURS");
    parse_bad("Mon-Fri 09:00-09:00", "Europe/Berlin", "BUSINESS_HOURS");
    parse_bad("Mon-Fri 25:00-26:00", "Europe/Berlin", "BUSINESS_HOURS");
    parse_bad("Xyz 09:00-18:00", "Europe/Berlin", "BUSINESS_HOURS");
    parse_bad("Mon-Fri 09:00-18:00", "Mars/Olympus", "BUSINESS_TIMEZONE");
    parse_bad("Mon-Fri 09:00-18:00", "../../etc/passwd", "BUSINESS_TIMEZONE");
    sess_hours h;
    char err[256] = "";
    cr_expect_eq(sess_hours_parse(&h, "Mon 09:00-10:00", "Europe/Berlin", "/nonexistent/holidays", err, sizeof(err)),
                 -1);
    cr_expect(strstr(err, "BUSINESS_HOLIDAYS_FILE") != NULL, "%s", err);
}

/* Found while writing tests/fuzz/fuzz_sess_hours.c: a BUSINESS_HOURS over the
 * parse buffer was cut silently, so the ranges after the cut were dropped
 * with no error; a long holidays line was read as two lines. */
Test(session_hours, long_values_are_refused_not_cut)
{
    char spec[HOURS_LINE_MAX + 40] = "";
    while (strlen(spec) + 17 < sizeof(spec)) {
        strcat(spec, "Mon 09:00-10:00; "); /* 17 characters a part: the cut falls between parts */
    }
    sess_hours h;
    char err[256] = "";
    cr_expect_eq(sess_hours_parse(&h, spec, "Europe/Berlin", NULL, err, sizeof(err)), -1, "%zu characters accepted",
                 strlen(spec));
    cr_expect(strstr(err, "BUSINESS_HOURS: longer than 255") != NULL, "%s", err);
    spec[255] = '\0'; /* at the cap: fine */
    cr_expect_eq(sess_hours_parse(&h, spec, "Europe/Berlin", NULL, err, sizeof(err)), 0, "%s", err);

    char path[] = "/tmp/test_hours_XXXXXX";
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fprintf(f, "2026-12-25\n2026-12-24 %*s09:00-12:00\n", 250, "");
    fclose(f);
    cr_expect_eq(sess_hours_parse(&h, "Mon 09:00-10:00", "Europe/Berlin", path, err, sizeof(err)), -1);
    cr_expect(strstr(err, ":2: longer than 254 characters") != NULL, "%s", err);
    unlink(path);
}

Test(session_hours, format_of_the_next_opening)
{
    parse_ok("Mon-Fri 09:00-18:00", NULL);
    char out[HOURS_PHRASE_MAX];
    time_t thu_night = at(2027, 1, 7, 20, 0);
    sess_hours_format(&H, thu_night, at(2027, 1, 8, 9, 0), "en", out, sizeof(out));
    cr_expect_str_eq(out, "tomorrow from 09:00");
    sess_hours_format(&H, at(2027, 1, 8, 19, 0), at(2027, 1, 11, 9, 0), "en-GB", out, sizeof(out));
    cr_expect_str_eq(out, "on Monday from 09:00");
    sess_hours_format(&H, at(2027, 1, 8, 19, 0), at(2027, 1, 11, 9, 0), "de-DE", out, sizeof(out));
    cr_expect_str_eq(out, "am Montag ab 09:00");
    sess_hours_format(&H, at(2027, 1, 11, 7, 0), at(2027, 1, 11, 9, 0), "de", out, sizeof(out));
    cr_expect_str_eq(out, "heute ab 09:00");
    sess_hours_format(&H, at(2027, 1, 1, 7, 0), at(2027, 1, 11, 9, 0), "en", out, sizeof(out));
    cr_expect_str_eq(out, "on 2027-01-11 from 09:00");
}

Test(session_handoff, promise_open_and_closed_in_two_languages)
{
    parse_ok("Mon-Fri 09:00-18:00", NULL);
    sess_handoff_conf c = {.response_ms = 15 * 60000, .hours = &H};
    char out[HANDOFF_PROMISE_MAX];
    int open;
    /* The promise uses now; only its form is checked here when open. */
    sess_handoff_promise(&c, time(NULL), "en", out, sizeof(out), &open);
    if (open) {
        cr_expect_str_eq(out, "A colleague will reply within 15 minutes.");
    } else {
        cr_expect(strncmp(out, "We are closed now; we will reply ", 33) == 0, "%s", out);
        cr_expect(strstr(out, "(Europe/Berlin).") != NULL, "%s", out);
    }
    c.response_ms = 2 * 3600000;
    parse_ok("Mon-Sun 00:00-24:00", NULL);
    sess_handoff_promise(&c, time(NULL), "de", out, sizeof(out), &open);
    cr_expect(open);
    cr_expect_str_eq(out, "Eine Kollegin oder ein Kollege meldet sich innerhalb von 2 Stunden.");
}

Test(session_handoff, kinds_from_reason_and_message)
{
    cr_expect_str_eq(sess_handoff_kind("The visitor asked for a demo", NULL), "demo");
    cr_expect_str_eq(sess_handoff_kind("wants a quote", NULL), "pricing");
    cr_expect_str_eq(sess_handoff_kind("The visitor asked to talk to sales", "Can I get a quote for 50 seats?"),
                     "pricing");
    cr_expect_str_eq(sess_handoff_kind("Kunde möchte ein Angebot", NULL), "pricing");
    cr_expect_str_eq(sess_handoff_kind("login is broken", NULL), "support");
    cr_expect_str_eq(sess_handoff_kind("The visitor asked to talk to a person", "I am Tom"), "person");
    cr_expect_str_eq(sess_handoff_kind("möchte mit dem Vertrieb sprechen", NULL), "person");
    cr_expect_str_eq(sess_handoff_kind("", ""), "other");
    cr_expect_str_eq(sess_handoff_kind(NULL, NULL), "other");
}

Test(session_outbox, backoff_doubles_up_to_the_cap)
{
    sess_outbox_conf c = {.retry_base_ms = 30000, .retry_max_ms = 600000};
    cr_expect_eq(sess_outbox_backoff_ms(&c, 1), 30000);
    cr_expect_eq(sess_outbox_backoff_ms(&c, 2), 60000);
    cr_expect_eq(sess_outbox_backoff_ms(&c, 5), 480000);
    cr_expect_eq(sess_outbox_backoff_ms(&c, 6), 600000);
    cr_expect_eq(sess_outbox_backoff_ms(&c, 60), 600000, "no overflow after many attempts");
}

Test(session_outbox, signature_is_hmac_sha256_of_timestamp_dot_body)
{
    char sig[OUTBOX_SIG_MAX];
    /* printf '1767225600.{"a":1}' | openssl dgst -sha256 -hmac whsec-0123456789abcdef */
    sess_outbox_sign("whsec-0123456789abcdef", "1767225600", "{\"a\":1}", 7, sig);
    cr_expect_str_eq(sig, "v1=405d1c8c207816620fbb90bfde510cf98c4f77efe03e10a92b11e488d62b64cb");
}

Test(session_mail, message_headers_are_safe_and_the_body_is_base64)
{
    json_t *p = json_pack("{s:I, s:s, s:s, s:s, s:{s:s, s:s}, s:[]}", "handoff_id", (json_int_t)7, "reason_kind",
                          "demo", "reason", "wants a demo", "source", "chat", "lead", "name",
                          "Jörg\r\nBcc: evil@example.com", "email", "joerg@example.de", "transcript");
    sess_mail_conf c = {.url = "smtp://127.0.0.1:1", .from = "bot@example.com", .to = "sales@example.com"};
    char *m = sess_mail_message(&c, p, 3, 1767225600);
    cr_assert_not_null(m);
    cr_expect(strstr(m, "\r\nBcc:") == NULL, "no header injection: %s", m);
    cr_expect(strstr(m, "Subject: =?UTF-8?B?") != NULL, "a non-ASCII subject is an encoded word");
    cr_expect(strstr(m, "Date: Thu, 01 Jan 2026 00:00:00 +0000\r\n") != NULL, "%s", m);
    cr_expect(strstr(m, "Reply-To: joerg@example.de\r\n") != NULL);
    cr_expect(strstr(m, "Content-Transfer-Encoding: base64\r\n\r\n") != NULL);
    for (const char *l = strstr(m, "\r\n\r\n") + 4; *l; l = strstr(l, "\r\n") + 2) {
        cr_expect_leq(strcspn(l, "\r\n"), 76, "body lines stay short");
    }
    free(m);
    json_decref(p);
}
