/* offline_names.c: the contact rules of the offline provider, part two: a
 * name and a company found in a visitor's message, in English and German.
 * Rules, not a model: each finder looks for the phrasings people use ("my
 * name is", "ich heiße", "hier ist", "I work at", "wir sind die Firma", a
 * signature block under "Best regards" or "Viele Grüße", a legal form such
 * as GmbH or Ltd) and copies what follows, cut to the caller's buffer. */
#include "offline.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "offline_int.h"

/* ================================================================= name */

static int offl_name_char(unsigned char c)
{
    return isalpha(c) || c >= 0x80 || c == '-' || c == '\'';
}

static int offl_word_in(const char *p, size_t n, const char *const *list, size_t count)
{
    char low[24];
    if (n >= sizeof(low)) {
        return 0;
    }
    offl_lower(p, n, low, sizeof(low));
    for (size_t i = 0; i < count; i++) {
        if (strcmp(low, list[i]) == 0) {
            return 1;
        }
    }
    return 0;
}
#define OFFL_WORD_IN(p, n, list) offl_word_in(p, n, list, sizeof(list) / sizeof(list[0]))

/* Words that end a name or company: connectors, in both languages. */
static const char *const offl_stop[] = {
    "from", "at",  "and",  "with",  "of",    "here",    "the", "i",   "my",  "we",      "our",   "speaking",
    "von",  "vom", "bei",  "und",   "aus",   "mit",     "der", "die", "das", "dem",     "den",   "hier",
    "ich",  "wir", "mein", "meine", "unser", "für",     "im",  "am",  "in",  "calling", "again", "writing",
    "but",  "not", "or",   "oder",  "nicht", "sondern", "is",  "ist", "are", "sind",    "you",   "sie",
};

/* First words that are no name: roles, states, days ("I'm CTO", "ich bin
 * Kunde", "call me Monday"). */
static const char *const offl_not_name[] = {
    "ceo",
    "cto",
    "cfo",
    "coo",
    "vp",
    "head",
    "manager",
    "managerin",
    "founder",
    "developer",
    "engineer",
    "sales",
    "marketing",
    "interested",
    "looking",
    "happy",
    "glad",
    "sorry",
    "just",
    "still",
    "also",
    "ready",
    "excited",
    "curious",
    "currently",
    "new",
    "part",
    "responsible",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
    "tomorrow",
    "today",
    "geschäftsführer",
    "geschäftsführerin",
    "entwickler",
    "entwicklerin",
    "kunde",
    "kundin",
    "kunden",
    "inhaber",
    "inhaberin",
    "leiter",
    "leiterin",
    "student",
    "studentin",
    "interessiert",
    "neu",
    "berater",
    "beraterin",
    "teil",
    "mitarbeiter",
    "mitarbeiterin",
    "gründer",
    "gründerin",
    "vertrieb",
    "gerade",
    "gerne",
    "auf",
    "zuständig",
    "verantwortlich",
    "montag",
    "dienstag",
    "mittwoch",
    "donnerstag",
    "freitag",
    "morgen",
    "heute",
    "ein",
    "eine",
    "a",
    "an",
    "startup",
    "firma",
    "unternehmen",
    "company",
    "team",
    "meine",
    "mein",
    "email",
    "e-mail",
    "mail",
    "phone",
    "nummer",
    "telefon",
    "handy",
    "number",
};

/* Salutations and articles skipped before a name. */
static const char *offl_skip_salutation(const char *s)
{
    static const char *const sal[] = {"Herr ", "Frau ", "Mr. ", "Mr ",  "Mrs. ", "Mrs ",  "Ms. ",
                                      "Ms ",   "Dr. ",  "Dr ",  "der ", "die ",  "Prof. "};
    for (int again = 0; again < 2; again++) {
        for (size_t i = 0; i < sizeof(sal) / sizeof(sal[0]); i++) {
            if (strncmp(s, sal[i], strlen(sal[i])) == 0) {
                s += strlen(sal[i]);
                break;
            }
        }
    }
    return s;
}

size_t offl_take_words(const char *s, int max, int any_case, int allow_digits)
{
    const char *p = s, *end = s;
    for (int w = 0; w < max; w++) {
        while (*p == ' ') {
            p++;
        }
        const char *q = p;
        while (offl_name_char((unsigned char)*q) ||
               (allow_digits && (isdigit((unsigned char)*q) || *q == '&' || *q == '.'))) {
            q++;
        }
        if (allow_digits && q > p && q[-1] == '.' && memchr(p, '.', (size_t)(q - p - 1)) == NULL) {
            q--; /* a full stop ends the sentence, unless the word is "e.V." or "S.A." */
        }
        if (q == p) {
            break;
        }
        if (OFFL_WORD_IN(p, (size_t)(q - p), offl_stop)) {
            break;
        }
        if (!(any_case && w == 0) && !offl_upper_start(p) &&
            !(allow_digits && (isdigit((unsigned char)*p) || *p == '&'))) {
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
    {"my name is ", 1},
    {"my name's ", 1},
    {"my full name is ", 1},
    {"the name is ", 1},
    {"name is ", 1},
    {"name: ", 1},
    {"i'm ", 0},
    {"i am ", 0},
    {"i\xE2\x80\x99m ", 0},
    {"this is ", 0},
    {"i go by ", 0},
    {"you can call me ", 0},
    {"contact person: ", 0},
    {"contact: ", 0},
    {"mein name ist ", 1},
    {"mein name lautet ", 1},
    {"mein vollständiger name ist ", 1},
    {"ich heiße ", 1},
    {("ich hei\xC3\x9F"
      "e "),
     1},
    {"ich heisse ", 1},
    {"hier ist ", 0},
    {"hier spricht ", 0},
    {"hier schreibt ", 0},
    {"ich bin ", 0},
    {"man nennt mich ", 0},
    {"sie sprechen mit ", 0},
    {"ansprechpartner: ", 0},
    {"ansprechpartnerin: ", 0},
    {"ansprechpartner ist ", 0},
};

/* The closing of a letter; the name follows on the next line or after a
 * comma. */
static const char *const offl_closings[] = {
    "best regards",
    "kind regards",
    "warm regards",
    "regards",
    "best wishes",
    "all the best",
    "many thanks",
    "thank you",
    "thanks",
    "cheers",
    "sincerely",
    "yours sincerely",
    "yours",
    "best",
    "mit freundlichen gr",
    "freundliche gr",
    "mit freundlichem gru",
    "viele gr",
    "beste gr",
    "liebe gr",
    "herzliche gr",
    "sch\xC3\xB6ne gr",
    ("gr\xC3\xBC\xC3\x9F"
     "e"),
    "gru\xC3\x9F",
    "mfg",
    "lg",
    "vg",
    "vielen dank",
    "besten dank",
    "danke",
};

/* A name of 1 to 3 capitalised words at s that is not a role; its length. */
static size_t offl_name_words(const char *s, int any_case)
{
    size_t n = offl_take_words(s, 3, any_case, 0);
    if (n == 0) {
        return 0;
    }
    const char *sp = memchr(s, ' ', n);
    size_t first = sp ? (size_t)(sp - s) : n;
    return OFFL_WORD_IN(s, first, offl_not_name) ? 0 : n;
}

/* After a closing: skip letters of the word ("Grüße"), punctuation and one
 * line break; the name must then end its line. */
static const char *offl_signature_name(const char *msg, size_t *len)
{
    for (size_t i = 0; i < sizeof(offl_closings) / sizeof(offl_closings[0]); i++) {
        for (const char *p = offl_find_phrase(msg, offl_closings[i], 0); p != NULL;
             p = offl_find_phrase(p + 1, offl_closings[i], 0)) {
            const char *s = p + strlen(offl_closings[i]);
            while (offl_word_byte((unsigned char)*s)) {
                s++; /* "Grüßen", "Gruß" */
            }
            if (strncmp(s, " aus ", 5) == 0 || strncmp(s, " from ", 6) == 0) {
                s += s[1] == 'a' ? 5 : 6; /* "Grüße aus Hamburg" */
                while (offl_word_byte((unsigned char)*s)) {
                    s++;
                }
            }
            int brk = strlen(offl_closings[i]) <= 3; /* "LG Nina", "MfG Klaus" */
            while (*s == ',' || *s == '.' || *s == '!' || *s == ' ' || *s == '\n' || *s == '\r' || *s == '-') {
                brk |= *s == '\n' || *s == ',';
                s++;
            }
            if (!brk) {
                continue;
            }
            size_t n = offl_name_words(s, 0);
            const char *e = s + n;
            while (*e == ' ' || *e == '\r') {
                e++;
            }
            if (n > 0 && (*e == '\0' || *e == '\n' || *e == ',')) {
                *len = n;
                return s;
            }
        }
    }
    return NULL;
}

/* "Tom here" / "Anna Schmidt hier" at the start of a line (after a
 * greeting). */
static const char *offl_name_here(const char *msg, size_t *len)
{
    static const char *const greet[] = {"hi ", "hello ", "hey ", "hallo ", "moin ", "servus ", "guten tag "};
    for (const char *line = msg; line != NULL; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
        const char *s = line;
        for (size_t i = 0; i < sizeof(greet) / sizeof(greet[0]); i++) {
            size_t k = strlen(greet[i]) - 1;
            if (strncasecmp(s, greet[i], k) == 0 && (s[k] == ' ' || s[k] == ',' || s[k] == '!')) {
                s += k;
                while (*s == ' ' || *s == ',' || *s == '!') {
                    s++;
                }
                break;
            }
        }
        size_t n = offl_name_words(s, 0);
        if (n > 0 && (strncasecmp(s + n, " here", 5) == 0 || strncasecmp(s + n, " hier", 5) == 0) &&
            !offl_word_byte((unsigned char)s[n + 5])) {
            *len = n;
            return s;
        }
    }
    return NULL;
}

/* Where the name after an introduction ends (NULL: no name found). */
static const char *offl_name_at(const char *msg, char *out, size_t outlen)
{
    for (size_t i = 0; i < sizeof(offl_name_intros) / sizeof(offl_name_intros[0]); i++) {
        for (const char *p = offl_find_phrase(msg, offl_name_intros[i].phrase, 0); p != NULL;
             p = offl_find_phrase(p + 1, offl_name_intros[i].phrase, 0)) {
            const char *s = offl_skip_salutation(p + strlen(offl_name_intros[i].phrase));
            size_t n = offl_name_words(s, offl_name_intros[i].any_case);
            if (n > 0) {
                offl_copy(out, outlen, s, n);
                return s + n;
            }
        }
    }
    size_t n = 0;
    const char *s = offl_name_here(msg, &n);
    if (s == NULL) {
        s = offl_signature_name(msg, &n);
    }
    if (s != NULL) {
        offl_copy(out, outlen, s, n);
        return s + n;
    }
    return NULL;
}

int offl_find_name(const char *msg, char *out, size_t outlen)
{
    out[0] = '\0';
    return offl_name_at(msg, out, outlen) != NULL;
}

/* ============================================================== company */

static const char *offl_skip_article(const char *s)
{
    static const char *const art[] = {"der ", "die ", "das ", "dem ", "den ", "the ", "Firma ", "firma "};
    for (int again = 0; again < 2; again++) {
        for (size_t i = 0; i < sizeof(art) / sizeof(art[0]); i++) {
            if (strncmp(s, art[i], strlen(art[i])) == 0) {
                s += strlen(art[i]);
                break;
            }
        }
    }
    return s;
}

#define OFFL_NLEGAL 24
/* Legal forms: the words before one are a company ("Beispiel AG"). */
static const char *const offl_legal[OFFL_NLEGAL] = {"GmbH", "AG",   "SE",  "KG",  "UG",   "e.V.", "Ltd", "Inc",
                                                    "Corp", "LLC",  "plc", "PLC", "S.A.", "SARL", "SAS", "B.V.",
                                                    "BV",   "N.V.", "OHG", "GbR", "mbH",  "Oy",   "AB",  "LLP"};

/* A company of up to 4 words at s (articles skipped), with a legal form
 * right after them ("Grünwerk e.V."); its start in *at. */
static size_t offl_company_words(const char *s, const char **at)
{
    s = offl_skip_article(s);
    size_t n = offl_take_words(s, 4, 0, 1);
    const char *sp = n ? memchr(s, ' ', n) : NULL;
    size_t first = sp ? (size_t)(sp - s) : n;
    if (n == 0 || OFFL_WORD_IN(s, first, offl_not_name)) {
        return 0;
    }
    for (size_t i = 0; s[n] == ' ' && i < OFFL_NLEGAL; i++) {
        size_t k = strlen(offl_legal[i]);
        if (strncmp(s + n + 1, offl_legal[i], k) == 0 && !offl_word_byte((unsigned char)s[n + 1 + k])) {
            n += 1 + k;
            break;
        }
    }
    *at = s;
    return n;
}

static const char *const offl_company_intros[] = {
    "i work at ",
    "i work for ",
    "i'm working at ",
    "working at ",
    "working for ",
    "our company is called ",
    "the company is called ",
    "our company is ",
    "my company is ",
    "company name is ",
    "company name: ",
    "company: ",
    "organisation: ",
    "organization: ",
    "employer: ",
    "my employer is ",
    "i'm with ",
    "i am with ",
    "i'm from ",
    "i am from ",
    "i'm calling from ",
    "i am calling from ",
    "writing from ",
    "i represent ",
    "on behalf of ",
    "we at ",
    "ceo of ",
    "cto of ",
    "founder of ",
    "cto at ",
    "ceo at ",
    "cfo at ",
    "manager at ",
    "engineer at ",
    "developer at ",
    "founder at ",
    "we're ",
    "we are ",
    "arbeite bei ",
    "arbeite f\xC3\xBCr ",
    "ich bin bei ",
    "ich komme von ",
    "ich komme vom ",
    "wir sind die firma ",
    "unsere firma hei\xC3\x9Ft ",
    "unsere firma heisst ",
    "unsere firma ist ",
    "meine firma hei\xC3\x9Ft ",
    "meine firma ist ",
    "unser unternehmen hei\xC3\x9Ft ",
    "unser unternehmen ist ",
    "firma: ",
    "unternehmen: ",
    "arbeitgeber: ",
    "mein arbeitgeber ist ",
    "t\xC3\xA4tig bei ",
    "im auftrag von ",
    "im auftrag der ",
    "ich vertrete ",
    "f\xC3\xBCr die firma ",
    "von der firma ",
    "bei der firma ",
    ("gesch\xC3\xA4"
     "ftsf\xC3\xBChrer der "),
    ("gesch\xC3\xA4"
     "ftsf\xC3\xBChrer von "),
    "inhaber von ",
    "wir von der ",
    "wir von ",
    "wir sind ",
};

static int offl_company_legal(const char *msg, char *out, size_t outlen)
{
    for (size_t i = 0; i < sizeof(offl_legal) / sizeof(offl_legal[0]); i++) {
        size_t k = strlen(offl_legal[i]);
        for (const char *p = strstr(msg, offl_legal[i]); p != NULL; p = strstr(p + 1, offl_legal[i])) {
            if ((p > msg && p[-1] != ' ') || offl_word_byte((unsigned char)p[k])) {
                continue;
            }
            /* walk back over up to three capitalised words */
            const char *s = p;
            for (int w = 0; w < 3; w++) {
                const char *b = s - 1; /* the space before */
                if (b <= msg || *b != ' ') {
                    break;
                }
                const char *a = b;
                while (a > msg && (offl_name_char((unsigned char)a[-1]) || isdigit((unsigned char)a[-1]) ||
                                   a[-1] == '&' || a[-1] == '.')) {
                    a--;
                }
                if (a == b || (!offl_upper_start(a) && !isdigit((unsigned char)*a) && *a != '&') ||
                    offl_word_in(a, (size_t)(b - a), offl_stop, sizeof(offl_stop) / sizeof(offl_stop[0])) ||
                    offl_word_in(a, (size_t)(b - a), offl_not_name, sizeof(offl_not_name) / sizeof(offl_not_name[0]))) {
                    break;
                }
                s = a;
            }
            if (s == p) {
                continue;
            }
            const char *e = p + k;
            /* "GmbH & Co. KG" */
            if (strncmp(e, " & Co. KG", 9) == 0) {
                e += 9;
            }
            offl_copy(out, outlen, s, (size_t)(e - s));
            return 1;
        }
    }
    return 0;
}

/* The line after a signature's name, when it reads like a company. */
static int offl_company_signature(const char *msg, char *out, size_t outlen)
{
    size_t n;
    const char *s = offl_signature_name(msg, &n);
    if (s == NULL) {
        return 0;
    }
    const char *nl = strchr(s + n, '\n');
    if (nl == NULL) {
        return 0;
    }
    const char *l = nl + 1, *e = strchr(l, '\n');
    size_t len = e ? (size_t)(e - l) : strlen(l);
    if (len == 0 || memchr(l, '@', len) != NULL || isdigit((unsigned char)*l) || *l == '+' || *l == '(') {
        return 0;
    }
    size_t w = offl_take_words(l, 5, 0, 1);
    if (w == 0 || w + 1 < len) {
        return 0; /* the whole line must be the name */
    }
    offl_copy(out, outlen, l, w);
    return 1;
}

int offl_find_company(const char *msg, char *out, size_t outlen)
{
    out[0] = '\0';
    char name[OFFL_FIELD_MAX];
    const char *after = offl_name_at(msg, name, sizeof(name));
    static const char *const after_name[] = {" from ", " at ", " with ", " of ", " von ", " vom ", " bei "};
    if (after != NULL && (strncasecmp(after, " here", 5) == 0 || strncasecmp(after, " hier", 5) == 0)) {
        after += 5; /* "Tom here, from Acme" */
    }
    if (after != NULL && (*after == ',' || *after == '.')) {
        after++;
    }
    for (size_t i = 0; after != NULL && i < sizeof(after_name) / sizeof(after_name[0]); i++) {
        size_t k = strlen(after_name[i]);
        const char *a = after;
        if (*a != ' ') {
            continue;
        }
        if (strncasecmp(a, after_name[i], k) == 0) {
            const char *at;
            size_t n = offl_company_words(a + k, &at);
            if (n > 0) {
                offl_copy(out, outlen, at, n);
                return 1;
            }
        }
    }
    for (size_t i = 0; i < sizeof(offl_company_intros) / sizeof(offl_company_intros[0]); i++) {
        for (const char *p = offl_find_phrase(msg, offl_company_intros[i], 0); p != NULL;
             p = offl_find_phrase(p + 1, offl_company_intros[i], 0)) {
            const char *at;
            size_t n = offl_company_words(p + strlen(offl_company_intros[i]), &at);
            if (n > 0) {
                offl_copy(out, outlen, at, n);
                return 1;
            }
        }
    }
    return offl_company_legal(msg, out, outlen) || offl_company_signature(msg, out, outlen);
}
