/* offline_lead.c: the lead rules of the offline provider: email, phone,
 * name, company, team size, timeline and need found in a visitor's message,
 * requests for a person, and small talk. Rules, not a model: each finder
 * looks for the phrasings people use and copies what follows, cut to the
 * caller's buffer. */
#include "offline.h"

#include <ctype.h>
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dynbuf.h"
#include "offline_int.h"

/* ================================================================ leads */

static int offl_local_char(unsigned char c)
{
    return isalnum(c) || strchr("._%+-", c) != NULL;
}
static int offl_domain_char(unsigned char c)
{
    return isalnum(c) || c == '.' || c == '-';
}

void offl_copy(char *out, size_t outlen, const char *s, size_t n)
{
    if (outlen == 0) {
        return;
    }
    if (n >= outlen) {
        n = outlen - 1;
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80) {
            n--; /* do not cut a UTF-8 sequence */
        }
    }
    memcpy(out, s, n);
    out[n] = '\0';
}

int offl_find_email(const char *msg, char *out, size_t outlen)
{
    out[0] = '\0';
    for (const char *at = strchr(msg, '@'); at != NULL; at = strchr(at + 1, '@')) {
        const char *l = at;
        while (l > msg && offl_local_char((unsigned char)l[-1])) {
            l--;
        }
        while (l < at && *l == '.') {
            l++;
        }
        const char *r = at + 1;
        while (offl_domain_char((unsigned char)*r)) {
            r++;
        }
        while (r > at + 1 && (r[-1] == '.' || r[-1] == '-')) {
            r--;
        }
        const char *dot = NULL;
        for (const char *p = at + 1; p < r; p++) {
            if (*p == '.') {
                dot = p;
            }
        }
        if (l == at || dot == NULL || dot == at + 1 || r - dot < 3) {
            continue;
        }
        int tld_alpha = 1;
        for (const char *p = dot + 1; p < r; p++) {
            tld_alpha &= isalpha((unsigned char)*p) != 0;
        }
        if (!tld_alpha) {
            continue;
        }
        offl_copy(out, outlen, l, (size_t)(r - l));
        return 1;
    }
    return 0;
}

int offl_find_phone(const char *msg, char *out, size_t outlen)
{
    out[0] = '\0';
    for (const char *p = msg; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (!(c == '+' || c == '(' || isdigit(c))) {
            continue;
        }
        if (p > msg && (offl_word_byte((unsigned char)p[-1]) || p[-1] == '@' || p[-1] == '.' || p[-1] == '-' ||
                        p[-1] == '$' || p[-1] == '/')) {
            continue;
        }
        if (p >= msg + 3 && memcmp(p - 3, "\xE2\x82\xAC", 3) == 0) {
            continue; /* "€" */
        }
        const char *q = p + 1;
        size_t digits = isdigit(c) ? 1 : 0;
        int seps = 0;
        for (;;) {
            unsigned char d = (unsigned char)*q;
            if (isdigit(d)) {
                digits++;
            } else if (d == ' ') {
                if (!(isdigit((unsigned char)q[1]) || q[1] == '(')) {
                    break;
                }
                seps = 1;
            } else if (d == '-' || d == '/' || d == '.' || d == '(' || d == ')') {
                if (!(isdigit((unsigned char)q[1]) || q[1] == '(' || (d == ')' && q[1] == ' '))) {
                    break;
                }
                seps = 1;
            } else {
                break;
            }
            q++;
        }
        while (q > p && !isdigit((unsigned char)q[-1])) {
            q--;
        }
        const char *next = q;
        if (*next == '@' || *next == '%' || (offl_word_byte((unsigned char)*next) && !isspace((unsigned char)*next))) {
            p = q > p ? q - 1 : p;
            continue;
        }
        int plausible = digits >= 7 && digits <= 15 && (c == '+' || c == '(' || seps || (digits >= 9 && c == '0'));
        /* 2024-05-01 is a date. */
        if (plausible && q - p == 10 && p[4] == '-' && p[7] == '-') {
            plausible = 0;
        }
        if (plausible) {
            offl_copy(out, outlen, p, (size_t)(q - p));
            return 1;
        }
        p = q > p ? q - 1 : p;
    }
    return 0;
}

/* Case-insensitive search of a phrase that starts at a word boundary (and
 * ends at one when whole_word is set). */
static const char *offl_find_phrase(const char *hay, const char *phrase, int whole_word)
{
    size_t n = strlen(phrase);
    for (const char *p = hay; *p; p++) {
        if (p > hay && offl_word_byte((unsigned char)p[-1]) && offl_word_byte((unsigned char)phrase[0])) {
            continue;
        }
        if (strncasecmp(p, phrase, n) != 0) {
            continue;
        }
        if (whole_word && offl_word_byte((unsigned char)p[n]) && offl_word_byte((unsigned char)phrase[n - 1])) {
            continue;
        }
        return p;
    }
    return NULL;
}

static int offl_name_char(unsigned char c)
{
    return isalpha(c) || c >= 0x80 || c == '-' || c == '\'';
}

/* Up to `max` words starting at s; the first must be capitalised unless
 * any_case, the others always. Stops at a connecting word. Returns the
 * length taken (0 if none). */
size_t offl_take_words(const char *s, int max, int any_case, int allow_digits)
{
    static const char *const stop[] = {"from", "at", "and", "with", "of", "here", "the", "i", "my", "we", "our"};
    const char *p = s, *end = s;
    for (int w = 0; w < max; w++) {
        while (*p == ' ') {
            p++;
        }
        const char *q = p;
        while (offl_name_char((unsigned char)*q) || (allow_digits && (isdigit((unsigned char)*q) || *q == '&'))) {
            q++;
        }
        if (q == p) {
            break;
        }
        char low[16];
        if ((size_t)(q - p) < sizeof(low)) {
            offl_lower(p, (size_t)(q - p), low, sizeof(low));
            int is_stop = 0;
            for (size_t i = 0; i < sizeof(stop) / sizeof(stop[0]); i++) {
                is_stop |= strcmp(low, stop[i]) == 0;
            }
            if (is_stop) {
                break;
            }
        }
        if (!(any_case && w == 0) && !offl_upper_start(p) &&
            !(allow_digits && (isdigit((unsigned char)*p) || *p == '&'))) {
            break;
        }
        end = q;
        p = q;
        if (*p != ' ') {
            break;
        }
    }
    return (size_t)(end - s);
}

static const struct {
    const char *phrase;
    int any_case;
} offl_name_intros[] = {
    {"my name is ", 1}, {"my name's ", 1}, {"name: ", 1},          {"i'm ", 0},
    {"i am ", 0},       {"this is ", 0},   {"i\xE2\x80\x99m ", 0},
};

/* Where the name after an introduction ends (NULL: no name found). */
static const char *offl_name_at(const char *msg, char *out, size_t outlen)
{
    for (size_t i = 0; i < sizeof(offl_name_intros) / sizeof(offl_name_intros[0]); i++) {
        for (const char *p = offl_find_phrase(msg, offl_name_intros[i].phrase, 0); p != NULL;
             p = offl_find_phrase(p + 1, offl_name_intros[i].phrase, 0)) {
            const char *s = p + strlen(offl_name_intros[i].phrase);
            size_t n = offl_take_words(s, 3, offl_name_intros[i].any_case, 0);
            if (n > 0) {
                offl_copy(out, outlen, s, n);
                return s + n;
            }
        }
    }
    return NULL;
}

int offl_find_name(const char *msg, char *out, size_t outlen)
{
    out[0] = '\0';
    return offl_name_at(msg, out, outlen) != NULL;
}

int offl_find_company(const char *msg, char *out, size_t outlen)
{
    out[0] = '\0';
    char name[OFFL_FIELD_MAX];
    const char *after = offl_name_at(msg, name, sizeof(name));
    static const char *const after_name[] = {" from ", " at ", " with "};
    for (size_t i = 0; after != NULL && i < sizeof(after_name) / sizeof(after_name[0]); i++) {
        size_t k = strlen(after_name[i]);
        if (strncasecmp(after, after_name[i], k) == 0) {
            size_t n = offl_take_words(after + k, 4, 0, 1);
            if (n > 0) {
                offl_copy(out, outlen, after + k, n);
                return 1;
            }
        }
    }
    static const char *const intros[] = {"i work at ",      "i work for ",    "working at ", "working for ",
                                         "our company is ", "my company is ", "company: ",   "we are ",
                                         "i'm with ",       "i am with "};
    for (size_t i = 0; i < sizeof(intros) / sizeof(intros[0]); i++) {
        const char *p = offl_find_phrase(msg, intros[i], 0);
        if (p != NULL) {
            const char *s = p + strlen(intros[i]);
            size_t n = offl_take_words(s, 4, 0, 1);
            if (n > 0) {
                offl_copy(out, outlen, s, n);
                return 1;
            }
        }
    }
    return 0;
}

int offl_find_team_size(const char *msg, char *out, size_t outlen)
{
    static const char *const units[] = {"people",    "employees",  "users",      "seats",   "staff",  "persons",
                                        "engineers", "developers", "colleagues", "members", "person", "analysts"};
    out[0] = '\0';
    const char *t = offl_find_phrase(msg, "team of ", 0);
    if (t != NULL && isdigit((unsigned char)t[8])) {
        const char *e = t + 8;
        while (isdigit((unsigned char)*e)) {
            e++;
        }
        offl_copy(out, outlen, t + 8, (size_t)(e - t - 8));
        return 1;
    }
    for (const char *p = msg; *p; p++) {
        if (!isdigit((unsigned char)*p) || (p > msg && (isalnum((unsigned char)p[-1]) || p[-1] == '.'))) {
            continue;
        }
        const char *e = p;
        while (isdigit((unsigned char)*e)) {
            e++;
        }
        const char *w = e;
        while (*w == ' ') {
            w++;
        }
        for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
            size_t k = strlen(units[i]);
            if (strncasecmp(w, units[i], k) == 0 && !isalpha((unsigned char)w[k])) {
                offl_copy(out, outlen, p, (size_t)(w + k - p));
                return 1;
            }
        }
        p = e - 1;
    }
    return 0;
}

int offl_find_timeline(const char *msg, char *out, size_t outlen)
{
    static const char *const phrases[] = {"as soon as possible",
                                          "asap",
                                          "right away",
                                          "immediately",
                                          "next week",
                                          "this week",
                                          "next month",
                                          "this month",
                                          "next quarter",
                                          "this quarter",
                                          "next year",
                                          "this year",
                                          "end of the year",
                                          "end of the month",
                                          "in q1",
                                          "in q2",
                                          "in q3",
                                          "in q4",
                                          "within a month",
                                          "within weeks"};
    out[0] = '\0';
    for (size_t i = 0; i < sizeof(phrases) / sizeof(phrases[0]); i++) {
        const char *p = offl_find_phrase(msg, phrases[i], 1);
        if (p != NULL) {
            offl_copy(out, outlen, p, strlen(phrases[i]));
            return 1;
        }
    }
    /* "in 3 weeks", "within 2 months" */
    static const char *const lead_in[] = {"in ", "within "};
    for (size_t i = 0; i < 2; i++) {
        for (const char *p = offl_find_phrase(msg, lead_in[i], 0); p != NULL;
             p = offl_find_phrase(p + 1, lead_in[i], 0)) {
            const char *d = p + strlen(lead_in[i]);
            const char *e = d;
            while (isdigit((unsigned char)*e)) {
                e++;
            }
            if (e == d || *e != ' ') {
                continue;
            }
            static const char *const units[] = {"days", "weeks", "months", "day", "week", "month"};
            for (size_t u = 0; u < 6; u++) {
                size_t k = strlen(units[u]);
                if (strncasecmp(e + 1, units[u], k) == 0 && !isalpha((unsigned char)e[1 + k])) {
                    offl_copy(out, outlen, p, (size_t)(e + 1 + k - p));
                    return 1;
                }
            }
        }
    }
    return 0;
}

int offl_find_need(const char *msg, char *out, size_t outlen)
{
    static const char *const intros[] = {"looking for ",   "interested in ", "we need ",
                                         "i need ",        "we want to ",    "i want to ",
                                         "would like to ", "i'd like to ",   "we'd like to "};
    out[0] = '\0';
    for (size_t i = 0; i < sizeof(intros) / sizeof(intros[0]); i++) {
        const char *p = offl_find_phrase(msg, intros[i], 0);
        if (p == NULL) {
            continue;
        }
        const char *s = p + strlen(intros[i]);
        const char *e = s;
        while (*e && *e != '.' && *e != '!' && *e != '?' && *e != '\n' && *e != ',' && *e != ';') {
            e++;
        }
        while (e > s && isspace((unsigned char)e[-1])) {
            e--;
        }
        if (e > s) {
            offl_copy(out, outlen, s, (size_t)(e - s));
            return 1;
        }
    }
    return 0;
}

int offl_any_phrase(const char *msg, const char *const *phrases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (offl_find_phrase(msg, phrases[i], 1) != NULL) {
            return 1;
        }
    }
    return 0;
}

int offl_wants_handoff(const char *msg, char *reason, size_t reasonlen, int *urgent)
{
    static const char *const demo[] = {"demo", "demonstration", "walkthrough", "walk-through"};
    static const char *const sales[] = {
        "talk to sales", "speak to sales", "speak with sales",   "talk with sales",   "contact sales", "sales team",
        "sales rep",     "salesperson",    "someone from sales", "account executive", "a quote",       "an offer"};
    static const char *const call[] = {"call me", "a call",         "phone call",         "call back", "callback",
                                       "ring me", "book a meeting", "schedule a meeting", "a meeting"};
    static const char *const human[] = {
        "human",           "real person",      "to a person",        "with a person",
        "talk to someone", "speak to someone", "speak with someone", "talk with someone",
        "an agent",        "a representative", "live agent",         "contact me",
        "get in touch",    "reach out to me",  "talk to your",       "speak to your",
        "speak with your"};
    static const char *const hurry[] = {"urgent",      "urgently",  "asap",       "as soon as possible",
                                        "immediately", "right now", "right away", "today"};
    const char *why = NULL;
    if (offl_any_phrase(msg, demo, sizeof(demo) / sizeof(demo[0]))) {
        why = "The visitor asked for a demo";
    } else if (offl_any_phrase(msg, sales, sizeof(sales) / sizeof(sales[0]))) {
        why = "The visitor asked to talk to sales";
    } else if (offl_any_phrase(msg, call, sizeof(call) / sizeof(call[0]))) {
        why = "The visitor asked for a call";
    } else if (offl_any_phrase(msg, human, sizeof(human) / sizeof(human[0]))) {
        why = "The visitor asked to talk to a person";
    }
    *urgent = offl_any_phrase(msg, hurry, sizeof(hurry) / sizeof(hurry[0]));
    snprintf(reason, reasonlen, "%s", why ? why : "");
    return why != NULL;
}

/* Only greeting (or only thanks) words: 1 greeting, 2 thanks, 0 other. */
int offl_small_talk(const char *msg)
{
    static const char *const greet[] = {"hi",        "hello",  "hey",     "hallo",     "hiya",    "howdy",
                                        "moin",      "good",   "morning", "afternoon", "evening", "there",
                                        "greetings", "servus", "yo",      "guten",     "tag"};
    static const char *const thank[] = {"thanks", "thank", "you",     "thx",     "ty",   "much",    "great",   "ok",
                                        "okay",   "cool",  "perfect", "awesome", "bye",  "goodbye", "cheers",  "danke",
                                        "a",      "lot",   "so",      "very",    "that", "helps",   "helpful", "was"};
    int g = 1, t = 1, any = 0, thanked = 0;
    const char *p = msg;
    while (*p) {
        while (*p && !offl_word_byte((unsigned char)*p)) {
            p++;
        }
        const char *q = p;
        while (offl_word_byte((unsigned char)*q)) {
            q++;
        }
        if (q == p) {
            break;
        }
        char low[24];
        if ((size_t)(q - p) >= sizeof(low)) {
            return 0;
        }
        offl_lower(p, (size_t)(q - p), low, sizeof(low));
        any = 1;
        int ig = 0, it = 0;
        for (size_t i = 0; i < sizeof(greet) / sizeof(greet[0]); i++) {
            ig |= strcmp(low, greet[i]) == 0;
        }
        for (size_t i = 0; i < sizeof(thank) / sizeof(thank[0]); i++) {
            it |= strcmp(low, thank[i]) == 0;
        }
        thanked |= strcmp(low, "thanks") == 0 || strcmp(low, "thank") == 0 || strcmp(low, "thx") == 0 ||
                   strcmp(low, "danke") == 0 || strcmp(low, "cheers") == 0;
        g &= ig;
        t &= it;
        p = q;
    }
    if (!any) {
        return 0;
    }
    return g ? 1 : (t && thanked) ? 2 : 0;
}

int offl_blank(const char *s)
{
    for (; s != NULL && *s; s++) {
        if (!isspace((unsigned char)*s)) {
            return 0;
        }
    }
    return 1;
}
