/* rpc.h: what the RPC server and client share: status codes (gRPC's
 * numbering, as in proto/rpc.proto), their names, and the limits of the
 * envelope. Thread-safe (constants and pure functions only). */
#ifndef CHAT_RPC_H
#define CHAT_RPC_H

#include <stddef.h>
#include <stdint.h>

typedef enum rpc_code {
    RPC_OK = 0,
    RPC_CANCELLED = 1,
    RPC_UNKNOWN = 2,
    RPC_INVALID_ARGUMENT = 3,
    RPC_DEADLINE_EXCEEDED = 4,
    RPC_NOT_FOUND = 5,
    RPC_ALREADY_EXISTS = 6,
    RPC_PERMISSION_DENIED = 7,
    RPC_RESOURCE_EXHAUSTED = 8,
    RPC_FAILED_PRECONDITION = 9,
    RPC_ABORTED = 10,
    RPC_OUT_OF_RANGE = 11,
    RPC_UNIMPLEMENTED = 12,
    RPC_INTERNAL = 13,
    RPC_UNAVAILABLE = 14,
    RPC_DATA_LOSS = 15,
    RPC_UNAUTHENTICATED = 16,
} rpc_code;

#define RPC_CODE_MAX 16

/* Caps on what travels in an envelope. */
#define RPC_METHOD_MAX 128             /* "chat.session.Session/Begin" */
#define RPC_REQUEST_ID_MAX 64          /* longer ids are truncated */
#define RPC_STATUS_MESSAGE_MAX 512     /* longer messages are truncated */
#define RPC_REASON_MAX 32              /* an error's machine-readable reason */
#define RPC_DEFAULT_MAX_MSG (4u << 20) /* bytes; bigger messages drop the connection */
#define RPC_REPLY_SLACK 1024           /* the reply envelope around a body: message, reason, request id, tags */
#define RPC_DEFAULT_TIMEOUT_MS 30000u

/* "INVALID_ARGUMENT"; "CODE_<n>" for a number out of range (static buffer
 * per thread). */
const char *rpc_code_name(rpc_code code);

/* Whether a caller may retry a call that ended with this code. */
int rpc_code_retryable(rpc_code code);

/* Fills buf (>= 17 bytes) with a new random 16-hex-digit request id. */
void rpc_new_request_id(char *buf, size_t len);

#endif
