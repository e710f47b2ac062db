/* anthropic.c: see anthropic.h. */
#include "anthropic.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

void anth_stream_init(anth_stream *st)
{
    memset(st, 0, sizeof(*st));
    for (size_t i = 0; i < ANTH_BLOCKS_MAX; i++) {
        dyn_init(&st->blocks[i].json, LLM_TOOL_JSON_MAX);
    }
}

void anth_stream_free(anth_stream *st)
{
    for (size_t i = 0; i < ANTH_BLOCKS_MAX; i++) {
        dyn_free(&st->blocks[i].json);
    }
}

static void anth_copy(char *dst, size_t n, const char *src)
{
    snprintf(dst, n, "%s", src ? src : "");
}

/* s, or NULL when it is missing or empty (an empty error type or message
 * says nothing: the defaults take its place). */
static const char *anth_said(const char *s)
{
    return s != NULL && s[0] != '\0' ? s : NULL;
}

/* A token count field, when present and sane. */
static void anth_count(json_t *obj, const char *key, uint32_t *out)
{
    json_t *v = json_object_get(obj, key);
    if (json_is_integer(v) && json_integer_value(v) >= 0 && json_integer_value(v) <= UINT32_MAX) {
        *out = (uint32_t)json_integer_value(v);
    }
}

static void anth_usage(anth_stream *st, json_t *usage)
{
    if (!json_is_object(usage)) {
        return;
    }
    anth_count(usage, "input_tokens", &st->usage.input_tokens);
    anth_count(usage, "output_tokens", &st->usage.output_tokens);
    anth_count(usage, "cache_creation_input_tokens", &st->usage.cache_creation_input_tokens);
    anth_count(usage, "cache_read_input_tokens", &st->usage.cache_read_input_tokens);
}

/* The block an event names, or NULL when the index is out of range. */
static anth_block *anth_block_at(anth_stream *st, json_t *ev)
{
    json_t *ix = json_object_get(ev, "index");
    if (!json_is_integer(ix) || json_integer_value(ix) < 0 || json_integer_value(ix) >= ANTH_BLOCKS_MAX) {
        return NULL;
    }
    return &st->blocks[json_integer_value(ix)];
}

static int anth_block_start(anth_stream *st, json_t *ev, const llm_sink *sink)
{
    anth_block *b = anth_block_at(st, ev);
    json_t *cb = json_object_get(ev, "content_block");
    if (b == NULL || !json_is_object(cb)) {
        return ANTH_CONTINUE;
    }
    const char *type = json_string_value(json_object_get(cb, "type"));
    dyn_reset(&b->json);
    b->kind = 0;
    if (type != NULL && strcmp(type, "text") == 0) {
        b->kind = 1;
        json_t *t = json_object_get(cb, "text");
        if (json_is_string(t) && json_string_length(t) > 0) {
            if (sink->text(sink->arg, json_string_value(t), json_string_length(t)) != 0) {
                return ANTH_SINK;
            }
        }
    } else if (type != NULL && strcmp(type, "tool_use") == 0) {
        b->kind = 2;
        anth_copy(b->id, sizeof(b->id), json_string_value(json_object_get(cb, "id")));
        anth_copy(b->name, sizeof(b->name), json_string_value(json_object_get(cb, "name")));
    }
    return ANTH_CONTINUE;
}

static int anth_block_delta(anth_stream *st, json_t *ev, const llm_sink *sink)
{
    anth_block *b = anth_block_at(st, ev);
    json_t *d = json_object_get(ev, "delta");
    if (b == NULL || !json_is_object(d)) {
        return ANTH_CONTINUE;
    }
    const char *type = json_string_value(json_object_get(d, "type"));
    if (type == NULL) {
        return ANTH_CONTINUE;
    }
    if (strcmp(type, "text_delta") == 0 && b->kind == 1) {
        json_t *t = json_object_get(d, "text");
        if (json_is_string(t) && json_string_length(t) > 0) {
            if (sink->text(sink->arg, json_string_value(t), json_string_length(t)) != 0) {
                return ANTH_SINK;
            }
        }
    } else if (strcmp(type, "input_json_delta") == 0 && b->kind == 2) {
        json_t *pj = json_object_get(d, "partial_json");
        if (json_is_string(pj) && dyn_add(&b->json, json_string_value(pj), json_string_length(pj)) != 0) {
            b->kind = 0; /* over the cap: this call is dropped at its stop */
            st->dropped_tools++;
        }
    }
    return ANTH_CONTINUE;
}

static int anth_block_stop(anth_stream *st, json_t *ev, const llm_sink *sink)
{
    anth_block *b = anth_block_at(st, ev);
    if (b == NULL || b->kind != 2) {
        return ANTH_CONTINUE;
    }
    b->kind = 0;
    json_t *input = NULL;
    if (b->json.len == 0) {
        input = json_object();
    } else {
        input = json_loadb(b->json.data, b->json.len, JSON_DECODE_ANY, NULL);
    }
    dyn_reset(&b->json);
    if (!json_is_object(input) || st->tool_calls >= LLM_TOOL_CALLS_MAX) {
        json_decref(input);
        st->dropped_tools++;
        return ANTH_CONTINUE;
    }
    char *s = json_dumps(input, JSON_COMPACT);
    json_decref(input);
    if (s == NULL) {
        st->dropped_tools++;
        return ANTH_CONTINUE;
    }
    st->tool_calls++;
    int rv = sink->tool_call(sink->arg, b->id, b->name, s);
    free(s);
    return rv != 0 ? ANTH_SINK : ANTH_CONTINUE;
}

int anth_stream_event(anth_stream *st, const char *name, const char *data, size_t len, const llm_sink *sink)
{
    json_error_t jerr;
    json_t *ev = json_loadb(data, len, 0, &jerr);
    if (!json_is_object(ev)) {
        json_decref(ev);
        snprintf(st->err_type, sizeof(st->err_type), "invalid_response");
        snprintf(st->err_msg, sizeof(st->err_msg), "unreadable %s event: %s", name, jerr.text);
        return ANTH_EPROTO;
    }
    const char *type = name;
    if (strcmp(name, "message") == 0) {
        const char *t = json_string_value(json_object_get(ev, "type"));
        type = t ? t : "";
    }

    int rv = ANTH_CONTINUE;
    if (strcmp(type, "message_start") == 0) {
        json_t *msg = json_object_get(ev, "message");
        st->started = 1;
        anth_usage(st, json_object_get(msg, "usage"));
        const char *model = json_string_value(json_object_get(msg, "model"));
        if (model != NULL) {
            anth_copy(st->model, sizeof(st->model), model);
        }
    } else if (strcmp(type, "content_block_start") == 0) {
        rv = anth_block_start(st, ev, sink);
    } else if (strcmp(type, "content_block_delta") == 0) {
        rv = anth_block_delta(st, ev, sink);
    } else if (strcmp(type, "content_block_stop") == 0) {
        rv = anth_block_stop(st, ev, sink);
    } else if (strcmp(type, "message_delta") == 0) {
        json_t *d = json_object_get(ev, "delta");
        const char *sr = json_string_value(json_object_get(d, "stop_reason"));
        if (sr != NULL) {
            anth_copy(st->stop_reason, sizeof(st->stop_reason), sr);
        }
        anth_usage(st, json_object_get(ev, "usage"));
    } else if (strcmp(type, "message_stop") == 0) {
        st->stopped = 1;
        rv = ANTH_STOP;
    } else if (strcmp(type, "error") == 0) {
        json_t *e = json_object_get(ev, "error");
        const char *et = anth_said(json_string_value(json_object_get(e, "type")));
        const char *em = anth_said(json_string_value(json_object_get(e, "message")));
        anth_copy(st->err_type, sizeof(st->err_type), et ? et : "api_error");
        anth_copy(st->err_msg, sizeof(st->err_msg), em ? em : "error event without a message");
        rv = ANTH_ERROR;
    }
    /* ping and unknown event types: nothing to do. */
    json_decref(ev);
    return rv;
}

rpc_code anth_error_code(const char *type, int *retryable)
{
    static const struct {
        const char *type;
        rpc_code code;
        int retryable;
    } map[] = {
        {"overloaded_error", RPC_UNAVAILABLE, 1},           {"api_error", RPC_INTERNAL, 1},
        {"rate_limit_error", RPC_RESOURCE_EXHAUSTED, 1},    {"timeout_error", RPC_DEADLINE_EXCEEDED, 1},
        {"invalid_request_error", RPC_INVALID_ARGUMENT, 0}, {"request_too_large", RPC_INVALID_ARGUMENT, 0},
        {"authentication_error", RPC_UNAUTHENTICATED, 0},   {"permission_error", RPC_PERMISSION_DENIED, 0},
        {"billing_error", RPC_FAILED_PRECONDITION, 0},      {"not_found_error", RPC_NOT_FOUND, 0},
    };
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
        if (type != NULL && strcmp(type, map[i].type) == 0) {
            *retryable = map[i].retryable;
            return map[i].code;
        }
    }
    *retryable = 0;
    return RPC_INTERNAL;
}

void anth_parse_error_body(const char *body, size_t len, char *type, size_t type_len, char *msg, size_t msg_len)
{
    type[0] = '\0';
    msg[0] = '\0';
    json_t *j = body ? json_loadb(body, len, 0, NULL) : NULL;
    json_t *e = json_object_get(j, "error");
    if (json_is_object(e)) {
        anth_copy(type, type_len, json_string_value(json_object_get(e, "type")));
        anth_copy(msg, msg_len, json_string_value(json_object_get(e, "message")));
    }
    json_decref(j);
}
