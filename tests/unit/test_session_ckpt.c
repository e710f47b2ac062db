/* test_session_ckpt.c: the JSON of LangGraph-compatible checkpoints
 * (svc-session/sess_ckpt.c): channel versions, LangChain-serialized
 * messages both ways, the lead, history, the messages blob, the checkpoint
 * and its metadata. */
#include <criterion/criterion.h>
#include <regex.h>
#include <stdlib.h>
#include <string.h>

#include "sess_ckpt.h"
#include "sess_uuid6.h"

static int matches(const char *re_text, const char *s)
{
    regex_t re;
    cr_assert_eq(regcomp(&re, re_text, REG_EXTENDED | REG_NOSUB), 0);
    int ok = regexec(&re, s, 0, NULL, 0) == 0;
    regfree(&re);
    return ok;
}

/* Asserts that j equals the JSON text want (key order aside). */
static void expect_json(const json_t *j, const char *want)
{
    json_error_t err;
    json_t *w = json_loads(want, 0, &err);
    cr_assert_not_null(w, "bad expected JSON: %s", err.text);
    char *got = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    char *exp = json_dumps(w, JSON_COMPACT | JSON_SORT_KEYS);
    cr_expect_str_eq(got, exp);
    free(got);
    free(exp);
    json_decref(w);
}

/* ------------------------------------------------------------ versions */

Test(session_ckpt, version_is_32_digits_dot_a_float)
{
    char v[SESS_CKPT_VERSION_MAX];
    sess_ckpt_version_format(3, 1234567890123456ULL, v);
    cr_expect_str_eq(v, "00000000000000000000000000000003.0.1234567890123456");
    sess_ckpt_version_format(12, 42, v);
    cr_expect_str_eq(v, "00000000000000000000000000000012.0.0000000000000042");
    sess_ckpt_version_format(1, 12345678901234567ULL, v); /* kept below 10^16 */
    cr_expect(matches("^[0-9]{32}\\.0\\.[0-9]{16}$", v), "%s", v);
}

Test(session_ckpt, version_number)
{
    static const struct {
        const char *in;
        int rc;
        uint64_t v;
    } cases[] = {
        {"00000000000000000000000000000003.0.1234567890123456", 0, 3},
        {"00000000000000000000000000000120.0.5", 0, 120},
        {"7", 0, 7},
        {"", -1, 0},
        {"x1", -1, 0},
        {"3x.0.1", -1, 0},
        {"99999999999999999999999", -1, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint64_t v = 0;
        cr_expect_eq(sess_ckpt_version_number(cases[i].in, &v), cases[i].rc, "%s", cases[i].in);
        if (cases[i].rc == 0) {
            cr_expect_eq(v, cases[i].v, "%s", cases[i].in);
        }
    }
}

/* ------------------------------------------------------------ messages */

Test(session_ckpt, user_message_is_a_serialized_human_message)
{
    Chat__Common__ChatMessage m = CHAT__COMMON__CHAT_MESSAGE__INIT;
    m.role = "user";
    m.content = "Was kostet der Team-Plan? \xe2\x82\xac";
    m.turn_id = "t_1";
    m.created_at_ms = 1700000000123;
    json_t *j = sess_ckpt_message_to_json(&m, "t_1-0");
    cr_assert_not_null(j);
    expect_json(
        j, "{\"lc\":1,\"type\":\"constructor\",\"id\":[\"langchain_core\",\"messages\",\"HumanMessage\"],"
           "\"kwargs\":{\"content\":\"Was kostet der Team-Plan? \xe2\x82\xac\",\"type\":\"human\",\"id\":\"t_1-0\","
           "\"additional_kwargs\":{\"turn_id\":\"t_1\",\"created_at_ms\":1700000000123},"
           "\"response_metadata\":{}}}");
    json_decref(j);
}

Test(session_ckpt, assistant_message_is_a_serialized_ai_message)
{
    Chat__Common__Source s = CHAT__COMMON__SOURCE__INIT;
    s.chunk_id = 7;
    s.document_id = 2;
    s.title = "Pricing";
    s.url = "https://example.com/pricing#team";
    s.heading_path = "Pricing > Team";
    s.text = "long chunk text";
    s.score = 0.5;
    Chat__Common__Source *sp[] = {&s};
    Chat__Common__ChatMessage m = CHAT__COMMON__CHAT_MESSAGE__INIT;
    m.role = "assistant";
    m.content = "49 EUR [1]";
    m.turn_id = "t_1";
    m.created_at_ms = 5;
    m.sources = sp;
    m.n_sources = 1;
    m.partial = 1;
    m.stop_reason = "error";
    json_t *j = sess_ckpt_message_to_json(&m, "t_1-1");
    cr_assert_not_null(j);
    expect_json(j, "{\"lc\":1,\"type\":\"constructor\",\"id\":[\"langchain_core\",\"messages\",\"AIMessage\"],"
                   "\"kwargs\":{\"content\":\"49 EUR [1]\",\"type\":\"ai\",\"id\":\"t_1-1\","
                   "\"additional_kwargs\":{\"turn_id\":\"t_1\",\"created_at_ms\":5,\"partial\":true,"
                   "\"sources\":[{\"chunk_id\":7,\"document_id\":2,\"title\":\"Pricing\","
                   "\"url\":\"https://example.com/pricing#team\",\"heading_path\":\"Pricing > Team\","
                   "\"score\":0.5,\"vector_score\":0.0,\"text_score\":0.0}]},"
                   "\"response_metadata\":{\"stop_reason\":\"error\"},"
                   "\"tool_calls\":[],\"invalid_tool_calls\":[]}}");
    json_decref(j);
}

Test(session_ckpt, unknown_role_is_refused)
{
    Chat__Common__ChatMessage m = CHAT__COMMON__CHAT_MESSAGE__INIT;
    m.role = "system";
    m.content = "x";
    cr_expect_null(sess_ckpt_message_to_json(&m, NULL));
}

Test(session_ckpt, message_round_trip)
{
    Chat__Common__Source s = CHAT__COMMON__SOURCE__INIT;
    s.chunk_id = 9;
    s.title = "FAQ";
    s.url = "https://example.com/faq";
    s.score = 0.25;
    Chat__Common__Source *sp[] = {&s};
    Chat__Common__ChatMessage m = CHAT__COMMON__CHAT_MESSAGE__INIT;
    m.role = "assistant";
    m.content = "line 1\nline \"2\"";
    m.turn_id = "t_abc";
    m.created_at_ms = 1700000000999;
    m.sources = sp;
    m.n_sources = 1;
    m.stop_reason = "end_turn";
    json_t *j = sess_ckpt_message_to_json(&m, "id");
    sess_arena a = SESS_ARENA_INIT;
    Chat__Common__ChatMessage back;
    cr_assert_eq(sess_ckpt_message_from_json(j, &a, &back), 0);
    cr_expect_str_eq(back.role, "assistant");
    cr_expect_str_eq(back.content, m.content);
    cr_expect_str_eq(back.turn_id, "t_abc");
    cr_expect_eq(back.created_at_ms, 1700000000999);
    cr_expect_str_eq(back.stop_reason, "end_turn");
    cr_expect_not(back.partial);
    cr_assert_eq(back.n_sources, 1);
    cr_expect_eq(back.sources[0]->chunk_id, 9);
    cr_expect_str_eq(back.sources[0]->url, "https://example.com/faq");
    cr_expect_float_eq(back.sources[0]->score, 0.25, 1e-9);
    json_decref(j);
    sess_arena_free(&a);
}

static const struct {
    const char *name, *json, *role, *content;
    int rc;
} from_cases[] = {
    {"python id path",
     "{\"lc\":1,\"type\":\"constructor\",\"id\":[\"langchain\",\"schema\",\"messages\",\"HumanMessage\"],"
     "\"kwargs\":{\"content\":\"hi\"}}",
     "user", "hi", 0},
    {"chunk class",
     "{\"lc\":1,\"type\":\"constructor\",\"id\":[\"langchain_core\",\"messages\",\"AIMessageChunk\"],"
     "\"kwargs\":{\"content\":\"yo\"}}",
     "assistant", "yo", 0},
    {"plain role object", "{\"role\":\"user\",\"content\":\"plain\"}", "user", "plain", 0},
    {"plain type object", "{\"type\":\"ai\",\"content\":\"typed\"}", "assistant", "typed", 0},
    {"content blocks",
     "{\"type\":\"ai\",\"content\":[{\"type\":\"text\",\"text\":\"a\"},{\"type\":\"tool_use\"},"
     "{\"type\":\"text\",\"text\":\"b\"}]}",
     "assistant", "ab", 0},
    {"system message is skipped",
     "{\"lc\":1,\"type\":\"constructor\",\"id\":[\"langchain_core\",\"messages\","
     "\"SystemMessage\"],\"kwargs\":{\"content\":\"be nice\",\"type\":\"system\"}}",
     NULL, NULL, 1},
    {"tool message is skipped", "{\"type\":\"tool\",\"content\":\"42\"}", NULL, NULL, 1},
    {"not an object", "[1]", NULL, NULL, 1},
};

Test(session_ckpt, messages_written_by_others_are_read)
{
    for (size_t i = 0; i < sizeof(from_cases) / sizeof(from_cases[0]); i++) {
        json_t *j = json_loads(from_cases[i].json, 0, NULL);
        cr_assert_not_null(j, "%s", from_cases[i].name);
        sess_arena a = SESS_ARENA_INIT;
        Chat__Common__ChatMessage m;
        int rc = sess_ckpt_message_from_json(j, &a, &m);
        cr_expect_eq(rc, from_cases[i].rc, "%s", from_cases[i].name);
        if (rc == 0) {
            cr_expect_str_eq(m.role, from_cases[i].role, "%s", from_cases[i].name);
            cr_expect_str_eq(m.content, from_cases[i].content, "%s", from_cases[i].name);
            cr_expect_str_eq(m.turn_id, "", "%s", from_cases[i].name);
            cr_expect_eq(m.n_sources, 0);
        }
        json_decref(j);
        sess_arena_free(&a);
    }
}

/* ------------------------------------------------------------ history */

#define LC(cls, type, c)                                                                                               \
    "{\"lc\":1,\"type\":\"constructor\",\"id\":[\"langchain_core\",\"messages\",\"" cls "\"],"                         \
    "\"kwargs\":{\"content\":\"" c "\",\"type\":\"" type "\"}}"
#define H(c) LC("HumanMessage", "human", c)
#define A(c) LC("AIMessage", "ai", c)
#define SYS "{\"type\":\"system\",\"content\":\"sys\"}"

static char *history(const char *blob, unsigned limit, int *rc)
{
    sess_arena a = SESS_ARENA_INIT;
    Chat__Common__ChatMessage **m = NULL;
    size_t n = 0;
    *rc = sess_ckpt_history(blob, strlen(blob), limit, &a, &m, &n);
    static char out[256];
    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        strcat(out, i ? "," : "");
        strcat(out, m[i]->role[0] == 'u' ? "u:" : "a:");
        strcat(out, m[i]->content);
    }
    sess_arena_free(&a);
    return out;
}

Test(session_ckpt, history_is_the_last_messages_oldest_first)
{
    const char *blob = "[" SYS "," H("1") "," A("2") "," H("3") "," A("4") "]";
    int rc;
    cr_expect_str_eq(history(blob, 20, &rc), "u:1,a:2,u:3,a:4");
    cr_expect_eq(rc, 0);
    cr_expect_str_eq(history(blob, 2, &rc), "u:3,a:4");
    cr_expect_str_eq(history(blob, 3, &rc), "a:2,u:3,a:4");
    cr_expect_str_eq(history("[" H("1") "," SYS "," A("2") "]", 2, &rc), "u:1,a:2", "a system message is not counted");
    cr_expect_str_eq(history("[]", 20, &rc), "");
    cr_expect_eq(rc, 0);
}

Test(session_ckpt, history_of_a_broken_blob_is_an_error)
{
    int rc;
    history("{\"messages\":[]}", 20, &rc);
    cr_expect_eq(rc, -1);
    history("[" H("1"), 20, &rc);
    cr_expect_eq(rc, -1);
}

/* ------------------------------------------------------------ the messages blob */

static char *append(const char *prev, const char *add_text)
{
    json_t *add = json_loads(add_text, 0, NULL);
    cr_assert_not_null(add);
    size_t n = 0;
    char *r = sess_ckpt_messages_append(prev, prev ? strlen(prev) : 0, add, &n);
    json_decref(add);
    if (r != NULL) {
        cr_expect_eq(n, strlen(r));
    }
    return r;
}

Test(session_ckpt, append_splices_new_messages_after_the_old_ones)
{
    static const struct {
        const char *name, *prev, *add, *want;
    } cases[] = {
        {"new thread", NULL, "[{\"a\":1},{\"b\":2}]", "[{\"a\":1},{\"b\":2}]"},
        {"empty array", "[]", "[{\"a\":1}]", "[{\"a\":1}]"},
        {"empty array with spaces", " [ \n ] ", "[{\"a\":1}]", "[{\"a\":1}]"},
        {"old bytes kept as they are", "[{\"x\": 1,  \"y\":[]}]", "[{\"a\":1}]", "[{\"x\": 1,  \"y\":[]},{\"a\":1}]"},
        {"trailing newline", "[1,2]\n", "[3,4]", "[1,2,3,4]"},
        {"nothing to add", "[1]", "[]", "[1]"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *r = append(cases[i].prev, cases[i].add);
        cr_assert_not_null(r, "%s", cases[i].name);
        cr_expect_str_eq(r, cases[i].want, "%s", cases[i].name);
        json_t *check = json_loads(r, 0, NULL);
        cr_expect(json_is_array(check), "%s: valid JSON", cases[i].name);
        json_decref(check);
        free(r);
    }
}

Test(session_ckpt, append_refuses_a_blob_that_is_not_an_array)
{
    cr_expect_null(append("{}", "[1]"));
    cr_expect_null(append("", "[1]"));
    cr_expect_null(append("[", "[1]"));
}

/* ------------------------------------------------------------ lead */

Test(session_ckpt, lead_round_trip)
{
    Chat__Common__LeadState l = CHAT__COMMON__LEAD_STATE__INIT;
    l.name = "Ada";
    l.email = "ada@example.com";
    l.need = "a demo";
    l.consent = 1;
    l.qualified = 1;
    l.extra_json = "{\"industry\":\"retail\",\"seats\":12}";
    json_t *j = sess_ckpt_lead_to_json(&l);
    cr_assert_not_null(j);
    expect_json(j,
                "{\"name\":\"Ada\",\"email\":\"ada@example.com\",\"phone\":\"\",\"company\":\"\",\"need\":\"a demo\","
                "\"team_size\":\"\",\"timeline\":\"\",\"budget\":\"\",\"consent\":true,\"qualified\":true,"
                "\"handed_off\":false,\"extra\":{\"industry\":\"retail\",\"seats\":12}}");
    sess_arena a = SESS_ARENA_INIT;
    Chat__Common__LeadState back = CHAT__COMMON__LEAD_STATE__INIT;
    cr_assert_eq(sess_ckpt_lead_from_json(j, &a, &back), 0);
    cr_expect_str_eq(back.name, "Ada");
    cr_expect_str_eq(back.email, "ada@example.com");
    cr_expect_str_eq(back.phone, "");
    cr_expect(back.consent && back.qualified && !back.handed_off);
    json_t *extra = json_loads(back.extra_json, 0, NULL);
    expect_json(extra, l.extra_json);
    json_decref(extra);
    json_decref(j);
    sess_arena_free(&a);
}

Test(session_ckpt, lead_extra_must_be_an_object)
{
    Chat__Common__LeadState l = CHAT__COMMON__LEAD_STATE__INIT;
    l.extra_json = "[1,2]";
    cr_expect_null(sess_ckpt_lead_to_json(&l));
    l.extra_json = "{not json";
    cr_expect_null(sess_ckpt_lead_to_json(&l));
    l.extra_json = "";
    json_t *j = sess_ckpt_lead_to_json(&l);
    cr_expect_not_null(j);
    json_decref(j);
}

/* ------------------------------------------------------------ checkpoint */

Test(session_ckpt, first_checkpoint_of_a_thread)
{
    char id[SESS_UUID_LEN + 1];
    uint64_t ts;
    cr_assert_eq(sess_uuid6_next(NULL, id, &ts), 0);
    sess_ckpt_next_in in = {.id = id, .ts = ts, .turn_id = "t_1", .rnd = {1, 2, 3}};
    sess_ckpt_next_out out;
    cr_assert_eq(sess_ckpt_next(&in, &out), 0);
    json_t *cp = json_loads(out.checkpoint, 0, NULL);
    json_t *meta = json_loads(out.metadata, 0, NULL);
    cr_assert_not_null(cp);
    cr_assert_not_null(meta);
    cr_expect_eq(json_integer_value(json_object_get(cp, "v")), 4);
    cr_expect_str_eq(json_string_value(json_object_get(cp, "id")), id);
    cr_expect(matches("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{6}\\+00:00$",
                      json_string_value(json_object_get(cp, "ts"))));
    expect_json(json_object_get(cp, "channel_values"), "{}");
    expect_json(json_object_get(cp, "channel_versions"),
                "{\"__start__\":\"00000000000000000000000000000001.0.0000000000000001\","
                "\"messages\":\"00000000000000000000000000000002.0.0000000000000002\","
                "\"lead\":\"00000000000000000000000000000002.0.0000000000000003\"}");
    expect_json(
        json_object_get(cp, "versions_seen"),
        "{\"__input__\":{},\"__start__\":{\"__start__\":\"00000000000000000000000000000001.0.0000000000000001\"}}");
    expect_json(json_object_get(cp, "updated_channels"), "[\"messages\",\"lead\"]");
    expect_json(meta, "{\"source\":\"loop\",\"step\":1,\"parents\":{},\"turn_id\":\"t_1\"}");
    cr_expect_str_eq(out.messages_version, "00000000000000000000000000000002.0.0000000000000002");
    cr_expect_str_eq(out.lead_version, "00000000000000000000000000000002.0.0000000000000003");
    json_decref(cp);
    json_decref(meta);
    sess_ckpt_next_free(&out);
}

#define PARENT                                                                                                         \
    "{\"v\":4,\"id\":\"x\",\"ts\":\"t\",\"channel_values\":{},"                                                        \
    "\"channel_versions\":{\"__start__\":\"00000000000000000000000000000003.0.1\","                                    \
    "\"messages\":\"00000000000000000000000000000004.0.2\",\"lead\":\"00000000000000000000000000000002.0.3\","         \
    "\"custom\":\"00000000000000000000000000000005.0.4\"},"                                                            \
    "\"versions_seen\":{\"__start__\":{\"__start__\":\"00000000000000000000000000000003.0.1\"},"                       \
    "\"agent\":{\"messages\":\"00000000000000000000000000000004.0.2\"}},\"updated_channels\":[\"messages\"]}"

Test(session_ckpt, next_checkpoint_keeps_what_it_does_not_change)
{
    sess_ckpt_next_in in = {.parent = PARENT,
                            .parent_step = 6,
                            .parent_has_lead = 1,
                            .id = "id2",
                            .ts = 1,
                            .turn_id = "t_2",
                            .lead_changed = 0,
                            .rnd = {7, 8, 9}};
    sess_ckpt_next_out out;
    cr_assert_eq(sess_ckpt_next(&in, &out), 0);
    json_t *cp = json_loads(out.checkpoint, 0, NULL);
    /* max version was 5 (another channel): the input is 6, the step's writes 7. */
    expect_json(json_object_get(cp, "channel_versions"),
                "{\"__start__\":\"00000000000000000000000000000006.0.0000000000000007\","
                "\"messages\":\"00000000000000000000000000000007.0.0000000000000008\","
                "\"lead\":\"00000000000000000000000000000002.0.3\","
                "\"custom\":\"00000000000000000000000000000005.0.4\"}");
    expect_json(
        json_object_get(cp, "versions_seen"),
        "{\"__input__\":{},\"__start__\":{\"__start__\":\"00000000000000000000000000000006.0.0000000000000007\"},"
        "\"agent\":{\"messages\":\"00000000000000000000000000000004.0.2\"}}");
    expect_json(json_object_get(cp, "updated_channels"), "[\"messages\"]");
    cr_expect_str_eq(out.lead_version, "", "an unchanged lead is not written again");
    cr_expect_eq(out.step, 7);
    json_t *meta = json_loads(out.metadata, 0, NULL);
    cr_expect_eq(json_integer_value(json_object_get(meta, "step")), 7);
    json_decref(meta);
    json_decref(cp);
    sess_ckpt_next_free(&out);

    in.lead_changed = 1;
    cr_assert_eq(sess_ckpt_next(&in, &out), 0);
    cr_expect_str_eq(out.lead_version, "00000000000000000000000000000007.0.0000000000000009");
    sess_ckpt_next_free(&out);

    in.lead_changed = 0;
    in.parent_has_lead = 0; /* the parent names a lead blob that is missing: write one */
    cr_assert_eq(sess_ckpt_next(&in, &out), 0);
    cr_expect_str_neq(out.lead_version, "");
    sess_ckpt_next_free(&out);
}

Test(session_ckpt, next_checkpoint_of_a_broken_parent_is_an_error)
{
    sess_ckpt_next_in in = {.parent = "[1]", .id = "id", .turn_id = "t"};
    sess_ckpt_next_out out;
    cr_expect_eq(sess_ckpt_next(&in, &out), -1);
    in.parent = "not json";
    cr_expect_eq(sess_ckpt_next(&in, &out), -1);
}
