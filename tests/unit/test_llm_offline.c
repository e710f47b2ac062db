/*
 * test_llm_offline.c - unit tests for svc-llm/offline.c, the offline
 * provider's answer builder and lead rules (Criterion).
 */
#include <criterion/criterion.h>

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "lead_slots.h"
#include "offline.h"

/* ------------------------------------------------------------ fixtures */

#define NSRC_MAX 4

typedef struct fixture {
    Chat__Llm__GenerateRequest rq;
    Chat__Common__Source src[NSRC_MAX];
    Chat__Common__Source *srcp[NSRC_MAX];
} fixture;

static void fx_init(fixture *f, const char *question)
{
    memset(f, 0, sizeof(*f));
    chat__llm__generate_request__init(&f->rq);
    f->rq.user_message = (char *)question;
    f->rq.sources = f->srcp;
}

static void fx_source(fixture *f, const char *title, const char *heading, const char *text)
{
    size_t i = f->rq.n_sources++;
    chat__common__source__init(&f->src[i]);
    f->src[i].title = (char *)title;
    f->src[i].url = "https://example.test/page";
    f->src[i].heading_path = (char *)heading;
    f->src[i].text = (char *)text;
    f->srcp[i] = &f->src[i];
}

static const char PRICING[] =
    "Growth\n"
    "Our most popular plan, for companies that run on data. Growth costs \xE2\x82\xAC"
    "299 per month billed monthly, "
    "or \xE2\x82\xAC"
    "249 per month billed annually, and includes 20 seats. Growth is also the plan you get during "
    "the 14-day free trial.";
static const char SSO[] = "Single sign-on with SAML 2.0 is available on the Enterprise plan. Okta and Google "
                          "Workspace are supported out of the box.";
static const char RESIDENCY[] = "All customer data is stored in the EU, in Frankfurt, Germany. Backups are kept in a "
                                "second EU region.";

static offl_answer build(fixture *f)
{
    offl_answer a;
    cr_assert_eq(offl_build(&f->rq, "Quorvia", &a), 0);
    cr_assert_not_null(a.text);
    return a;
}

/* ------------------------------------------------------------ answers */

Test(offline, cites_the_right_source_with_verbatim_sentence)
{
    fixture f;
    fx_init(&f, "How much does the Growth plan cost?");
    fx_source(&f, "Single sign-on", "Security > SSO", SSO);
    fx_source(&f, "Plans and pricing", "Pricing > Growth", PRICING);
    fx_source(&f, "Data residency", "Security", RESIDENCY);
    offl_answer a = build(&f);
    cr_assert(strstr(a.text, "Growth costs \xE2\x82\xAC"
                             "299 per month billed monthly, or \xE2\x82\xAC"
                             "249 per month billed annually, and includes 20 seats [2].") != NULL,
              "got: %s", a.text);
    cr_assert_null(strstr(a.text, "[1]"), "got: %s", a.text);
    cr_assert_null(strstr(a.text, "[3]"), "got: %s", a.text);
    cr_assert_null(strstr(a.text, "don't have"));
    cr_assert_geq(a.sentences, 1);
    cr_assert_leq(a.sentences, 4);
    cr_assert_eq(a.ntools, 0);
    cr_assert_gt(a.input_chars, strlen(PRICING));
    offl_answer_free(&a);
}

Test(offline, best_source_first_reading_order_inside_and_no_duplicates)
{
    fixture f;
    fx_init(&f, "Where is customer data stored and where are backups kept?");
    fx_source(&f, "Plans and pricing", "Pricing", PRICING);
    fx_source(&f, "Data residency", "Security > Residency", RESIDENCY);
    fx_source(&f, "Data residency (overlap)", "Security > Residency", RESIDENCY); /* overlapping chunk */
    offl_answer a = build(&f);
    const char *s1 = strstr(a.text, "All customer data is stored in the EU");
    const char *s2 = strstr(a.text, "Backups are kept in a second EU region");
    cr_assert(s1 != NULL && s2 != NULL && s1 < s2, "got: %s", a.text);
    cr_assert_null(strstr(s2 + 1, "Backups are kept"), "duplicate sentence in: %s", a.text);
    cr_assert_null(strstr(s1 + 1, "All customer data is stored"), "duplicate sentence in: %s", a.text);
    cr_assert(strstr(a.text, "Germany [2]. Backups") != NULL && strstr(a.text, "region [2].") != NULL,
              "every sentence cited: %s", a.text);
    offl_answer_free(&a);
}

static const char FAQ[] =
    "## Plans and billing\n"
    "### Can I pay by invoice?\n"
    "Yes, on annual plans and on Enterprise. Monthly plans are paid by card or SEPA Direct Debit.\n"
    "### Can discounts be combined?\n"
    "No. Only one discount programme can apply to a workspace at a time.\n";

Test(offline, faq_answer_under_its_question_heading)
{
    fixture f;
    fx_init(&f, "Can I pay by invoice?");
    fx_source(&f, "FAQ", "", FAQ);
    offl_answer a = build(&f);
    cr_assert(strncmp(a.text, "Yes, on annual plans and on Enterprise [1].", 43) == 0,
              "the answer right under the matching question comes first: %s", a.text);
    offl_answer_free(&a);
}

Test(offline, leading_yes_no_kept_only_for_the_same_question)
{
    fixture f;
    fx_init(&f, "Can discounts be combined?");
    fx_source(&f, "FAQ", "", FAQ);
    offl_answer a = build(&f);
    cr_assert(strstr(a.text, "No. Only one discount programme") != NULL, "%s", a.text);
    offl_answer_free(&a);
    fx_init(&f, "How does a discount programme apply to a workspace?");
    fx_source(&f, "FAQ", "", FAQ);
    a = build(&f);
    cr_assert(strstr(a.text, "Only one discount programme") != NULL, "%s", a.text);
    cr_assert_null(strstr(a.text, "No. Only"), "a bare \"No.\" would answer another question: %s", a.text);
    offl_answer_free(&a);
}

Test(offline, no_sources_means_no_information_and_team_offer)
{
    fixture f;
    fx_init(&f, "Do you support on-premise deployments?");
    f.rq.business_hours_open = 1;
    offl_answer a = build(&f);
    cr_assert(strstr(a.text, "I don't have that information in our documentation") != NULL, "%s", a.text);
    cr_assert(strstr(a.text, "connect you with our team") != NULL, "%s", a.text);
    cr_assert_eq(a.sentences, 0);
    offl_answer_free(&a);
}

Test(offline, irrelevant_sources_mean_no_information_with_hours_when_closed)
{
    fixture f;
    fx_init(&f, "What is the capital of France?");
    fx_source(&f, "Plans and pricing", "Pricing", PRICING);
    f.rq.business_hours_open = 0;
    f.rq.business_hours_text = "Mon-Fri 09:00-18:00 CET";
    offl_answer a = build(&f);
    cr_assert(strstr(a.text, "don't have that information") != NULL, "%s", a.text);
    cr_assert(strstr(a.text, "Mon-Fri 09:00-18:00 CET") != NULL, "%s", a.text);
    cr_assert_null(strstr(a.text, "[1]"));
    offl_answer_free(&a);
}

Test(offline, greeting_and_thanks)
{
    fixture f;
    fx_init(&f, "Hello there!");
    fx_source(&f, "Plans and pricing", "Pricing", PRICING);
    offl_answer a = build(&f);
    cr_assert(strstr(a.text, "Quorvia") != NULL && strstr(a.text, "don't have") == NULL, "%s", a.text);
    offl_answer_free(&a);
    fx_init(&f, "thanks a lot!");
    a = build(&f);
    cr_assert(strstr(a.text, "welcome") != NULL, "%s", a.text);
    offl_answer_free(&a);
}

Test(offline, lead_and_handoff_tool_calls)
{
    char err[256];
    cr_assert_eq(lead_conf_init("name,email,phone,company,need,team_size,timeline", "DE", err, sizeof(err)), 0);
    fixture f;
    fx_init(&f, "I'm Anna Schmidt from Acme GmbH, we are a team of 25. Please call me at +49 30 5557 2140 or "
                "write to anna.schmidt@acme.example, we want to start next month.");
    offl_answer a = build(&f);
    cr_assert_eq(a.ntools, 2, "%s", a.text);
    cr_assert_str_eq(a.tools[0].name, "record_lead");
    json_t *j = json_loads(a.tools[0].input_json, 0, NULL);
    cr_assert_not_null(j);
    cr_assert_str_eq(json_string_value(json_object_get(j, "email")), "anna.schmidt@acme.example");
    cr_assert_str_eq(json_string_value(json_object_get(j, "phone")), "+493055572140");
    cr_assert_str_eq(json_string_value(json_object_get(j, "name")), "Anna Schmidt");
    cr_assert_str_eq(json_string_value(json_object_get(j, "company")), "Acme GmbH");
    cr_assert_str_eq(json_string_value(json_object_get(j, "team_size")), "25");
    cr_assert_str_eq(json_string_value(json_object_get(j, "timeline")), "next month");
    cr_assert(json_is_true(json_object_get(j, "consent")), "asked to be called");
    json_decref(j);
    cr_assert_str_eq(a.tools[1].name, "request_handoff");
    j = json_loads(a.tools[1].input_json, 0, NULL);
    cr_assert(strstr(json_string_value(json_object_get(j, "reason")), "call") != NULL);
    cr_assert_str_eq(json_string_value(json_object_get(j, "urgency")), "normal");
    json_decref(j);
    cr_assert(strstr(a.text, "Thank you, Anna!") != NULL, "%s", a.text);
    offl_answer_free(&a);
}

Test(offline, handoff_without_contact_asks_for_it)
{
    fixture f;
    fx_init(&f, "I need to speak to a human urgently");
    offl_answer a = build(&f);
    cr_assert_eq(a.ntools, 1);
    cr_assert_str_eq(a.tools[0].name, "request_handoff");
    cr_assert(strstr(a.tools[0].input_json, "\"urgency\":\"high\"") != NULL, "%s", a.tools[0].input_json);
    cr_assert(strstr(a.text, "email address") != NULL, "%s", a.text);
    offl_answer_free(&a);
}

Test(offline, tokens_rebuild_the_text)
{
    const char *t = "Growth costs \xE2\x82\xAC"
                    "299 [1].\n\nIs there anything else?";
    char out[128] = "";
    size_t n, words = 0;
    for (const char *p = t; (n = offl_next_token(p)) > 0; p += n) {
        strncat(out, p, n);
        words++;
    }
    cr_assert_str_eq(out, t);
    cr_assert_gt(words, 8);
    cr_assert_eq(offl_next_token(""), 0);
}

/* ------------------------------------------------------------ pieces */

typedef struct split_case {
    const char *name, *text;
    size_t n;
    const char *first, *last;
} split_case;

Test(offline, sentence_splitting)
{
    static const split_case cases[] = {
        {"two sentences",
         "It costs \xE2\x82\xAC"
         "2.50 per seat. That is cheap!",
         2,
         "It costs \xE2\x82\xAC"
         "2.50 per seat.",
         "That is cheap!"},
        {"abbreviation e.g. keeps one sentence", "Use a tool, e.g. Segment. Then go.", 2, "Use a tool, e.g. Segment.",
         "Then go."},
        {"domain names are not ends", "Write to sales@quorvia.example. We reply fast.", 2,
         "Write to sales@quorvia.example.", "We reply fast."},
        {"lower case after a dot is not an end", "Version 2. is fine. Yes.", 2, "Version 2. is fine.", "Yes."},
        {"list marker stripped", "- Registered charities qualify.\n- Foundations too.", 2,
         "Registered charities qualify.", "Foundations too."},
        {"numbered list", "1. Sign up.\n2. Install the snippet.", 2, "Sign up.", "Install the snippet."},
        {"quote after the stop stays", "He said \"yes.\" Then left.", 2, "He said \"yes.\"", "Then left."},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const split_case *c = &cases[i];
        offl_span sp[16];
        size_t n = offl_split(c->text, sp, 16);
        cr_assert_eq(n, c->n, "%s: %zu spans", c->name, n);
        char a[256], b[256];
        snprintf(a, sizeof(a), "%.*s", (int)sp[0].len, c->text + sp[0].off);
        snprintf(b, sizeof(b), "%.*s", (int)sp[n - 1].len, c->text + sp[n - 1].off);
        cr_assert_str_eq(a, c->first, "%s", c->name);
        cr_assert_str_eq(b, c->last, "%s", c->name);
    }
}

Test(offline, headings_faq_questions_and_tables)
{
    const char *t = "## Pricing\nWhat counts as an event?\nEvery action is one event.\n"
                    "Price | \xE2\x82\xAC"
                    "0 | \xE2\x82\xAC"
                    "49\nShort heading line\nLast line";
    offl_span sp[16];
    size_t n = offl_split(t, sp, 16);
    cr_assert_eq(n, 6);
    cr_assert(sp[0].heading, "markdown heading");
    cr_assert_eq(strncmp(t + sp[0].off, "Pricing", sp[0].len), 0);
    cr_assert(sp[1].heading, "an FAQ question alone on its line");
    cr_assert_not(sp[2].heading);
    cr_assert(sp[3].table);
    cr_assert(sp[4].heading, "a short line without a stop before more text");
    cr_assert_not(sp[5].heading, "the last line is text");
}

Test(offline, stemming)
{
    static const char *const same[][2] = {
        {"price", "pricing"},  {"costs", "price"},         {"plans", "plan"},
        {"planning", "plan"},  {"companies", "company"},   {"integrations", "integrate"},
        {"billed", "billing"}, {"cancellation", "cancel"}, {"Users", "user"},
    };
    for (size_t i = 0; i < sizeof(same) / sizeof(same[0]); i++) {
        char a[32], b[32];
        offl_stem(same[i][0], strlen(same[i][0]), a, sizeof(a));
        offl_stem(same[i][1], strlen(same[i][1]), b, sizeof(b));
        cr_assert_str_eq(a, b, "%s vs %s", same[i][0], same[i][1]);
    }
    char a[32], b[32];
    offl_stem("status", 6, a, sizeof(a));
    offl_stem("statue", 6, b, sizeof(b));
    cr_assert_str_neq(a, "statu", "-us words keep their s");
}

typedef struct find_case {
    const char *msg;
    const char *want; /* NULL = not found */
} find_case;

static void check_finds(int (*fn)(const char *, char *, size_t), const find_case *cases, size_t n, const char *what)
{
    for (size_t i = 0; i < n; i++) {
        char out[128];
        int got = fn(cases[i].msg, out, sizeof(out));
        if (cases[i].want == NULL) {
            cr_assert_not(got, "%s: found \"%s\" in \"%s\"", what, out, cases[i].msg);
        } else {
            cr_assert(got, "%s: nothing in \"%s\"", what, cases[i].msg);
            cr_assert_str_eq(out, cases[i].want, "%s in \"%s\"", what, cases[i].msg);
        }
    }
}

Test(offline, email_rule)
{
    static const find_case c[] = {
        {"mail me at jane.doe+crm@mail.acme-corp.example.", "jane.doe+crm@mail.acme-corp.example"},
        {"Email: a@b.io", "a@b.io"},
        {"(bob@x.org)", "bob@x.org"},
        {"reach us @ the office", NULL},
        {"user@localhost is not an address", NULL},
        {"numbers@1.2.3.4", NULL},
        {"no address here", NULL},
    };
    check_finds(offl_find_email, c, sizeof(c) / sizeof(c[0]), "email");
}

Test(offline, phone_rule)
{
    static const find_case c[] = {
        {"call +49 30 5557 2140 today", "+49 30 5557 2140"},
        {"my number is (030) 555-1234.", "(030) 555-1234"},
        {"mobile 017612345678", "017612345678"},
        {"+1-202-555-0143", "+1-202-555-0143"},
        {"we send 1000000 events a month", NULL},
        {"since 2024-05-01", NULL},
        {"it costs \xE2\x82\xAC"
         "2999999",
         NULL},
        {"team of 25 people", NULL},
        {"ref 12345", NULL},
    };
    check_finds(offl_find_phone, c, sizeof(c) / sizeof(c[0]), "phone");
}

Test(offline, name_and_company_rules)
{
    static const find_case names[] = {
        {"Hi, my name is Jane Doe and I run sales.", "Jane Doe"},
        {"I'm Anna from Acme", "Anna"},
        {"I am interested in the Growth plan", NULL},
        {"my name is lukas", "lukas"},
        {"This is Max M\xC3\xBCller from Beispiel AG", "Max M\xC3\xBCller"},
    };
    check_finds(offl_find_name, names, sizeof(names) / sizeof(names[0]), "name");
    static const find_case companies[] = {
        {"I'm Anna from Acme Corp, hello", "Acme Corp"},
        {"I work at Globex.", "Globex"},
        {"This is Max from 3D Systems & Co", "3D Systems & Co"},
        {"I am from the sales team", NULL},
        {"what do you offer?", NULL},
    };
    check_finds(offl_find_company, companies, sizeof(companies) / sizeof(companies[0]), "company");
}

Test(offline, handoff_rule)
{
    static const struct {
        const char *msg;
        int want;
        const char *reason_has;
    } c[] = {
        {"Can I talk to a human?", 1, "person"},
        {"I'd like to book a demo", 1, "demo"},
        {"please have someone from sales contact me", 1, "sales"},
        {"Could you call me back tomorrow?", 1, "call"},
        {"Does it integrate with Salesforce?", 0, NULL},
        {"How much does the Growth plan cost?", 0, NULL},
        {"Is there a person limit per seat?", 0, NULL},
    };
    for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
        char reason[96];
        int urgent = 0;
        int got = offl_wants_handoff(c[i].msg, reason, sizeof(reason), &urgent);
        cr_assert_eq(got, c[i].want, "\"%s\": %d (%s)", c[i].msg, got, reason);
        if (got) {
            cr_assert(strstr(reason, c[i].reason_has) != NULL, "\"%s\": reason %s", c[i].msg, reason);
        }
    }
    char reason[96];
    int urgent = 0;
    offl_wants_handoff("I need a demo ASAP", reason, sizeof(reason), &urgent);
    cr_assert(urgent);
}
