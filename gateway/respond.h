/* respond.h: the gateway's JSON answers. Every route answers through these,
 * so errors have one shape: {"error":{"code":..,"message":..}}.
 *
 * Owns nothing: the JSON is copied into the response. HTTP thread. */
#ifndef GW_RESPOND_H
#define GW_RESPOND_H

#include <microhttpd.h>
#include <stdint.h>

#define GW_CSP_API "default-src 'none'; frame-ancestors 'none'" /* JSON, streams, the script */
/* The demo page: its own styles inline, the widget script, Turnstile's
 * script and frame, API calls to this origin, and no framing. */
#define GW_CSP_DEMO                                                                                                    \
    "default-src 'self'; script-src 'self' https://challenges.cloudflare.com; style-src 'self' 'unsafe-inline'; "      \
    "img-src 'self' data:; connect-src 'self'; frame-src https://challenges.cloudflare.com; frame-ancestors 'none'; "  \
    "base-uri 'none'; form-action 'self'; object-src 'none'"

/* Reads HSTS_MAX_AGE (seconds; 0 = no Strict-Transport-Security). Before
 * gw_start. */
void gw_respond_init(long long hsts_max_age_s);
/* The headers every response carries: X-Content-Type-Options: nosniff,
 * Referrer-Policy: no-referrer (a URL with ?token= must not travel on in a
 * Referer), X-Frame-Options: DENY, the CSP (csp, or GW_CSP_API when NULL),
 * and Strict-Transport-Security when configured. Every MHD_queue_response
 * in the gateway goes through this. */
void gw_security_headers(struct MHD_Response *r, const char *csp);

/* origin: CORS origin to allow ("" or NULL for none). */
enum MHD_Result gw_send_json(struct MHD_Connection *conn, unsigned status, const char *json, const char *origin);
/* retry_after_s > 0 adds a Retry-After header. */
enum MHD_Result gw_send_json_full(struct MHD_Connection *conn, unsigned status, const char *json, const char *origin,
                                  uint32_t retry_after_s);
/* {"error":{"code":..,"message":..}} with the status. */
enum MHD_Result gw_send_error(struct MHD_Connection *conn, unsigned status, const char *code, const char *message,
                              const char *origin);

#endif
