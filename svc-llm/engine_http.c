/* engine_http.c: a job's upstream HTTP attempts (engine thread only): the
 * request of the provider asked for, one curl easy handle per attempt on the
 * engine's multi handle, the SSE body decoded into the generation's deltas,
 * and what a failed attempt leads to (retry on a timer, or the offline
 * fallback). The job's states are drawn in engine.c. */
#include "engine.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "anthropic.h"
#include "clock.h"
#include "config.h"
#include "dynbuf.h"
#include "engine_int.h"
#include "event_stream.h"
#include "http_client.h"
#include "log.h"
#include "openai.h"
#include "prompt.h"
#include "retry.h"

#define ENG_CONNECT_TIMEOUT_MS 5000L /* the SDKs' */

/* --- http: the sink and the stream -------------------------------------- */

static void job_first_output(job *j)
{
    if (!j->got_output) {
        j->got_output = 1;
        breaker_record(&j->e->brk[j->kind], 1, clock_mono_ms());
    }
}

static int job_sink_text(void *arg, const char *s, size_t n)
{
    job *j = arg;
    job_first_output(j);
    return gen_add_text(j->g, s, n);
}

static int job_sink_tool(void *arg, const char *id, const char *name, const char *input_json)
{
    job *j = arg;
    job_first_output(j);
    return gen_add_tool_call(j->g, id, name, input_json);
}

/* The sink refused: the generation ended elsewhere, or is full. */
static void job_sink_refused(job *j)
{
    if (!gen_is_done(j->g)) {
        gen_finish(j->g, "error", RPC_RESOURCE_EXHAUSTED, "the answer is longer than this service keeps", 0);
    }
}

/* The exact model the provider says it used (an alias resolves to a
 * dated name), once. */
static void job_model(job *j, const char *model)
{
    if (!j->model_seen && model[0]) {
        j->model_seen = 1;
        gen_set_provider(j->g, eng_provider_name(j->kind), model);
    }
}

/* The stream ended by itself: with the answer (OUT_STOP), an error the
 * provider sent (OUT_ERROR: type and message), the sink's refusal
 * (OUT_SINK) or a broken stream (OUT_PROTO). Returns what eng_job_on_event
 * returns: 0 to read on, 1 to stop reading. */
static int job_stream_end(job *j, int outcome, const char *stop_reason, const char *err_type, const char *err_msg,
                          rpc_code code, int retryable)
{
    j->outcome = outcome;
    switch (outcome) {
    case OUT_STOP:
        gen_finish(j->g, stop_reason[0] ? stop_reason : "end_turn", RPC_OK, NULL, 0);
        return 0; /* let the response end normally: the connection is reused */
    case OUT_ERROR: {
        char msg[LLM_ERR_MSG_MAX + LLM_ERR_TYPE_MAX + 4];
        snprintf(msg, sizeof(msg), "%s: %s", err_type, err_msg);
        eng_job_fail_streaming(j, code, msg, retryable);
        return 1;
    }
    case OUT_SINK:
        job_sink_refused(j);
        return 1;
    default:
        return 1;
    }
}

int eng_job_on_event(void *arg, const char *name, const char *data, size_t len)
{
    job *j = arg;
    llm_sink sink = {.arg = j, .text = job_sink_text, .tool_call = job_sink_tool};
    int retryable = 0;
    if (j->kind == PROV_ANTHROPIC) {
        anth_stream *a = &j->anth;
        int rv = anth_stream_event(a, name, data, len, &sink);
        eng_job_usage(j, &a->usage);
        job_model(j, a->model);
        switch (rv) {
        case ANTH_CONTINUE:
            return 0;
        case ANTH_STOP:
            return job_stream_end(j, OUT_STOP, a->stop_reason, NULL, NULL, RPC_OK, 0);
        case ANTH_ERROR: {
            rpc_code code = anth_error_code(a->err_type, &retryable);
            return job_stream_end(j, OUT_ERROR, NULL, a->err_type, a->err_msg, code, retryable);
        }
        case ANTH_SINK:
            return job_stream_end(j, OUT_SINK, NULL, NULL, NULL, RPC_OK, 0);
        default:
            return job_stream_end(j, OUT_PROTO, NULL, NULL, NULL, RPC_OK, 0);
        }
    }
    (void)name;
    oai_stream *o = &j->oai;
    int rv = oai_stream_data(o, data, len, &sink);
    eng_job_usage(j, &o->usage);
    job_model(j, o->model);
    switch (rv) {
    case OAI_CONTINUE:
        return 0;
    case OAI_STOP:
        return job_stream_end(j, OUT_STOP, o->stop_reason, NULL, NULL, RPC_OK, 0);
    case OAI_ERROR: {
        rpc_code code = anth_error_code(o->err_type, &retryable);
        if (strcmp(o->err_type, "server_error") == 0) {
            code = RPC_UNAVAILABLE;
            retryable = 1;
        }
        return job_stream_end(j, OUT_ERROR, NULL, o->err_type, o->err_msg, code, retryable);
    }
    case OAI_SINK:
        return job_stream_end(j, OUT_SINK, NULL, NULL, NULL, RPC_OK, 0);
    default:
        return job_stream_end(j, OUT_PROTO, NULL, NULL, NULL, RPC_OK, 0);
    }
}

static size_t job_on_body(char *p, size_t size, size_t nmemb, void *arg)
{
    job *j = arg;
    size_t n = size * nmemb;
    if (j->status == 0) {
        curl_easy_getinfo(j->easy, CURLINFO_RESPONSE_CODE, &j->status);
    }
    if (j->status < 200 || j->status >= 300) {
        size_t room = j->errbody.toobig - j->errbody.len;
        dyn_add(&j->errbody, p, n < room ? n : room);
        return n;
    }
    if (j->outcome == OUT_STOP) {
        return n; /* what follows message_stop / [DONE] */
    }
    int rv = evs_feed(&j->sse, p, n);
    if (rv < 0) {
        j->outcome = OUT_PROTO;
        snprintf(j->anth.err_msg, sizeof(j->anth.err_msg), "answer stream over a size cap (%d)", rv);
        snprintf(j->oai.err_msg, sizeof(j->oai.err_msg), "answer stream over a size cap (%d)", rv);
    }
    return rv == 0 ? n : 0; /* 0 aborts the transfer */
}

/* Starts one HTTP attempt. Returns 0, or -1 (nothing started). */
int eng_job_http_start(job *j)
{
    engine *e = j->e;
    eng_job_http_release(j);
    memset(&j->resp, 0, sizeof(j->resp));
    j->status = 0;
    j->outcome = OUT_NONE;
    j->waiting_retry = 0;
    j->wake_ms = 0;
    dyn_init(&j->errbody, LLM_ERROR_BODY_MAX);
    evs_init(&j->sse, LLM_SSE_LINE_MAX, LLM_SSE_EVENT_MAX, LLM_RESPONSE_MAX, eng_job_on_event, j);
    anth_stream_init(&j->anth);
    oai_stream_init(&j->oai);

    CURL *h = curl_easy_init();
    if (h == NULL) {
        return -1;
    }
    curl_easy_setopt(h, CURLOPT_URL, j->kind == PROV_ANTHROPIC ? e->cfg.anthropic_url : e->cfg.openai_url);
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, j->body);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)j->body_len);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, j->headers);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, job_on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, j);
    curl_easy_setopt(h, CURLOPT_PRIVATE, j);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, ENG_CONNECT_TIMEOUT_MS);
    curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "chat-svc-llm/1");
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    if (curl_multi_add_handle(e->multi, h) != CURLM_OK) {
        curl_easy_cleanup(h);
        return -1;
    }
    j->easy = h;
    char what[64];
    snprintf(what, sizeof(what), "attempt %u", j->attempt + 1);
    if (j->attempt > 0) {
        eng_job_log(j, LOG_INFO, "retrying the upstream request", what);
    }
    return 0;
}

/* The request failed before the first token: retry or fall back. */
static void job_attempt_failed(job *j, int64_t now, upfail_kind kind, const char *why)
{
    engine *e = j->e;
    int counts = kind != UPFAIL_HTTP || http_should_retry(&j->resp) || j->resp.status == 401 || j->resp.status == 403;
    if (counts && breaker_record(&e->brk[j->kind], 0, now)) {
        log_fields(LOG_WARN, "circuit breaker open: generations answer offline for a while", "provider",
                   eng_provider_name(j->kind), NULL);
    }
    eng_job_log(j, LOG_WARN, "upstream request failed", why);
    unsigned delay = 0;
    if (retry_decide(kind, kind == UPFAIL_HTTP ? &j->resp : NULL, j->attempt, &delay) &&
        now + delay < j->overall_deadline && now + delay < j->first_token_deadline) {
        eng_job_http_release(j);
        j->attempt++;
        j->waiting_retry = 1;
        j->wake_ms = now + delay;
        eng_job_schedule(j);
        return;
    }
    eng_job_fallback(j, now, why);
}

/* A transfer ended (curl's CURLMSG_DONE). */
void eng_job_http_done(job *j, CURLcode rc)
{
    int64_t now = clock_mono_ms();
    long status = 0;
    curl_easy_getinfo(j->easy, CURLINFO_RESPONSE_CODE, &status);
    http_capture_headers(j->easy, &j->resp);
    j->resp.status = status;
    if (gen_is_done(j->g)) {
        eng_job_free(j); /* finished by the stream, or ended elsewhere */
        return;
    }
    char why[LLM_ERR_MSG_MAX + LLM_ERR_TYPE_MAX + 64];
    if (status >= 200 && status < 300) {
        const char *detail = j->outcome == OUT_PROTO ? (j->kind == PROV_ANTHROPIC ? j->anth.err_msg : j->oai.err_msg)
                             : rc != CURLE_OK        ? curl_easy_strerror(rc)
                                                     : "the stream ended before the answer did";
        if (j->got_output) {
            snprintf(why, sizeof(why), "the answer stream broke: %s", detail);
            eng_job_fail_streaming(j, RPC_UNAVAILABLE, why, 1);
            eng_job_free(j);
            return;
        }
        snprintf(why, sizeof(why), "%s", detail);
        job_attempt_failed(j, now, rc == CURLE_OPERATION_TIMEDOUT ? UPFAIL_TIMEOUT : UPFAIL_STREAM, why);
        return;
    }
    if (status != 0) {
        char type[LLM_ERR_TYPE_MAX], msg[LLM_ERR_MSG_MAX];
        anth_parse_error_body(j->errbody.data, j->errbody.len, type, sizeof(type), msg, sizeof(msg));
        snprintf(why, sizeof(why), "HTTP %ld %s %s", status, type, msg);
        job_attempt_failed(j, now, UPFAIL_HTTP, why);
        return;
    }
    snprintf(why, sizeof(why), "%s", curl_easy_strerror(rc));
    job_attempt_failed(j, now, rc == CURLE_OPERATION_TIMEDOUT ? UPFAIL_TIMEOUT : UPFAIL_CONNECT, why);
}

/* A job's timer came due. */
int eng_job_prepare_http(job *j)
{
    engine *e = j->e;
    prompt_opts o = {.company = e->cfg.company,
                     .model = eng_model(e, j->kind),
                     .max_tokens = j->rq->max_tokens ? j->rq->max_tokens : e->cfg.max_tokens,
                     .history_budget = e->cfg.history_budget};
    char hdr[CFG_VALUE_MAX + 64];
    if (j->kind == PROV_ANTHROPIC) {
        j->body = prompt_anthropic_body(j->rq, &o, &j->body_len);
        snprintf(hdr, sizeof(hdr), "x-api-key: %s", e->cfg.anthropic_key);
        j->headers = curl_slist_append(j->headers, hdr);
        j->headers = curl_slist_append(j->headers, "anthropic-version: 2023-06-01");
    } else {
        j->body = prompt_openai_body(j->rq, &o, &j->body_len);
        if (e->cfg.openai_key != NULL && e->cfg.openai_key[0]) {
            snprintf(hdr, sizeof(hdr), "authorization: Bearer %s", e->cfg.openai_key);
            j->headers = curl_slist_append(j->headers, hdr);
        }
    }
    j->headers = curl_slist_append(j->headers, "content-type: application/json");
    j->headers = curl_slist_append(j->headers, "accept: text/event-stream");
    j->headers = curl_slist_append(j->headers, "Expect:");
    return j->body != NULL && j->headers != NULL ? 0 : -1;
}
