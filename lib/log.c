/*
 * log.c - structured JSON-lines logging (see log.h).
 *
 * Owns: g_prog and g_out (guarded by g_lock), g_min (atomic, read without
 * the lock so filtered-out messages are cheap) and the thread-local request
 * id tl_rid.  Lines are assembled on the caller's stack in a log_line of
 * LOG_LINE_MAX bytes and written under g_lock with one fwrite() + fflush().
 */
#include "log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "dynbuf.h"
#include "utf8.h"

#define LOG_TS_MAX 64               /* formatted timestamp buffer */
#define LOG_UNIT_MAX 8              /* longest escaped form of one character */
#define LOG_ELLIPSIS "\xE2\x80\xA6" /* U+2026, marks a cut string */
#define LOG_ELLIPSIS_LEN 3
#define LOG_REPLACEMENT "\xEF\xBF\xBD" /* U+FFFD, replaces bad UTF-8 */
#define LOG_TRUNC_MARK ",\"_truncated\":true"
/* Always kept free for LOG_TRUNC_MARK, the closing brace and the newline. */
#define LOG_TAIL_RESERVE 32
/* Room that must be left before another extra field is attempted. */
#define LOG_FIELD_MIN_ROOM (1 + (LOG_KEY_MAX + 2 + LOG_ELLIPSIS_LEN) + 1 + 16)

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static char g_prog[LOG_PROG_MAX + 1] = "unknown"; /* guarded by g_lock */
static FILE *g_out;                               /* guarded; NULL = stderr */
static atomic_int g_min = LOG_INFO;

static _Thread_local char tl_rid[LOG_RID_MAX + 1];

/* A line is a dynbuf over stack storage: no allocation while logging. */
typedef struct {
    char storage[LOG_LINE_MAX + 1]; /* + the NUL dynbuf keeps */
    dynbuf b;                       /* toobig: LOG_LINE_MAX - LOG_TAIL_RESERVE until ll_emit */
} log_line;

/* ---------------------------------------------------------------- UTF-8 */

/*
 * Largest length <= max of s[0..n) that does not split a well-formed
 * sequence and does not end in a sequence cut short by the end of input
 * (an ill-formed subpart elsewhere counts as one unit, as lib/utf8.c
 * decodes it).
 */
static size_t utf8_cut(const char *s, size_t n, size_t max)
{
    size_t i = 0;

    while (i < n) {
        uint32_t cp;
        size_t l = utf8_decode(s + i, n - i, &cp);
        unsigned char lead = (unsigned char)s[i];
        if (cp == UTF8_BAD && i + l == n && (l > 1 || (lead >= 0xC2 && lead <= 0xF4)))
            break; /* a sequence the end of input cut short */
        if (i + l > max)
            break;
        i += l;
    }
    return i;
}

/* Copy s into dst[cap + 1], cut to at most cap bytes on a UTF-8 boundary. */
static void copy_cut(char *dst, size_t cap, const char *s)
{
    size_t n = strnlen(s, cap + 4); /* +4: see a whole sequence at the cap */
    size_t k = utf8_cut(s, n, cap);

    memcpy(dst, s, k);
    dst[k] = '\0';
}

/* ------------------------------------------------------------ line building */

static void ll_init(log_line *l)
{
    dyn_init_fixed(&l->b, l->storage, sizeof l->storage);
    l->b.toobig = LOG_LINE_MAX - LOG_TAIL_RESERVE;
}

static size_t ll_room(const log_line *l)
{
    return dyn_room(&l->b);
}

/* Append raw bytes; callers only pass short literals that are budgeted. */
static int ll_raw(log_line *l, const char *s, size_t n)
{
    return dyn_add(&l->b, s, n);
}

static int ll_lit(log_line *l, const char *s)
{
    return ll_raw(l, s, strlen(s));
}

/*
 * Escaped form of the character at s[0] (n bytes available) into unit.
 * Returns the escaped length and sets *used to the input bytes consumed.
 */
static size_t json_unit(const char *s, size_t n, char unit[LOG_UNIT_MAX], size_t *used)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char c = (unsigned char)s[0];
    uint32_t cp;
    size_t l;

    *used = 1;
    switch (c) {
    case '"':
        memcpy(unit, "\\\"", 2);
        return 2;
    case '\\':
        memcpy(unit, "\\\\", 2);
        return 2;
    case '\n':
        memcpy(unit, "\\n", 2);
        return 2;
    case '\r':
        memcpy(unit, "\\r", 2);
        return 2;
    case '\t':
        memcpy(unit, "\\t", 2);
        return 2;
    case '\b':
        memcpy(unit, "\\b", 2);
        return 2;
    case '\f':
        memcpy(unit, "\\f", 2);
        return 2;
    default:
        break;
    }
    if (c < 0x20 || c == 0x7F) {
        memcpy(unit, "\\u00", 4);
        unit[4] = hex[c >> 4];
        unit[5] = hex[c & 0xF];
        return 6;
    }
    l = utf8_decode(s, n, &cp);
    if (cp == UTF8_BAD) {
        *used = l;
        memcpy(unit, LOG_REPLACEMENT, 3);
        return 3;
    }
    memcpy(unit, s, l);
    *used = l;
    return l;
}

/*
 * Append s[0..n) as a quoted JSON string whose escaped contents take at
 * most `max` bytes.  If they do not fit, or `cut` says the input was
 * already shortened, the contents end with an ellipsis.  Returns -1 (line
 * unchanged) when not even an empty string plus ellipsis fits.
 */
static int ll_jstr(log_line *l, const char *s, size_t n, size_t max, int cut)
{
    size_t room = ll_room(l);
    size_t out = 0;
    size_t i = 0;
    char *p;

    if (room < 2 + LOG_ELLIPSIS_LEN)
        return -1;
    if (max > room - 2 - LOG_ELLIPSIS_LEN)
        max = room - 2 - LOG_ELLIPSIS_LEN;
    p = l->b.data + l->b.len;
    p[out++] = '"';
    while (i < n) {
        char unit[LOG_UNIT_MAX];
        size_t used;
        size_t u = json_unit(s + i, n - i, unit, &used);
        if ((out - 1) + u > max) {
            cut = 1;
            break;
        }
        memcpy(p + out, unit, u);
        out += u;
        i += used;
    }
    if (cut) {
        memcpy(p + out, LOG_ELLIPSIS, LOG_ELLIPSIS_LEN);
        out += LOG_ELLIPSIS_LEN;
    }
    p[out++] = '"';
    l->b.len += out;
    l->b.data[l->b.len] = '\0';
    return 0;
}

static int is_reserved_key(const char *k)
{
    static const char *const reserved[] = {"ts", "level", "prog", "rid", "msg"};

    for (size_t i = 0; i < sizeof reserved / sizeof reserved[0]; i++)
        if (strcmp(k, reserved[i]) == 0)
            return 1;
    return 0;
}

/* ",\"key\":\"value\"" or value null; -1 (line unchanged) if it won't fit. */
static int ll_field(log_line *l, const char *key, const char *val)
{
    char kbuf[LOG_KEY_MAX + 2];
    size_t saved = dyn_len(&l->b);

    if (ll_room(l) < LOG_FIELD_MIN_ROOM)
        return -1;
    if (is_reserved_key(key)) {
        snprintf(kbuf, sizeof kbuf, "_%s", key);
        key = kbuf;
    }
    if (ll_lit(l, ",") != 0 ||
        ll_jstr(l, key, strnlen(key, LOG_KEY_MAX + 1), LOG_KEY_MAX, strnlen(key, LOG_KEY_MAX + 1) > LOG_KEY_MAX) != 0 ||
        ll_lit(l, ":") != 0)
        goto fail;
    if (val == NULL) {
        if (ll_lit(l, "null") != 0)
            goto fail;
    } else {
        size_t vn = strnlen(val, LOG_FIELD_MAX + 1);
        if (ll_jstr(l, val, vn, LOG_FIELD_MAX, 0) != 0)
            goto fail;
    }
    return 0;
fail:
    dyn_truncate(&l->b, saved);
    return -1;
}

static log_level level_norm(log_level lvl, log_level fallback)
{
    int v = (int)lvl;

    return (v < (int)LOG_DEBUG || v > (int)LOG_ERROR) ? fallback : lvl;
}

/* {"ts":..,"level":..,"prog":..[,"rid":..],"msg":.. */
static void ll_head(log_line *l, log_level lvl, const char *msg, size_t msglen, int cut)
{
    char prog[LOG_PROG_MAX + 1];
    char ts[LOG_TS_MAX];
    struct timespec now;
    struct tm tm;

    pthread_mutex_lock(&g_lock);
    memcpy(prog, g_prog, sizeof prog);
    pthread_mutex_unlock(&g_lock);

    if (clock_gettime(CLOCK_REALTIME, &now) != 0) {
        now.tv_sec = 0;
        now.tv_nsec = 0;
    }
    if (gmtime_r(&now.tv_sec, &tm) == NULL)
        memset(&tm, 0, sizeof tm);
    snprintf(ts, sizeof ts, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
             tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(now.tv_nsec / 1000000));

    /* The head is far below the cap (see LOG_*_MAX), so these all fit. */
    ll_lit(l, "{\"ts\":\"");
    ll_lit(l, ts);
    ll_lit(l, "\",\"level\":\"");
    ll_lit(l, log_level_name(lvl));
    ll_lit(l, "\",\"prog\":");
    ll_jstr(l, prog, strlen(prog), LOG_PROG_MAX * 6, 0);
    if (tl_rid[0] != '\0') {
        ll_lit(l, ",\"rid\":");
        ll_jstr(l, tl_rid, strlen(tl_rid), LOG_RID_MAX * 6, 0);
    }
    ll_lit(l, ",\"msg\":");
    ll_jstr(l, msg, msglen, LOG_MSG_MAX, cut);
}

/* Close the object and write it as one unit. */
static void ll_emit(log_line *l, int dropped)
{
    FILE *out;

    l->b.toobig = LOG_LINE_MAX; /* release the tail reserve */
    if (dropped)
        ll_lit(l, LOG_TRUNC_MARK);
    ll_lit(l, "}\n");

    pthread_mutex_lock(&g_lock);
    out = g_out != NULL ? g_out : stderr;
    (void)fwrite(dyn_str(&l->b), 1, dyn_len(&l->b), out);
    (void)fflush(out);
    pthread_mutex_unlock(&g_lock);
}

/* --------------------------------------------------------------- public API */

void log_init(const char *program, log_level min)
{
    pthread_mutex_lock(&g_lock);
    if (program == NULL || program[0] == '\0')
        program = "unknown";
    copy_cut(g_prog, LOG_PROG_MAX, program);
    pthread_mutex_unlock(&g_lock);
    atomic_store_explicit(&g_min, (int)level_norm(min, LOG_INFO), memory_order_relaxed);
}

void log_set_output(FILE *out)
{
    pthread_mutex_lock(&g_lock);
    g_out = out;
    pthread_mutex_unlock(&g_lock);
}

int log_level_parse(const char *s, log_level *out)
{
    static const struct {
        const char *name;
        log_level lvl;
    } names[] = {
        {"debug", LOG_DEBUG}, {"info", LOG_INFO}, {"warn", LOG_WARN}, {"warning", LOG_WARN}, {"error", LOG_ERROR},
    };

    if (s == NULL || out == NULL)
        return -1;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (strcasecmp(s, names[i].name) == 0) {
            *out = names[i].lvl;
            return 0;
        }
    }
    return -1;
}

const char *log_level_name(log_level l)
{
    switch (l) {
    case LOG_DEBUG:
        return "debug";
    case LOG_INFO:
        return "info";
    case LOG_WARN:
        return "warn";
    case LOG_ERROR:
        return "error";
    }
    return "unknown";
}

int log_enabled(log_level lvl)
{
    return (int)level_norm(lvl, LOG_ERROR) >= atomic_load_explicit(&g_min, memory_order_relaxed);
}

void log_set_request_id(const char *rid)
{
    if (rid == NULL)
        rid = "";
    copy_cut(tl_rid, LOG_RID_MAX, rid);
}

const char *log_request_id(void)
{
    return tl_rid;
}

void log_msg(log_level lvl, const char *fmt, ...)
{
    char msg[LOG_MSG_MAX + 1];
    log_line line;
    va_list ap;
    size_t n;
    int cut = 0;
    int r;

    if (!log_enabled(lvl))
        return;
    lvl = level_norm(lvl, LOG_ERROR);

    if (fmt == NULL) {
        msg[0] = '\0';
        r = 0;
    } else {
        va_start(ap, fmt);
        r = vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
    }
    if (r < 0) {
        snprintf(msg, sizeof msg, "(unformattable log message)");
        n = strlen(msg);
    } else if ((size_t)r > LOG_MSG_MAX) {
        n = utf8_cut(msg, LOG_MSG_MAX, LOG_MSG_MAX);
        cut = 1;
    } else {
        n = (size_t)r;
    }

    ll_init(&line);
    ll_head(&line, lvl, msg, n, cut);
    ll_emit(&line, 0);
}

void log_fields(log_level lvl, const char *msg, ...)
{
    log_line line;
    va_list ap;
    size_t n;
    int dropped = 0;

    if (!log_enabled(lvl))
        return;
    lvl = level_norm(lvl, LOG_ERROR);
    if (msg == NULL)
        msg = "";
    n = strnlen(msg, LOG_MSG_MAX + 1);

    ll_init(&line);
    ll_head(&line, lvl, msg, n, 0);

    va_start(ap, msg);
    for (;;) {
        const char *key = va_arg(ap, const char *);
        const char *val;
        if (key == NULL)
            break;
        val = va_arg(ap, const char *);
        if (!dropped && ll_field(&line, key, val) != 0)
            dropped = 1; /* keep consuming pairs up to the NULL */
    }
    va_end(ap);

    ll_emit(&line, dropped);
}
