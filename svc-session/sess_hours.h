/* sess_hours.h: business hours, so a hand-off can say whether sales is
 * there now and, when it is not, when it will be back.
 *
 * BUSINESS_HOURS is a list of "Days HH:MM-HH:MM" separated by ';' or ','
 * ("Mon-Thu 09:00-18:00; Fri 09:00-17:00; Sat 22:00-02:00"): days Mon..Sun,
 * a range (wrapping, "Fri-Mon") or a single day; several ranges per day; a
 * range whose end is not after its start runs past midnight and belongs to
 * the day it starts on. BUSINESS_TIMEZONE is an IANA name
 * ("Europe/Berlin", from the system's tzdata). A holidays file, one line
 * per date: "2026-12-25" (closed) or "2026-12-24 09:00-12:00" (those hours
 * instead of the weekly ones; several ranges separated by ','); '#' starts
 * a comment. BUSINESS_HOURS and each line of the file are at most 255 and
 * 254 characters (HOURS_LINE_MAX with its newline and NUL); longer is an
 * error, never a silent cut. All times are wall-clock times in the zone, so they are right
 * across both DST changes.
 *
 * Parsed once at start; read-only afterwards (any thread). The process
 * time zone is set to the configured one (TZ) at parse, which
 * localtime_r/mktime then use: svc-session has one zone. */
#ifndef SESS_HOURS_H
#define SESS_HOURS_H

#include <stddef.h>
#include <time.h>

#define HOURS_SPANS_MAX 28
#define HOURS_HOLIDAYS_MAX 400
#define HOURS_HOLIDAY_SPANS_MAX 4
#define HOURS_TEXT_MAX 200
#define HOURS_LINE_MAX 256 /* BUSINESS_HOURS, and a holidays line, with newline and NUL */
#define HOURS_PHRASE_MAX 96
#define HOURS_LOOKAHEAD_DAYS 400 /* "next opening" looks this far ahead */

typedef struct sess_hours_span {
    unsigned days; /* bit 0 = Monday ... bit 6 = Sunday (unused for holidays) */
    int open_min;  /* minutes after local midnight */
    int close_min; /* > open_min; above 1440 when past midnight */
} sess_hours_span;

typedef struct sess_hours_holiday {
    int ymd; /* 20261225 */
    sess_hours_span span[HOURS_HOLIDAY_SPANS_MAX];
    size_t n; /* 0 = closed all day */
} sess_hours_holiday;

typedef struct sess_hours {
    sess_hours_span span[HOURS_SPANS_MAX];
    size_t n;
    sess_hours_holiday holiday[HOURS_HOLIDAYS_MAX]; /* sorted by ymd */
    size_t nholidays;
    char tz[64];
    char text[HOURS_TEXT_MAX]; /* "Mon-Thu 09:00-18:00; Fri 09:00-17:00 (Europe/Berlin)" */
} sess_hours;

/* 0, or -1 with the reason (naming the variable) in err. holidays_path
 * may be NULL or "" (no holidays). Sets the process time zone to tz. */
int sess_hours_parse(sess_hours *h, const char *spec, const char *tz, const char *holidays_path, char *err,
                     size_t errlen);

/* Whether `at` falls inside the hours. */
int sess_hours_open(const sess_hours *h, time_t at);

/* The next moment at or after `at` when the hours are open (`at` itself
 * when open now); (time_t)-1 when there is none within
 * HOURS_LOOKAHEAD_DAYS. */
time_t sess_hours_next_open(const sess_hours *h, time_t at);

/* When `next` is, seen from `now`, in the visitor's language ("de..." is
 * German, anything else English): "today from 09:00", "tomorrow from
 * 09:00", "on Monday from 09:00", "on 2027-01-04 from 09:00"; German "heute
 * ab 09:00", "morgen ab 09:00", "am Montag ab 09:00". */
void sess_hours_format(const sess_hours *h, time_t now, time_t next, const char *lang, char *out, size_t outlen);

#endif
