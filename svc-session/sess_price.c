/* sess_price.c: see sess_price.h. A price "3" per million tokens is
 * 3,000,000 micro-units per million tokens = 3 micro-units per token, so
 * prices are kept as micro-units per million tokens and the cost is
 * tokens * price / 1e6, rounded up (a budget never under-counts). */
#include "sess_price.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PRICE_SPEC_MAX 2048
#define MONEY_MAX_UNITS 1000000000LL /* a billion currency units */

int64_t sess_money_parse(const char *s)
{
    if (s == NULL || *s == '\0') {
        return -1;
    }
    int64_t units = 0, frac = 0;
    int digits = 0, decimals = -1;
    for (const char *p = s; *p; p++) {
        if (*p == '.' && decimals < 0) {
            decimals = 0;
        } else if (*p >= '0' && *p <= '9') {
            if (decimals < 0) {
                units = units * 10 + (*p - '0');
                if (units > MONEY_MAX_UNITS) {
                    return -1;
                }
            } else if (++decimals > 6) {
                return -1;
            } else {
                frac = frac * 10 + (*p - '0');
            }
            digits++;
        } else {
            return -1;
        }
    }
    if (digits == 0) {
        return -1;
    }
    for (int d = decimals < 0 ? 0 : decimals; d < 6; d++) {
        frac *= 10;
    }
    return units * 1000000 + frac;
}

int sess_prices_parse(sess_prices *ps, const char *spec, char *err, size_t errlen)
{
    memset(ps, 0, sizeof(*ps));
    if (spec == NULL || strlen(spec) >= PRICE_SPEC_MAX) {
        snprintf(err, errlen, "MODEL_PRICES: missing or longer than %d characters", PRICE_SPEC_MAX - 1);
        return -1;
    }
    char buf[PRICE_SPEC_MAX];
    snprintf(buf, sizeof(buf), "%s", spec);
    char *save = NULL;
    for (char *e = strtok_r(buf, ",;", &save); e != NULL; e = strtok_r(NULL, ",;", &save)) {
        while (*e == ' ') {
            e++;
        }
        if (*e == '\0') {
            continue;
        }
        char *eq = strchr(e, '='), *slash = eq ? strchr(eq, '/') : NULL;
        if (eq == NULL || slash == NULL || eq == e || (size_t)(eq - e) >= PRICE_MODEL_NAME_MAX) {
            snprintf(err, errlen, "MODEL_PRICES: \"%.60s\" is not like \"claude-sonnet-4-5=3/15\"", e);
            return -1;
        }
        if (ps->n >= PRICE_MODELS_MAX) {
            snprintf(err, errlen, "MODEL_PRICES: at most %d models", PRICE_MODELS_MAX);
            return -1;
        }
        *eq = *slash = '\0';
        char *end = slash + 1 + strcspn(slash + 1, " ");
        *end = '\0';
        int64_t in = sess_money_parse(eq + 1), out = sess_money_parse(slash + 1);
        if (in < 0 || out < 0) {
            snprintf(err, errlen, "MODEL_PRICES: the prices of \"%.60s\" are not amounts like 3 or 0.15", e);
            return -1;
        }
        sess_price *p = &ps->p[ps->n++];
        snprintf(p->model, sizeof(p->model), "%s", e);
        p->in_micros = in;
        p->out_micros = out;
    }
    return 0;
}

static const sess_price *price_of(const sess_prices *ps, const char *model)
{
    const sess_price *best = NULL, *star = NULL;
    size_t best_len = 0;
    for (size_t i = 0; i < ps->n; i++) {
        const sess_price *p = &ps->p[i];
        size_t n = strlen(p->model);
        if (strcmp(p->model, "*") == 0) {
            star = p;
        } else if (strncmp(model, p->model, n) == 0 && n > best_len) {
            best = p;
            best_len = n;
        }
    }
    return best ? best : star;
}

int64_t sess_price_cost(const sess_prices *ps, const char *model, uint64_t input, uint64_t output,
                        uint64_t cache_creation, uint64_t cache_read)
{
    const sess_price *p = price_of(ps, model ? model : "");
    if (p == NULL) {
        return 0;
    }
    /* micro-units per million tokens x tokens, in 128 bits: no overflow. */
    unsigned __int128 x = (unsigned __int128)input * (uint64_t)p->in_micros * 100 +
                          (unsigned __int128)output * (uint64_t)p->out_micros * 100 +
                          (unsigned __int128)cache_creation * (uint64_t)p->in_micros * 125 +
                          (unsigned __int128)cache_read * (uint64_t)p->in_micros * 10;
    unsigned __int128 q = (x + 100000000 - 1) / 100000000; /* / (100 x 1e6), rounded up */
    return q > INT64_MAX ? INT64_MAX : (int64_t)q;
}
