/* generation.h: the table of in-flight generations and their deltas
 * (svc-llm).
 *
 * A generation is one model answer being produced: the deltas so far
 * (numbered from 1), whether it is done and how it ended, its usage, and
 * the long polls waiting for its next delta. The engine thread produces
 * (gen_add_*, gen_finish); RPC workers consume (gen_poll) and cancel. A
 * waiting poll is answered by whichever thread makes it answerable: the
 * producer that adds a delta or finishes, or the engine's timer when its
 * wait is over (gen_poll_timeout).
 *
 * Ownership: generations are reference counted. The table holds one
 * reference while a generation is findable; gen_create, gen_find and
 * gen_table_expire hand the caller one more, released with gen_unref. A
 * generation is freed with its last reference.
 *
 * Threads: every function may be called from any thread. Each generation
 * has its own lock, and the table one for its index; the table's lock is
 * taken before a generation's, never the other way round. Poll closures
 * are called under the generation's lock (they only pack and queue the
 * reply). The engine slot (gen_engine_slot) belongs to the engine thread.
 *
 * Caps: GEN_DELTAS_MAX deltas and GEN_TEXT_MAX bytes per generation; a poll
 * reply carries at most GEN_REPLY_DELTAS_MAX deltas or about
 * GEN_REPLY_BYTES_MAX bytes (the caller polls again for the rest); at most
 * GEN_WAITERS_MAX polls wait on one generation (more are answered at once). */
#ifndef LLM_GENERATION_H
#define LLM_GENERATION_H

#include <stddef.h>
#include <stdint.h>

#include "llm.pb-c.h"
#include "llm_types.h"
#include "rpc.h"

#define GEN_ID_MAX 192 /* "<replica>.<22 chars>" */
#define GEN_RANDOM_CHARS 22
#define GEN_DELTAS_MAX 65536u
#define GEN_TEXT_MAX (2u << 20)
#define GEN_REPLY_DELTAS_MAX 256u
#define GEN_REPLY_BYTES_MAX (64u << 10)
#define GEN_WAITERS_MAX 8u
#define GEN_PROVIDER_MAX 16

typedef struct gen gen;
typedef struct gen_table gen_table;

int gen_table_new(gen_table **out, size_t max_generations);
/* Drops every generation (polls still waiting are dropped unanswered:
 * call gen_table_answer_waiters first while the RPC server still runs). */
void gen_table_free(gen_table *t);
size_t gen_table_count(gen_table *t);

/* A new generation with a fresh id "<replica>.<22 base64url chars>",
 * running, answering as provider/model. RPC_OK and a reference in *out, or
 * RPC_RESOURCE_EXHAUSTED when the table holds max_generations. */
rpc_code gen_create(gen_table *t, const char *replica, const char *provider, const char *model, int64_t now_ms,
                    gen **out);
/* A reference to the generation with this id, or NULL. */
gen *gen_find(gen_table *t, const char *id);
/* Removes from the table the generations with no poll waiting that are
 * either idle (no poll since ttl_ms) or delivered (a poll reply carried
 * their end done_grace_ms ago or more: the grace covers a reply lost on the
 * way, whose caller polls again), and hands them (with the table's
 * reference) to the caller: at most max, in out. Returns how many. */
size_t gen_table_expire(gen_table *t, int64_t now_ms, int64_t ttl_ms, int64_t done_grace_ms, gen **out, size_t max);
/* Answers every waiting poll of every generation with what exists. */
void gen_table_answer_waiters(gen_table *t);

void gen_ref(gen *g);
void gen_unref(gen *g);
const char *gen_id(const gen *g);
void **gen_engine_slot(gen *g);

/* --- producing (0, or -1 when the generation is done or full) ------------ */
int gen_add_text(gen *g, const char *s, size_t n);
int gen_add_tool_call(gen *g, const char *id, const char *name, const char *input_json);
int gen_add_notice(gen *g, const char *text);
/* Whether a TEXT or TOOL_CALL delta exists (the "first token" was given). */
int gen_has_output(gen *g);
int gen_is_done(gen *g);
void gen_set_provider(gen *g, const char *provider, const char *model);
void gen_set_usage(gen *g, const llm_usage *u);
/* Ends the generation: stop_reason, and for a failure the error (partial is
 * set when output had been given). Answers the waiting polls. Returns 1 if
 * it was running, 0 if it had already ended (nothing changes then). */
int gen_finish(gen *g, const char *stop_reason, rpc_code err, const char *err_msg, int retryable);

/* --- consuming ----------------------------------------------------------- */
/* Every delta after after_seq, at once if any exists or the generation is
 * done or wait_ms is 0: then the closure is called and 0 returned.
 * Otherwise the call is deferred (rpc_defer) and kept until a delta, the
 * end, or a gen_poll_timeout at or after now_ms + wait_ms: returns 1. A
 * generation keeps one poll timer pending, not one per poll: *arm_ms is
 * when the caller must arrange a gen_poll_timeout, or 0 when the pending
 * one comes first. */
int gen_poll(gen *g, uint32_t after_seq, uint32_t wait_ms, int64_t now_ms, Chat__Llm__PollReply_Closure done,
             void *closure_data, int64_t *arm_ms);
/* Answers the waiting polls whose wait is over at now_ms. Returns when the
 * next gen_poll_timeout is due (polls still wait), or 0. */
int64_t gen_poll_timeout(gen *g, int64_t now_ms);

#endif
