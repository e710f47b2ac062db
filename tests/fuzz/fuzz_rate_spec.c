/* fuzz_rate_spec.c: the rate-limit spec of RATE_SESSIONS, RATE_CHAT and
 * RATE_LEADS (rl_rate_parse in gateway/ratelimit.c, read by throttle_init in
 * gateway/throttle.c), and the bucket a parsed rate makes.
 *
 * Input: the variable's value. Checked: a parsed rate is within the caps of
 * ratelimit.h; a fresh bucket gives exactly `burst` tokens at once, then
 * refuses for one interval (period / count) rounded up to seconds, at
 * least 1; "off" never refuses; the refusal's sentence is not empty. */
#include "fuzz.h"
#include "ratelimit.h"
#include "throttle.h"

#define FUZZ_TAKES_MAX 64 /* buckets larger than this are only parsed */

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fuzz_cstr(data, size);
    rl_rate r;
    char why[160] = "";
    if (rl_rate_parse(s, &r, why, sizeof(why)) != 0) {
        FUZZ_CHECK(why[0] != '\0', "refused \"%s\" without a reason", s);
        free(s);
        return 0;
    }
    if (r.count > 0) {
        FUZZ_CHECK(r.count <= RL_COUNT_MAX, "count %u", r.count);
        FUZZ_CHECK(r.burst >= 1 && r.burst <= RL_COUNT_MAX, "burst %u", r.burst);
        FUZZ_CHECK(r.period_us > 0 && r.period_us <= (int64_t)RL_PERIOD_MAX_S * 1000000, "period %lld us",
                   (long long)r.period_us);
    }
    rl_rate rates[RL_CLASSES] = {r, r, r};
    ratelimit *rl = rl_new(RL_TABLE_MIN, 64, rates, 42);
    FUZZ_CHECK(rl != NULL, "rl_new");
    ip_addr a = {.family = 2 /* AF_INET */, .b = {192, 0, 2, 1}};
    const int64_t t0 = 1000000000; /* any monotonic time */
    if (r.count == 0) {
        for (int i = 0; i < 3; i++) {
            FUZZ_CHECK(rl_take(rl, RL_CHAT, &a, t0) == 0, "\"off\" refused");
        }
    } else if (r.burst < FUZZ_TAKES_MAX) {
        for (uint32_t i = 0; i < r.burst; i++) {
            FUZZ_CHECK(rl_take(rl, RL_CHAT, &a, t0) == 0, "token %u of a burst of %u refused", i + 1, r.burst);
        }
        uint32_t wait = rl_take(rl, RL_CHAT, &a, t0);
        int64_t interval = r.period_us / r.count > 0 ? r.period_us / r.count : 1;
        int64_t want = (interval + 999999) / 1000000;
        FUZZ_CHECK(wait == (uint32_t)(want < 1 ? 1 : want), "\"%s\": waited %u s, the interval is %lld us", s, wait,
                   (long long)interval);
        char msg[THROTTLE_MESSAGE_MAX];
        throttle_message(RL_CHAT, wait, msg);
        FUZZ_CHECK(msg[0] != '\0', "empty sentence");
    }
    rl_free(rl);
    free(s);
    return 0;
}
