/* turnstile.h: Cloudflare Turnstile on POST /v1/sessions. With
 * TURNSTILE_SECRET set, a new session needs a widget token that Siteverify
 * (siteverify.h) accepts.
 *
 * The call never runs on the HTTP thread: turnstile_verify suspends the
 * connection and queues the check; one verifier thread drives every check
 * at once with a curl multi handle (TURNSTILE_TIMEOUT in all, one retry
 * with the same idempotency_key when Cloudflare or the network fails and
 * time is left), stores the outcome and resumes the connection. The route
 * reads turnstile_outcome on the HTTP thread when it is called again.
 *
 * Owns: the configuration (read-only after turnstile_init), the verifier
 * thread and its queue; a ts_check from turnstile_verify until
 * turnstile_check_free (the request's release). The verifier never touches
 * a check after resuming its connection. */
#ifndef GW_TURNSTILE_H
#define GW_TURNSTILE_H

#include <microhttpd.h>
#include <stddef.h>

#include "config.h"
#include "siteverify.h"

#define TS_INFLIGHT_MAX 1024 /* checks queued or running at once; more are "unavailable" at once */
#define TS_ATTEMPTS_MAX 2    /* calls per check: the first and one retry */
#define TS_SITE_KEY_MAX 128

typedef enum {
    TS_PASSED,
    TS_FAILED,      /* 403 bot_check_failed */
    TS_UNAVAILABLE, /* Siteverify could not say: 503, or go on with TURNSTILE_FAIL_OPEN */
} ts_outcome;

typedef struct ts_check ts_check;

/* Reads TURNSTILE_*; starts the verifier thread when a secret is set. -1
 * with err naming the variable. */
int turnstile_init(const cfg *c, char *err, size_t errlen);
/* Stops the verifier thread (after turnstile_cancel_all) and frees it. */
void turnstile_free(void);
/* Fails every queued or running check (as unavailable) and resumes its
 * connection: the gateway is stopping. Later checks fail at once. */
void turnstile_cancel_all(void);

int turnstile_enabled(void);
int turnstile_fail_open(void);
/* TURNSTILE_SITE_KEY when Turnstile is on, else NULL. */
const char *turnstile_site_key(void);

/* Suspends conn and queues a check of token for the client remoteip (text;
 * "" for none). NULL (conn not suspended) when out of memory. */
ts_check *turnstile_verify(struct MHD_Connection *conn, const char *token, const char *remoteip);
/* 1 once the check has an outcome (a wake before that is spurious). */
int turnstile_done(const ts_check *c);
/* After the resume (HTTP thread): the outcome, and Cloudflare's error codes
 * or the reason ("" when none). */
ts_outcome turnstile_outcome(const ts_check *c, const char **codes);
void turnstile_check_free(ts_check *c);

#endif
