/* cors.h: the browser origins allowed to call the API (ALLOWED_ORIGINS, an
 * explicit comma-separated list of scheme://host[:port]; "*" allows any and
 * is meant for development). Read-only after cors_init. */
#ifndef GW_CORS_H
#define GW_CORS_H

#include <microhttpd.h>

#define CORS_ORIGIN_MAX 256

int cors_init(const char *allowed, char *err, size_t errlen);

/* 1 when the request may proceed: no Origin header (not a browser), or an
 * allowed one (copied into origin, else origin is ""). */
int cors_allowed(struct MHD_Connection *conn, char origin[CORS_ORIGIN_MAX]);

/* Adds Access-Control-Allow-Origin (+ Vary) when origin is non-empty. */
void cors_headers(struct MHD_Response *r, const char *origin);

/* Answers a preflight (OPTIONS): 204 with the allowed methods and headers,
 * or 403 without CORS headers. */
enum MHD_Result cors_preflight(struct MHD_Connection *conn);

#endif
