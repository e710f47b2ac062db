/* respond.h: the gateway's JSON answers. Every route answers through these,
 * so errors have one shape: {"error":{"code":..,"message":..}}.
 *
 * Owns nothing: the JSON is copied into the response. HTTP thread. */
#ifndef GW_RESPOND_H
#define GW_RESPOND_H

#include <microhttpd.h>
#include <stdint.h>

/* origin: CORS origin to allow ("" or NULL for none). */
enum MHD_Result gw_send_json(struct MHD_Connection *conn, unsigned status, const char *json, const char *origin);
/* retry_after_s > 0 adds a Retry-After header. */
enum MHD_Result gw_send_json_full(struct MHD_Connection *conn, unsigned status, const char *json, const char *origin,
                                  uint32_t retry_after_s);
/* {"error":{"code":..,"message":..}} with the status. */
enum MHD_Result gw_send_error(struct MHD_Connection *conn, unsigned status, const char *code, const char *message,
                              const char *origin);

#endif
