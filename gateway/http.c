/* http.c: see http.h. Everything here runs on the HTTP thread: the
 * daemon, request bodies, the CORS and size gates, then routes.c. */
#include "http.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <time.h>

#include "auth.h"
#include "conn_guard.h"
#include "json_shape.h"
#include "log.h"
#include "metrics.h"
#include "request.h"
#include "respond.h"
#include "routes.h"
#include "sse.h"
#include "turn.h"
#include "turnstile.h"

#define GW_STOP_FLUSH_MS 100 /* for the last answers to be written before the stop */

struct gw_server {
    struct MHD_Daemon *d;
    backends *b;
};

/* Header caps (set once by gw_start, read-only afterwards). */
static int http_max_headers = 64;
static size_t http_max_header_bytes = 8192;

static int is_method(const char *m, const char *want)
{
    return strcmp(m, want) == 0;
}

/* The checks that need only the request line and headers, at the first
 * call: 1 with the refusal queued in *ret. The request's bytes are never
 * put into a message. */
static int gw_refuse_headers(struct MHD_Connection *conn, enum MHD_Result *ret)
{
    int n = MHD_get_connection_values(conn, MHD_HEADER_KIND, NULL, NULL);
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE);
    size_t bytes = ci != NULL ? ci->header_size : 0;
    if (n > http_max_headers || bytes > http_max_header_bytes) {
        char why[96];
        if (n > http_max_headers) {
            snprintf(why, sizeof(why), "the request has more than %d header lines", http_max_headers);
        } else {
            snprintf(why, sizeof(why), "the request headers are over %zu bytes", http_max_header_bytes);
        }
        metrics_request(MR_OTHER, 431);
        *ret = gw_send_error(conn, MHD_HTTP_REQUEST_HEADER_FIELDS_TOO_LARGE, "headers_too_large", why, NULL);
        return 1;
    }
    /* Both framings at once is how requests are smuggled past a proxy
     * that reads the other one (RFC 9112 6.1): refused, not guessed. */
    if (MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH) != NULL &&
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING) != NULL) {
        metrics_request(MR_OTHER, 400);
        *ret = gw_send_error(conn, MHD_HTTP_BAD_REQUEST, "ambiguous_length",
                             "a request may carry Content-Length or Transfer-Encoding, not both", NULL);
        return 1;
    }
    ip_addr client;
    auth_client_ip(conn, &client);
    if (cg_client_enter(conn, &client)) {
        metrics_request(MR_OTHER, 429);
        *ret = gw_send_json_full(conn, MHD_HTTP_TOO_MANY_REQUESTS,
                                 "{\"error\":{\"code\":\"too_many_connections\",\"message\":\"Too many "
                                 "connections are open from your network. Please close some and try again.\"}}",
                                 NULL, HTTP_CONN_RETRY_S);
        return 1;
    }
    return 0;
}

/* The body's shape, before any route parses it: 1 with a 400 queued. */
static int gw_refuse_shape(struct MHD_Connection *conn, const gw_request *rq, enum MHD_Result *ret)
{
    if (rq->body_len == 0) {
        return 0;
    }
    json_shape_status st = json_shape_check(rq->body, rq->body_len, JSON_SHAPE_DEPTH_MAX, JSON_SHAPE_KEYS_MAX, NULL);
    if (st == JSON_SHAPE_OK) {
        return 0;
    }
    metrics_request(MR_OTHER, 400);
    *ret = gw_send_error(conn, MHD_HTTP_BAD_REQUEST, st == JSON_SHAPE_TOO_DEEP ? "json_too_deep" : "json_too_many_keys",
                         st == JSON_SHAPE_TOO_DEEP ? "the JSON body nests more than 8 levels deep"
                                                   : "the JSON body has more than 64 keys",
                         rq->origin);
    return 1;
}

static enum MHD_Result gw_access(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                 const char *version, const char *upload_data, size_t *upload_data_size, void **con_cls)
{
    gw_server *g = cls;
    (void)version;
    gw_request *rq = *con_cls;
    if (rq == NULL) {
        rq = calloc(1, sizeof(*rq));
        if (rq == NULL) {
            return MHD_NO;
        }
        *con_cls = rq;
        rq->b = g->b;
        enum MHD_Result refused;
        if (gw_refuse_headers(conn, &refused)) {
            rq->handled = 1;
            return refused;
        }
        /* A body announced too big is refused before it is read. */
        const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl != NULL && strtoull(cl, NULL, 10) > HTTP_BODY_MAX) {
            rq->too_big = 1;
        }
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        if (!rq->too_big && rq->body_len + *upload_data_size <= HTTP_BODY_MAX) {
            char *b = realloc(rq->body, rq->body_len + *upload_data_size + 1);
            if (b == NULL) {
                return MHD_NO;
            }
            memcpy(b + rq->body_len, upload_data, *upload_data_size);
            rq->body_len += *upload_data_size;
            b[rq->body_len] = '\0';
            rq->body = b;
        } else {
            rq->too_big = 1;
        }
        *upload_data_size = 0;
        return MHD_YES;
    }

    /* Re-entry after a suspended call resumed. */
    if (rq->handled) {
        return rq->resume != NULL ? rq->resume(conn, rq) : MHD_NO;
    }
    rq->handled = 1;
    cg_received(conn);

    if (is_method(method, MHD_HTTP_METHOD_OPTIONS)) {
        return cors_preflight(conn);
    }
    if (!cors_allowed(conn, rq->origin)) {
        metrics_request(MR_OTHER, 403);
        return gw_send_error(conn, MHD_HTTP_FORBIDDEN, "origin_not_allowed", "this origin may not use the chat API",
                             NULL);
    }
    if (rq->too_big) {
        metrics_request(MR_OTHER, 413);
        return gw_send_error(conn, MHD_HTTP_CONTENT_TOO_LARGE, "payload_too_large", "the request body is over 16 KB",
                             rq->origin);
    }
    enum MHD_Result refused;
    if (gw_refuse_shape(conn, rq, &refused)) {
        return refused;
    }
    return routes_dispatch(conn, rq, url, method);
}

static void gw_completed(void *cls, struct MHD_Connection *conn, void **con_cls, enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)toe;
    cg_request_done(conn);
    gw_request *rq = *con_cls;
    if (rq == NULL) {
        return;
    }
    if (rq->release != NULL && rq->state != NULL) {
        rq->release(rq->state);
    }
    free(rq->body);
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
    size_t pool = (size_t)cfg_int(c, "HTTP_CONNECTION_MEMORY");
    http_max_headers = (int)cfg_int(c, "HTTP_MAX_HEADERS");
    http_max_header_bytes = (size_t)cfg_int(c, "HTTP_MAX_HEADER_BYTES");
    if (http_max_header_bytes > pool / 2) {
        snprintf(err, errlen,
                 "HTTP_MAX_HEADER_BYTES (%zu) must be at most half of HTTP_CONNECTION_MEMORY (%zu): raise the "
                 "memory or lower the cap",
                 http_max_header_bytes, pool);
        free(g);
        return -1;
    }

    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)cfg_int(c, "HTTP_PORT"));
    if (inet_pton(AF_INET, cfg_str(c, "HTTP_ADDR"), &sa.sin_addr) != 1) {
        snprintf(err, errlen, "HTTP_ADDR: \"%s\" is not an IPv4 address", cfg_str(c, "HTTP_ADDR"));
        free(g);
        return -1;
    }
    if (cg_init((unsigned)cfg_int(c, "HTTP_REQUEST_TIMEOUT"), (unsigned)cfg_int(c, "HTTP_MAX_CONNECTIONS_PER_IP"),
                (unsigned)cfg_int(c, "RATE_IPV6_PREFIX"), (unsigned)cfg_int(c, "HTTP_MAX_CONNECTIONS"), err,
                errlen) != 0) {
        free(g);
        return -1;
    }
    unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
    g->d = MHD_start_daemon(flags, 0, NULL, NULL, gw_access, g, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
                            MHD_OPTION_CONNECTION_LIMIT, (unsigned)cfg_int(c, "HTTP_MAX_CONNECTIONS"),
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)(cfg_int(c, "HTTP_IDLE_TIMEOUT") / 1000),
                            MHD_OPTION_CONNECTION_MEMORY_LIMIT, pool, MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)1024,
                            MHD_OPTION_NOTIFY_COMPLETED, gw_completed, g, MHD_OPTION_NOTIFY_CONNECTION, cg_notify, NULL,
                            MHD_OPTION_EXTERNAL_LOGGER, gw_mhd_log, NULL, MHD_OPTION_END);
    if (g->d == NULL) {
        snprintf(err, errlen, "cannot listen on %s:%lld (in use?)", cfg_str(c, "HTTP_ADDR"), cfg_int(c, "HTTP_PORT"));
        cg_stop();
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
    /* MHD requires every connection resumed before it stops: end the
     * streams, and give pending calls (bounded by their timeouts) time to
     * answer; bot checks still waiting for Siteverify fail at once. */
    sse_shutdown();
    turns_finish_all();
    turnstile_cancel_all();
    for (int i = 0; i < 700 && gw_suspended_count() > 0; i++) {
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
    }
    turns_finish_all();
    /* Quiesced only now: a connection resumed above is answered by the
     * HTTP thread, which a quiesced daemon did not always do before the
     * stop closed it (the visitor then got no status at all). */
    MHD_quiesce_daemon(g->d);
    struct timespec flush = {0, GW_STOP_FLUSH_MS * 1000000L};
    nanosleep(&flush, NULL);
    MHD_stop_daemon(g->d);
    cg_stop();
    free(g);
}
