/* rpc_envelope.c: see rpc_envelope.h. */
#include "rpc_envelope.h"

#include <stdio.h>
#include <string.h>

rpc_env_status rpc_env_decode_request(const ProtobufCServiceDescriptor *desc, const uint8_t *data, size_t len,
                                      uint32_t default_timeout_ms, rpc_env_request *out)
{
    memset(out, 0, sizeof(*out));
    Chat__Rpc__Request *env = chat__rpc__request__unpack(NULL, len, data);
    if (env == NULL) {
        return RPC_ENV_MALFORMED;
    }
    snprintf(out->rid, sizeof(out->rid), "%s", env->request_id ? env->request_id : "");
    out->timeout_ms = env->timeout_ms ? env->timeout_ms : default_timeout_ms;

    size_t plen = strlen(desc->name);
    const char *m = env->method ? env->method : "";
    const ProtobufCMethodDescriptor *md = NULL;
    if (strlen(m) <= RPC_METHOD_MAX && strncmp(m, desc->name, plen) == 0 && m[plen] == '/') {
        md = protobuf_c_service_descriptor_get_method_by_name(desc, m + plen + 1);
    }
    if (md == NULL) {
        snprintf(out->method_shown, sizeof(out->method_shown), "%s", m);
        chat__rpc__request__free_unpacked(env, NULL);
        return RPC_ENV_UNKNOWN_METHOD;
    }
    out->env = env;
    out->method = md;
    return RPC_ENV_OK;
}

void rpc_env_decode_reply(const ProtobufCMethodDescriptor *md, const char *peer, const uint8_t *data, size_t len,
                          rpc_result *res)
{
    rpc_env_decode_reply_checked(md, peer, data, len, NULL, NULL, res);
}

void rpc_env_decode_reply_checked(const ProtobufCMethodDescriptor *md, const char *peer, const uint8_t *data,
                                  size_t len, rpc_env_reply_check check, void *arg, rpc_result *res)
{
    Chat__Rpc__Reply *rep = chat__rpc__reply__unpack(NULL, len, data);
    if (rep == NULL) {
        res->code = RPC_INTERNAL;
        snprintf(res->message, sizeof(res->message), "malformed reply envelope from %s", peer);
        return;
    }
    if (check != NULL && !check(rep, arg, res)) {
        chat__rpc__reply__free_unpacked(rep, NULL);
        return;
    }
    res->code = (rpc_code)rep->code;
    res->retry_after_ms = rep->retry_after_ms;
    snprintf(res->reason, sizeof(res->reason), "%s", rep->reason ? rep->reason : "");
    snprintf(res->message, sizeof(res->message), "%s", rep->message ? rep->message : "");
    if (rep->code == CHAT__RPC__CODE__OK) {
        res->reply = protobuf_c_message_unpack(md->output, NULL, rep->body.len, rep->body.data);
        if (res->reply == NULL) {
            res->code = RPC_INTERNAL;
            snprintf(res->message, sizeof(res->message), "malformed %s reply from %s", md->name, peer);
        }
    }
    chat__rpc__reply__free_unpacked(rep, NULL);
}
