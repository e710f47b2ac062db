/* sess_hours.h: business hours, so a hand-off can say whether sales is
 * there now. BUSINESS_HOURS is a list of "Days HH:MM-HH:MM" separated by
 * ';' or ',' ("Mon-Thu 09:00-18:00; Fri 09:00-17:00"), days Mon..Sun, a
 * range or a single day; BUSINESS_TIMEZONE an IANA name ("Europe/Berlin",
 * needs tzdata). Parsed once; read-only afterwards (any thread). */
#ifndef SESS_HOURS_H
#define SESS_HOURS_H

#include <stddef.h>
#include <time.h>

#define HOURS_SPANS_MAX 14
#define HOURS_TEXT_MAX 160

typedef struct sess_hours {
    struct {
        unsigned days; /* bit 0 = Monday ... bit 6 = Sunday */
        int open_min, close_min;
    } span[HOURS_SPANS_MAX];
    size_t n;
    char tz[64];
    char text[HOURS_TEXT_MAX]; /* "Mon-Thu 09:00-18:00; Fri 09:00-17:00 (Europe/Berlin)" */
} sess_hours;

/* 0, or -1 with the reason (naming the variable) in err. Sets the process
 * time zone to tz for localtime_r. */
int sess_hours_parse(sess_hours *h, const char *spec, const char *tz, char *err, size_t errlen);

/* Whether `at` falls inside the hours, in the configured time zone. */
int sess_hours_open(const sess_hours *h, time_t at);

#endif
