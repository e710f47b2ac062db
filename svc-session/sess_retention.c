/* sess_retention.c: see sess_retention.h. */
#include "sess_retention.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "db.h"
#include "log.h"
#include "sess_store.h"

struct sess_retention {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv; /* on CLOCK_MONOTONIC */
    int stop;          /* under mu */
    db_conn *db;       /* used by the thread only */
    int64_t interval_ms, first_delay_ms;
};

static void sess_retention_deadline(struct timespec *ts, int64_t ms)
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
static int sess_retention_wait(sess_retention *r, int64_t ms)
{
    struct timespec until;
    sess_retention_deadline(&until, ms);
    pthread_mutex_lock(&r->mu);
    while (!r->stop) {
        if (pthread_cond_timedwait(&r->cv, &r->mu, &until) != 0) {
            break; /* timed out */
        }
    }
    int stop = r->stop;
    pthread_mutex_unlock(&r->mu);
    return stop;
}

static void sess_retention_run(sess_retention *r)
{
    PGconn *pg = db_ready(r->db);
    if (pg == NULL) {
        log_warn("retention: database not reachable, will retry: %s", r->db->error);
        return;
    }
    sess_sweep_counts n;
    sess_err e = {0};
    if (sess_store_sweep(pg, &n, &e) != RPC_OK) {
        log_warn("retention: %s", e.msg);
        return;
    }
    if (n.sessions > 0 || n.handoffs > 0) {
        char s[24], c[24], h[24];
        snprintf(s, sizeof(s), "%" PRId64, n.sessions);
        snprintf(c, sizeof(c), "%" PRId64, n.checkpoints);
        snprintf(h, sizeof(h), "%" PRId64, n.handoffs);
        log_fields(LOG_INFO, "retention: deleted expired data", "sessions", s, "checkpoints", c, "handoff_records", h,
                   NULL);
    } else {
        log_debug("retention: nothing expired");
    }
}

static void *sess_retention_main(void *arg)
{
    sess_retention *r = arg;
    int64_t wait = r->first_delay_ms;
    while (!sess_retention_wait(r, wait)) {
        sess_retention_run(r);
        wait = r->interval_ms;
    }
    return NULL;
}

int sess_retention_start(sess_retention **out, const char *db_url, int64_t interval_ms, int64_t first_delay_ms)
{
    *out = NULL;
    sess_retention *r = calloc(1, sizeof(*r));
    if (r == NULL) {
        return -1;
    }
    r->interval_ms = interval_ms;
    r->first_delay_ms = first_delay_ms;
    if (db_open(&r->db, db_url, "svc-session/retention") != 0 && r->db == NULL) {
        free(r);
        return -1;
    }
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&r->cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&r->mu, NULL);
    if (pthread_create(&r->thread, NULL, sess_retention_main, r) != 0) {
        pthread_cond_destroy(&r->cv);
        pthread_mutex_destroy(&r->mu);
        db_close(r->db);
        free(r);
        return -1;
    }
    *out = r;
    return 0;
}

void sess_retention_stop(sess_retention *r)
{
    if (r == NULL) {
        return;
    }
    pthread_mutex_lock(&r->mu);
    r->stop = 1;
    pthread_cond_signal(&r->cv);
    pthread_mutex_unlock(&r->mu);
    pthread_join(r->thread, NULL);
    pthread_cond_destroy(&r->cv);
    pthread_mutex_destroy(&r->mu);
    db_close(r->db);
    free(r);
}
