/* rpc.c: status code names and request ids shared by server and client. */
#include "rpc.h"

#include <stdio.h>

#include "encode.h"

static const char *const rpc_code_names[RPC_CODE_MAX + 1] = {
    "OK",        "CANCELLED",       "UNKNOWN",           "INVALID_ARGUMENT",   "DEADLINE_EXCEEDED",
    "NOT_FOUND", "ALREADY_EXISTS",  "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
    "ABORTED",   "OUT_OF_RANGE",    "UNIMPLEMENTED",     "INTERNAL",           "UNAVAILABLE",
    "DATA_LOSS", "UNAUTHENTICATED",
};

const char *rpc_code_name(rpc_code code)
{
    static _Thread_local char other[24];
    if ((int)code >= 0 && (int)code <= RPC_CODE_MAX) {
        return rpc_code_names[code];
    }
    snprintf(other, sizeof(other), "CODE_%d", (int)code);
    return other;
}

int rpc_code_retryable(rpc_code code)
{
    return code == RPC_UNAVAILABLE || code == RPC_DEADLINE_EXCEEDED || code == RPC_RESOURCE_EXHAUSTED ||
           code == RPC_ABORTED;
}

void rpc_new_request_id(char *buf, size_t len)
{
    unsigned char raw[8] = {0};
    if (len < 17) {
        if (len > 0) {
            buf[0] = '\0';
        }
        return;
    }
    if (enc_random(raw, sizeof(raw)) != 0) {
        /* getrandom on Linux does not fail for 8 bytes after boot; keep a
         * usable id anyway. */
        static _Thread_local unsigned long long ctr;
        unsigned long long v = (unsigned long long)(uintptr_t)&ctr ^ ++ctr;
        for (int i = 0; i < 8; i++) {
            raw[i] = (unsigned char)(v >> (i * 8));
        }
    }
    enc_hex(raw, sizeof(raw), buf, len);
}
