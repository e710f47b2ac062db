/* sess_retention.h: the background thread that enforces retention.
 *
 * One thread with its own database connection deletes expired sessions
 * (with their checkpoints, blobs and writes; messages and handoff records
 * by cascade) and expired handoff records: once shortly after start, then
 * every interval. Each run that deletes something logs how much. Start and
 * stop from the main thread. */
#ifndef SESS_RETENTION_H
#define SESS_RETENTION_H

#include <stdint.h>

typedef struct sess_retention sess_retention;

/* Starts the thread; the first sweep runs after first_delay_ms. Returns 0,
 * or -1 (nothing started). *out is owned by the caller:
 * sess_retention_stop. */
int sess_retention_start(sess_retention **out, const char *db_url, int64_t interval_ms, int64_t first_delay_ms);

/* Wakes the thread, waits for it (a sweep in progress finishes its
 * statement first) and frees everything. NULL is accepted. */
void sess_retention_stop(sess_retention *r);

#endif
