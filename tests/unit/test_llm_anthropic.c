/*
 * test_llm_anthropic.c - unit tests for svc-llm/anthropic.c, the decoder of
 * Anthropic Messages streams (Criterion). Streams are the verbatim examples
 * of the streaming docs (docs/internals/external-formats.md §1), run through
 * the SSE parser in small pieces as they would arrive.
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <string.h>

#include "anthropic.h"
#include "event_stream.h"

typedef struct got {
    char text[1024];
    char tool_id[4][64], tool_name[4][64];
    char tool_json[4][512];
    int ntools;
    int refuse; /* the sink refuses everything */
    int last;   /* the decoder's last return */
} got;

static int sink_text(void *arg, const char *s, size_t n)
{
    got *g = arg;
    if (g->refuse) {
        return -1;
    }
    strncat(g->text, s, n);
    return 0;
}

static int sink_tool(void *arg, const char *id, const char *name, const char *json)
{
    got *g = arg;
    cr_assert_lt(g->ntools, 4);
    snprintf(g->tool_id[g->ntools], 64, "%s", id);
    snprintf(g->tool_name[g->ntools], 64, "%s", name);
    snprintf(g->tool_json[g->ntools], 512, "%s", json);
    g->ntools++;
    return 0;
}

typedef struct ctx {
    anth_stream st;
    got g;
    llm_sink sink;
} ctx;

static int on_event(void *arg, const char *name, const char *data, size_t len)
{
    ctx *c = arg;
    c->g.last = anth_stream_event(&c->st, name, data, len, &c->sink);
    return c->g.last == ANTH_CONTINUE || c->g.last == ANTH_STOP ? 0 : 1;
}

/* Runs a whole stream through the SSE parser in chunks of `chunk` bytes. */
static void run(ctx *c, const char *stream, size_t chunk)
{
    memset(&c->g, 0, sizeof(c->g));
    anth_stream_init(&c->st);
    c->sink = (llm_sink){.arg = &c->g, .text = sink_text, .tool_call = sink_tool};
    evs_parser p;
    evs_init(&p, 4096, 65536, 1u << 20, on_event, c);
    size_t len = strlen(stream);
    for (size_t i = 0; i < len; i += chunk) {
        if (evs_feed(&p, stream + i, i + chunk <= len ? chunk : len - i) != 0) {
            break;
        }
    }
    evs_free(&p);
}

static const char text_stream[] =
    "event: message_start\n"
    "data: {\"type\": \"message_start\", \"message\": {\"id\": \"msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY\", \"type\": "
    "\"message\", \"role\": \"assistant\", \"content\": [], \"model\": \"claude-opus-4-1-20250805\", \"stop_reason\": "
    "null, \"stop_sequence\": null, \"usage\": {\"input_tokens\": 25, \"output_tokens\": 1}}}\n\n"
    "event: content_block_start\n"
    "data: {\"type\": \"content_block_start\", \"index\": 0, \"content_block\": {\"type\": \"text\", \"text\": "
    "\"\"}}\n\n"
    "event: ping\n"
    "data: {\"type\": \"ping\"}\n\n"
    "event: content_block_delta\n"
    "data: {\"type\": \"content_block_delta\", \"index\": 0, \"delta\": {\"type\": \"text_delta\", \"text\": "
    "\"Hello\"}}\n\n"
    "event: content_block_delta\n"
    "data: {\"type\": \"content_block_delta\", \"index\": 0, \"delta\": {\"type\": \"text_delta\", \"text\": \" "
    "world\"}}\n\n"
    "event: content_block_stop\n"
    "data: {\"type\": \"content_block_stop\", \"index\": 0}\n\n"
    "event: message_delta\n"
    "data: {\"type\": \"message_delta\", \"delta\": {\"stop_reason\": \"end_turn\", \"stop_sequence\":null}, "
    "\"usage\": {\"output_tokens\": 15}}\n\n"
    "event: message_stop\n"
    "data: {\"type\": \"message_stop\"}\n\n";

Test(anthropic, text_stream_in_any_chunking)
{
    static const size_t chunks[] = {1, 2, 3, 7, 64, 100000};
    for (size_t i = 0; i < sizeof(chunks) / sizeof(chunks[0]); i++) {
        ctx c;
        run(&c, text_stream, chunks[i]);
        cr_assert_str_eq(c.g.text, "Hello world", "chunk %zu", chunks[i]);
        cr_assert_eq(c.g.last, ANTH_STOP);
        cr_assert(c.st.stopped);
        cr_assert_str_eq(c.st.stop_reason, "end_turn");
        cr_assert_eq(c.st.usage.input_tokens, 25);
        cr_assert_eq(c.st.usage.output_tokens, 15, "message_delta usage is cumulative: replaces");
        cr_assert_str_eq(c.st.model, "claude-opus-4-1-20250805");
        anth_stream_free(&c.st);
    }
}

static const char tool_stream[] =
    "event: message_start\n"
    "data: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":472,\"output_tokens\":2,"
    "\"cache_creation_input_tokens\":100,\"cache_read_input_tokens\":300}}}\n\n"
    "event: content_block_start\n"
    "data: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n"
    "event: content_block_delta\n"
    "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Okay\"}}\n\n"
    "event: content_block_stop\n"
    "data: {\"type\":\"content_block_stop\",\"index\":0}\n\n"
    "event: content_block_start\n"
    "data: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"tool_use\",\"id\":"
    "\"toolu_01T1x1fJ34qAmk2tNTrN7Up6\",\"name\":\"get_weather\",\"input\":{}}}\n\n"
    "event: content_block_delta\n"
    "data: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":"
    "\"\"}}\n\n"
    "event: content_block_delta\n"
    "data: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":"
    "\"{\\\"location\\\":\"}}\n\n"
    "event: content_block_delta\n"
    "data: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":"
    "\" \\\"San Fra\"}}\n\n"
    "event: content_block_delta\n"
    "data: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":"
    "\"ncisco, CA\\\", \\\"unit\\\": \\\"c\\u00e9\\\"}\"}}\n\n"
    "event: content_block_stop\n"
    "data: {\"type\":\"content_block_stop\",\"index\":1}\n\n"
    "event: message_delta\n"
    "data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\",\"stop_sequence\":null},"
    "\"usage\":{\"output_tokens\":89}}\n\n"
    "event: message_stop\n"
    "data: {\"type\":\"message_stop\"}\n\n";

Test(anthropic, tool_use_fragments_joined_at_block_stop)
{
    ctx c;
    run(&c, tool_stream, 5);
    cr_assert_str_eq(c.g.text, "Okay");
    cr_assert_eq(c.g.ntools, 1);
    cr_assert_str_eq(c.g.tool_id[0], "toolu_01T1x1fJ34qAmk2tNTrN7Up6");
    cr_assert_str_eq(c.g.tool_name[0], "get_weather");
    cr_assert_str_eq(c.g.tool_json[0], "{\"location\":\"San Francisco, CA\",\"unit\":\"c\xC3\xA9\"}",
                     "compact, escapes decoded to UTF-8");
    cr_assert_str_eq(c.st.stop_reason, "tool_use");
    cr_assert_eq(c.st.usage.cache_creation_input_tokens, 100);
    cr_assert_eq(c.st.usage.cache_read_input_tokens, 300);
    cr_assert_eq(c.st.usage.output_tokens, 89);
    cr_assert_eq(c.g.last, ANTH_STOP);
    anth_stream_free(&c.st);
}

static int one(anth_stream *st, got *g, const char *name, const char *data)
{
    llm_sink sink = {.arg = g, .text = sink_text, .tool_call = sink_tool};
    return anth_stream_event(st, name, data, strlen(data), &sink);
}

Test(anthropic, tool_use_without_input_is_empty_object)
{
    anth_stream st;
    got g = {0};
    anth_stream_init(&st);
    one(&st, &g, "content_block_start",
        "{\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"tool_use\",\"id\":\"t1\",\"name\":"
        "\"request_handoff\",\"input\":{}}}");
    one(&st, &g, "content_block_stop", "{\"type\":\"content_block_stop\",\"index\":0}");
    cr_assert_eq(g.ntools, 1);
    cr_assert_str_eq(g.tool_json[0], "{}");
    anth_stream_free(&st);
}

Test(anthropic, unusable_tool_json_is_dropped)
{
    anth_stream st;
    got g = {0};
    anth_stream_init(&st);
    one(&st, &g, "content_block_start",
        "{\"type\":\"content_block_start\",\"index\":2,\"content_block\":{\"type\":\"tool_use\",\"id\":\"t\",\"name\":"
        "\"x\"}}");
    one(&st, &g, "content_block_delta",
        "{\"type\":\"content_block_delta\",\"index\":2,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":"
        "\"{\\\"a\\\": \"}}");
    cr_assert_eq(one(&st, &g, "content_block_stop", "{\"type\":\"content_block_stop\",\"index\":2}"), ANTH_CONTINUE);
    cr_assert_eq(g.ntools, 0);
    cr_assert_eq(st.dropped_tools, 1);
    /* an index out of range is ignored, not a crash */
    cr_assert_eq(one(&st, &g, "content_block_start",
                     "{\"type\":\"content_block_start\",\"index\":9999,\"content_block\":{\"type\":\"text\"}}"),
                 ANTH_CONTINUE);
    anth_stream_free(&st);
}

Test(anthropic, mid_stream_error_event)
{
    anth_stream st;
    got g = {0};
    anth_stream_init(&st);
    one(&st, &g, "content_block_start",
        "{\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}");
    one(&st, &g, "content_block_delta",
        "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Part\"}}");
    int rv = one(&st, &g, "error",
                 "{\"type\": \"error\", \"error\": {\"type\": \"overloaded_error\", \"message\": "
                 "\"Overloaded\"}}");
    cr_assert_eq(rv, ANTH_ERROR);
    cr_assert_str_eq(st.err_type, "overloaded_error");
    cr_assert_str_eq(st.err_msg, "Overloaded");
    cr_assert_str_eq(g.text, "Part");
    int retry = 0;
    cr_assert_eq(anth_error_code(st.err_type, &retry), RPC_UNAVAILABLE);
    cr_assert(retry);
    cr_assert_eq(anth_error_code("api_error", &retry), RPC_INTERNAL);
    cr_assert(retry);
    cr_assert_eq(anth_error_code("invalid_request_error", &retry), RPC_INVALID_ARGUMENT);
    cr_assert_not(retry);
    cr_assert_eq(anth_error_code("something_new", &retry), RPC_INTERNAL);
    cr_assert_not(retry);
    anth_stream_free(&st);
}

Test(anthropic, ping_unknown_and_unnamed_events)
{
    anth_stream st;
    got g = {0};
    anth_stream_init(&st);
    cr_assert_eq(one(&st, &g, "ping", "{\"type\": \"ping\"}"), ANTH_CONTINUE);
    cr_assert_eq(one(&st, &g, "future_event", "{\"type\": \"future_event\", \"x\": [1,2]}"), ANTH_CONTINUE);
    cr_assert_eq(one(&st, &g, "content_block_delta",
                     "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"thinking_delta\","
                     "\"thinking\":\"hmm\"}}"),
                 ANTH_CONTINUE);
    /* no "event:" line: the type in the data decides */
    one(&st, &g, "message",
        "{\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"Hi\"}}");
    cr_assert_str_eq(g.text, "Hi", "initial text of a text block goes out");
    cr_assert_eq(one(&st, &g, "message", "{\"type\":\"message_stop\"}"), ANTH_STOP);
    anth_stream_free(&st);
}

Test(anthropic, unreadable_event_and_refusing_sink)
{
    anth_stream st;
    got g = {0};
    anth_stream_init(&st);
    cr_assert_eq(one(&st, &g, "message_start", "{\"type\":\"message_start\",\"message\":{\"id\":"), ANTH_EPROTO);
    cr_assert_str_eq(st.err_type, "invalid_response");
    g.refuse = 1;
    one(&st, &g, "content_block_start",
        "{\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}");
    cr_assert_eq(
        one(&st, &g, "content_block_delta",
            "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"x\"}}"),
        ANTH_SINK);
    anth_stream_free(&st);
}

/* Found by tests/fuzz/fuzz_sse_anthropic.c (the input is in its corpus as
 * error_empty_type.sse): an error event with an empty type left err_type
 * "", so the log said ": Overloaded" and the type's retry rule was lost. */
Test(anthropic, error_event_with_empty_type_or_message)
{
    ctx c;
    run(&c, "ont\ndata: {\"type\":\"error\",\"error\":{\"type\":\"\",\"message\":\"Overloaded\"}}\n\n", 7);
    cr_assert_eq(c.g.last, ANTH_ERROR);
    cr_expect_str_eq(c.st.err_type, "api_error");
    cr_expect_str_eq(c.st.err_msg, "Overloaded");
    anth_stream_free(&c.st);
    run(&c, "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"\"}}\n\n",
        5);
    cr_assert_eq(c.g.last, ANTH_ERROR);
    cr_expect_str_eq(c.st.err_type, "overloaded_error");
    cr_expect_str_eq(c.st.err_msg, "error event without a message");
    anth_stream_free(&c.st);
}

Test(anthropic, http_error_body)
{
    char type[64], msg[256];
    const char *b = "{\"type\":\"error\",\"error\":{\"type\":\"rate_limit_error\",\"message\":\"Slow down\"},"
                    "\"request_id\":\"req_1\"}";
    anth_parse_error_body(b, strlen(b), type, sizeof(type), msg, sizeof(msg));
    cr_assert_str_eq(type, "rate_limit_error");
    cr_assert_str_eq(msg, "Slow down");
    anth_parse_error_body("<html>413</html>", 16, type, sizeof(type), msg, sizeof(msg));
    cr_assert_str_eq(type, "");
    anth_parse_error_body(NULL, 0, type, sizeof(type), msg, sizeof(msg));
    cr_assert_str_eq(msg, "");
}
