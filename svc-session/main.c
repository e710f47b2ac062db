/* svc-session: session state in Postgres (checkpoints, messages, leads,
 * usage, retention, erasure). This file wires the service: its variables,
 * its commands (--migrate), its start-up state (the token secret, the
 * limits, the retention thread) and its handler table (sess_rpc.c). */
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "encode.h"
#include "http_client.h"
#include "log.h"
#include "migrate.h"
#include "rpc_server.h"
#include "sess_admin.h"
#include "sess_lead.h"
#include "sess_retention.h"
#include "sess_rpc.h"
#include "session.pb-c.h"
#include "svc_db.h"
#include "svc_main.h"
#include "token.h"

/* The first sweep runs this soon after start (or after one interval when
 * that is shorter). */
#define SESS_RETENTION_FIRST_MS 2000
#define SESS_WEBHOOK_SECRET_MIN 16
/* List prices (USD per million input/output tokens) of the models we use;
 * the offline provider (extractive-v1) is free; unknown models are priced
 * as the dearest. */
#define SESS_DEFAULT_PRICES                                                                                            \
    "claude-sonnet-4-5=3/15,claude-sonnet-4=3/15,claude-haiku-4-5=1/5,claude-3-5-haiku=0.8/4,"                         \
    "claude-opus-4=15/75,gpt-4o-mini=0.15/0.6,gpt-4o=2.5/10,gpt-4.1-mini=0.4/1.6,gpt-4.1=2/8,extractive-=0/0,*=15/75"

SVC_HEALTH_HANDLER(sess_rpc_, sess_svc)

static sess_svc session_service = CHAT__SESSION__SESSION__INIT(sess_rpc_);

static const cfg_var session_vars[] = {
    {.name = "SESSION_SECRET",
     .type = CFG_STR,
     .flags = CFG_SECRET,
     .help = "HMAC key for session tokens (>= 32 chars); a random one per start when unset"},
    {.name = "SESSION_SECRET_PREVIOUS",
     .type = CFG_STR,
     .flags = CFG_SECRET,
     .help = "during a rotation: the SESSION_SECRET being retired, still accepted for existing tokens"},
    {.name = "BUSINESS_HOURS",
     .type = CFG_STR,
     .def = "Mon-Fri 09:00-18:00",
     .help = "when sales answers, e.g. \"Mon-Thu 09:00-18:00; Fri 09:00-17:00\" (at most 255 characters)"},
    {.name = "BUSINESS_TIMEZONE", .type = CFG_STR, .def = "Europe/Berlin", .help = "time zone of BUSINESS_HOURS"},
    {.name = "BUSINESS_HOLIDAYS_FILE",
     .type = CFG_STR,
     .help = "file of closed dates (\"2026-12-25\") or dates with other hours (\"2026-12-24 09:00-12:00\")"},
    {.name = "HANDOFF_RESPONSE_TIME",
     .type = CFG_DURATION_MS,
     .def = "15m",
     .min = 60000,
     .max = 604800000,
     .help = "the reply time a hand-off promises during business hours"},
    {.name = "HANDOFF_WEBHOOK_URL",
     .type = CFG_URL,
     .schemes = "http|https",
     .help = "sales is notified of each hand-off by a signed POST here"},
    {.name = "HANDOFF_WEBHOOK_SECRET",
     .type = CFG_STR,
     .flags = CFG_SECRET,
     .help = "HMAC-SHA256 key of the webhook signature (>= 16 characters; required with HANDOFF_WEBHOOK_URL)"},
    {.name = "SMTP_URL",
     .type = CFG_URL,
     .schemes = "smtp|smtps",
     .help = "sales is emailed each hand-off through this server (smtp://user:pass@host:587, smtps://...)"},
    {.name = "SMTP_FROM", .type = CFG_STR, .help = "the hand-off email's sender address"},
    {.name = "SALES_EMAIL", .type = CFG_STR, .help = "where hand-off emails go (addresses separated by ',')"},
    {.name = "SMTP_STARTTLS",
     .type = CFG_BOOL,
     .def = "true",
     .help = "require STARTTLS on smtp:// (smtps:// is TLS from the start)"},
    {.name = "HANDOFF_RETRY_BASE",
     .type = CFG_DURATION_MS,
     .def = "30s",
     .min = 100,
     .max = 3600000,
     .help = "first wait before a failed notification is retried (doubling after each failure)"},
    {.name = "HANDOFF_RETRY_MAX",
     .type = CFG_DURATION_MS,
     .def = "10m",
     .min = 100,
     .max = 86400000,
     .help = "longest wait between notification retries"},
    {.name = "HANDOFF_RETRY_FOR",
     .type = CFG_DURATION_MS,
     .def = "2h",
     .min = 1000,
     .max = 2592000000LL,
     .help = "a notification still failing this long after the hand-off is a dead letter"},
    {.name = "HANDOFF_TIMEOUT",
     .type = CFG_DURATION_MS,
     .def = "10s",
     .min = 100,
     .max = 300000,
     .help = "time one webhook or email delivery may take"},
    {.name = "HANDOFF_OUTBOX_INTERVAL",
     .type = CFG_DURATION_MS,
     .def = "2s",
     .min = 50,
     .max = 3600000,
     .help = "how often due notifications are looked for"},
    {.name = "RETENTION_DAYS",
     .type = CFG_INT,
     .def = "90",
     .min = 1,
     .max = 3650,
     .help = "conversations are deleted this many days after they start"},
    {.name = "RETENTION_INTERVAL",
     .type = CFG_DURATION_MS,
     .def = "1h",
     .min = 1000,
     .max = 604800000,
     .help = "how often expired sessions and handoff records are deleted"},
    {.name = "TURN_LOCK_TTL",
     .type = CFG_DURATION_MS,
     .def = "120s",
     .min = 1000,
     .max = 3600000,
     .help = "a turn's lock on its session expires after this (a crashed gateway cannot wedge it)"},
    {.name = "SESSION_MAX_TURNS",
     .type = CFG_INT,
     .def = "100",
     .min = 1,
     .max = 1000000,
     .help = "turns one conversation may have"},
    {.name = "SESSION_DAILY_TOKENS",
     .type = CFG_INT,
     .def = "200000",
     .min = 1,
     .max = 1000000000000LL,
     .help = "model tokens one conversation may use per UTC day"},
    {.name = "SESSION_TURNS_PER_MINUTE",
     .type = CFG_INT,
     .def = "10",
     .min = 1,
     .max = 10000,
     .help = "turns one conversation may start within a minute"},
    {.name = "SESSION_MAX_TOKENS",
     .type = CFG_INT,
     .def = "1000000",
     .min = 1,
     .max = 1000000000000LL,
     .help = "model tokens one conversation may use in all"},
    {.name = "GLOBAL_DAILY_COST",
     .type = CFG_STR,
     .def = "50",
     .help = "what all conversations together may cost per UTC day, in COST_CURRENCY (e.g. 50 or 12.5)"},
    {.name = "GLOBAL_MONTHLY_COST",
     .type = CFG_STR,
     .def = "1000",
     .help = "what all conversations together may cost per UTC month, in COST_CURRENCY"},
    {.name = "COST_CURRENCY", .type = CFG_STR, .def = "USD", .help = "the currency of MODEL_PRICES and the cost caps"},
    {.name = "MODEL_PRICES",
     .type = CFG_STR,
     .def = SESS_DEFAULT_PRICES,
     .help = "price of a million input/output tokens per model (\"model=IN/OUT,...\"; \"*\" = any other model)"},
    {.name = "GLOBAL_DAILY_TOKENS",
     .type = CFG_INT,
     .def = "5000000",
     .min = 1,
     .max = 1000000000000000LL,
     .help = "model tokens all conversations together may use per UTC day"},
    {.name = "HISTORY_LIMIT",
     .type = CFG_INT,
     .def = "20",
     .min = 1,
     .max = SESS_MAX_HISTORY,
     .help = "most recent messages a turn gets as history when the caller does not say"},
};

static int session_command(int argc, char **argv, const cfg *c)
{
    (void)argc;
    if (strcmp(argv[1], "--migrate") != 0 && strcmp(argv[1], "migrate") != 0) {
        return -1;
    }
    db_conn *db = NULL;
    if (db_open(&db, cfg_str(c, "DATABASE_URL"), "svc-session/migrate") != 0) {
        fprintf(stderr, "svc-session: cannot connect to DATABASE_URL: %s\n", db ? db->error : "out of memory");
        db_close(db);
        return 1;
    }
    char err[1024];
    int applied = 0;
    int rc = migrate_apply(db->pg, stdout, &applied, err, sizeof(err));
    if (rc != 0) {
        fprintf(stderr, "svc-session: %s\n", err);
    } else {
        printf("database schema up to date (%d migration%s applied now)\n", applied, applied == 1 ? "" : "s");
    }
    db_close(db);
    return rc == 0 ? 0 : 1;
}

/* The hand-off settings, and the delivery thread when a channel is set.
 * 0, or -1 with the reason logged (naming the variable). */
static int session_start_handoffs(sess_state *st, const cfg *c)
{
    st->handoff.hours = &st->hours;
    st->handoff.response_ms = cfg_int(c, "HANDOFF_RESPONSE_TIME");
    st->handoff.retention_days = st->lim.retention_days;
    sess_outbox_conf oc = {0};
    const char *url = cfg_str(c, "HANDOFF_WEBHOOK_URL"), *secret = cfg_str(c, "HANDOFF_WEBHOOK_SECRET");
    if (url != NULL && url[0] != '\0') {
        if (secret == NULL || strlen(secret) < SESS_WEBHOOK_SECRET_MIN || strlen(secret) >= sizeof(oc.webhook_secret)) {
            log_error("configuration error: HANDOFF_WEBHOOK_SECRET: needed with HANDOFF_WEBHOOK_URL, %d to %zu "
                      "characters, so sales can check a notification came from us",
                      SESS_WEBHOOK_SECRET_MIN, sizeof(oc.webhook_secret) - 1);
            return -1;
        }
        snprintf(oc.webhook_url, sizeof(oc.webhook_url), "%s", url);
        snprintf(oc.webhook_secret, sizeof(oc.webhook_secret), "%s", secret);
        st->handoff.webhook = 1;
    }
    const char *smtp = cfg_str(c, "SMTP_URL"), *from = cfg_str(c, "SMTP_FROM"), *to = cfg_str(c, "SALES_EMAIL");
    if (smtp != NULL && smtp[0] != '\0') {
        if (from == NULL || !lead_email_ok(from) || to == NULL || to[0] == '\0') {
            log_error("configuration error: SMTP_URL is set, so SMTP_FROM (an email address) and SALES_EMAIL "
                      "(where hand-offs go) are needed too");
            return -1;
        }
        snprintf(oc.smtp_url, sizeof(oc.smtp_url), "%s", smtp);
        snprintf(oc.smtp_from, sizeof(oc.smtp_from), "%s", from);
        snprintf(oc.sales_email, sizeof(oc.sales_email), "%s", to);
        oc.smtp_starttls = cfg_bool(c, "SMTP_STARTTLS") && strncmp(smtp, "smtps:", 6) != 0;
        st->handoff.email = 1;
    }
    if (!st->handoff.webhook && !st->handoff.email) {
        log_warn("no HANDOFF_WEBHOOK_URL or SMTP_URL: hand-offs are stored in handoff_records, but nobody is "
                 "notified of them");
        OPENSSL_cleanse(&oc, sizeof(oc));
        return 0;
    }
    oc.retry_base_ms = cfg_int(c, "HANDOFF_RETRY_BASE");
    oc.retry_max_ms = cfg_int(c, "HANDOFF_RETRY_MAX");
    oc.retry_for_ms = cfg_int(c, "HANDOFF_RETRY_FOR");
    oc.timeout_ms = cfg_int(c, "HANDOFF_TIMEOUT");
    oc.interval_ms = cfg_int(c, "HANDOFF_OUTBOX_INTERVAL");
    http_global_init();
    int rc = sess_outbox_start(&st->outbox, cfg_str(c, "DATABASE_URL"), &oc);
    OPENSSL_cleanse(&oc, sizeof(oc));
    if (rc != 0) {
        log_error("cannot start the notification thread");
        return -1;
    }
    return 0;
}

static int session_init(const cfg *c, void **state)
{
    sess_state *st = calloc(1, sizeof(*st));
    if (st == NULL) {
        return -1;
    }
    const char *secret = cfg_str(c, "SESSION_SECRET");
    if (secret != NULL && secret[0] != '\0') {
        st->secret_len = strlen(secret);
        memcpy(st->secret, secret, st->secret_len);
    } else {
        st->secret_len = 32;
        if (enc_random(st->secret, st->secret_len) != 0) {
            log_error("SESSION_SECRET: unset, and no randomness to make one");
            free(st);
            return -1;
        }
        log_warn("SESSION_SECRET is unset: using a random secret, so session tokens will not survive a restart "
                 "(and other replicas will not accept them); set SESSION_SECRET (>= %d characters)",
                 TOKEN_SECRET_MIN);
    }
    const char *previous = cfg_str(c, "SESSION_SECRET_PREVIOUS");
    if (previous != NULL && previous[0] != '\0') {
        st->previous_len = strlen(previous);
        memcpy(st->previous, previous, st->previous_len);
    }
    char herr[256];
    if (sess_hours_parse(&st->hours, cfg_str(c, "BUSINESS_HOURS"), cfg_str(c, "BUSINESS_TIMEZONE"),
                         cfg_str(c, "BUSINESS_HOLIDAYS_FILE"), herr, sizeof(herr)) != 0) {
        log_error("configuration error: %s", herr);
        free(st);
        return -1;
    }
    st->lim.retention_days = (int)cfg_int(c, "RETENTION_DAYS");
    st->lim.lock_ttl_ms = cfg_int(c, "TURN_LOCK_TTL");
    st->lim.max_turns = cfg_int(c, "SESSION_MAX_TURNS");
    st->lim.session_daily_tokens = cfg_int(c, "SESSION_DAILY_TOKENS");
    st->lim.global_daily_tokens = cfg_int(c, "GLOBAL_DAILY_TOKENS");
    st->lim.turns_per_minute = cfg_int(c, "SESSION_TURNS_PER_MINUTE");
    st->lim.session_tokens = cfg_int(c, "SESSION_MAX_TOKENS");
    st->lim.daily_cost_micros = sess_money_parse(cfg_str(c, "GLOBAL_DAILY_COST"));
    st->lim.monthly_cost_micros = sess_money_parse(cfg_str(c, "GLOBAL_MONTHLY_COST"));
    snprintf(st->currency, sizeof(st->currency), "%s", cfg_str(c, "COST_CURRENCY"));
    if (st->lim.daily_cost_micros <= 0 || st->lim.monthly_cost_micros <= 0) {
        log_error("configuration error: %s: must be an amount above 0 like 50 or 12.5",
                  st->lim.daily_cost_micros <= 0 ? "GLOBAL_DAILY_COST" : "GLOBAL_MONTHLY_COST");
        free(st);
        return -1;
    }
    if (sess_prices_parse(&st->prices, cfg_str(c, "MODEL_PRICES"), herr, sizeof(herr)) != 0) {
        log_error("configuration error: %s", herr);
        free(st);
        return -1;
    }
    st->history_limit = (unsigned)cfg_int(c, "HISTORY_LIMIT");
    st->retention_interval_ms = cfg_int(c, "RETENTION_INTERVAL");
    int64_t first =
        st->retention_interval_ms < SESS_RETENTION_FIRST_MS ? st->retention_interval_ms : SESS_RETENTION_FIRST_MS;
    if (sess_retention_start(&st->retention, cfg_str(c, "DATABASE_URL"), st->retention_interval_ms, first) != 0) {
        log_error("cannot start the retention thread");
        OPENSSL_cleanse(st->secret, sizeof(st->secret));
        free(st);
        return -1;
    }
    if (session_start_handoffs(st, c) != 0) {
        sess_retention_stop(st->retention);
        OPENSSL_cleanse(st->secret, sizeof(st->secret));
        free(st);
        return -1;
    }
    *state = st;
    return 0;
}

static void session_fini(void *state)
{
    sess_state *st = state;
    if (st == NULL) {
        return;
    }
    sess_outbox_stop(st->outbox);
    sess_retention_stop(st->retention);
    OPENSSL_cleanse(st->secret, sizeof(st->secret));
    OPENSSL_cleanse(st->previous, sizeof(st->previous));
    free(st);
}

/* SESSION_SECRET's minimum length, checked before serving so a short one
 * is a configuration error (exit 2) like any other bad value. */
static int session_check_secret(void)
{
    const char *p = getenv("SESSION_SECRET_PREVIOUS");
    if (p != NULL && p[0] != '\0' && strlen(p) < TOKEN_SECRET_MIN) {
        fprintf(stderr,
                "svc-session: configuration error: SESSION_SECRET_PREVIOUS: too short (%zu characters; at least %d)\n",
                strlen(p), TOKEN_SECRET_MIN);
        return -1;
    }
    const char *s = getenv("SESSION_SECRET");
    if (s != NULL && s[0] != '\0' && strlen(s) < TOKEN_SECRET_MIN) {
        fprintf(stderr,
                "svc-session: configuration error: SESSION_SECRET: too short (%zu characters; at least %d)\n"
                "(run svc-session --help for every variable)\n",
                strlen(s), TOKEN_SECRET_MIN);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 1 && session_check_secret() != 0) {
        return 2;
    }
    svc_def def = {
        .name = "svc-session",
        .summary = "conversation state, checkpoints, leads, usage and retention in Postgres",
        .usage_extra = "  svc-session --migrate    apply the database migrations (idempotent) and exit\n",
        .service = &session_service.base,
        .url_var = "SESSION_URL",
        .default_url = "tcp://127.0.0.1:7101",
        .needs_db = 1,
        SVC_DB_WORKERS,
        .vars = session_vars,
        .nvars = sizeof(session_vars) / sizeof(session_vars[0]),
        .command = session_command,
        .init = session_init,
        .fini = session_fini,
    };
    return svc_main(&def, argc, argv);
}
