/* svc_db.c: see svc_db.h. */
#include "svc_db.h"

#include <stdio.h>

#include "db.h"
#include "log.h"
#include "svc_main.h"

int svc_db_worker_init(void **worker_data, unsigned index, void *arg)
{
    (void)arg;
    char app[64];
    snprintf(app, sizeof(app), "%s/%u", svc_name(), index);
    db_conn *db = NULL;
    if (db_open(&db, cfg_str(svc_config(), "DATABASE_URL"), app) != 0) {
        if (db == NULL) {
            return -1;
        }
        if (index == 0) {
            log_warn("database not reachable at start (will retry): %s", db->error);
        }
    }
    *worker_data = db;
    return 0;
}

void svc_db_worker_fini(void *worker_data, void *arg)
{
    (void)arg;
    db_close(worker_data);
}

int svc_db_health_check(void *worker_data, char *detail, size_t len)
{
    db_conn *db = worker_data;
    if (db != NULL && db_ping(db) != 0) {
        snprintf(detail, len, "database not reachable: %s", db->error);
        return -1;
    }
    return 0;
}
