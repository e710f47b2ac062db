/* turn_registry.c: every live turn by id (a hash table under one mutex), the
 * reference counts that free a turn, and housekeeping. Running turns are on
 * one list (MAX_TURNS bounds it; the sweep cancels those nobody has read for
 * the disconnect grace); a finished turn is trimmed to its event log and
 * moves to a second list, oldest first, dropped after TURN_RETAIN or sooner
 * while the finished turns hold more than TURN_RETAIN_BYTES, so a sustained
 * load never fills the registry with finished turns. At shutdown every
 * stream is ended. */
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

#include "retrieval.pb-c.h"
#include "session.pb-c.h"

#define TURN_BUCKETS 65536 /* chains stay short at 100,000s of retained turns */
#define TURN_SWEEP_BATCH 256

/* A doubly linked list of turns (through list_prev/list_next). */
typedef struct turn_list {
    turn *head, *tail;
    size_t n;
} turn_list;

static pthread_mutex_t reg_mtx = PTHREAD_MUTEX_INITIALIZER;
static turn *reg[TURN_BUCKETS];
static size_t reg_count;
static turn_list running, finished; /* finished: oldest first */
static size_t finished_bytes;

static void reg_publish_locked(void)
{
    metrics_turns_held(running.n, finished.n, finished_bytes);
}

static void list_push(turn_list *l, turn *t)
{
    t->list_next = NULL;
    t->list_prev = l->tail;
    if (l->tail != NULL) {
        l->tail->list_next = t;
    } else {
        l->head = t;
    }
    l->tail = t;
    l->n++;
}

static void list_unlink(turn_list *l, turn *t)
{
    if (t->list_prev != NULL) {
        t->list_prev->list_next = t->list_next;
    } else {
        l->head = t->list_next;
    }
    if (t->list_next != NULL) {
        t->list_next->list_prev = t->list_prev;
    } else {
        l->tail = t->list_prev;
    }
    t->list_prev = t->list_next = NULL;
    l->n--;
}

/* --- registry ------------------------------------------------------------ */

static unsigned turn_hash(const char *s)
{
    unsigned h = 2166136261u;
    for (; *s; s++) {
        h = (h ^ (unsigned char)*s) * 16777619u;
    }
    return h % TURN_BUCKETS;
}

int turn_registry_full(void)
{
    pthread_mutex_lock(&reg_mtx);
    int full = running.n >= turn_conf.max_turns;
    pthread_mutex_unlock(&reg_mtx);
    return full;
}

void turn_register(turn *t)
{
    pthread_mutex_lock(&reg_mtx);
    unsigned h = turn_hash(t->id);
    t->next_bucket = reg[h];
    reg[h] = t;
    reg_count++;
    t->registered = 1;
    list_push(&running, t);
    reg_publish_locked();
    pthread_mutex_unlock(&reg_mtx);
}

int turns_init(const turn_cfg *settings)
{
    turn_conf = *settings;
    return 0;
}

size_t turns_count(void)
{
    pthread_mutex_lock(&reg_mtx);
    size_t n = reg_count;
    pthread_mutex_unlock(&reg_mtx);
    return n;
}

void turn_ref(turn *t)
{
    pthread_mutex_lock(&t->mtx);
    t->refs++;
    pthread_mutex_unlock(&t->mtx);
}

static void turn_free(turn *t)
{
    free(t->message);
    free(t->log);
    free(t->ends);
    free(t->answer);
    for (size_t i = 0; i < sizeof(t->lead_strings) / sizeof(t->lead_strings[0]); i++) {
        free(t->lead_strings[i]);
    }
    free(t->lead_extra);
    if (t->begin) {
        protobuf_c_message_free_unpacked(&t->begin->base, NULL);
    }
    if (t->search) {
        protobuf_c_message_free_unpacked(&t->search->base, NULL);
    }
    pthread_mutex_destroy(&t->mtx);
    free(t);
}

void turn_unref(turn *t)
{
    pthread_mutex_lock(&t->mtx);
    int last = --t->refs == 0;
    pthread_mutex_unlock(&t->mtx);
    if (last) {
        turn_free(t);
    }
}

const char *turn_id(const turn *t)
{
    return t->id;
}

static void reg_remove_locked(turn *t)
{
    turn **pp = &reg[turn_hash(t->id)];
    while (*pp != NULL && *pp != t) {
        pp = &(*pp)->next_bucket;
    }
    if (*pp == t) {
        *pp = t->next_bucket;
        reg_count--;
        t->registered = 0;
        if (t->retired) {
            list_unlink(&finished, t);
            finished_bytes -= t->retained_bytes;
        } else {
            list_unlink(&running, t);
        }
        reg_publish_locked();
    }
}

/* Frees what only the running turn needed and trims the log (t->mtx held);
 * returns the bytes the turn still holds. */
static size_t turn_compact_locked(turn *t)
{
    free(t->message);
    t->message = NULL;
    free(t->answer);
    t->answer = NULL;
    for (size_t i = 0; i < sizeof(t->lead_strings) / sizeof(t->lead_strings[0]); i++) {
        free(t->lead_strings[i]);
        t->lead_strings[i] = NULL;
    }
    free(t->lead_extra);
    t->lead_extra = NULL;
    if (t->begin) {
        protobuf_c_message_free_unpacked(&t->begin->base, NULL);
        t->begin = NULL;
    }
    if (t->search) {
        protobuf_c_message_free_unpacked(&t->search->base, NULL);
        t->search = NULL;
    }
    if (t->log_len > 0 && t->log_len < t->log_cap) {
        char *l = realloc(t->log, t->log_len);
        if (l != NULL) {
            t->log = l;
            t->log_cap = t->log_len;
        }
    }
    if (t->nevents > 0 && t->nevents < t->ends_cap) {
        size_t *e = realloc(t->ends, t->nevents * sizeof(*e));
        if (e != NULL) {
            t->ends = e;
            t->ends_cap = t->nevents;
        }
    }
    return sizeof(*t) + t->log_cap + t->ends_cap * sizeof(*t->ends);
}

void turn_retire(turn *t)
{
    pthread_mutex_lock(&t->mtx);
    size_t bytes = turn_compact_locked(t);
    int refused = t->phase == TURN_BEGIN_REFUSED;
    pthread_mutex_unlock(&t->mtx);
    turn *drop[TURN_SWEEP_BATCH];
    size_t ndrop = 0;
    pthread_mutex_lock(&reg_mtx);
    if (t->registered && refused) {
        /* answered with a plain HTTP error (409, 429, ...): nothing to
         * resume, so nothing is kept */
        reg_remove_locked(t);
        drop[ndrop++] = t;
    } else if (t->registered && !t->retired) {
        list_unlink(&running, t);
        t->retired = 1;
        t->retained_bytes = bytes;
        list_push(&finished, t);
        finished_bytes += bytes;
        /* the oldest go first; the newest (t) always stays until its time */
        while (finished_bytes > turn_conf.retain_bytes && finished.head != t && ndrop < TURN_SWEEP_BATCH) {
            turn *old = finished.head;
            reg_remove_locked(old);
            drop[ndrop++] = old;
        }
        reg_publish_locked();
    }
    pthread_mutex_unlock(&reg_mtx);
    for (size_t i = 0; i < ndrop; i++) {
        turn_unref(drop[i]);
    }
}

void turns_retained(size_t *count, size_t *bytes)
{
    pthread_mutex_lock(&reg_mtx);
    *count = finished.n;
    *bytes = finished_bytes;
    pthread_mutex_unlock(&reg_mtx);
}

turn *turn_find(const char *id, const char *session_id)
{
    pthread_mutex_lock(&reg_mtx);
    turn *t = reg[turn_hash(id)];
    while (t != NULL && strcmp(t->id, id) != 0) {
        t = t->next_bucket;
    }
    if (t != NULL && strcmp(t->session_id, session_id) == 0) {
        turn_ref(t);
    } else {
        t = NULL;
    }
    pthread_mutex_unlock(&reg_mtx);
    return t;
}

/* --- the event log ------------------------------------------------------ */

void turns_sweep(int64_t now_ms)
{
    turn *cancel[TURN_SWEEP_BATCH];
    size_t ncancel = 0;
    pthread_mutex_lock(&reg_mtx);
    for (turn *t = running.head; t != NULL && ncancel < TURN_SWEEP_BATCH; t = t->list_next) {
        pthread_mutex_lock(&t->mtx);
        int orphan = !t->finished && t->nreaders == 0 && t->phase == TURN_STREAMING && t->detached_at_ms > 0 &&
                     now_ms - t->detached_at_ms >= turn_conf.disconnect_grace_ms && !t->cancel_requested;
        if (orphan) {
            t->cancel_requested = 1;
            if (t->step == ST_POLL && !t->cancel_sent) {
                t->cancel_sent = 1;
                t->refs++;
                cancel[ncancel++] = t;
            }
        }
        pthread_mutex_unlock(&t->mtx);
    }
    pthread_mutex_unlock(&reg_mtx);
    for (size_t i = 0; i < ncancel; i++) {
        log_info("turn %s: visitor gone; cancelling the generation", cancel[i]->id);
        turn_send_cancel(cancel[i]);
        turn_unref(cancel[i]);
    }
    /* Finished turns past TURN_RETAIN, oldest first, in batches (the unrefs
     * run without the registry's lock). */
    for (;;) {
        turn *drop[TURN_SWEEP_BATCH];
        size_t ndrop = 0;
        pthread_mutex_lock(&reg_mtx);
        while (finished.head != NULL && ndrop < TURN_SWEEP_BATCH) {
            turn *t = finished.head;
            pthread_mutex_lock(&t->mtx);
            int expired = now_ms - t->finished_at_ms >= turn_conf.retain_ms;
            pthread_mutex_unlock(&t->mtx);
            if (!expired) {
                break;
            }
            reg_remove_locked(t);
            drop[ndrop++] = t;
        }
        pthread_mutex_unlock(&reg_mtx);
        for (size_t i = 0; i < ndrop; i++) {
            turn_unref(drop[i]);
        }
        if (ndrop < TURN_SWEEP_BATCH) {
            break;
        }
    }
}

static _Atomic long gw_suspended;
void gw_suspended_add(int delta)
{
    gw_suspended += delta;
}
long gw_suspended_count(void)
{
    return gw_suspended;
}

void turns_finish_all(void)
{
    pthread_mutex_lock(&reg_mtx);
    for (unsigned b = 0; b < TURN_BUCKETS; b++) {
        for (turn *t = reg[b]; t != NULL; t = t->next_bucket) {
            size_t n = 0;
            pthread_mutex_lock(&t->mtx);
            if (!t->finished) {
                t->finished = 1;
                t->finished_at_ms = clock_mono_ms();
            }
            turn_reader **wake = turn_unpark_all_locked(t, &n);
            pthread_mutex_unlock(&t->mtx);
            turn_wake_all(wake, n);
        }
    }
    pthread_mutex_unlock(&reg_mtx);
}

void turns_shutdown(void)
{
    pthread_mutex_lock(&reg_mtx);
    for (unsigned b = 0; b < TURN_BUCKETS; b++) {
        while (reg[b] != NULL) {
            turn *t = reg[b];
            reg_remove_locked(t);
            pthread_mutex_unlock(&reg_mtx);
            turn_unref(t);
            pthread_mutex_lock(&reg_mtx);
        }
    }
    pthread_mutex_unlock(&reg_mtx);
}
