/* ip_count.c: see ip_count.h. */
#include "ip_count.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct ic_slot {
    unsigned char key[RL_KEY_LEN];
    unsigned n; /* 0 = empty */
} ic_slot;

struct ip_count {
    ic_slot *s;
    size_t mask;
    size_t used;
};

ip_count *ic_new(size_t slots)
{
    size_t n = IC_SLOTS_MIN;
    while (n < slots && n < IC_SLOTS_MAX) {
        n <<= 1;
    }
    ip_count *ic = calloc(1, sizeof(*ic));
    if (ic == NULL) {
        return NULL;
    }
    ic->s = calloc(n, sizeof(*ic->s));
    if (ic->s == NULL) {
        free(ic);
        return NULL;
    }
    ic->mask = n - 1;
    return ic;
}

void ic_free(ip_count *ic)
{
    if (ic != NULL) {
        free(ic->s);
        free(ic);
    }
}

/* FNV-1a over the key, then a final mix. */
static size_t ic_home(const ip_count *ic, const unsigned char key[RL_KEY_LEN])
{
    uint64_t h = 1469598103934665603ULL;
    for (int i = 0; i < RL_KEY_LEN; i++) {
        h = (h ^ key[i]) * 1099511628211ULL;
    }
    h ^= h >> 29;
    return (size_t)h & ic->mask;
}

/* The slot holding key, or the empty slot where it would go. */
static size_t ic_find(const ip_count *ic, const unsigned char key[RL_KEY_LEN])
{
    size_t i = ic_home(ic, key);
    while (ic->s[i].n != 0 && memcmp(ic->s[i].key, key, RL_KEY_LEN) != 0) {
        i = (i + 1) & ic->mask;
    }
    return i;
}

unsigned ic_add(ip_count *ic, const unsigned char key[RL_KEY_LEN], unsigned max)
{
    size_t i = ic_find(ic, key);
    ic_slot *sl = &ic->s[i];
    if (sl->n == 0) {
        /* keep one slot empty so every probe ends */
        if (max == 0 || ic->used + 1 > ic->mask) {
            return 0;
        }
        memcpy(sl->key, key, RL_KEY_LEN);
        ic->used++;
    } else if (sl->n >= max) {
        return 0;
    }
    return ++sl->n;
}

void ic_del(ip_count *ic, const unsigned char key[RL_KEY_LEN])
{
    size_t i = ic_find(ic, key);
    if (ic->s[i].n == 0 || --ic->s[i].n > 0) {
        return;
    }
    ic->used--;
    /* Backward shift: move later members of the run into the hole when
     * their home is not between the hole and them. */
    size_t hole = i, j = i;
    for (;;) {
        j = (j + 1) & ic->mask;
        if (ic->s[j].n == 0) {
            break;
        }
        size_t home = ic_home(ic, ic->s[j].key);
        int stays = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j);
        if (!stays) {
            ic->s[hole] = ic->s[j];
            hole = j;
        }
    }
    memset(&ic->s[hole], 0, sizeof(ic->s[hole]));
}

unsigned ic_get(const ip_count *ic, const unsigned char key[RL_KEY_LEN])
{
    return ic->s[ic_find(ic, key)].n;
}

size_t ic_keys(const ip_count *ic)
{
    return ic->used;
}
