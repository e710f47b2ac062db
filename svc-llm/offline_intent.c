/* offline_intent.c: what else the offline provider reads in a visitor's
 * message besides contact details: team size, timeline and need, whether
 * they ask for a person, sales, a call or a demo (English and German), and
 * small talk. Rules on caller buffers, no state. */
#include "offline.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "offline_int.h"

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
                                          "within weeks",
                                          "so schnell wie m\xC3\xB6glich",
                                          "sofort",
                                          ("n\xC3\xA4"
                                           "chste woche"),
                                          ("n\xC3\xA4"
                                           "chsten monat"),
                                          ("n\xC3\xA4"
                                           "chstes quartal"),
                                          ("n\xC3\xA4"
                                           "chstes jahr"),
                                          "diese woche",
                                          "diesen monat",
                                          "dieses quartal",
                                          "dieses jahr",
                                          "ende des jahres",
                                          "bis jahresende"};
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
    static const char *const intros[] = {
        "looking for ",   "interested in ",        "we need ",      "i need ",     "we want to ", "i want to ",
        "would like to ", "i'd like to ",          "we'd like to ", "wir suchen ", "ich suche ",  "wir brauchen ",
        "ich brauche ",   "wir ben\xC3\xB6tigen ", "interesse an "};
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
    static const char *const demo[] = {"demo",         "demonstration",     "walkthrough",
                                       "walk-through", "vorf\xC3\xBChrung", "pr\xC3\xA4sentation",
                                       "live-demo"};
    static const char *const quote[] = {
        "a quote",           "an offer",         "ein angebot",       "einen kostenvoranschlag",
        "angebot anfordern", "angebot erhalten", "angebot erstellen", "ein individuelles angebot"};
    static const char *const sales[] = {"talk to sales",
                                        "speak to sales",
                                        "speak with sales",
                                        "talk with sales",
                                        "contact sales",
                                        "sales team",
                                        "sales rep",
                                        "salesperson",
                                        "someone from sales",
                                        "account executive",
                                        "vertrieb",
                                        "vertriebler",
                                        "verkauf",
                                        ("au\xC3\x9F"
                                         "endienst")};
    static const char *const callback[] = {("r\xC3\xBC"
                                            "ckruf"),
                                           "ruf mich an",
                                           "rufen sie mich an",
                                           "mich anrufen",
                                           ("mich zur\xC3\xBC"
                                            "ckrufen"),
                                           "anrufen",
                                           "telefonat"};
    static const char *const meeting[] = {"book a meeting",
                                          "schedule a meeting",
                                          "a meeting",
                                          "an appointment",
                                          "einen termin",
                                          "termin vereinbaren",
                                          "termin ausmachen",
                                          ("ein gespr\xC3\xA4"
                                           "ch"),
                                          "beratungstermin"};
    static const char *const call[] = {"call me", "a call", "phone call", "call back", "callback", "ring me"};
    static const char *const human[] = {"human",
                                        "real person",
                                        "to a person",
                                        "with a person",
                                        "talk to someone",
                                        "speak to someone",
                                        "speak with someone",
                                        "talk with someone",
                                        "an agent",
                                        "a representative",
                                        "live agent",
                                        "contact me",
                                        "get in touch",
                                        "reach out to me",
                                        "talk to your",
                                        "speak to your",
                                        "speak with your",
                                        "mit jemandem sprechen",
                                        "mit jemandem reden",
                                        "mit einem menschen",
                                        "mit einer person",
                                        "echten menschen",
                                        "mit einem mitarbeiter",
                                        "mit einer mitarbeiterin",
                                        "ansprechpartner",
                                        "kontaktieren sie mich",
                                        "melden sie sich"};
    static const char *const hurry[] = {
        "urgent", "urgently", "asap",   "as soon as possible",           "immediately", "right now", "right away",
        "today",  "dringend", "sofort", "so schnell wie m\xC3\xB6glich", "heute",       "eilig",     "umgehend"};
#define OFFL_ANY(list) offl_any_phrase(msg, list, sizeof(list) / sizeof(list[0]))
    const char *why = NULL;
    if (OFFL_ANY(demo)) {
        why = "The visitor asked for a demo";
    } else if (OFFL_ANY(quote)) {
        why = "The visitor asked sales for a quote";
    } else if (OFFL_ANY(sales)) {
        why = "The visitor asked to talk to sales";
    } else if (OFFL_ANY(callback)) {
        why = "The visitor asked for a call back";
    } else if (OFFL_ANY(meeting)) {
        why = "The visitor asked for a call or meeting (appointment)";
    } else if (OFFL_ANY(call)) {
        why = "The visitor asked for a call";
    } else if (OFFL_ANY(human)) {
        why = "The visitor asked to talk to a person";
    }
    *urgent = OFFL_ANY(hurry);
#undef OFFL_ANY
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
