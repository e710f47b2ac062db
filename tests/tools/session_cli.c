/* session_cli: calls one method of a running svc-session and prints the
 * reply as one line of JSON (tests and operators).
 *
 *   session_cli METHOD [key=value ...]
 *
 * The address is SESSION_URL (default tcp://127.0.0.1:7101) or url=...;
 * timeout=MS bounds the call (default 10000). Keys are the request's field
 * names; a dotted key sets a field of a nested message (lead.email=...,
 * usage.input_tokens=...). Commit also takes the conversation of the turn:
 *   user=TEXT  assistant=TEXT  sources="title|url|text;title|url|text"
 *   partial=1  stop_reason=end_turn  (the assistant message is left out
 *   when assistant= is not given)
 *
 * On success: the reply as JSON, exit 0. On an RPC error:
 *   {"error":{"code":"NOT_FOUND","message":"...","retry_after_ms":0,"reason":""}}
 * and exit 3. Usage errors exit 2. RPC_SECRET, when set, signs the call
 * (rpc_auth.h). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "rpc.h"
#include "rpc.pb-c.h"
#include "rpc_client.h"
#include "session.pb-c.h"

#define CLI_MAX_ALLOCS 64
#define CLI_MAX_SOURCES 16

static void *cli_allocs[CLI_MAX_ALLOCS];
static size_t cli_nallocs;

static void *cli_alloc(size_t n)
{
    if (cli_nallocs == CLI_MAX_ALLOCS) {
        fprintf(stderr, "session_cli: too many nested values\n");
        exit(2);
    }
    void *p = calloc(1, n);
    if (p == NULL) {
        fprintf(stderr, "session_cli: out of memory\n");
        exit(2);
    }
    cli_allocs[cli_nallocs++] = p;
    return p;
}

static void cli_free_all(void)
{
    for (size_t i = 0; i < cli_nallocs; i++) {
        free(cli_allocs[i]);
    }
    cli_nallocs = 0;
}

/* ------------------------------------------------------------ protobuf -> JSON */

static json_t *cli_to_json(const ProtobufCMessage *m);

static json_t *cli_value(const ProtobufCFieldDescriptor *f, const void *p)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_STRING: {
        const char *s = *(char *const *)p;
        return json_string(s != NULL ? s : "");
    }
    case PROTOBUF_C_TYPE_BOOL:
        return json_boolean(*(const protobuf_c_boolean *)p);
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_ENUM:
        return json_integer(*(const int32_t *)p);
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        return json_integer(*(const uint32_t *)p);
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        return json_integer((json_int_t) * (const int64_t *)p);
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        return json_integer((json_int_t) * (const uint64_t *)p);
    case PROTOBUF_C_TYPE_DOUBLE:
        return json_real(*(const double *)p);
    case PROTOBUF_C_TYPE_FLOAT:
        return json_real(*(const float *)p);
    case PROTOBUF_C_TYPE_MESSAGE: {
        const ProtobufCMessage *sub = *(ProtobufCMessage *const *)p;
        return sub != NULL ? cli_to_json(sub) : json_null();
    }
    default:
        return json_null();
    }
}

static size_t cli_type_size(const ProtobufCFieldDescriptor *f)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_STRING:
    case PROTOBUF_C_TYPE_MESSAGE:
        return sizeof(void *);
    case PROTOBUF_C_TYPE_BOOL:
        return sizeof(protobuf_c_boolean);
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
    case PROTOBUF_C_TYPE_DOUBLE:
        return 8;
    default:
        return 4;
    }
}

static json_t *cli_to_json(const ProtobufCMessage *m)
{
    json_t *o = json_object();
    const ProtobufCMessageDescriptor *d = m->descriptor;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        const char *base = (const char *)m + f->offset;
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = *(const size_t *)((const char *)m + f->quantifier_offset);
            const char *arr = *(char *const *)base;
            json_t *a = json_array();
            for (size_t k = 0; k < n; k++) {
                json_array_append_new(a, cli_value(f, arr + k * cli_type_size(f)));
            }
            json_object_set_new(o, f->name, a);
        } else {
            json_object_set_new(o, f->name, cli_value(f, base));
        }
    }
    return o;
}

/* ------------------------------------------------------------ key=value -> protobuf */

static int cli_set(ProtobufCMessage *m, const char *key, const char *value)
{
    const char *dot = strchr(key, '.');
    char name[128];
    size_t n = dot ? (size_t)(dot - key) : strlen(key);
    if (n >= sizeof(name)) {
        return -1;
    }
    memcpy(name, key, n);
    name[n] = '\0';
    const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field_by_name(m->descriptor, name);
    if (f == NULL || f->label == PROTOBUF_C_LABEL_REPEATED) {
        return -1;
    }
    void *p = (char *)m + f->offset;
    if (dot != NULL) {
        if (f->type != PROTOBUF_C_TYPE_MESSAGE) {
            return -1;
        }
        ProtobufCMessage **sub = p;
        if (*sub == NULL) {
            const ProtobufCMessageDescriptor *sd = f->descriptor;
            *sub = cli_alloc(sd->sizeof_message);
            sd->message_init(*sub);
        }
        return cli_set(*sub, dot + 1, value);
    }
    switch (f->type) {
    case PROTOBUF_C_TYPE_STRING:
        *(const char **)p = value;
        return 0;
    case PROTOBUF_C_TYPE_BOOL:
        *(protobuf_c_boolean *)p = strcmp(value, "1") == 0 || strcmp(value, "true") == 0;
        return 0;
    case PROTOBUF_C_TYPE_UINT32:
        *(uint32_t *)p = (uint32_t)strtoul(value, NULL, 10);
        return 0;
    case PROTOBUF_C_TYPE_INT32:
        *(int32_t *)p = (int32_t)strtol(value, NULL, 10);
        return 0;
    case PROTOBUF_C_TYPE_INT64:
        *(int64_t *)p = strtoll(value, NULL, 10);
        return 0;
    case PROTOBUF_C_TYPE_UINT64:
        *(uint64_t *)p = strtoull(value, NULL, 10);
        return 0;
    default:
        return -1;
    }
}

/* "title|url|text;..." into sources (pointers into a copy of spec). */
static size_t cli_sources(char *spec, Chat__Common__Source *src, Chat__Common__Source **ptrs)
{
    size_t n = 0;
    char *save = NULL;
    for (char *item = strtok_r(spec, ";", &save); item != NULL && n < CLI_MAX_SOURCES;
         item = strtok_r(NULL, ";", &save)) {
        chat__common__source__init(&src[n]);
        char *bar1 = strchr(item, '|');
        char *bar2 = bar1 ? strchr(bar1 + 1, '|') : NULL;
        if (bar1) {
            *bar1 = '\0';
        }
        if (bar2) {
            *bar2 = '\0';
        }
        src[n].title = item;
        src[n].url = bar1 ? bar1 + 1 : "";
        src[n].text = bar2 ? bar2 + 1 : "";
        src[n].chunk_id = (int64_t)n + 1;
        src[n].score = 1.0 / (double)(n + 1);
        ptrs[n] = &src[n];
        n++;
    }
    return n;
}

static const char *cli_arg(int argc, char **argv, const char *key)
{
    size_t kl = strlen(key);
    for (int i = 2; i < argc; i++) {
        if (strncmp(argv[i], key, kl) == 0 && argv[i][kl] == '=') {
            return argv[i] + kl + 1;
        }
    }
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: session_cli METHOD [key=value ...]\n");
        return 2;
    }
    log_init("session_cli", LOG_ERROR);
    const char *method = argv[1];
    const ProtobufCMethodDescriptor *md =
        protobuf_c_service_descriptor_get_method_by_name(&chat__session__session__descriptor, method);
    if (md == NULL) {
        fprintf(stderr, "session_cli: unknown method %s\n", method);
        return 2;
    }
    const char *url = cli_arg(argc, argv, "url");
    if (url == NULL) {
        url = getenv("SESSION_URL");
    }
    if (url == NULL || url[0] == '\0') {
        url = "tcp://127.0.0.1:7101";
    }
    const char *t = cli_arg(argc, argv, "timeout");
    uint32_t timeout = t ? (uint32_t)strtoul(t, NULL, 10) : 10000;

    ProtobufCMessage *req = cli_alloc(md->input->sizeof_message);
    md->input->message_init(req);

    /* Commit's conversation. */
    Chat__Common__ChatMessage msgs[2], *mptrs[2];
    Chat__Common__Source src[CLI_MAX_SOURCES], *sptrs[CLI_MAX_SOURCES];
    char *spec = NULL;
    static const char *const commit_keys[] = {"user", "assistant", "sources", "partial", "stop_reason"};

    for (int i = 2; i < argc; i++) {
        char *eq = strchr(argv[i], '=');
        if (eq == NULL) {
            fprintf(stderr, "session_cli: expected key=value, got %s\n", argv[i]);
            return 2;
        }
        *eq = '\0';
        const char *key = argv[i], *value = eq + 1;
        int special = strcmp(key, "url") == 0 || strcmp(key, "timeout") == 0;
        for (size_t k = 0; strcmp(method, "Commit") == 0 && k < sizeof(commit_keys) / sizeof(commit_keys[0]); k++) {
            special |= strcmp(key, commit_keys[k]) == 0;
        }
        if (!special && cli_set(req, key, value) != 0) {
            fprintf(stderr, "session_cli: %s has no field %s\n", md->input->name, key);
            return 2;
        }
        *eq = '=';
    }
    if (strcmp(method, "Commit") == 0) {
        Chat__Session__CommitRequest *c = (Chat__Session__CommitRequest *)req;
        const char *user = cli_arg(argc, argv, "user");
        const char *answer = cli_arg(argc, argv, "assistant");
        size_t n = 0;
        chat__common__chat_message__init(&msgs[n]);
        msgs[n].role = "user";
        msgs[n].content = (char *)(user ? user : "");
        mptrs[n] = &msgs[n];
        n++;
        if (answer != NULL) {
            chat__common__chat_message__init(&msgs[n]);
            msgs[n].role = "assistant";
            msgs[n].content = (char *)answer;
            const char *p = cli_arg(argc, argv, "partial");
            msgs[n].partial = p != NULL && (strcmp(p, "1") == 0 || strcmp(p, "true") == 0);
            const char *sr = cli_arg(argc, argv, "stop_reason");
            msgs[n].stop_reason = (char *)(sr ? sr : "end_turn");
            const char *s = cli_arg(argc, argv, "sources");
            if (s != NULL) {
                spec = strdup(s);
                msgs[n].n_sources = cli_sources(spec, src, sptrs);
                msgs[n].sources = sptrs;
            }
            mptrs[n] = &msgs[n];
            n++;
        }
        c->messages = mptrs;
        c->n_messages = n;
    }

    char err[256];
    rpc_client *cl = NULL;
    rpc_client_opts co = {.secret = getenv("RPC_SECRET")}; /* the services' secret, when they have one */
    if (rpc_client_open(&cl, &chat__session__session__descriptor, url, &co, err, sizeof(err)) != 0) {
        fprintf(stderr, "session_cli: %s\n", err);
        return 2;
    }
    rpc_result res;
    rpc_code code = rpc_call_sync(cl, method, req, timeout, NULL, &res);
    int rc = 0;
    json_t *out;
    if (code == RPC_OK) {
        out = cli_to_json(res.reply);
        protobuf_c_message_free_unpacked(res.reply, NULL);
    } else {
        out = json_pack("{s{sssssiss}}", "error", "code", rpc_code_name(code), "message", res.message, "retry_after_ms",
                        (int)res.retry_after_ms, "reason", res.reason);
        rc = 3;
    }
    char *text = json_dumps(out, JSON_COMPACT);
    puts(text ? text : "{}");
    free(text);
    json_decref(out);
    rpc_client_close(cl);
    free(spec);
    cli_free_all();
    return rc;
}
