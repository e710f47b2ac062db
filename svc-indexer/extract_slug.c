/*
 * extract_slug.c - GitHub-style heading slugs for Markdown anchors
 * (github-slugger's rules: lowercase, spaces to "-", punctuation dropped,
 * "-1", "-2"... added to repeats).
 */
#include "extract_int.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "utf8.h"

/* ---------------------------------------------------------------- slugs */

/* Simple lowercase for Latin-1, Latin Extended-A, Greek and Cyrillic. */
static uint32_t cp_lower(uint32_t cp)
{
    if (cp < 0x80)
        return cp >= 'A' && cp <= 'Z' ? cp + 32 : cp;
    if (cp >= 0xC0 && cp <= 0xDE && cp != 0xD7)
        return cp + 0x20;
    if (cp == 0x130)
        return 'i';
    if ((cp >= 0x100 && cp <= 0x137 && cp % 2 == 0) || (cp >= 0x139 && cp <= 0x148 && cp % 2 == 1) ||
        (cp >= 0x14A && cp <= 0x177 && cp % 2 == 0) || (cp >= 0x179 && cp <= 0x17E && cp % 2 == 1))
        return cp + 1;
    if (cp == 0x178)
        return 0xFF;
    if (cp >= 0x391 && cp <= 0x3A9 && cp != 0x3A2)
        return cp + 0x20;
    if (cp == 0x386)
        return 0x3AC;
    if (cp >= 0x388 && cp <= 0x38A)
        return cp + 0x25;
    if (cp == 0x38C)
        return 0x3CC;
    if (cp == 0x38E || cp == 0x38F)
        return cp + 0x3F;
    if (cp >= 0x410 && cp <= 0x42F)
        return cp + 0x20;
    if (cp >= 0x400 && cp <= 0x40F)
        return cp + 0x50;
    return cp;
}

/* Non-ASCII punctuation, symbols, emoji and format characters, which a
 * GitHub slug drops (it keeps letters, marks, numbers and '_'). */
static int cp_slug_drop(uint32_t cp)
{
    if (cp >= 0x80 && cp <= 0xBF)
        return !(cp == 0xAA || cp == 0xB2 || cp == 0xB3 || cp == 0xB5 || cp == 0xB9 || cp == 0xBA ||
                 (cp >= 0xBC && cp <= 0xBE));
    return cp == 0xD7 || cp == 0xF7 || (cp >= 0x2000 && cp <= 0x2BFF) || (cp >= 0x2E00 && cp <= 0x2E7F) ||
           (cp >= 0x3000 && cp <= 0x303F) || (cp >= 0xFE00 && cp <= 0xFE1F) || (cp >= 0xFE30 && cp <= 0xFE6F) ||
           cp == 0xFEFF || (cp >= 0xFF01 && cp <= 0xFF0F) || (cp >= 0xFF1A && cp <= 0xFF20) ||
           (cp >= 0xFF3B && cp <= 0xFF40) || (cp >= 0xFF5B && cp <= 0xFF65) || cp >= 0xFFF0 ||
           (cp >= 0x1F000 && cp <= 0x1FAFF) || (cp >= 0xE0000 && cp <= 0xE007F);
}

/* GitHub-style slug of normalised heading text into t (cut at
 * KB_ANCHOR_MAX bytes). */
static void slug_base(const char *s, kb_text *t)
{
    size_t n = strlen(s);

    kb_text_clear(t);
    for (size_t i = 0; i < n && t->d.len < KB_ANCHOR_MAX;) {
        uint32_t cp;
        size_t k = utf8_decode(s + i, n - i, &cp);
        char b[4];

        i += k;
        if (cp == UTF8_BAD)
            continue;
        if (cp < 0x80) {
            if (cp == ' ' || cp == '-')
                kb_text_raw(t, "-", 1);
            else if (cp == '_' || (cp >= '0' && cp <= '9') || (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z'))
                kb_text_raw(t, (char[]){(char)cp_lower(cp)}, 1);
            continue;
        }
        if (cp_slug_drop(cp) || kb_cp_is_invisible(cp))
            continue;
        kb_text_raw(t, b, utf8_encode(cp_lower(cp), b));
    }
    if (!t->oom)
        dyn_truncate(&t->d, utf8_truncate(dyn_str(&t->d), t->d.len, KB_ANCHOR_MAX));
}

static uint64_t slug_hash(const char *s)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */

    for (; *s != '\0'; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ull;
    }
    return h;
}

static kb_slug_entry *slug_find(kb_slug_set *ss, const char *key)
{
    size_t i;

    if (ss->cap == 0)
        return NULL;
    for (i = slug_hash(key) & (ss->cap - 1); ss->tab[i].key != NULL; i = (i + 1) & (ss->cap - 1))
        if (strcmp(ss->tab[i].key, key) == 0)
            return &ss->tab[i];
    return NULL;
}

/* Insert key (taken over on success; must not be present). */
static int slug_insert(kb_slug_set *ss, char *key)
{
    size_t i;

    if ((ss->used + 1) * 2 > ss->cap) {
        size_t cap = ss->cap ? ss->cap * 2 : 64;
        kb_slug_entry *tab = calloc(cap, sizeof *tab);
        if (tab == NULL)
            return -1;
        for (size_t j = 0; j < ss->cap; j++) {
            if (ss->tab[j].key == NULL)
                continue;
            for (i = slug_hash(ss->tab[j].key) & (cap - 1); tab[i].key != NULL; i = (i + 1) & (cap - 1))
                ;
            tab[i] = ss->tab[j];
        }
        free(ss->tab);
        ss->tab = tab;
        ss->cap = cap;
    }
    for (i = slug_hash(key) & (ss->cap - 1); ss->tab[i].key != NULL; i = (i + 1) & (ss->cap - 1))
        ;
    ss->tab[i].key = key;
    ss->tab[i].count = 0;
    ss->used++;
    return 0;
}

void kb_slug_set_free(kb_slug_set *ss)
{
    for (size_t i = 0; i < ss->cap; i++)
        free(ss->tab[i].key);
    free(ss->tab);
    memset(ss, 0, sizeof *ss);
}

/* Unique slug for heading text, malloc'd; "" (not registered) when the
 * text has no letters or digits; NULL on OOM. */
char *kb_slug_unique(kb_slug_set *ss, const char *heading)
{
    kb_text t = {0};
    char *base, *key, *res;

    slug_base(heading, &t);
    base = kb_text_take(&t);
    kb_text_free(&t);
    if (base == NULL)
        return NULL;
    if (base[0] == '\0')
        return base;
    key = strdup(base);
    while (key != NULL && slug_find(ss, key) != NULL) {
        kb_slug_entry *orig = slug_find(ss, base);
        size_t n = strlen(base) + 16;

        free(key);
        key = malloc(n);
        if (key != NULL)
            snprintf(key, n, "%s-%u", base, ++orig->count);
    }
    free(base);
    if (key == NULL)
        return NULL;
    res = strdup(key);
    if (res == NULL || slug_insert(ss, key) != 0) {
        free(res);
        free(key);
        return NULL;
    }
    return res;
}
