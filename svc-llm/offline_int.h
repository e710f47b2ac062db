/* offline_int.h: what the files of the offline provider share (svc-llm
 * only; the interface is offline.h). offline.c: words, stems, sentences;
 * offline_answer.c: scoring, composing, offl_build; offline_lead.c:
 * email, phone and text helpers; offline_names.c: name and company; offline_intent.c: needs, hand-off, small talk;
 * offline_collect.c: a lead from a message, and what to ask next. Owns nothing: functions on caller buffers, no state.
 */
#ifndef LLM_OFFLINE_INT_H
#define LLM_OFFLINE_INT_H

#include <stddef.h>
#include <stdint.h>

#define OFFL_TERMS_MAX 32 /* content words of a question we score with */
#define OFFL_STEM_MAX 32

/* The content words of a question, as stems. */
typedef struct offl_terms {
    char t[OFFL_TERMS_MAX][OFFL_STEM_MAX];
    size_t n;
} offl_terms;

/* --- offline.c: words and stems ---------------------------------------- */

int offl_word_byte(unsigned char c);
int offl_upper_start(const char *s);
size_t offl_lower(const char *s, size_t n, char *out, size_t outlen);
void offl_each_stem(const char *s, size_t len, void (*fn)(void *, const char *), void *arg);
void offl_add_term(void *arg, const char *stem);
uint32_t offl_mask(const offl_terms *q, const char *s, size_t len);
unsigned offl_count_words(const char *s, size_t n);

/* --- offline_lead.c: email, phone, text helpers ------------------------ */

void offl_copy(char *out, size_t outlen, const char *s, size_t n);
/* Case-insensitive search of a phrase that starts at a word boundary (and
 * ends at one when whole_word is set). */
const char *offl_find_phrase(const char *hay, const char *phrase, int whole_word);
/* The first (or with last, the last not taken back) address or number in
 * msg. */
int offl_find_email_at(const char *msg, int last, char *out, size_t outlen);
int offl_find_phone_at(const char *msg, int last, char *out, size_t outlen);

/* --- offline_names.c: names and companies ------------------------------- */

/* Up to max words at s, capitalised (the first may be lower case with
 * any_case; digits and & allowed with allow_digits), up to a connecting
 * word; the length taken. */
size_t offl_take_words(const char *s, int max, int any_case, int allow_digits);

/* --- offline_intent.c: needs, hand-off, small talk ---------------------- */

int offl_find_team_size(const char *msg, char *out, size_t outlen);
int offl_find_timeline(const char *msg, char *out, size_t outlen);
int offl_find_need(const char *msg, char *out, size_t outlen);
int offl_any_phrase(const char *msg, const char *const *phrases, size_t n);
int offl_small_talk(const char *msg);
int offl_blank(const char *s);

#endif
