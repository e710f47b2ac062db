/* offline.h: the offline provider's answer builder (svc-llm): no network,
 * no model. It answers from the retrieved sources by extraction and
 * captures leads by rules.
 *
 * The answer: the sources' text is split into sentences (lines, then
 * sentence ends; headings, FAQ questions and list markers recognised), each
 * sentence is scored against the question (content words with light
 * stemming and a few synonyms, weighted by how rare they are among the
 * sentences; words of an FAQ question right above the sentence count almost
 * as if in it, words of other headings, the source title or heading path
 * half; very short or long sentences, pointers ("See ...") and
 * lower-ranked sources count less), and the best 2 to 4 are kept verbatim
 * (a leading "Yes."/"No." only when the visitor asked that FAQ's
 * question), without near-duplicates (chunks overlap), grouped by source
 * (best source first, reading order inside one), each with the citation
 * marker [n] of its source, and an offer of further help. When nothing relevant was retrieved the answer says so ("I
 * don't have that information in our documentation") and offers the team, mentioning business hours when it is closed.
 * Greetings and thanks get a short reply.
 *
 * Leads: a name, email address, phone number or company in the visitor's
 * message (English or German phrasings, signature blocks) gives a
 * record_lead tool call with the configured slots (LEAD_SLOTS) it found,
 * checked and normalised by lib/lead_slots.c; asking for a human, sales, a
 * call, a quote, an appointment or a demo gives request_handoff. An answer
 * that involves a lead thanks (or notes a correction) first, answers the
 * question, and ends with one question for the next missing slot, in the
 * visitor's language (English or German); an answer without a lead is as
 * before.
 *
 * Owns: an offl_answer owns its text and its tools' input JSON, until
 * offl_answer_free. Thread-safe: no state. */
#ifndef LLM_OFFLINE_H
#define LLM_OFFLINE_H

#include <stddef.h>

#include "dynbuf.h"
#include "lead_slots.h"
#include "llm.pb-c.h"

#define OFFL_MODEL "extractive-v1"
#define OFFL_FIELD_MAX 128 /* one captured lead field */

typedef struct offl_tool {
    const char *name; /* "record_lead" or "request_handoff" (static) */
    char *input_json; /* compact JSON object, malloc'd */
} offl_tool;

typedef struct offl_answer {
    char *text; /* malloc'd, UTF-8, never empty */
    offl_tool tools[2];
    size_t ntools;
    unsigned sentences;   /* source sentences used; 0 = nothing relevant */
    unsigned input_chars; /* what was read (question + sources), for usage */
} offl_answer;

/* Builds the answer to rq (its user_message, sources, lead state, business
 * hours). company is COMPANY_NAME. Returns 0, or -1 when out of memory. */
int offl_build(const Chat__Llm__GenerateRequest *rq, const char *company, offl_answer *out);
void offl_answer_free(offl_answer *a);

/* --- pieces, exposed for tests ------------------------------------------ */

/* A sentence found in a text: text[off, off+len). */
typedef struct offl_span {
    size_t off, len;
    int heading; /* a heading line, not a sentence */
    int table;   /* a table row ("a | b | c") */
} offl_span;

/* Splits text into sentences and heading lines, in order; returns how many
 * (at most max). List markers ("- ", "* ", "1. ", "#") are not part of a
 * span. */
size_t offl_split(const char *text, offl_span *out, size_t max);

/* The stem of one lower-case word (light suffix stripping and synonyms),
 * written to out (NUL-terminated); returns its length. */
size_t offl_stem(const char *word, size_t len, char *out, size_t outlen);

/* Lead fields found in a visitor's message; each returns 1 and fills out
 * (cut to outlen) when found, else 0 and out "". */
int offl_find_email(const char *msg, char *out, size_t outlen);
int offl_find_phone(const char *msg, char *out, size_t outlen);
int offl_find_name(const char *msg, char *out, size_t outlen);
int offl_find_company(const char *msg, char *out, size_t outlen);
/* A lead read from one message: values by slot, all slots (the caller
 * keeps the configured ones). */
typedef struct offl_lead {
    char v[LEAD_NSLOTS][OFFL_FIELD_MAX * 2];
    unsigned found;      /* bits (1u << lead_slot) with a value */
    int phone_raw;       /* the phone could not be normalised: as typed */
    int company_guessed; /* v[LEAD_SLOT_COMPANY] is the email domain's */
    int consent;         /* they asked to be contacted */
    int correction;      /* the message corrects an earlier value */
} offl_lead;

/* Reads msg: every finder, then the email checked (a bad one dropped), the
 * phone in E.164 (LEAD_DEFAULT_COUNTRY for national numbers; as typed with
 * phone_raw when it cannot be read), a company guessed from a business
 * email domain when none is named. With a correction ("actually",
 * "Korrektur", "sondern") the last address or number wins. Returns found. */
unsigned offl_extract_lead(const char *msg, offl_lead *l);
/* 1 when l has a configured contact slot (name, email, phone, a company
 * that was named). */
int offl_lead_contact(const offl_lead *l);
/* record_lead's input: the configured slots l has (not a guessed company)
 * and consent; malloc'd JSON, NULL when out of memory. */
char *offl_lead_json(const offl_lead *l);
/* 1 when msg reads as German (more German than English function words;
 * a tie goes to a "de" locale). */
int offl_german(const char *msg, const char *locale);
/* The sentences of a lead answer, appended to b: thanks (or "updated your
 * email address" when old had another value), the hand-off, and one
 * question for the first configured slot neither l nor old has (returns 1
 * when it asked). */
void offl_say_thanks(dynbuf *b, const offl_lead *l, const Chat__Common__LeadState *old, int de);
void offl_say_handoff(dynbuf *b, const char *reason, int de);
int offl_ask_next(dynbuf *b, const offl_lead *l, const Chat__Common__LeadState *old, int de);

/* Whether the visitor asks for a person, sales, a call or a demo; reason
 * says which, *urgent when they say it is urgent. */
int offl_wants_handoff(const char *msg, char *reason, size_t reasonlen, int *urgent);

/* The length of the next token of s (a word or one other character, with
 * the whitespace before it), as a model would stream it; 0 at the end. */
size_t offl_next_token(const char *s);

#endif
