/* turnstile.c: see turnstile.h. The verifier thread is the only one that
 * touches the curl multi handle and the easy handles; the queue between the
 * HTTP thread and it is guarded by ts.mu. */
#include "turnstile.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "dynbuf.h"
#include "log.h"
#include "turn.h"

#define TS_POLL_MS 1000 /* the verifier's longest sleep without news */

struct ts_check {
    struct MHD_Connection *conn;
    char *body; /* the Siteverify request (JSON) */
    char idem[SV_UUID_LEN + 1];
    dynbuf reply;
    int64_t started_us, deadline_us;
    int attempts;
    CURL *easy;
    ts_outcome outcome;
    char codes[SV_CODES_MAX];
    int done;       /* set (atomically, last) when outcome and codes are final */
    ts_check *next; /* in the queue, then in the active list */
};

static struct {
    int on, fail_open, started;
    char *secret, *url, *hosts;
    char site_key[TS_SITE_KEY_MAX];
    long timeout_ms;
    pthread_t thread;
    pthread_mutex_t mu;
    ts_check *queue, *queue_tail; /* mu: waiting for the verifier */
    size_t inflight;              /* mu: queued + running */
    int stopping;                 /* mu */
    ts_check *active;             /* verifier thread only: running */
    CURLM *multi;
    struct curl_slist *headers;
} ts = {.mu = PTHREAD_MUTEX_INITIALIZER};

int turnstile_enabled(void)
{
    return ts.on;
}

int turnstile_fail_open(void)
{
    return ts.fail_open;
}

const char *turnstile_site_key(void)
{
    return ts.on ? ts.site_key : NULL;
}

/* Stores the outcome and resumes the connection; c is the HTTP thread's
 * after this. Any thread, no lock held. */
static void ts_complete(ts_check *c, ts_outcome outcome, const char *codes)
{
    if (c->easy != NULL) {
        curl_easy_cleanup(c->easy);
        c->easy = NULL;
    }
    c->outcome = outcome;
    snprintf(c->codes, sizeof(c->codes), "%s", codes ? codes : "");
    log_debug("turnstile: %s after %d call(s), %.0f ms (%s)",
              outcome == TS_PASSED   ? "passed"
              : outcome == TS_FAILED ? "failed"
                                     : "unavailable",
              c->attempts, (double)(clock_mono_us() - c->started_us) / 1000.0, c->codes);
    pthread_mutex_lock(&ts.mu);
    ts.inflight--;
    pthread_mutex_unlock(&ts.mu);
    struct MHD_Connection *conn = c->conn;
    __atomic_store_n(&c->done, 1, __ATOMIC_RELEASE);
    MHD_resume_connection(conn);
    gw_suspended_add(-1);
}

static size_t ts_write(char *p, size_t size, size_t n, void *arg)
{
    ts_check *c = arg;
    return dyn_add(&c->reply, p, size * n) == 0 ? size * n : 0; /* over SV_REPLY_MAX: the call fails */
}

static void ts_active_remove(ts_check *c)
{
    for (ts_check **pp = &ts.active; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == c) {
            *pp = c->next;
            c->next = NULL;
            return;
        }
    }
}

/* Starts one call of c (verifier thread). */
static void ts_launch(ts_check *c)
{
    int64_t left_ms = (c->deadline_us - clock_mono_us()) / 1000;
    if (left_ms <= 0) {
        ts_complete(c, TS_UNAVAILABLE, "timeout");
        return;
    }
    if (c->easy == NULL) {
        c->easy = curl_easy_init();
        if (c->easy == NULL) {
            ts_complete(c, TS_UNAVAILABLE, "out of memory");
            return;
        }
        curl_easy_setopt(c->easy, CURLOPT_URL, ts.url);
        curl_easy_setopt(c->easy, CURLOPT_POSTFIELDS, c->body);
        curl_easy_setopt(c->easy, CURLOPT_HTTPHEADER, ts.headers);
        curl_easy_setopt(c->easy, CURLOPT_WRITEFUNCTION, ts_write);
        curl_easy_setopt(c->easy, CURLOPT_WRITEDATA, c);
        curl_easy_setopt(c->easy, CURLOPT_PRIVATE, c);
        curl_easy_setopt(c->easy, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(c->easy, CURLOPT_USERAGENT, "chat-gateway/1");
        curl_easy_setopt(c->easy, CURLOPT_PROTOCOLS_STR, "http,https");
    }
    dyn_reset(&c->reply);
    curl_easy_setopt(c->easy, CURLOPT_TIMEOUT_MS, (long)left_ms);
    curl_easy_setopt(c->easy, CURLOPT_CONNECTTIMEOUT_MS, (long)left_ms);
    c->attempts++;
    if (curl_multi_add_handle(ts.multi, c->easy) != CURLM_OK) {
        ts_complete(c, TS_UNAVAILABLE, "the verifier could not start the call");
        return;
    }
    c->next = ts.active;
    ts.active = c;
}

/* Again with the same idempotency_key when a call is left; else why. */
static void ts_retry_or_fail(ts_check *c, const char *why)
{
    if (c->attempts < TS_ATTEMPTS_MAX && clock_mono_us() < c->deadline_us) {
        log_debug("turnstile: retrying (%s)", why);
        ts_launch(c);
        return;
    }
    log_warn("turnstile: Siteverify unavailable after %d call(s): %s", c->attempts, why);
    ts_complete(c, TS_UNAVAILABLE, why);
}

/* One call of c ended with rc (verifier thread; its handle is removed). */
static void ts_attempt_done(ts_check *c, CURLcode rc)
{
    if (rc == CURLE_OPERATION_TIMEDOUT) {
        log_warn("turnstile: Siteverify did not answer within TURNSTILE_TIMEOUT (%ld ms)", ts.timeout_ms);
        ts_complete(c, TS_UNAVAILABLE, "timeout");
        return;
    }
    if (rc != CURLE_OK) {
        ts_retry_or_fail(c, c->reply.full ? "the reply is too large" : curl_easy_strerror(rc));
        return;
    }
    long status = 0;
    curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &status);
    sv_reply r;
    sv_verdict v = sv_reply_parse(dyn_str(&c->reply), dyn_len(&c->reply), ts.hosts, &r);
    if (status == 200 && (v == SV_PASS || v == SV_FAIL)) {
        ts_complete(c, v == SV_PASS ? TS_PASSED : TS_FAILED, r.codes);
        return;
    }
    if (v == SV_BAD_SETUP) {
        log_error("turnstile: Cloudflare refuses TURNSTILE_SECRET (%s): every new session fails until it is fixed",
                  r.codes);
        ts_complete(c, TS_UNAVAILABLE, r.codes);
        return;
    }
    char why[SV_CODES_MAX + 32];
    snprintf(why, sizeof(why), "HTTP %ld%s%s", status, r.codes[0] ? ": " : "", r.codes);
    if (v == SV_RETRY || status >= 500 || status == 429) {
        ts_retry_or_fail(c, why);
        return;
    }
    log_warn("turnstile: Siteverify answered %s with no verdict", why);
    ts_complete(c, TS_UNAVAILABLE, why);
}

static void *ts_verifier(void *arg)
{
    (void)arg;
    for (;;) {
        pthread_mutex_lock(&ts.mu);
        ts_check *q = ts.queue;
        ts.queue = ts.queue_tail = NULL;
        int stopping = ts.stopping;
        pthread_mutex_unlock(&ts.mu);
        while (q != NULL) {
            ts_check *next = q->next;
            q->next = NULL;
            if (stopping) {
                ts_complete(q, TS_UNAVAILABLE, "the gateway is stopping");
            } else {
                ts_launch(q);
            }
            q = next;
        }
        if (stopping) {
            while (ts.active != NULL) {
                ts_check *c = ts.active;
                ts.active = c->next;
                c->next = NULL;
                curl_multi_remove_handle(ts.multi, c->easy);
                ts_complete(c, TS_UNAVAILABLE, "the gateway is stopping");
            }
            pthread_mutex_lock(&ts.mu);
            int idle = ts.queue == NULL;
            pthread_mutex_unlock(&ts.mu);
            if (idle) {
                return NULL;
            }
            continue;
        }
        int running = 0;
        curl_multi_perform(ts.multi, &running);
        CURLMsg *m;
        int left;
        while ((m = curl_multi_info_read(ts.multi, &left)) != NULL) {
            if (m->msg != CURLMSG_DONE) {
                continue;
            }
            CURL *e = m->easy_handle;
            CURLcode rc = m->data.result; /* m is invalid once the handle is removed */
            ts_check *c = NULL;
            curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&c);
            curl_multi_remove_handle(ts.multi, e);
            ts_active_remove(c);
            ts_attempt_done(c, rc);
        }
        curl_multi_poll(ts.multi, NULL, 0, TS_POLL_MS, NULL);
    }
}

int turnstile_init(const cfg *c, char *err, size_t errlen)
{
    const char *secret = cfg_str(c, "TURNSTILE_SECRET");
    const char *key = cfg_str(c, "TURNSTILE_SITE_KEY");
    if (secret == NULL || secret[0] == '\0') {
        if (key != NULL && key[0]) {
            log_warn("TURNSTILE_SITE_KEY is set but TURNSTILE_SECRET is not: Turnstile stays off");
        }
        return 0;
    }
    if (key == NULL || key[0] == '\0' || strlen(key) >= TS_SITE_KEY_MAX) {
        snprintf(err, errlen,
                 "TURNSTILE_SITE_KEY: needed (1 to %d characters) when TURNSTILE_SECRET is set: the widget renders "
                 "the challenge with it",
                 TS_SITE_KEY_MAX - 1);
        return -1;
    }
    snprintf(ts.site_key, sizeof(ts.site_key), "%s", key);
    const char *hosts = cfg_str(c, "TURNSTILE_EXPECTED_HOSTNAME");
    ts.secret = strdup(secret);
    ts.url = strdup(cfg_str(c, "TURNSTILE_VERIFY_URL"));
    ts.hosts = strdup(hosts ? hosts : "");
    ts.timeout_ms = (long)cfg_int(c, "TURNSTILE_TIMEOUT");
    ts.fail_open = cfg_bool(c, "TURNSTILE_FAIL_OPEN");
    curl_global_init(CURL_GLOBAL_DEFAULT);
    ts.multi = curl_multi_init();
    ts.headers = curl_slist_append(NULL, "Content-Type: application/json");
    if (ts.secret == NULL || ts.url == NULL || ts.hosts == NULL || ts.multi == NULL || ts.headers == NULL) {
        snprintf(err, errlen, "TURNSTILE_SECRET: out of memory");
        return -1;
    }
    if (pthread_create(&ts.thread, NULL, ts_verifier, NULL) != 0) {
        snprintf(err, errlen, "TURNSTILE_SECRET: cannot start the verifier thread");
        return -1;
    }
    ts.started = 1;
    ts.on = 1;
    return 0;
}

void turnstile_cancel_all(void)
{
    pthread_mutex_lock(&ts.mu);
    ts.stopping = 1;
    pthread_mutex_unlock(&ts.mu);
    if (ts.multi != NULL) {
        curl_multi_wakeup(ts.multi);
    }
}

void turnstile_free(void)
{
    if (ts.started) {
        turnstile_cancel_all();
        pthread_join(ts.thread, NULL);
        ts.started = 0;
    }
    if (ts.multi != NULL) {
        curl_multi_cleanup(ts.multi);
        ts.multi = NULL;
    }
    curl_slist_free_all(ts.headers);
    ts.headers = NULL;
    free(ts.secret);
    free(ts.url);
    free(ts.hosts);
    ts.secret = ts.url = ts.hosts = NULL;
    ts.on = 0;
}

ts_check *turnstile_verify(struct MHD_Connection *conn, const char *token, const char *remoteip)
{
    ts_check *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        return NULL;
    }
    c->conn = conn;
    c->outcome = TS_UNAVAILABLE;
    dyn_init(&c->reply, SV_REPLY_MAX);
    c->started_us = clock_mono_us();
    c->deadline_us = c->started_us + (int64_t)ts.timeout_ms * 1000;
    if (sv_uuid4(c->idem) != 0 || (c->body = sv_request_body(ts.secret, token, remoteip, c->idem)) == NULL) {
        turnstile_check_free(c);
        return NULL;
    }
    gw_suspended_add(1);
    MHD_suspend_connection(conn);
    pthread_mutex_lock(&ts.mu);
    const char *refuse = ts.stopping                      ? "the gateway is stopping"
                         : ts.inflight >= TS_INFLIGHT_MAX ? "too many checks at once"
                                                          : NULL;
    ts.inflight++;
    if (refuse == NULL) {
        if (ts.queue_tail != NULL) {
            ts.queue_tail->next = c;
        } else {
            ts.queue = c;
        }
        ts.queue_tail = c;
    }
    pthread_mutex_unlock(&ts.mu);
    if (refuse != NULL) {
        log_warn("turnstile: %s", refuse);
        ts_complete(c, TS_UNAVAILABLE, refuse);
    } else {
        curl_multi_wakeup(ts.multi);
    }
    return c;
}

int turnstile_done(const ts_check *c)
{
    return __atomic_load_n(&c->done, __ATOMIC_ACQUIRE);
}

ts_outcome turnstile_outcome(const ts_check *c, const char **codes)
{
    *codes = c->codes;
    return c->outcome;
}

void turnstile_check_free(ts_check *c)
{
    if (c == NULL) {
        return;
    }
    if (c->easy != NULL) {
        curl_easy_cleanup(c->easy);
    }
    dyn_free(&c->reply);
    free(c->body);
    free(c);
}
