/* lead_slots.c: see lead_slots.h. */
#include "lead_slots.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "config.h"

#define LEAD_DOMAIN_MAX 256 /* bytes of an email domain we look at */
#define LEAD_LABELS_MAX 16  /* labels of a domain */

static const char *const lead_names[LEAD_NSLOTS] = {"name", "email",     "phone",    "company",
                                                    "need", "team_size", "timeline", "budget"};

static lead_conf lead_cfg = {
    .slots = (1u << LEAD_SLOT_NAME) | (1u << LEAD_SLOT_EMAIL) | (1u << LEAD_SLOT_PHONE) | (1u << LEAD_SLOT_COMPANY) |
             (1u << LEAD_SLOT_NEED) | (1u << LEAD_SLOT_TIMELINE),
    .order = {LEAD_SLOT_NAME, LEAD_SLOT_EMAIL, LEAD_SLOT_PHONE, LEAD_SLOT_COMPANY, LEAD_SLOT_NEED, LEAD_SLOT_TIMELINE},
    .norder = 6,
    .country = "DE",
};

/* ============================================================== slots */

const char *lead_slot_name(lead_slot s)
{
    return (unsigned)s < LEAD_NSLOTS ? lead_names[s] : "";
}

int lead_slot_find(const char *s, size_t len)
{
    for (int i = 0; i < LEAD_NSLOTS; i++) {
        if (strlen(lead_names[i]) == len && strncasecmp(s, lead_names[i], len) == 0) {
            return i;
        }
    }
    return -1;
}

/* --- countries ------------------------------------------------------------ */

typedef struct lead_country {
    const char *iso, *cc, *intl;
    char trunk;           /* national prefix ('1' for the NANP) */
    int nsn_min, nsn_max; /* digits of the national significant number */
} lead_country;

static const lead_country lead_countries[] = {
    {"DE", "49", "00", '0', 6, 12},  {"AT", "43", "00", '0', 4, 13}, {"CH", "41", "00", '0', 9, 9},
    {"FR", "33", "00", '0', 9, 9},   {"NL", "31", "00", '0', 9, 9},  {"GB", "44", "00", '0', 9, 10},
    {"US", "1", "011", '1', 10, 10},
};
#define LEAD_NCOUNTRIES (sizeof(lead_countries) / sizeof(lead_countries[0]))

static const lead_country *lead_country_by_iso(const char *iso)
{
    for (size_t i = 0; iso != NULL && i < LEAD_NCOUNTRIES; i++) {
        if (strcasecmp(iso, lead_countries[i].iso) == 0) {
            return &lead_countries[i];
        }
    }
    return NULL;
}

int lead_conf_init(const char *slots, const char *country, char *err, size_t errlen)
{
    lead_conf c = {0};
    const char *list = slots != NULL && slots[0] ? slots : LEAD_SLOTS_DEFAULT;
    const char *p = list, *tok;
    size_t len;
    while ((tok = cfg_list_next(&p, &len)) != NULL) {
        int s = lead_slot_find(tok, len);
        if (s < 0) {
            snprintf(err, errlen,
                     "LEAD_SLOTS: unknown slot \"%.*s\" (known: name, email, phone, company, need, team_size, "
                     "timeline, budget)",
                     (int)(len < 40 ? len : 40), tok);
            return -1;
        }
        if (!(c.slots & (1u << s))) {
            c.slots |= 1u << s;
            c.order[c.norder++] = (lead_slot)s;
        }
    }
    if (c.slots == 0) {
        snprintf(err, errlen, "LEAD_SLOTS: name at least one slot (for example %s)", LEAD_SLOTS_DEFAULT);
        return -1;
    }
    const lead_country *k = lead_country_by_iso(country != NULL && country[0] ? country : LEAD_COUNTRY_DEFAULT);
    if (k == NULL) {
        snprintf(err, errlen, "LEAD_DEFAULT_COUNTRY: \"%.8s\" is not supported (one of DE, AT, CH, FR, NL, GB, US)",
                 country);
        return -1;
    }
    snprintf(c.country, sizeof(c.country), "%s", k->iso);
    lead_cfg = c;
    return 0;
}

const lead_conf *lead_conf_get(void)
{
    return &lead_cfg;
}

int lead_slot_on(lead_slot s)
{
    return (unsigned)s < LEAD_NSLOTS && (lead_cfg.slots & (1u << s)) != 0;
}

/* ============================================================== email */

int lead_email_ok(const char *s)
{
    if (s == NULL) {
        return 0;
    }
    size_t n = strlen(s);
    const char *at = strchr(s, '@');
    if (n < 3 || n > LEAD_EMAIL_MAX || at == NULL || at == s || strchr(at + 1, '@') != NULL) {
        return 0;
    }
    const char *dot = strrchr(at + 1, '.');
    if (dot == NULL || dot == at + 1 || dot[1] == '\0') {
        return 0;
    }
    if (at[1] == '.' || at[1] == '-' || strstr(at, "..") != NULL) {
        return 0;
    }
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p <= ' ' || *p == 0x7f || strchr("<>,;()[]\\\"", *p) != NULL) {
            return 0;
        }
    }
    return 1;
}

/* ============================================================== phone */

static int lead_nanp_ok(const char *nsn)
{
    return nsn[0] >= '2' && nsn[0] <= '9' && nsn[3] >= '2' && nsn[3] <= '9';
}

/* "+" cc nsn into out, when the lengths are right for k (NULL: any). */
static int lead_e164_put(const lead_country *k, const char *cc, const char *nsn, char *out, size_t outlen)
{
    size_t ln = strlen(nsn), lc = strlen(cc);
    if (k != NULL && ((int)ln < k->nsn_min || (int)ln > k->nsn_max || (k->trunk == '1' && !lead_nanp_ok(nsn)))) {
        return -1;
    }
    if (lc + ln < 8 || lc + ln > 15 || nsn[0] == '0' || lc + ln + 2 > outlen) {
        return -1;
    }
    snprintf(out, outlen, "+%s%s", cc, nsn);
    return 0;
}

int lead_phone_e164(const char *in, const char *country, char *out, size_t outlen)
{
    if (outlen > 0) {
        out[0] = '\0';
    }
    if (in == NULL || strlen(in) > LEAD_PHONE_INPUT_MAX || outlen == 0) {
        return -1;
    }
    const lead_country *home = lead_country_by_iso(country != NULL ? country : lead_cfg.country);
    if (home == NULL) {
        return -1;
    }
    char d[LEAD_PHONE_INPUT_MAX + 1];
    size_t nd = 0;
    int plus = 0;
    for (const char *p = in; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (isdigit(c)) {
            d[nd++] = (char)c;
        } else if (c == '+') {
            if (nd > 0 || plus) {
                return -1;
            }
            plus = 1;
        } else if (c == '(' && p[1] == '0' && p[2] == ')' && (plus || (nd >= 2 && d[0] == '0' && d[1] == '0'))) {
            p += 2; /* "+49 (0)30": the trunk prefix shown for national callers */
        } else if (!(c == ' ' || c == '-' || c == '.' || c == '/' || c == '(' || c == ')' || c == '\t')) {
            return -1;
        }
    }
    d[nd] = '\0';
    if (nd < 4) {
        return -1;
    }
    const char *intl = NULL;
    if (plus) {
        intl = d;
    } else if (strncmp(d, home->intl, strlen(home->intl)) == 0) {
        intl = d + strlen(home->intl);
    }
    char tmp[LEAD_E164_MAX];
    int rc;
    if (intl != NULL) {
        const lead_country *k = NULL;
        for (size_t i = 0; i < LEAD_NCOUNTRIES; i++) {
            if (strncmp(intl, lead_countries[i].cc, strlen(lead_countries[i].cc)) == 0) {
                k = &lead_countries[i];
                break;
            }
        }
        if (k == NULL) {
            /* a country we have no rules for: the digits as they are */
            if (intl[0] == '0' || strlen(intl) < 8 || strlen(intl) > 15) {
                return -1;
            }
            rc = snprintf(tmp, sizeof(tmp), "+%s", intl) < (int)sizeof(tmp) ? 0 : -1;
        } else {
            const char *nsn = intl + strlen(k->cc);
            if (k->trunk == '0' && nsn[0] == '0') {
                nsn++; /* "+49 030 ...": the trunk prefix written anyway */
            }
            rc = lead_e164_put(k, k->cc, nsn, tmp, sizeof(tmp));
        }
    } else if (home->trunk == '0') {
        if (d[0] != '0' || d[1] == '0') {
            return -1; /* no trunk prefix: a local number without its area code */
        }
        rc = lead_e164_put(home, home->cc, d + 1, tmp, sizeof(tmp));
    } else {
        const char *nsn = nd == 11 && d[0] == '1' ? d + 1 : nd == 10 ? d : NULL;
        if (nsn == NULL) {
            return -1;
        }
        rc = lead_e164_put(home, home->cc, nsn, tmp, sizeof(tmp));
    }
    if (rc != 0 || strlen(tmp) + 1 > outlen) {
        return -1;
    }
    memcpy(out, tmp, strlen(tmp) + 1);
    return 0;
}

/* ============================================================ company */

/* Providers whose second-level label is theirs under any top-level
 * domain (gmail.com, gmx.de, yahoo.co.uk, hotmail.fr, ...). */
static const char *const lead_freemail_labels[] = {
    "gmail",    "googlemail", "outlook",    "hotmail",  "live",       "msn",         "yahoo",     "ymail",
    "icloud",   "aol",        "gmx",        "yandex",   "proton",     "protonmail",  "zoho",      "posteo",
    "tutanota", "tuta",       "tutamail",   "fastmail", "mailbox",    "freenet",     "arcor",     "t-online",
    "hushmail", "mailfence",  "rocketmail", "lycos",    "rediffmail", "gmx-topmail", "startmail", "runbox",
};
/* Whole domains (and their subdomains) of providers whose label is also a
 * common word or someone else's elsewhere. */
static const char *const lead_freemail_domains[] = {
    "web.de",          "me.com",       "mac.com",     "mail.com",    "mail.ru",   "inbox.ru",       "list.ru",
    "bk.ru",           "pm.me",        "email.de",    "online.de",   "1und1.de",  "o2online.de",    "kabelmail.de",
    "vodafone.de",     "bluewin.ch",   "sunrise.ch",  "orange.fr",   "free.fr",   "laposte.net",    "sfr.fr",
    "wanadoo.fr",      "libero.it",    "virgilio.it", "qq.com",      "163.com",   "126.com",        "naver.com",
    "seznam.cz",       "wp.pl",        "o2.pl",       "interia.pl",  "onet.pl",   "rambler.ru",     "ukr.net",
    "chello.nl",       "ziggo.nl",     "kpnmail.nl",  "hetnet.nl",   "planet.nl", "btinternet.com", "sky.com",
    "virginmedia.com", "talktalk.net", "comcast.net", "verizon.net", "att.net",   "sbcglobal.net",  "cox.net",
    "inbox.com",       "aim.com",      "hey.com",     "duck.com",    "gmail.de",  "aon.at",         "chello.at",
};
/* Second-level labels under a two-letter country code that are a suffix,
 * not a name ("acme.co.uk"). */
static const char *const lead_suffix_labels[] = {"co",  "com", "org", "net", "ac", "gov",
                                                 "edu", "or",  "ltd", "plc", "gv"};
/* Reserved names (RFC 2606, RFC 6761): addresses that belong to nobody. */
static const char *const lead_reserved[] = {"example", "test", "invalid", "localhost", "local"};

static int lead_in(const char *s, size_t n, const char *const *list, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        if (strlen(list[i]) == n && strncmp(s, list[i], n) == 0) {
            return 1;
        }
    }
    return 0;
}
#define LEAD_IN(s, n, list) lead_in(s, n, list, sizeof(list) / sizeof(list[0]))

typedef struct lead_domain {
    char low[LEAD_DOMAIN_MAX];
    const char *label[LEAD_LABELS_MAX];
    size_t len[LEAD_LABELS_MAX];
    size_t n;
    int reg; /* index of the registrable label, -1 if none */
} lead_domain;

static int lead_domain_split(const char *domain, lead_domain *d)
{
    memset(d, 0, sizeof(*d));
    d->reg = -1;
    size_t n = strlen(domain);
    while (n > 0 && domain[n - 1] == '.') {
        n--;
    }
    if (n == 0 || n >= sizeof(d->low)) {
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        d->low[i] = (char)tolower((unsigned char)domain[i]);
    }
    const char *p = d->low;
    while (*p) {
        const char *e = strchr(p, '.');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == 0 || d->n == LEAD_LABELS_MAX) {
            return -1;
        }
        d->label[d->n] = p;
        d->len[d->n++] = len;
        p += len + (e != NULL);
    }
    if (d->n < 2) {
        return -1;
    }
    int suffix = 1;
    if (d->len[d->n - 1] == 2 && d->n >= 3 && LEAD_IN(d->label[d->n - 2], d->len[d->n - 2], lead_suffix_labels)) {
        suffix = 2;
    }
    d->reg = (int)d->n - 1 - suffix;
    return d->reg >= 0 ? 0 : -1;
}

static int lead_domain_free(const lead_domain *d)
{
    if (LEAD_IN(d->label[d->reg], d->len[d->reg], lead_freemail_labels) ||
        LEAD_IN(d->label[d->reg], d->len[d->reg], lead_reserved) ||
        LEAD_IN(d->label[d->n - 1], d->len[d->n - 1], lead_reserved)) {
        return 1;
    }
    for (size_t i = 0; i + 1 < d->n; i++) { /* the domain and each parent */
        const char *s = d->label[i];
        if (LEAD_IN(s, strlen(s), lead_freemail_domains)) {
            return 1;
        }
    }
    return 0;
}

int lead_freemail_domain(const char *domain)
{
    lead_domain d;
    if (domain == NULL || lead_domain_split(domain, &d) != 0) {
        return 0;
    }
    return lead_domain_free(&d);
}

int lead_company_from_email(const char *email, char *out, size_t outlen)
{
    if (outlen == 0) {
        return 0;
    }
    out[0] = '\0';
    lead_domain d;
    if (!lead_email_ok(email) || lead_domain_split(strchr(email, '@') + 1, &d) != 0 || lead_domain_free(&d)) {
        return 0;
    }
    const char *l = d.label[d.reg];
    size_t n = d.len[d.reg];
    int letters = 0;
    for (size_t i = 0; i < n; i++) {
        letters += isalpha((unsigned char)l[i]) != 0;
    }
    if (letters < 2 || n + 1 > outlen || n >= LEAD_COMPANY_GUESS_MAX || l[0] == '-' || strncmp(l, "xn--", 4) == 0) {
        return 0;
    }
    size_t k = 0;
    int start = 1;
    for (size_t i = 0; i < n; i++) {
        char c = l[i];
        if (c == '-') {
            if (!start) {
                out[k++] = ' ';
            }
            start = 1;
            continue;
        }
        out[k++] = start ? (char)toupper((unsigned char)c) : c;
        start = 0;
    }
    while (k > 0 && out[k - 1] == ' ') {
        k--;
    }
    out[k] = '\0';
    return k > 0;
}
