/*
 * log.h - structured JSON-lines logging.
 *
 * Owns: the process-wide log configuration (program name, minimum level,
 * output stream) and a per-thread request id.  Every call emits exactly one
 * line holding one JSON object:
 *
 *   {"ts":"2026-11-27T15:30:00.123Z","level":"info","prog":"svc",
 *    "rid":"<only when set>","msg":"...", <extra string fields>}
 *
 * All text is JSON-escaped; bytes that are not valid UTF-8 are replaced by
 * U+FFFD, so every line is valid JSON and valid UTF-8 whatever the input.
 * Over-long messages and field values are cut and end with U+2026 ("…").
 *
 * Thread-safety: every function may be called from any thread at any time.
 * A line is built on the caller's stack and written with a single fwrite()
 * plus fflush() under a mutex, so lines from different threads never
 * interleave.  The request id is thread-local.  Messages below the minimum
 * level are rejected by a single relaxed atomic load before any formatting.
 *
 * Ownership: the library copies every string it is given (program name,
 * request id); callers keep ownership of their buffers.  The FILE passed to
 * log_set_output() stays owned by the caller, who must not close it while it
 * is still the log output (switch back with log_set_output(NULL) first).
 */
#ifndef LOG_H
#define LOG_H

#include <stdio.h>

/* Caps, in bytes. */
#define LOG_LINE_MAX 8192  /* one whole output line, including the '\n' */
#define LOG_MSG_MAX 4096   /* "msg" text, before and after JSON escaping */
#define LOG_FIELD_MAX 1024 /* one extra field value, after JSON escaping */
#define LOG_KEY_MAX 64     /* one extra field key, after JSON escaping */
#define LOG_PROG_MAX 64    /* program name (longer names are truncated) */
#define LOG_RID_MAX 64     /* request id (longer ids are truncated) */

typedef enum { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR } log_level;

/*
 * Set the program name (copied, truncated to LOG_PROG_MAX bytes; NULL or ""
 * means "unknown") and the minimum level.  May be called again at any time.
 * Before the first call the name is "unknown" and the level LOG_INFO.
 */
void log_init(const char *program, log_level min);

/* Direct output to `out` (not owned); NULL restores the default, stderr. */
void log_set_output(FILE *out);

/*
 * Parse "debug", "info", "warn"/"warning" or "error", case-insensitively.
 * Returns 0 and sets *out, or -1 (leaving *out untouched) when s is NULL or
 * not a level name.
 */
int log_level_parse(const char *s, log_level *out);

/* "debug", "info", "warn" or "error"; "unknown" for any other value. */
const char *log_level_name(log_level l);

/* Nonzero when a message at `lvl` would currently be written. */
int log_enabled(log_level lvl);

/*
 * Set this thread's request id (copied into thread-local storage, truncated
 * to LOG_RID_MAX bytes without splitting a UTF-8 sequence).  NULL or ""
 * clears it.  Other threads are not affected.
 */
void log_set_request_id(const char *rid);

/*
 * This thread's request id, "" when none.  The pointer refers to
 * thread-local storage, valid until this thread's next log_set_request_id()
 * or its exit.
 */
const char *log_request_id(void);

/*
 * Write one line at `lvl` with a printf-style message.  Levels outside
 * LOG_DEBUG..LOG_ERROR are written as "error" so they are never lost.
 */
void log_msg(log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * Write one line with a plain (not printf) message and extra string fields
 * given as key, value pairs and terminated by a NULL key:
 *
 *   log_fields(LOG_INFO, "request done", "method", "GET", "path", p, NULL);
 *
 * A NULL value is written as JSON null.  A key equal to one of the standard
 * keys (ts, level, prog, rid, msg) is written with a leading '_' so the
 * object never holds duplicate keys.  Keys are cut at LOG_KEY_MAX and values
 * at LOG_FIELD_MAX; when the line cap is reached the remaining fields are
 * dropped and "_truncated":true is added.
 */
void log_fields(log_level lvl, const char *msg, ...) __attribute__((sentinel));

#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

#endif /* LOG_H */
