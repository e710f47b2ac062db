/* prompt.h: prompt assembly (svc-llm): the system prompt of a company's
 * website assistant, the retrieved sources in delimited blocks, the recent
 * history trimmed to a token budget, and the request bodies of the
 * Anthropic Messages API and of OpenAI-compatible chat completions.
 *
 * Token counts are estimates: ~4 characters (code points) per token.
 * Inputs are assumed validated (UTF-8, roles "user"/"assistant"), as the
 * Generate handler does. Thread-safe: no state. */
#ifndef LLM_PROMPT_H
#define LLM_PROMPT_H

#include <stddef.h>

#include "llm.pb-c.h"

typedef struct prompt_opts {
    const char *company; /* COMPANY_NAME */
    const char *model;
    unsigned max_tokens;
    size_t history_budget; /* tokens of history kept (HISTORY_TOKEN_BUDGET) */
} prompt_opts;

/* Estimated tokens of s: ceil(code points / 4). */
size_t prompt_estimate_tokens(const char *s);

/* The system prompt (malloc'd, caller frees): the rules, team
 * availability, what is known of the lead, and the sources as
 * <source id="n"> blocks numbered in the order of rq->sources. */
char *prompt_system(const Chat__Llm__GenerateRequest *rq, const char *company);

/* The index of the first history message kept: the newest messages whose
 * estimated tokens fit `budget`, oldest dropped first, empty messages
 * skipped, starting with a user message. Returns rq->n_history when none. */
size_t prompt_history_start(const Chat__Llm__GenerateRequest *rq, size_t budget);

/* The request bodies (malloc'd JSON, caller frees; *len its length), or
 * NULL when out of memory. */
char *prompt_anthropic_body(const Chat__Llm__GenerateRequest *rq, const prompt_opts *o, size_t *len);
char *prompt_openai_body(const Chat__Llm__GenerateRequest *rq, const prompt_opts *o, size_t *len);

#endif
