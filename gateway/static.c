/* static.c: see static.h. */
#include "static.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

#include "log.h"
#include "respond.h"

typedef struct static_file {
    char *data;
    size_t len;
    char *gz;
    size_t gzlen;
    char etag[24];
    char versioned[64]; /* "/widget/chat.<hash>.js" */
} static_file;

static static_file st_js, st_demo;
static char st_dir[512];

static int static_read(const char *path, char **out, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return -1;
    }
    char *buf = malloc(STATIC_FILE_MAX + 1);
    size_t n = buf ? fread(buf, 1, STATIC_FILE_MAX + 1, f) : 0;
    fclose(f);
    if (buf == NULL || n > STATIC_FILE_MAX) {
        free(buf);
        return -1;
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return 0;
}

static void static_hash(static_file *f)
{
    unsigned char md[32];
    unsigned int mdlen = 0;
    EVP_Digest(f->data, f->len, md, &mdlen, EVP_sha256(), NULL);
    snprintf(f->etag, sizeof(f->etag), "\"%02x%02x%02x%02x%02x%02x\"", md[0], md[1], md[2], md[3], md[4], md[5]);
}

static void static_gzip(static_file *f)
{
    uLongf cap = compressBound((uLong)f->len) + 32;
    f->gz = malloc(cap);
    if (f->gz == NULL) {
        return;
    }
    z_stream zs;
    memset(&zs, 0, sizeof(zs));
    if (deflateInit2(&zs, 9, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY) != Z_OK) {
        free(f->gz);
        f->gz = NULL;
        return;
    }
    zs.next_in = (Bytef *)f->data;
    zs.avail_in = (uInt)f->len;
    zs.next_out = (Bytef *)f->gz;
    zs.avail_out = (uInt)cap;
    if (deflate(&zs, Z_FINISH) != Z_STREAM_END) {
        free(f->gz);
        f->gz = NULL;
    } else {
        f->gzlen = zs.total_out;
    }
    deflateEnd(&zs);
}

int static_init(const char *dir, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    snprintf(st_dir, sizeof(st_dir), "%s", dir ? dir : "widget");
    char path[600];
    snprintf(path, sizeof(path), "%s/chat.js", st_dir);
    if (static_read(path, &st_js.data, &st_js.len) == 0) {
        static_hash(&st_js);
        static_gzip(&st_js);
        snprintf(st_js.versioned, sizeof(st_js.versioned), "/widget/chat.%.12s.js", st_js.etag + 1);
    } else {
        log_warn("widget: %s not found; /widget/chat.js will answer 404", path);
    }
    snprintf(path, sizeof(path), "%s/demo.html", st_dir);
    char *demo = NULL;
    size_t dlen = 0;
    if (static_read(path, &demo, &dlen) == 0) {
        /* point the demo at the versioned script name */
        const char *needle = "/widget/chat.js";
        char *at = st_js.data ? strstr(demo, needle) : NULL;
        if (at != NULL) {
            size_t vl = strlen(st_js.versioned), nl = strlen(needle);
            char *out = malloc(dlen - nl + vl + 1);
            if (out != NULL) {
                size_t pre = (size_t)(at - demo);
                memcpy(out, demo, pre);
                memcpy(out + pre, st_js.versioned, vl);
                memcpy(out + pre + vl, at + nl, dlen - pre - nl + 1);
                free(demo);
                demo = out;
                dlen = dlen - nl + vl;
            }
        }
        st_demo.data = demo;
        st_demo.len = dlen;
        static_hash(&st_demo);
        static_gzip(&st_demo);
    }
    return 0;
}

void static_free(void)
{
    free(st_js.data);
    free(st_js.gz);
    free(st_demo.data);
    free(st_demo.gz);
    memset(&st_js, 0, sizeof(st_js));
    memset(&st_demo, 0, sizeof(st_demo));
}

static int static_accepts_gzip(struct MHD_Connection *conn)
{
    const char *ae = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT_ENCODING);
    return ae != NULL && strstr(ae, "gzip") != NULL;
}

static enum MHD_Result static_send(struct MHD_Connection *conn, const static_file *f, const char *type,
                                   const char *cache, const char *csp)
{
    const char *inm = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_IF_NONE_MATCH);
    struct MHD_Response *r;
    unsigned status = MHD_HTTP_OK;
    int gz = 0;
    if (inm != NULL && strcmp(inm, f->etag) == 0) {
        r = MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
        status = MHD_HTTP_NOT_MODIFIED;
    } else if (f->gz != NULL && static_accepts_gzip(conn)) {
        r = MHD_create_response_from_buffer(f->gzlen, f->gz, MHD_RESPMEM_PERSISTENT);
        gz = 1;
    } else {
        r = MHD_create_response_from_buffer(f->len, f->data, MHD_RESPMEM_PERSISTENT);
    }
    if (r == NULL) {
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(r, MHD_HTTP_HEADER_ETAG, f->etag);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, cache);
    MHD_add_response_header(r, MHD_HTTP_HEADER_VARY, "Accept-Encoding");
    if (gz) {
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_ENCODING, "gzip");
    }
    /* The widget runs on other sites' pages. */
    MHD_add_response_header(r, "Access-Control-Allow-Origin", "*");
    gw_security_headers(r, csp);
    enum MHD_Result ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result static_missing(struct MHD_Connection *conn, const char *what)
{
    char body[256];
    snprintf(body, sizeof(body),
             "{\"error\":{\"code\":\"not_found\",\"message\":\"%s is not installed (WIDGET_DIR)\"}}", what);
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_COPY);
    if (r == NULL) {
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    gw_security_headers(r, NULL);
    enum MHD_Result ret = MHD_queue_response(conn, MHD_HTTP_NOT_FOUND, r);
    MHD_destroy_response(r);
    return ret;
}

int static_serve(struct MHD_Connection *conn, const char *url)
{
    if (strcmp(url, "/widget/chat.js") == 0) {
        return st_js.data ? static_send(conn, &st_js, "text/javascript; charset=utf-8", "public, max-age=300", NULL)
                          : static_missing(conn, "chat.js");
    }
    if (st_js.data != NULL && strcmp(url, st_js.versioned) == 0) {
        return static_send(conn, &st_js, "text/javascript; charset=utf-8", "public, max-age=31536000, immutable", NULL);
    }
    if (strcmp(url, "/demo") == 0 || strcmp(url, "/demo/") == 0 || strcmp(url, "/") == 0) {
        return st_demo.data ? static_send(conn, &st_demo, "text/html; charset=utf-8", "no-cache", GW_CSP_DEMO)
                            : static_missing(conn, "the demo page");
    }
    return -1;
}
