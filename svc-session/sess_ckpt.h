/* sess_ckpt.h: the JSON of LangGraph-compatible checkpoints.
 *
 * What svc-session writes per turn is what LangGraph's PostgresSaver would
 * write for a graph whose state has two channels:
 *   - "messages": the whole conversation as a JSON array of LangChain
 *     messages in their serialized form ({"lc":1,"type":"constructor",
 *     "id":["langchain_core","messages","HumanMessage"],"kwargs":{...}}),
 *     so LangGraph's serde revives real HumanMessage/AIMessage objects;
 *   - "lead": a JSON object of the LeadState fields.
 * Both are stored as checkpoint_blobs rows of type "json" named by the
 * checkpoint's channel_versions; channel_values stays {}.
 *
 * This file builds and parses those documents; it does no I/O. Thread-safe
 * (no state). Strings handed to protobuf structs live in the caller's arena.
 */
#ifndef SESS_CKPT_H
#define SESS_CKPT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "common.pb-c.h"
#include "sess_arena.h"

/* f"{v:032}.{random:016}" with random a float in [0,1): 32 digits, a dot,
 * "0." and 16 digits. */
#define SESS_CKPT_VERSION_MAX 64
void sess_ckpt_version_format(uint64_t v, uint64_t rnd, char out[SESS_CKPT_VERSION_MAX]);
/* The integer before the first dot of a version string; 0 or -1. */
int sess_ckpt_version_number(const char *version, uint64_t *v);

/* A source as JSON; with_text 0 leaves the chunk text out (checkpoints keep
 * citations light; the messages table keeps the text). NULL on OOM. */
json_t *sess_ckpt_source_to_json(const Chat__Common__Source *s, int with_text);
/* Sources from a JSON array (NULL or not an array: none). 0, or -1 on OOM. */
int sess_ckpt_sources_from_json(const json_t *arr, sess_arena *a, Chat__Common__Source ***out, size_t *n);

/* A chat message in LangChain's serialized form ("user" -> HumanMessage,
 * "assistant" -> AIMessage); msg_id becomes kwargs.id. NULL on OOM or an
 * unknown role. */
json_t *sess_ckpt_message_to_json(const Chat__Common__ChatMessage *m, const char *msg_id);
/* The reverse, also accepting plain {"type"|"role","content"} objects and
 * content given as a list of text blocks. Returns 0, 1 when j is not a
 * human or AI message (a system or tool message: skip it), -1 on OOM. */
int sess_ckpt_message_from_json(const json_t *j, sess_arena *a, Chat__Common__ChatMessage *out);

/* The lead channel value; NULL when extra_json is set but is not a JSON
 * object (or on OOM). */
json_t *sess_ckpt_lead_to_json(const Chat__Common__LeadState *l);
/* Fills out (initialised by the caller) from a lead object. 0 or -1. */
int sess_ckpt_lead_from_json(const json_t *j, sess_arena *a, Chat__Common__LeadState *out);

/* The last `limit` chat messages of a "messages" blob, oldest first, in
 * *out (arena memory). Returns 0, or -1 when the blob is not a JSON array
 * or on OOM. */
int sess_ckpt_history(const char *blob, size_t len, unsigned limit, sess_arena *a, Chat__Common__ChatMessage ***out,
                      size_t *n);

/* A new "messages" blob: the array prev[0..prev_len) (NULL = none) with
 * the elements of the array add appended, spliced as text so old messages
 * are kept byte for byte. malloc'd (caller frees), or NULL when prev is not
 * an array or on OOM. */
char *sess_ckpt_messages_append(const char *prev, size_t prev_len, const json_t *add, size_t *out_len);

/* The next checkpoint of a thread. */
typedef struct sess_ckpt_next_in {
    const char *parent;  /* the parent's `checkpoint` jsonb as text, or NULL for a new thread */
    int64_t parent_step; /* the parent's metadata.step (ignored without a parent) */
    int parent_has_lead; /* the parent's lead blob exists */
    const char *id;      /* the new checkpoint id (UUIDv6) */
    uint64_t ts;         /* its UUID timestamp, for "ts" */
    const char *turn_id;
    int lead_changed;
    uint64_t rnd[3]; /* random < 10^16 for the version suffixes */
} sess_ckpt_next_in;

typedef struct sess_ckpt_next_out {
    char *checkpoint; /* malloc'd JSON text */
    char *metadata;   /* malloc'd JSON text */
    char messages_version[SESS_CKPT_VERSION_MAX];
    char lead_version[SESS_CKPT_VERSION_MAX]; /* "" when the lead blob is not rewritten */
    int64_t step;
} sess_ckpt_next_out;

/* Builds checkpoint and metadata. Returns 0, or -1 when the parent is not
 * a checkpoint object or on OOM. Free with sess_ckpt_next_free. */
int sess_ckpt_next(const sess_ckpt_next_in *in, sess_ckpt_next_out *out);
void sess_ckpt_next_free(sess_ckpt_next_out *out);

#endif
