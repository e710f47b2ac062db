/* lead_score.c: see lead_score.h. */
#include "lead_score.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config.h"

int lead_weights_parse(const char *spec, lead_weights *w, char *err, size_t errlen)
{
    memset(w, 0, sizeof(*w));
    const char *p = spec != NULL && spec[0] ? spec : LEAD_SCORE_WEIGHTS_DEFAULT, *tok;
    size_t len;
    while ((tok = cfg_list_next(&p, &len)) != NULL) {
        const char *eq = memchr(tok, '=', len);
        size_t klen = eq ? (size_t)(eq - tok) : len;
        int *dst = NULL;
        int s = lead_slot_find(tok, klen);
        if (s >= 0) {
            dst = &w->slot[s];
        } else if (klen == 6 && strncasecmp(tok, "intent", 6) == 0) {
            dst = &w->intent;
        } else if (klen == 6 && strncasecmp(tok, "person", 6) == 0) {
            dst = &w->person;
        }
        if (dst == NULL) {
            snprintf(err, errlen, "LEAD_SCORE_WEIGHTS: unknown item \"%.*s\" (a slot name, intent or person, as in %s)",
                     (int)(klen < 40 ? klen : 40), tok, LEAD_SCORE_WEIGHTS_DEFAULT);
            return -1;
        }
        char num[16];
        size_t nlen = eq ? len - klen - 1 : 0;
        long v = -1;
        if (nlen > 0 && nlen < sizeof(num)) {
            memcpy(num, eq + 1, nlen);
            num[nlen] = '\0';
            char *end;
            v = strtol(num, &end, 10);
            if (*end != '\0' || !isdigit((unsigned char)num[0])) {
                v = -1;
            }
        }
        if (v < 0 || v > LEAD_WEIGHT_MAX) {
            snprintf(err, errlen, "LEAD_SCORE_WEIGHTS: \"%.*s\" needs =points, a whole number from 0 to %d",
                     (int)(len < 40 ? len : 40), tok, LEAD_WEIGHT_MAX);
            return -1;
        }
        *dst = (int)v;
    }
    return 0;
}

int lead_score(const lead_weights *w, unsigned present, int intent, int person)
{
    int score = 0;
    for (int s = 0; s < LEAD_NSLOTS; s++) {
        if (present & (1u << s)) {
            score += w->slot[s];
        }
    }
    return score + (intent ? w->intent : 0) + (person ? w->person : 0);
}

/* A phrase in msg, case-insensitive (ASCII), starting at a word start. */
static int lead_has(const char *msg, const char *const *phrases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        size_t k = strlen(phrases[i]);
        for (const char *p = msg; *p; p++) {
            if (p > msg && (isalnum((unsigned char)p[-1]) || (unsigned char)p[-1] >= 0x80)) {
                continue;
            }
            if (strncasecmp(p, phrases[i], k) == 0) {
                return 1;
            }
        }
    }
    return 0;
}

int lead_intent_phrase(const char *msg)
{
    static const char *const words[] = {
        "pricing",    "price",       "prices",
        "cost",       "costs",       "quote",
        "quotation",  "an offer",    "demo",
        "trial",      "buy",         "purchase",
        "subscribe",  "plans",       "licen",
        "preis",      "angebot",     "kosten",
        "kostet",     "tarif",       "testen",
        "kaufen",     "bestellen",   "lizenz",
        "vorführung", "testversion", "kostenvoranschlag",
    };
    return msg != NULL && lead_has(msg, words, sizeof(words) / sizeof(words[0]));
}

int lead_person_phrase(const char *msg)
{
    static const char *const words[] = {
        "talk to a person",
        "speak to a person",
        "talk to someone",
        "speak to someone",
        "speak with someone",
        "talk with someone",
        "a real person",
        "a human",
        "talk to a human",
        "speak to a human",
        "an agent",
        "a representative",
        "mit jemandem sprechen",
        "mit jemandem reden",
        "mit einem menschen",
        "mit einer person",
        "echten menschen",
        "einen menschen",
        "mit einem mitarbeiter",
        "mit einer mitarbeiterin",
        "ansprechpartner",
    };
    return msg != NULL && lead_has(msg, words, sizeof(words) / sizeof(words[0]));
}
