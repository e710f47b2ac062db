/* metrics.h: the gateway's counters for GET /metrics (Prometheus text
 * format 0.0.4). Lock-free atomics: any thread may count. */
#ifndef GW_METRICS_H
#define GW_METRICS_H

#include <stdint.h>
#include <stdio.h>

typedef enum {
    MR_SESSIONS,
    MR_CHAT,
    MR_RESUME,
    MR_MESSAGES,
    MR_ERASE,
    MR_LEADS,
    MR_HEALTH,
    MR_OTHER,
    MR_COUNT
} metric_route;
typedef enum { MT_OK, MT_ERROR, MT_CANCELLED, MT_REJECTED, MT_OUTCOME_COUNT } metric_turn_outcome;
typedef enum { MS_SESSION, MS_RETRIEVAL, MS_LLM, MS_INDEXER, MS_COUNT } metric_service;

void metrics_request(metric_route route, unsigned status);
void metrics_turn(metric_turn_outcome outcome);
void metrics_ttft_us(int64_t us);
void metrics_tokens(uint64_t input, uint64_t output);
void metrics_upstream_error(metric_service svc);
/* A committed turn's usage by provider and model (the first
 * METRICS_MODELS_MAX pairs seen get their own series, the rest count as
 * model "other"); cost in micro-units of svc-session's COST_CURRENCY. */
#define METRICS_MODELS_MAX 16
void metrics_model_usage(const char *provider, const char *model, uint64_t input, uint64_t output, int64_t cost_micros);
void metrics_stream_open(int delta); /* +1 opened, -1 closed */
long metrics_streams_open(void);
/* Turns held now: running, finished (kept for resume) and the bytes the
 * finished ones hold (set by the turn registry). */
void metrics_turns_held(size_t running, size_t finished, size_t finished_bytes);

/* Writes every metric; returns the malloc'd text (caller frees). */
char *metrics_render(size_t *len);

#endif
