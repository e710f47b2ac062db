/*
 * test_llm_generation.c - unit tests for svc-llm/generation.c: the table of
 * generations, their deltas, poll replies (without waiting: the deferred
 * path needs an RPC server and is covered by tests/integration/test_llm.sh)
 * and idle expiry (Criterion).
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "generation.h"

/* What the last poll reply said (copied inside the closure). */
typedef struct reply {
    int calls;
    size_t n;
    uint32_t first_seq, last_seq;
    int kinds[300];
    char last_text[64];
    int done, partial, retryable;
    int code;
    char stop[48], provider[16], model[64];
    uint32_t out_tokens;
} reply;

static reply last;

static void on_reply(const Chat__Llm__PollReply *r, void *cd)
{
    (void)cd;
    cr_assert_not_null(r, "generation.c never answers with an error status");
    memset(&last, 0, sizeof(last));
    last.calls = 1;
    last.n = r->n_deltas;
    for (size_t i = 0; i < r->n_deltas && i < 300; i++) {
        last.kinds[i] = r->deltas[i]->kind;
        if (i > 0) {
            cr_assert_eq(r->deltas[i]->seq, r->deltas[i - 1]->seq + 1, "seq strictly increasing by 1");
        }
    }
    if (r->n_deltas > 0) {
        last.first_seq = r->deltas[0]->seq;
        last.last_seq = r->deltas[r->n_deltas - 1]->seq;
        snprintf(last.last_text, sizeof(last.last_text), "%s", r->deltas[r->n_deltas - 1]->text);
    }
    last.done = r->done;
    last.partial = r->partial;
    last.retryable = r->error_retryable;
    last.code = r->error_code;
    snprintf(last.stop, sizeof(last.stop), "%s", r->stop_reason ? r->stop_reason : "");
    snprintf(last.provider, sizeof(last.provider), "%s", r->provider);
    snprintf(last.model, sizeof(last.model), "%s", r->usage->model);
    last.out_tokens = r->usage->output_tokens;
}

static void poll_now(gen *g, uint32_t after)
{
    int64_t arm = -1;
    cr_assert_eq(gen_poll(g, after, 0, 0, (Chat__Llm__PollReply_Closure)on_reply, NULL, &arm), 0, "answered at once");
    cr_assert_eq(arm, 0, "no timer for an answered poll");
}

Test(generation, ids_find_and_capacity)
{
    gen_table *t = NULL;
    cr_assert_eq(gen_table_new(&t, 3), 0);
    gen *g[3];
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(gen_create(t, "host-42", "offline", "extractive-v1", 0, &g[i]), RPC_OK);
        const char *id = gen_id(g[i]);
        cr_assert_eq(strncmp(id, "host-42.", 8), 0, "%s", id);
        cr_assert_eq(strlen(id), 8 + GEN_RANDOM_CHARS);
        for (const char *p = id + 8; *p; p++) {
            cr_assert(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", *p) != NULL);
        }
    }
    cr_assert_str_neq(gen_id(g[0]), gen_id(g[1]));
    gen *extra = NULL;
    cr_assert_eq(gen_create(t, "host-42", "offline", "m", 0, &extra), RPC_RESOURCE_EXHAUSTED);
    cr_assert_null(extra);
    cr_assert_eq(gen_table_count(t), 3);
    gen *f = gen_find(t, gen_id(g[1]));
    cr_assert_eq(f, g[1]);
    gen_unref(f);
    cr_assert_null(gen_find(t, "host-42.nope"));
    cr_assert_null(gen_find(t, ""));
    for (int i = 0; i < 3; i++) {
        gen_unref(g[i]);
    }
    gen_table_free(t);
}

Test(generation, deltas_polls_and_the_end)
{
    gen_table *t = NULL;
    gen_table_new(&t, 10);
    gen *g = NULL;
    gen_create(t, "r", "anthropic", "claude", 0, &g);
    cr_assert_eq(gen_poll_timeout(g, 5), 0, "no waiter, no timer");
    poll_now(g, 0);
    cr_assert_eq(last.n, 0);
    cr_assert_not(last.done);
    cr_assert_str_eq(last.provider, "anthropic");

    cr_assert_eq(gen_add_notice(g, "fallback: anthropic unavailable"), 0);
    cr_assert_not(gen_has_output(g), "a notice is not output");
    gen_set_provider(g, "offline", "extractive-v1");
    cr_assert_eq(gen_add_text(g, "Hello", 5), 0);
    cr_assert_eq(gen_add_text(g, "", 0), 0, "empty text adds nothing");
    cr_assert_eq(gen_add_tool_call(g, "toolu_1", "record_lead", "{\"email\":\"a@b.c\"}"), 0);
    cr_assert(gen_has_output(g));
    llm_usage u = {.input_tokens = 10, .output_tokens = 3};
    gen_set_usage(g, &u);

    poll_now(g, 0);
    cr_assert_eq(last.n, 3);
    cr_assert_eq(last.first_seq, 1);
    cr_assert_eq(last.kinds[0], CHAT__LLM__DELTA_KIND__NOTICE);
    cr_assert_eq(last.kinds[1], CHAT__LLM__DELTA_KIND__TEXT);
    cr_assert_eq(last.kinds[2], CHAT__LLM__DELTA_KIND__TOOL_CALL);
    cr_assert_str_eq(last.provider, "offline");
    cr_assert_str_eq(last.model, "extractive-v1");
    cr_assert_eq(last.out_tokens, 3);
    cr_assert_not(last.done);
    cr_assert_str_eq(last.stop, "");

    poll_now(g, 2);
    cr_assert_eq(last.n, 1);
    cr_assert_eq(last.first_seq, 3);

    cr_assert_eq(gen_finish(g, "error", RPC_UNAVAILABLE, "overloaded", 1), 1);
    cr_assert_eq(gen_finish(g, "end_turn", RPC_OK, NULL, 0), 0, "the first end stays");
    cr_assert_eq(gen_add_text(g, "late", 4), -1, "nothing after the end");
    poll_now(g, 3);
    cr_assert_eq(last.n, 0);
    cr_assert(last.done);
    cr_assert_str_eq(last.stop, "error");
    cr_assert_eq(last.code, RPC_UNAVAILABLE);
    cr_assert(last.partial, "ended by an error after output");
    cr_assert(last.retryable);
    poll_now(g, 100);
    cr_assert(last.done, "after_seq past the end: done, nothing");
    gen_unref(g);
    gen_table_free(t);
}

Test(generation, error_before_output_is_not_partial_and_cancel_is_not_an_error)
{
    gen_table *t = NULL;
    gen_table_new(&t, 10);
    gen *a = NULL, *b = NULL;
    gen_create(t, "r", "anthropic", "m", 0, &a);
    gen_create(t, "r", "anthropic", "m", 0, &b);
    gen_add_notice(a, "n");
    gen_finish(a, "error", RPC_INTERNAL, "x", 0);
    poll_now(a, 0);
    cr_assert(last.done);
    cr_assert_not(last.partial);
    gen_add_text(b, "Hi", 2);
    cr_assert_eq(gen_finish(b, "cancelled", RPC_OK, NULL, 0), 1);
    poll_now(b, 0);
    cr_assert(last.done);
    cr_assert_str_eq(last.stop, "cancelled");
    cr_assert_not(last.partial);
    cr_assert_eq(last.code, RPC_OK);
    gen_unref(a);
    gen_unref(b);
    gen_table_free(t);
}

Test(generation, reply_caps_deltas_and_bytes)
{
    gen_table *t = NULL;
    gen_table_new(&t, 10);
    gen *g = NULL;
    gen_create(t, "r", "offline", "m", 0, &g);
    char w[16];
    for (int i = 0; i < 300; i++) {
        snprintf(w, sizeof(w), " w%d", i + 1);
        gen_add_text(g, w, strlen(w));
    }
    gen_finish(g, "end_turn", RPC_OK, NULL, 0);
    poll_now(g, 0);
    cr_assert_eq(last.n, GEN_REPLY_DELTAS_MAX);
    cr_assert_not(last.done, "not done while deltas remain for the caller");
    poll_now(g, last.last_seq);
    cr_assert_eq(last.n, 300 - GEN_REPLY_DELTAS_MAX);
    cr_assert_str_eq(last.last_text, " w300");
    cr_assert(last.done);
    gen_unref(g);

    gen_create(t, "r", "offline", "m", 0, &g);
    char *big = malloc(20000);
    memset(big, 'x', 20000);
    for (int i = 0; i < 10; i++) {
        gen_add_text(g, big, 20000);
    }
    free(big);
    poll_now(g, 0);
    cr_assert_eq(last.n, 3, "about 64 KB per reply: %zu deltas", last.n);
    gen_unref(g);
    gen_table_free(t);
}

Test(generation, text_cap_ends_additions)
{
    gen_table *t = NULL;
    gen_table_new(&t, 10);
    gen *g = NULL;
    gen_create(t, "r", "offline", "m", 0, &g);
    size_t chunk = 64 * 1024;
    char *big = malloc(chunk);
    memset(big, 'y', chunk);
    int rv = 0;
    size_t added = 0;
    while (rv == 0 && added <= GEN_TEXT_MAX) {
        rv = gen_add_text(g, big, chunk);
        added += chunk;
    }
    free(big);
    cr_assert_eq(rv, -1, "a generation holds at most GEN_TEXT_MAX bytes");
    cr_assert_not(gen_is_done(g), "full is not done: the engine ends it");
    gen_unref(g);
    gen_table_free(t);
}

Test(generation, idle_expiry)
{
    gen_table *t = NULL;
    gen_table_new(&t, 10);
    gen *old = NULL, *fresh = NULL, *polled = NULL;
    gen_create(t, "r", "offline", "m", 1000, &old);
    gen_create(t, "r", "offline", "m", 50000, &fresh);
    gen_create(t, "r", "offline", "m", 1000, &polled);
    int64_t arm = 0;
    cr_assert_eq(gen_poll(polled, 0, 0, 59000, (Chat__Llm__PollReply_Closure)on_reply, NULL, &arm), 0);
    gen *out[4];
    size_t n = gen_table_expire(t, 61000, 60000, 10000, out, 4);
    cr_assert_eq(n, 1);
    cr_assert_eq(out[0], old);
    cr_assert_eq(gen_table_count(t), 2);
    cr_assert_null(gen_find(t, gen_id(old)), "an expired stream is not found");
    gen_unref(out[0]); /* the table's reference */
    gen_unref(old);    /* ours */
    cr_assert_eq(gen_table_expire(t, 109999, 60000, 10000, out, 4), 0);
    cr_assert_eq(gen_table_expire(t, 120000, 60000, 10000, out, 4), 2);
    gen_unref(out[0]);
    gen_unref(out[1]);
    gen_unref(fresh);
    gen_unref(polled);
    gen_table_free(t);
}

/* A finished generation goes once a poll reply carried its end and the
 * grace is over (not after the whole idle TTL); one whose end nobody has
 * read yet stays for the TTL. */
Test(generation, delivered_end_dropped_after_grace)
{
    gen_table *t = NULL;
    gen_table_new(&t, 10);
    gen *read = NULL, *unread = NULL;
    gen_create(t, "r", "offline", "m", 1000, &read);
    gen_create(t, "r", "offline", "m", 1000, &unread);
    gen_add_text(read, "hi", 2);
    gen_add_text(unread, "hi", 2);
    gen_finish(read, "end_turn", RPC_OK, NULL, 0);
    gen_finish(unread, "end_turn", RPC_OK, NULL, 0);
    int64_t arm = 0;
    cr_assert_eq(gen_poll(read, 0, 0, 2000, (Chat__Llm__PollReply_Closure)on_reply, NULL, &arm), 0);
    cr_assert(last.done, "the reply carried the end");
    gen *out[4];
    cr_assert_eq(gen_table_expire(t, 11999, 60000, 10000, out, 4), 0, "within the grace both stay");
    cr_assert_eq(gen_table_expire(t, 12000, 60000, 10000, out, 4), 1);
    cr_assert_eq(out[0], read);
    cr_assert_null(gen_find(t, gen_id(read)));
    cr_assert_not_null(gen_find(t, gen_id(unread)), "an end nobody read stays");
    gen_unref(unread); /* from gen_find */
    gen_unref(out[0]);
    gen_unref(read);
    cr_assert_eq(gen_table_expire(t, 60999, 60000, 10000, out, 4), 0);
    cr_assert_eq(gen_table_expire(t, 61000, 60000, 10000, out, 4), 1, "then the idle TTL drops it");
    gen_unref(out[0]);
    gen_unref(unread);
    gen_table_free(t);
}
