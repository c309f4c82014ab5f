/* chat/mcp_chat_ctx: history from stored rows (tool calls and results
   paired), repair of cut requests, newest-first assembly within the
   budget, always ending with the current messages. */

#include <stdlib.h>

#include "unit.h"
#include "chat/mcp_chat_ctx.h"

static mcp_repo_msg_t
row(mcp_msg_type_e type, const char *content, const char *rid, int64_t part,
    const char *call_id, const char *name)
{
    mcp_repo_msg_t  m;

    memset(&m, 0, sizeof(m));
    m.type = type;
    m.content = (char *) content;
    m.content_len = strlen(content);
    m.request_id = (char *) rid;
    m.part = part;
    m.tool_call_id = (char *) call_id;
    m.name = (char *) name;
    return m;
}

static const char *
role_of(json_t *arr, size_t i)
{
    return json_string_value(json_object_get(json_array_get(arr, i), "role"));
}

static void
add(mcp_chat_hist_t *h, mcp_repo_msg_t m)
{
    CHECK(mcp_chat_hist_add_row(h, &m, NULL) == 0);
}

static void
test_ctx_rows_with_tools(void)
{
    mcp_chat_hist_t   h;
    json_t           *calls, *cur, *out;
    int64_t           tokens;
    size_t            used;

    mcp_chat_hist_init(&h);
    add(&h, row(MCP_MSG_USER, "add 2 and 3", "r1", 0, NULL, NULL));
    add(&h, row(MCP_MSG_ASSISTANT, "let me add", "r1", 0, NULL, NULL));
    add(&h, row(MCP_MSG_TOOL_CALL, "{\"a\":2,\"b\":3}", "r1",
                MCP_CHAT_PART(0, 0), "call_1", "everything__get-sum"));
    add(&h, row(MCP_MSG_TOOL_CALL, "{}", "r1", MCP_CHAT_PART(0, 1), "call_2",
                "everything__echo"));
    add(&h, row(MCP_MSG_TOOL_RESULT, "5", "r1", MCP_CHAT_PART(0, 0),
                "call_1", "everything__get-sum"));
    add(&h, row(MCP_MSG_TOOL_RESULT, "echo", "r1", MCP_CHAT_PART(0, 1),
                "call_2", "everything__echo"));
    add(&h, row(MCP_MSG_ASSISTANT, "It is 5.", "r1", 1, NULL, NULL));
    mcp_chat_hist_repair(&h);

    CHECK_EQ_INT(h.n, 5);
    CHECK_EQ_STR(json_string_value(json_object_get(h.items[1].msg,
                                                   "content")), "let me add");
    calls = json_object_get(h.items[1].msg, "tool_calls");
    CHECK_EQ_INT(json_array_size(calls), 2);
    CHECK_EQ_STR(json_string_value(json_object_get(json_object_get(
        json_array_get(calls, 0), "function"), "name")),
        "everything__get-sum");

    cur = json_pack("[{s:s, s:s}]", "role", "user", "content", "and 4+4?");
    out = mcp_chat_assemble("sys", &h, cur, 100000, 0, &tokens, &used);
    CHECK_EQ_INT(json_array_size(out), 7);
    CHECK_EQ_STR(role_of(out, 0), "system");
    CHECK_EQ_STR(role_of(out, 1), "user");
    CHECK_EQ_STR(role_of(out, 3), "tool");
    CHECK_EQ_STR(role_of(out, 5), "assistant");
    CHECK_EQ_STR(role_of(out, 6), "user");
    CHECK_EQ_INT(used, 5);
    CHECK(tokens > 0);
    json_decref(out);
    json_decref(cur);
    mcp_chat_hist_clear(&h);
}

static void
test_ctx_repair_cut_request(void)
{
    mcp_chat_hist_t  h;

    mcp_chat_hist_init(&h);
    /* results whose call was cut off by the history budget */
    add(&h, row(MCP_MSG_TOOL_RESULT, "5", "r0", 0, "call_0", "t"));
    add(&h, row(MCP_MSG_USER, "hi", "r1", 0, NULL, NULL));
    /* a call whose request failed before its result was stored */
    add(&h, row(MCP_MSG_TOOL_CALL, "{}", "r1", 0, "call_1", "t"));
    add(&h, row(MCP_MSG_USER, "again", "r2", 0, NULL, NULL));
    mcp_chat_hist_repair(&h);
    CHECK_EQ_INT(h.n, 2);
    CHECK_EQ_STR(json_string_value(json_object_get(h.items[0].msg,
                                                   "content")), "hi");
    CHECK_EQ_STR(json_string_value(json_object_get(h.items[1].msg,
                                                   "content")), "again");
    mcp_chat_hist_clear(&h);
}

static void
test_ctx_budget_newest_first(void)
{
    mcp_chat_hist_t   h;
    json_t           *cur, *out;
    char              text[64];
    int64_t           tokens, one;
    size_t            used;
    int               i;

    mcp_chat_hist_init(&h);
    for (i = 0; i < 20; i++) {
        snprintf(text, sizeof(text), "message number %02d padding", i);
        add(&h, row(MCP_MSG_USER, text, "r", i,
                    NULL, NULL));
    }
    one = h.items[0].tokens;
    cur = json_pack("[{s:s, s:s}]", "role", "user", "content", "now");

    /* room for exactly 5 history messages above the fixed part */
    out = mcp_chat_assemble(NULL, &h, cur, 0, 0, &tokens, &used);
    CHECK_EQ_INT(used, 0);                      /* nothing fits ... */
    CHECK_EQ_INT(json_array_size(out), 1);      /* ... but the user message */
    json_decref(out);

    out = mcp_chat_assemble(NULL, &h, cur, tokens + 5 * one + 10, 10,
                            &tokens, &used);
    CHECK_EQ_INT(used, 5);
    /* the newest five, in order, then the current message */
    CHECK_EQ_STR(json_string_value(json_object_get(json_array_get(out, 0),
                 "content")), "message number 15 padding");
    CHECK_EQ_STR(json_string_value(json_object_get(json_array_get(out, 5),
                 "content")), "now");
    json_decref(out);

    /* a repeated text is not dropped (the original deduplicated by
       content and could lose the current message) */
    json_decref(cur);
    cur = json_pack("[{s:s, s:s}]", "role", "user", "content",
                    "message number 18 padding");
    out = mcp_chat_assemble(NULL, &h, cur, 100000, 0, NULL, &used);
    CHECK_EQ_INT(used, 20);
    CHECK_EQ_STR(json_string_value(json_object_get(json_array_get(out, 20),
                 "content")), "message number 18 padding");
    json_decref(out);

    mcp_chat_hist_trim(&h, 3 * one);
    CHECK_EQ_INT(h.n, 3);
    json_decref(cur);
    mcp_chat_hist_clear(&h);
}

static void
test_ctx_units_not_split(void)
{
    mcp_chat_hist_t   h;
    json_t           *cur, *out;
    int64_t           tokens, unit;
    size_t            used;

    mcp_chat_hist_init(&h);
    add(&h, row(MCP_MSG_USER, "q", "r1", 0, NULL, NULL));
    add(&h, row(MCP_MSG_TOOL_CALL, "{}", "r1", 0, "c1", "t"));
    add(&h, row(MCP_MSG_TOOL_RESULT, "a long result text here", "r1", 0,
                "c1", "t"));
    add(&h, row(MCP_MSG_ASSISTANT, "done", "r1", 1, NULL, NULL));
    mcp_chat_hist_repair(&h);
    CHECK_EQ_INT(h.n, 4);
    cur = json_array();
    out = mcp_chat_assemble(NULL, &h, cur, 0, 0, &tokens, &used);
    json_decref(out);
    /* room for the last assistant and the result, but not the call: the
       result must not go alone */
    unit = h.items[3].tokens + h.items[2].tokens;
    out = mcp_chat_assemble(NULL, &h, cur, tokens + unit, 0, NULL, &used);
    CHECK_EQ_INT(used, 1);
    CHECK_EQ_STR(role_of(out, 0), "assistant");
    json_decref(out);
    json_decref(cur);
    mcp_chat_hist_clear(&h);
}

/* the dump a provider sends is json_dumps of the assembled array, byte for
   byte, also after a kept dump's message changed (a call joined it) */
static void
check_dump(mcp_chat_hist_t *h, const char *system, json_t *cur,
    int64_t max_tokens)
{
    json_t  *out;
    size_t   used, len;
    char    *want, *got;

    out = mcp_chat_assemble(system, h, cur, max_tokens, 0, NULL, &used);
    want = json_dumps(out, JSON_COMPACT);
    got = mcp_chat_messages_dump(h, out, used, &len);
    CHECK(want != NULL && got != NULL);
    CHECK_EQ_STR(got, want);
    CHECK_EQ_INT(len, strlen(want));
    free(want);
    free(got);
    json_decref(out);
}

static void
test_ctx_messages_dump(void)
{
    mcp_chat_hist_t   h;
    json_t           *cur, *none;
    int64_t           tokens;
    size_t            used;

    mcp_chat_hist_init(&h);
    cur = json_pack("[{s:s, s:s}]", "role", "user", "content", "q\"2\u00e9");
    none = json_array();
    check_dump(&h, "sys", cur, 100000);         /* no history */
    check_dump(&h, NULL, none, 100000);         /* nothing at all */

    add(&h, row(MCP_MSG_USER, "add 2 and 3", "r1", 0, NULL, NULL));
    add(&h, row(MCP_MSG_ASSISTANT, "let me add", "r1", 0, NULL, NULL));
    check_dump(&h, "sys", cur, 100000);         /* the dumps are made */
    CHECK(h.items[1].json != NULL);
    add(&h, row(MCP_MSG_TOOL_CALL, "{\"a\":2}", "r1", MCP_CHAT_PART(0, 0),
                "call_1", "sum"));
    CHECK(h.items[1].json == NULL);             /* the call joined it */
    add(&h, row(MCP_MSG_TOOL_RESULT, "5", "r1", MCP_CHAT_PART(0, 0),
                "call_1", "sum"));
    add(&h, row(MCP_MSG_ASSISTANT, "It is 5.", "r1", 1, NULL, NULL));
    check_dump(&h, "sys", cur, 100000);
    check_dump(&h, "sys", cur, 100000);         /* the kept dumps again */
    check_dump(&h, NULL, none, 100000);

    /* only the newest fit: the dump starts where the history sent does */
    json_decref(mcp_chat_assemble(NULL, &h, none, 0, 0, &tokens, &used));
    check_dump(&h, NULL, none, tokens + h.items[4].tokens);

    mcp_chat_hist_repair(&h);
    check_dump(&h, "sys", cur, 100000);
    mcp_chat_hist_trim(&h, h.items[4].tokens);
    check_dump(&h, "sys", cur, 100000);
    json_decref(cur);
    json_decref(none);
    mcp_chat_hist_clear(&h);
}

UNIT_MAIN("chat_ctx",
    UNIT_TEST(test_ctx_messages_dump),
    UNIT_TEST(test_ctx_rows_with_tools),
    UNIT_TEST(test_ctx_repair_cut_request),
    UNIT_TEST(test_ctx_budget_newest_first),
    UNIT_TEST(test_ctx_units_not_split))
