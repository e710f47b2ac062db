/* migrate.h: applies the numbered SQL migrations embedded in svc-session
 * (svc-session/migrations/NNNN_name.sql) in order, each in its own
 * transaction, under an advisory lock, recording each in schema_migrations.
 * Applying them twice is a no-op. */
#ifndef SESSION_MIGRATE_H
#define SESSION_MIGRATE_H

#include <libpq-fe.h>
#include <stdio.h>

/* Returns 0 and the number applied in *applied, or -1 with a reason in err.
 * Progress lines go to `out` (may be NULL). */
int migrate_apply(PGconn *pg, FILE *out, int *applied, char *err, size_t errlen);

/* Migrations known to this binary but not applied in the database (-1 on
 * error). */
int migrate_pending(PGconn *pg, char *err, size_t errlen);

#endif
