/* svc_main.h: the main() the four RPC services share.
 *
 * It parses the command line (--help, --version, --print-config, and the
 * service's own commands), loads and validates the configuration (common
 * variables + the service's), sets up logging, blocks the stop signals,
 * starts the RPC server on the service's URL, logs one "ready" line, waits
 * for SIGTERM/SIGINT, drains the calls in flight (DRAIN_TIMEOUT), stops.
 * Exit status: 0 after a clean stop, 2 for a configuration or usage error,
 * 1 when the server could not start. */
#ifndef CHAT_SVC_MAIN_H
#define CHAT_SVC_MAIN_H

#include <protobuf-c/protobuf-c.h>
#include <stdio.h>

#include "config.h"
#include "rpc.pb-c.h"
#include "rpc_server.h"

#define SVC_MAX_VARS 64

typedef struct svc_def {
    const char *name;        /* "svc-session" */
    const char *summary;     /* one line for --help */
    const char *usage_extra; /* extra usage lines for --help (commands), or NULL */
    ProtobufCService *service;
    const char *url_var;     /* "SESSION_URL" */
    const char *default_url; /* "tcp://127.0.0.1:7101" */
    int needs_db;            /* DATABASE_URL required */
    const cfg_var *vars;     /* the service's own variables */
    size_t nvars;
    /* Optional: a command other than serving ("--migrate", "index PATH").
     * Return -1 when argv is not one of its commands, else an exit status. */
    int (*command)(int argc, char **argv, const cfg *c);
    /* Optional: set up before serving (the server's opts.arg is *state);
     * non-zero stops the start. */
    int (*init)(const cfg *c, void **state);
    void (*fini)(void *state);
    /* Optional worker hooks and readiness, as in rpc_server_opts. Services
     * with a database use SVC_DB_WORKERS (svc_db.h): a db_conn per worker. */
    int (*worker_init)(void **worker_data, unsigned index, void *arg);
    void (*worker_fini)(void *worker_data, void *arg);
    int (*ready)(char *detail, size_t detail_len, void *arg);
    /* Optional: Health asks it on the worker thread; 0 = ready, else not
     * ready with detail filled. */
    int (*health_check)(void *worker_data, char *detail, size_t detail_len);
    /* Optional: called when a stop signal arrives, before the calls in
     * flight are drained: answer deferred calls (long polls) now. */
    void (*stopping)(void *state);
} svc_def;

int svc_main(const svc_def *def, int argc, char **argv);

/* The configuration of the running service (valid while it serves). */
const cfg *svc_config(void);
/* The running service's name ("svc-session"). */
const char *svc_name(void);

/* Health handler body shared by the services: fills the reply and asks the
 * service's health_check (a database ping) on this worker. */
void svc_health(void *closure_data, Chat__Rpc__HealthReply *out);

/* Answers a Health call: svc_health, then done. */
void svc_health_reply(void *closure_data, Chat__Rpc__HealthReply_Closure done);

/* Defines the Health handler every service has, prefix##health, for the
 * protobuf-c service of type svc_type (the INIT macro of the service table
 * finds it by that name). One line per service, the body in one place. */
#define SVC_HEALTH_HANDLER(prefix, svc_type)                                                                           \
    static void prefix##health(svc_type *svc, const Chat__Rpc__HealthRequest *in, Chat__Rpc__HealthReply_Closure done, \
                               void *closure_data)                                                                     \
    {                                                                                                                  \
        (void)svc;                                                                                                     \
        (void)in;                                                                                                      \
        svc_health_reply(closure_data, done);                                                                          \
    }

#endif
