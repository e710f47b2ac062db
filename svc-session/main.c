/* svc-session: session state in Postgres (checkpoints, messages, leads,
 * usage, retention, erasure). This file wires the service: its variables,
 * its commands (--migrate) and its handler table. */
#include <stdio.h>
#include <string.h>

#include "db.h"
#include "log.h"
#include "migrate.h"
#include "rpc_server.h"
#include "session.pb-c.h"
#include "svc_main.h"

typedef Chat__Session__Session_Service session_svc;

static void session_health(session_svc *svc, const Chat__Rpc__HealthRequest *in, Chat__Rpc__HealthReply_Closure done,
                           void *cd)
{
    (void)svc;
    (void)in;
    Chat__Rpc__HealthReply out = CHAT__RPC__HEALTH_REPLY__INIT;
    svc_health(cd, &out);
    done(&out, cd);
}

RPC_UNIMPLEMENTED_HANDLER(session_create, session_svc, Chat__Session__CreateRequest, Chat__Session__CreateReply_Closure)
RPC_UNIMPLEMENTED_HANDLER(session_begin, session_svc, Chat__Session__BeginRequest, Chat__Session__BeginReply_Closure)
RPC_UNIMPLEMENTED_HANDLER(session_commit, session_svc, Chat__Session__CommitRequest, Chat__Session__CommitReply_Closure)
RPC_UNIMPLEMENTED_HANDLER(session_release, session_svc, Chat__Session__ReleaseRequest,
                          Chat__Session__ReleaseReply_Closure)
RPC_UNIMPLEMENTED_HANDLER(session_load, session_svc, Chat__Session__LoadRequest, Chat__Session__LoadReply_Closure)
RPC_UNIMPLEMENTED_HANDLER(session_erase, session_svc, Chat__Session__EraseRequest, Chat__Session__EraseReply_Closure)

static session_svc session_service = CHAT__SESSION__SESSION__INIT(session_);

static const cfg_var session_vars[] = {
    {.name = "SESSION_SECRET", .type = CFG_STR, .flags = CFG_SECRET,
     .help = "HMAC key for session tokens (>= 32 chars); a random one per start when unset"},
    {.name = "RETENTION_DAYS", .type = CFG_INT, .def = "90", .min = 1, .max = 3650,
     .help = "conversations are deleted this many days after they start"},
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

int main(int argc, char **argv)
{
    svc_def def = {
        .name = "svc-session",
        .summary = "conversation state, checkpoints, leads, usage and retention in Postgres",
        .usage_extra = "  svc-session --migrate    apply the database migrations (idempotent) and exit\n",
        .service = &session_service.base,
        .url_var = "SESSION_URL",
        .default_url = "tcp://127.0.0.1:7101",
        .needs_db = 1,
        .vars = session_vars,
        .nvars = sizeof(session_vars) / sizeof(session_vars[0]),
        .command = session_command,
    };
    return svc_main(&def, argc, argv);
}
