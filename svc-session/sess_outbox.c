/* sess_outbox.c: see sess_outbox.h. */
#include "sess_outbox.h"

#include <inttypes.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db.h"
#include "encode.h"
#include "http_client.h"
#include "log.h"
#include "sess_ticker.h"

#define OUTBOX_ERR_MAX 256

struct sess_outbox {
    sess_ticker *ticker;
    sess_outbox_conf c;
};

int64_t sess_outbox_backoff_ms(const sess_outbox_conf *c, int attempts)
{
    int64_t d = c->retry_base_ms;
    for (int i = 1; i < attempts && d < c->retry_max_ms; i++) {
        d *= 2;
    }
    return d < c->retry_max_ms ? d : c->retry_max_ms;
}

void sess_outbox_sign(const char *secret, const char *ts, const char *body, size_t body_len, char out[OUTBOX_SIG_MAX])
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    size_t tl = strlen(ts);
    unsigned char *msg = malloc(tl + 1 + body_len);
    out[0] = '\0';
    if (msg == NULL) {
        return;
    }
    memcpy(msg, ts, tl);
    msg[tl] = '.';
    memcpy(msg + tl + 1, body, body_len);
    if (HMAC(EVP_sha256(), secret, (int)strlen(secret), msg, tl + 1 + body_len, mac, &mac_len) != NULL) {
        memcpy(out, "v1=", 3);
        enc_hex(mac, mac_len, out + 3, OUTBOX_SIG_MAX - 3);
    }
    free(msg);
}

/* The payload of a hand-off as JSON text, built by Postgres. */
static const char outbox_payload_sql[] =
    "SELECT json_build_object("
    " 'event', 'handoff.created', 'delivery_id', $2::bigint, 'handoff_id', h.id,"
    " 'created_at', h.created_at, 'source', h.source, 'status', h.status, 'reason', h.reason,"
    " 'reason_kind', h.reason_kind, 'urgency', h.urgency, 'within_business_hours', h.within_business_hours,"
    " 'promised_response', h.promised_response, 'session_id', h.session_id,"
    " 'lead', json_build_object('name', h.name, 'email', h.email, 'phone', h.phone, 'company', h.company,"
    "   'need', h.need, 'consent', h.consent, 'fields', h.fields),"
    " 'transcript', coalesce((SELECT json_agg(json_build_object('role', m.role, 'content', m.content,"
    "   'at', m.created_at) ORDER BY m.id) FROM (SELECT id, role, content, created_at FROM messages"
    "   WHERE session_id = h.session_id ORDER BY id DESC LIMIT 60) m), '[]'::json))::text"
    " FROM handoff_records h WHERE h.id = $1";

static int outbox_webhook(const sess_outbox_conf *c, long long id, const char *body, char *err, size_t errlen)
{
    char ts[24], delivery[48], sig[OUTBOX_SIG_MAX], sig_h[OUTBOX_SIG_MAX + 32], ts_h[48];
    snprintf(ts, sizeof(ts), "%lld", (long long)time(NULL));
    sess_outbox_sign(c->webhook_secret, ts, body, strlen(body), sig);
    snprintf(ts_h, sizeof(ts_h), "X-Chat-Timestamp: %s", ts);
    snprintf(sig_h, sizeof(sig_h), "X-Chat-Signature: %s", sig);
    snprintf(delivery, sizeof(delivery), "X-Chat-Delivery: %lld", id);
    const char *headers[] = {"Content-Type: application/json", ts_h, sig_h, delivery, NULL};
    http_request rq = {
        .method = "POST",
        .url = c->webhook_url,
        .headers = headers,
        .body = body,
        .body_len = strlen(body),
        .timeout_ms = (unsigned)c->timeout_ms,
        .max_body = 65536,
        .user_agent = "chat-handoff/1",
    };
    http_response r = {0};
    http_status st = http_perform(&rq, &r);
    int ok = st == HTTP_OK && r.status >= 200 && r.status < 300;
    if (!ok) {
        if (st == HTTP_OK) {
            snprintf(err, errlen, "webhook answered HTTP %ld", r.status);
        } else {
            snprintf(err, errlen, "webhook: %.200s", r.error[0] ? r.error : "no response");
        }
    }
    http_response_free(&r);
    return ok ? 0 : -1;
}

static int outbox_email(const sess_outbox_conf *c, long long id, const char *body, char *err, size_t errlen)
{
    json_t *p = json_loads(body, 0, NULL);
    sess_mail_conf mc = {.url = c->smtp_url,
                         .from = c->smtp_from,
                         .to = c->sales_email,
                         .starttls = c->smtp_starttls,
                         .timeout_ms = (unsigned)c->timeout_ms};
    char *msg = p ? sess_mail_message(&mc, p, id, time(NULL)) : NULL;
    json_decref(p);
    if (msg == NULL) {
        snprintf(err, errlen, "could not build the email");
        return -1;
    }
    int rc = sess_mail_send(&mc, msg, err, errlen);
    free(msg);
    return rc;
}

/* Records the outcome of one delivery. */
static void outbox_settle(PGconn *pg, const sess_outbox_conf *c, const char *id, int attempts, int64_t age_ms,
                          const char *channel, const char *err)
{
    PGresult *r;
    if (err == NULL) {
        const char *p[] = {id};
        r = PQexecParams(pg,
                         "UPDATE handoff_outbox SET state = 'sent', sent_at = now(), last_error = NULL WHERE id = $1",
                         1, NULL, p, NULL, NULL, 0);
        log_fields(LOG_INFO, "hand-off delivered", "channel", channel, "delivery", id, NULL);
    } else if (age_ms >= c->retry_for_ms) {
        const char *p[] = {id, err};
        r = PQexecParams(pg, "UPDATE handoff_outbox SET state = 'dead', last_error = $2 WHERE id = $1", 2, NULL, p,
                         NULL, NULL, 0);
        log_fields(LOG_ERROR, "hand-off notification failed for good (dead letter)", "channel", channel, "delivery", id,
                   "error", err, NULL);
    } else {
        char secs[32];
        snprintf(secs, sizeof(secs), "%.3f", (double)sess_outbox_backoff_ms(c, attempts) / 1000.0);
        const char *p[] = {id, err, secs};
        r = PQexecParams(pg,
                         "UPDATE handoff_outbox SET last_error = $2,"
                         " next_attempt_at = now() + make_interval(secs => $3::double precision) WHERE id = $1",
                         3, NULL, p, NULL, NULL, 0);
        log_fields(LOG_WARN, "hand-off notification failed; will retry", "channel", channel, "delivery", id, "error",
                   err, "retry_in_s", secs, NULL);
    }
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        log_warn("outbox: could not record delivery %s: %s", id, PQresultErrorMessage(r));
    }
    PQclear(r);
}

/* Leases and delivers one due row; 1 when there was one, 0 when none, -1
 * on a database error. */
static int outbox_one(PGconn *pg, const sess_outbox_conf *c)
{
    char lease[32];
    snprintf(lease, sizeof(lease), "%.3f", (double)(2 * c->timeout_ms + 30000) / 1000.0);
    const char *lp[] = {lease};
    PGresult *r = PQexecParams(pg,
                               "UPDATE handoff_outbox o SET attempts = o.attempts + 1,"
                               " next_attempt_at = now() + make_interval(secs => $1::double precision)"
                               " WHERE o.id = (SELECT id FROM handoff_outbox WHERE state = 'pending'"
                               "  AND next_attempt_at <= now() ORDER BY next_attempt_at, id LIMIT 1"
                               "  FOR UPDATE SKIP LOCKED)"
                               " RETURNING o.id, o.handoff_id, o.channel, o.attempts,"
                               " (extract(epoch FROM now() - o.created_at) * 1000)::bigint",
                               1, NULL, lp, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        log_warn("outbox: %s", PQresultErrorMessage(r));
        PQclear(r);
        return -1;
    }
    if (PQntuples(r) == 0) {
        PQclear(r);
        return 0;
    }
    char id[24], channel[16];
    snprintf(id, sizeof(id), "%s", PQgetvalue(r, 0, 0));
    snprintf(channel, sizeof(channel), "%s", PQgetvalue(r, 0, 2));
    const char *pp[] = {PQgetvalue(r, 0, 1), id};
    int attempts = atoi(PQgetvalue(r, 0, 3));
    int64_t age_ms = strtoll(PQgetvalue(r, 0, 4), NULL, 10);
    PGresult *pr = PQexecParams(pg, outbox_payload_sql, 2, NULL, pp, NULL, NULL, 0);
    PQclear(r);
    if (PQresultStatus(pr) != PGRES_TUPLES_OK || PQntuples(pr) != 1) {
        /* Erased meanwhile: the cascade takes the row; otherwise retried. */
        log_warn("outbox: no payload for delivery %s: %s", id, PQresultErrorMessage(pr));
        PQclear(pr);
        return 1;
    }
    char err[OUTBOX_ERR_MAX] = "";
    const char *body = PQgetvalue(pr, 0, 0);
    long long did = strtoll(id, NULL, 10);
    int rc = strcmp(channel, "email") == 0 ? outbox_email(c, did, body, err, sizeof(err))
                                           : outbox_webhook(c, did, body, err, sizeof(err));
    PQclear(pr);
    outbox_settle(pg, c, id, attempts, age_ms, channel, rc == 0 ? NULL : err);
    return 1;
}

static void outbox_run(sess_ticker *t, db_conn *db, void *arg)
{
    sess_outbox *o = arg;
    PGconn *pg = db_ready(db);
    if (pg == NULL) {
        log_warn("outbox: database not reachable, will retry: %s", db->error);
        return;
    }
    for (int i = 0; i < OUTBOX_BATCH && !sess_ticker_stopping(t); i++) {
        if (outbox_one(pg, &o->c) <= 0) {
            break;
        }
    }
}

int sess_outbox_start(sess_outbox **out, const char *db_url, const sess_outbox_conf *c)
{
    *out = NULL;
    sess_outbox *o = calloc(1, sizeof(*o));
    if (o == NULL) {
        return -1;
    }
    o->c = *c;
    if (sess_ticker_start(&o->ticker, "svc-session/outbox", db_url, c->interval_ms, c->interval_ms, outbox_run, o) !=
        0) {
        free(o);
        return -1;
    }
    *out = o;
    return 0;
}

void sess_outbox_stop(sess_outbox *o)
{
    if (o == NULL) {
        return;
    }
    sess_ticker_stop(o->ticker);
    free(o);
}
