/* sess_handoff.c: see sess_handoff.h. */
#include "sess_handoff.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"

/* Keywords per kind, lowercase, matched as substrings of the lowercased
 * reason (so "Preise" and "pricing" both hit). First kind that matches
 * wins, in this order. */
static const struct {
    const char *kind;
    const char *words[12];
} handoff_kinds[] = {
    {"demo", {"demo", "vorführ", "trial", "testversion", "walkthrough", "präsentation", NULL}},
    {"pricing", {"pric", "price", "quote", "cost", "budget", "offer", "preis", "angebot", "kosten", "tarif", NULL}},
    {"support", {"support", "problem", "bug", "broken", "error", "not working", "fehler", "hilfe", "störung", NULL}},
    {"person",
     {"person", "human", "someone", "somebody", "sales", "call", "talk", "mensch", "mitarbeiter", "vertrieb", "anruf",
      NULL}},
};

/* Appends the lowercased first HANDOFF_REASON_MAX bytes of s. */
static size_t handoff_lower(char *low, size_t n, size_t cap, const char *s)
{
    size_t took = 0;
    for (const char *p = s ? s : ""; *p && n + 1 < cap && took < HANDOFF_REASON_MAX; p++, took++) {
        low[n++] = (char)tolower((unsigned char)*p);
    }
    low[n] = '\0';
    return n;
}

const char *sess_handoff_kind(const char *reason, const char *message)
{
    char low[2 * HANDOFF_REASON_MAX + 2];
    size_t n = handoff_lower(low, 0, sizeof(low), reason);
    low[n++] = ' ';
    handoff_lower(low, n, sizeof(low), message);
    for (size_t k = 0; k < sizeof(handoff_kinds) / sizeof(handoff_kinds[0]); k++) {
        for (size_t w = 0; handoff_kinds[k].words[w] != NULL; w++) {
            if (strstr(low, handoff_kinds[k].words[w]) != NULL) {
                return handoff_kinds[k].kind;
            }
        }
    }
    return "other";
}

/* "15 minutes" / "15 Minuten", "2 hours" / "2 Stunden", "1 hour". */
static void handoff_duration(int64_t ms, int de, char *out, size_t outlen)
{
    int64_t min = (ms + 59999) / 60000;
    if (min >= 60 && min % 60 == 0) {
        int64_t h = min / 60;
        snprintf(out, outlen, "%lld %s", (long long)h,
                 de ? (h == 1 ? "Stunde" : "Stunden") : (h == 1 ? "hour" : "hours"));
    } else {
        snprintf(out, outlen, "%lld %s", (long long)min,
                 de ? (min == 1 ? "Minute" : "Minuten") : (min == 1 ? "minute" : "minutes"));
    }
}

void sess_handoff_promise(const sess_handoff_conf *c, time_t now, const char *lang, char *out, size_t outlen, int *open)
{
    int de = lang != NULL && strncasecmp(lang, "de", 2) == 0;
    *open = sess_hours_open(c->hours, now);
    if (*open) {
        char d[32];
        handoff_duration(c->response_ms, de, d, sizeof(d));
        snprintf(out, outlen,
                 de ? "Eine Kollegin oder ein Kollege meldet sich innerhalb von %s."
                    : "A colleague will reply within %s.",
                 d);
        return;
    }
    time_t next = sess_hours_next_open(c->hours, now);
    if (next == (time_t)-1) {
        snprintf(out, outlen,
                 de ? "Wir sind gerade nicht erreichbar; wir melden uns, sobald wir zurück sind."
                    : "We are closed now; we will reply as soon as we are back.");
        return;
    }
    char when[HANDOFF_WHEN_MAX];
    sess_hours_format(c->hours, now, next, lang, when, sizeof(when));
    snprintf(out, outlen,
             de ? "Wir sind gerade nicht erreichbar; wir melden uns %s (%s)."
                : "We are closed now; we will reply %s (%s).",
             when, c->hours->tz);
}

const char *sess_handoff_channels(const sess_handoff_conf *c)
{
    return c->webhook && c->email ? "{webhook,email}" : c->webhook ? "{webhook}" : c->email ? "{email}" : "{}";
}

rpc_code sess_handoff_record_chat(PGconn *pg, const sess_handoff_conf *c, const char *sid, const char *turn_id,
                                  const sess_handoff_req *rq, sess_handoff_out *out, sess_err *e)
{
    memset(out, 0, sizeof(*out));
    const char *sp[] = {sid};
    PGresult *r =
        PQexecParams(pg, "SELECT coalesce(locale, '') FROM sessions WHERE id = $1", 1, NULL, sp, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        rpc_code code = sess_pg_fail(pg, r, "commit (hand-off)", e);
        PQclear(r);
        return code;
    }
    char lang[16] = "";
    if (PQntuples(r) == 1) {
        snprintf(lang, sizeof(lang), "%s", PQgetvalue(r, 0, 0));
    }
    PQclear(r);
    int open;
    sess_handoff_promise(c, time(NULL), lang, out->promise, sizeof(out->promise), &open);
    char days[16];
    snprintf(days, sizeof(days), "%d", c->retention_days);
    const char *reason = rq->reason && rq->reason[0] ? rq->reason : "asked for a person";
    const char *p[] = {sid,
                       turn_id,
                       reason,
                       sess_handoff_kind(reason, rq->message),
                       rq->urgency ? rq->urgency : "",
                       out->promise,
                       open ? "t" : "f",
                       days,
                       sess_handoff_channels(c)};
    /* The lead as the caller's transaction left it; the fields the table
     * has a column for come out of `fields`. */
    r = PQexecParams(
        pg,
        "WITH h AS ("
        "  INSERT INTO handoff_records AS hr (session_id, source, name, email, phone, company, need,"
        "         fields, reason, reason_kind, turn_id, urgency, consent, promised_response,"
        "         within_business_hours, ip_hash, expires_at)"
        "  SELECT s.id, 'chat', NULLIF(s.lead->>'name', ''), NULLIF(s.lead->>'email', ''),"
        "         NULLIF(s.lead->>'phone', ''), NULLIF(s.lead->>'company', ''),"
        "         NULLIF(s.lead->>'need', ''),"
        "         jsonb_strip_nulls(s.lead - 'name' - 'email' - 'phone' - 'company' - 'need' - 'consent'),"
        "         $3, $4, $2, NULLIF($5, ''), coalesce((s.lead->>'consent')::boolean, false), $6,"
        "         $7::boolean, s.ip_hash, now() + make_interval(days => $8::int)"
        "    FROM sessions s WHERE s.id = $1"
        "  ON CONFLICT (session_id, reason_kind) WHERE source = 'chat' AND reason_kind <> 'form'"
        "  DO UPDATE SET name = coalesce(EXCLUDED.name, hr.name), email = coalesce(EXCLUDED.email, hr.email),"
        "         phone = coalesce(EXCLUDED.phone, hr.phone), company = coalesce(EXCLUDED.company, hr.company),"
        "         need = coalesce(EXCLUDED.need, hr.need), fields = hr.fields || EXCLUDED.fields,"
        "         consent = hr.consent OR EXCLUDED.consent, urgency = coalesce(EXCLUDED.urgency, hr.urgency),"
        "         updated_at = now()"
        "  RETURNING hr.id, (hr.xmax = 0) AS created"
        "), o AS ("
        "  INSERT INTO handoff_outbox (handoff_id, channel)"
        "  SELECT h.id, ch FROM h, unnest($9::text[]) AS ch WHERE h.created"
        "  ON CONFLICT (handoff_id, channel) DO NOTHING RETURNING 1"
        ") SELECT id, created, (SELECT count(*) FROM o) FROM h",
        9, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        rpc_code code = sess_pg_fail(pg, r, "commit (hand-off)", e);
        PQclear(r);
        return code;
    }
    if (PQntuples(r) == 1) {
        out->id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
        out->created = PQgetvalue(r, 0, 1)[0] == 't';
    }
    PQclear(r);
    return RPC_OK;
}

rpc_code sess_handoff_of_turn(PGconn *pg, const char *sid, const char *turn_id, sess_handoff_out *out, sess_err *e)
{
    memset(out, 0, sizeof(*out));
    const char *p[] = {sid, turn_id};
    PGresult *r = PQexecParams(pg,
                               "SELECT id, coalesce(promised_response, '') FROM handoff_records"
                               " WHERE session_id = $1 AND turn_id = $2 AND source = 'chat' ORDER BY id LIMIT 1",
                               2, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        rpc_code code = sess_pg_fail(pg, r, "commit (hand-off)", e);
        PQclear(r);
        return code;
    }
    if (PQntuples(r) == 1) {
        out->id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
        snprintf(out->promise, sizeof(out->promise), "%s", PQgetvalue(r, 0, 1));
    }
    PQclear(r);
    return RPC_OK;
}
