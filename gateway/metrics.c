/* metrics.c: see metrics.h. */
#include "metrics.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

static const char *const route_names[MR_COUNT] = {"sessions", "chat",  "resume", "messages",
                                                  "erase",    "leads", "health", "other"};
static const unsigned status_classes[] = {200, 204, 400, 401, 403, 404, 405, 409, 413, 415, 429, 500, 503};
#define NSTATUS (sizeof(status_classes) / sizeof(status_classes[0]))
static const char *const outcome_names[MT_OUTCOME_COUNT] = {"ok", "error", "cancelled", "rejected"};
static const char *const service_names[MS_COUNT] = {"session", "retrieval", "llm", "indexer"};
static const double ttft_buckets[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
#define NBUCKETS (sizeof(ttft_buckets) / sizeof(ttft_buckets[0]))

static _Atomic uint64_t m_requests[MR_COUNT][NSTATUS + 1];
static _Atomic uint64_t m_turns[MT_OUTCOME_COUNT];
static _Atomic uint64_t m_ttft[NBUCKETS + 1];
static _Atomic uint64_t m_ttft_sum_us, m_ttft_count;
static _Atomic uint64_t m_tokens_in, m_tokens_out;
static _Atomic uint64_t m_upstream[MS_COUNT];
static _Atomic long m_streams;
static _Atomic size_t m_turns_running, m_turns_finished, m_turns_finished_bytes;

void metrics_request(metric_route route, unsigned status)
{
    size_t i = 0;
    while (i < NSTATUS && status_classes[i] != status) {
        i++;
    }
    atomic_fetch_add_explicit(&m_requests[route][i], 1, memory_order_relaxed);
}

void metrics_turn(metric_turn_outcome o)
{
    atomic_fetch_add_explicit(&m_turns[o], 1, memory_order_relaxed);
}

void metrics_ttft_us(int64_t us)
{
    double s = (double)us / 1e6;
    size_t i = 0;
    while (i < NBUCKETS && s > ttft_buckets[i]) {
        i++;
    }
    atomic_fetch_add_explicit(&m_ttft[i], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&m_ttft_sum_us, (uint64_t)(us > 0 ? us : 0), memory_order_relaxed);
    atomic_fetch_add_explicit(&m_ttft_count, 1, memory_order_relaxed);
}

void metrics_tokens(uint64_t input, uint64_t output)
{
    atomic_fetch_add_explicit(&m_tokens_in, input, memory_order_relaxed);
    atomic_fetch_add_explicit(&m_tokens_out, output, memory_order_relaxed);
}

/* Per provider and model: names are set once under m_models_mu, then read
 * without it (m_models_n is published after the slot is filled). */
#define METRICS_LABEL_MAX 64
typedef struct metrics_model {
    char provider[METRICS_LABEL_MAX], model[METRICS_LABEL_MAX];
    _Atomic uint64_t in, out, cost_micros, turns;
} metrics_model;
static metrics_model m_models[METRICS_MODELS_MAX + 1]; /* the last: "other" */
static _Atomic size_t m_models_n;
static pthread_mutex_t m_models_mu = PTHREAD_MUTEX_INITIALIZER;

/* A label value: [A-Za-z0-9._-] kept, anything else '_'. */
static void metrics_label(char out[METRICS_LABEL_MAX], const char *s)
{
    size_t n = 0;
    for (const char *p = s ? s : ""; *p && n + 1 < METRICS_LABEL_MAX; p++) {
        char c = *p;
        out[n++] = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-' ||
                           c == '_'
                       ? c
                       : '_';
    }
    out[n] = '\0';
}

static metrics_model *metrics_model_slot(const char *provider, const char *model)
{
    char p[METRICS_LABEL_MAX], m[METRICS_LABEL_MAX];
    metrics_label(p, provider);
    metrics_label(m, model);
    size_t n = atomic_load_explicit(&m_models_n, memory_order_acquire);
    for (size_t i = 0; i < n; i++) {
        if (strcmp(m_models[i].provider, p) == 0 && strcmp(m_models[i].model, m) == 0) {
            return &m_models[i];
        }
    }
    pthread_mutex_lock(&m_models_mu);
    n = atomic_load_explicit(&m_models_n, memory_order_relaxed);
    metrics_model *slot = NULL;
    for (size_t i = 0; i < n && slot == NULL; i++) {
        if (strcmp(m_models[i].provider, p) == 0 && strcmp(m_models[i].model, m) == 0) {
            slot = &m_models[i];
        }
    }
    if (slot == NULL && n < METRICS_MODELS_MAX) {
        slot = &m_models[n];
        memcpy(slot->provider, p, sizeof(p));
        memcpy(slot->model, m, sizeof(m));
        atomic_store_explicit(&m_models_n, n + 1, memory_order_release);
    }
    pthread_mutex_unlock(&m_models_mu);
    return slot != NULL ? slot : &m_models[METRICS_MODELS_MAX];
}

void metrics_model_usage(const char *provider, const char *model, uint64_t input, uint64_t output, int64_t cost_micros)
{
    metrics_model *s = metrics_model_slot(provider, model);
    atomic_fetch_add_explicit(&s->in, input, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->out, output, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->cost_micros, cost_micros > 0 ? (uint64_t)cost_micros : 0, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->turns, 1, memory_order_relaxed);
}

static void metrics_render_models(FILE *f)
{
    fprintf(f, "# HELP chat_model_tokens_total Model tokens of committed turns by provider, model and direction.\n"
               "# TYPE chat_model_tokens_total counter\n");
    size_t n = atomic_load_explicit(&m_models_n, memory_order_acquire);
    for (size_t i = 0; i <= METRICS_MODELS_MAX; i++) {
        if (i >= n && i != METRICS_MODELS_MAX) {
            continue;
        }
        const metrics_model *s = &m_models[i];
        const char *p = i == METRICS_MODELS_MAX ? "other" : s->provider,
                   *m = i == METRICS_MODELS_MAX ? "other" : s->model;
        fprintf(f, "chat_model_tokens_total{provider=\"%s\",model=\"%s\",direction=\"input\"} %llu\n", p, m,
                (unsigned long long)atomic_load(&s->in));
        fprintf(f, "chat_model_tokens_total{provider=\"%s\",model=\"%s\",direction=\"output\"} %llu\n", p, m,
                (unsigned long long)atomic_load(&s->out));
    }
    fprintf(
        f, "# HELP chat_model_cost_total What committed turns cost by provider and model (MODEL_PRICES of svc-session, "
           "in COST_CURRENCY).\n# TYPE chat_model_cost_total counter\n");
    for (size_t i = 0; i <= METRICS_MODELS_MAX; i++) {
        if (i >= n && i != METRICS_MODELS_MAX) {
            continue;
        }
        const metrics_model *s = &m_models[i];
        fprintf(f, "chat_model_cost_total{provider=\"%s\",model=\"%s\"} %.6f\n",
                i == METRICS_MODELS_MAX ? "other" : s->provider, i == METRICS_MODELS_MAX ? "other" : s->model,
                (double)atomic_load(&s->cost_micros) / 1e6);
    }
}

void metrics_upstream_error(metric_service svc)
{
    atomic_fetch_add_explicit(&m_upstream[svc], 1, memory_order_relaxed);
}

void metrics_stream_open(int delta)
{
    atomic_fetch_add_explicit(&m_streams, delta, memory_order_relaxed);
}

void metrics_turns_held(size_t running, size_t finished, size_t finished_bytes)
{
    atomic_store_explicit(&m_turns_running, running, memory_order_relaxed);
    atomic_store_explicit(&m_turns_finished, finished, memory_order_relaxed);
    atomic_store_explicit(&m_turns_finished_bytes, finished_bytes, memory_order_relaxed);
}

long metrics_streams_open(void)
{
    return atomic_load(&m_streams);
}

char *metrics_render(size_t *len)
{
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    if (f == NULL) {
        return NULL;
    }
    fprintf(f, "# HELP chat_http_requests_total HTTP requests by route and status.\n"
               "# TYPE chat_http_requests_total counter\n");
    for (int r = 0; r < MR_COUNT; r++) {
        for (size_t s = 0; s <= NSTATUS; s++) {
            uint64_t v = atomic_load(&m_requests[r][s]);
            if (v == 0) {
                continue;
            }
            if (s < NSTATUS) {
                fprintf(f, "chat_http_requests_total{route=\"%s\",code=\"%u\"} %llu\n", route_names[r],
                        status_classes[s], (unsigned long long)v);
            } else {
                fprintf(f, "chat_http_requests_total{route=\"%s\",code=\"other\"} %llu\n", route_names[r],
                        (unsigned long long)v);
            }
        }
    }
    fprintf(f, "# HELP chat_turns_total Chat turns by outcome.\n# TYPE chat_turns_total counter\n");
    for (int o = 0; o < MT_OUTCOME_COUNT; o++) {
        fprintf(f, "chat_turns_total{outcome=\"%s\"} %llu\n", outcome_names[o],
                (unsigned long long)atomic_load(&m_turns[o]));
    }
    fprintf(f, "# HELP chat_time_to_first_token_seconds From request to the first token event.\n"
               "# TYPE chat_time_to_first_token_seconds histogram\n");
    uint64_t cum = 0;
    for (size_t i = 0; i < NBUCKETS; i++) {
        cum += atomic_load(&m_ttft[i]);
        fprintf(f, "chat_time_to_first_token_seconds_bucket{le=\"%g\"} %llu\n", ttft_buckets[i],
                (unsigned long long)cum);
    }
    cum += atomic_load(&m_ttft[NBUCKETS]);
    fprintf(f, "chat_time_to_first_token_seconds_bucket{le=\"+Inf\"} %llu\n", (unsigned long long)cum);
    fprintf(f, "chat_time_to_first_token_seconds_sum %.6f\n", (double)atomic_load(&m_ttft_sum_us) / 1e6);
    fprintf(f, "chat_time_to_first_token_seconds_count %llu\n", (unsigned long long)atomic_load(&m_ttft_count));
    fprintf(f, "# HELP chat_tokens_total Model tokens by direction.\n# TYPE chat_tokens_total counter\n");
    fprintf(f, "chat_tokens_total{direction=\"input\"} %llu\n", (unsigned long long)atomic_load(&m_tokens_in));
    fprintf(f, "chat_tokens_total{direction=\"output\"} %llu\n", (unsigned long long)atomic_load(&m_tokens_out));
    metrics_render_models(f);
    fprintf(f, "# HELP chat_upstream_errors_total Failed calls to services.\n"
               "# TYPE chat_upstream_errors_total counter\n");
    for (int s = 0; s < MS_COUNT; s++) {
        fprintf(f, "chat_upstream_errors_total{service=\"%s\"} %llu\n", service_names[s],
                (unsigned long long)atomic_load(&m_upstream[s]));
    }
    fprintf(f, "# HELP chat_open_streams SSE streams open now.\n# TYPE chat_open_streams gauge\n");
    fprintf(f, "chat_open_streams %ld\n", atomic_load(&m_streams));
    fprintf(f,
            "# HELP chat_turns_running Turns running now (MAX_TURNS bounds them).\n"
            "# TYPE chat_turns_running gauge\nchat_turns_running %zu\n",
            atomic_load(&m_turns_running));
    fprintf(f,
            "# HELP chat_turns_retained Finished turns kept for resume.\n"
            "# TYPE chat_turns_retained gauge\nchat_turns_retained %zu\n",
            atomic_load(&m_turns_finished));
    fprintf(f,
            "# HELP chat_turns_retained_bytes Bytes the finished turns hold (TURN_RETAIN_BYTES bounds them).\n"
            "# TYPE chat_turns_retained_bytes gauge\nchat_turns_retained_bytes %zu\n",
            atomic_load(&m_turns_finished_bytes));
    fclose(f);
    *len = n;
    return buf;
}
