/* test_rpc_envelope.c: the envelope decoder shared by the RPC server and
 * client (lib/rpc_envelope.c): methods resolved against the service, ids
 * and shown methods cut to their caps, the default budget, malformed
 * envelopes and replies. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "rpc_envelope.h"
#include "session.pb-c.h"

static uint8_t *pack_request(const char *method, const char *rid, uint32_t timeout, size_t *len)
{
    Chat__Rpc__Request r = CHAT__RPC__REQUEST__INIT;
    r.method = (char *)method;
    r.request_id = (char *)rid;
    r.timeout_ms = timeout;
    *len = chat__rpc__request__get_packed_size(&r);
    uint8_t *buf = malloc(*len ? *len : 1);
    chat__rpc__request__pack(&r, buf);
    return buf;
}

Test(rpc_envelope, known_method)
{
    size_t len;
    uint8_t *buf = pack_request("chat.session.Session/Begin", "abc123", 0, &len);
    rpc_env_request rq;
    cr_assert_eq(rpc_env_decode_request(&chat__session__session__descriptor, buf, len, 777, &rq), RPC_ENV_OK);
    cr_expect_str_eq(rq.method->name, "Begin");
    cr_expect_str_eq(rq.rid, "abc123");
    cr_expect_eq(rq.timeout_ms, 777, "the default when the envelope gives 0");
    chat__rpc__request__free_unpacked(rq.env, NULL);
    free(buf);
}

Test(rpc_envelope, unknown_methods_and_caps)
{
    const char *bad[] = {"chat.session.Session/Nope", "chat.session.Session", "chat.session.SessionX/Begin",
                         "chat.llm.Llm/Begin", ""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        size_t len;
        uint8_t *buf = pack_request(bad[i], "r", 5, &len);
        rpc_env_request rq;
        cr_expect_eq(rpc_env_decode_request(&chat__session__session__descriptor, buf, len, 1, &rq),
                     RPC_ENV_UNKNOWN_METHOD, "%s", bad[i]);
        cr_expect_str_eq(rq.method_shown, bad[i]);
        cr_expect_null(rq.env);
        cr_expect_eq(rq.timeout_ms, 5);
        free(buf);
    }
    char longm[RPC_METHOD_MAX + 40], longid[RPC_REQUEST_ID_MAX + 40];
    memset(longm, 'm', sizeof(longm) - 1);
    longm[sizeof(longm) - 1] = '\0';
    memset(longid, 'i', sizeof(longid) - 1);
    longid[sizeof(longid) - 1] = '\0';
    size_t len;
    uint8_t *buf = pack_request(longm, longid, 0, &len);
    rpc_env_request rq;
    cr_expect_eq(rpc_env_decode_request(&chat__session__session__descriptor, buf, len, 1, &rq), RPC_ENV_UNKNOWN_METHOD);
    cr_expect_eq(strlen(rq.method_shown), RPC_METHOD_MAX);
    cr_expect_eq(strlen(rq.rid), RPC_REQUEST_ID_MAX);
    free(buf);
}

Test(rpc_envelope, malformed)
{
    const uint8_t junk[] = {0xff, 0xff, 0xff, 0xff};
    rpc_env_request rq;
    cr_expect_eq(rpc_env_decode_request(&chat__session__session__descriptor, junk, sizeof(junk), 1, &rq),
                 RPC_ENV_MALFORMED);
    cr_expect_null(rq.env);
    rpc_result res;
    memset(&res, 0, sizeof(res));
    const ProtobufCMethodDescriptor *md = &chat__session__session__descriptor.methods[0];
    rpc_env_decode_reply(md, "tcp://x:1", junk, sizeof(junk), &res);
    cr_expect_eq(res.code, RPC_INTERNAL);
    cr_expect_str_eq(res.message, "malformed reply envelope from tcp://x:1");
    cr_expect_null(res.reply);
}

Test(rpc_envelope, replies)
{
    const ProtobufCMethodDescriptor *md =
        protobuf_c_service_descriptor_get_method_by_name(&chat__session__session__descriptor, "Health");
    cr_assert_not_null(md);
    Chat__Rpc__HealthReply h = CHAT__RPC__HEALTH_REPLY__INIT;
    h.service = "svc-session";
    uint8_t body[64];
    size_t blen = chat__rpc__health_reply__pack(&h, body);

    Chat__Rpc__Reply rep = CHAT__RPC__REPLY__INIT;
    rep.body.data = body;
    rep.body.len = blen;
    uint8_t buf[256];
    size_t len = chat__rpc__reply__pack(&rep, buf);
    rpc_result res;
    memset(&res, 0, sizeof(res));
    rpc_env_decode_reply(md, "tcp://x:1", buf, len, &res);
    cr_assert_eq(res.code, RPC_OK, "%s", res.message);
    cr_assert_not_null(res.reply);
    cr_expect_str_eq(((Chat__Rpc__HealthReply *)res.reply)->service, "svc-session");
    protobuf_c_message_free_unpacked(res.reply, NULL);

    rep = (Chat__Rpc__Reply)CHAT__RPC__REPLY__INIT;
    rep.code = CHAT__RPC__CODE__UNAVAILABLE;
    rep.message = "draining";
    rep.retry_after_ms = 1000;
    len = chat__rpc__reply__pack(&rep, buf);
    memset(&res, 0, sizeof(res));
    rpc_env_decode_reply(md, "tcp://x:1", buf, len, &res);
    cr_expect_eq(res.code, RPC_UNAVAILABLE);
    cr_expect_str_eq(res.message, "draining");
    cr_expect_eq(res.retry_after_ms, 1000);
    cr_expect_null(res.reply);

    rep = (Chat__Rpc__Reply)CHAT__RPC__REPLY__INIT;
    uint8_t bad[] = {0xff, 0xff, 0xff};
    rep.body.data = bad;
    rep.body.len = sizeof(bad);
    len = chat__rpc__reply__pack(&rep, buf);
    memset(&res, 0, sizeof(res));
    rpc_env_decode_reply(md, "tcp://x:1", buf, len, &res);
    cr_expect_eq(res.code, RPC_INTERNAL);
    cr_expect_str_eq(res.message, "malformed Health reply from tcp://x:1");
    cr_expect_null(res.reply);
}
