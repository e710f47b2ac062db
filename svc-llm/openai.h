/* openai.h: the decoder of an OpenAI-compatible chat completions stream
 * (svc-llm): `data:` events holding chat.completion.chunk objects, ended
 * by `data: [DONE]` (docs/internals/external-formats.md §3).
 *
 *   choices[0].delta.content        -> sink text
 *   choices[0].delta.tool_calls[]   fragments joined per index (id and
 *                                   function.name once, function.arguments
 *                                   in pieces); each complete call goes to
 *                                   the sink when finish_reason arrives (or
 *                                   at [DONE])
 *   choices[0].finish_reason        stop_reason, mapped to Anthropic's
 *                                   names (stop -> end_turn, length ->
 *                                   max_tokens, tool_calls -> tool_use,
 *                                   content_filter -> refusal)
 *   usage (the last chunk with stream_options.include_usage; choices may
 *   be [] or null)                  prompt/completion/cached tokens
 *   a top-level "error"             the stream failed
 * Not thread-safe: one decoder per stream. */
#ifndef LLM_OPENAI_H
#define LLM_OPENAI_H

#include "dynbuf.h"
#include "llm_types.h"

#define OAI_ID_MAX 128

enum {
    OAI_CONTINUE = 0,
    OAI_STOP = 1,   /* [DONE] */
    OAI_ERROR = 2,  /* an error object: err_type / err_msg */
    OAI_EPROTO = 3, /* unreadable chunk */
    OAI_SINK = 4,   /* the sink asked to stop */
};

typedef struct oai_call {
    int used;
    char id[OAI_ID_MAX];
    char name[OAI_ID_MAX];
    dynbuf args;
} oai_call;

typedef struct oai_stream {
    oai_call calls[LLM_TOOL_CALLS_MAX];
    int calls_sent;
    llm_usage usage;
    char stop_reason[LLM_STOP_MAX];
    char model[LLM_MODEL_MAX];
    char err_type[LLM_ERR_TYPE_MAX];
    char err_msg[LLM_ERR_MSG_MAX];
    int done; /* [DONE] seen */
    unsigned dropped_tools;
} oai_stream;

void oai_stream_init(oai_stream *st);
void oai_stream_free(oai_stream *st);
/* The data of one SSE event. */
int oai_stream_data(oai_stream *st, const char *data, size_t len, const llm_sink *sink);
/* "end_turn" for "stop", etc.; unknown reasons are returned as given. */
const char *oai_stop_reason(const char *finish_reason);

#endif
