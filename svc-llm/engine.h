/* engine.h: the provider thread of svc-llm.
 *
 * One thread runs every generation's upstream work: all HTTP streams to
 * Anthropic / OpenAI-compatible servers on one libcurl multi handle (no
 * thread per stream), and a timer heap for everything that waits (retry
 * backoff, the offline provider's word pacing, first-token and overall
 * timeouts, long-poll timeouts, the idle sweep). Other threads hand it work
 * through a command queue and wake it with curl_multi_wakeup.
 *
 * A generation's job: try the provider (anthropic/openai) with the SDK
 * retry policy before the first token; after retries fail, on a
 * first-token timeout, or when that provider's circuit breaker is open,
 * fall back to the offline provider (a NOTICE delta "fallback: <provider>
 * unavailable", then the offline answer). After the first token an error
 * ends the generation with the partial answer kept. The offline provider
 * streams its answer word by word at OFFLINE_TOKENS_PER_SECOND.
 *
 * Threads: eng_submit, eng_cancel and eng_poll_timer may be called from
 * any thread; everything else in engine.c runs on the engine thread (curl
 * callbacks included), which owns the jobs, the breakers and the curl
 * handles. eng_stop joins it. */
#ifndef LLM_ENGINE_H
#define LLM_ENGINE_H

#include <stdint.h>

#include "generation.h"
#include "llm.pb-c.h"

typedef enum { PROV_OFFLINE = 0, PROV_ANTHROPIC = 1, PROV_OPENAI = 2 } prov_kind;

typedef struct eng_config {
    const char *company;
    const char *anthropic_key;
    const char *anthropic_url; /* full: {ANTHROPIC_BASE_URL}/v1/messages */
    const char *anthropic_model;
    const char *openai_key; /* may be "" (local servers) */
    const char *openai_url; /* full: {OPENAI_BASE_URL}/chat/completions */
    const char *openai_model;
    unsigned max_tokens;  /* default when a request says 0 */
    unsigned offline_tps; /* 0 = as fast as possible */
    int64_t first_token_timeout_ms;
    int64_t timeout_ms;    /* whole generation */
    int64_t idle_ttl_ms;   /* GENERATION_IDLE_TTL */
    int64_t done_grace_ms; /* GENERATION_DONE_GRACE */
    size_t history_budget;
} eng_config;

typedef struct engine engine;

/* Starts the thread. conf's strings must outlive the engine. */
int eng_start(engine **out, const eng_config *conf, gen_table *table);
/* Stops the thread, cancels every upstream request, frees every job and
 * timer. Polls still waiting are left to the table (see generation.h). */
void eng_stop(engine *e);

const char *eng_provider_name(prov_kind k);
const char *eng_model(const engine *e, prov_kind k);

/* Starts generation g with provider k. Takes a reference to g and owns rq
 * from now on (freed with protobuf_c_message_free_unpacked); rid is the
 * request id for logs. Returns 0, or -1 (nothing taken) when stopping. */
int eng_submit(engine *e, gen *g, prov_kind k, Chat__Llm__GenerateRequest *rq, const char *rid);
/* Stops g's upstream work at once (the caller has ended g). */
void eng_cancel(engine *e, gen *g);
/* Calls gen_poll_timeout(g) at when_ms (takes its own reference). */
void eng_poll_timer(engine *e, gen *g, int64_t when_ms);

#endif
