/* offline_collect.c: a lead from one visitor message (the finders of
 * offline_lead.c and offline_intent.c, then lib/lead_slots.c's checks: a
 * bad email dropped, the phone in E.164, a company guessed from a business
 * email domain), the record_lead input for the configured slots, and the
 * sentences of the offline answer that go with a lead: thanks, a noted
 * correction, the hand-off, and the one question for the next missing
 * slot, in English or German. Caller buffers, no state. */
#include "offline.h"

#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "dynbuf.h"
#include "lead_slots.h"
#include "offline_int.h"

/* ================================================================ lead */

static int offl_correction(const char *msg)
{
    static const char *const cues[] = {"actually",   "correction", "sorry",       "i meant",    "instead",
                                       "rather",     "typo",       "wrong",       "not ",       "korrektur",
                                       "eigentlich", "richtige",   "richtig ist", "sondern",    "stattdessen",
                                       "tippfehler", "falsch",     "vertippt",    "ich meinte", "nicht "};
    return offl_any_phrase(msg, cues, sizeof(cues) / sizeof(cues[0]));
}

unsigned offl_extract_lead(const char *msg, offl_lead *l)
{
    memset(l, 0, sizeof(*l));
    static const char *const ok[] = {
        "contact me",         "reach me",          "call me",  "email me",          "get in touch",
        "reach out",          "get back to me",    "send me",  "you can contact",   "kontaktieren sie mich",
        "melden sie sich",    "rufen sie mich",    "ruf mich", "schreiben sie mir", "erreichbar unter",
        "sie erreichen mich", "erreichen sie mich"};
    l->correction = offl_correction(msg);
    char raw[OFFL_FIELD_MAX];
    if (offl_find_email_at(msg, l->correction, raw, sizeof(raw)) && lead_email_ok(raw)) {
        snprintf(l->v[LEAD_SLOT_EMAIL], sizeof(l->v[0]), "%s", raw);
    }
    if (offl_find_phone_at(msg, l->correction, raw, sizeof(raw))) {
        char e164[LEAD_E164_MAX];
        if (lead_phone_e164(raw, NULL, e164, sizeof(e164)) == 0) {
            snprintf(l->v[LEAD_SLOT_PHONE], sizeof(l->v[0]), "%s", e164);
        } else {
            snprintf(l->v[LEAD_SLOT_PHONE], sizeof(l->v[0]), "%s", raw);
            l->phone_raw = 1;
        }
    }
    offl_find_name(msg, l->v[LEAD_SLOT_NAME], sizeof(l->v[0]));
    offl_find_company(msg, l->v[LEAD_SLOT_COMPANY], sizeof(l->v[0]));
    offl_find_team_size(msg, l->v[LEAD_SLOT_TEAM_SIZE], sizeof(l->v[0]));
    offl_find_timeline(msg, l->v[LEAD_SLOT_TIMELINE], sizeof(l->v[0]));
    offl_find_need(msg, l->v[LEAD_SLOT_NEED], sizeof(l->v[0]));
    if (l->v[LEAD_SLOT_COMPANY][0] == '\0' && l->v[LEAD_SLOT_EMAIL][0] != '\0' &&
        lead_company_from_email(l->v[LEAD_SLOT_EMAIL], l->v[LEAD_SLOT_COMPANY], sizeof(l->v[0]))) {
        l->company_guessed = 1;
    }
    l->consent = offl_any_phrase(msg, ok, sizeof(ok) / sizeof(ok[0]));
    for (int s = 0; s < LEAD_NSLOTS; s++) {
        if (l->v[s][0]) {
            l->found |= 1u << s;
        }
    }
    return l->found;
}

int offl_lead_contact(const offl_lead *l)
{
    unsigned contact = (1u << LEAD_SLOT_NAME) | (1u << LEAD_SLOT_EMAIL) | (1u << LEAD_SLOT_PHONE) |
                       (l->company_guessed ? 0u : (1u << LEAD_SLOT_COMPANY));
    for (int s = 0; s < LEAD_NSLOTS; s++) {
        if ((l->found & contact & (1u << s)) && lead_slot_on((lead_slot)s)) {
            return 1;
        }
    }
    return 0;
}

char *offl_lead_json(const offl_lead *l)
{
    json_t *o = json_object();
    for (int s = 0; s < LEAD_NSLOTS; s++) {
        /* a guessed company is the gateway's to guess and mark */
        if (l->v[s][0] && lead_slot_on((lead_slot)s) && !(s == LEAD_SLOT_COMPANY && l->company_guessed)) {
            json_object_set_new(o, lead_slot_name((lead_slot)s), json_string(l->v[s]));
        }
    }
    json_object_set_new(o, "consent", json_boolean(l->consent));
    char *out = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return out;
}

/* ============================================================ language */

int offl_german(const char *msg, const char *locale)
{
    static const char *const de[] = {"ich",
                                     "mein",
                                     "meine",
                                     "meinen",
                                     "ist",
                                     "und",
                                     "nicht",
                                     "bitte",
                                     "sie",
                                     "wir",
                                     "unser",
                                     "unsere",
                                     "hallo",
                                     "danke",
                                     "gerne",
                                     "f\xC3\xBCr",
                                     "mit",
                                     "bei",
                                     "von",
                                     "der",
                                     "die",
                                     "das",
                                     "nummer",
                                     "erreichbar",
                                     "firma",
                                     ("m\xC3\xB6"
                                      "chte"),
                                     "kann",
                                     "k\xC3\xB6nnen",
                                     ("hei\xC3\x9F"
                                      "e"),
                                     "heisse",
                                     "hier",
                                     ("gr\xC3\xBC\xC3\x9F"
                                      "e"),
                                     "wie",
                                     "was",
                                     "gibt",
                                     "es",
                                     "ein",
                                     "eine",
                                     "auch",
                                     "guten",
                                     "tag"};
    static const char *const en[] = {"i",    "my",    "is",     "and",     "the",   "please", "we",    "our",
                                     "you",  "hello", "thanks", "can",     "would", "for",    "with",  "at",
                                     "from", "this",  "number", "company", "what",  "how",    "there", "a",
                                     "an",   "also",  "me",     "hi",      "it",    "do",     "does",  "of"};
    int nd = 0, ne = 0;
    for (const char *p = msg; *p;) {
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
        if ((size_t)(q - p) < sizeof(low)) {
            offl_lower(p, (size_t)(q - p), low, sizeof(low));
            for (size_t i = 0; i < sizeof(de) / sizeof(de[0]); i++) {
                nd += strcmp(low, de[i]) == 0;
            }
            for (size_t i = 0; i < sizeof(en) / sizeof(en[0]); i++) {
                ne += strcmp(low, en[i]) == 0;
            }
        }
        p = q;
    }
    int de_locale = locale != NULL && strncasecmp(locale, "de", 2) == 0;
    return nd > ne || (nd == ne && de_locale);
}

/* ============================================================ sentences */

static const char *offl_old(const Chat__Common__LeadState *old, lead_slot s)
{
    if (old == NULL) {
        return "";
    }
    const char *v[LEAD_NSLOTS] = {old->name, old->email,     old->phone,    old->company,
                                  old->need, old->team_size, old->timeline, old->budget};
    return v[s] ? v[s] : "";
}

void offl_say_thanks(dynbuf *b, const offl_lead *l, const Chat__Common__LeadState *old, int de)
{
    static const char *const what_en[] = {"name", "email address", "phone number", "company"};
    static const char *const what_de[] = {"Ihren Namen", "Ihre E-Mail-Adresse", "Ihre Telefonnummer",
                                          "Ihr Unternehmen"};
    /* a slot the visitor already gave, now with another value */
    for (int s = LEAD_SLOT_NAME; s <= LEAD_SLOT_COMPANY; s++) {
        const char *was = offl_old(old, (lead_slot)s);
        if (l->v[s][0] && was[0] && strcasecmp(was, l->v[s]) != 0 && lead_slot_on((lead_slot)s) &&
            !(s == LEAD_SLOT_COMPANY && l->company_guessed)) {
            dyn_printf(b, de ? "Danke, ich habe %s aktualisiert." : "Thanks, I've updated your %s.",
                       de ? what_de[s] : what_en[s]);
            return;
        }
    }
    char first[OFFL_FIELD_MAX];
    const char *name = l->v[LEAD_SLOT_NAME][0] ? l->v[LEAD_SLOT_NAME] : offl_old(old, LEAD_SLOT_NAME);
    offl_copy(first, sizeof(first), name, offl_take_words(name, 1, 1, 0));
    int contact = (l->v[LEAD_SLOT_EMAIL][0] && lead_slot_on(LEAD_SLOT_EMAIL)) ||
                  (l->v[LEAD_SLOT_PHONE][0] && lead_slot_on(LEAD_SLOT_PHONE));
    const char *sep = first[0] ? ", " : "";
    if (contact) {
        dyn_printf(b,
                   de ? "Vielen Dank%s%s! Ich habe Ihre Kontaktdaten f\xC3\xBCr unser Team notiert."
                      : "Thank you%s%s! I've noted your contact details for our team.",
                   sep, first);
    } else if (l->v[LEAD_SLOT_NAME][0] && lead_slot_on(LEAD_SLOT_NAME)) {
        dyn_printf(b, de ? "Sch\xC3\xB6n, Sie kennenzulernen, %s!" : "Nice to meet you, %s!", first);
    } else {
        dyn_adds(b,
                 de ? "Danke, das habe ich f\xC3\xBCr unser Team notiert." : "Thanks, I've noted that for our team.");
    }
}

void offl_say_handoff(dynbuf *b, const char *reason, int de)
{
    if (de) {
        dyn_adds(b,
                 strstr(reason, "demo")    ? "Ich gebe unserem Team Bescheid, dass Sie eine Demo w\xC3\xBCnschen."
                 : strstr(reason, "quote") ? "Ich gebe unserem Vertrieb Bescheid, dass Sie ein Angebot w\xC3\xBCnschen."
                 : strstr(reason, "sales") ? "Ich gebe unserem Vertrieb Bescheid, dass Sie mit ihm sprechen m\xC3\xB6"
                                             "chten."
                 : strstr(reason, "meeting") ? "Ich gebe unserem Team Bescheid, dass Sie einen Termin w\xC3\xBCnschen."
                 : strstr(reason, "call")    ? "Ich gebe unserem Team Bescheid, dass Sie einen R\xC3\xBC"
                                               "ckruf w\xC3\xBCnschen."
                                          : "Ich gebe unserem Team Bescheid, dass Sie mit jemandem sprechen m\xC3\xB6"
                                            "chten.");
        return;
    }
    dyn_adds(b, strstr(reason, "demo")      ? "I'll let our team know you'd like a demo."
                : strstr(reason, "quote")   ? "I'll let our sales team know you'd like a quote."
                : strstr(reason, "sales")   ? "I'll let our sales team know you'd like to talk to them."
                : strstr(reason, "meeting") ? "I'll let our team know you'd like an appointment."
                : strstr(reason, "call")    ? "I'll let our team know you'd like a call."
                                            : "I'll let our team know you'd like to talk to someone.");
}

int offl_ask_next(dynbuf *b, const offl_lead *l, const Chat__Common__LeadState *old, int de)
{
    static const char *const en[LEAD_NSLOTS] = {
        "May I have your name?",
        "What is the best email address to reach you?",
        "Would you also like to leave a phone number, in case a call is easier?",
        "Which company are you with?",
        "What are you looking for, in a few words?",
        "How many people would use it?",
        "When would you like to get started?",
        "Do you have a budget in mind?",
    };
    static const char *const german[LEAD_NSLOTS] = {
        "Darf ich noch Ihren Namen erfahren?",
        "Unter welcher E-Mail-Adresse erreichen wir Sie am besten?",
        ("M\xC3\xB6"
         "chten Sie uns auch eine Telefonnummer hinterlassen, falls ein Anruf einfacher ist?"),
        "F\xC3\xBCr welches Unternehmen sind Sie t\xC3\xA4tig?",
        "Worum geht es Ihnen, in ein paar Worten?",
        "Wie viele Personen w\xC3\xBCrden es nutzen?",
        ("Wann m\xC3\xB6"
         "chten Sie starten?"),
        "Haben Sie schon ein Budget im Blick?",
    };
    const lead_conf *c = lead_conf_get();
    for (size_t i = 0; i < c->norder; i++) {
        lead_slot s = c->order[i];
        if (l->v[s][0] || offl_old(old, s)[0]) {
            continue;
        }
        if (b->len > 0) {
            dyn_adds(b, "\n\n");
        }
        dyn_adds(b, de ? german[s] : en[s]);
        return 1;
    }
    return 0;
}
