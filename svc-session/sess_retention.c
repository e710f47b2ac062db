/* sess_retention.c: see sess_retention.h. */
#include "sess_retention.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "db.h"
#include "log.h"
#include "sess_store.h"
#include "sess_ticker.h"

struct sess_retention {
    sess_ticker *ticker;
};

static void sess_retention_run(sess_ticker *t, db_conn *db, void *arg)
{
    (void)t;
    (void)arg;
    PGconn *pg = db_ready(db);
    if (pg == NULL) {
        log_warn("retention: database not reachable, will retry: %s", db->error);
        return;
    }
    sess_sweep_counts n;
    sess_err e = {0};
    if (sess_store_sweep(pg, &n, &e) != RPC_OK) {
        log_warn("retention: %s", e.msg);
        return;
    }
    if (n.sessions > 0 || n.handoffs > 0) {
        char s[24], c[24], h[24];
        snprintf(s, sizeof(s), "%" PRId64, n.sessions);
        snprintf(c, sizeof(c), "%" PRId64, n.checkpoints);
        snprintf(h, sizeof(h), "%" PRId64, n.handoffs);
        log_fields(LOG_INFO, "retention: deleted expired data", "sessions", s, "checkpoints", c, "handoff_records", h,
                   NULL);
    } else {
        log_debug("retention: nothing expired");
    }
}

int sess_retention_start(sess_retention **out, const char *db_url, int64_t interval_ms, int64_t first_delay_ms)
{
    *out = NULL;
    sess_retention *r = calloc(1, sizeof(*r));
    if (r == NULL) {
        return -1;
    }
    if (sess_ticker_start(&r->ticker, "svc-session/retention", db_url, interval_ms, first_delay_ms, sess_retention_run,
                          NULL) != 0) {
        free(r);
        return -1;
    }
    *out = r;
    return 0;
}

void sess_retention_stop(sess_retention *r)
{
    if (r == NULL) {
        return;
    }
    sess_ticker_stop(r->ticker);
    free(r);
}
