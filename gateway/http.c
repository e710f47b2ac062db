/* http.c: see http.h. Everything here runs on the HTTP thread except where
 * a comment says otherwise. */
#include "http.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "log.h"
#include "ready.h"

#ifndef CHAT_VERSION
#define CHAT_VERSION "dev"
#endif

struct gw_server {
    struct MHD_Daemon *d;
    backends *b;
};

typedef enum { RT_NONE = 0, RT_READY } route_kind;

/* Per-request state (MHD's con_cls), freed in gw_completed. */
typedef struct gw_request {
    route_kind kind;
    ready_check *ready;
} gw_request;

enum MHD_Result gw_send_json(struct MHD_Connection *conn, unsigned status, const char *json)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(json), (void *)json, MHD_RESPMEM_MUST_COPY);
    if (r == NULL) {
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    enum MHD_Result ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ret;
}

enum MHD_Result gw_send_error(struct MHD_Connection *conn, unsigned status, const char *code, const char *message)
{
    json_t *j = json_pack("{s:{s:s, s:s}}", "error", "code", code, "message", message);
    char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    enum MHD_Result r = gw_send_json(conn, status, text ? text : "{\"error\":{\"code\":\"internal\"}}");
    free(text);
    return r;
}

static enum MHD_Result gw_healthz(struct MHD_Connection *conn)
{
    return gw_send_json(conn, MHD_HTTP_OK, "{\"status\":\"ok\",\"version\":\"" CHAT_VERSION "\"}");
}

static enum MHD_Result gw_access(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                 const char *version, const char *upload_data, size_t *upload_data_size,
                                 void **con_cls)
{
    gw_server *g = cls;
    (void)version;
    (void)upload_data;
    gw_request *rq = *con_cls;
    if (rq == NULL) {
        rq = calloc(1, sizeof(*rq));
        if (rq == NULL) {
            return MHD_NO;
        }
        *con_cls = rq;
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        /* No route here takes a body yet: discard it; the answer follows. */
        *upload_data_size = 0;
        return MHD_YES;
    }

    if (rq->kind == RT_READY) {
        return ready_respond(rq->ready, conn);
    }

    int is_get = strcmp(method, MHD_HTTP_METHOD_GET) == 0 || strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
    if (strcmp(url, "/healthz") == 0 || strcmp(url, "/readyz") == 0) {
        if (!is_get) {
            return gw_send_error(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "method_not_allowed",
                                 "this endpoint only answers GET");
        }
        if (url[1] == 'h') {
            return gw_healthz(conn);
        }
        rq->kind = RT_READY;
        if (ready_start(&rq->ready, conn, g->b) != 0) {
            rq->kind = RT_NONE;
            return gw_send_error(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal", "out of memory");
        }
        return MHD_YES;
    }
    return gw_send_error(conn, MHD_HTTP_NOT_FOUND, "not_found", "no such endpoint");
}

static void gw_completed(void *cls, struct MHD_Connection *conn, void **con_cls, enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)conn;
    (void)toe;
    gw_request *rq = *con_cls;
    if (rq == NULL) {
        return;
    }
    ready_free(rq->ready);
    free(rq);
    *con_cls = NULL;
}

static void gw_mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char buf[512];
    vsnprintf(buf, sizeof(buf), fmt, ap);
    size_t n = strlen(buf);
    while (n > 0 && buf[n - 1] == '\n') {
        buf[--n] = '\0';
    }
    log_warn("http: %s", buf);
}

/* Many idle SSE streams need many descriptors: raise the soft limit. */
static void gw_raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

int gw_start(gw_server **out, const cfg *c, backends *b, char *err, size_t errlen)
{
    *out = NULL;
    gw_server *g = calloc(1, sizeof(*g));
    if (g == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    g->b = b;
    gw_raise_nofile();

    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)cfg_int(c, "HTTP_PORT"));
    if (inet_pton(AF_INET, cfg_str(c, "HTTP_ADDR"), &sa.sin_addr) != 1) {
        snprintf(err, errlen, "HTTP_ADDR: \"%s\" is not an IPv4 address", cfg_str(c, "HTTP_ADDR"));
        free(g);
        return -1;
    }
    unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
    g->d = MHD_start_daemon(flags, 0, NULL, NULL, gw_access, g,
                            MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
                            MHD_OPTION_CONNECTION_LIMIT, (unsigned)cfg_int(c, "HTTP_MAX_CONNECTIONS"),
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)(cfg_int(c, "HTTP_IDLE_TIMEOUT") / 1000),
                            MHD_OPTION_NOTIFY_COMPLETED, gw_completed, g,
                            MHD_OPTION_EXTERNAL_LOGGER, gw_mhd_log, NULL,
                            MHD_OPTION_END);
    if (g->d == NULL) {
        snprintf(err, errlen, "cannot listen on %s:%lld (in use?)", cfg_str(c, "HTTP_ADDR"), cfg_int(c, "HTTP_PORT"));
        free(g);
        return -1;
    }
    *out = g;
    return 0;
}

void gw_stop(gw_server *g)
{
    if (g == NULL) {
        return;
    }
    /* Suspended connections resume once their RPC calls end; the backends
     * are closed after this, which ends any still in flight. */
    MHD_quiesce_daemon(g->d);
    MHD_stop_daemon(g->d);
    free(g);
}
