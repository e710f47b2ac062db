/* rpc_envelope.h: the RPC envelope (proto/rpc.proto) read from the bytes
 * that arrived: a request on the server (envelope, request id, time budget,
 * method), a reply on the client (status, message, hint, response). The one
 * decoder of both sides, apart from the sockets, so the same code is unit
 * tested and fuzzed (tests/fuzz/fuzz_rpc_envelope.c).
 *
 * Owns: nothing past the call except what it hands out (the unpacked
 * request envelope, the unpacked reply). Pure functions: any thread. */
#ifndef CHAT_RPC_ENVELOPE_H
#define CHAT_RPC_ENVELOPE_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include <stdint.h>

#include "rpc.h"
#include "rpc.pb-c.h"
#include "rpc_client.h"

typedef enum {
    RPC_ENV_OK = 0,
    RPC_ENV_MALFORMED = 1,      /* not a Request envelope */
    RPC_ENV_UNKNOWN_METHOD = 2, /* not "<service>/<method>" of this service */
} rpc_env_status;

typedef struct rpc_env_request {
    Chat__Rpc__Request *env;                 /* on OK: the caller's (chat__rpc__request__free_unpacked) */
    const ProtobufCMethodDescriptor *method; /* on OK */
    char rid[RPC_REQUEST_ID_MAX + 1];        /* on OK and UNKNOWN_METHOD: the request id, cut */
    uint32_t timeout_ms;                     /* the envelope's budget, or the default when it gave 0 */
    char method_shown[RPC_METHOD_MAX + 1];   /* on UNKNOWN_METHOD: the method as given, cut */
} rpc_env_request;

/* A request envelope data[0..len) for the service desc. */
rpc_env_status rpc_env_decode_request(const ProtobufCServiceDescriptor *desc, const uint8_t *data, size_t len,
                                      uint32_t default_timeout_ms, rpc_env_request *out);

/* A reply envelope data[0..len) to a call of md, into *res (code, message,
 * retry hint, and the unpacked response when OK); a malformed envelope or
 * response is INTERNAL with a message naming peer. */
void rpc_env_decode_reply(const ProtobufCMethodDescriptor *md, const char *peer, const uint8_t *data, size_t len,
                          rpc_result *res);

/* The same, with check(rep, arg, res) run on the unpacked envelope before
 * its status is believed (the client's reply MAC, lib/rpc_auth.h): when it
 * returns 0 it has set *res and nothing else is taken from the reply. */
typedef int (*rpc_env_reply_check)(const Chat__Rpc__Reply *rep, void *arg, rpc_result *res);
void rpc_env_decode_reply_checked(const ProtobufCMethodDescriptor *md, const char *peer, const uint8_t *data,
                                  size_t len, rpc_env_reply_check check, void *arg, rpc_result *res);

#endif
