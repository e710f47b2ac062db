/* fuzz_rpc_envelope.c: the RPC envelope decoder (lib/rpc_envelope.c) as
 * the server and the client run it: the bytes as a request envelope for
 * each service (and, when it names a method, its body as that method's
 * request, as the server's worker unpacks it), and as a reply envelope to
 * one method of each service.
 *
 * Input: the nng message body. Checked: a request id and a shown method
 * within their caps; a decoded method is the service's own; a reply is
 * OK with a response, or another code without one. */
#include "fuzz.h"
#include "indexer.pb-c.h"
#include "llm.pb-c.h"
#include "retrieval.pb-c.h"
#include "rpc_envelope.h"
#include "session.pb-c.h"

static const ProtobufCServiceDescriptor *const fuzz_services[] = {
    &chat__session__session__descriptor,
    &chat__retrieval__retrieval__descriptor,
    &chat__llm__llm__descriptor,
    &chat__indexer__indexer__descriptor,
};
#define FUZZ_SERVICES (sizeof(fuzz_services) / sizeof(fuzz_services[0]))

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    for (size_t i = 0; i < FUZZ_SERVICES; i++) {
        const ProtobufCServiceDescriptor *desc = fuzz_services[i];
        rpc_env_request rq;
        rpc_env_status es = rpc_env_decode_request(desc, data, size, RPC_DEFAULT_TIMEOUT_MS, &rq);
        FUZZ_CHECK(strlen(rq.rid) <= RPC_REQUEST_ID_MAX, "request id");
        FUZZ_CHECK(strlen(rq.method_shown) <= RPC_METHOD_MAX, "shown method");
        if (es == RPC_ENV_OK) {
            FUZZ_CHECK(rq.env != NULL && rq.method >= desc->methods && rq.method < desc->methods + desc->n_methods,
                       "a method not of %s", desc->name);
            FUZZ_CHECK(rq.timeout_ms > 0, "no time budget");
            ProtobufCMessage *in =
                protobuf_c_message_unpack(rq.method->input, NULL, rq.env->body.len, rq.env->body.data);
            if (in != NULL) {
                protobuf_c_message_free_unpacked(in, NULL);
            }
            chat__rpc__request__free_unpacked(rq.env, NULL);
        } else {
            FUZZ_CHECK(rq.env == NULL, "an envelope kept after status %d", (int)es);
        }

        const ProtobufCMethodDescriptor *md = &desc->methods[size % desc->n_methods];
        rpc_result res;
        memset(&res, 0, sizeof(res));
        rpc_env_decode_reply(md, "tcp://127.0.0.1:1", data, size, &res);
        FUZZ_CHECK((res.code == RPC_OK) == (res.reply != NULL), "code %d with reply %p", (int)res.code,
                   (void *)res.reply);
        FUZZ_CHECK(strlen(res.message) <= RPC_STATUS_MESSAGE_MAX, "message");
        if (res.reply != NULL) {
            protobuf_c_message_free_unpacked(res.reply, NULL);
        }
    }
    return 0;
}
