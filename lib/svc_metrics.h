/* svc_metrics.h: a service's /metrics (Prometheus text format 0.0.4),
 * served on its own HTTP port (METRICS_ADDR) by libmicrohttpd.
 *
 * What every service has: RPC latency histograms per method, calls by
 * method and status code (counted by rpc_server when a reply is sent),
 * database operation latency per operation (the ADR's 30 ms p95 review
 * trigger), process RSS and uptime. A service adds its own lines with
 * svc_metrics_source (svc-llm: generations and streams in flight, tokens
 * and cost).
 *
 * Counting is lock-free (atomics); a method or operation name is added to
 * a fixed table once, under a mutex (the first SVC_METRICS_NAMES_MAX names;
 * later ones count as "other"). Names must be string literals or otherwise
 * outlive the process. Any thread. */
#ifndef SVC_METRICS_H
#define SVC_METRICS_H

#include <stdint.h>
#include <stdio.h>

#include "rpc.h"

#define SVC_METRICS_NAMES_MAX 32 /* RPC methods, and database operations, each */
#define SVC_METRICS_SOURCES_MAX 4

/* A served RPC call: its method, status and time from receipt to reply. */
void svc_metrics_rpc(const char *method, rpc_code code, int64_t us);

/* One database operation (a store call, with its statements). */
void svc_metrics_db(const char *op, int64_t us);

/* Extra lines for /metrics, written by fn(out, arg) at each scrape. */
int svc_metrics_source(void (*fn)(FILE *out, void *arg), void *arg);

/* The whole text (malloc'd; caller frees), labelled with service. */
char *svc_metrics_render(const char *service, size_t *len);

/* Serves GET /metrics on addr ("127.0.0.1:9464"; ":9464" or "[::]:9464"
 * = every address, IPv6 and IPv4; "" or NULL = off). 0, or -1 with the reason in err. */
int svc_metrics_http_start(const char *service, const char *addr, char *err, size_t errlen);
void svc_metrics_http_stop(void);

#endif
