/* fuzz_sess_hours.c: svc-session's business hours (sess_hours_parse,
 * svc-session/sess_hours.c: BUSINESS_HOURS, BUSINESS_TIMEZONE and the
 * holidays file) and what is computed from them.
 *
 * Input, one field a line: the moment to ask about (decimal Unix seconds,
 * clamped to 1970..2100: the service asks about now); BUSINESS_HOURS;
 * BUSINESS_TIMEZONE; then the holidays file's lines (none: no file). The
 * file is a memfd, opened by its /proc/self/fd path, so no disk is
 * touched. sess_hours_parse sets TZ, as in the service.
 * Checked: a refusal says why; on success the next opening is not before
 * the moment asked about (or there is none), and the phrase for it is not
 * empty. */
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "fuzz.h"
#include "sess_hours.h"

#define FUZZ_TIME_MAX 4102444800LL /* 2100-01-01 */

static int fuzz_fd = -1;
static char fuzz_path[64];
static sess_hours fuzz_hours; /* static: 30 KB */

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_fd = memfd_create("holidays", 0);
    if (fuzz_fd < 0) {
        perror("memfd_create");
        abort();
    }
    snprintf(fuzz_path, sizeof(fuzz_path), "/proc/self/fd/%d", fuzz_fd);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *all = fuzz_cstr(data, size);
    const uint8_t *p = (const uint8_t *)all;
    size_t n = size, len;
    char *fields[3] = {"", "", ""};
    for (int i = 0; i < 3 && n > 0; i++) {
        fields[i] = (char *)fuzz_line(&p, &n, &len);
        fields[i][len] = '\0';
    }
    const char *holidays = NULL;
    if (n > 0) {
        if (ftruncate(fuzz_fd, 0) != 0 || pwrite(fuzz_fd, p, n, 0) != (ssize_t)n) {
            perror("memfd write");
            abort();
        }
        holidays = fuzz_path;
    }
    long long at = strtoll(fields[0], NULL, 10);
    at = at < 0 ? 0 : at > FUZZ_TIME_MAX ? FUZZ_TIME_MAX : at;

    char err[256] = "";
    if (sess_hours_parse(&fuzz_hours, fields[1], fields[2], holidays, err, sizeof(err)) != 0) {
        FUZZ_CHECK(strncmp(err, "BUSINESS_", 9) == 0, "a refusal not naming its variable: \"%s\"", err);
    } else {
        FUZZ_CHECK(fuzz_hours.n > 0 && fuzz_hours.n <= HOURS_SPANS_MAX, "%zu spans", fuzz_hours.n);
        FUZZ_CHECK(fuzz_hours.nholidays <= HOURS_HOLIDAYS_MAX, "%zu holidays", fuzz_hours.nholidays);
        for (size_t i = 0; i < fuzz_hours.n; i++) {
            const sess_hours_span *s = &fuzz_hours.span[i];
            FUZZ_CHECK(s->open_min >= 0 && s->open_min < s->close_min && s->close_min <= 2 * 1440, "span %d-%d",
                       s->open_min, s->close_min);
            FUZZ_CHECK(s->days != 0 && s->days < 128, "days %#x", s->days);
        }
        time_t now = (time_t)at;
        int open = sess_hours_open(&fuzz_hours, now);
        time_t next = sess_hours_next_open(&fuzz_hours, now);
        FUZZ_CHECK(next == (time_t)-1 || next >= now, "next opening %lld before %lld", (long long)next, (long long)now);
        FUZZ_CHECK(!open || next == now, "open now, but the next opening is %lld", (long long)next);
        if (next != (time_t)-1) {
            char phrase[HOURS_PHRASE_MAX];
            sess_hours_format(&fuzz_hours, now, next, (at & 1) ? "de" : "en", phrase, sizeof(phrase));
            FUZZ_CHECK(phrase[0] != '\0', "empty phrase");
        }
    }
    free(all);
    return 0;
}
