/*
 * config.h - typed, validated configuration read from the environment.
 *
 * Owns: a cfg object, built once by cfg_load()/cfg_load_from() from a
 * caller-supplied table of cfg_var descriptions.  The cfg owns private
 * copies of every name and value, so neither the table nor the environment
 * needs to outlive it.  Free it with cfg_free().
 *
 * Thread-safety: a loaded cfg is immutable, so any number of threads may
 * call the cfg_str/cfg_int/cfg_bool/cfg_is_set/cfg_print accessors on it
 * concurrently.  cfg_load() reads the environment with getenv() and must
 * not race with setenv()/putenv() in other threads (load at start-up).
 *
 * Rules applied by the loaders, in table order; the first problem stops
 * loading and is described in err, always starting with the variable name:
 *   - an empty string counts as unset; when the name is unset its alias
 *     (if any) is consulted; when both are unset the default applies;
 *   - defaults are validated exactly like given values (a bad default is a
 *     programming error and reported as "NAME (default): ...");
 *   - values longer than CFG_VALUE_MAX bytes are rejected;
 *   - values of CFG_SECRET variables never appear in messages or output.
 * Per type:
 *   CFG_STR          any text;
 *   CFG_INT          optional sign and decimal digits only, 64-bit, within
 *                    min..max unless both are 0;
 *   CFG_BOOL         1/0/true/false/yes/no/on/off, case-insensitive;
 *   CFG_ENUM         one of `choices` ("a|b|c"), case-insensitive; the value
 *                    is stored with the spelling used in `choices`;
 *   CFG_URL          scheme "://" rest, rest non-empty, scheme in `schemes`
 *                    ("a|b", case-insensitive) unless that is NULL;
 *   CFG_DURATION_MS  non-negative integer with optional unit ms/s/m/h
 *                    (none = ms), stored in milliseconds, within min..max
 *                    (milliseconds) unless both are 0.
 */
#ifndef CONFIG_H
#define CONFIG_H

#include <stddef.h>
#include <stdio.h>

#define CFG_VALUE_MAX 4096 /* longest accepted value, in bytes */
#define CFG_ERR_MAX 512    /* suggested size of the caller's err buffer */

typedef enum { CFG_STR, CFG_INT, CFG_BOOL, CFG_ENUM, CFG_URL, CFG_DURATION_MS } cfg_type;

#define CFG_REQUIRED 1u /* loading fails when unset and without default */
#define CFG_SECRET 2u   /* value shown as "****" by cfg_print/cfg_help */

typedef struct cfg_var {
    const char *name; /* environment variable */
    cfg_type type;
    const char *def;     /* default as text, NULL (or "") = none */
    unsigned flags;      /* CFG_REQUIRED | CFG_SECRET */
    const char *help;    /* one line */
    long long min, max;  /* CFG_INT / CFG_DURATION_MS bounds (inclusive);
                            both 0 = unbounded */
    const char *choices; /* CFG_ENUM: "offline|anthropic|openai" */
    const char *alias;   /* optional second accepted name; NULL */
    const char *schemes; /* CFG_URL: accepted schemes "tcp|ipc|inproc";
                            NULL = any scheme */
} cfg_var;

typedef struct cfg cfg; /* opaque; owns copies of all names and values */

/*
 * Read every variable of vars[0..nvars) with getenv() and validate it.
 * On success returns 0 and stores a new cfg in *out (caller frees it with
 * cfg_free).  On failure returns -1, sets *out to NULL and, when err is not
 * NULL and errlen > 0, writes a NUL-terminated message to err.
 */
int cfg_load(cfg **out, const cfg_var *vars, size_t nvars, char *err, size_t errlen);

/*
 * As cfg_load(), but values come from get(name, arg), which returns NULL
 * for unset.  The returned string is copied before the next call to get.
 */
int cfg_load_from(cfg **out, const cfg_var *vars, size_t nvars, const char *(*get)(const char *name, void *arg),
                  void *arg, char *err, size_t errlen);

/*
 * Accessors.  `name` is the variable's main name (not its alias).
 * cfg_str:    value as text (owned by c, valid until cfg_free), or NULL when
 *             unset and without default, or when name is unknown.
 * cfg_int:    CFG_INT value, or CFG_DURATION_MS value in milliseconds;
 *             0 when unset, unknown or of another type.
 * cfg_bool:   CFG_BOOL value as 1 or 0; 0 when unset, unknown or of
 *             another type.
 * cfg_is_set: 1 when the value came from the environment (name or alias),
 *             0 when it is the default, unset, or name is unknown.
 */
const char *cfg_str(const cfg *c, const char *name);

/*
 * Walks a list value ("https://a.test, https://b.test" or "a b,c"): items
 * are separated by commas and/or spaces.  Returns the next item (not
 * NUL-terminated) with its length in *len and moves *p past it, or NULL when
 * the list is over.  Start with *p = the value (NULL is an empty list).
 */
const char *cfg_list_next(const char **p, size_t *len);
long long cfg_int(const cfg *c, const char *name);
int cfg_bool(const cfg *c, const char *name);
int cfg_is_set(const cfg *c, const char *name);

/*
 * Write one "NAME=value" line per variable, in table order, for
 * --print-config.  Unset values print as "(unset)"; CFG_SECRET values as
 * "****"; the password of any "scheme://user:password@host" value is
 * replaced by "****" even when the variable is not secret.  Control
 * characters are written as \n, \t or \xNN so each variable is one line.
 */
void cfg_print(const cfg *c, FILE *out);

/*
 * Write an aligned table of the variables: name (with alias), default
 * ("-" for none; masked like cfg_print), help, then constraints such as
 * "[debug|info]" or "[1..65535]" and "(required)" / "(secret)".
 */
void cfg_help(const cfg_var *vars, size_t nvars, FILE *out);

/* Free c and everything it owns.  NULL is accepted. */
void cfg_free(cfg *c);

#endif /* CONFIG_H */
