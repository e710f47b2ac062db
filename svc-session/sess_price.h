/* sess_price.h: what a model call costs, for the cost budgets.
 *
 * MODEL_PRICES is a list "model=IN/OUT" separated by ',' or ';': the price
 * of a million input and a million output tokens in COST_CURRENCY, e.g.
 * "claude-sonnet-4-5=3/15,gpt-4o-mini=0.15/0.6,*=15/75". A model matches
 * its own entry, else the longest entry it starts with (dated snapshots:
 * "claude-sonnet-4-5-20250929"), else "*" — so an unknown model is never
 * free unless "*" says so. Cache writes cost 1.25 x input, cache reads
 * 0.1 x input (Anthropic's multipliers). Money is held in micro-units
 * (1 USD = 1,000,000). Parsed once at start; read-only afterwards. */
#ifndef SESS_PRICE_H
#define SESS_PRICE_H

#include <stddef.h>
#include <stdint.h>

#define PRICE_MODELS_MAX 32
#define PRICE_MODEL_NAME_MAX 64

typedef struct sess_price {
    char model[PRICE_MODEL_NAME_MAX]; /* "*" = every other model */
    int64_t in_micros, out_micros;    /* price of a million tokens, in micro-units */
} sess_price;

typedef struct sess_prices {
    sess_price p[PRICE_MODELS_MAX];
    size_t n;
} sess_prices;

/* 0, or -1 with the reason (naming MODEL_PRICES) in err. */
int sess_prices_parse(sess_prices *ps, const char *spec, char *err, size_t errlen);

/* A decimal amount ("50", "12.5", "0.000001") in micro-units; -1 when
 * it is not one (negative, more than 6 decimals, too large). */
int64_t sess_money_parse(const char *s);

/* The cost in micro-units of one call of `model` with these token counts. */
int64_t sess_price_cost(const sess_prices *ps, const char *model, uint64_t input, uint64_t output,
                        uint64_t cache_creation, uint64_t cache_read);

#endif
