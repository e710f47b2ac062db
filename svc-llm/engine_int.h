/* engine_int.h: what the engine's files share (svc-llm only; the
 * interface is engine.h): the job, the engine and its command queue.
 * engine.c runs the loop, the timers and a job's states; engine_http.c a
 * job's upstream attempts. Everything here runs on the engine thread,
 * except what engine.h says may be called from any thread.
 *
 * Owns: a job owns its request (rq), its upstream body, headers and curl
 * handle, its buffers and its offline answer (eng_job_free); it holds a
 * reference to its generation. The engine owns its jobs, its command queue
 * and its timers. */
#ifndef LLM_ENGINE_INT_H
#define LLM_ENGINE_INT_H

#include <curl/curl.h>
#include <pthread.h>

#include "anthropic.h"
#include "dynbuf.h"
#include "engine.h"
#include "event_stream.h"
#include "http_client.h"
#include "log.h"
#include "offline.h"
#include "openai.h"
#include "retry.h"
#include "timer_heap.h"

#define ENG_RID_MAX 65

enum { TM_JOB, TM_POLL, TM_SWEEP };

enum { CMD_START, CMD_CANCEL };

typedef struct job job;

typedef struct eng_cmd {
    struct eng_cmd *next;
    int type;
    job *j; /* CMD_START */
    gen *g; /* CMD_CANCEL: a reference */
} eng_cmd;

/* How a stream ended, as the body callbacks saw it. */
enum { OUT_NONE, OUT_STOP, OUT_ERROR, OUT_PROTO, OUT_SINK };

struct job {
    engine *e;
    job *prev, *next;   /* the engine's list */
    gen *g;             /* a reference */
    prov_kind upstream; /* the provider asked for */
    prov_kind kind;     /* the one working now (offline after a fallback) */
    Chat__Llm__GenerateRequest *rq;
    char rid[ENG_RID_MAX];
    uint64_t epoch;

    int64_t start_ms, first_token_deadline, overall_deadline;
    int64_t wake_ms; /* retry or next offline word; 0 = none */
    int got_output;

    /* http */
    char *body;
    size_t body_len;
    struct curl_slist *headers;
    CURL *easy;
    unsigned attempt;
    int waiting_retry;
    long status;
    http_response resp; /* status and retry headers of the current attempt */
    dynbuf errbody;
    evs_parser sse;
    anth_stream anth;
    oai_stream oai;
    int outcome;
    int model_seen;
    llm_usage last_usage;

    /* offline */
    offl_answer off;
    const char *off_pos;
    int off_ready;
};

struct engine {
    eng_config cfg;
    gen_table *table;
    pthread_t thread;
    int started;
    CURLM *multi;

    pthread_mutex_t mu; /* guards cmds, timers, stopping */
    eng_cmd *cmd_head, *cmd_tail;
    timer_heap timers;
    int stopping;

    /* engine thread only */
    job *jobs;
    breaker brk[3];
};

/* --- engine.c ------------------------------------------------------------ */

void eng_job_log(const job *j, log_level lvl, const char *msg, const char *detail);
void eng_job_free(job *j);
void eng_job_schedule(job *j);
void eng_job_usage(job *j, const llm_usage *u);
void eng_job_fallback(job *j, int64_t now, const char *why);
void eng_job_fail_streaming(job *j, rpc_code code, const char *msg, int retryable);
void eng_job_http_release(job *j);

/* --- engine_http.c ------------------------------------------------------- */

int eng_job_prepare_http(job *j);
int eng_job_http_start(job *j);
void eng_job_http_done(job *j, CURLcode rc);
int eng_job_on_event(void *arg, const char *name, const char *data, size_t len);

#endif
