/* http.c: see http.h. Everything here runs on the HTTP thread. */
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
#include "chat.h"
#include "log.h"
#include "metrics.h"
#include "ready.h"
#include "sessions.h"
#include "sse.h"
#include "static.h"
#include "turn.h"

#ifndef CHAT_VERSION
#define CHAT_VERSION "dev"
#endif


struct gw_server {
    struct MHD_Daemon *d;
    backends *b;
};

enum MHD_Result gw_send_json_full(struct MHD_Connection *conn, unsigned status, const char *json, const char *origin,
                                  uint32_t retry_after_s)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(json), (void *)json, MHD_RESPMEM_MUST_COPY);
    if (r == NULL) {
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (retry_after_s > 0) {
        char ra[16];
        snprintf(ra, sizeof(ra), "%u", retry_after_s);
        MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, ra);
    }
    cors_headers(r, origin);
    enum MHD_Result ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ret;
}

enum MHD_Result gw_send_json(struct MHD_Connection *conn, unsigned status, const char *json, const char *origin)
{
    return gw_send_json_full(conn, status, json, origin, 0);
}

enum MHD_Result gw_send_error(struct MHD_Connection *conn, unsigned status, const char *code, const char *message,
                              const char *origin)
{
    json_t *j = json_pack("{s:{s:s, s:s}}", "error", "code", code, "message", message);
    char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    enum MHD_Result r = gw_send_json(conn, status, text ? text : "{\"error\":{\"code\":\"internal\"}}", origin);
    free(text);
    return r;
}

static enum MHD_Result gw_metrics(struct MHD_Connection *conn)
{
    size_t len = 0;
    char *text = metrics_render(&len);
    if (text == NULL) {
        return MHD_NO;
    }
    struct MHD_Response *r = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
    if (r == NULL) {
        free(text);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; version=0.0.4");
    enum MHD_Result ret = MHD_queue_response(conn, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return ret;
}

static int is_method(const char *m, const char *want) { return strcmp(m, want) == 0; }

/* "/v1/sessions/{id}[/messages]": copies id, returns the rest ("" or
 * "/messages"), or NULL when the path is not of that shape. */
static const char *session_path(const char *url, char id[AUTH_SESSION_ID_LEN + 1])
{
    static const char pre[] = "/v1/sessions/";
    if (strncmp(url, pre, sizeof(pre) - 1) != 0) {
        return NULL;
    }
    const char *p = url + sizeof(pre) - 1;
    size_t n = strcspn(p, "/");
    if (n == 0 || n > AUTH_SESSION_ID_LEN) {
        return NULL;
    }
    memcpy(id, p, n);
    id[n] = '\0';
    return p + n;
}

/* Token for a session route: Bearer token that signs `id`. 0 ok, else the
 * error already sent. */
static int gw_session_auth(struct MHD_Connection *conn, const char *id, const char *origin, const char **token,
                           enum MHD_Result *ret, metric_route route)
{
    char sid[AUTH_SESSION_ID_LEN + 1];
    *token = auth_bearer(conn);
    if (*token == NULL || !auth_check_token(*token, sid)) {
        metrics_request(route, 401);
        *ret = gw_send_error(conn, MHD_HTTP_UNAUTHORIZED, "unauthorized", "a valid session token is required", origin);
        return -1;
    }
    if (strcmp(sid, id) != 0) {
        metrics_request(route, 403);
        *ret = gw_send_error(conn, MHD_HTTP_FORBIDDEN, "forbidden", "the token belongs to another session", origin);
        return -1;
    }
    return 0;
}

static enum MHD_Result gw_route(gw_server *g, struct MHD_Connection *conn, gw_request *rq, const char *url,
                                const char *method)
{
    const char *o = rq->origin;
    int get = is_method(method, MHD_HTTP_METHOD_GET) || is_method(method, MHD_HTTP_METHOD_HEAD);

    if (strcmp(url, "/healthz") == 0 || strcmp(url, "/readyz") == 0 || strcmp(url, "/metrics") == 0) {
        if (!get) {
            return gw_send_error(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "method_not_allowed", "this endpoint only answers GET",
                                 o);
        }
        metrics_request(MR_HEALTH, 200);
        if (url[1] == 'h') {
            return gw_send_json(conn, MHD_HTTP_OK, "{\"status\":\"ok\",\"version\":\"" CHAT_VERSION "\"}", o);
        }
        if (url[1] == 'm') {
            return gw_metrics(conn);
        }
        rq->kind = RT_READY;
        if (ready_start(&rq->ready, conn, g->b) != 0) {
            rq->kind = RT_NONE;
            return gw_send_error(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal", "out of memory", o);
        }
        return MHD_YES;
    }

    if (get) {
        int sr = static_serve(conn, url);
        if (sr >= 0) {
            return (enum MHD_Result)sr;
        }
    }

    if (strcmp(url, "/v1/sessions") == 0) {
        if (!is_method(method, MHD_HTTP_METHOD_POST)) {
            return gw_send_error(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "method_not_allowed", "use POST", o);
        }
        char ip[AUTH_IP_MAX], iph[AUTH_IP_HASH_LEN + 1];
        auth_client_ip(conn, ip);
        auth_ip_hash(ip, iph);
        const char *locale = NULL;
        json_t *j = NULL;
        if (rq->body_len > 0 && !rq->too_big) {
            json_error_t je;
            j = json_loadb(rq->body, rq->body_len, 0, &je);
            locale = json_string_value(json_object_get(j, "locale"));
            if (locale != NULL && strlen(locale) > 35) {
                locale = NULL;
            }
        }
        rq->kind = RT_SESSION_OP;
        rq->op = sessions_start(conn, SOP_CREATE, NULL, NULL, iph, o, locale);
        json_decref(j);
        if (rq->op == NULL) {
            rq->kind = RT_NONE;
            return gw_send_error(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal", "out of memory", o);
        }
        return MHD_YES;
    }

    if (strcmp(url, "/v1/leads") == 0) {
        if (!is_method(method, MHD_HTTP_METHOD_POST)) {
            return gw_send_error(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "method_not_allowed", "use POST", o);
        }
        const char *ct = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
        if (ct == NULL || strncasecmp(ct, "application/json", 16) != 0) {
            metrics_request(MR_LEADS, 415);
            return gw_send_error(conn, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type",
                                 "send the form as JSON (Content-Type: application/json)", o);
        }
        char ip[AUTH_IP_MAX], iph[AUTH_IP_HASH_LEN + 1], sid[AUTH_SESSION_ID_LEN + 1];
        auth_client_ip(conn, ip);
        auth_ip_hash(ip, iph);
        const char *tok = auth_bearer(conn);
        int linked = tok != NULL && auth_check_token(tok, sid);
        enum MHD_Result r = sessions_lead(conn, rq->body, rq->body_len, linked ? sid : NULL, iph, o, &rq->op);
        if (rq->op != NULL) {
            rq->kind = RT_SESSION_OP;
        }
        return r;
    }

    char id[AUTH_SESSION_ID_LEN + 1];
    const char *rest = session_path(url, id);
    if (rest != NULL && (rest[0] == '\0' || strcmp(rest, "/messages") == 0)) {
        int erase = rest[0] == '\0';
        if ((erase && !is_method(method, MHD_HTTP_METHOD_DELETE)) || (!erase && !get)) {
            return gw_send_error(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "method_not_allowed",
                                 erase ? "use DELETE to erase a session" : "use GET", o);
        }
        const char *token;
        enum MHD_Result ret;
        if (gw_session_auth(conn, id, o, &token, &ret, erase ? MR_ERASE : MR_MESSAGES) != 0) {
            return ret;
        }
        rq->kind = RT_SESSION_OP;
        rq->op = sessions_start(conn, erase ? SOP_ERASE : SOP_LOAD, id, token, NULL, o, NULL);
        if (rq->op == NULL) {
            rq->kind = RT_NONE;
            return gw_send_error(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal", "out of memory", o);
        }
        return MHD_YES;
    }

    if (strcmp(url, "/v1/chat") == 0) {
        if (!is_method(method, MHD_HTTP_METHOD_POST)) {
            return gw_send_error(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "method_not_allowed", "use POST", o);
        }
        return chat_post(conn, rq);
    }
    static const char chat_pre[] = "/v1/chat/";
    if (strncmp(url, chat_pre, sizeof(chat_pre) - 1) == 0) {
        const char *tid = url + sizeof(chat_pre) - 1;
        const char *slash = strchr(tid, '/');
        if (slash != NULL && strcmp(slash, "/events") == 0 && slash - tid < TURN_ID_MAX && slash > tid) {
            if (!get) {
                return gw_send_error(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "method_not_allowed", "use GET", o);
            }
            char t[TURN_ID_MAX];
            snprintf(t, sizeof(t), "%.*s", (int)(slash - tid), tid);
            return chat_resume(conn, rq, t);
        }
    }
    metrics_request(MR_OTHER, 404);
    return gw_send_error(conn, MHD_HTTP_NOT_FOUND, "not_found", "no such endpoint", o);
}

static enum MHD_Result gw_access(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                 const char *version, const char *upload_data, size_t *upload_data_size,
                                 void **con_cls)
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
        switch (rq->kind) {
        case RT_READY: return ready_respond(rq->ready, conn);
        case RT_SESSION_OP: return sessions_respond(rq->op, conn, rq->origin);
        case RT_CHAT: return chat_after_begin(conn, rq);
        default: return MHD_NO;
        }
    }
    rq->handled = 1;

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
    return gw_route(g, conn, rq, url, method);
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
    sessions_free(rq->op);
    if (rq->turn != NULL) {
        turn_unref(rq->turn);
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
    g->d = MHD_start_daemon(flags, 0, NULL, NULL, gw_access, g, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
                            MHD_OPTION_CONNECTION_LIMIT, (unsigned)cfg_int(c, "HTTP_MAX_CONNECTIONS"),
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)(cfg_int(c, "HTTP_IDLE_TIMEOUT") / 1000),
                            MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(32 * 1024),
                            MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)1024,
                            MHD_OPTION_NOTIFY_COMPLETED, gw_completed, g, MHD_OPTION_EXTERNAL_LOGGER, gw_mhd_log,
                            NULL, MHD_OPTION_END);
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
    /* MHD requires every connection resumed before it stops: end the
     * streams, and give pending calls (bounded by their timeouts) time to
     * answer. */
    MHD_quiesce_daemon(g->d);
    sse_shutdown();
    turns_finish_all();
    for (int i = 0; i < 700 && gw_suspended_count() > 0; i++) {
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
    }
    turns_finish_all();
    MHD_stop_daemon(g->d);
    free(g);
}
