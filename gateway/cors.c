/* cors.c: see cors.h. */
#include "cors.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "config.h"
#include "respond.h"

#define CORS_MAX_ORIGINS 64

static char cors_list[CORS_MAX_ORIGINS][CORS_ORIGIN_MAX];
static size_t cors_n;
static int cors_any;

int cors_init(const char *allowed, char *err, size_t errlen)
{
    cors_n = 0;
    cors_any = 0;
    const char *list = allowed, *p;
    size_t n;
    while ((p = cfg_list_next(&list, &n)) != NULL) {
        if (n == 1 && *p == '*') {
            cors_any = 1;
        } else {
            if (cors_n >= CORS_MAX_ORIGINS || n >= CORS_ORIGIN_MAX ||
                (strncmp(p, "http://", 7) != 0 && strncmp(p, "https://", 8) != 0) || p[n - 1] == '/') {
                snprintf(err, errlen, "ALLOWED_ORIGINS: \"%.*s\" is not an origin like https://www.example.com",
                         (int)(n < 200 ? n : 200), p);
                return -1;
            }
            memcpy(cors_list[cors_n], p, n);
            cors_list[cors_n][n] = '\0';
            cors_n++;
        }
    }
    return 0;
}

int cors_allowed(struct MHD_Connection *conn, char origin[CORS_ORIGIN_MAX])
{
    origin[0] = '\0';
    const char *o = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Origin");
    if (o == NULL) {
        return 1;
    }
    if (strlen(o) >= CORS_ORIGIN_MAX) {
        return 0;
    }
    int ok = cors_any;
    for (size_t i = 0; i < cors_n && !ok; i++) {
        ok = strcasecmp(cors_list[i], o) == 0;
    }
    if (ok) {
        snprintf(origin, CORS_ORIGIN_MAX, "%s", o);
    }
    return ok;
}

void cors_headers(struct MHD_Response *r, const char *origin)
{
    if (origin != NULL && origin[0]) {
        MHD_add_response_header(r, MHD_HTTP_HEADER_ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        MHD_add_response_header(r, MHD_HTTP_HEADER_VARY, "Origin");
        MHD_add_response_header(r, "Access-Control-Expose-Headers", "X-Turn-Id, Retry-After");
    }
}

enum MHD_Result cors_preflight(struct MHD_Connection *conn)
{
    char origin[CORS_ORIGIN_MAX];
    if (!cors_allowed(conn, origin) || origin[0] == '\0') {
        return gw_send_error(conn, MHD_HTTP_FORBIDDEN, "origin_not_allowed", "this origin may not use the chat API",
                             NULL);
    }
    struct MHD_Response *r = MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
    if (r == NULL) {
        return MHD_NO;
    }
    cors_headers(r, origin);
    MHD_add_response_header(r, "Access-Control-Allow-Methods", "GET, POST, DELETE, OPTIONS");
    MHD_add_response_header(r, "Access-Control-Allow-Headers", "Content-Type, Authorization, Last-Event-ID");
    MHD_add_response_header(r, "Access-Control-Max-Age", "600");
    gw_security_headers(r, NULL);
    enum MHD_Result ret = MHD_queue_response(conn, MHD_HTTP_NO_CONTENT, r);
    MHD_destroy_response(r);
    return ret;
}
