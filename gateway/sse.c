/* sse.c: see sse.h. sse_read and sse_free run on the HTTP thread; the
 * heartbeat thread wakes parked readers; sse_wake runs anywhere. */
#include "sse.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "log.h"
#include "metrics.h"
#include "respond.h"

#define SSE_BLOCK 4096 /* bytes copied per write; a per-stream buffer, so kept small */

static pthread_mutex_t sse_mtx = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t sse_cv = PTHREAD_COND_INITIALIZER; /* stop the heartbeat */
static sse_reader *sse_all;
static pthread_t sse_thread;
static int sse_running;
static int64_t sse_every_ms;

void sse_wake(sse_reader *r)
{
    MHD_resume_connection(r->conn);
}

/* The turn's park and wake callbacks: tr is the first member of an
 * sse_reader. */
static void sse_park_reader(turn_reader *tr)
{
    MHD_suspend_connection(((sse_reader *)tr)->conn);
}
static void sse_wake_reader(turn_reader *tr)
{
    sse_wake((sse_reader *)tr);
}

static ssize_t sse_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    sse_reader *r = cls;
    ssize_t n = turn_read(r->t, &r->tr, &r->off, buf, max, &r->tr.ping_due, &r->tr.parked);
    if (n > 0) {
        atomic_store_explicit(&r->tr.last_write_ms, clock_mono_ms(), memory_order_relaxed);
        return n;
    }
    if (n < 0) {
        return MHD_CONTENT_READER_END_OF_STREAM;
    }
    return 0; /* parked: the connection is suspended until an event */
}

/* The response is gone (stream ended or the client left). */
static void sse_free(void *cls)
{
    sse_reader *r = cls;
    pthread_mutex_lock(&sse_mtx);
    if (r->prev_all != NULL) {
        r->prev_all->next_all = r->next_all;
    } else {
        sse_all = r->next_all;
    }
    if (r->next_all != NULL) {
        r->next_all->prev_all = r->prev_all;
    }
    pthread_mutex_unlock(&sse_mtx);
    turn_detach(r->t, &r->tr);
    metrics_stream_open(-1);
    free(r);
}

enum MHD_Result sse_respond(struct MHD_Connection *conn, turn *t, size_t off, const char *origin)
{
    sse_reader *r = calloc(1, sizeof(*r));
    if (r == NULL) {
        return MHD_NO;
    }
    r->t = t;
    r->conn = conn;
    r->off = off;
    atomic_store_explicit(&r->tr.last_write_ms, clock_mono_ms(), memory_order_relaxed);
    r->tr.park = sse_park_reader;
    r->tr.wake = sse_wake_reader;
    struct MHD_Response *resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, SSE_BLOCK, sse_read, r, sse_free);
    if (resp == NULL) {
        free(r);
        return MHD_NO;
    }
    turn_attach(t, &r->tr);
    pthread_mutex_lock(&sse_mtx);
    r->next_all = sse_all;
    if (sse_all != NULL) {
        sse_all->prev_all = r;
    }
    sse_all = r;
    pthread_mutex_unlock(&sse_mtx);
    metrics_stream_open(1);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream; charset=utf-8");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    MHD_add_response_header(resp, "X-Accel-Buffering", "no");
    MHD_add_response_header(resp, "X-Turn-Id", turn_id(t));
    gw_security_headers(resp, NULL);
    if (origin != NULL) {
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        MHD_add_response_header(resp, "Access-Control-Expose-Headers", "X-Turn-Id");
        MHD_add_response_header(resp, MHD_HTTP_HEADER_VARY, "Origin");
    }
    enum MHD_Result ret = MHD_queue_response(conn, MHD_HTTP_OK, resp);
    MHD_destroy_response(resp);
    return ret;
}

static void *sse_heartbeat_main(void *arg)
{
    (void)arg;
    int64_t tick = sse_every_ms / 4;
    if (tick < 50) {
        tick = 50;
    }
    if (tick > 1000) {
        tick = 1000;
    }
    for (;;) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += tick / 1000;
        until.tv_nsec += (long)(tick % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_mutex_lock(&sse_mtx);
        if (sse_running) {
            pthread_cond_timedwait(&sse_cv, &sse_mtx, &until);
        }
        if (!sse_running) {
            pthread_mutex_unlock(&sse_mtx);
            break;
        }
        int64_t now = clock_mono_ms();
        /* Every due reader, every tick: a capped batch would starve the
         * readers at the end of the list of pings (and of the write that
         * reveals a vanished client). Resumed while holding sse_mtx: a
         * parked reader cannot be freed (its connection is suspended). */
        for (sse_reader *r = sse_all; r != NULL; r = r->next_all) {
            if (now - atomic_load_explicit(&r->tr.last_write_ms, memory_order_relaxed) >= sse_every_ms &&
                turn_heartbeat(r->t, &r->tr, now, sse_every_ms)) {
                sse_wake(r);
            }
        }
        pthread_mutex_unlock(&sse_mtx);
        turns_sweep(now);
    }
    return NULL;
}

int sse_init(int64_t heartbeat_ms)
{
    sse_every_ms = heartbeat_ms;
    sse_running = 1;
    if (pthread_create(&sse_thread, NULL, sse_heartbeat_main, NULL) != 0) {
        sse_running = 0;
        return -1;
    }
    return 0;
}

void sse_shutdown(void)
{
    pthread_mutex_lock(&sse_mtx);
    int was = sse_running;
    sse_running = 0;
    pthread_cond_broadcast(&sse_cv);
    pthread_mutex_unlock(&sse_mtx);
    if (was) {
        pthread_join(sse_thread, NULL);
    }
}
