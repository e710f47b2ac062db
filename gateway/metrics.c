/* metrics.c: see metrics.h. */
#include "metrics.h"

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

void metrics_upstream_error(metric_service svc)
{
    atomic_fetch_add_explicit(&m_upstream[svc], 1, memory_order_relaxed);
}

void metrics_stream_open(int delta)
{
    atomic_fetch_add_explicit(&m_streams, delta, memory_order_relaxed);
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
    fprintf(f, "# HELP chat_upstream_errors_total Failed calls to services.\n"
               "# TYPE chat_upstream_errors_total counter\n");
    for (int s = 0; s < MS_COUNT; s++) {
        fprintf(f, "chat_upstream_errors_total{service=\"%s\"} %llu\n", service_names[s],
                (unsigned long long)atomic_load(&m_upstream[s]));
    }
    fprintf(f, "# HELP chat_open_streams SSE streams open now.\n# TYPE chat_open_streams gauge\n");
    fprintf(f, "chat_open_streams %ld\n", atomic_load(&m_streams));
    fclose(f);
    *len = n;
    return buf;
}
