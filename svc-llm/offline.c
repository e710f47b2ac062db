/* offline.c: see offline.h.
 *
 * Why extraction and not generation: with no model, the only text we can
 * vouch for is the company's own. Sentences are quoted verbatim (only a
 * citation marker, and a full stop where a list item had none, are added),
 * so the offline answer can be incomplete but never wrong about the
 * company. */
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

#define OFFL_TERMS_MAX 32        /* content words of a question we score with */
#define OFFL_STEM_MAX 32
#define OFFL_SPANS_PER_SOURCE 512
#define OFFL_CANDS_MAX 4096
#define OFFL_PICK_MAX 4
#define OFFL_SENTENCE_MAX 1500   /* bytes: longer "sentences" are not quoted */
#define OFFL_ANSWER_MAX (64u << 10)
#define OFFL_RELEVANT_COVERAGE 0.3 /* share of the question's weight the best sentence must cover */
#define OFFL_STRONG_COVERAGE 0.5   /* ... to answer beside a lead or handoff */

/* ================================================================ text */

static int offl_word_byte(unsigned char c) { return isalnum(c) || c >= 0x80; }

static int offl_upper_start(const char *s)
{
    unsigned char c = (unsigned char)*s;
    return isupper(c) || c >= 0x80;
}

static size_t offl_lower(const char *s, size_t n, char *out, size_t outlen)
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
    {"cost", "price"},        {"costs", "price"},         {"costing", "price"},     {"prices", "price"},
    {"pricing", "price"},     {"priced", "price"},        {"much", "price"},        {"fee", "price"},
    {"fees", "price"},        {"expensive", "price"},     {"cheap", "price"},       {"cheaper", "price"},
    {"charge", "price"},      {"charges", "price"},       {"cancellation", "cancel"}, {"cancelling", "cancel"},
    {"canceling", "cancel"},  {"cancelled", "cancel"},    {"canceled", "cancel"},   {"terminate", "cancel"},
    {"termination", "cancel"}, {"dsgvo", "gdpr"},         {"integrate", "integrat"}, {"integrates", "integrat"},
    {"integration", "integrat"}, {"integrations", "integrat"}, {"integrating", "integrat"},
    {"connector", "integrat"}, {"connectors", "integrat"}, {"saml", "sso"},          {"employees", "people"},
    {"staff", "people"},      {"persons", "people"},     {"users", "user"},
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
    "a", "about", "after", "again", "all", "also", "am", "an", "and", "any", "anything", "are", "as", "at", "be",
    "been", "before", "being", "but", "by", "can", "could", "did", "do", "does", "doing", "done", "for", "from",
    "get", "got", "had", "has", "have", "having", "he", "her", "here", "hi", "hello", "hey", "him", "his", "how",
    "i", "if", "im", "in", "into", "is", "it", "its", "just", "know", "let", "like", "me", "might", "more", "most",
    "my", "no", "not", "of", "on", "one", "only", "or", "other", "our", "ours", "out", "please", "s", "shall", "she",
    "should", "so", "some", "such", "tell", "than", "thank", "thanks", "that", "the", "their", "them", "then",
    "there", "these", "they", "this", "those", "to", "too", "up", "us", "very", "was", "we", "were", "what",
    "whats", "when", "where", "which", "who", "whom", "why", "will", "with", "would", "yes", "you", "your",
    "yours", "want", "need", "there", "way", "ways", "re", "ve", "ll", "d", "t", "m",
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

typedef struct offl_terms {
    char t[OFFL_TERMS_MAX][OFFL_STEM_MAX];
    size_t n;
} offl_terms;

/* Calls fn for the stem of each content word of s[0..len). */
static void offl_each_stem(const char *s, size_t len, void (*fn)(void *, const char *), void *arg)
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

static void offl_add_term(void *arg, const char *stem)
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

static uint32_t offl_mask(const offl_terms *q, const char *s, size_t len)
{
    offl_matcher m = {.q = q};
    if (s != NULL) {
        offl_each_stem(s, len, offl_match_stem, &m);
    }
    return m.mask;
}

static unsigned offl_count_words(const char *s, size_t n)
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
    static const char *const abbr[] = {"e.g", "i.e", "vs", "approx", "incl", "excl", "no", "nr", "mr", "mrs",
                                       "ms",  "dr",  "st", "ca",     "z.b",  "etc.,"};
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

/* ============================================================== scoring */

typedef struct offl_cand {
    size_t src;
    size_t pos; /* order inside its source */
    const char *p;
    size_t n;
    int table;
    uint32_t mask;  /* question words in the sentence */
    uint32_t hmask; /* ... in the source's title or heading path */
    uint32_t lmask; /* ... in the heading line above it in the text */
    int lquestion;  /* that heading is a question (an FAQ entry) */
    unsigned since; /* sentences between that heading and this one */
    unsigned words;
    double cov;  /* share of the question's weight it covers */
    double lcov; /* ... that the heading above covers */
    double score;
} offl_cand;

typedef struct offl_pick {
    offl_cand *c[OFFL_PICK_MAX];
    size_t n;
    double best_cov;
} offl_pick;

static int offl_cmp_score(const void *a, const void *b)
{
    const offl_cand *x = *(offl_cand *const *)a, *y = *(offl_cand *const *)b;
    if (x->score != y->score) {
        return x->score < y->score ? 1 : -1;
    }
    if (x->src != y->src) {
        return x->src < y->src ? -1 : 1;
    }
    return x->pos < y->pos ? -1 : (x->pos > y->pos);
}

typedef struct offl_set {
    char s[64][OFFL_STEM_MAX];
    size_t n;
} offl_set;

static void offl_set_add(void *arg, const char *stem)
{
    offl_set *set = arg;
    for (size_t i = 0; i < set->n; i++) {
        if (strcmp(set->s[i], stem) == 0) {
            return;
        }
    }
    if (set->n < 64) {
        snprintf(set->s[set->n++], OFFL_STEM_MAX, "%s", stem);
    }
}

/* Chunks overlap, so the same sentence can come twice; near-copies too. */
static int offl_near_duplicate(const offl_cand *a, const offl_cand *b)
{
    if (a->n == b->n && memcmp(a->p, b->p, a->n) == 0) {
        return 1;
    }
    offl_set *sa = calloc(2, sizeof(offl_set));
    if (sa == NULL) {
        return 0;
    }
    offl_set *sb = sa + 1;
    offl_each_stem(a->p, a->n, offl_set_add, sa);
    offl_each_stem(b->p, b->n, offl_set_add, sb);
    size_t common = 0;
    for (size_t i = 0; i < sa->n; i++) {
        for (size_t j = 0; j < sb->n; j++) {
            if (strcmp(sa->s[i], sb->s[j]) == 0) {
                common++;
                break;
            }
        }
    }
    size_t uni = sa->n + sb->n - common;
    free(sa);
    return uni > 0 && (double)common / (double)uni >= 0.7;
}

/* Scores every sentence of the sources against the question and picks the
 * best ones. cands is caller-owned (OFFL_CANDS_MAX). */
static void offl_pick_sentences(const Chat__Llm__GenerateRequest *rq, const offl_terms *q, offl_cand *cands,
                                offl_pick *pick)
{
    memset(pick, 0, sizeof(*pick));
    if (q->n == 0 || rq->n_sources == 0) {
        return;
    }
    offl_span *spans = malloc(OFFL_SPANS_PER_SOURCE * sizeof(*spans));
    if (spans == NULL) {
        return;
    }
    size_t nc = 0;
    for (size_t s = 0; s < rq->n_sources && nc < OFFL_CANDS_MAX; s++) {
        const Chat__Common__Source *src = rq->sources[s];
        const char *text = src->text ? src->text : "";
        uint32_t smask = offl_mask(q, src->title, src->title ? strlen(src->title) : 0) |
                         offl_mask(q, src->heading_path, src->heading_path ? strlen(src->heading_path) : 0);
        uint32_t lmask = 0;
        int lquestion = 0;
        unsigned since = 0;
        size_t n = offl_split(text, spans, OFFL_SPANS_PER_SOURCE);
        for (size_t i = 0; i < n && nc < OFFL_CANDS_MAX; i++) {
            if (spans[i].len > OFFL_SENTENCE_MAX) {
                continue; /* not a sentence anyone wants quoted (and costly to score) */
            }
            if (spans[i].heading) {
                lmask = offl_mask(q, text + spans[i].off, spans[i].len);
                lquestion = text[spans[i].off + spans[i].len - 1] == '?';
                since = 0;
                continue;
            }
            offl_cand *c = &cands[nc++];
            memset(c, 0, sizeof(*c));
            c->src = s;
            c->pos = i;
            c->p = text + spans[i].off;
            c->n = spans[i].len;
            c->table = spans[i].table;
            c->mask = offl_mask(q, c->p, c->n); 
            c->words = offl_count_words(c->p, c->n);
            c->hmask = smask;
            c->lmask = lmask;
            c->lquestion = lquestion;
            c->since = since++;
        }
    }
    free(spans);
    if (nc == 0) {
        return;
    }

    /* Rarer words weigh more: idf over the sentences. */
    double idf[OFFL_TERMS_MAX], total = 0;
    for (size_t t = 0; t < q->n; t++) {
        size_t df = 0;
        for (size_t i = 0; i < nc; i++) {
            df += (cands[i].mask >> t) & 1u;
        }
        idf[t] = log(1.0 + (double)nc / (1.0 + (double)df));
        total += idf[t];
    }
    offl_cand **order = malloc(nc * sizeof(*order));
    if (order == NULL) {
        return;
    }
    for (size_t i = 0; i < nc; i++) {
        offl_cand *c = &cands[i];
        order[i] = c;
        if (c->mask == 0 && c->lmask == 0) {
            continue;
        }
        /* A word of the question in a question heading right above counts
         * almost as much as in the sentence (an FAQ answer often repeats
         * none of its question), less further down; other headings, the
         * title and the heading path count half. */
        static const double near[] = {1.0, 0.8, 0.6};
        double lw = c->lquestion && c->since < 3 ? near[c->since] : 0.5;
        double raw = 0, lraw = 0;
        for (size_t t = 0; t < q->n; t++) {
            if ((c->lmask >> t) & 1u) {
                lraw += idf[t];
            }
            if ((c->mask >> t) & 1u) {
                raw += idf[t];
            } else if ((c->lmask >> t) & 1u) {
                raw += lw * idf[t];
            } else if ((c->hmask >> t) & 1u) {
                raw += 0.5 * idf[t];
            }
        }
        c->cov = total > 0 ? raw / total : 0;
        c->lcov = total > 0 ? lraw / total : 0;
        if (c->mask == 0 && c->cov < 0.5) {
            continue; /* only the heading matches, and not well */
        }
        double f = 1.0;
        if (c->words < 4) {
            f = 0.4;
        } else if (c->words < 6) {
            f = 0.7;
        } else if (c->words > 45) {
            f = 0.75;
        }
        char last = c->p[c->n - 1];
        if (last == ':' || last == ',' || last == ';') {
            f *= 0.5;
        }
        if (c->table) {
            f *= 0.6;
        }
        if (c->n > 4 && (strncmp(c->p, "See ", 4) == 0 || strncmp(c->p, "Read more", 9) == 0)) {
            f *= 0.3; /* a pointer elsewhere, not an answer */
        }
        double prior = 1.0 - 0.02 * (double)(c->src < 10 ? c->src : 10);
        c->score = c->cov * f * prior;
    }
    qsort(order, nc, sizeof(*order), offl_cmp_score);
    double best = order[0]->score;
    if (best <= 0) {
        free(order);
        return;
    }
    pick->best_cov = order[0]->cov;
    for (size_t i = 0; i < nc && pick->n < OFFL_PICK_MAX; i++) {
        offl_cand *c = order[i];
        if (c->score <= 0 || c->score < 0.25 * best || (pick->n >= 2 && c->score < 0.6 * best)) {
            break;
        }
        int dup = 0;
        for (size_t j = 0; j < pick->n && !dup; j++) {
            dup = offl_near_duplicate(c, pick->c[j]);
        }
        if (!dup) {
            pick->c[pick->n++] = c;
        }
    }
    free(order);
}

/* ============================================================ composing */

static int offl_cmp_reading(const void *a, const void *b)
{
    const offl_cand *x = *(offl_cand *const *)a, *y = *(offl_cand *const *)b;
    return x->pos < y->pos ? -1 : (x->pos > y->pos);
}

/* Appends one sentence; with cite > 0 the marker goes before its final
 * punctuation ("... annually [1]."); without, a missing stop is added. */
static void offl_add_sentence(dynbuf *b, const offl_cand *c, size_t cite)
{
    offl_cand trimmed = *c;
    /* A leading "Yes." / "No." answers the heading's question: keep it
     * only when the visitor asked (nearly) that question. */
    const char *sp = memchr(c->p, ' ', c->n);
    if (sp != NULL && sp > c->p && strchr(".!?", sp[-1]) != NULL &&
        !(c->lquestion && c->since == 0 && c->lcov >= 0.75)) {
        size_t skip = (size_t)(sp - c->p) + 1;
        while (skip < c->n && c->p[skip] == ' ') {
            skip++;
        }
        trimmed.p += skip;
        trimmed.n -= skip;
    }
    c = &trimmed;
    size_t n = c->n;
    size_t end = n; /* where the closing punctuation run starts */
    while (end > 0 && (c->p[end - 1] == '.' || c->p[end - 1] == '!' || c->p[end - 1] == '?' ||
                       c->p[end - 1] == ')' || c->p[end - 1] == '"')) {
        end--;
    }
    int has_stop = end < n;
    if (!has_stop && (c->p[n - 1] == ':' || c->p[n - 1] == ';' || c->p[n - 1] == ',')) {
        n--;
        end = n;
    }
    if (cite == 0) {
        dyn_add(b, c->p, n);
        if (!has_stop) {
            dyn_addc(b, '.');
        }
        return;
    }
    if (has_stop && c->p[end] == ')') {
        end = n; /* "(see below.)": cite after the parenthesis */
        while (end > 0 && (c->p[end - 1] == '.' || c->p[end - 1] == '!' || c->p[end - 1] == '?')) {
            end--;
        }
    }
    dyn_add(b, c->p, end);
    dyn_printf(b, " [%zu]", cite);
    if (end < n) {
        dyn_add(b, c->p + end, n - end);
    } else {
        dyn_addc(b, '.');
    }
}

static void offl_compose(dynbuf *b, offl_pick *pick)
{
    /* Group by source, sources in the order of their best sentence (the
     * picks are in score order), reading order inside a source; every
     * sentence carries its source's marker. */
    int done[OFFL_PICK_MAX] = {0};
    for (size_t i = 0; i < pick->n; i++) {
        if (done[i]) {
            continue;
        }
        offl_cand *group[OFFL_PICK_MAX];
        size_t g = 0;
        for (size_t j = i; j < pick->n; j++) {
            if (!done[j] && pick->c[j]->src == pick->c[i]->src) {
                group[g++] = pick->c[j];
                done[j] = 1;
            }
        }
        qsort(group, g, sizeof(group[0]), offl_cmp_reading);
        for (size_t j = 0; j < g; j++) {
            if (b->len > 0) {
                dyn_addc(b, ' ');
            }
            offl_add_sentence(b, group[j], group[j]->src + 1);
        }
    }
}

/* ================================================================ leads */

static int offl_local_char(unsigned char c) { return isalnum(c) || strchr("._%+-", c) != NULL; }
static int offl_domain_char(unsigned char c) { return isalnum(c) || c == '.' || c == '-'; }

static void offl_copy(char *out, size_t outlen, const char *s, size_t n)
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

static int offl_name_char(unsigned char c) { return isalpha(c) || c >= 0x80 || c == '-' || c == '\''; }

/* Up to `max` words starting at s; the first must be capitalised unless
 * any_case, the others always. Stops at a connecting word. Returns the
 * length taken (0 if none). */
static size_t offl_take_words(const char *s, int max, int any_case, int allow_digits)
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
        if (!(any_case && w == 0) && !offl_upper_start(p) && !(allow_digits && (isdigit((unsigned char)*p) || *p == '&'))) {
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
    {"my name is ", 1}, {"my name's ", 1}, {"name: ", 1}, {"i'm ", 0}, {"i am ", 0}, {"this is ", 0},
    {"i\xE2\x80\x99m ", 0},
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
    static const char *const intros[] = {"i work at ", "i work for ", "working at ", "working for ", "our company is ",
                                         "my company is ", "company: ", "we are ", "i'm with ", "i am with "};
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

static int offl_find_team_size(const char *msg, char *out, size_t outlen)
{
    static const char *const units[] = {"people", "employees", "users", "seats", "staff", "persons", "engineers",
                                        "developers", "colleagues", "members", "person", "analysts"};
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

static int offl_find_timeline(const char *msg, char *out, size_t outlen)
{
    static const char *const phrases[] = {"as soon as possible", "asap", "right away", "immediately", "next week",
                                          "this week", "next month", "this month", "next quarter", "this quarter",
                                          "next year", "this year", "end of the year", "end of the month", "in q1",
                                          "in q2", "in q3", "in q4", "within a month", "within weeks"};
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
        for (const char *p = offl_find_phrase(msg, lead_in[i], 0); p != NULL; p = offl_find_phrase(p + 1, lead_in[i], 0)) {
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

static int offl_find_need(const char *msg, char *out, size_t outlen)
{
    static const char *const intros[] = {"looking for ", "interested in ", "we need ", "i need ", "we want to ",
                                         "i want to ", "would like to ", "i'd like to ", "we'd like to "};
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

static int offl_any_phrase(const char *msg, const char *const *phrases, size_t n)
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
    static const char *const sales[] = {"talk to sales", "speak to sales", "speak with sales", "talk with sales",
                                        "contact sales", "sales team", "sales rep", "salesperson", "someone from sales",
                                        "account executive", "a quote", "an offer"};
    static const char *const call[] = {"call me", "a call", "phone call", "call back", "callback", "ring me",
                                       "book a meeting", "schedule a meeting", "a meeting"};
    static const char *const human[] = {"human", "real person", "to a person", "with a person", "talk to someone",
                                        "speak to someone", "speak with someone", "talk with someone", "an agent",
                                        "a representative", "live agent", "contact me", "get in touch",
                                        "reach out to me", "talk to your", "speak to your", "speak with your"};
    static const char *const hurry[] = {"urgent", "urgently", "asap", "as soon as possible", "immediately",
                                        "right now", "right away", "today"};
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
static int offl_small_talk(const char *msg)
{
    static const char *const greet[] = {"hi", "hello", "hey", "hallo", "hiya", "howdy", "moin", "good", "morning",
                                        "afternoon", "evening", "there", "greetings", "servus", "yo", "guten", "tag"};
    static const char *const thank[] = {"thanks", "thank", "you", "thx", "ty", "much", "great", "ok", "okay", "cool",
                                        "perfect", "awesome", "bye", "goodbye", "cheers", "danke", "a", "lot",
                                        "so", "very", "that", "helps", "helpful", "was"};
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

static int offl_blank(const char *s)
{
    for (; s != NULL && *s; s++) {
        if (!isspace((unsigned char)*s)) {
            return 0;
        }
    }
    return 1;
}

/* ================================================================ build */

typedef struct offl_lead {
    char email[OFFL_FIELD_MAX], phone[OFFL_FIELD_MAX], name[OFFL_FIELD_MAX], company[OFFL_FIELD_MAX];
    char team_size[OFFL_FIELD_MAX], timeline[OFFL_FIELD_MAX], need[OFFL_FIELD_MAX * 2];
    int consent;
} offl_lead;

static char *offl_lead_json(const offl_lead *l)
{
    json_t *o = json_object();
    const struct {
        const char *k, *v;
    } f[] = {{"name", l->name},           {"email", l->email},       {"phone", l->phone}, {"company", l->company},
             {"need", l->need},           {"team_size", l->team_size}, {"timeline", l->timeline}};
    for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
        if (f[i].v[0]) {
            json_object_set_new(o, f[i].k, json_string(f[i].v));
        }
    }
    json_object_set_new(o, "consent", json_boolean(l->consent));
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return s;
}

static void offl_hours(dynbuf *b, const Chat__Llm__GenerateRequest *rq, const char *when_open, const char *when_closed)
{
    const char *h = rq->business_hours_text && rq->business_hours_text[0] ? rq->business_hours_text : NULL;
    if (rq->business_hours_open) {
        dyn_adds(b, when_open);
    } else {
        dyn_adds(b, " Our team is not available right now");
        if (h != NULL) {
            dyn_printf(b, " (business hours: %s)", h);
        }
        dyn_adds(b, when_closed);
    }
}

int offl_build(const Chat__Llm__GenerateRequest *rq, const char *company, offl_answer *out)
{
    memset(out, 0, sizeof(*out));
    const char *msg = rq->user_message ? rq->user_message : "";
    const char *co = company && company[0] ? company : "our company";
    dynbuf b;
    dyn_init(&b, OFFL_ANSWER_MAX);

    unsigned chars = (unsigned)strlen(msg);
    for (size_t i = 0; i < rq->n_sources; i++) {
        chars += rq->sources[i]->text ? (unsigned)strlen(rq->sources[i]->text) : 0;
    }
    out->input_chars = chars;

    /* Leads and handoff, by rules. */
    offl_lead *lead = calloc(1, sizeof(*lead));
    offl_terms *q = calloc(1, sizeof(*q));
    offl_cand *cands = malloc(OFFL_CANDS_MAX * sizeof(*cands));
    if (lead == NULL || q == NULL || cands == NULL) {
        free(lead);
        free(q);
        free(cands);
        return -1;
    }
    int has_email = offl_find_email(msg, lead->email, sizeof(lead->email));
    int has_phone = offl_find_phone(msg, lead->phone, sizeof(lead->phone));
    char reason[96];
    int urgent = 0;
    int handoff = offl_wants_handoff(msg, reason, sizeof(reason), &urgent);
    int is_lead = has_email || has_phone;
    if (is_lead) {
        static const char *const ok[] = {"contact me", "reach me", "call me", "email me", "get in touch",
                                         "reach out", "get back to me", "send me", "you can contact"};
        offl_find_name(msg, lead->name, sizeof(lead->name));
        offl_find_company(msg, lead->company, sizeof(lead->company));
        offl_find_team_size(msg, lead->team_size, sizeof(lead->team_size));
        offl_find_timeline(msg, lead->timeline, sizeof(lead->timeline));
        offl_find_need(msg, lead->need, sizeof(lead->need));
        lead->consent = handoff || offl_any_phrase(msg, ok, sizeof(ok) / sizeof(ok[0]));
        out->tools[out->ntools].name = "record_lead";
        out->tools[out->ntools].input_json = offl_lead_json(lead);
        out->ntools += out->tools[out->ntools].input_json != NULL;
    }
    if (handoff) {
        json_t *o = json_pack("{s:s, s:s}", "reason", reason, "urgency", urgent ? "high" : "normal");
        out->tools[out->ntools].name = "request_handoff";
        out->tools[out->ntools].input_json = o ? json_dumps(o, JSON_COMPACT) : NULL;
        json_decref(o);
        out->ntools += out->tools[out->ntools].input_json != NULL;
    }

    /* The extractive answer. */
    offl_each_stem(msg, strlen(msg), offl_add_term, q);
    offl_pick pick;
    offl_pick_sentences(rq, q, cands, &pick);
    int relevant = pick.n > 0 && pick.best_cov >= OFFL_RELEVANT_COVERAGE;
    int small_talk = (is_lead || handoff) ? 0 : offl_small_talk(msg);

    if (small_talk == 1) {
        dyn_printf(&b, "Hello! I'm the assistant of %s. Ask me anything about our products, pricing or policies.",
                    co);
    } else if (small_talk == 2) {
        dyn_adds(&b, "You're welcome! Is there anything else I can help you with?");
    } else {
        if (is_lead) {
            char first[OFFL_FIELD_MAX];
            size_t fn = offl_take_words(lead->name, 1, 1, 0);
            offl_copy(first, sizeof(first), lead->name, fn);
            dyn_printf(&b, "Thank you%s%s! I've noted your contact details for our team.", first[0] ? ", " : "",
                        first);
        }
        if (handoff) {
            if (b.len > 0) {
                dyn_addc(&b, ' ');
            }
            dyn_adds(&b, strstr(reason, "demo")    ? "I'll let our team know you'd like a demo."
                          : strstr(reason, "sales") ? "I'll let our sales team know you'd like to talk to them."
                          : strstr(reason, "call")  ? "I'll let our team know you'd like a call."
                                                    : "I'll let our team know you'd like to talk to someone.");
            offl_hours(&b, rq, " Someone from the team is available now and will get back to you shortly.",
                       ", so they will get back to you as soon as they are back.");
            int known = is_lead || (rq->lead && ((rq->lead->email && rq->lead->email[0]) ||
                                                 (rq->lead->phone && rq->lead->phone[0])));
            if (!known) {
                dyn_adds(&b, " If you leave your email address or phone number, they can reach you directly.");
            }
        }
        int answer = relevant && (!(is_lead || handoff) || pick.best_cov >= OFFL_STRONG_COVERAGE);
        if (answer) {
            dynbuf sentences;
            dyn_init(&sentences, OFFL_ANSWER_MAX);
            offl_compose(&sentences, &pick);
            if (b.len > 0) {
                dyn_adds(&b, "\n\n");
            }
            dyn_adds(&b, dyn_str(&sentences));
            dyn_free(&sentences);
            out->sentences = (unsigned)pick.n;
            if (!handoff && !is_lead) {
                dyn_adds(&b, "\n\nIs there anything else I can help you with?");
            }
        } else if (!is_lead && !handoff) {
            dyn_adds(&b, "I'm sorry, I don't have that information in our documentation.");
            offl_hours(&b, rq,
                       " I'd be happy to connect you with our team, who can answer this directly. Would you like "
                       "me to do that?",
                       ", but if you leave your email address, they will get back to you with an answer.");
        }
    }
    if (offl_blank(dyn_str(&b))) {
        dyn_reset(&b);
        dyn_adds(&b, "I'm sorry, I don't have that information in our documentation.");
    }
    free(lead);
    free(q);
    free(cands);
    if (b.data == NULL) {
        offl_answer_free(out);
        return -1;
    }
    out->text = dyn_take(&b);
    return 0;
}

void offl_answer_free(offl_answer *a)
{
    free(a->text);
    a->text = NULL;
    for (size_t i = 0; i < a->ntools; i++) {
        free(a->tools[i].input_json);
        a->tools[i].input_json = NULL;
    }
    a->ntools = 0;
}
