/* fuzz_sse_anthropic.c: an Anthropic Messages stream as svc-llm reads it
 * (svc-llm/engine_http.c): the bytes through the SSE parser
 * (svc-llm/event_stream.c), each event through the Anthropic decoder
 * (anth_stream_event, svc-llm/anthropic.c) until it ends the stream.
 *
 * Input: the response body. Checked: the parser gives the same events
 * whole and cut in pieces (fuzz_sse.h); the sink gets non-empty text and
 * tool calls whose input is a JSON object, at most LLM_TOOL_CALLS_MAX; an
 * error or unreadable event says what it was. */
#include <jansson.h>

#include "anthropic.h"
#include "fuzz_sse.h"
#include "llm_types.h"

typedef struct fuzz_run {
    anth_stream st;
    int ending; /* the decoder's last non-CONTINUE answer */
    unsigned calls;
} fuzz_run;

static int fuzz_text(void *arg, const char *s, size_t n)
{
    (void)arg;
    FUZZ_CHECK(s != NULL && n > 0 && memchr(s, '\0', n) == NULL, "text of %zu bytes", n);
    return 0;
}

static int fuzz_tool(void *arg, const char *id, const char *name, const char *input_json)
{
    fuzz_run *r = arg;
    FUZZ_CHECK(id != NULL && name != NULL && input_json != NULL, "tool call with NULL");
    json_t *j = json_loads(input_json, 0, NULL);
    FUZZ_CHECK(json_is_object(j), "tool input is not a JSON object: %s", input_json);
    json_decref(j);
    r->calls++;
    FUZZ_CHECK(r->calls <= LLM_TOOL_CALLS_MAX, "%u tool calls", r->calls);
    return 0;
}

static int fuzz_event(void *arg, const char *name, const char *data, size_t len)
{
    fuzz_run *r = arg;
    llm_sink sink = {.arg = r, .text = fuzz_text, .tool_call = fuzz_tool};
    int rv = anth_stream_event(&r->st, name, data, len, &sink);
    if (rv == ANTH_CONTINUE) {
        return 0;
    }
    r->ending = rv;
    return 1; /* engine_http.c stops reading at any ending */
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_sse_split_invariance(data, size);

    static fuzz_run r; /* static: 64 blocks of 300 bytes */
    memset(&r, 0, sizeof(r));
    anth_stream_init(&r.st);
    evs_parser p;
    evs_init(&p, LLM_SSE_LINE_MAX, LLM_SSE_EVENT_MAX, LLM_RESPONSE_MAX, fuzz_event, &r);
    int rv = fuzz_sse_feed(&p, data, size, 0);
    FUZZ_CHECK(rv == 0 || rv == 1, "evs_feed %d under the service's caps", rv);
    if (r.ending == ANTH_ERROR || r.ending == ANTH_EPROTO) {
        FUZZ_CHECK(r.st.err_type[0] != '\0' && r.st.err_msg[0] != '\0', "ending %d without words", r.ending);
    }
    FUZZ_CHECK(r.st.tool_calls == r.calls, "counted %u tool calls, gave %u", r.st.tool_calls, r.calls);
    evs_free(&p);
    anth_stream_free(&r.st);
    return 0;
}
