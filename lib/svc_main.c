/* svc_main.c: see svc_main.h. */
#include "svc_main.h"
#include "svc_metrics.h"

#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "rpc.pb-c.h"
#include "rpc_auth.h"
#include "shutdown.h"

#ifndef CHAT_VERSION
#define CHAT_VERSION "dev"
#endif

static const cfg *svc_cfg;
static const svc_def *svc_current;

static const cfg_var svc_common_vars[] = {
    {.name = "LOG_LEVEL",
     .type = CFG_ENUM,
     .def = "info",
     .choices = "debug|info|warn|error",
     .help = "least important log level written"},
    {.name = "RPC_WORKERS",
     .type = CFG_INT,
     .def = "4",
     .min = 1,
     .max = 256,
     .help = "worker threads (each with its own database connection)"},
    {.name = "RPC_CONTEXTS", .type = CFG_INT, .def = "256", .min = 1, .max = 65536, .help = "requests held at once"},
    {.name = "RPC_MAX_MSG",
     .type = CFG_INT,
     .def = "4194304",
     .min = 1024,
     .max = 268435456,
     .help = "largest request in bytes; bigger ones drop the connection"},
    {.name = "METRICS_ADDR",
     .type = CFG_STR,
     .help =
         "serve GET /metrics (Prometheus) on this address: 127.0.0.1:9464, or :9464 for every address (unset = off)"},
    {.name = "RPC_SECRET",
     .type = CFG_STR,
     .flags = CFG_SECRET,
     .help = "shared secret (>= 32 characters, the same on every app) that authenticates RPC calls; required to "
             "listen on anything but loopback/ipc"},
    {.name = "RPC_AUTH_WINDOW",
     .type = CFG_DURATION_MS,
     .def = "30s",
     .min = 1000,
     .max = 600000,
     .help = "how far a request's timestamp may be from this clock, either way (with RPC_SECRET)"},
    {.name = "DRAIN_TIMEOUT",
     .type = CFG_DURATION_MS,
     .def = "10s",
     .min = 0,
     .max = 600000,
     .help = "how long a stop waits for calls in flight"},
};

static const cfg_var svc_db_var = {.name = "DATABASE_URL",
                                   .type = CFG_URL,
                                   .flags = CFG_REQUIRED | CFG_SECRET,
                                   .alias = "CHECKPOINT_DB_URL",
                                   .schemes = "postgres|postgresql",
                                   .help = "Postgres connection string (CHECKPOINT_DB_URL accepted)"};

const cfg *svc_config(void)
{
    return svc_cfg;
}

static size_t svc_vars(const svc_def *def, cfg_var *vars)
{
    size_t n = 0;
    for (size_t i = 0; i < sizeof(svc_common_vars) / sizeof(svc_common_vars[0]); i++) {
        vars[n++] = svc_common_vars[i];
    }
    vars[n++] = (cfg_var){.name = def->url_var,
                          .type = CFG_URL,
                          .def = def->default_url,
                          .schemes = "tcp|ipc|inproc",
                          .help = "address this service listens on"};
    if (def->needs_db) {
        vars[n++] = svc_db_var;
    }
    for (size_t i = 0; i < def->nvars && n < SVC_MAX_VARS; i++) {
        vars[n++] = def->vars[i];
    }
    return n;
}

static void svc_usage(const svc_def *def, const cfg_var *vars, size_t n, FILE *out)
{
    fprintf(out, "%s %s: %s\n\n", def->name, CHAT_VERSION, def->summary);
    fprintf(out, "Usage:\n  %s                 serve RPC until SIGTERM/SIGINT\n", def->name);
    if (def->usage_extra != NULL) {
        fputs(def->usage_extra, out);
    }
    fprintf(out, "  %s --print-config  show the effective configuration (secrets masked)\n", def->name);
    fprintf(out, "  %s --version\n  %s --help\n\nConfiguration (environment):\n", def->name, def->name);
    cfg_help(vars, n, out);
}

void svc_health(void *closure_data, Chat__Rpc__HealthReply *out)
{
    rpc_fill_health(closure_data, out);
    if (svc_current != NULL && svc_current->health_check != NULL) {
        static _Thread_local char detail[300];
        void *wd = rpc_call_worker_data(closure_data);
        if (svc_current->health_check(wd, detail, sizeof(detail)) != 0) {
            out->ready = 0;
            out->detail = detail;
        }
    }
}

void svc_health_reply(void *closure_data, Chat__Rpc__HealthReply_Closure done)
{
    Chat__Rpc__HealthReply out = CHAT__RPC__HEALTH_REPLY__INIT;
    svc_health(closure_data, &out);
    done(&out, closure_data);
}

const char *svc_name(void)
{
    return svc_current ? svc_current->name : "service";
}

int svc_main(const svc_def *def, int argc, char **argv)
{
    int64_t t0 = clock_mono_us();
    cfg_var vars[SVC_MAX_VARS];
    size_t nvars = svc_vars(def, vars);
    svc_current = def;

    if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        svc_usage(def, vars, nvars, stdout);
        return 0;
    }
    if (argc > 1 && strcmp(argv[1], "--version") == 0) {
        printf("%s %s\n", def->name, CHAT_VERSION);
        return 0;
    }

    char err[512];
    cfg *c = NULL;
    if (cfg_load(&c, vars, nvars, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s: configuration error: %s\n(run %s --help for every variable)\n", def->name, err, def->name);
        return 2;
    }
    const char *secret = cfg_is_set(c, "RPC_SECRET") ? cfg_str(c, "RPC_SECRET") : NULL;
    if (secret != NULL && rpc_auth_secret_check(secret, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s: configuration error: %s\n", def->name, err);
        cfg_free(c);
        return 2;
    }
    svc_cfg = c;
    log_level lvl = LOG_INFO;
    log_level_parse(cfg_str(c, "LOG_LEVEL"), &lvl);
    log_init(def->name, lvl);

    if (argc > 1 && strcmp(argv[1], "--print-config") == 0) {
        cfg_print(c, stdout);
        cfg_free(c);
        return 0;
    }
    if (argc > 1) {
        int rc = def->command ? def->command(argc, argv, c) : -1;
        if (rc == -1) {
            fprintf(stderr, "%s: unknown argument \"%s\" (see --help)\n", def->name, argv[1]);
            rc = 2;
        }
        cfg_free(c);
        return rc;
    }

    /* Only when serving: --migrate, --print-config and commands listen on
     * nothing. */
    if (secret == NULL && !rpc_url_is_local(cfg_str(c, def->url_var))) {
        fprintf(stderr,
                "%s: configuration error: %s=%s listens beyond this machine, so RPC_SECRET is required (any app "
                "that reaches the address could call it); set the same RPC_SECRET (>= %d characters) on every "
                "service and the gateway, or listen on 127.0.0.1 / ipc:// for development\n",
                def->name, def->url_var, cfg_str(c, def->url_var), RPC_AUTH_SECRET_MIN);
        cfg_free(c);
        return 2;
    }
    shutdown_block();
    void *state = NULL;
    if (def->init != NULL && def->init(c, &state) != 0) {
        log_error("start-up failed");
        cfg_free(c);
        return 1;
    }

    rpc_server_opts o = {
        .url = cfg_str(c, def->url_var),
        .name = def->name,
        .contexts = (unsigned)cfg_int(c, "RPC_CONTEXTS"),
        .workers = (unsigned)cfg_int(c, "RPC_WORKERS"),
        .max_msg = (size_t)cfg_int(c, "RPC_MAX_MSG"),
        .secret = secret,
        .auth_window_ms = (uint32_t)cfg_int(c, "RPC_AUTH_WINDOW"),
        .worker_init = def->worker_init,
        .worker_fini = def->worker_fini,
        .ready = def->ready,
        .arg = state,
    };
    if (svc_metrics_http_start(def->name, cfg_str(c, "METRICS_ADDR"), err, sizeof(err)) != 0) {
        log_error("cannot start: %s", err);
        if (def->fini != NULL) {
            def->fini(state);
        }
        cfg_free(c);
        return 2;
    }
    rpc_server *srv = NULL;
    if (rpc_server_start(&srv, def->service, &o, err, sizeof(err)) != 0) {
        log_error("cannot start: %s", err);
        svc_metrics_http_stop();
        if (def->fini != NULL) {
            def->fini(state);
        }
        cfg_free(c);
        return 1;
    }
    char ms[32];
    snprintf(ms, sizeof(ms), "%.1f", (double)(clock_mono_us() - t0) / 1000.0);
    log_fields(LOG_INFO, "ready", "listen", o.url, "version", CHAT_VERSION, "startup_ms", ms, "rpc_auth",
               secret ? "hmac-sha256" : "off (loopback only)", NULL);

    int sig = shutdown_wait();
    log_info("signal %d: draining calls in flight", sig);
    if (def->stopping != NULL) {
        def->stopping(state);
    }
    unsigned left = rpc_server_drain(srv, (int)cfg_int(c, "DRAIN_TIMEOUT"));
    if (left > 0) {
        log_warn("stopping with %u calls still in flight", left);
    }
    rpc_server_stop(srv);
    svc_metrics_http_stop();
    if (def->fini != NULL) {
        def->fini(state);
    }
    log_info("stopped");
    cfg_free(c);
    return 0;
}
