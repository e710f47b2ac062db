/*
 * test_llm_openai.c - unit tests for svc-llm/openai.c, the decoder of
 * OpenAI-compatible chat completion streams (Criterion).
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <string.h>

#include "openai.h"

typedef struct got {
    char text[512];
    char names[4][64], json[4][256], ids[4][64];
    int ntools;
} got;

static int sink_text(void *arg, const char *s, size_t n)
{
    strncat(((got *)arg)->text, s, n);
    return 0;
}

static int sink_tool(void *arg, const char *id, const char *name, const char *json)
{
    got *g = arg;
    snprintf(g->ids[g->ntools], 64, "%s", id);
    snprintf(g->names[g->ntools], 64, "%s", name);
    snprintf(g->json[g->ntools], 256, "%s", json);
    g->ntools++;
    return 0;
}

static int feed(oai_stream *st, got *g, const char *data)
{
    llm_sink sink = {.arg = g, .text = sink_text, .tool_call = sink_tool};
    return oai_stream_data(st, data, strlen(data), &sink);
}

Test(openai, text_chunks_finish_usage_done)
{
    oai_stream st;
    got g = {0};
    oai_stream_init(&st);
    cr_assert_eq(feed(&st, &g,
                      "{\"id\":\"chatcmpl-123\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4o-mini\","
                      "\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},"
                      "\"finish_reason\":null}],\"usage\":null}"),
                 OAI_CONTINUE);
    feed(&st, &g, "{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hello\"},\"finish_reason\":null}]}");
    feed(&st, &g, "{\"choices\":[{\"index\":0,\"delta\":{\"content\":\" there\"},\"finish_reason\":null}]}");
    feed(&st, &g, "{\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}");
    feed(&st, &g,
         "{\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":2,\"total_tokens\":11,"
         "\"prompt_tokens_details\":{\"cached_tokens\":4}}}");
    cr_assert_eq(feed(&st, &g, "[DONE]"), OAI_STOP);
    cr_assert_str_eq(g.text, "Hello there");
    cr_assert_str_eq(st.stop_reason, "end_turn");
    cr_assert_eq(st.usage.input_tokens, 9);
    cr_assert_eq(st.usage.output_tokens, 2);
    cr_assert_eq(st.usage.cache_read_input_tokens, 4);
    cr_assert_str_eq(st.model, "gpt-4o-mini");
    oai_stream_free(&st);
}

Test(openai, usage_chunk_with_choices_null)
{
    oai_stream st;
    got g = {0};
    oai_stream_init(&st);
    cr_assert_eq(feed(&st, &g, "{\"choices\":null,\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":1}}"),
                 OAI_CONTINUE);
    cr_assert_eq(st.usage.input_tokens, 3);
    oai_stream_free(&st);
}

Test(openai, tool_call_fragments_per_index)
{
    oai_stream st;
    got g = {0};
    oai_stream_init(&st);
    feed(&st, &g,
         "{\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":null},"
         "\"finish_reason\":null}]}");
    feed(&st, &g,
         "{\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"call_a\","
         "\"type\":\"function\",\"function\":{\"name\":\"record_lead\",\"arguments\":\"\"}}]},"
         "\"finish_reason\":null}]}");
    feed(&st, &g,
         "{\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":"
         "\"{\\\"email\\\":\"}}]}}]}");
    feed(&st, &g,
         "{\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":1,\"id\":\"call_b\","
         "\"function\":{\"name\":\"request_handoff\",\"arguments\":\"{}\"}}]}}]}");
    feed(&st, &g,
         "{\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":"
         "\"\\\"a@b.example\\\"}\"}}]}}]}");
    cr_assert_eq(g.ntools, 0, "calls go out at finish_reason, complete");
    feed(&st, &g, "{\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"tool_calls\"}]}");
    cr_assert_eq(g.ntools, 2);
    cr_assert_str_eq(g.names[0], "record_lead");
    cr_assert_str_eq(g.ids[0], "call_a");
    cr_assert_str_eq(g.json[0], "{\"email\":\"a@b.example\"}");
    cr_assert_str_eq(g.names[1], "request_handoff");
    cr_assert_str_eq(g.json[1], "{}");
    cr_assert_str_eq(st.stop_reason, "tool_use");
    cr_assert_eq(feed(&st, &g, "[DONE]"), OAI_STOP);
    cr_assert_eq(g.ntools, 2, "not sent twice");
    oai_stream_free(&st);
}

Test(openai, calls_flushed_at_done_without_finish_reason)
{
    oai_stream st;
    got g = {0};
    oai_stream_init(&st);
    feed(&st, &g,
         "{\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"c\",\"function\":{\"name\":\"x\","
         "\"arguments\":\"{\\\"k\\\":1}\"}}]}}]}");
    cr_assert_eq(feed(&st, &g, "[DONE]"), OAI_STOP);
    cr_assert_eq(g.ntools, 1);
    oai_stream_free(&st);
}

Test(openai, error_object_and_garbage)
{
    oai_stream st;
    got g = {0};
    oai_stream_init(&st);
    cr_assert_eq(feed(&st, &g,
                      "{\"error\":{\"message\":\"The server had an error\",\"type\":\"server_error\","
                      "\"param\":null,\"code\":null}}"),
                 OAI_ERROR);
    cr_assert_str_eq(st.err_type, "server_error");
    cr_assert_str_eq(st.err_msg, "The server had an error");
    cr_assert_eq(feed(&st, &g, "{\"id\":\"chatcmpl-1\",\"choices\":[{"), OAI_EPROTO);
    /* Empty words are no words (as fuzz_sse_anthropic.c found for Anthropic):
     * the code, then the defaults, stand in. */
    cr_assert_eq(feed(&st, &g, "{\"error\":{\"message\":\"\",\"type\":\"\",\"code\":\"rate_limit_exceeded\"}}"),
                 OAI_ERROR);
    cr_assert_str_eq(st.err_type, "rate_limit_exceeded");
    cr_assert_str_eq(st.err_msg, "error");
    cr_assert_eq(feed(&st, &g, "{\"error\":\"upstream went away\"}"), OAI_ERROR);
    cr_assert_str_eq(st.err_type, "api_error");
    cr_assert_str_eq(st.err_msg, "upstream went away");
    oai_stream_free(&st);
}

Test(openai, stop_reason_mapping)
{
    cr_assert_str_eq(oai_stop_reason("stop"), "end_turn");
    cr_assert_str_eq(oai_stop_reason("length"), "max_tokens");
    cr_assert_str_eq(oai_stop_reason("tool_calls"), "tool_use");
    cr_assert_str_eq(oai_stop_reason("content_filter"), "refusal");
    cr_assert_str_eq(oai_stop_reason("eos"), "eos");
}
