/* turn_log.c: a turn's event log. Every event the visitor should see is
 * appended as SSE text with ids 1, 2, ...; readers copy from the log and
 * park when they have read it all, and each new event wakes them. t->mtx
 * guards the log and the readers' park state. */
#include "turn.h"

#include <jansson.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "metrics.h"
#include "turn_int.h"

/* Unparks every parked reader of t (t->mtx held) and returns them in a new
 * array (*n of them) for the caller to wake once the lock is released;
 * NULL when there are none. */
turn_reader **turn_unpark_all_locked(turn *t, size_t *n)
{
    *n = 0;
    if (t->nreaders == 0) {
        return NULL;
    }
    turn_reader **w = malloc(t->nreaders * sizeof(*w));
    if (w == NULL) {
        return NULL; /* the heartbeat wakes them within an interval */
    }
    for (turn_reader *r = t->readers; r != NULL && *n < t->nreaders; r = r->next_in_turn) {
        if (r->parked) {
            r->parked = 0;
            w[(*n)++] = r;
        }
    }
    return w;
}

/* Appends one event (t->mtx held). Returns the parked readers to wake in
 * wake[] (count in *nwake). */
static void log_append_locked(turn *t, const char *event, json_t *data)
{
    char *json = json_dumps(data, JSON_COMPACT);
    json_decref(data);
    if (json == NULL) {
        return;
    }
    char head[64];
    int hn = snprintf(head, sizeof(head), "id: %zu\nevent: %s\ndata: ", t->nevents + 1, event);
    size_t need = (size_t)hn + strlen(json) + 2;
    if (t->log_len + need > TURN_LOG_MAX) {
        free(json);
        t->cancel_requested = 1; /* runaway answer: stop paying for it */
        return;
    }
    if (t->log_len + need > t->log_cap) {
        size_t cap = t->log_cap ? t->log_cap : 4096;
        while (cap < t->log_len + need) {
            cap *= 2;
        }
        char *l = realloc(t->log, cap);
        if (l == NULL) {
            free(json);
            return;
        }
        t->log = l;
        t->log_cap = cap;
    }
    if (t->nevents == t->ends_cap) {
        size_t cap = t->ends_cap ? t->ends_cap * 2 : 32;
        size_t *e = realloc(t->ends, cap * sizeof(*e));
        if (e == NULL) {
            free(json);
            return;
        }
        t->ends = e;
        t->ends_cap = cap;
    }
    memcpy(t->log + t->log_len, head, (size_t)hn);
    t->log_len += (size_t)hn;
    size_t jl = strlen(json);
    memcpy(t->log + t->log_len, json, jl);
    t->log_len += jl;
    t->log[t->log_len++] = '\n';
    t->log[t->log_len++] = '\n';
    t->ends[t->nevents++] = t->log_len;
    free(json);
}

void turn_wake_all(turn_reader **wake, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        wake[i]->wake(wake[i]);
    }
    free(wake);
}

/* Appends an event and wakes readers (takes the lock). */
void turn_emit(turn *t, const char *event, json_t *data)
{
    size_t n = 0;
    pthread_mutex_lock(&t->mtx);
    log_append_locked(t, event, data);
    turn_reader **wake = turn_unpark_all_locked(t, &n);
    pthread_mutex_unlock(&t->mtx);
    turn_wake_all(wake, n);
}

/* Marks the end of the stream; readers end after reading everything. */
void turn_finish(turn *t, metric_turn_outcome outcome)
{
    size_t n = 0;
    pthread_mutex_lock(&t->mtx);
    t->finished = 1;
    t->step = ST_FINISHED;
    t->finished_at_ms = clock_mono_ms();
    turn_reader **wake = turn_unpark_all_locked(t, &n);
    pthread_mutex_unlock(&t->mtx);
    turn_wake_all(wake, n);
    metrics_turn(outcome);
    turn_retire(t);
}

size_t turn_offset_after(turn *t, unsigned long last_id)
{
    pthread_mutex_lock(&t->mtx);
    size_t off = 0;
    if (last_id > 0) {
        off = last_id <= t->nevents ? t->ends[last_id - 1] : t->log_len;
    }
    pthread_mutex_unlock(&t->mtx);
    return off;
}

ssize_t turn_read(turn *t, turn_reader *r, size_t *off, char *buf, size_t max, int *ping_due, int *parked)
{
    ssize_t n;
    pthread_mutex_lock(&t->mtx);
    if (*off < t->log_len) {
        size_t k = t->log_len - *off;
        if (k > max) {
            k = max;
        }
        memcpy(buf, t->log + *off, k);
        *off += k;
        n = (ssize_t)k;
    } else if (t->finished) {
        n = -1;
    } else if (*ping_due) {
        static const char ping[] = ": ping\n\n";
        *ping_due = 0;
        size_t k = sizeof(ping) - 1 < max ? sizeof(ping) - 1 : max;
        memcpy(buf, ping, k);
        n = (ssize_t)k;
    } else {
        *parked = 1;
        r->park(r);
        n = 0;
    }
    pthread_mutex_unlock(&t->mtx);
    return n;
}

void turn_attach(turn *t, turn_reader *r)
{
    pthread_mutex_lock(&t->mtx);
    r->next_in_turn = t->readers;
    t->readers = r;
    t->nreaders++;
    t->refs++;
    pthread_mutex_unlock(&t->mtx);
}

void turn_detach(turn *t, turn_reader *r)
{
    pthread_mutex_lock(&t->mtx);
    turn_reader **pp = &t->readers;
    while (*pp != NULL && *pp != r) {
        pp = &(*pp)->next_in_turn;
    }
    if (*pp == r) {
        *pp = r->next_in_turn;
        t->nreaders--;
    }
    if (t->nreaders == 0 && !t->finished) {
        t->detached_at_ms = clock_mono_ms();
    }
    pthread_mutex_unlock(&t->mtx);
    turn_unref(t);
}

int turn_heartbeat(turn *t, turn_reader *r, int64_t now_ms, int64_t every_ms)
{
    int due = 0;
    pthread_mutex_lock(&t->mtx);
    if (r->parked && now_ms - atomic_load_explicit(&r->last_write_ms, memory_order_relaxed) >= every_ms) {
        r->parked = 0;
        r->ping_due = 1;
        due = 1;
    }
    pthread_mutex_unlock(&t->mtx);
    return due;
}

/* --- event payloads ----------------------------------------------------- */
