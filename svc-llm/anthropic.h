/* anthropic.h: the decoder of an Anthropic Messages API stream (svc-llm).
 *
 * Fed one SSE event at a time (see event_stream.h), it turns the events of
 * docs/internals/external-formats.md §1 into text and tool calls for a sink,
 * and keeps the usage, stop reason and any error:
 *   message_start        usage (input, cache, output), model
 *   content_block_start  text (initial text, if any, goes out) or tool_use
 *                        (id + name); other block types are ignored
 *   content_block_delta  text_delta -> sink text; input_json_delta ->
 *                        appended to the block's JSON (the first fragment
 *                        may be "")
 *   content_block_stop   a tool_use block's JSON is parsed ("" means {})
 *                        and goes out as one tool call
 *   message_delta        stop_reason, cumulative usage
 *   message_stop         the end
 *   ping, unknown types  ignored
 *   error                the stream failed: err_type / err_msg
 * The event type is the SSE event name, or data.type for unnamed events.
 *
 * Also here: the mapping of Anthropic error types to RPC codes, and the
 * reading of an HTTP error body. Not thread-safe: one decoder per stream. */
#ifndef LLM_ANTHROPIC_H
#define LLM_ANTHROPIC_H

#include "dynbuf.h"
#include "llm_types.h"
#include "rpc.h"

#define ANTH_BLOCKS_MAX 64 /* content blocks of one message we follow */
#define ANTH_ID_MAX 128

enum {
    ANTH_CONTINUE = 0,
    ANTH_STOP = 1,   /* message_stop: the answer is complete */
    ANTH_ERROR = 2,  /* an error event: err_type / err_msg say which */
    ANTH_EPROTO = 3, /* an event we cannot read (err_msg says why) */
    ANTH_SINK = 4,   /* the sink asked to stop */
};

typedef struct anth_block {
    int kind; /* 0 none/ignored, 1 text, 2 tool_use */
    char id[ANTH_ID_MAX];
    char name[ANTH_ID_MAX];
    dynbuf json;
} anth_block;

typedef struct anth_stream {
    anth_block blocks[ANTH_BLOCKS_MAX];
    llm_usage usage;
    char stop_reason[LLM_STOP_MAX];
    char model[LLM_MODEL_MAX];
    char err_type[LLM_ERR_TYPE_MAX];
    char err_msg[LLM_ERR_MSG_MAX];
    int started;            /* message_start seen */
    int stopped;            /* message_stop seen */
    unsigned tool_calls;    /* tool calls given to the sink */
    unsigned dropped_tools; /* tool_use blocks whose JSON was unusable */
} anth_stream;

void anth_stream_init(anth_stream *st);
void anth_stream_free(anth_stream *st);
/* One SSE event. Returns ANTH_CONTINUE or one of the endings above. */
int anth_stream_event(anth_stream *st, const char *name, const char *data, size_t len, const llm_sink *sink);

/* The RPC code for an Anthropic error type, and whether a caller may retry
 * (overloaded, api, rate limit and timeout errors). */
rpc_code anth_error_code(const char *type, int *retryable);

/* Reads {"type":"error","error":{"type":..,"message":..}} from an HTTP
 * error body (OpenAI's {"error":{"message":..,"type":..}} reads the same);
 * leaves type/msg "" when the body is not of that shape. */
void anth_parse_error_body(const char *body, size_t len, char *type, size_t type_len, char *msg, size_t msg_len);

#endif
