/* turn_registry.c: every live turn by id (a hash table under one mutex), the
 * reference counts that free a turn, and housekeeping: finished turns are
 * dropped after TURN_RETAIN_MS, turns nobody reads are cancelled after the
 * disconnect grace, and at shutdown every stream is ended. */
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

#define TURN_BUCKETS 4096

static pthread_mutex_t reg_mtx = PTHREAD_MUTEX_INITIALIZER;
static turn *reg[TURN_BUCKETS];
static size_t reg_count;

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
    int full = reg_count >= turn_conf.max_turns;
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
    }
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
    turn *drop[256];
    size_t ndrop = 0;
    turn *cancel[256];
    size_t ncancel = 0;
    pthread_mutex_lock(&reg_mtx);
    for (unsigned b = 0; b < TURN_BUCKETS; b++) {
        for (turn *t = reg[b], *next; t != NULL; t = next) {
            next = t->next_bucket;
            pthread_mutex_lock(&t->mtx);
            int expired = t->finished && now_ms - t->finished_at_ms >= turn_conf.retain_ms;
            int orphan = !t->finished && t->nreaders == 0 && t->phase == TURN_STREAMING && t->detached_at_ms > 0 &&
                         now_ms - t->detached_at_ms >= turn_conf.disconnect_grace_ms && !t->cancel_requested;
            if (orphan) {
                t->cancel_requested = 1;
                if (t->step == ST_POLL && !t->cancel_sent && ncancel < 256) {
                    t->cancel_sent = 1;
                    t->refs++;
                    cancel[ncancel++] = t;
                }
            }
            pthread_mutex_unlock(&t->mtx);
            if (expired && ndrop < 256) {
                reg_remove_locked(t);
                drop[ndrop++] = t;
            }
        }
    }
    pthread_mutex_unlock(&reg_mtx);
    for (size_t i = 0; i < ncancel; i++) {
        log_info("turn %s: visitor gone; cancelling the generation", cancel[i]->id);
        turn_send_cancel(cancel[i]);
        turn_unref(cancel[i]);
    }
    for (size_t i = 0; i < ndrop; i++) {
        turn_unref(drop[i]);
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
