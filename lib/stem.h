/* stem.h: words of a text as a search engine sees them — lowercased,
 * stop words dropped, reduced to their stem by Snowball (libstemmer) — in
 * one place for every component that matches words (the local embedder,
 * and any other that wants the same notion of a word).
 *
 * A word is a run of ASCII letters and digits and non-ASCII bytes (UTF-8
 * letters); at most STEM_WORD_MAX bytes of it are kept. Languages: the
 * Snowball algorithms by ISO 639-1 code ("en", "de", "fr", ...) or name;
 * an unknown language keeps words as they are (no stemming, English stop
 * words).
 *
 * Owns: a stemmer owns its Snowball state; use one from one thread at a
 * time (Snowball's state is not shared-safe), close it with stem_close. */
#ifndef CHAT_STEM_H
#define CHAT_STEM_H

#include <stddef.h>

#define STEM_WORD_MAX 48 /* bytes of a word kept; longer words are cut */

typedef struct stemmer stemmer;

/* lang: "en", "english", "de", ...; NULL or unknown = no stemming.
 * Returns 0, or -1 when out of memory. */
int stem_open(stemmer **out, const char *lang);
void stem_close(stemmer *s);

/* 1 when the lowercased word w[0..n) is a stop word of the stemmer's
 * language (question words, articles, pronouns, "please"...). */
int stem_is_stopword(const stemmer *s, const char *w, size_t n);

/* Stems one lowercased word into out (at least STEM_WORD_MAX + 1 bytes);
 * returns the stem's length. */
size_t stem_word(stemmer *s, const char *w, size_t n, char *out);

/* Calls fn for every word of text[0..len) that is not a stop word, with
 * its stem (NUL-terminated, valid during the call) and its position among
 * the kept words. Returns the number of words passed to fn. */
typedef void (*stem_word_fn)(const char *stem, size_t n, size_t position, void *arg);
size_t stem_words(stemmer *s, const char *text, size_t len, stem_word_fn fn, void *arg);

#endif
