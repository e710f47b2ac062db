/* sess_ticker.c: see sess_ticker.h. */
#include "sess_ticker.h"

#include <pthread.h>
#include <stdlib.h>
#include <time.h>

struct sess_ticker {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv; /* on CLOCK_MONOTONIC */
    int stop;          /* under mu */
    db_conn *db;       /* used by the thread only */
    int64_t interval_ms, first_delay_ms;
    sess_tick_fn fn;
    void *arg;
};

static void ticker_deadline(struct timespec *ts, int64_t ms)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

/* Waits ms or until stopped; returns 1 when stopped. */
static int ticker_wait(sess_ticker *t, int64_t ms)
{
    struct timespec until;
    ticker_deadline(&until, ms);
    pthread_mutex_lock(&t->mu);
    while (!t->stop) {
        if (pthread_cond_timedwait(&t->cv, &t->mu, &until) != 0) {
            break; /* timed out */
        }
    }
    int stop = t->stop;
    pthread_mutex_unlock(&t->mu);
    return stop;
}

static void *ticker_main(void *arg)
{
    sess_ticker *t = arg;
    int64_t wait = t->first_delay_ms;
    while (!ticker_wait(t, wait)) {
        t->fn(t, t->db, t->arg);
        wait = t->interval_ms;
    }
    return NULL;
}

int sess_ticker_start(sess_ticker **out, const char *name, const char *db_url, int64_t interval_ms,
                      int64_t first_delay_ms, sess_tick_fn fn, void *arg)
{
    *out = NULL;
    sess_ticker *t = calloc(1, sizeof(*t));
    if (t == NULL) {
        return -1;
    }
    t->interval_ms = interval_ms;
    t->first_delay_ms = first_delay_ms;
    t->fn = fn;
    t->arg = arg;
    /* A database that is down now is retried by each run (db_ready). */
    if (db_open(&t->db, db_url, name) != 0 && t->db == NULL) {
        free(t);
        return -1;
    }
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&t->cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&t->mu, NULL);
    if (pthread_create(&t->thread, NULL, ticker_main, t) != 0) {
        pthread_cond_destroy(&t->cv);
        pthread_mutex_destroy(&t->mu);
        db_close(t->db);
        free(t);
        return -1;
    }
    *out = t;
    return 0;
}

int sess_ticker_stopping(sess_ticker *t)
{
    pthread_mutex_lock(&t->mu);
    int stop = t->stop;
    pthread_mutex_unlock(&t->mu);
    return stop;
}

void sess_ticker_stop(sess_ticker *t)
{
    if (t == NULL) {
        return;
    }
    pthread_mutex_lock(&t->mu);
    t->stop = 1;
    pthread_cond_signal(&t->cv);
    pthread_mutex_unlock(&t->mu);
    pthread_join(t->thread, NULL);
    pthread_cond_destroy(&t->cv);
    pthread_mutex_destroy(&t->mu);
    db_close(t->db);
    free(t);
}
