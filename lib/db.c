/* db.c: see db.h. */
#include "db.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"

static void db_note_error(db_conn *db, const char *what)
{
    snprintf(db->error, sizeof(db->error), "%s", what);
    size_t n = strlen(db->error);
    while (n > 0 && (db->error[n - 1] == '\n' || db->error[n - 1] == ' ')) {
        db->error[--n] = '\0';
    }
}

static int db_connect(db_conn *db)
{
    const char *keys[] = {"dbname", "application_name", "options", "connect_timeout", NULL};
    char opts[128];
    snprintf(opts, sizeof(opts), "-c statement_timeout=%d -c TimeZone=UTC -c client_min_messages=warning",
             DB_DEFAULT_STATEMENT_TIMEOUT_MS);
    const char *vals[] = {db->url, db->app, opts, "3", NULL};
    db->last_attempt_ms = clock_mono_ms();
    db->pg = PQconnectdbParams(keys, vals, 1);
    if (db->pg == NULL) {
        db_note_error(db, "out of memory");
        return -1;
    }
    if (PQstatus(db->pg) != CONNECTION_OK) {
        db_note_error(db, PQerrorMessage(db->pg));
        PQfinish(db->pg);
        db->pg = NULL;
        return -1;
    }
    db->error[0] = '\0';
    return 0;
}

int db_open(db_conn **out, const char *url, const char *application_name)
{
    db_conn *db = calloc(1, sizeof(*db));
    *out = db;
    if (db == NULL) {
        return -1;
    }
    snprintf(db->url, sizeof(db->url), "%s", url);
    snprintf(db->app, sizeof(db->app), "%s", application_name ? application_name : "chat");
    return db_connect(db);
}

void db_close(db_conn *db)
{
    if (db == NULL) {
        return;
    }
    if (db->pg != NULL) {
        PQfinish(db->pg);
    }
    free(db);
}

PGconn *db_ready(db_conn *db)
{
    if (db->pg != NULL && PQstatus(db->pg) == CONNECTION_OK) {
        return db->pg;
    }
    if (db->pg != NULL) {
        /* Broken (server restarted): try once to reset in place. */
        PQfinish(db->pg);
        db->pg = NULL;
        db->last_attempt_ms = 0;
    }
    if (clock_mono_ms() - db->last_attempt_ms < DB_RECONNECT_MS) {
        return NULL;
    }
    if (db_connect(db) != 0) {
        log_warn("database not reachable: %s", db->error);
        return NULL;
    }
    return db->pg;
}

int db_ping(db_conn *db)
{
    PGconn *pg = db_ready(db);
    if (pg == NULL) {
        return -1;
    }
    PGresult *r = PQexec(pg, "SELECT 1");
    int ok = r != NULL && PQresultStatus(r) == PGRES_TUPLES_OK;
    PQclear(r);
    if (!ok) {
        db_note_error(db, PQerrorMessage(pg));
        PQfinish(db->pg);
        db->pg = NULL;
        return -1;
    }
    return 0;
}

int db_exec(PGconn *pg, const char *sql, char *err, size_t errlen)
{
    PGresult *r = PQexec(pg, sql);
    ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    int ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
    if (!ok && err != NULL) {
        snprintf(err, errlen, "%s", r ? PQresultErrorMessage(r) : PQerrorMessage(pg));
        size_t n = strlen(err);
        while (n > 0 && err[n - 1] == '\n') {
            err[--n] = '\0';
        }
    }
    PQclear(r);
    return ok ? 0 : -1;
}

static int db_tx_exec(PGconn *pg, const char *sql, db_tx_fail fail, void *arg)
{
    PGresult *r = PQexec(pg, sql);
    int rc = 0;
    if (r == NULL || PQresultStatus(r) != PGRES_COMMAND_OK) {
        rc = fail != NULL ? fail(pg, r, arg) : -1;
    }
    PQclear(r);
    return rc;
}

int db_transaction(PGconn *pg, db_tx_body body, db_tx_fail fail, void *arg)
{
    int rc = db_tx_exec(pg, "BEGIN", fail, arg);
    if (rc != 0) {
        return rc;
    }
    rc = body(pg, arg);
    if (rc == 0) {
        rc = db_tx_exec(pg, "COMMIT", fail, arg);
    }
    if (rc != 0) {
        PGTransactionStatusType ts = PQtransactionStatus(pg);
        if (ts == PQTRANS_INTRANS || ts == PQTRANS_INERROR) {
            PQclear(PQexec(pg, "ROLLBACK"));
        }
    }
    return rc;
}

void db_redact_url(const char *url, char *buf, size_t len)
{
    const char *scheme = strstr(url, "://");
    const char *at = scheme ? strchr(scheme + 3, '@') : NULL;
    const char *colon = scheme ? memchr(scheme + 3, ':', at ? (size_t)(at - (scheme + 3)) : 0) : NULL;
    if (colon == NULL || at == NULL) {
        snprintf(buf, len, "%s", url);
        return;
    }
    snprintf(buf, len, "%.*s:****%s", (int)(colon - url), url, at);
}
