/* db.h: Postgres connections for services and tools (libpq).
 *
 * A db_conn is used by one thread at a time (each RPC worker owns one). It
 * reconnects by itself when the server went away: db_ready() checks the
 * connection and reconnects at most once per DB_RECONNECT_MS.
 * Every connection gets application_name, a statement timeout and UTC. */
#ifndef CHAT_DB_H
#define CHAT_DB_H

#include <libpq-fe.h>
#include <stdint.h>

#define DB_URL_MAX 2048
#define DB_RECONNECT_MS 250
#define DB_DEFAULT_STATEMENT_TIMEOUT_MS 5000

typedef struct db_conn {
    PGconn *pg; /* NULL while disconnected */
    char url[DB_URL_MAX];
    char app[64];
    int64_t last_attempt_ms;
    char error[256]; /* last connection error, for logs and health */
} db_conn;

/* Makes a connection object and tries to connect. Returns 0 when connected,
 * -1 otherwise (the object is usable: db_ready retries later). *out owned by
 * the caller: db_close. */
int db_open(db_conn **out, const char *url, const char *application_name);
void db_close(db_conn *db);

/* Returns the live connection, reconnecting if needed; NULL when the
 * database cannot be reached now (db->error says why). */
PGconn *db_ready(db_conn *db);

/* Checks the database answers (SELECT 1), reconnecting if needed. Returns
 * 0, or -1 with db->error saying why; a dead connection is dropped so the
 * next db_ready reconnects. */
int db_ping(db_conn *db);

/* Runs SQL without parameters and checks the result status. Returns 0, or
 * -1 with the server's message in err. */
int db_exec(PGconn *pg, const char *sql, char *err, size_t errlen);

/* A transaction's body: 0 to commit, any other status to roll back. */
typedef int (*db_tx_body)(PGconn *pg, void *arg);
/* Maps a failed BEGIN or COMMIT (its result r, NULL when none) to the status
 * db_transaction returns; must not return 0. */
typedef int (*db_tx_fail)(PGconn *pg, const PGresult *r, void *arg);

/* Runs body(pg, arg) between BEGIN and COMMIT, and rolls back when the body
 * or the COMMIT fails. Returns 0 once committed; else the body's status, or
 * fail(pg, r, arg) when BEGIN or COMMIT failed (-1 when fail is NULL). The
 * one BEGIN/COMMIT/ROLLBACK sequence of the tree. */
int db_transaction(PGconn *pg, db_tx_body body, db_tx_fail fail, void *arg);

/* The URL with its password replaced by ****, for logs (buf >= DB_URL_MAX). */
void db_redact_url(const char *url, char *buf, size_t len);

#endif
