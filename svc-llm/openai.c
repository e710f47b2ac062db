/* openai.c: see openai.h. */
#include "openai.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

void oai_stream_init(oai_stream *st)
{
    memset(st, 0, sizeof(*st));
    for (size_t i = 0; i < LLM_TOOL_CALLS_MAX; i++) {
        dyn_init(&st->calls[i].args, LLM_TOOL_JSON_MAX);
    }
}

void oai_stream_free(oai_stream *st)
{
    for (size_t i = 0; i < LLM_TOOL_CALLS_MAX; i++) {
        dyn_free(&st->calls[i].args);
    }
}

const char *oai_stop_reason(const char *fr)
{
    static const struct {
        const char *from, *to;
    } map[] = {
        {"stop", "end_turn"},          {"length", "max_tokens"},      {"tool_calls", "tool_use"},
        {"function_call", "tool_use"}, {"content_filter", "refusal"},
    };
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
        if (strcmp(fr, map[i].from) == 0) {
            return map[i].to;
        }
    }
    return fr;
}

/* s, or NULL when it is missing or empty (an empty error type or message
 * says nothing: the defaults take its place). */
static const char *oai_said(const char *s)
{
    return s != NULL && s[0] != '\0' ? s : NULL;
}

static void oai_count(json_t *obj, const char *key, uint32_t *out)
{
    json_t *v = json_object_get(obj, key);
    if (json_is_integer(v) && json_integer_value(v) >= 0 && json_integer_value(v) <= UINT32_MAX) {
        *out = (uint32_t)json_integer_value(v);
    }
}

/* Hands every collected tool call to the sink, once. */
static int oai_flush_calls(oai_stream *st, const llm_sink *sink)
{
    if (st->calls_sent) {
        return OAI_CONTINUE;
    }
    st->calls_sent = 1;
    for (size_t i = 0; i < LLM_TOOL_CALLS_MAX; i++) {
        oai_call *c = &st->calls[i];
        if (!c->used) {
            continue;
        }
        json_t *input = c->args.len ? json_loadb(c->args.data, c->args.len, 0, NULL) : json_object();
        if (!json_is_object(input) || c->name[0] == '\0') {
            json_decref(input);
            st->dropped_tools++;
            continue;
        }
        char *s = json_dumps(input, JSON_COMPACT);
        json_decref(input);
        if (s == NULL) {
            st->dropped_tools++;
            continue;
        }
        int rv = sink->tool_call(sink->arg, c->id, c->name, s);
        free(s);
        if (rv != 0) {
            return OAI_SINK;
        }
    }
    return OAI_CONTINUE;
}

static void oai_tool_fragments(oai_stream *st, json_t *calls)
{
    size_t i;
    json_t *tc;
    json_array_foreach(calls, i, tc)
    {
        json_t *ix = json_object_get(tc, "index");
        long long k = json_is_integer(ix) ? json_integer_value(ix) : (long long)i;
        if (k < 0 || k >= LLM_TOOL_CALLS_MAX) {
            st->dropped_tools++;
            continue;
        }
        oai_call *c = &st->calls[k];
        c->used = 1;
        const char *id = json_string_value(json_object_get(tc, "id"));
        if (id != NULL && id[0]) {
            snprintf(c->id, sizeof(c->id), "%s", id);
        }
        json_t *fn = json_object_get(tc, "function");
        const char *name = json_string_value(json_object_get(fn, "name"));
        if (name != NULL && name[0]) {
            snprintf(c->name, sizeof(c->name), "%s", name);
        }
        json_t *args = json_object_get(fn, "arguments");
        if (json_is_string(args) && dyn_add(&c->args, json_string_value(args), json_string_length(args)) != 0) {
            c->name[0] = '\0'; /* over the cap: dropped when flushed */
        }
    }
}

int oai_stream_data(oai_stream *st, const char *data, size_t len, const llm_sink *sink)
{
    if (len >= 6 && memcmp(data, "[DONE]", 6) == 0) {
        st->done = 1;
        return oai_flush_calls(st, sink) == OAI_SINK ? OAI_SINK : OAI_STOP;
    }
    json_error_t jerr;
    json_t *ch = json_loadb(data, len, 0, &jerr);
    if (!json_is_object(ch)) {
        json_decref(ch);
        snprintf(st->err_type, sizeof(st->err_type), "invalid_response");
        snprintf(st->err_msg, sizeof(st->err_msg), "unreadable chunk: %s", jerr.text);
        return OAI_EPROTO;
    }
    int rv = OAI_CONTINUE;
    json_t *err = json_object_get(ch, "error");
    if (err != NULL && !json_is_null(err)) {
        const char *et = oai_said(json_string_value(json_object_get(err, "type")));
        const char *em = oai_said(json_string_value(json_object_get(err, "message")));
        if (et == NULL) {
            et = oai_said(json_string_value(json_object_get(err, "code")));
        }
        if (em == NULL) {
            em = oai_said(json_string_value(err)); /* "error": "text" */
        }
        snprintf(st->err_type, sizeof(st->err_type), "%s", et ? et : "api_error");
        snprintf(st->err_msg, sizeof(st->err_msg), "%s", em ? em : "error");
        json_decref(ch);
        return OAI_ERROR;
    }
    const char *model = json_string_value(json_object_get(ch, "model"));
    if (model != NULL && model[0]) {
        snprintf(st->model, sizeof(st->model), "%s", model);
    }
    json_t *choices = json_object_get(ch, "choices");
    json_t *c0 = json_is_array(choices) ? json_array_get(choices, 0) : NULL;
    if (json_is_object(c0)) {
        json_t *delta = json_object_get(c0, "delta");
        json_t *content = json_object_get(delta, "content");
        if (json_is_string(content) && json_string_length(content) > 0) {
            if (sink->text(sink->arg, json_string_value(content), json_string_length(content)) != 0) {
                rv = OAI_SINK;
            }
        }
        json_t *calls = json_object_get(delta, "tool_calls");
        if (rv == OAI_CONTINUE && json_is_array(calls)) {
            oai_tool_fragments(st, calls);
        }
        const char *fr = json_string_value(json_object_get(c0, "finish_reason"));
        if (rv == OAI_CONTINUE && fr != NULL && fr[0]) {
            snprintf(st->stop_reason, sizeof(st->stop_reason), "%s", oai_stop_reason(fr));
            rv = oai_flush_calls(st, sink);
        }
    }
    json_t *usage = json_object_get(ch, "usage");
    if (json_is_object(usage)) {
        oai_count(usage, "prompt_tokens", &st->usage.input_tokens);
        oai_count(usage, "completion_tokens", &st->usage.output_tokens);
        oai_count(json_object_get(usage, "prompt_tokens_details"), "cached_tokens", &st->usage.cache_read_input_tokens);
    }
    json_decref(ch);
    return rv;
}
