/* rpc_abuse: sends a running service the inputs it must survive (a
 * malformed envelope, an unknown method, a truncated protobuf body, a 100 MB
 * message), checks each answer, then checks the service still answers
 * Health. Prints one line per case and "N passed, M failed".
 *
 *   rpc_abuse URL SERVICE     SERVICE = session|retrieval|llm|indexer
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "indexer.pb-c.h"
#include "llm.pb-c.h"
#include "log.h"
#include "retrieval.pb-c.h"
#include "rpc.pb-c.h"
#include "rpc_client.h"
#include "session.pb-c.h"

static int passed, failed;

static void check(int ok, const char *name, const char *detail)
{
    printf("%s %s%s%s\n", ok ? "ok  " : "FAIL", name, detail[0] ? ": " : "", detail);
    ok ? passed++ : failed++;
}

/* Sends raw bytes; returns the decoded reply or NULL (transport error). */
static Chat__Rpc__Reply *raw(rpc_client *c, const void *data, size_t len, uint32_t timeout_ms, int *nng_err)
{
    void *rep = NULL;
    size_t rlen = 0;
    *nng_err = rpc_call_raw(c, data, len, timeout_ms, &rep, &rlen);
    if (*nng_err != 0) {
        return NULL;
    }
    Chat__Rpc__Reply *r = chat__rpc__reply__unpack(NULL, rlen, rep);
    free(rep);
    return r;
}

static int health_ok(rpc_client *c)
{
    Chat__Rpc__HealthRequest req = CHAT__RPC__HEALTH_REQUEST__INIT;
    rpc_result res;
    for (int i = 0; i < 40; i++) { /* up to 2 s: a dropped connection reconnects */
        if (rpc_call_sync(c, "Health", &req.base, 500, NULL, &res) == RPC_OK) {
            protobuf_c_message_free_unpacked(res.reply, NULL);
            return 1;
        }
        struct timespec ts = {0, 50 * 1000000L};
        nanosleep(&ts, NULL);
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: rpc_abuse URL session|retrieval|llm|indexer\n");
        return 2;
    }
    log_init("rpc_abuse", LOG_ERROR);
    const ProtobufCServiceDescriptor *d = strcmp(argv[2], "session") == 0     ? &chat__session__session__descriptor
                                          : strcmp(argv[2], "retrieval") == 0 ? &chat__retrieval__retrieval__descriptor
                                          : strcmp(argv[2], "llm") == 0       ? &chat__llm__llm__descriptor
                                                                              : &chat__indexer__indexer__descriptor;
    char err[256], detail[256];
    rpc_client *c = NULL;
    if (rpc_client_open(&c, d, argv[1], NULL, err, sizeof(err)) != 0) {
        fprintf(stderr, "rpc_abuse: %s\n", err);
        return 2;
    }
    check(health_ok(c), "health before", "");

    int e = 0;
    unsigned char junk[64];
    memset(junk, 0xff, sizeof(junk));
    Chat__Rpc__Reply *r = raw(c, junk, sizeof(junk), 2000, &e);
    snprintf(detail, sizeof(detail), "code %d", r ? (int)r->code : -1);
    check(r && r->code == CHAT__RPC__CODE__INVALID_ARGUMENT, "malformed envelope -> INVALID_ARGUMENT", detail);
    if (r)
        chat__rpc__reply__free_unpacked(r, NULL);

    char method[160];
    snprintf(method, sizeof(method), "%s/NoSuchMethod", d->name);
    Chat__Rpc__Request env = CHAT__RPC__REQUEST__INIT;
    env.method = method;
    env.request_id = "abuse-1";
    size_t n = chat__rpc__request__get_packed_size(&env);
    unsigned char *buf = malloc(n);
    chat__rpc__request__pack(&env, buf);
    r = raw(c, buf, n, 2000, &e);
    free(buf);
    snprintf(detail, sizeof(detail), "code %d", r ? (int)r->code : -1);
    check(r && r->code == CHAT__RPC__CODE__UNIMPLEMENTED, "unknown method -> UNIMPLEMENTED", detail);
    if (r)
        chat__rpc__reply__free_unpacked(r, NULL);

    /* A body cut in the middle of a field: a length-delimited field 1 that
     * claims 100 bytes but carries 3. Health is the one method every
     * service has; its request type is the same everywhere. */
    snprintf(method, sizeof(method), "%s/Health", d->name);
    unsigned char body[] = {0x0a, 100, 'a', 'b', 'c'};
    env.method = method;
    env.body.data = body;
    env.body.len = sizeof(body);
    n = chat__rpc__request__get_packed_size(&env);
    buf = malloc(n);
    chat__rpc__request__pack(&env, buf);
    r = raw(c, buf, n, 2000, &e);
    free(buf);
    snprintf(detail, sizeof(detail), "code %d", r ? (int)r->code : -1);
    check(r && r->code == CHAT__RPC__CODE__INVALID_ARGUMENT, "truncated protobuf -> INVALID_ARGUMENT", detail);
    if (r)
        chat__rpc__reply__free_unpacked(r, NULL);

    size_t big = 100u << 20;
    unsigned char *huge = malloc(big);
    memset(huge, 0x0a, big);
    r = raw(c, huge, big, 3000, &e);
    free(huge);
    snprintf(detail, sizeof(detail), "%s", r ? "answered" : "connection dropped");
    check(r == NULL || r->code != CHAT__RPC__CODE__OK, "100 MB message -> dropped or refused", detail);
    if (r)
        chat__rpc__reply__free_unpacked(r, NULL);

    check(health_ok(c), "health after", "");
    rpc_client_close(c);
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
