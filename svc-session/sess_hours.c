/* sess_hours.c: see sess_hours.h. */
#include "sess_hours.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

static const char *const hours_days[7] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};

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

static int hours_time(const char *s, int *min)
{
    int h, m;
    char tail;
    if (sscanf(s, "%2d:%2d%c", &h, &m, &tail) < 2 || h < 0 || h > 24 || m < 0 || m > 59 || (h == 24 && m != 0)) {
        return -1;
    }
    *min = h * 60 + m;
    return 0;
}

int sess_hours_parse(sess_hours *h, const char *spec, const char *tz, char *err, size_t errlen)
{
    memset(h, 0, sizeof(*h));
    char buf[256];
    snprintf(buf, sizeof(buf), "%s", spec ? spec : "");
    char *save = NULL;
    for (char *part = strtok_r(buf, ";,", &save); part != NULL; part = strtok_r(NULL, ";,", &save)) {
        while (*part == ' ') {
            part++;
        }
        if (*part == '\0') {
            continue;
        }
        if (h->n >= HOURS_SPANS_MAX) {
            snprintf(err, errlen, "BUSINESS_HOURS: at most %d parts", HOURS_SPANS_MAX);
            return -1;
        }
        char days[32], times[32];
        if (sscanf(part, "%31s %31s", days, times) != 2) {
            snprintf(err, errlen, "BUSINESS_HOURS: \"%s\" is not like \"Mon-Fri 09:00-18:00\"", part);
            return -1;
        }
        char *dash = strchr(days, '-');
        int d0 = hours_day(days, dash ? (size_t)(dash - days) : strlen(days));
        int d1 = dash ? hours_day(dash + 1, strlen(dash + 1)) : d0;
        char *tdash = strchr(times, '-');
        int o, c;
        if (d0 < 0 || d1 < 0 || tdash == NULL || hours_time(times, &o) != 0 || hours_time(tdash + 1, &c) != 0 ||
            c <= o) {
            snprintf(err, errlen, "BUSINESS_HOURS: \"%s\" is not like \"Mon-Fri 09:00-18:00\"", part);
            return -1;
        }
        unsigned mask = 0;
        for (int d = d0;; d = (d + 1) % 7) {
            mask |= 1u << d;
            if (d == d1) {
                break;
            }
        }
        h->span[h->n].days = mask;
        h->span[h->n].open_min = o;
        h->span[h->n].close_min = c;
        h->n++;
    }
    if (h->n == 0) {
        snprintf(err, errlen, "BUSINESS_HOURS: no opening hours given");
        return -1;
    }
    char zpath[128];
    snprintf(zpath, sizeof(zpath), "/usr/share/zoneinfo/%s", tz ? tz : "");
    if (tz == NULL || tz[0] == '\0' || strstr(tz, "..") != NULL || access(zpath, R_OK) != 0) {
        snprintf(err, errlen, "BUSINESS_TIMEZONE: \"%s\" is not a known time zone (is tzdata installed?)",
                 tz ? tz : "");
        return -1;
    }
    snprintf(h->tz, sizeof(h->tz), "%s", tz);
    setenv("TZ", tz, 1);
    tzset();
    snprintf(h->text, sizeof(h->text), "%.100s (%.50s)", spec, tz);
    return 0;
}

int sess_hours_open(const sess_hours *h, time_t at)
{
    struct tm tm;
    if (localtime_r(&at, &tm) == NULL) {
        return 0;
    }
    int day = (tm.tm_wday + 6) % 7; /* Monday = 0 */
    int min = tm.tm_hour * 60 + tm.tm_min;
    for (size_t i = 0; i < h->n; i++) {
        if ((h->span[i].days & (1u << day)) && min >= h->span[i].open_min && min < h->span[i].close_min) {
            return 1;
        }
    }
    return 0;
}
