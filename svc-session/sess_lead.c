/* sess_lead.c: see sess_lead.h. */
#include "sess_lead.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db.h"
#include "lead_slots.h"
#include "log.h"
#include "rpc_server.h"
#include "token.h"
#include "utf8.h"

static int lead_text(void *cd, const char *field, const char *s, size_t max)
{
    size_t n = s ? strlen(s) : 0;
    if (n > max) {
        rpc_fail(cd, RPC_INVALID_ARGUMENT, "%s is too long (at most %zu bytes)", field, max);
        return 0;
    }
    if (n > 0 && !utf8_valid(s, n)) {
        rpc_fail(cd, RPC_INVALID_ARGUMENT, "%s is not valid UTF-8", field);
        return 0;
    }
    return 1;
}

void sess_rpc_submit_lead(sess_svc *svc, const Chat__Session__SubmitLeadRequest *in,
                          Chat__Session__SubmitLeadReply_Closure done, void *cd)
{
    (void)svc;
    const sess_state *st = rpc_call_server_arg(cd);
    const char *sid = in->session_id ? in->session_id : "";
    if (sid[0] && !token_id_valid(sid)) {
        rpc_fail(cd, RPC_INVALID_ARGUMENT, "session_id is malformed");
        done(NULL, cd);
        return;
    }
    if (!lead_text(cd, "name", in->name, LEAD_NAME_MAX) || !lead_text(cd, "email", in->email, LEAD_EMAIL_MAX) ||
        !lead_text(cd, "phone", in->phone, LEAD_PHONE_MAX) || !lead_text(cd, "company", in->company, LEAD_NAME_MAX) ||
        !lead_text(cd, "message", in->message, LEAD_MESSAGE_MAX) ||
        !lead_text(cd, "reason", in->reason, SESS_MAX_FIELD) ||
        !lead_text(cd, "ip_hash", in->ip_hash, SESS_MAX_FIELD)) {
        done(NULL, cd);
        return;
    }
    int has_email = in->email && in->email[0], has_phone = in->phone && in->phone[0];
    if (!has_email && !has_phone) {
        rpc_fail(cd, RPC_INVALID_ARGUMENT, "an email address or a phone number is needed so we can reach you");
        done(NULL, cd);
        return;
    }
    if (has_email && !lead_email_ok(in->email)) {
        rpc_fail(cd, RPC_INVALID_ARGUMENT, "the email address does not look right");
        done(NULL, cd);
        return;
    }
    if (!in->consent) {
        rpc_fail(cd, RPC_INVALID_ARGUMENT, "please agree to be contacted, so we may use your details to reply");
        done(NULL, cd);
        return;
    }
    const char *source = in->source && strcmp(in->source, "chat") == 0 ? "chat" : "form";
    db_conn *db = rpc_call_worker_data(cd);
    PGconn *pg = db ? db_ready(db) : NULL;
    if (pg == NULL) {
        rpc_fail(cd, RPC_UNAVAILABLE, "the lead store is unavailable; please try again in a moment");
        rpc_set_retry_after(cd, 1000);
        done(NULL, cd);
        return;
    }
    char lang[16] = "", promise[HANDOFF_PROMISE_MAX];
    if (sid[0]) {
        const char *lp[] = {sid};
        PGresult *lr =
            PQexecParams(pg, "SELECT coalesce(locale, '') FROM sessions WHERE id = $1", 1, NULL, lp, NULL, NULL, 0);
        if (PQresultStatus(lr) == PGRES_TUPLES_OK && PQntuples(lr) == 1) {
            snprintf(lang, sizeof(lang), "%s", PQgetvalue(lr, 0, 0));
        }
        PQclear(lr);
    }
    int open;
    sess_handoff_promise(&st->handoff, time(NULL), lang, promise, sizeof(promise), &open);
    if (in->discard) {
        /* A bot filled the honeypot: the same answer as a stored lead, so
         * it learns nothing, and no row. */
        Chat__Session__SubmitLeadReply out = CHAT__SESSION__SUBMIT_LEAD_REPLY__INIT;
        out.within_business_hours = open;
        out.business_hours = (char *)st->hours.text;
        out.promise = promise;
        log_fields(LOG_INFO, "honeypot", "source", source, "stored", "false", NULL);
        done(&out, cd);
        return;
    }
    char days[16];
    snprintf(days, sizeof(days), "%d", st->lim.retention_days);
    const char *p[] = {sid,
                       source,
                       in->name ? in->name : "",
                       in->email ? in->email : "",
                       in->phone ? in->phone : "",
                       in->company ? in->company : "",
                       in->message ? in->message : "",
                       in->reason && in->reason[0] ? in->reason : (source[0] == 'f' ? "contact form" : "chat hand-off"),
                       open ? "t" : "f",
                       in->ip_hash ? in->ip_hash : "",
                       days,
                       promise,
                       sess_handoff_channels(&st->handoff)};
    /* A session that does not exist (any more) is not linked. The row and
     * its notifications in one statement. */
    PGresult *r =
        PQexecParams(pg,
                     "WITH h AS ("
                     " INSERT INTO handoff_records (session_id, source, name, email, phone, company, need, "
                     " reason, reason_kind, consent, promised_response, within_business_hours, ip_hash, "
                     " expires_at) "
                     " VALUES ((SELECT id FROM sessions WHERE id = NULLIF($1, '')), $2, NULLIF($3, ''), "
                     " NULLIF($4, ''), NULLIF($5, ''), NULLIF($6, ''), NULLIF($7, ''), $8, 'form', true, $12, "
                     " $9::boolean, NULLIF($10, ''), now() + make_interval(days => $11::int)) RETURNING id"
                     "), o AS ("
                     " INSERT INTO handoff_outbox (handoff_id, channel)"
                     " SELECT h.id, ch FROM h, unnest($13::text[]) AS ch RETURNING 1"
                     ") SELECT id FROM h",
                     13, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        log_warn("submit lead: %s", PQresultErrorMessage(r));
        PQclear(r);
        rpc_fail(cd, RPC_UNAVAILABLE, "the lead could not be stored; please try again in a moment");
        rpc_set_retry_after(cd, 1000);
        done(NULL, cd);
        return;
    }
    Chat__Session__SubmitLeadReply out = CHAT__SESSION__SUBMIT_LEAD_REPLY__INIT;
    out.handoff_id = atoll(PQgetvalue(r, 0, 0));
    out.within_business_hours = open;
    out.business_hours = (char *)st->hours.text;
    out.promise = promise;
    PQclear(r);
    log_fields(LOG_INFO, "lead received", "source", source, "within_business_hours", open ? "true" : "false", NULL);
    done(&out, cd);
}
