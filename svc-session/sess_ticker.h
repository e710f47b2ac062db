/* sess_ticker.h: a background thread that runs one job periodically on
 * its own database connection (retention, notification delivery).
 *
 * The job runs once after first_delay_ms, then every interval_ms after the
 * end of the previous run. Start and stop from the main thread; the job
 * runs on the ticker's thread only, so its connection needs no lock. */
#ifndef SESS_TICKER_H
#define SESS_TICKER_H

#include <stdint.h>

#include "db.h"

typedef struct sess_ticker sess_ticker;

/* One run of the job. A long job checks sess_ticker_stopping between
 * steps so a stop is not held up. */
typedef void (*sess_tick_fn)(sess_ticker *t, db_conn *db, void *arg);

/* Starts the thread; name is the connection's application_name
 * ("svc-session/retention"). Returns 0, or -1 (nothing started). *out is
 * owned by the caller: sess_ticker_stop. */
int sess_ticker_start(sess_ticker **out, const char *name, const char *db_url, int64_t interval_ms,
                      int64_t first_delay_ms, sess_tick_fn fn, void *arg);

/* 1 once sess_ticker_stop was called (any thread). */
int sess_ticker_stopping(sess_ticker *t);

/* Wakes the thread, waits for the run in progress to end and frees
 * everything (the job's arg is the caller's). NULL is accepted. */
void sess_ticker_stop(sess_ticker *t);

#endif
