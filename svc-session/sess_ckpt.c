/* sess_ckpt.c: see sess_ckpt.h. */
#include "sess_ckpt.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sess_uuid6.h"

/* ------------------------------------------------------------ versions */

void sess_ckpt_version_format(uint64_t v, uint64_t rnd, char out[SESS_CKPT_VERSION_MAX])
{
    snprintf(out, SESS_CKPT_VERSION_MAX, "%032" PRIu64 ".0.%016" PRIu64, v, (uint64_t)(rnd % 10000000000000000ULL));
}

int sess_ckpt_version_number(const char *version, uint64_t *v)
{
    if (version == NULL || version[0] < '0' || version[0] > '9') {
        return -1;
    }
    uint64_t n = 0;
    const char *p = version;
    for (; *p >= '0' && *p <= '9'; p++) {
        if (n > (UINT64_MAX - 9) / 10) {
            return -1;
        }
        n = n * 10 + (uint64_t)(*p - '0');
    }
    if (*p != '\0' && *p != '.') {
        return -1;
    }
    *v = n;
    return 0;
}

/* A channel version as LangGraph may hold it: our strings, or plain
 * numbers (other savers). */
static uint64_t sess_ckpt_json_version(const json_t *v)
{
    uint64_t n = 0;
    if (json_is_string(v) && sess_ckpt_version_number(json_string_value(v), &n) == 0) {
        return n;
    }
    if (json_is_integer(v) && json_integer_value(v) > 0) {
        return (uint64_t)json_integer_value(v);
    }
    if (json_is_real(v) && json_real_value(v) > 0 && json_real_value(v) < 1e18) {
        return (uint64_t)json_real_value(v);
    }
    return 0;
}

/* ------------------------------------------------------------ helpers */

/* obj[key] = value, taking ownership of value; -1 when value is NULL. */
static int sess_set(json_t *obj, const char *key, json_t *value)
{
    if (value == NULL) {
        return -1;
    }
    return json_object_set_new(obj, key, value);
}

static json_t *sess_jstr(const char *s)
{
    return json_string(s != NULL ? s : "");
}

static json_t *sess_jreal(double d)
{
    return json_real(isfinite(d) ? d : 0.0);
}

static const char *sess_get_str(const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static double sess_get_num(const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);
    return json_is_number(v) ? json_number_value(v) : 0.0;
}

static int64_t sess_get_int(const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);
    if (json_is_integer(v)) {
        return (int64_t)json_integer_value(v);
    }
    if (json_is_real(v) && fabs(json_real_value(v)) < 9e18) {
        return (int64_t)json_real_value(v);
    }
    return 0;
}

/* An arena copy of obj[key] when it is a string, else "". NULL on OOM. */
static char *sess_dup_str(sess_arena *a, const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);
    if (!json_is_string(v)) {
        return sess_arena_strdup(a, "");
    }
    return sess_arena_strndup(a, json_string_value(v), json_string_length(v));
}

/* ------------------------------------------------------------ sources */

json_t *sess_ckpt_source_to_json(const Chat__Common__Source *s, int with_text)
{
    json_t *o = json_object();
    if (o == NULL) {
        return NULL;
    }
    int rc = sess_set(o, "chunk_id", json_integer(s->chunk_id));
    rc |= sess_set(o, "document_id", json_integer(s->document_id));
    rc |= sess_set(o, "title", sess_jstr(s->title));
    rc |= sess_set(o, "url", sess_jstr(s->url));
    rc |= sess_set(o, "heading_path", sess_jstr(s->heading_path));
    if (with_text) {
        rc |= sess_set(o, "text", sess_jstr(s->text));
    }
    rc |= sess_set(o, "score", sess_jreal(s->score));
    rc |= sess_set(o, "vector_score", sess_jreal(s->vector_score));
    rc |= sess_set(o, "text_score", sess_jreal(s->text_score));
    if (rc != 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

int sess_ckpt_sources_from_json(const json_t *arr, sess_arena *a, Chat__Common__Source ***out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (!json_is_array(arr) || json_array_size(arr) == 0) {
        return 0;
    }
    size_t cap = json_array_size(arr);
    Chat__Common__Source **list = sess_arena_alloc(a, cap * sizeof(*list));
    if (list == NULL) {
        return -1;
    }
    size_t k = 0;
    size_t i;
    const json_t *o;
    json_array_foreach(arr, i, o)
    {
        if (!json_is_object(o)) {
            continue;
        }
        Chat__Common__Source *s = sess_arena_alloc(a, sizeof(*s));
        if (s == NULL) {
            return -1;
        }
        chat__common__source__init(s);
        s->chunk_id = sess_get_int(o, "chunk_id");
        s->document_id = sess_get_int(o, "document_id");
        s->title = sess_dup_str(a, o, "title");
        s->url = sess_dup_str(a, o, "url");
        s->heading_path = sess_dup_str(a, o, "heading_path");
        s->text = sess_dup_str(a, o, "text");
        if (s->title == NULL || s->url == NULL || s->heading_path == NULL || s->text == NULL) {
            return -1;
        }
        s->score = sess_get_num(o, "score");
        s->vector_score = sess_get_num(o, "vector_score");
        s->text_score = sess_get_num(o, "text_score");
        list[k++] = s;
    }
    *out = list;
    *n = k;
    return 0;
}

/* ------------------------------------------------------------ messages */

json_t *sess_ckpt_message_to_json(const Chat__Common__ChatMessage *m, const char *msg_id)
{
    int ai;
    if (m->role != NULL && strcmp(m->role, "user") == 0) {
        ai = 0;
    } else if (m->role != NULL && strcmp(m->role, "assistant") == 0) {
        ai = 1;
    } else {
        return NULL;
    }
    json_t *root = json_object();
    json_t *kw = json_object();
    json_t *extra = json_object();
    json_t *meta = json_object();
    if (root == NULL || kw == NULL || extra == NULL || meta == NULL) {
        json_decref(root);
        json_decref(kw);
        json_decref(extra);
        json_decref(meta);
        return NULL;
    }
    int rc = sess_set(root, "lc", json_integer(1));
    rc |= sess_set(root, "type", json_string("constructor"));
    rc |= sess_set(root, "id", json_pack("[sss]", "langchain_core", "messages", ai ? "AIMessage" : "HumanMessage"));

    rc |= sess_set(extra, "turn_id", sess_jstr(m->turn_id));
    rc |= sess_set(extra, "created_at_ms", json_integer(m->created_at_ms));
    if (ai) {
        json_t *src = json_array();
        rc |= src == NULL;
        for (size_t i = 0; src != NULL && i < m->n_sources; i++) {
            rc |= json_array_append_new(src, sess_ckpt_source_to_json(m->sources[i], 0));
        }
        rc |= sess_set(extra, "sources", src);
        rc |= sess_set(extra, "partial", json_boolean(m->partial));
        if (m->stop_reason != NULL && m->stop_reason[0] != '\0') {
            rc |= sess_set(meta, "stop_reason", json_string(m->stop_reason));
        }
    }

    rc |= sess_set(kw, "content", sess_jstr(m->content));
    rc |= sess_set(kw, "type", json_string(ai ? "ai" : "human"));
    if (msg_id != NULL && msg_id[0] != '\0') {
        rc |= sess_set(kw, "id", json_string(msg_id));
    }
    rc |= sess_set(kw, "additional_kwargs", extra);
    rc |= sess_set(kw, "response_metadata", meta);
    if (ai) {
        rc |= sess_set(kw, "tool_calls", json_array());
        rc |= sess_set(kw, "invalid_tool_calls", json_array());
    }
    rc |= sess_set(root, "kwargs", kw);
    if (rc != 0) {
        json_decref(root);
        return NULL;
    }
    return root;
}

/* The fields of a message: the kwargs and class name of a serialized
 * LangChain object, or the object itself (class NULL). */
static void sess_ckpt_unwrap(const json_t *j, const json_t **kw, const json_t **class_name)
{
    *kw = j;
    *class_name = NULL;
    if (json_integer_value(json_object_get(j, "lc")) == 1 && json_is_object(json_object_get(j, "kwargs"))) {
        *kw = json_object_get(j, "kwargs");
        const json_t *id = json_object_get(j, "id");
        if (json_is_array(id) && json_array_size(id) > 0) {
            *class_name = json_array_get(id, json_array_size(id) - 1);
        }
    }
}

/* "user", "assistant", or NULL for any other kind of message. */
static const char *sess_ckpt_role(const json_t *kw, const json_t *class_name)
{
    const char *t = sess_get_str(kw, "type");
    if (t == NULL) {
        t = sess_get_str(kw, "role");
    }
    if (t == NULL && json_is_string(class_name)) {
        t = json_string_value(class_name);
    }
    if (t == NULL) {
        return NULL;
    }
    if (strcmp(t, "human") == 0 || strcmp(t, "user") == 0 || strcmp(t, "HumanMessage") == 0 ||
        strcmp(t, "HumanMessageChunk") == 0) {
        return "user";
    }
    if (strcmp(t, "ai") == 0 || strcmp(t, "assistant") == 0 || strcmp(t, "AIMessage") == 0 ||
        strcmp(t, "AIMessageChunk") == 0) {
        return "assistant";
    }
    return NULL;
}

/* Content as text: a string, or the text blocks of a content list. */
static char *sess_ckpt_content(sess_arena *a, const json_t *content)
{
    if (json_is_string(content)) {
        return sess_arena_strndup(a, json_string_value(content), json_string_length(content));
    }
    size_t total = 0;
    size_t i;
    const json_t *b;
    json_array_foreach(content, i, b)
    {
        const json_t *t = json_is_string(b) ? b : json_object_get(b, "text");
        if (json_is_string(t)) {
            total += json_string_length(t);
        }
    }
    char *out = sess_arena_alloc(a, total + 1);
    if (out == NULL) {
        return NULL;
    }
    size_t o = 0;
    json_array_foreach(content, i, b)
    {
        const json_t *t = json_is_string(b) ? b : json_object_get(b, "text");
        if (json_is_string(t)) {
            memcpy(out + o, json_string_value(t), json_string_length(t));
            o += json_string_length(t);
        }
    }
    out[o] = '\0';
    return out;
}

int sess_ckpt_message_from_json(const json_t *j, sess_arena *a, Chat__Common__ChatMessage *out)
{
    if (!json_is_object(j)) {
        return 1;
    }
    const json_t *kw, *class_name;
    sess_ckpt_unwrap(j, &kw, &class_name);
    const char *role = sess_ckpt_role(kw, class_name);
    if (role == NULL) {
        return 1;
    }
    chat__common__chat_message__init(out);
    out->role = (char *)role;
    out->content = sess_ckpt_content(a, json_object_get(kw, "content"));
    const json_t *extra = json_object_get(kw, "additional_kwargs");
    const json_t *meta = json_object_get(kw, "response_metadata");
    out->turn_id = sess_dup_str(a, extra, "turn_id");
    out->created_at_ms = sess_get_int(extra, "created_at_ms");
    out->partial = json_is_true(json_object_get(extra, "partial"));
    const char *stop = sess_get_str(meta, "stop_reason");
    if (stop == NULL) {
        stop = sess_get_str(extra, "stop_reason");
    }
    out->stop_reason = sess_arena_strdup(a, stop != NULL ? stop : "");
    if (out->content == NULL || out->turn_id == NULL || out->stop_reason == NULL ||
        sess_ckpt_sources_from_json(json_object_get(extra, "sources"), a, &out->sources, &out->n_sources) != 0) {
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------ lead */

json_t *sess_ckpt_lead_to_json(const Chat__Common__LeadState *l)
{
    json_t *extra = NULL;
    if (l->extra_json != NULL && l->extra_json[0] != '\0') {
        extra = json_loads(l->extra_json, JSON_REJECT_DUPLICATES, NULL);
        if (!json_is_object(extra)) {
            json_decref(extra);
            return NULL;
        }
    } else {
        extra = json_object();
    }
    json_t *o = json_object();
    if (o == NULL || extra == NULL) {
        json_decref(o);
        json_decref(extra);
        return NULL;
    }
    int rc = sess_set(o, "name", sess_jstr(l->name));
    rc |= sess_set(o, "email", sess_jstr(l->email));
    rc |= sess_set(o, "phone", sess_jstr(l->phone));
    rc |= sess_set(o, "company", sess_jstr(l->company));
    rc |= sess_set(o, "need", sess_jstr(l->need));
    rc |= sess_set(o, "team_size", sess_jstr(l->team_size));
    rc |= sess_set(o, "timeline", sess_jstr(l->timeline));
    rc |= sess_set(o, "budget", sess_jstr(l->budget));
    rc |= sess_set(o, "consent", json_boolean(l->consent));
    rc |= sess_set(o, "qualified", json_boolean(l->qualified));
    rc |= sess_set(o, "handed_off", json_boolean(l->handed_off));
    rc |= sess_set(o, "extra", extra);
    if (rc != 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

int sess_ckpt_lead_from_json(const json_t *j, sess_arena *a, Chat__Common__LeadState *out)
{
    out->name = sess_dup_str(a, j, "name");
    out->email = sess_dup_str(a, j, "email");
    out->phone = sess_dup_str(a, j, "phone");
    out->company = sess_dup_str(a, j, "company");
    out->need = sess_dup_str(a, j, "need");
    out->team_size = sess_dup_str(a, j, "team_size");
    out->timeline = sess_dup_str(a, j, "timeline");
    out->budget = sess_dup_str(a, j, "budget");
    out->consent = json_is_true(json_object_get(j, "consent"));
    out->qualified = json_is_true(json_object_get(j, "qualified"));
    out->handed_off = json_is_true(json_object_get(j, "handed_off"));
    const json_t *extra = json_object_get(j, "extra");
    out->extra_json = NULL;
    if (json_is_object(extra) && json_object_size(extra) > 0) {
        char *s = json_dumps(extra, JSON_COMPACT);
        if (s != NULL) {
            out->extra_json = sess_arena_strdup(a, s);
            free(s);
        }
    } else {
        out->extra_json = sess_arena_strdup(a, "");
    }
    if (out->name == NULL || out->email == NULL || out->phone == NULL || out->company == NULL || out->need == NULL ||
        out->team_size == NULL || out->timeline == NULL || out->budget == NULL || out->extra_json == NULL) {
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------ history */

int sess_ckpt_history(const char *blob, size_t len, unsigned limit, sess_arena *a, Chat__Common__ChatMessage ***out,
                      size_t *n)
{
    *out = NULL;
    *n = 0;
    json_t *arr = json_loadb(blob, len, 0, NULL);
    if (!json_is_array(arr)) {
        json_decref(arr);
        return -1;
    }
    /* Walk back from the end to find the first message kept. */
    size_t total = json_array_size(arr);
    size_t first = total;
    size_t kept = 0;
    while (first > 0 && kept < limit) {
        first--;
        const json_t *m = json_array_get(arr, first);
        const json_t *kw, *cls;
        sess_ckpt_unwrap(m, &kw, &cls);
        if (json_is_object(m) && sess_ckpt_role(kw, cls) != NULL) {
            kept++;
        }
    }
    int rc = 0;
    Chat__Common__ChatMessage **list = kept > 0 ? sess_arena_alloc(a, kept * sizeof(*list)) : NULL;
    if (kept > 0 && list == NULL) {
        rc = -1;
        goto out;
    }
    size_t k = 0;
    for (size_t i = first; i < total && k < kept; i++) {
        Chat__Common__ChatMessage *msg = sess_arena_alloc(a, sizeof(*msg));
        if (msg == NULL) {
            rc = -1;
            goto out;
        }
        int r = sess_ckpt_message_from_json(json_array_get(arr, i), a, msg);
        if (r < 0) {
            rc = -1;
            goto out;
        }
        if (r == 0) {
            list[k++] = msg;
        }
    }
    *out = list;
    *n = k;
out:
    json_decref(arr);
    return rc;
}

/* ------------------------------------------------------------ append */

static int sess_ws(char c)
{
    return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

char *sess_ckpt_messages_append(const char *prev, size_t prev_len, const json_t *add, size_t *out_len)
{
    if (!json_is_array(add)) {
        return NULL;
    }
    char *tail = json_dumps(add, JSON_COMPACT);
    if (tail == NULL) {
        return NULL;
    }
    size_t tail_len = strlen(tail);
    size_t b = 0, e = prev_len;
    if (prev != NULL) {
        while (b < e && sess_ws(prev[b])) {
            b++;
        }
        while (e > b && sess_ws(prev[e - 1])) {
            e--;
        }
        if (e - b < 2 || prev[b] != '[' || prev[e - 1] != ']') {
            free(tail);
            return NULL;
        }
    }
    size_t inner_b = b + 1, inner_e = e - 1; /* between the brackets */
    while (prev != NULL && inner_b < inner_e && sess_ws(prev[inner_b])) {
        inner_b++;
    }
    int prev_empty = prev == NULL || inner_b >= inner_e;
    int add_empty = json_array_size(add) == 0;
    if (prev_empty || add_empty) {
        char *r;
        if (prev_empty) {
            r = tail;
            *out_len = tail_len;
        } else {
            free(tail);
            r = malloc(e - b + 1);
            if (r != NULL) {
                memcpy(r, prev + b, e - b);
                r[e - b] = '\0';
                *out_len = e - b;
            }
        }
        return r;
    }
    /* prev without its ']' + ',' + add without its '[' */
    size_t keep = e - 1 - b;
    size_t len = keep + 1 + (tail_len - 1);
    char *r = malloc(len + 1);
    if (r != NULL) {
        memcpy(r, prev + b, keep);
        r[keep] = ',';
        memcpy(r + keep + 1, tail + 1, tail_len - 1);
        r[len] = '\0';
        *out_len = len;
    }
    free(tail);
    return r;
}

/* ------------------------------------------------------------ checkpoint */

int sess_ckpt_next(const sess_ckpt_next_in *in, sess_ckpt_next_out *out)
{
    memset(out, 0, sizeof(*out));
    int rc = -1;
    json_t *parent = NULL;
    json_t *cp = NULL, *meta = NULL;
    json_t *versions = NULL, *seen = NULL;

    if (in->parent != NULL) {
        parent = json_loads(in->parent, 0, NULL);
        if (!json_is_object(parent)) {
            goto out;
        }
    }
    const json_t *pv = json_object_get(parent, "channel_versions");
    const json_t *ps = json_object_get(parent, "versions_seen");
    versions = json_is_object(pv) ? json_deep_copy(pv) : json_object();
    seen = json_is_object(ps) ? json_deep_copy(ps) : json_object();
    if (versions == NULL || seen == NULL) {
        goto out;
    }

    /* Like a LangGraph run of one step: the input bumps __start__ to
     * max+1, then the step writes its channels at max+2. */
    uint64_t max = 0;
    const char *key;
    json_t *v;
    json_object_foreach(versions, key, v)
    {
        uint64_t n = sess_ckpt_json_version(v);
        max = n > max ? n : max;
    }
    char start_v[SESS_CKPT_VERSION_MAX];
    sess_ckpt_version_format(max + 1, in->rnd[0], start_v);
    sess_ckpt_version_format(max + 2, in->rnd[1], out->messages_version);
    int new_lead = in->lead_changed || !in->parent_has_lead || json_object_get(versions, "lead") == NULL;
    if (new_lead) {
        sess_ckpt_version_format(max + 2, in->rnd[2], out->lead_version);
    }
    int err = sess_set(versions, "__start__", json_string(start_v));
    err |= sess_set(versions, "messages", json_string(out->messages_version));
    if (new_lead) {
        err |= sess_set(versions, "lead", json_string(out->lead_version));
    }
    err |= sess_set(seen, "__input__", json_object());
    err |= sess_set(seen, "__start__", json_pack("{ss}", "__start__", start_v));

    char ts[48];
    sess_uuid6_iso8601(in->ts, ts, sizeof(ts));
    json_t *updated = new_lead ? json_pack("[ss]", "messages", "lead") : json_pack("[s]", "messages");
    cp = json_object();
    meta = json_object();
    if (err != 0 || updated == NULL || cp == NULL || meta == NULL) {
        json_decref(updated);
        goto out;
    }
    err = sess_set(cp, "v", json_integer(4));
    err |= sess_set(cp, "id", json_string(in->id));
    err |= sess_set(cp, "ts", json_string(ts));
    err |= sess_set(cp, "channel_values", json_object());
    err |= json_object_set(cp, "channel_versions", versions);
    err |= json_object_set(cp, "versions_seen", seen);
    err |= sess_set(cp, "updated_channels", updated);

    out->step = parent != NULL ? in->parent_step + 1 : 1;
    err |= sess_set(meta, "source", json_string("loop"));
    err |= sess_set(meta, "step", json_integer(out->step));
    err |= sess_set(meta, "parents", json_object());
    err |= sess_set(meta, "turn_id", sess_jstr(in->turn_id));
    if (err != 0) {
        goto out;
    }
    out->checkpoint = json_dumps(cp, JSON_COMPACT);
    out->metadata = json_dumps(meta, JSON_COMPACT);
    if (out->checkpoint == NULL || out->metadata == NULL) {
        sess_ckpt_next_free(out);
        goto out;
    }
    rc = 0;
out:
    json_decref(parent);
    json_decref(cp);
    json_decref(meta);
    json_decref(versions);
    json_decref(seen);
    return rc;
}

void sess_ckpt_next_free(sess_ckpt_next_out *out)
{
    free(out->checkpoint);
    free(out->metadata);
    out->checkpoint = NULL;
    out->metadata = NULL;
}
