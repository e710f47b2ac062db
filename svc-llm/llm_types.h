/* llm_types.h: what the provider stream decoders (anthropic.c, openai.c)
 * hand to whoever drives them (engine.c, tests): a sink for what the model
 * produced, and the token usage. */
#ifndef LLM_TYPES_H
#define LLM_TYPES_H

#include <stddef.h>
#include <stdint.h>

/* Caps on what one upstream answer may make us hold. */
#define LLM_SSE_LINE_MAX (256u << 10)  /* one SSE line */
#define LLM_SSE_EVENT_MAX (1u << 20)   /* one event's data */
#define LLM_RESPONSE_MAX (16u << 20)   /* a whole streamed answer */
#define LLM_ERROR_BODY_MAX (64u << 10) /* the body of an HTTP error kept for the log */
#define LLM_TOOL_JSON_MAX (256u << 10) /* one tool call's input */
#define LLM_TOOL_CALLS_MAX 16          /* tool calls in one answer */
#define LLM_ERR_TYPE_MAX 64
#define LLM_ERR_MSG_MAX 256
#define LLM_STOP_MAX 48
#define LLM_MODEL_MAX 128

typedef struct llm_usage {
    uint32_t input_tokens;
    uint32_t output_tokens;
    uint32_t cache_creation_input_tokens;
    uint32_t cache_read_input_tokens;
} llm_usage;

/* Where a decoder puts the model's output. The callbacks return 0 to go on,
 * non-zero to stop decoding (the generation ended or is full). */
typedef struct llm_sink {
    void *arg;
    int (*text)(void *arg, const char *s, size_t n);
    /* A complete tool call; input_json is compact, valid JSON (an object). */
    int (*tool_call)(void *arg, const char *id, const char *name, const char *input_json);
} llm_sink;

#endif
