/* svc_db.h: the worker hooks of services with a database: each RPC worker
 * owns one db_conn (reconnecting by itself), and Health reports not ready
 * while Postgres does not answer. Use in a svc_def:
 *   .needs_db = 1, SVC_DB_WORKERS,
 * Handlers get their connection with rpc_call_worker_data(cd). */
#ifndef CHAT_SVC_DB_H
#define CHAT_SVC_DB_H

#include <stddef.h>

int svc_db_worker_init(void **worker_data, unsigned index, void *arg);
void svc_db_worker_fini(void *worker_data, void *arg);
int svc_db_health_check(void *worker_data, char *detail, size_t len);

#define SVC_DB_WORKERS                                                                                                 \
    .worker_init = svc_db_worker_init, .worker_fini = svc_db_worker_fini, .health_check = svc_db_health_check

#endif
