/* sess_hours.c: see sess_hours.h. Dates are counted in a proleptic UTC
 * calendar (timegm), which has no DST; only the step from a local date and
 * minute to an instant goes through the zone (mktime). */
#include "sess_hours.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define HOURS_DAY_MIN 1440

static const char *const hours_days[7] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};
static const char *const hours_days_en[7] = {"Monday", "Tuesday",  "Wednesday", "Thursday",
                                             "Friday", "Saturday", "Sunday"};
static const char *const hours_days_de[7] = {"Montag",  "Dienstag", "Mittwoch", "Donnerstag",
                                             "Freitag", "Samstag",  "Sonntag"};

/* A local calendar date. wday: Monday = 0. */
typedef struct hours_date {
    int y, m, d, wday;
} hours_date;

static int hours_day(const char *s, size_t n)
{
    if (n < 3) {
        return -1;
    }
    for (int i = 0; i < 7; i++) {
        if (strncasecmp(s, hours_days[i], 3) == 0) {
            return i;
        }
    }
    return -1;
}

/* "HH:MM" exactly (24:00 allowed); 0 or -1. */
static int hours_time(const char *s, size_t n, int *min)
{
    if (n != 5 || s[2] != ':') {
        return -1;
    }
    for (size_t i = 0; i < 5; i++) {
        if (i != 2 && (s[i] < '0' || s[i] > '9')) {
            return -1;
        }
    }
    int h = (s[0] - '0') * 10 + (s[1] - '0'), m = (s[3] - '0') * 10 + (s[4] - '0');
    if (h > 24 || m > 59 || (h == 24 && m != 0)) {
        return -1;
    }
    *min = h * 60 + m;
    return 0;
}

/* "HH:MM-HH:MM" into a span; an end not after the start runs past
 * midnight (equal times are refused: "no hours" is not a range). */
static int hours_range(const char *s, size_t n, sess_hours_span *out)
{
    const char *dash = memchr(s, '-', n);
    int o, c;
    if (dash == NULL || hours_time(s, (size_t)(dash - s), &o) != 0 ||
        hours_time(dash + 1, n - (size_t)(dash + 1 - s), &c) != 0 || c == o || o == HOURS_DAY_MIN) {
        return -1;
    }
    if (c < o) {
        c += HOURS_DAY_MIN;
    }
    out->open_min = o;
    out->close_min = c;
    return 0;
}

/* The next word of p (spaces and tabs between words): its start, and its
 * length in *n (0 at the end). */
static const char *hours_word(const char *p, size_t *n)
{
    while (*p == ' ' || *p == '\t') {
        p++;
    }
    *n = strcspn(p, " \t");
    return p;
}

static int hours_weekly_part(sess_hours *h, const char *part, char *err, size_t errlen)
{
    size_t n;
    const char *days = hours_word(part, &n);
    const char *dash = memchr(days, '-', n);
    int d0 = hours_day(days, dash ? (size_t)(dash - days) : n);
    int d1 = dash ? hours_day(dash + 1, n - (size_t)(dash + 1 - days)) : d0;
    if (d0 < 0 || d1 < 0) {
        snprintf(err, errlen, "BUSINESS_HOURS: \"%.60s\" does not start with days like \"Mon-Fri\"", part);
        return -1;
    }
    unsigned mask = 0;
    for (int d = d0;; d = (d + 1) % 7) {
        mask |= 1u << d;
        if (d == d1) {
            break;
        }
    }
    int ranges = 0;
    for (const char *p = hours_word(days + n, &n); n > 0; p = hours_word(p + n, &n)) {
        if (h->n >= HOURS_SPANS_MAX) {
            snprintf(err, errlen, "BUSINESS_HOURS: at most %d ranges", HOURS_SPANS_MAX);
            return -1;
        }
        if (hours_range(p, n, &h->span[h->n]) != 0) {
            snprintf(err, errlen, "BUSINESS_HOURS: \"%.60s\" is not like \"Mon-Fri 09:00-18:00\"", part);
            return -1;
        }
        h->span[h->n++].days = mask;
        ranges++;
    }
    if (ranges == 0) {
        snprintf(err, errlen, "BUSINESS_HOURS: \"%.60s\" has no hours (like \"Mon-Fri 09:00-18:00\")", part);
        return -1;
    }
    return 0;
}

static int hours_holiday_cmp(const void *a, const void *b)
{
    int x = ((const sess_hours_holiday *)a)->ymd, y = ((const sess_hours_holiday *)b)->ymd;
    return (x > y) - (x < y);
}

/* One holidays line (already without comment and newline); 0, 1 when
 * blank, -1 with err. */
static int hours_holiday_line(sess_hours *h, char *line, const char *path, int lineno, char *err, size_t errlen)
{
    size_t n;
    const char *p = hours_word(line, &n);
    if (n == 0) {
        return 1;
    }
    int y, m, d;
    char tail;
    struct tm tm = {0};
    if (n == 10 && sscanf(p, "%4d-%2d-%2d%c", &y, &m, &d, &tail) >= 3) {
        tm = (struct tm){.tm_year = y - 1900, .tm_mon = m - 1, .tm_mday = d, .tm_hour = 12};
        time_t t = timegm(&tm);
        gmtime_r(&t, &tm);
    }
    if (n != 10 || tm.tm_year != y - 1900 || tm.tm_mon != m - 1 || tm.tm_mday != d) { /* 2026-02-30 too */
        snprintf(err, errlen, "BUSINESS_HOLIDAYS_FILE: %.100s:%d: \"%.40s\" is not a date like 2026-12-25", path,
                 lineno, p);
        return -1;
    }
    if (h->nholidays >= HOURS_HOLIDAYS_MAX) {
        snprintf(err, errlen, "BUSINESS_HOLIDAYS_FILE: %.100s: at most %d dates", path, HOURS_HOLIDAYS_MAX);
        return -1;
    }
    sess_hours_holiday *hd = &h->holiday[h->nholidays];
    memset(hd, 0, sizeof(*hd));
    hd->ymd = y * 10000 + m * 100 + d;
    for (char *c = line; *c; c++) {
        if (*c == ',') {
            *c = ' ';
        }
    }
    for (const char *q = hours_word(p + n, &n); n > 0; q = hours_word(q + n, &n)) {
        if (hd->n >= HOURS_HOLIDAY_SPANS_MAX || hours_range(q, n, &hd->span[hd->n]) != 0) {
            snprintf(err, errlen, "BUSINESS_HOLIDAYS_FILE: %.100s:%d: hours must be like \"09:00-12:00\" (at most %d)",
                     path, lineno, HOURS_HOLIDAY_SPANS_MAX);
            return -1;
        }
        hd->n++;
    }
    h->nholidays++;
    return 0;
}

static int hours_holidays(sess_hours *h, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        snprintf(err, errlen, "BUSINESS_HOLIDAYS_FILE: cannot read \"%.150s\"", path);
        return -1;
    }
    char line[HOURS_LINE_MAX];
    int lineno = 0, rc = 0;
    while (rc == 0 && fgets(line, sizeof(line), f) != NULL) {
        lineno++;
        if (strchr(line, '\n') == NULL && !feof(f)) {
            snprintf(err, errlen, "BUSINESS_HOLIDAYS_FILE: %.100s:%d: longer than %d characters", path, lineno,
                     HOURS_LINE_MAX - 2);
            rc = -1;
            break;
        }
        line[strcspn(line, "#\r\n")] = '\0';
        rc = hours_holiday_line(h, line, path, lineno, err, errlen) < 0 ? -1 : 0;
    }
    fclose(f);
    qsort(h->holiday, h->nholidays, sizeof(h->holiday[0]), hours_holiday_cmp);
    return rc;
}

int sess_hours_parse(sess_hours *h, const char *spec, const char *tz, const char *holidays_path, char *err,
                     size_t errlen)
{
    memset(h, 0, sizeof(*h));
    char buf[HOURS_LINE_MAX];
    if (spec != NULL && strlen(spec) >= sizeof(buf)) {
        snprintf(err, errlen, "BUSINESS_HOURS: longer than %d characters", HOURS_LINE_MAX - 1);
        return -1;
    }
    snprintf(buf, sizeof(buf), "%s", spec ? spec : "");
    char *save = NULL;
    for (char *part = strtok_r(buf, ";,", &save); part != NULL; part = strtok_r(NULL, ";,", &save)) {
        size_t n;
        hours_word(part, &n);
        if (n > 0 && hours_weekly_part(h, part, err, errlen) != 0) {
            return -1;
        }
    }
    if (h->n == 0) {
        snprintf(err, errlen, "BUSINESS_HOURS: no opening hours given");
        return -1;
    }
    char zpath[128];
    snprintf(zpath, sizeof(zpath), "/usr/share/zoneinfo/%s", tz ? tz : "");
    if (tz == NULL || tz[0] == '\0' || tz[0] == '/' || strstr(tz, "..") != NULL || strlen(tz) >= sizeof(h->tz) ||
        access(zpath, R_OK) != 0) {
        snprintf(err, errlen, "BUSINESS_TIMEZONE: \"%.60s\" is not a known time zone (is tzdata installed?)",
                 tz ? tz : "");
        return -1;
    }
    if (holidays_path != NULL && holidays_path[0] != '\0' && hours_holidays(h, holidays_path, err, errlen) != 0) {
        return -1;
    }
    snprintf(h->tz, sizeof(h->tz), "%s", tz);
    setenv("TZ", tz, 1);
    tzset();
    snprintf(h->text, sizeof(h->text), "%.120s (%.60s)", spec, tz);
    return 0;
}

/* --- dates ---------------------------------------------------------------- */

static hours_date hours_local_date(time_t at, int *minute)
{
    struct tm tm;
    hours_date d = {1970, 1, 1, 3};
    if (localtime_r(&at, &tm) != NULL) {
        d = (hours_date){tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, (tm.tm_wday + 6) % 7};
        *minute = tm.tm_hour * 60 + tm.tm_min;
    } else {
        *minute = 0;
    }
    return d;
}

/* Days since 1970-01-01 of a civil date (no zone involved). */
static long hours_day_number(hours_date d)
{
    struct tm tm = {.tm_year = d.y - 1900, .tm_mon = d.m - 1, .tm_mday = d.d, .tm_hour = 12};
    return (long)(timegm(&tm) / 86400);
}

static hours_date hours_add_days(hours_date d, int k)
{
    struct tm tm = {.tm_year = d.y - 1900, .tm_mon = d.m - 1, .tm_mday = d.d + k, .tm_hour = 12};
    time_t t = timegm(&tm);
    gmtime_r(&t, &tm);
    return (hours_date){tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, (tm.tm_wday + 6) % 7};
}

/* The instant of a local date and minute (minute may pass 1440); in a DST
 * gap mktime moves it forward, which is when the door really opens. */
static time_t hours_instant(hours_date d, int minute)
{
    struct tm tm = {.tm_year = d.y - 1900, .tm_mon = d.m - 1, .tm_mday = d.d, .tm_min = minute, .tm_isdst = -1};
    return mktime(&tm);
}

/* The ranges that start on date d (a holiday's, or the weekly ones). */
static size_t hours_of_day(const sess_hours *h, hours_date d, sess_hours_span *out, size_t max)
{
    int ymd = d.y * 10000 + d.m * 100 + d.d;
    sess_hours_holiday key = {.ymd = ymd};
    const sess_hours_holiday *hd =
        h->nholidays ? bsearch(&key, h->holiday, h->nholidays, sizeof(h->holiday[0]), hours_holiday_cmp) : NULL;
    size_t n = 0;
    if (hd != NULL) {
        for (size_t i = 0; i < hd->n && n < max; i++) {
            out[n++] = hd->span[i];
        }
        return n;
    }
    for (size_t i = 0; i < h->n && n < max; i++) {
        if (h->span[i].days & (1u << d.wday)) {
            out[n++] = h->span[i];
        }
    }
    return n;
}

int sess_hours_open(const sess_hours *h, time_t at)
{
    int minute;
    hours_date today = hours_local_date(at, &minute);
    sess_hours_span s[HOURS_SPANS_MAX];
    size_t n = hours_of_day(h, today, s, HOURS_SPANS_MAX);
    for (size_t i = 0; i < n; i++) {
        if (minute >= s[i].open_min && minute < s[i].close_min) {
            return 1;
        }
    }
    n = hours_of_day(h, hours_add_days(today, -1), s, HOURS_SPANS_MAX);
    for (size_t i = 0; i < n; i++) { /* yesterday's ranges past midnight */
        if (minute + HOURS_DAY_MIN >= s[i].open_min && minute + HOURS_DAY_MIN < s[i].close_min) {
            return 1;
        }
    }
    return 0;
}

time_t sess_hours_next_open(const sess_hours *h, time_t at)
{
    if (sess_hours_open(h, at)) {
        return at;
    }
    int minute;
    hours_date today = hours_local_date(at, &minute);
    sess_hours_span s[HOURS_SPANS_MAX];
    for (int k = 0; k <= HOURS_LOOKAHEAD_DAYS; k++) {
        hours_date d = hours_add_days(today, k);
        size_t n = hours_of_day(h, d, s, HOURS_SPANS_MAX);
        time_t best = (time_t)-1;
        for (size_t i = 0; i < n; i++) {
            time_t t = hours_instant(d, s[i].open_min);
            if (t > at && (best == (time_t)-1 || t < best)) {
                best = t;
            }
        }
        if (best != (time_t)-1) {
            return best;
        }
    }
    return (time_t)-1;
}

void sess_hours_format(const sess_hours *h, time_t now, time_t next, const char *lang, char *out, size_t outlen)
{
    (void)h;
    int de = lang != NULL && strncasecmp(lang, "de", 2) == 0;
    int now_min, next_min;
    hours_date a = hours_local_date(now, &now_min), b = hours_local_date(next, &next_min);
    long days = hours_day_number(b) - hours_day_number(a);
    char hm[8];
    snprintf(hm, sizeof(hm), "%02d:%02d", (next_min / 60) % 100, next_min % 60);
    if (days == 0) {
        snprintf(out, outlen, de ? "heute ab %s" : "today from %s", hm);
    } else if (days == 1) {
        snprintf(out, outlen, de ? "morgen ab %s" : "tomorrow from %s", hm);
    } else if (days > 1 && days < 7) {
        snprintf(out, outlen, de ? "am %s ab %s" : "on %s from %s", de ? hours_days_de[b.wday] : hours_days_en[b.wday],
                 hm);
    } else {
        snprintf(out, outlen, de ? "am %02d.%02d.%04d ab %s" : "on %04d-%02d-%02d from %s", de ? b.d : b.y, b.m,
                 de ? b.y : b.d, hm);
    }
}
