/* gateway: the HTTP edge (libmicrohttpd + Server-Sent Events). It turns
 * widget requests into RPC calls to the four services and holds no durable
 * state. This file: configuration, start, stop. */
#include <stdio.h>
#include <string.h>

#include "admin.h"
#include "auth.h"
#include "backends.h"
#include "bot_score.h"
#include "clock.h"
#include "config.h"
#include "cors.h"
#include "http.h"
#include "http_client.h"
#include "lead_score.h"
#include "lead_slots.h"
#include "log.h"
#include "respond.h"
#include "rpc_auth.h"
#include "sessions.h"
#include "shutdown.h"
#include "sse.h"
#include "static.h"
#include "throttle.h"
#include "turn.h"
#include "turnstile.h"

#ifndef CHAT_VERSION
#define CHAT_VERSION "dev"
#endif

static const cfg_var gw_vars[] = {
    {.name = "LOG_LEVEL",
     .type = CFG_ENUM,
     .def = "info",
     .choices = "debug|info|warn|error",
     .help = "least important log level written"},
    {.name = "HTTP_ADDR", .type = CFG_STR, .def = "127.0.0.1", .help = "IPv4 address to listen on (0.0.0.0 for all)"},
    {.name = "HTTP_PORT", .type = CFG_INT, .def = "8080", .min = 1, .max = 65535, .help = "HTTP port"},
    {.name = "HTTP_MAX_CONNECTIONS",
     .type = CFG_INT,
     .def = "16384",
     .min = 16,
     .max = 1000000,
     .help = "open connections at most (SSE streams included)"},
    {.name = "HTTP_MAX_HEADERS",
     .type = CFG_INT,
     .def = "64",
     .min = 8,
     .max = 1000,
     .help = "header lines a request may have; more get 431"},
    {.name = "HTTP_MAX_HEADER_BYTES",
     .type = CFG_INT,
     .def = "8192",
     .min = 1024,
     .max = 524288,
     .help = "bytes of request line + headers (large Cookie headers count); more get 431; at most half of "
             "HTTP_CONNECTION_MEMORY"},
    {.name = "HTTP_CONNECTION_MEMORY",
     .type = CFG_INT,
     .def = "32768",
     .min = 4096,
     .max = 1048576,
     .help = "bytes of the HTTP library's memory pool per connection (SSE streams included: 10,000 streams hold "
             "10,000 pools)"},
    {.name = "HTTP_IDLE_TIMEOUT",
     .type = CFG_DURATION_MS,
     .def = "60s",
     .min = 1000,
     .max = 3600000,
     .help = "close a connection idle this long (streams send heartbeats)"},
    {.name = "HTTP_REQUEST_TIMEOUT",
     .type = CFG_DURATION_MS,
     .def = "10s",
     .min = 1000,
     .max = 600000,
     .help = "a request's headers and body must arrive within this (slow clients are cut; streams are not)"},
    {.name = "HTTP_MAX_CONNECTIONS_PER_IP",
     .type = CFG_INT,
     .def = "64",
     .min = 0,
     .max = 1000000,
     .help = "open connections per client IP (behind a trusted proxy: requests in progress per client); 0 = no cap"},
    {.name = "HSTS_MAX_AGE",
     .type = CFG_INT,
     .def = "0",
     .min = 0,
     .max = 63072000,
     .help = "Strict-Transport-Security max-age in seconds on every response (0 = no header; set it behind HTTPS)"},
    {.name = "SESSION_URL",
     .type = CFG_URL,
     .def = "tcp://127.0.0.1:7101",
     .schemes = "tcp|ipc|inproc",
     .help = "svc-session address"},
    {.name = "RETRIEVAL_URL",
     .type = CFG_URL,
     .def = "tcp://127.0.0.1:7102",
     .schemes = "tcp|ipc|inproc",
     .help = "svc-retrieval address"},
    {.name = "LLM_URL",
     .type = CFG_URL,
     .def = "tcp://127.0.0.1:7103",
     .schemes = "tcp|ipc|inproc",
     .help = "svc-llm address"},
    {.name = "INDEXER_URL",
     .type = CFG_URL,
     .def = "tcp://127.0.0.1:7104",
     .schemes = "tcp|ipc|inproc",
     .help = "svc-indexer address"},
    {.name = "RPC_SECRET",
     .type = CFG_STR,
     .flags = CFG_SECRET,
     .help = "shared secret (>= 32 characters) that authenticates calls to the services; the same on every app"},
    {.name = "SESSION_SECRET",
     .type = CFG_STR,
     .flags = CFG_REQUIRED | CFG_SECRET,
     .help = "HMAC key of session tokens, the same as svc-session's (>= 32 characters)"},
    {.name = "SESSION_SECRET_PREVIOUS",
     .type = CFG_STR,
     .flags = CFG_SECRET,
     .help = "during a rotation: the SESSION_SECRET being retired, still accepted for existing tokens"},
    {.name = "IP_HASH_SECRET",
     .type = CFG_STR,
     .flags = CFG_SECRET,
     .help = "HMAC key for client IPs (only hashes are kept); random per start when unset"},
    {.name = "ALLOWED_ORIGINS",
     .type = CFG_STR,
     .def = "http://127.0.0.1:8080,http://localhost:8080",
     .help = "browser origins allowed to use the API, comma-separated (\"*\" = any, for development)"},
    {.name = "ADMIN_TOKEN",
     .type = CFG_STR,
     .flags = CFG_SECRET,
     .help = "bearer token of the /admin API (>= 16 characters); the API is off when unset"},
    {.name = "TRUST_CLOUDFLARE",
     .type = CFG_BOOL,
     .def = "false",
     .help = "believe CF-Connecting-IP from Cloudflare's address ranges (read from CLOUDFLARE_IPS_FILE)"},
    {.name = "CLOUDFLARE_IPS_FILE",
     .type = CFG_STR,
     .def = "deploy/cloudflare/ips.txt",
     .help = "Cloudflare's published ranges, one CIDR a line (read when TRUST_CLOUDFLARE is on)"},
    {.name = "TRUSTED_PROXIES",
     .type = CFG_STR,
     .help = "more proxy addresses/CIDRs whose CF-Connecting-IP is believed, comma-separated (a bad one stops the "
             "start)"},
    {.name = "TRUST_X_FORWARDED_FOR",
     .type = CFG_BOOL,
     .def = "false",
     .help = "from a trusted proxy, take the client from X-Forwarded-For (its right-most untrusted hop)"},
    {.name = "RATE_SESSIONS",
     .type = CFG_STR,
     .def = "20/10m",
     .help = "new sessions per client IP: COUNT/PERIOD [burst N] (burst defaults to COUNT), or off"},
    {.name = "RATE_CHAT",
     .type = CFG_STR,
     .def = "30/10m",
     .help = "chat turns per client IP (as Cloudflare's rule): COUNT/PERIOD [burst N], or off"},
    {.name = "RATE_LEADS",
     .type = CFG_STR,
     .def = "5/10m",
     .help = "contact-form submissions per client IP: COUNT/PERIOD [burst N], or off"},
    {.name = "RATE_ADMIN",
     .type = CFG_STR,
     .def = "60/1m",
     .help = "admin API requests per client IP: COUNT/PERIOD [burst N], or off; a wrong token costs "
             "ADMIN_FAIL_COST of them"},
    {.name = "RATE_TABLE_SIZE",
     .type = CFG_INT,
     .def = "65536",
     .min = RL_TABLE_MIN,
     .max = RL_TABLE_MAX,
     .help = "client IPs the rate limiter tracks at once (48 bytes each; the least indebted is forgotten first)"},
    {.name = "RATE_IPV6_PREFIX",
     .type = CFG_INT,
     .def = "64",
     .min = 16,
     .max = 128,
     .help = "IPv6 clients share a limit per network of this prefix length"},
    {.name = "TURNSTILE_SECRET",
     .type = CFG_STR,
     .flags = CFG_SECRET,
     .help = "Cloudflare Turnstile secret key: when set, POST /v1/sessions needs a widget token Siteverify accepts"},
    {.name = "TURNSTILE_SITE_KEY",
     .type = CFG_STR,
     .help = "Turnstile site key the widget renders the challenge with (GET /v1/config); needed with the secret"},
    {.name = "TURNSTILE_VERIFY_URL",
     .type = CFG_URL,
     .def = "https://challenges.cloudflare.com/turnstile/v0/siteverify",
     .schemes = "http|https",
     .help = "the Siteverify endpoint (tests point it at a fake)"},
    {.name = "TURNSTILE_TIMEOUT",
     .type = CFG_DURATION_MS,
     .def = "5s",
     .min = 100,
     .max = 30000,
     .help = "time for one token check in all (a retry included); then it counts as unreachable"},
    {.name = "TURNSTILE_FAIL_OPEN",
     .type = CFG_BOOL,
     .def = "false",
     .help = "when Siteverify is unreachable, let the session start anyway (default: 503, fail closed)"},
    {.name = "TURNSTILE_EXPECTED_HOSTNAME",
     .type = CFG_STR,
     .help = "hostnames a token must have been issued on, comma-separated (unset = any)"},
    {.name = "BOT_SCORE_HEADER",
     .type = CFG_STR,
     .help = "request header with a proxy's bot score 1..99, believed from trusted peers only (unset = off)"},
    {.name = "BOT_SCORE_MIN",
     .type = CFG_INT,
     .def = "30",
     .min = 1,
     .max = 99,
     .help = "a bot score below this refuses new sessions and chat turns (403 bot_suspected)"},
    {.name = "HEARTBEAT_INTERVAL",
     .type = CFG_DURATION_MS,
     .def = "15s",
     .min = 100,
     .max = 60000,
     .help = "SSE \": ping\" interval on idle streams (also how fast a vanished client is noticed)"},
    {.name = "DISCONNECT_GRACE",
     .type = CFG_DURATION_MS,
     .def = "10s",
     .min = 0,
     .max = 600000,
     .help = "a turn with no reader this long is cancelled (a reconnect within it resumes)"},
    {.name = "TURN_RETAIN",
     .type = CFG_DURATION_MS,
     .def = "5m",
     .min = 1000,
     .max = 86400000,
     .help = "finished turns kept in memory for resume (or less long: see TURN_RETAIN_BYTES)"},
    {.name = "TURN_RETAIN_BYTES",
     .type = CFG_INT,
     .def = "67108864",
     .min = 65536,
     .max = 68719476736,
     .help = "bytes the finished turns kept for resume may hold together; past it the oldest go first (64 MiB "
             "holds about 20,000 turns)"},
    {.name = "MAX_TURNS",
     .type = CFG_INT,
     .def = "20000",
     .min = 1,
     .max = 1000000,
     .help = "turns running at once; more are answered 503 (finished turns do not count)"},
    {.name = "WIDGET_DIR",
     .type = CFG_STR,
     .def = "widget",
     .help = "folder with chat.js and demo.html, served at /widget/chat.js and /demo"},
    {.name = "SEARCH_K", .type = CFG_INT, .def = "5", .min = 1, .max = 20, .help = "sources retrieved per turn"},
    {.name = "LEAD_SLOTS",
     .type = CFG_STR,
     .def = LEAD_SLOTS_DEFAULT,
     .help = "lead fields kept from record_lead (name, email, phone, company, need, team_size, timeline, budget)"},
    {.name = "LEAD_DEFAULT_COUNTRY",
     .type = CFG_ENUM,
     .def = LEAD_COUNTRY_DEFAULT,
     .choices = LEAD_COUNTRIES,
     .help = "country of phone numbers given without a country code (stored as E.164)"},
    {.name = "LEAD_SCORE_WEIGHTS",
     .type = CFG_STR,
     .def = LEAD_SCORE_WEIGHTS_DEFAULT,
     .help = "points of a lead: per slot with a value, intent (pricing, demo, quote) and person (asks for one)"},
    {.name = "HANDOFF_SCORE",
     .type = CFG_INT,
     .def = "60",
     .min = 0,
     .max = 1000000,
     .help = "a lead with this score is handed to the team at the end of the turn (0 = never by score)"},
};
#define GW_NVARS (sizeof(gw_vars) / sizeof(gw_vars[0]))

static void gw_usage(FILE *out)
{
    fprintf(out, "gateway %s: the HTTP/SSE edge of the chat system\n\n", CHAT_VERSION);
    fprintf(out, "Usage:\n  gateway                 serve HTTP until SIGTERM/SIGINT\n"
                 "  gateway --print-config  show the effective configuration (secrets masked)\n"
                 "  gateway --version\n  gateway --help\n\nConfiguration (environment):\n");
    cfg_help(gw_vars, GW_NVARS, out);
}

int main(int argc, char **argv)
{
    int64_t t0 = clock_mono_us();
    if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        gw_usage(stdout);
        return 0;
    }
    if (argc > 1 && strcmp(argv[1], "--version") == 0) {
        printf("gateway %s\n", CHAT_VERSION);
        return 0;
    }
    char err[512];
    cfg *c = NULL;
    if (cfg_load(&c, gw_vars, GW_NVARS, err, sizeof(err)) != 0) {
        fprintf(stderr, "gateway: configuration error: %s\n(run gateway --help for every variable)\n", err);
        return 2;
    }
    if (cfg_is_set(c, "RPC_SECRET") && rpc_auth_secret_check(cfg_str(c, "RPC_SECRET"), err, sizeof(err)) != 0) {
        fprintf(stderr, "gateway: configuration error: %s\n", err);
        cfg_free(c);
        return 2;
    }
    if (argc > 1 && strcmp(argv[1], "--print-config") == 0) {
        cfg_print(c, stdout);
        cfg_free(c);
        return 0;
    }
    if (argc > 1) {
        fprintf(stderr, "gateway: unknown argument \"%s\" (see --help)\n", argv[1]);
        cfg_free(c);
        return 2;
    }
    log_level lvl = LOG_INFO;
    log_level_parse(cfg_str(c, "LOG_LEVEL"), &lvl);
    log_init("gateway", lvl);
    shutdown_block();

    if (auth_init(cfg_str(c, "SESSION_SECRET"), cfg_str(c, "IP_HASH_SECRET"), cfg_str(c, "TRUSTED_PROXIES"),
                  cfg_bool(c, "TRUST_CLOUDFLARE") ? cfg_str(c, "CLOUDFLARE_IPS_FILE") : NULL,
                  cfg_bool(c, "TRUST_X_FORWARDED_FOR"), err, sizeof(err)) != 0 ||
        auth_set_previous_secret(cfg_str(c, "SESSION_SECRET_PREVIOUS"), err, sizeof(err)) != 0 ||
        cors_init(cfg_str(c, "ALLOWED_ORIGINS"), err, sizeof(err)) != 0 || throttle_init(c, err, sizeof(err)) != 0 ||
        bot_score_init(c, err, sizeof(err)) != 0 || turnstile_init(c, err, sizeof(err)) != 0) {
        fprintf(stderr, "gateway: configuration error: %s\n", err);
        cfg_free(c);
        return 2;
    }
    backends b;
    if (backends_open(&b, c, err, sizeof(err)) != 0) {
        log_error("cannot start: %s", err);
        cfg_free(c);
        return 1;
    }
    gw_respond_init(cfg_int(c, "HSTS_MAX_AGE"));
    static_init(cfg_str(c, "WIDGET_DIR"), err, sizeof(err));
    sessions_init(&b);
    if (admin_init(&b, cfg_str(c, "ADMIN_TOKEN"), err, sizeof(err)) != 0) {
        fprintf(stderr, "gateway: configuration error: %s\n", err);
        backends_close(&b);
        cfg_free(c);
        return 2;
    }
    lead_weights weights;
    if (lead_conf_init(cfg_str(c, "LEAD_SLOTS"), cfg_str(c, "LEAD_DEFAULT_COUNTRY"), err, sizeof(err)) != 0 ||
        lead_weights_parse(cfg_str(c, "LEAD_SCORE_WEIGHTS"), &weights, err, sizeof(err)) != 0) {
        fprintf(stderr, "gateway: configuration error: %s\n", err);
        backends_close(&b);
        cfg_free(c);
        return 2;
    }
    turn_cfg tcfg = {
        .b = &b,
        .search_k = (unsigned)cfg_int(c, "SEARCH_K"),
        .begin_timeout_ms = 5000,
        .search_timeout_ms = 3000,
        .generate_timeout_ms = 5000,
        .commit_timeout_ms = 5000,
        .poll_wait_ms = 10000,
        .retain_ms = cfg_int(c, "TURN_RETAIN"),
        .retain_bytes = (size_t)cfg_int(c, "TURN_RETAIN_BYTES"),
        .disconnect_grace_ms = cfg_int(c, "DISCONNECT_GRACE"),
        .max_turns = (unsigned)cfg_int(c, "MAX_TURNS"),
        .weights = weights,
        .handoff_score = (int)cfg_int(c, "HANDOFF_SCORE"),
    };
    turns_init(&tcfg);
    if (sse_init(cfg_int(c, "HEARTBEAT_INTERVAL")) != 0) {
        log_error("cannot start the heartbeat thread");
        backends_close(&b);
        cfg_free(c);
        return 1;
    }
    gw_server *g = NULL;
    if (gw_start(&g, c, &b, err, sizeof(err)) != 0) {
        log_error("cannot start: %s", err);
        backends_close(&b);
        cfg_free(c);
        return 1;
    }
    char listen[96], ms[32];
    snprintf(listen, sizeof(listen), "http://%s:%lld", cfg_str(c, "HTTP_ADDR"), cfg_int(c, "HTTP_PORT"));
    snprintf(ms, sizeof(ms), "%.1f", (double)(clock_mono_us() - t0) / 1000.0);
    char rate_bytes[32];
    snprintf(rate_bytes, sizeof(rate_bytes), "%zu", throttle_table_bytes());
    log_fields(LOG_INFO, "ready", "listen", listen, "version", CHAT_VERSION, "startup_ms", ms, "rate_table_bytes",
               rate_bytes, NULL);

    int sig = shutdown_wait();
    log_info("signal %d: stopping", sig);
    gw_stop(g);
    backends_close(&b);
    turns_shutdown();
    static_free();
    throttle_free();
    turnstile_free();
    log_info("stopped");
    cfg_free(c);
    return 0;
}
