/* offline_answer.c: the offline answer (offl_build): sentences scored
 * against the question, the best few picked and composed with citations,
 * plus the lead and handoff tool calls the rules in offline_lead.c find.
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
#include "offline_int.h"

#define OFFL_SPANS_PER_SOURCE 512
#define OFFL_CANDS_MAX 4096
#define OFFL_PICK_MAX 4
#define OFFL_SENTENCE_MAX 1500 /* bytes: longer "sentences" are not quoted */
#define OFFL_ANSWER_MAX (64u << 10)
#define OFFL_RELEVANT_COVERAGE 0.3 /* share of the question's weight the best sentence must cover */
#define OFFL_STRONG_COVERAGE 0.5   /* ... to answer beside a lead or handoff */

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
    while (end > 0 && (c->p[end - 1] == '.' || c->p[end - 1] == '!' || c->p[end - 1] == '?' || c->p[end - 1] == ')' ||
                       c->p[end - 1] == '"')) {
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

/* ================================================================ build */

/* Whether the team is there now; closed_tail (NULL: "they will get back
 * to you") ends the sentence when it is not. */
static void offl_hours(dynbuf *b, const Chat__Llm__GenerateRequest *rq, int de, const char *closed_tail)
{
    const char *h = rq->business_hours_text && rq->business_hours_text[0] ? rq->business_hours_text : NULL;
    if (rq->business_hours_open) {
        dyn_adds(b, de ? " Jemand aus dem Team ist gerade erreichbar und meldet sich in K\xC3\xBCrze bei Ihnen."
                       : " Someone from the team is available now and will get back to you shortly.");
        return;
    }
    dyn_adds(b, de ? " Unser Team ist gerade nicht erreichbar" : " Our team is not available right now");
    if (h != NULL) {
        dyn_printf(b,
                   de ? " (Gesch\xC3\xA4"
                        "ftszeiten: %s)"
                      : " (business hours: %s)",
                   h);
    }
    dyn_adds(b, closed_tail != NULL ? closed_tail
                : de                ? ", meldet sich aber, sobald es wieder da ist."
                                    : ", so they will get back to you as soon as they are back.");
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
    offl_extract_lead(msg, lead);
    char reason[96];
    int urgent = 0;
    int handoff = offl_wants_handoff(msg, reason, sizeof(reason), &urgent);
    int is_lead = offl_lead_contact(lead);
    int de = (is_lead || handoff) && offl_german(msg, rq->locale);
    if (is_lead) {
        lead->consent |= handoff;
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
        dyn_printf(&b, "Hello! I'm the assistant of %s. Ask me anything about our products, pricing or policies.", co);
    } else if (small_talk == 2) {
        dyn_adds(&b, "You're welcome! Is there anything else I can help you with?");
    } else {
        if (is_lead) {
            offl_say_thanks(&b, lead, rq->lead, de);
        }
        if (handoff) {
            if (b.len > 0) {
                dyn_addc(&b, ' ');
            }
            offl_say_handoff(&b, reason, de);
            offl_hours(&b, rq, de, NULL);
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
            if (rq->business_hours_open) {
                dyn_adds(&b, " I'd be happy to connect you with our team, who can answer this directly. Would you "
                             "like me to do that?");
            } else {
                offl_hours(&b, rq, 0,
                           ", but if you leave your email address, they will get back to you with an answer.");
            }
        }
        /* After the answer: what the team still needs, one question. */
        if (is_lead || handoff) {
            int reachable =
                (lead->found & ((1u << LEAD_SLOT_EMAIL) | (1u << LEAD_SLOT_PHONE))) ||
                (rq->lead && ((rq->lead->email && rq->lead->email[0]) || (rq->lead->phone && rq->lead->phone[0])));
            if (handoff && !reachable) {
                dyn_adds(&b, de ? " Wenn Sie uns Ihre E-Mail-Adresse oder Telefonnummer hinterlassen, kann das Team "
                                  "Sie direkt erreichen."
                                : " If you leave your email address or phone number, they can reach you directly.");
            } else {
                offl_ask_next(&b, lead, rq->lead, de);
            }
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
