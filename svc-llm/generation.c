/* generation.c: see generation.h. */
#include "generation.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "encode.h"
#include "rpc_server.h"

/* The shared "" protobuf-c uses for unset strings: never freed. */
#define GEN_EMPTY ((char *)protobuf_c_empty_string)

typedef struct gen_waiter {
    Chat__Llm__PollReply_Closure done;
    void *cd;
    uint32_t after_seq;
    int64_t deadline_ms;
} gen_waiter;

struct gen {
    char id[GEN_ID_MAX];
    _Atomic int refs;
    pthread_mutex_t mu;
    gen *next; /* hash chain, under the table's lock */

    /* Under mu. Deltas are numbered seq = index + 1. */
    Chat__Llm__Delta *deltas;
    size_t n, cap;
    size_t text_bytes;
    int done, has_output, partial, retryable;
    rpc_code err;
    char stop_reason[LLM_STOP_MAX];
    char err_msg[LLM_ERR_MSG_MAX];
    char provider[GEN_PROVIDER_MAX];
    char model[LLM_MODEL_MAX];
    llm_usage usage;
    gen_waiter waiters[GEN_WAITERS_MAX];
    size_t nwaiters;
    int64_t timer_ms; /* when the pending poll timer fires; 0 = none. Every
                         waiter's deadline is at or after it. */
    int64_t touched_ms;
    int64_t done_delivered_ms; /* when a poll reply first carried the end; 0 = not yet */

    void *engine_slot; /* the engine thread's */
};

struct gen_table {
    pthread_mutex_t mu;
    gen **buckets;
    size_t nbuckets; /* a power of two */
    size_t count, max;
};

/* ================================================================ table */

int gen_table_new(gen_table **out, size_t max_generations)
{
    gen_table *t = calloc(1, sizeof(*t));
    if (t == NULL) {
        return -1;
    }
    t->max = max_generations;
    t->nbuckets = 1024;
    while (t->nbuckets < max_generations && t->nbuckets < (1u << 20)) {
        t->nbuckets *= 2;
    }
    t->buckets = calloc(t->nbuckets, sizeof(*t->buckets));
    if (t->buckets == NULL) {
        free(t);
        return -1;
    }
    pthread_mutex_init(&t->mu, NULL);
    *out = t;
    return 0;
}

void gen_table_free(gen_table *t)
{
    if (t == NULL) {
        return;
    }
    for (size_t i = 0; i < t->nbuckets; i++) {
        gen *g = t->buckets[i];
        while (g != NULL) {
            gen *next = g->next;
            g->nwaiters = 0; /* the server is gone: nobody to answer */
            gen_unref(g);
            g = next;
        }
    }
    free(t->buckets);
    pthread_mutex_destroy(&t->mu);
    free(t);
}

size_t gen_table_count(gen_table *t)
{
    pthread_mutex_lock(&t->mu);
    size_t n = t->count;
    pthread_mutex_unlock(&t->mu);
    return n;
}

static size_t gen_hash(const char *s)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ull;
    }
    return (size_t)h;
}

static void gen_random_id(char *out)
{
    unsigned char r[16] = {0};
    if (enc_random(r, sizeof(r)) != 0) {
        /* Never expected; still unique enough to not collide in a table. */
        uint64_t t = (uint64_t)clock_mono_us();
        memcpy(r, &t, sizeof(t));
    }
    /* 16 bytes = 128 bits -> 22 base64url characters. */
    enc_b64url(r, sizeof(r), out, GEN_RANDOM_CHARS + 1);
}

rpc_code gen_create(gen_table *t, const char *replica, const char *provider, const char *model, int64_t now_ms,
                    gen **out)
{
    *out = NULL;
    gen *g = calloc(1, sizeof(*g));
    if (g == NULL) {
        return RPC_RESOURCE_EXHAUSTED;
    }
    pthread_mutex_init(&g->mu, NULL);
    atomic_init(&g->refs, 2); /* the table's and the caller's */
    snprintf(g->provider, sizeof(g->provider), "%s", provider);
    snprintf(g->model, sizeof(g->model), "%s", model);
    g->touched_ms = now_ms;
    char rnd[GEN_RANDOM_CHARS + 1];

    pthread_mutex_lock(&t->mu);
    if (t->count >= t->max) {
        pthread_mutex_unlock(&t->mu);
        pthread_mutex_destroy(&g->mu);
        free(g);
        return RPC_RESOURCE_EXHAUSTED;
    }
    for (;;) {
        gen_random_id(rnd);
        snprintf(g->id, sizeof(g->id), "%.*s.%s", (int)(GEN_ID_MAX - GEN_RANDOM_CHARS - 2), replica, rnd);
        size_t b = gen_hash(g->id) & (t->nbuckets - 1);
        gen *x = t->buckets[b];
        while (x != NULL && strcmp(x->id, g->id) != 0) {
            x = x->next;
        }
        if (x == NULL) {
            g->next = t->buckets[b];
            t->buckets[b] = g;
            break;
        }
    }
    t->count++;
    pthread_mutex_unlock(&t->mu);
    *out = g;
    return RPC_OK;
}

gen *gen_find(gen_table *t, const char *id)
{
    if (id == NULL || strlen(id) >= GEN_ID_MAX) {
        return NULL;
    }
    pthread_mutex_lock(&t->mu);
    gen *g = t->buckets[gen_hash(id) & (t->nbuckets - 1)];
    while (g != NULL && strcmp(g->id, id) != 0) {
        g = g->next;
    }
    if (g != NULL) {
        gen_ref(g);
    }
    pthread_mutex_unlock(&t->mu);
    return g;
}

size_t gen_table_expire(gen_table *t, int64_t now_ms, int64_t ttl_ms, int64_t done_grace_ms, gen **out, size_t max)
{
    size_t k = 0;
    pthread_mutex_lock(&t->mu);
    for (size_t b = 0; b < t->nbuckets && k < max; b++) {
        gen **pp = &t->buckets[b];
        while (*pp != NULL && k < max) {
            gen *g = *pp;
            pthread_mutex_lock(&g->mu);
            int delivered = g->done_delivered_ms != 0 && now_ms - g->done_delivered_ms >= done_grace_ms;
            int idle = g->nwaiters == 0 && (delivered || now_ms - g->touched_ms >= ttl_ms);
            pthread_mutex_unlock(&g->mu);
            if (idle) {
                *pp = g->next;
                g->next = NULL;
                out[k++] = g;
                t->count--;
            } else {
                pp = &g->next;
            }
        }
    }
    pthread_mutex_unlock(&t->mu);
    return k;
}

static void gen_answer(gen *g, size_t w);

void gen_table_answer_waiters(gen_table *t)
{
    pthread_mutex_lock(&t->mu);
    for (size_t b = 0; b < t->nbuckets; b++) {
        for (gen *g = t->buckets[b]; g != NULL; g = g->next) {
            pthread_mutex_lock(&g->mu);
            while (g->nwaiters > 0) {
                gen_answer(g, 0);
            }
            pthread_mutex_unlock(&g->mu);
        }
    }
    pthread_mutex_unlock(&t->mu);
}

/* =========================================================== generation */

void gen_ref(gen *g)
{
    atomic_fetch_add(&g->refs, 1);
}

static void gen_free_string(char *s)
{
    if (s != NULL && s != GEN_EMPTY) {
        free(s);
    }
}

void gen_unref(gen *g)
{
    if (g == NULL || atomic_fetch_sub(&g->refs, 1) != 1) {
        return;
    }
    for (size_t i = 0; i < g->n; i++) {
        gen_free_string(g->deltas[i].text);
        gen_free_string(g->deltas[i].tool_name);
        gen_free_string(g->deltas[i].tool_input_json);
        gen_free_string(g->deltas[i].tool_call_id);
    }
    free(g->deltas);
    pthread_mutex_destroy(&g->mu);
    free(g);
}

const char *gen_id(const gen *g)
{
    return g->id;
}

void **gen_engine_slot(gen *g)
{
    return &g->engine_slot;
}

/* Builds the reply to a poll for the deltas after after_seq and calls its
 * closure. Under g->mu. */
static void gen_reply(gen *g, uint32_t after_seq, Chat__Llm__PollReply_Closure done, void *cd)
{
    Chat__Llm__PollReply r = CHAT__LLM__POLL_REPLY__INIT;
    Chat__Common__Usage u = CHAT__COMMON__USAGE__INIT;
    Chat__Llm__Delta *list[GEN_REPLY_DELTAS_MAX];
    size_t start = after_seq < g->n ? after_seq : g->n;
    size_t k = 0, bytes = 0;
    while (start + k < g->n && k < GEN_REPLY_DELTAS_MAX) {
        Chat__Llm__Delta *d = &g->deltas[start + k];
        size_t sz = strlen(d->text) + strlen(d->tool_input_json) + strlen(d->tool_name) + 16;
        if (k > 0 && bytes + sz > GEN_REPLY_BYTES_MAX) {
            break;
        }
        bytes += sz;
        list[k++] = d;
    }
    r.n_deltas = k;
    r.deltas = list;
    int all = start + k == g->n;
    r.done = g->done && all;
    if (r.done) {
        if (g->done_delivered_ms == 0) {
            g->done_delivered_ms = g->touched_ms; /* every caller stamps touched_ms first */
        }
        r.stop_reason = g->stop_reason;
        r.error_code = (Chat__Rpc__Code)g->err;
        r.error_message = g->err_msg;
        r.error_retryable = g->retryable;
        r.partial = g->partial;
    }
    r.provider = g->provider;
    u.input_tokens = g->usage.input_tokens;
    u.output_tokens = g->usage.output_tokens;
    u.cache_creation_input_tokens = g->usage.cache_creation_input_tokens;
    u.cache_read_input_tokens = g->usage.cache_read_input_tokens;
    u.provider = g->provider;
    u.model = g->model;
    r.usage = &u;
    done(&r, cd);
}

/* Answers waiter w and removes it. Under g->mu. */
static void gen_answer(gen *g, size_t w)
{
    gen_waiter x = g->waiters[w];
    g->waiters[w] = g->waiters[--g->nwaiters];
    g->touched_ms = clock_mono_ms();
    gen_reply(g, x.after_seq, x.done, x.cd);
}

/* After a new delta or the end: answer every poll that now has something. */
static void gen_wake(gen *g)
{
    for (size_t w = 0; w < g->nwaiters;) {
        if (g->done || g->n > g->waiters[w].after_seq) {
            gen_answer(g, w);
        } else {
            w++;
        }
    }
}

static char *gen_strdup(const char *s, size_t n)
{
    if (s == NULL || n == 0) {
        return GEN_EMPTY;
    }
    char *d = malloc(n + 1);
    if (d != NULL) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

/* Appends a delta; takes the strings (malloc'd or GEN_EMPTY). */
static int gen_push(gen *g, Chat__Llm__DeltaKind kind, char *text, char *name, char *json, char *call_id)
{
    size_t sz = strlen(text) + strlen(name) + strlen(json);
    int rv = -1;
    pthread_mutex_lock(&g->mu);
    if (g->done || g->n >= GEN_DELTAS_MAX || g->text_bytes + sz > GEN_TEXT_MAX) {
        goto out;
    }
    if (g->n == g->cap) {
        size_t cap = g->cap ? g->cap * 2 : 64;
        Chat__Llm__Delta *d = realloc(g->deltas, cap * sizeof(*d));
        if (d == NULL) {
            goto out;
        }
        g->deltas = d;
        g->cap = cap;
    }
    Chat__Llm__Delta *d = &g->deltas[g->n];
    chat__llm__delta__init(d);
    d->seq = (uint32_t)(g->n + 1);
    d->kind = kind;
    d->text = text;
    d->tool_name = name;
    d->tool_input_json = json;
    d->tool_call_id = call_id;
    text = name = json = call_id = NULL; /* owned by the delta now */
    g->n++;
    g->text_bytes += sz;
    if (kind != CHAT__LLM__DELTA_KIND__NOTICE) {
        g->has_output = 1;
    }
    gen_wake(g);
    rv = 0;
out:
    pthread_mutex_unlock(&g->mu);
    gen_free_string(text);
    gen_free_string(name);
    gen_free_string(json);
    gen_free_string(call_id);
    return rv;
}

static int gen_push_checked(gen *g, Chat__Llm__DeltaKind kind, char *text, char *name, char *json, char *call_id)
{
    if (text == NULL || name == NULL || json == NULL || call_id == NULL) {
        gen_free_string(text);
        gen_free_string(name);
        gen_free_string(json);
        gen_free_string(call_id);
        return -1;
    }
    return gen_push(g, kind, text, name, json, call_id);
}

int gen_add_text(gen *g, const char *s, size_t n)
{
    if (n == 0) {
        return gen_is_done(g) ? -1 : 0;
    }
    return gen_push_checked(g, CHAT__LLM__DELTA_KIND__TEXT, gen_strdup(s, n), GEN_EMPTY, GEN_EMPTY, GEN_EMPTY);
}

int gen_add_tool_call(gen *g, const char *id, const char *name, const char *input_json)
{
    return gen_push_checked(g, CHAT__LLM__DELTA_KIND__TOOL_CALL, GEN_EMPTY, gen_strdup(name, strlen(name)),
                            gen_strdup(input_json, strlen(input_json)), gen_strdup(id, id ? strlen(id) : 0));
}

int gen_add_notice(gen *g, const char *text)
{
    return gen_push_checked(g, CHAT__LLM__DELTA_KIND__NOTICE, gen_strdup(text, strlen(text)), GEN_EMPTY, GEN_EMPTY,
                            GEN_EMPTY);
}

int gen_has_output(gen *g)
{
    pthread_mutex_lock(&g->mu);
    int v = g->has_output;
    pthread_mutex_unlock(&g->mu);
    return v;
}

int gen_is_done(gen *g)
{
    pthread_mutex_lock(&g->mu);
    int v = g->done;
    pthread_mutex_unlock(&g->mu);
    return v;
}

void gen_set_provider(gen *g, const char *provider, const char *model)
{
    pthread_mutex_lock(&g->mu);
    snprintf(g->provider, sizeof(g->provider), "%s", provider);
    snprintf(g->model, sizeof(g->model), "%s", model);
    pthread_mutex_unlock(&g->mu);
}

void gen_set_usage(gen *g, const llm_usage *u)
{
    pthread_mutex_lock(&g->mu);
    g->usage = *u;
    pthread_mutex_unlock(&g->mu);
}

int gen_finish(gen *g, const char *stop_reason, rpc_code err, const char *err_msg, int retryable)
{
    pthread_mutex_lock(&g->mu);
    int was_running = !g->done;
    if (was_running) {
        g->done = 1;
        snprintf(g->stop_reason, sizeof(g->stop_reason), "%s", stop_reason);
        g->err = err;
        if (err != RPC_OK) {
            snprintf(g->err_msg, sizeof(g->err_msg), "%s", err_msg ? err_msg : "");
            g->retryable = retryable;
            g->partial = g->has_output;
        }
        gen_wake(g);
    }
    pthread_mutex_unlock(&g->mu);
    return was_running;
}

int gen_poll(gen *g, uint32_t after_seq, uint32_t wait_ms, int64_t now_ms, Chat__Llm__PollReply_Closure done,
             void *closure_data, int64_t *arm_ms)
{
    *arm_ms = 0;
    pthread_mutex_lock(&g->mu);
    g->touched_ms = now_ms;
    if (g->done || g->n > after_seq || wait_ms == 0 || g->nwaiters >= GEN_WAITERS_MAX) {
        gen_reply(g, after_seq, done, closure_data);
        pthread_mutex_unlock(&g->mu);
        return 0;
    }
    rpc_defer(closure_data);
    int64_t deadline = now_ms + wait_ms;
    g->waiters[g->nwaiters++] =
        (gen_waiter){.done = done, .cd = closure_data, .after_seq = after_seq, .deadline_ms = deadline};
    if (g->timer_ms == 0 || g->timer_ms > deadline) {
        g->timer_ms = deadline;
        *arm_ms = deadline;
    }
    pthread_mutex_unlock(&g->mu);
    return 1;
}

int64_t gen_poll_timeout(gen *g, int64_t now_ms)
{
    int64_t next = 0;
    pthread_mutex_lock(&g->mu);
    if (g->timer_ms != 0 && g->timer_ms <= now_ms) {
        g->timer_ms = 0; /* this is the pending timer (not an older one) */
    }
    for (size_t w = 0; w < g->nwaiters;) {
        if (g->waiters[w].deadline_ms <= now_ms) {
            gen_answer(g, w);
        } else {
            w++;
        }
    }
    if (g->timer_ms == 0 && g->nwaiters > 0) {
        next = g->waiters[0].deadline_ms;
        for (size_t w = 1; w < g->nwaiters; w++) {
            if (g->waiters[w].deadline_ms < next) {
                next = g->waiters[w].deadline_ms;
            }
        }
        g->timer_ms = next;
    }
    pthread_mutex_unlock(&g->mu);
    return next;
}
