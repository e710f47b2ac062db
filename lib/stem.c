/* stem.c: see stem.h. Stemming is Snowball's (Debian's libstemmer); the
 * stop-word lists are ours: short, aimed at visitors' questions ("how do
 * I ...", "can you tell me ...") rather than at prose. */
#include "stem.h"

#include <ctype.h>
#include <libstemmer.h>
#include <stdlib.h>
#include <string.h>

struct stemmer {
    struct sb_stemmer *sb; /* NULL: no stemming */
    int german;
};

static const char *const stem_stop_en[] = {
    "a",     "about", "all",   "also",  "am",     "an",    "and",  "any",    "are",      "as",     "at",
    "be",    "been",  "but",   "by",    "can",    "could", "did",  "do",     "does",     "doing",  "for",
    "from",  "get",   "got",   "guys",  "had",    "has",   "have", "hello",  "hey",      "hi",     "how",
    "i",     "if",    "im",    "in",    "into",   "is",    "it",   "its",    "just",     "know",   "like",
    "me",    "my",    "need",  "of",    "on",     "or",    "our",  "please", "possible", "should", "so",
    "some",  "tell",  "than",  "thank", "thanks", "that",  "the",  "their",  "them",     "then",   "there",
    "these", "they",  "this",  "to",    "u",      "us",    "want", "wanna",  "was",      "way",    "we",
    "were",  "what",  "whats", "when",  "where",  "which", "who",  "why",    "will",     "with",   "would",
    "you",   "your",  "s",     "t",     "don",    "doesn", "isn",  "let",    "lets",     "one",
};

static const char *const stem_stop_de[] = {
    "aber", "alle", "als", "am",   "an",  "auch", "auf",  "aus", "bei", "bin",  "bis",   "bitte", "da",    "das",
    "dass", "dem",  "den", "der",  "des", "die",  "doch", "du",  "ein", "eine", "einem", "einen", "einer", "es",
    "für",  "gibt", "hat", "ich",  "ihr", "im",   "in",   "ist", "ja",  "kann", "man",   "mit",   "nach",  "nicht",
    "noch", "oder", "sie", "sind", "so",  "und",  "uns",  "von", "was", "wie",  "wir",   "wo",    "zu",
};

/* ISO 639-1 codes to Snowball algorithm names; Snowball also accepts the
 * names themselves. */
static const char *const stem_langs[][2] = {
    {"en", "english"}, {"de", "german"},    {"fr", "french"},     {"es", "spanish"},
    {"it", "italian"}, {"nl", "dutch"},     {"pt", "portuguese"}, {"sv", "swedish"},
    {"da", "danish"},  {"no", "norwegian"}, {"fi", "finnish"},    {"ru", "russian"},
};

int stem_open(stemmer **out, const char *lang)
{
    *out = NULL;
    stemmer *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        return -1;
    }
    if (lang != NULL && lang[0]) {
        char code[16];
        size_t i = 0;
        for (; lang[i] && lang[i] != '-' && lang[i] != '_' && i + 1 < sizeof(code); i++) {
            code[i] = (char)tolower((unsigned char)lang[i]);
        }
        code[i] = '\0';
        const char *algo = code;
        for (size_t k = 0; k < sizeof(stem_langs) / sizeof(stem_langs[0]); k++) {
            if (strcmp(stem_langs[k][0], code) == 0) {
                algo = stem_langs[k][1];
            }
        }
        s->sb = sb_stemmer_new(algo, "UTF_8");
        s->german = strcmp(algo, "german") == 0;
    }
    *out = s;
    return 0;
}

void stem_close(stemmer *s)
{
    if (s == NULL) {
        return;
    }
    sb_stemmer_delete(s->sb);
    free(s);
}

static int stem_in(const char *const *list, size_t n, const char *w, size_t len)
{
    for (size_t i = 0; i < n; i++) {
        if (strlen(list[i]) == len && memcmp(list[i], w, len) == 0) {
            return 1;
        }
    }
    return 0;
}

int stem_is_stopword(const stemmer *s, const char *w, size_t n)
{
    if (s->german) {
        return stem_in(stem_stop_de, sizeof(stem_stop_de) / sizeof(stem_stop_de[0]), w, n);
    }
    return stem_in(stem_stop_en, sizeof(stem_stop_en) / sizeof(stem_stop_en[0]), w, n);
}

size_t stem_word(stemmer *s, const char *w, size_t n, char *out)
{
    if (n > STEM_WORD_MAX) {
        n = STEM_WORD_MAX;
    }
    if (s->sb != NULL && n > 2) {
        const sb_symbol *r = sb_stemmer_stem(s->sb, (const sb_symbol *)w, (int)n);
        if (r != NULL) {
            size_t m = (size_t)sb_stemmer_length(s->sb);
            if (m > STEM_WORD_MAX) {
                m = STEM_WORD_MAX;
            }
            memcpy(out, r, m);
            out[m] = '\0';
            return m;
        }
    }
    memcpy(out, w, n);
    out[n] = '\0';
    return n;
}

static int stem_word_byte(unsigned char c)
{
    return isalnum(c) || c >= 0x80;
}

size_t stem_words(stemmer *s, const char *text, size_t len, stem_word_fn fn, void *arg)
{
    size_t i = 0, kept = 0;
    while (i < len) {
        while (i < len && !stem_word_byte((unsigned char)text[i])) {
            i++;
        }
        char w[STEM_WORD_MAX + 1];
        size_t n = 0;
        while (i < len && stem_word_byte((unsigned char)text[i])) {
            if (n < STEM_WORD_MAX) {
                w[n++] = (char)tolower((unsigned char)text[i]);
            }
            i++;
        }
        if (n == STEM_WORD_MAX) {
            /* cut at the cap: drop the last character, which may be cut too */
            while (n > 0 && ((unsigned char)w[n - 1] & 0xC0) == 0x80) {
                n--;
            }
            if (n > 0 && (unsigned char)w[n - 1] >= 0xC0) {
                n--;
            }
        }
        if (n == 0 || stem_is_stopword(s, w, n)) {
            continue;
        }
        char st[STEM_WORD_MAX + 1];
        size_t m = stem_word(s, w, n, st);
        fn(st, m, kept++, arg);
    }
    return kept;
}
