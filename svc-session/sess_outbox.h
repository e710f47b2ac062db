/* sess_outbox.h: delivery of hand-off notifications to sales, outside
 * the turn, from the handoff_outbox table (so it survives a restart).
 *
 * One background thread (sess_ticker, its own connection) leases a due
 * row (UPDATE ... FOR UPDATE SKIP LOCKED, so replicas share the work and a
 * crashed delivery is retried once its lease ends), builds the payload in
 * Postgres (the hand-off, its lead and the last HANDOFF_TRANSCRIPT_MAX
 * messages; never the ip hash) and sends it:
 *   - webhook: POST of the JSON with headers X-Chat-Timestamp (Unix
 *     seconds), X-Chat-Delivery (the outbox row id) and X-Chat-Signature
 *     "v1=" + hex HMAC-SHA256(secret, timestamp + "." + body); any 2xx is
 *     delivered;
 *   - email: sess_mail.
 * A failure is retried after retry_base * 2^(attempts-1), capped at
 * retry_max; once a failure happens retry_for after the row was queued,
 * the row is dead (a dead letter, logged and kept for the admin). */
#ifndef SESS_OUTBOX_H
#define SESS_OUTBOX_H

#include <stddef.h>
#include <stdint.h>

#include "sess_mail.h"

#define OUTBOX_URL_MAX 2048
#define OUTBOX_SECRET_MAX 256
#define OUTBOX_SIG_MAX 72 /* "v1=" + 64 hex + NUL */
#define OUTBOX_BATCH 20   /* deliveries per run at most */
#define HANDOFF_TRANSCRIPT_MAX 60

typedef struct sess_outbox_conf {
    char webhook_url[OUTBOX_URL_MAX]; /* "" = no webhook */
    char webhook_secret[OUTBOX_SECRET_MAX];
    char smtp_url[OUTBOX_URL_MAX]; /* "" = no email */
    char smtp_from[MAIL_ADDR_MAX];
    char sales_email[OUTBOX_URL_MAX];
    int smtp_starttls;
    int64_t retry_base_ms, retry_max_ms, retry_for_ms;
    int64_t timeout_ms;  /* per delivery */
    int64_t interval_ms; /* how often due rows are looked for */
} sess_outbox_conf;

typedef struct sess_outbox sess_outbox;

/* Starts the delivery thread (c is copied). 0, or -1. */
int sess_outbox_start(sess_outbox **out, const char *db_url, const sess_outbox_conf *c);
/* Stops it after the delivery in progress; NULL is accepted. */
void sess_outbox_stop(sess_outbox *o);

/* The wait before the next attempt after `attempts` failed ones (>= 1). */
int64_t sess_outbox_backoff_ms(const sess_outbox_conf *c, int attempts);

/* "v1=<hex HMAC-SHA256(secret, ts "." body)>" into out. */
void sess_outbox_sign(const char *secret, const char *ts, const char *body, size_t body_len, char out[OUTBOX_SIG_MAX]);

#endif
