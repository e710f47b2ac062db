/* ready.c: see ready.h. Callbacks run on nng threads; the last one to
 * finish resumes the connection (MHD_resume_connection is thread-safe). */
#include "ready.h"

#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "respond.h"
#include "rpc.pb-c.h"
#include "turn.h"

typedef struct ready_one {
    ready_check *rc;
    int idx;
    rpc_code code;
    char message[RPC_STATUS_MESSAGE_MAX + 1];
    int ready;
    char version[64];
    char detail[256];
    uint64_t uptime_ms;
    int64_t took_us;
} ready_one;

struct ready_check {
    struct MHD_Connection *conn;
    backends *b;
    pthread_mutex_t mtx;
    int pending;
    int64_t start_us;
    ready_one one[BK_COUNT];
};

static void ready_done(rpc_result *res, void *arg)
{
    ready_one *o = arg;
    ready_check *rc = o->rc;
    o->code = res->code;
    o->took_us = clock_mono_us() - rc->start_us;
    snprintf(o->message, sizeof(o->message), "%s", res->message);
    if (res->code == RPC_OK) {
        Chat__Rpc__HealthReply *h = (Chat__Rpc__HealthReply *)res->reply;
        o->ready = h->ready;
        snprintf(o->version, sizeof(o->version), "%s", h->version);
        snprintf(o->detail, sizeof(o->detail), "%s", h->detail);
        o->uptime_ms = h->uptime_ms;
        protobuf_c_message_free_unpacked(res->reply, NULL);
    }
    pthread_mutex_lock(&rc->mtx);
    int last = --rc->pending == 0;
    pthread_mutex_unlock(&rc->mtx);
    if (last) {
        MHD_resume_connection(rc->conn);
        gw_suspended_add(-1);
    }
}

int ready_start(ready_check **out, struct MHD_Connection *conn, backends *b)
{
    ready_check *rc = calloc(1, sizeof(*rc));
    *out = rc;
    if (rc == NULL) {
        return -1;
    }
    rc->conn = conn;
    rc->b = b;
    rc->start_us = clock_mono_us();
    pthread_mutex_init(&rc->mtx, NULL);
    Chat__Rpc__HealthRequest req = CHAT__RPC__HEALTH_REQUEST__INIT;

    /* Hold one extra count so no callback resumes before we suspended. */
    rc->pending = BK_COUNT + 1;
    gw_suspended_add(1);
    MHD_suspend_connection(conn);
    for (int i = 0; i < BK_COUNT; i++) {
        ready_one *o = &rc->one[i];
        o->rc = rc;
        o->idx = i;
        rpc_code c = rpc_call_async(b->client[i], "Health", &req.base, READY_TIMEOUT_MS, NULL, ready_done, o);
        if (c != RPC_OK) {
            o->code = c;
            snprintf(o->message, sizeof(o->message), "%s",
                     c == RPC_UNAVAILABLE ? "service not reachable" : "call could not start");
            pthread_mutex_lock(&rc->mtx);
            rc->pending--;
            pthread_mutex_unlock(&rc->mtx);
        }
    }
    pthread_mutex_lock(&rc->mtx);
    int last = --rc->pending == 0;
    pthread_mutex_unlock(&rc->mtx);
    if (last) {
        MHD_resume_connection(conn);
        gw_suspended_add(-1);
    }
    return 0;
}

enum MHD_Result ready_respond(ready_check *rc, struct MHD_Connection *conn, int detail)
{
    json_t *root = json_object();
    json_t *svcs = json_object();
    int all = 1;
    for (int i = 0; i < BK_COUNT; i++) {
        ready_one *o = &rc->one[i];
        int ok = o->code == RPC_OK && o->ready;
        all &= ok;
        json_t *j = json_pack("{s:b}", "ready", ok);
        if (!detail) { /* the public view: names and states only */
        } else if (o->code == RPC_OK) {
            json_object_set_new(j, "status", json_string(rpc_code_name(o->code)));
            json_object_set_new(j, "ms", json_real((double)o->took_us / 1000.0));
            json_object_set_new(j, "version", json_string(o->version));
            json_object_set_new(j, "uptime_ms", json_integer((json_int_t)o->uptime_ms));
            if (o->detail[0]) {
                json_object_set_new(j, "detail", json_string(o->detail));
            }
        } else {
            json_object_set_new(j, "status", json_string(rpc_code_name(o->code)));
            json_object_set_new(j, "ms", json_real((double)o->took_us / 1000.0));
            json_object_set_new(j, "detail", json_string(o->message));
        }
        json_object_set_new(svcs, rc->b->name[i], j);
    }
    json_object_set_new(root, "ready", json_boolean(all));
    json_object_set_new(root, "services", svcs);
    char *text = json_dumps(root, JSON_COMPACT | JSON_REAL_PRECISION(4));
    json_decref(root);
    enum MHD_Result r = gw_send_json(conn, all ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE, text ? text : "{}", NULL);
    free(text);
    return r;
}

void ready_free(ready_check *rc)
{
    if (rc == NULL) {
        return;
    }
    pthread_mutex_destroy(&rc->mtx);
    free(rc);
}
