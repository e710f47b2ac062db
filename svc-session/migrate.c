/* migrate.c: see migrate.h. The migrations themselves are compiled in by
 * scripts/embed-sql.sh, so a deployed binary carries its schema. */
#include "migrate.h"

#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "log.h"

struct embedded_migration {
    const char *name;
    const char *sql;
};
extern const struct embedded_migration chat_migrations[];
extern const size_t chat_migrations_count;

#define MIGRATE_LOCK_KEY "hashtext('chat.schema_migrations')"

static int migration_version(const char *name)
{
    return atoi(name);
}

static int migrate_table(PGconn *pg, char *err, size_t errlen)
{
    return db_exec(pg,
                   "CREATE TABLE IF NOT EXISTS schema_migrations ("
                   " version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
                   " applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
                   err, errlen);
}

/* Is version v recorded? 1 yes, 0 no, -1 error. */
static int migrate_is_applied(PGconn *pg, int v, char *err, size_t errlen)
{
    char vbuf[16];
    snprintf(vbuf, sizeof(vbuf), "%d", v);
    const char *params[] = {vbuf};
    PGresult *r =
        PQexecParams(pg, "SELECT 1 FROM schema_migrations WHERE version = $1", 1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        snprintf(err, errlen, "%s", PQresultErrorMessage(r));
        PQclear(r);
        return -1;
    }
    int found = PQntuples(r) > 0;
    PQclear(r);
    return found;
}

int migrate_pending(PGconn *pg, char *err, size_t errlen)
{
    PGresult *r = PQexec(pg, "SELECT to_regclass('schema_migrations') IS NOT NULL");
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        snprintf(err, errlen, "%s", PQresultErrorMessage(r));
        PQclear(r);
        return -1;
    }
    int exists = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
    PQclear(r);
    if (!exists) {
        return (int)chat_migrations_count;
    }
    int pending = 0;
    for (size_t i = 0; i < chat_migrations_count; i++) {
        int a = migrate_is_applied(pg, migration_version(chat_migrations[i].name), err, errlen);
        if (a < 0) {
            return -1;
        }
        pending += !a;
    }
    return pending;
}

/* One migration in one transaction: its SQL and its schema_migrations row. */
typedef struct migrate_one {
    const struct embedded_migration *m;
    int version;
    char *err;
    size_t errlen;
} migrate_one;

static int migrate_one_body(PGconn *pg, void *arg)
{
    migrate_one *one = arg;
    char e2[512];
    if (db_exec(pg, one->m->sql, e2, sizeof(e2)) != 0) {
        snprintf(one->err, one->errlen, "migration %s failed: %s", one->m->name, e2);
        return -1;
    }
    char vbuf[16];
    snprintf(vbuf, sizeof(vbuf), "%d", one->version);
    const char *params[] = {vbuf, one->m->name};
    PGresult *r = PQexecParams(pg, "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", 2, NULL, params,
                               NULL, NULL, 0);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!ok) {
        snprintf(one->err, one->errlen, "recording migration %s: %s", one->m->name, PQresultErrorMessage(r));
    }
    PQclear(r);
    return ok ? 0 : -1;
}

static int migrate_one_fail(PGconn *pg, const PGresult *r, void *arg)
{
    migrate_one *one = arg;
    snprintf(one->err, one->errlen, "%s", r ? PQresultErrorMessage(r) : PQerrorMessage(pg));
    size_t n = strlen(one->err);
    while (n > 0 && one->err[n - 1] == '\n') {
        one->err[--n] = '\0';
    }
    return -1;
}

int migrate_apply(PGconn *pg, FILE *out, int *applied, char *err, size_t errlen)
{
    *applied = 0;
    if (db_exec(pg, "SET statement_timeout = 0", err, errlen) != 0 ||
        db_exec(pg, "SELECT pg_advisory_lock(" MIGRATE_LOCK_KEY ")", err, errlen) != 0) {
        return -1;
    }
    int rc = -1;
    if (migrate_table(pg, err, errlen) != 0) {
        goto out;
    }
    for (size_t i = 0; i < chat_migrations_count; i++) {
        const struct embedded_migration *m = &chat_migrations[i];
        int v = migration_version(m->name);
        int a = migrate_is_applied(pg, v, err, errlen);
        if (a < 0) {
            goto out;
        }
        if (a) {
            continue;
        }
        migrate_one one = {.m = m, .version = v, .err = err, .errlen = errlen};
        if (db_transaction(pg, migrate_one_body, migrate_one_fail, &one) != 0) {
            goto out;
        }
        (*applied)++;
        if (out != NULL) {
            fprintf(out, "applied %s\n", m->name);
        }
        log_info("migration %s applied", m->name);
    }
    rc = 0;
out:
    db_exec(pg, "SELECT pg_advisory_unlock(" MIGRATE_LOCK_KEY ")", NULL, 0);
    return rc;
}
