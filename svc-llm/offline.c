/* offline.c: see offline.h. The words of the offline provider: tokens,
 * stems and stopwords, the content words of a question (offl_terms) and
 * sentence splitting. The answer (offline_answer.c) and the lead rules
 * (offline_lead.c) read text through these; offline_int.h is what the three
 * files share. */
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

/* ================================================================ text */

int offl_word_byte(unsigned char c)
{
    return isalnum(c) || c >= 0x80;
}

int offl_upper_start(const char *s)
{
    unsigned char c = (unsigned char)*s;
    return isupper(c) || c >= 0x80;
}

size_t offl_lower(const char *s, size_t n, char *out, size_t outlen)
{
    size_t k = n < outlen - 1 ? n : outlen - 1;
    for (size_t i = 0; i < k; i++) {
        out[i] = (char)tolower((unsigned char)s[i]);
    }
    out[k] = '\0';
    return k;
}

static int offl_ends(const char *w, size_t n, const char *suffix)
{
    size_t k = strlen(suffix);
    return n >= k && memcmp(w + n - k, suffix, k) == 0;
}

size_t offl_next_token(const char *s)
{
    size_t i = 0;
    while (s[i] != '\0' && isspace((unsigned char)s[i])) {
        i++;
    }
    if (s[i] == '\0') {
        return i;
    }
    if (offl_word_byte((unsigned char)s[i])) {
        while (s[i] != '\0' && offl_word_byte((unsigned char)s[i])) {
            i++;
        }
        return i;
    }
    return i + 1;
}

/* ============================================================== stemming */

static const struct {
    const char *word, *stem;
} offl_synonyms[] = {
    {"cost", "price"},           {"costs", "price"},
    {"costing", "price"},        {"prices", "price"},
    {"pricing", "price"},        {"priced", "price"},
    {"much", "price"},           {"fee", "price"},
    {"fees", "price"},           {"expensive", "price"},
    {"cheap", "price"},          {"cheaper", "price"},
    {"charge", "price"},         {"charges", "price"},
    {"cancellation", "cancel"},  {"cancelling", "cancel"},
    {"canceling", "cancel"},     {"cancelled", "cancel"},
    {"canceled", "cancel"},      {"terminate", "cancel"},
    {"termination", "cancel"},   {"dsgvo", "gdpr"},
    {"integrate", "integrat"},   {"integrates", "integrat"},
    {"integration", "integrat"}, {"integrations", "integrat"},
    {"integrating", "integrat"}, {"connector", "integrat"},
    {"connectors", "integrat"},  {"saml", "sso"},
    {"employees", "people"},     {"staff", "people"},
    {"persons", "people"},       {"users", "user"},
};

size_t offl_stem(const char *word, size_t len, char *out, size_t outlen)
{
    char w[OFFL_STEM_MAX];
    size_t n = offl_lower(word, len, w, sizeof(w));
    for (size_t i = 0; i < sizeof(offl_synonyms) / sizeof(offl_synonyms[0]); i++) {
        if (strcmp(w, offl_synonyms[i].word) == 0) {
            n = (size_t)snprintf(w, sizeof(w), "%s", offl_synonyms[i].stem);
            break;
        }
    }
    int ascii = 1;
    for (size_t i = 0; i < n; i++) {
        if ((unsigned char)w[i] >= 0x80 || isdigit((unsigned char)w[i])) {
            ascii = 0;
        }
    }
    if (ascii) {
        if (n > 4 && offl_ends(w, n, "ies")) {
            n -= 3;
            w[n++] = 'y';
        } else if (n > 4 && offl_ends(w, n, "sses")) {
            n -= 2;
        } else if (n > 3 && w[n - 1] == 's' && !offl_ends(w, n, "ss") && !offl_ends(w, n, "us") &&
                   !offl_ends(w, n, "is")) {
            n -= 1;
        }
        int cut = 0;
        if (n > 5 && offl_ends(w, n, "ing")) {
            n -= 3;
            cut = 1;
        } else if (n > 4 && offl_ends(w, n, "ed")) {
            n -= 2;
            cut = 1;
        } else if (n > 4 && offl_ends(w, n, "ly")) {
            n -= 2;
        }
        /* planning -> plann -> plan */
        if (cut && n > 3 && w[n - 1] == w[n - 2] && w[n - 1] != 'l' && w[n - 1] != 's') {
            n--;
        }
        if (n > 3 && w[n - 1] == 'e') {
            n--;
        }
    }
    w[n] = '\0';
    return (size_t)snprintf(out, outlen, "%s", w);
}

static const char *const offl_stopwords[] = {
    "a",      "about", "after", "again", "all",    "also",  "am",    "an",    "and",   "any",   "anything", "are",
    "as",     "at",    "be",    "been",  "before", "being", "but",   "by",    "can",   "could", "did",      "do",
    "does",   "doing", "done",  "for",   "from",   "get",   "got",   "had",   "has",   "have",  "having",   "he",
    "her",    "here",  "hi",    "hello", "hey",    "him",   "his",   "how",   "i",     "if",    "im",       "in",
    "into",   "is",    "it",    "its",   "just",   "know",  "let",   "like",  "me",    "might", "more",     "most",
    "my",     "no",    "not",   "of",    "on",     "one",   "only",  "or",    "other", "our",   "ours",     "out",
    "please", "s",     "shall", "she",   "should", "so",    "some",  "such",  "tell",  "than",  "thank",    "thanks",
    "that",   "the",   "their", "them",  "then",   "there", "these", "they",  "this",  "those", "to",       "too",
    "up",     "us",    "very",  "was",   "we",     "were",  "what",  "whats", "when",  "where", "which",    "who",
    "whom",   "why",   "will",  "with",  "would",  "yes",   "you",   "your",  "yours", "want",  "need",     "there",
    "way",    "ways",  "re",    "ve",    "ll",     "d",     "t",     "m",
};

static int offl_is_stopword(const char *lower)
{
    for (size_t i = 0; i < sizeof(offl_stopwords) / sizeof(offl_stopwords[0]); i++) {
        if (strcmp(lower, offl_stopwords[i]) == 0) {
            return 1;
        }
    }
    return 0;
}

static int offl_stems_match(const char *a, const char *b)
{
    if (strcmp(a, b) == 0) {
        return 1;
    }
    size_t la = strlen(a), lb = strlen(b);
    size_t m = la < lb ? la : lb;
    return m >= 5 && strncmp(a, b, m) == 0;
}

/* Calls fn for the stem of each content word of s[0..len). */
void offl_each_stem(const char *s, size_t len, void (*fn)(void *, const char *), void *arg)
{
    size_t i = 0;
    while (i < len) {
        while (i < len && !offl_word_byte((unsigned char)s[i])) {
            i++;
        }
        size_t j = i;
        while (j < len && offl_word_byte((unsigned char)s[j])) {
            j++;
        }
        if (j > i) {
            char low[OFFL_STEM_MAX], st[OFFL_STEM_MAX];
            offl_lower(s + i, j - i, low, sizeof(low));
            if (!offl_is_stopword(low) && (j - i >= 2 || isdigit((unsigned char)s[i]))) {
                offl_stem(s + i, j - i, st, sizeof(st));
                fn(arg, st);
            }
        }
        i = j;
    }
}

void offl_add_term(void *arg, const char *stem)
{
    offl_terms *q = arg;
    for (size_t i = 0; i < q->n; i++) {
        if (strcmp(q->t[i], stem) == 0) {
            return;
        }
    }
    if (q->n < OFFL_TERMS_MAX) {
        snprintf(q->t[q->n++], OFFL_STEM_MAX, "%s", stem);
    }
}

typedef struct offl_matcher {
    const offl_terms *q;
    uint32_t mask;
} offl_matcher;

static void offl_match_stem(void *arg, const char *stem)
{
    offl_matcher *m = arg;
    for (size_t i = 0; i < m->q->n; i++) {
        if (offl_stems_match(stem, m->q->t[i])) {
            m->mask |= 1u << i;
        }
    }
}

uint32_t offl_mask(const offl_terms *q, const char *s, size_t len)
{
    offl_matcher m = {.q = q};
    if (s != NULL) {
        offl_each_stem(s, len, offl_match_stem, &m);
    }
    return m.mask;
}

unsigned offl_count_words(const char *s, size_t n)
{
    unsigned w = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isspace((unsigned char)s[i]) && (i == 0 || isspace((unsigned char)s[i - 1]))) {
            w++;
        }
    }
    return w;
}

/* ============================================================= splitting */

static int offl_abbreviation(const char *text, size_t start, size_t dot)
{
    static const char *const abbr[] = {"e.g", "i.e", "vs", "approx", "incl", "excl", "no",  "nr",
                                       "mr",  "mrs", "ms", "dr",     "st",   "ca",   "z.b", "etc.,"};
    size_t b = dot;
    while (b > start && !isspace((unsigned char)text[b - 1]) && text[b - 1] != '(') {
        b--;
    }
    size_t n = dot - b;
    if (n == 1 && isalpha((unsigned char)text[b])) {
        return 1; /* an initial: "J. Smith" */
    }
    char low[16];
    if (n == 0 || n >= sizeof(low)) {
        return 0;
    }
    offl_lower(text + b, n, low, sizeof(low));
    for (size_t i = 0; i < sizeof(abbr) / sizeof(abbr[0]); i++) {
        if (strcmp(low, abbr[i]) == 0) {
            return 1;
        }
    }
    return 0;
}

static size_t offl_push(offl_span *out, size_t k, size_t max, const char *text, size_t off, size_t end, int heading,
                        int table)
{
    while (off < end && isspace((unsigned char)text[off])) {
        off++;
    }
    while (end > off && isspace((unsigned char)text[end - 1])) {
        end--;
    }
    if (end > off && k < max) {
        out[k] = (offl_span){.off = off, .len = end - off, .heading = heading, .table = table};
        k++;
    }
    return k;
}

/* Splits one line (no list marker) into sentences. */
static size_t offl_split_line(const char *text, size_t s, size_t e, offl_span *out, size_t k, size_t max)
{
    size_t start = s;
    for (size_t i = s; i < e; i++) {
        char c = text[i];
        if (c != '.' && c != '!' && c != '?') {
            continue;
        }
        size_t j = i + 1;
        while (j < e && (text[j] == ')' || text[j] == '"' || text[j] == '\'')) {
            j++;
        }
        if (j < e && !isspace((unsigned char)text[j])) {
            continue; /* "3.5", "example.com" */
        }
        size_t n = j;
        while (n < e && isspace((unsigned char)text[n])) {
            n++;
        }
        if (n < e) {
            unsigned char nc = (unsigned char)text[n];
            if (!(isupper(nc) || isdigit(nc) || nc >= 0x80 || nc == '"' || nc == '(' || nc == '\'')) {
                continue;
            }
        }
        if (c == '.' && offl_abbreviation(text, start, i)) {
            continue;
        }
        if (memchr(text + start, ' ', i - start) == NULL && n < e) {
            continue; /* "No." / "Yes!" stays with the sentence it answers for */
        }
        k = offl_push(out, k, max, text, start, j, 0, 0);
        start = n;
        i = n > 0 ? n - 1 : n;
    }
    return offl_push(out, k, max, text, start, e, 0, 0);
}

size_t offl_split(const char *text, offl_span *out, size_t max)
{
    size_t k = 0, len = strlen(text), pos = 0;
    while (pos < len && k < max) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t eol = nl ? (size_t)(nl - text) : len;
        size_t s = pos, e = eol;
        pos = eol + 1;
        while (s < e && isspace((unsigned char)text[s])) {
            s++;
        }
        while (e > s && isspace((unsigned char)text[e - 1])) {
            e--;
        }
        if (s == e) {
            continue;
        }
        int heading = 0;
        if (text[s] == '#') {
            while (s < e && text[s] == '#') {
                s++;
            }
            heading = 1;
        } else if ((text[s] == '-' || text[s] == '*' || text[s] == '+') && s + 1 < e && text[s + 1] == ' ') {
            s += 2;
        } else if (e - s > 3 && memcmp(text + s, "\xE2\x80\xA2", 3) == 0) {
            s += 3; /* "•" */
        } else if (isdigit((unsigned char)text[s])) {
            size_t d = s;
            while (d < e && isdigit((unsigned char)text[d])) {
                d++;
            }
            if (d + 1 < e && (text[d] == '.' || text[d] == ')') && text[d + 1] == ' ' && d - s <= 2) {
                s = d + 2;
            }
        }
        while (s < e && isspace((unsigned char)text[s])) {
            s++;
        }
        if (s == e) {
            continue;
        }
        size_t words = 0;
        int table = 0;
        for (size_t i = s; i < e; i++) {
            if ((i == s || isspace((unsigned char)text[i - 1])) && !isspace((unsigned char)text[i])) {
                words++;
            }
            if (text[i] == '|' && i > s && i + 1 < e && text[i - 1] == ' ' && text[i + 1] == ' ') {
                table = 1;
            }
        }
        char last = text[e - 1];
        if (heading || (!table && words <= 8 && last != '.' && last != '!' && last != ':' && last != ';' &&
                        last != ',' && last != ')' && last != '?' && pos < len)) {
            k = offl_push(out, k, max, text, s, e, 1, 0);
            continue;
        }
        if (table) {
            k = offl_push(out, k, max, text, s, e, 0, 1);
            continue;
        }
        size_t before = k;
        k = offl_split_line(text, s, e, out, k, max);
        /* An FAQ question alone on its line is a heading, not an answer. */
        if (k == before + 1 && last == '?') {
            out[before].heading = 1;
        }
    }
    return k;
}
