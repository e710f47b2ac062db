/*
 * test_lead_slots.c - lead slots (lib/lead_slots.c), the lead score
 * (lib/lead_score.c) and the offline lead rules measured on a corpus of
 * English and German phrasings (tests/leads/phrasings.tsv): precision and
 * recall per slot are printed, and each must stay above LEAD_FLOOR.
 */
#include <criterion/criterion.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lead_score.h"
#include "lead_slots.h"
#include "offline.h"

#define LEAD_FLOOR 0.9         /* precision and recall per slot, per language (in-sample) */
#define LEAD_HELDOUT_FLOOR 0.5 /* the same on the held-out phrasings */
#define CORPUS_LINE_MAX 2048
#define CORPUS_DIR_MAX 1024

/* ------------------------------------------------------------ E.164 */

Test(lead_slots, e164_rules)
{
    static const struct {
        const char *in, *country, *want; /* want NULL: cannot be read */
    } c[] = {
        {"0151 2345678", "DE", "+491512345678"},
        {"+49 (0)30 1234567", "DE", "+49301234567"},
        {"0044 20 7946 0958", "DE", "+442079460958"},
        {"(415) 555-2671", "US", "+14155552671"},
        {"1-415-555-2671", "US", "+14155552671"},
        {"011 49 30 1234567", "US", "+49301234567"},
        {"+1 202 555 0143", "DE", "+12025550143"},
        {"030/1234567", "DE", "+49301234567"},
        {"0171-1234567", "DE", "+491711234567"},
        {"+49 030 1234567", "DE", "+49301234567"},
        {"01 42 68 53 00", "FR", "+33142685300"},
        {"020 7946 0958", "GB", "+442079460958"},
        {"044 668 18 00", "CH", "+41446681800"},
        {"01 5123456", "AT", "+4315123456"},
        {"020 123 4567", "NL", "+31201234567"},
        {"+353 1 234 5678", "DE", "+35312345678"}, /* no rules for IE: the digits */
        {"(415) 555-2671", "DE", NULL},            /* national US without trunk prefix, for DE */
        {"1234567", "DE", NULL},                   /* no area code */
        {"0151 2345678 ext 12", "DE", NULL},       /* letters */
        {"044 668 18 000", "CH", NULL},            /* too long for CH */
        {"(115) 555-2671", "US", NULL},            /* area codes start with 2-9 */
        {"+49", "DE", NULL},
        {"", "DE", NULL},
        {"+4 9 30", "DE", NULL},
    };
    for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
        char out[LEAD_E164_MAX];
        int rc = lead_phone_e164(c[i].in, c[i].country, out, sizeof(out));
        if (c[i].want == NULL) {
            cr_expect_eq(rc, -1, "\"%s\" (%s): got %s", c[i].in, c[i].country, out);
            cr_expect_str_eq(out, "");
        } else {
            cr_expect_eq(rc, 0, "\"%s\" (%s) not read", c[i].in, c[i].country);
            cr_expect_str_eq(out, c[i].want, "\"%s\" (%s)", c[i].in, c[i].country);
        }
    }
    char small[8];
    cr_expect_eq(lead_phone_e164("0151 2345678", "DE", small, sizeof(small)), -1, "out too small");
    cr_expect_eq(lead_phone_e164("0151 2345678", "XX", small, sizeof(small)), -1, "unknown country");
}

Test(lead_slots, email_syntax)
{
    static const char *const good[] = {"tom@acme.io", "jane.doe+crm@mail.acme-corp.example", "a@b.co"};
    static const char *const bad[] = {"tom@acme",
                                      "tom@@acme.io",
                                      "@acme.io",
                                      "tom acme@x.io",
                                      "tom@.io",
                                      "tom@acme.",
                                      "<tom@acme.io>",
                                      "tom@ac..me.io",
                                      "x",
                                      ""};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        cr_expect(lead_email_ok(good[i]), "%s", good[i]);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_expect_not(lead_email_ok(bad[i]), "%s", bad[i]);
    }
    cr_expect_not(lead_email_ok(NULL));
}

Test(lead_slots, freemail_list)
{
    static const char *const free_[] = {
        "gmail.com",   "googlemail.com", "outlook.com", "hotmail.de", "live.com", "yahoo.co.uk", "icloud.com",
        "me.com",      "aol.com",        "gmx.de",      "GMX.net",    "web.de",   "t-online.de", "posteo.de",
        "proton.me",   "protonmail.com", "mail.com",    "yandex.ru",  "zoho.com", "freenet.de",  "arcor.de",
        "mailbox.org", "tutanota.com",   "fastmail.fm", "orange.fr",  "free.fr",  "bluewin.ch",  "libero.it",
        "qq.com",      "mail.ru",        "msn.com",     "ymail.com",  "pm.me",    "example.org", "mx.web.de",
    };
    cr_assert_geq(sizeof(free_) / sizeof(free_[0]), 30);
    for (size_t i = 0; i < sizeof(free_) / sizeof(free_[0]); i++) {
        cr_expect(lead_freemail_domain(free_[i]), "%s is free mail", free_[i]);
    }
    static const char *const business[] = {"acme.io", "siemens.de",      "webfleet.com", "mailchimp.com",
                                           "gmxx.de", "live-nation.com", "theweb.de"};
    for (size_t i = 0; i < sizeof(business) / sizeof(business[0]); i++) {
        cr_expect_not(lead_freemail_domain(business[i]), "%s is a business", business[i]);
    }
}

Test(lead_slots, company_guess)
{
    static const struct {
        const char *email, *want; /* want NULL: no guess */
    } c[] = {
        {"tom@acme.io", "Acme"},         {"anna@mail.acme-corp.co.uk", "Acme Corp"},
        {"max@beispiel.de", "Beispiel"}, {"x@SIEMENS.COM", "Siemens"},
        {"tom@gmail.com", NULL},         {"tom@gmx.at", NULL},
        {"eve@example.com", NULL},       {"bob@123.com", NULL},
        {"not-an-address", NULL},
    };
    for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
        char out[LEAD_COMPANY_GUESS_MAX];
        int got = lead_company_from_email(c[i].email, out, sizeof(out));
        if (c[i].want == NULL) {
            cr_expect_not(got, "%s: guessed %s", c[i].email, out);
        } else {
            cr_expect(got, "%s: no guess", c[i].email);
            cr_expect_str_eq(out, c[i].want, "%s", c[i].email);
        }
    }
}

Test(lead_slots, configured_slots)
{
    char err[256];
    cr_assert_eq(lead_conf_init("email, phone,budget", "us", err, sizeof(err)), 0, "%s", err);
    cr_expect(lead_slot_on(LEAD_SLOT_BUDGET));
    cr_expect_not(lead_slot_on(LEAD_SLOT_NAME));
    cr_expect_str_eq(lead_conf_get()->country, "US");
    cr_expect_eq(lead_conf_get()->norder, 3);
    cr_expect_eq(lead_conf_get()->order[2], LEAD_SLOT_BUDGET);
    char out[LEAD_E164_MAX];
    cr_expect_eq(lead_phone_e164("(415) 555-2671", NULL, out, sizeof(out)), 0, "the configured country");
    cr_expect_eq(lead_conf_init("email,shoe_size", NULL, err, sizeof(err)), -1);
    cr_expect(strstr(err, "shoe_size") != NULL, "%s", err);
    cr_expect_eq(lead_conf_init(" , ", NULL, err, sizeof(err)), -1);
    cr_expect_eq(lead_conf_init(NULL, "XX", err, sizeof(err)), -1);
    cr_expect(strstr(err, "LEAD_DEFAULT_COUNTRY") != NULL, "%s", err);
    cr_assert_eq(lead_conf_init(NULL, NULL, err, sizeof(err)), 0);
    cr_expect(lead_slot_on(LEAD_SLOT_TIMELINE) && !lead_slot_on(LEAD_SLOT_TEAM_SIZE), "the default list");
}

/* ------------------------------------------------------------ score */

Test(lead_score, weights_and_phrases)
{
    lead_weights w;
    char err[256];
    cr_assert_eq(lead_weights_parse(NULL, &w, err, sizeof(err)), 0, "%s", err);
    cr_expect_eq(w.slot[LEAD_SLOT_EMAIL], 30);
    cr_expect_eq(w.person, 100);
    unsigned nep = (1u << LEAD_SLOT_NAME) | (1u << LEAD_SLOT_EMAIL) | (1u << LEAD_SLOT_PHONE);
    cr_expect_eq(lead_score(&w, nep, 0, 0), 60);
    cr_expect_eq(lead_score(&w, 1u << LEAD_SLOT_EMAIL, 1, 0), 55);
    cr_expect_eq(lead_score(&w, 0, 0, 1), 100);
    cr_assert_eq(lead_weights_parse("email=5, budget=40", &w, err, sizeof(err)), 0, "%s", err);
    cr_expect_eq(lead_score(&w, (1u << LEAD_SLOT_BUDGET) | (1u << LEAD_SLOT_NAME), 1, 1), 40, "unnamed weigh 0");
    cr_expect_eq(lead_weights_parse("email=abc", &w, err, sizeof(err)), -1);
    cr_expect_eq(lead_weights_parse("email=-3", &w, err, sizeof(err)), -1);
    cr_expect_eq(lead_weights_parse("email=1001", &w, err, sizeof(err)), -1);
    cr_expect_eq(lead_weights_parse("karma=10", &w, err, sizeof(err)), -1);
    cr_expect(strstr(err, "karma") != NULL, "%s", err);

    cr_expect(lead_intent_phrase("What is your pricing?"));
    cr_expect(lead_intent_phrase("Ich h\xC3\xA4tte gern ein Angebot"));
    cr_expect(lead_intent_phrase("Was ist der Preis?"));
    cr_expect(lead_intent_phrase("Can I book a demo?"));
    cr_expect_not(lead_intent_phrase("Where is my data stored?"));
    cr_expect(lead_person_phrase("Can I talk to a person?"));
    cr_expect(lead_person_phrase("Ich m\xC3\xB6"
                                 "chte mit einem Menschen sprechen"));
    cr_expect_not(lead_person_phrase("Is there a person limit per seat?"));
}

/* ------------------------------------------------------------ corpus */

enum { C_NAME, C_EMAIL, C_PHONE, C_COMPANY, C_NCOLS };
static const lead_slot corpus_slot[C_NCOLS] = {LEAD_SLOT_NAME, LEAD_SLOT_EMAIL, LEAD_SLOT_PHONE, LEAD_SLOT_COMPANY};

typedef struct tally {
    unsigned tp, fp, fn;
} tally;

static void unescape(char *s)
{
    char *w = s;
    for (const char *r = s; *r; r++) {
        if (r[0] == '\\' && r[1] == 'n') {
            *w++ = '\n';
            r++;
        } else {
            *w++ = *r;
        }
    }
    *w = '\0';
}

static char *trim(char *s)
{
    while (*s == ' ') {
        s++;
    }
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\r' || s[n - 1] == '\n')) {
        s[--n] = '\0';
    }
    return s;
}

static FILE *open_corpus(const char *name)
{
    /* from the repository root (make unit) or from build/release/tests */
    char path[256];
    snprintf(path, sizeof(path), "tests/leads/%s", name);
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        snprintf(path, sizeof(path), "../../../tests/leads/%s", name);
        f = fopen(path, "r");
    }
    return f;
}

/* Runs every line of the corpus file through the offline finders and
 * prints precision and recall per slot and language; each must reach
 * floor, and each language needs min_lines lines. */
static void corpus_measure(const char *name, double floor, unsigned min_lines)
{
    char err[256];
    cr_assert_eq(lead_conf_init(NULL, "DE", err, sizeof(err)), 0);
    FILE *f = open_corpus(name);
    cr_assert_not_null(f, "tests/leads/%s not found (run from the repository root)", name);
    tally t[2][C_NCOLS];
    memset(t, 0, sizeof(t));
    unsigned lines[2] = {0, 0};
    char line[CORPUS_LINE_MAX];
    while (fgets(line, sizeof(line), f) != NULL) {
        if (line[0] == '#' || line[0] == '\n') {
            continue;
        }
        char *col[6] = {0};
        size_t nc = 0;
        for (char *p = line, *tab; nc < 6; p = tab + 1) {
            col[nc++] = p;
            tab = strchr(p, '\t');
            if (tab == NULL) {
                break;
            }
            *tab = '\0';
        }
        cr_assert_eq(nc, 6, "a corpus line needs 6 columns: %s", col[0]);
        int de = strcmp(trim(col[5]), "de") == 0;
        cr_assert(de || strcmp(trim(col[5]), "en") == 0, "language en or de: %s", col[0]);
        lines[de]++;
        unescape(col[0]);
        offl_lead l;
        offl_extract_lead(col[0], &l);
        for (int k = 0; k < C_NCOLS; k++) {
            const char *want = trim(col[1 + k]);
            const char *got = l.v[corpus_slot[k]];
            if (want[0] && got[0] && strcmp(want, got) == 0) {
                t[de][k].tp++;
                continue;
            }
            if (got[0]) {
                t[de][k].fp++;
            }
            if (want[0]) {
                t[de][k].fn++;
            }
            if (want[0] || got[0]) {
                printf("  miss %-7s [%s] want \"%s\" got \"%s\" in \"%s\"\n", lead_slot_name(corpus_slot[k]),
                       de ? "de" : "en", want, got, col[0]);
            }
        }
    }
    fclose(f);
    cr_expect_geq(lines[0], min_lines, "at least %u English lines (%u)", min_lines, lines[0]);
    cr_expect_geq(lines[1], min_lines, "at least %u German lines (%u)", min_lines, lines[1]);
    printf("lead corpus %s: %u English and %u German lines\n", name, lines[0], lines[1]);
    for (int de = 0; de < 2; de++) {
        for (int k = 0; k < C_NCOLS; k++) {
            const tally *x = &t[de][k];
            double p = x->tp + x->fp ? (double)x->tp / (x->tp + x->fp) : 1.0;
            double r = x->tp + x->fn ? (double)x->tp / (x->tp + x->fn) : 1.0;
            printf("  %s %-7s precision %.3f recall %.3f (tp %u, fp %u, fn %u)\n", de ? "de" : "en",
                   lead_slot_name(corpus_slot[k]), p, r, x->tp, x->fp, x->fn);
            cr_expect_geq(p, floor, "%s %s precision %.3f", de ? "de" : "en", lead_slot_name(corpus_slot[k]), p);
            cr_expect_geq(r, floor, "%s %s recall %.3f", de ? "de" : "en", lead_slot_name(corpus_slot[k]), r);
        }
    }
    fflush(stdout);
}

/* The corpus the rules were written against (in-sample). */
Test(lead_corpus, precision_and_recall_per_slot)
{
    corpus_measure("phrasings.tsv", LEAD_FLOOR, 40);
}

/* Phrasings written afterwards by someone else, never tuned for: the
 * honest figure. Its floor only guards against a collapse. */
Test(lead_corpus, held_out_precision_and_recall)
{
    corpus_measure("heldout.tsv", LEAD_HELDOUT_FLOOR, 15);
}

/* ------------------------------------------------------------ offline turns */

Test(lead_corpus, offline_asks_the_next_slot_after_the_answer)
{
    char err[256];
    cr_assert_eq(lead_conf_init(NULL, "DE", err, sizeof(err)), 0);
    Chat__Llm__GenerateRequest rq = CHAT__LLM__GENERATE_REQUEST__INIT;
    Chat__Common__LeadState old = CHAT__COMMON__LEAD_STATE__INIT;
    rq.user_message = "Hallo, mein Name ist Anna Schmidt.";
    offl_answer a;
    cr_assert_eq(offl_build(&rq, "Quorvia", &a), 0);
    cr_expect(strstr(a.text, "Anna") != NULL && strstr(a.text, "E-Mail-Adresse") != NULL, "%s", a.text);
    cr_expect_eq(a.ntools, 1);
    cr_expect(strstr(a.tools[0].input_json, "\"name\":\"Anna Schmidt\"") != NULL, "%s", a.tools[0].input_json);
    offl_answer_free(&a);

    old.name = "Anna Schmidt";
    rq.lead = &old;
    rq.user_message = "Meine E-Mail ist anna@beispiel.de";
    cr_assert_eq(offl_build(&rq, "Quorvia", &a), 0);
    cr_expect(strstr(a.text, "Telefonnummer") != NULL, "the next slot, phone: %s", a.text);
    cr_expect(strstr(a.text, "E-Mail-Adresse erreichen") == NULL, "not the email again: %s", a.text);
    cr_expect(strstr(a.tools[0].input_json, "company") == NULL, "a guessed company is the gateway's: %s",
              a.tools[0].input_json);
    offl_answer_free(&a);

    old.email = "anna@beispiel.de";
    rq.user_message = "Korrektur: meine E-Mail ist anna.schmidt@beispiel.de";
    cr_assert_eq(offl_build(&rq, "Quorvia", &a), 0);
    cr_expect(strstr(a.text, "aktualisiert") != NULL, "the correction is noted: %s", a.text);
    cr_expect(strstr(a.tools[0].input_json, "anna.schmidt@beispiel.de") != NULL, "%s", a.tools[0].input_json);
    offl_answer_free(&a);

    rq.lead = NULL;
    rq.user_message = "I'm Tom from Initech, my email is tom@initech.example, phone 0151 2345678";
    cr_assert_eq(offl_build(&rq, "Quorvia", &a), 0);
    cr_expect(strstr(a.text, "Thank you, Tom!") != NULL, "%s", a.text);
    cr_expect(strstr(a.text, "What are you looking for") != NULL, "need is next: %s", a.text);
    cr_expect(strstr(a.tools[0].input_json, "\"phone\":\"+491512345678\"") != NULL, "%s", a.tools[0].input_json);
    offl_answer_free(&a);

    cr_assert_eq(lead_conf_init("email", "DE", err, sizeof(err)), 0);
    rq.user_message = "I'm Tom from Initech, my email is tom@initech.example";
    cr_assert_eq(offl_build(&rq, "Quorvia", &a), 0);
    cr_expect(strstr(a.tools[0].input_json, "name") == NULL, "only configured slots: %s", a.tools[0].input_json);
    cr_expect(strstr(a.text, "?") == NULL, "nothing left to ask: %s", a.text);
    offl_answer_free(&a);
    cr_assert_eq(lead_conf_init(NULL, NULL, err, sizeof(err)), 0);
}

Test(lead_corpus, german_handoff_phrasings)
{
    static const struct {
        const char *msg, *reason_has;
    } c[] = {
        {"Kann ich mit jemandem sprechen?", "person"},
        {"Ich m\xC3\xB6"
         "chte mit einem Menschen reden, bitte mit einem Menschen",
         "person"},
        {"Bitte verbinden Sie mich mit dem Vertrieb", "sales"},
        {"Ich h\xC3\xA4tte gern einen R\xC3\xBC"
         "ckruf",
         "call"},
        {"Ruf mich an, bitte", "call"},
        {"K\xC3\xB6nnen wir einen Termin vereinbaren?", "meeting"},
        {"Kann ich ein Angebot bekommen?", "quote"},
        {"Gibt es eine Demo?", "demo"},
    };
    for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
        char reason[96];
        int urgent = 0;
        cr_expect(offl_wants_handoff(c[i].msg, reason, sizeof(reason), &urgent), "%s", c[i].msg);
        cr_expect(strstr(reason, c[i].reason_has) != NULL, "%s: %s", c[i].msg, reason);
    }
    char reason[96];
    int urgent = 0;
    cr_expect_not(offl_wants_handoff("Was umfasst Ihr Angebot im Growth-Tarif?", reason, sizeof(reason), &urgent));
    offl_wants_handoff("Bitte dringend einen R\xC3\xBC"
                       "ckruf",
                       reason, sizeof(reason), &urgent);
    cr_expect(urgent);
    Chat__Llm__GenerateRequest rq = CHAT__LLM__GENERATE_REQUEST__INIT;
    rq.user_message = "Kann ich bitte mit jemandem vom Vertrieb sprechen?";
    rq.business_hours_open = 1;
    offl_answer a;
    cr_assert_eq(offl_build(&rq, "Quorvia", &a), 0);
    cr_expect(strstr(a.text, "Vertrieb") != NULL && strstr(a.text, "E-Mail-Adresse") != NULL, "%s", a.text);
    offl_answer_free(&a);
}
