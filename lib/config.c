/*
 * config.c - typed, validated configuration from the environment
 * (see config.h).
 *
 * Owns: struct cfg and its entries (name and value copies on the heap).
 * A cfg is written only while cfg_load_from() builds it and is read-only
 * afterwards, so it needs no locking.  File-local helpers render values
 * for messages and listings with secrets and URL passwords masked.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dynbuf.h"

#define CFG_WHO_MAX 256       /* "NAME (via ALIAS)" prefix of a message */
#define CFG_SHOW_MAX 96       /* value text quoted inside an error message */
#define CFG_SCHEME_MAX 32     /* URL scheme quoted inside an error message */
#define CFG_HELP_DEF_SHOW 128 /* default text shown by cfg_help */
#define CFG_HELP_NOTE_MAX 512 /* constraint notes appended by cfg_help */
#define CFG_HELP_NAME_COL 40  /* widest name column before it overflows */
#define CFG_HELP_DEF_COL 32   /* widest default column before it overflows */
#define CFG_MASK "****"
#define CFG_UNSET "(unset)"

typedef struct {
    char *name;  /* copy of cfg_var.name */
    char *value; /* copy of the value (canonical for CFG_ENUM); NULL */
    cfg_type type;
    unsigned flags;
    int is_set;    /* value came from the environment */
    long long num; /* CFG_INT, CFG_DURATION_MS (ms), CFG_BOOL (0/1) */
} cfg_entry;

struct cfg {
    size_t n;
    cfg_entry *e;
};

/* Output to a FILE, or to a bounded buffer (a dynbuf over the caller's
 * array) that ends in "..." when cut. */
#define SK_CUT_MARK "..."

typedef struct {
    FILE *f;
    dynbuf b; /* toobig keeps room for SK_CUT_MARK; full once cut */
} sink;

/* ------------------------------------------------------------------ output */

static void sk_buf(sink *k, char *buf, size_t cap)
{
    k->f = NULL;
    memset(&k->b, 0, sizeof k->b);
    if (cap > 0)
        dyn_init_fixed(&k->b, buf, cap);
    if (cap < sizeof SK_CUT_MARK)
        k->b.full = 1; /* too small to say anything */
    else
        k->b.toobig = cap - sizeof SK_CUT_MARK;
}

/* Append one indivisible unit (a character or an escape). */
static void sk_put(sink *k, const char *s, size_t n)
{
    if (k->f != NULL) {
        fwrite(s, 1, n, k->f);
        return;
    }
    if (k->b.full)
        return;
    if (dyn_add(&k->b, s, n) != 0) { /* sets full: nothing more is added */
        k->b.toobig = k->b.cap - 1;
        dyn_adds(&k->b, SK_CUT_MARK);
        k->b.full = 1;
    }
}

static void sk_str(sink *k, const char *s)
{
    sk_put(k, s, strlen(s));
}

/* Length of a well-formed-looking UTF-8 sequence at s, or 0. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    size_t need;

    if (s[0] >= 0xC2 && s[0] <= 0xDF)
        need = 1;
    else if (s[0] >= 0xE0 && s[0] <= 0xEF)
        need = 2;
    else if (s[0] >= 0xF0 && s[0] <= 0xF4)
        need = 3;
    else
        return 0;
    if (need >= n)
        return 0;
    for (size_t i = 1; i <= need; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    return need + 1;
}

/*
 * Write s[0..n) with control characters and stray bytes escaped (\n, \t,
 * \r, \xNN); when `quote` is set, '"' and '\' are escaped as well.
 */
static void sk_escaped(sink *k, const char *s, size_t n, int quote)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;

    while (i < n) {
        char tmp[8];
        size_t l = 1;

        if (u[i] == '\n')
            sk_put(k, "\\n", 2);
        else if (u[i] == '\t')
            sk_put(k, "\\t", 2);
        else if (u[i] == '\r')
            sk_put(k, "\\r", 2);
        else if (quote && (u[i] == '"' || u[i] == '\\')) {
            tmp[0] = '\\';
            tmp[1] = (char)u[i];
            sk_put(k, tmp, 2);
        } else if (u[i] < 0x20 || u[i] == 0x7F) {
            snprintf(tmp, sizeof tmp, "\\x%02x", u[i]);
            sk_put(k, tmp, 4);
        } else if (u[i] < 0x80) {
            sk_put(k, s + i, 1);
        } else if ((l = utf8_len(u + i, n - i)) > 0) {
            sk_put(k, s + i, l);
        } else {
            l = 1;
            snprintf(tmp, sizeof tmp, "\\x%02x", u[i]);
            sk_put(k, tmp, 4);
        }
        i += l;
    }
}

/* ------------------------------------------------------------------- URLs */

/* Length of a valid "scheme" followed by "://" at the start of s, or 0. */
static size_t url_scheme_len(const char *s)
{
    size_t i = 0;

    if (!isalpha((unsigned char)s[0]))
        return 0;
    while (isalnum((unsigned char)s[i]) || s[i] == '+' || s[i] == '-' || s[i] == '.')
        i++;
    return strncmp(s + i, "://", 3) == 0 ? i : 0;
}

/*
 * Find a non-empty password in "scheme://user:password@host...".  Returns 1
 * and the span [*from, *to) of the password, or 0.
 */
static int url_password_span(const char *s, size_t *from, size_t *to)
{
    size_t sl = url_scheme_len(s);
    size_t a, end, at = 0, colon = 0;
    int have_at = 0;

    if (sl == 0)
        return 0;
    a = sl + 3;
    end = a + strcspn(s + a, "/?#");
    for (size_t i = a; i < end; i++) {
        if (s[i] == '@') {
            at = i;
            have_at = 1;
        }
    }
    if (!have_at)
        return 0;
    for (colon = a; colon < at && s[colon] != ':'; colon++)
        ;
    if (colon >= at || colon + 1 == at)
        return 0;
    *from = colon + 1;
    *to = at;
    return 1;
}

/* A value as it may be shown to people: secrets and passwords masked. */
static void sk_value(sink *k, const char *val, unsigned flags, int quote)
{
    size_t from, to;

    if (val == NULL) {
        sk_str(k, CFG_UNSET);
    } else if (flags & CFG_SECRET) {
        sk_str(k, CFG_MASK);
    } else if (url_password_span(val, &from, &to)) {
        sk_escaped(k, val, from, quote);
        sk_str(k, CFG_MASK);
        sk_escaped(k, val + to, strlen(val + to), quote);
    } else {
        sk_escaped(k, val, strlen(val), quote);
    }
}

/* ---------------------------------------------------------------- parsing */

static void set_err(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* 0 ok, -1 not an integer, -2 outside the 64-bit range. */
static int parse_int(const char *s, long long *out)
{
    const char *p = s;
    char *end;
    long long v;

    if (*p == '+' || *p == '-')
        p++;
    if (*p == '\0')
        return -1;
    for (const char *q = p; *q != '\0'; q++)
        if (!isdigit((unsigned char)*q))
            return -1;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno == ERANGE)
        return -2;
    if (*end != '\0')
        return -1;
    *out = v;
    return 0;
}

/* 0 ok, -1 malformed, -2 too large.  Units: none/ms, s, m, h. */
static int parse_duration(const char *s, long long *ms)
{
    static const struct {
        const char *unit;
        long long mult;
    } units[] = {
        {"", 1}, {"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000},
    };
    const char *p = s;
    long long v = 0;

    if (!isdigit((unsigned char)*p))
        return -1;
    for (; isdigit((unsigned char)*p); p++) {
        int d = *p - '0';
        if (v > (LLONG_MAX - d) / 10)
            return -2;
        v = v * 10 + d;
    }
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (strcasecmp(p, units[i].unit) == 0) {
            if (v > LLONG_MAX / units[i].mult)
                return -2;
            *ms = v * units[i].mult;
            return 0;
        }
    }
    return -1;
}

/* 0 ok (*out = 0/1), -1 not a boolean. */
static int parse_bool(const char *s, int *out)
{
    static const char *const yes[] = {"1", "true", "yes", "on"};
    static const char *const no[] = {"0", "false", "no", "off"};

    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = 1;
            return 0;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = 0;
            return 0;
        }
    }
    return -1;
}

/*
 * Find s (case-insensitively) in a "a|b|c" list.  Returns 1 and the span
 * of the matching item, or 0.
 */
static int list_find(const char *list, const char *s, size_t slen, const char **item, size_t *ilen)
{
    const char *p = list;

    for (;;) {
        size_t n = strcspn(p, "|");
        if (n == slen && n > 0 && strncasecmp(p, s, n) == 0) {
            *item = p;
            *ilen = n;
            return 1;
        }
        if (p[n] == '\0')
            return 0;
        p += n + 1;
    }
}

static int bounded(const cfg_var *v)
{
    return !(v->min == 0 && v->max == 0);
}

/*
 * Validate `val` for variable v and fill e->value / e->num.  `who` starts
 * every message.  Returns 0, or -1 with err set (or on allocation failure).
 */
static int check_value(const cfg_var *v, const char *who, const char *val, cfg_entry *e, char *err, size_t errlen)
{
    char show[CFG_SHOW_MAX];
    const char *keep = val; /* text to store */
    size_t keeplen = strlen(val);
    sink k;
    int r;

    sk_buf(&k, show, sizeof show);
    sk_value(&k, val, v->flags, 1);

    switch (v->type) {
    case CFG_STR:
        break;
    case CFG_INT:
        r = parse_int(val, &e->num);
        if (r == -1) {
            set_err(err, errlen, "%s: \"%s\" is not an integer", who, show);
            return -1;
        }
        if (r == -2) {
            set_err(err, errlen, "%s: \"%s\" is out of the 64-bit integer range", who, show);
            return -1;
        }
        if (bounded(v) && (e->num < v->min || e->num > v->max)) {
            if (v->flags & CFG_SECRET)
                set_err(err, errlen, "%s: value is out of range %lld..%lld", who, v->min, v->max);
            else
                set_err(err, errlen, "%s: %lld is out of range %lld..%lld", who, e->num, v->min, v->max);
            return -1;
        }
        break;
    case CFG_DURATION_MS:
        r = parse_duration(val, &e->num);
        if (r == -1) {
            set_err(err, errlen,
                    "%s: \"%s\" is not a duration (use e.g. 250ms, 15s, 2m, "
                    "1h or plain milliseconds)",
                    who, show);
            return -1;
        }
        if (r == -2) {
            set_err(err, errlen, "%s: \"%s\" is too long a duration", who, show);
            return -1;
        }
        if (bounded(v) && (e->num < v->min || e->num > v->max)) {
            if (v->flags & CFG_SECRET)
                set_err(err, errlen, "%s: value is out of range %lld..%lld ms", who, v->min, v->max);
            else
                set_err(err, errlen, "%s: \"%s\" (%lld ms) is out of range %lld..%lld ms", who, show, e->num, v->min,
                        v->max);
            return -1;
        }
        break;
    case CFG_BOOL: {
        int b;
        if (parse_bool(val, &b) != 0) {
            set_err(err, errlen,
                    "%s: \"%s\" is not a boolean (use "
                    "1|0|true|false|yes|no|on|off)",
                    who, show);
            return -1;
        }
        e->num = b;
        break;
    }
    case CFG_ENUM:
        if (!list_find(v->choices, val, keeplen, &keep, &keeplen)) {
            set_err(err, errlen, "%s: \"%s\" is not one of %s", who, show, v->choices);
            return -1;
        }
        break;
    case CFG_URL: {
        size_t sl = url_scheme_len(val);
        const char *item;
        size_t ilen;
        if (sl == 0 || val[sl + 3] == '\0') {
            set_err(err, errlen, "%s: \"%s\" is not a URL (expected scheme://...)", who, show);
            return -1;
        }
        if (v->schemes != NULL && !list_find(v->schemes, val, sl, &item, &ilen)) {
            set_err(err, errlen, "%s: scheme \"%.*s\" not accepted (use %s)", who,
                    (int)(sl < CFG_SCHEME_MAX ? sl : CFG_SCHEME_MAX), val, v->schemes);
            return -1;
        }
        break;
    }
    default:
        set_err(err, errlen, "%s: unknown type %d", who, (int)v->type);
        return -1;
    }

    e->value = strndup(keep, keeplen);
    if (e->value == NULL) {
        set_err(err, errlen, "%s: out of memory", who);
        return -1;
    }
    return 0;
}

/* Problems in the table itself (programming errors). */
static int check_decl(const cfg_var *vars, size_t i, char *err, size_t errlen)
{
    const cfg_var *v = &vars[i];

    if (v->name == NULL || v->name[0] == '\0') {
        set_err(err, errlen, "(variable #%zu): has no name", i);
        return -1;
    }
    for (size_t j = 0; j < i; j++) {
        if (strcmp(vars[j].name, v->name) == 0) {
            set_err(err, errlen, "%s: declared twice", v->name);
            return -1;
        }
    }
    if (v->type == CFG_ENUM && (v->choices == NULL || v->choices[0] == '\0')) {
        set_err(err, errlen, "%s: CFG_ENUM without choices", v->name);
        return -1;
    }
    if ((v->type == CFG_INT || v->type == CFG_DURATION_MS) && bounded(v) && v->min > v->max) {
        set_err(err, errlen, "%s: invalid bounds %lld..%lld", v->name, v->min, v->max);
        return -1;
    }
    return 0;
}

/* Value of one variable: given (name, then alias), default, or none. */
static int load_one(const cfg_var *v, cfg_entry *e, const char *(*get)(const char *, void *), void *arg, char *err,
                    size_t errlen)
{
    char who[CFG_WHO_MAX];
    const char *val = get(v->name, arg);
    int via_alias = 0;

    if ((val == NULL || val[0] == '\0') && v->alias != NULL && v->alias[0] != '\0') {
        val = get(v->alias, arg);
        via_alias = 1;
    }
    if (val != NULL && val[0] != '\0') {
        e->is_set = 1;
        if (via_alias)
            snprintf(who, sizeof who, "%s (via %s)", v->name, v->alias);
        else
            snprintf(who, sizeof who, "%s", v->name);
    } else if (v->def != NULL && v->def[0] != '\0') {
        val = v->def;
        snprintf(who, sizeof who, "%s (default)", v->name);
    } else if (v->flags & CFG_REQUIRED) {
        if (v->alias != NULL && v->alias[0] != '\0')
            set_err(err, errlen, "%s: required but not set (nor %s)", v->name, v->alias);
        else
            set_err(err, errlen, "%s: required but not set", v->name);
        return -1;
    } else {
        return 0; /* unset, no default: value stays NULL */
    }

    if (strnlen(val, CFG_VALUE_MAX + 1) > CFG_VALUE_MAX) {
        set_err(err, errlen, "%s: value is too long (more than %d bytes)", who, CFG_VALUE_MAX);
        return -1;
    }
    return check_value(v, who, val, e, err, errlen);
}

static const char *env_get(const char *name, void *arg)
{
    (void)arg;
    return getenv(name);
}

static const cfg_entry *find(const cfg *c, const char *name)
{
    if (c == NULL || name == NULL)
        return NULL;
    for (size_t i = 0; i < c->n; i++)
        if (strcmp(c->e[i].name, name) == 0)
            return &c->e[i];
    return NULL;
}

/* ------------------------------------------------------------- public API */

int cfg_load_from(cfg **out, const cfg_var *vars, size_t nvars, const char *(*get)(const char *name, void *arg),
                  void *arg, char *err, size_t errlen)
{
    cfg *c;

    set_err(err, errlen, "%s", "");
    if (out == NULL || get == NULL || (vars == NULL && nvars > 0)) {
        set_err(err, errlen, "cfg_load: invalid arguments");
        return -1;
    }
    *out = NULL;
    c = calloc(1, sizeof *c);
    if (c == NULL || (nvars > 0 && (c->e = calloc(nvars, sizeof *c->e)) == NULL)) {
        free(c);
        set_err(err, errlen, "cfg_load: out of memory");
        return -1;
    }
    for (size_t i = 0; i < nvars; i++) {
        cfg_entry *e = &c->e[i];
        if (check_decl(vars, i, err, errlen) != 0)
            goto fail;
        c->n = i + 1; /* entry i is now owned and freed by cfg_free */
        e->type = vars[i].type;
        e->flags = vars[i].flags;
        e->name = strdup(vars[i].name);
        if (e->name == NULL) {
            set_err(err, errlen, "%s: out of memory", vars[i].name);
            goto fail;
        }
        if (load_one(&vars[i], e, get, arg, err, errlen) != 0)
            goto fail;
    }
    *out = c;
    return 0;
fail:
    cfg_free(c);
    return -1;
}

int cfg_load(cfg **out, const cfg_var *vars, size_t nvars, char *err, size_t errlen)
{
    return cfg_load_from(out, vars, nvars, env_get, NULL, err, errlen);
}

const char *cfg_list_next(const char **p, size_t *len)
{
    const char *s = *p;

    if (s == NULL)
        return NULL;
    s += strspn(s, " ,");
    *len = strcspn(s, " ,");
    *p = s + *len;
    return *len > 0 ? s : NULL;
}

const char *cfg_str(const cfg *c, const char *name)
{
    const cfg_entry *e = find(c, name);

    return e != NULL ? e->value : NULL;
}

long long cfg_int(const cfg *c, const char *name)
{
    const cfg_entry *e = find(c, name);

    if (e == NULL || e->value == NULL || (e->type != CFG_INT && e->type != CFG_DURATION_MS))
        return 0;
    return e->num;
}

int cfg_bool(const cfg *c, const char *name)
{
    const cfg_entry *e = find(c, name);

    if (e == NULL || e->value == NULL || e->type != CFG_BOOL)
        return 0;
    return e->num != 0;
}

int cfg_is_set(const cfg *c, const char *name)
{
    const cfg_entry *e = find(c, name);

    return e != NULL && e->is_set;
}

void cfg_print(const cfg *c, FILE *out)
{
    sink k = {.f = out};

    if (c == NULL || out == NULL)
        return;
    for (size_t i = 0; i < c->n; i++) {
        fputs(c->e[i].name, out);
        fputc('=', out);
        sk_value(&k, c->e[i].value, c->e[i].flags, 0);
        fputc('\n', out);
    }
}

/* Constraints and flags appended to a help line. */
static void help_notes(const cfg_var *v, char *buf, size_t cap)
{
    sink k;
    char tmp[96];

    sk_buf(&k, buf, cap);
    if (v->type == CFG_ENUM && v->choices != NULL) {
        sk_str(&k, " [");
        sk_str(&k, v->choices);
        sk_str(&k, "]");
    } else if (v->type == CFG_BOOL) {
        sk_str(&k, " [bool]");
    } else if (v->type == CFG_URL && v->schemes != NULL) {
        sk_str(&k, " [URL: ");
        sk_str(&k, v->schemes);
        sk_str(&k, "]");
    } else if ((v->type == CFG_INT || v->type == CFG_DURATION_MS) && bounded(v)) {
        snprintf(tmp, sizeof tmp, " [%lld..%lld%s]", v->min, v->max, v->type == CFG_DURATION_MS ? " ms" : "");
        sk_str(&k, tmp);
    } else if (v->type == CFG_DURATION_MS) {
        sk_str(&k, " [duration]");
    }
    if (v->alias != NULL && v->alias[0] != '\0') {
        sk_str(&k, " (alias ");
        sk_str(&k, v->alias);
        sk_str(&k, ")");
    }
    if (v->flags & CFG_REQUIRED)
        sk_str(&k, " (required)");
    if (v->flags & CFG_SECRET)
        sk_str(&k, " (secret)");
}

static void help_default(const cfg_var *v, char *buf, size_t cap)
{
    sink k;

    sk_buf(&k, buf, cap);
    if (v->def == NULL || v->def[0] == '\0')
        sk_str(&k, "-");
    else
        sk_value(&k, v->def, v->flags, 0);
}

void cfg_help(const cfg_var *vars, size_t nvars, FILE *out)
{
    char def[CFG_HELP_DEF_SHOW];
    char notes[CFG_HELP_NOTE_MAX];
    size_t wname = strlen("VARIABLE");
    size_t wdef = strlen("DEFAULT");

    if (out == NULL || (vars == NULL && nvars > 0))
        return;
    for (size_t i = 0; i < nvars; i++) {
        size_t n = vars[i].name != NULL ? strlen(vars[i].name) : 0;
        if (n > wname)
            wname = n < CFG_HELP_NAME_COL ? n : CFG_HELP_NAME_COL;
        help_default(&vars[i], def, sizeof def);
        n = strlen(def);
        if (n > wdef)
            wdef = n < CFG_HELP_DEF_COL ? n : CFG_HELP_DEF_COL;
    }
    fprintf(out, "%-*s  %-*s  %s\n", (int)wname, "VARIABLE", (int)wdef, "DEFAULT", "DESCRIPTION");
    for (size_t i = 0; i < nvars; i++) {
        const cfg_var *v = &vars[i];
        help_default(v, def, sizeof def);
        help_notes(v, notes, sizeof notes);
        fprintf(out, "%-*s  %-*s  %s%s\n", (int)wname, v->name != NULL ? v->name : "?", (int)wdef, def,
                v->help != NULL ? v->help : "", notes);
    }
}

void cfg_free(cfg *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < c->n; i++) {
        free(c->e[i].name);
        free(c->e[i].value);
    }
    free(c->e);
    free(c);
}
