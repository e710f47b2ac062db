/* respond.c: see respond.h. */
#include "respond.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cors.h"

#define GW_HSTS_MAX 64 /* "max-age=<seconds>; includeSubDomains" */

static char gw_hsts[GW_HSTS_MAX];

void gw_respond_init(long long hsts_max_age_s)
{
    gw_hsts[0] = '\0';
    if (hsts_max_age_s > 0) {
        snprintf(gw_hsts, sizeof(gw_hsts), "max-age=%lld; includeSubDomains", hsts_max_age_s);
    }
}

void gw_security_headers(struct MHD_Response *r, const char *csp)
{
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
    MHD_add_response_header(r, "X-Frame-Options", "DENY");
    MHD_add_response_header(r, "Content-Security-Policy", csp != NULL ? csp : GW_CSP_API);
    if (gw_hsts[0] != '\0') {
        MHD_add_response_header(r, "Strict-Transport-Security", gw_hsts);
    }
}

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
    gw_security_headers(r, NULL);
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
