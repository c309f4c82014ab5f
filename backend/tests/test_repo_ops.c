/*
 * Repository operations end to end through the asynchronous interface:
 * conversations, appends of every type, byte-exact content, idempotency,
 * history within a token budget, lookup, list, delete, export, schema
 * versioning, persistence disabled.
 */

#include <sqlite3.h>

#include "unit.h"
#include "test_repo_util.h"

static t_env_t  env;
static t_res_t  res;


static void
test_conversation_open(void)
{
    char  id[128];

    t_env_init(&env);
    CHECK(t_env_open(&env) != NULL);

    CHECK(t_open_conv(&env, &res, "alice", NULL) == 0);
    CHECK_EQ_INT(res.status, MCP_REPO_OK);
    CHECK_EQ_INT(res.created, 1);
    CHECK_EQ_INT(strlen(res.conv), 36);
    snprintf(id, sizeof(id), "%s", res.conv);

    /* found again, not created */
    CHECK(t_open_conv(&env, &res, "alice", id) == 0);
    CHECK_EQ_INT(res.status, MCP_REPO_OK);
    CHECK_EQ_INT(res.created, 0);
    CHECK_EQ_STR(res.conv, id);

    /* another principal does not see it */
    CHECK(t_open_conv(&env, &res, "bob", id) == 0);
    CHECK_EQ_INT(res.status, MCP_REPO_ENOTFOUND);
    CHECK(strstr(res.error, id) != NULL);

    /* a chosen id */
    CHECK(t_open_conv(&env, &res, "bob", "bob-1") == 0);
    CHECK_EQ_INT(res.created, 1);
    CHECK_EQ_STR(res.conv, "bob-1");

    t_res_clear(&res);
    t_env_done(&env);
}


static void
test_byte_exact(void)
{
    static const char  nul[] = "a\0b\0c";
    const char        *texts[] = {
        "[1,2] starts like JSON but is text",
        "[a link](https://example.com) *markdown*",
        "{\"json\": [1, 2, {\"x\": null}]}",
        "héllo wörld — 日本語 🎉",
        "",
        "  leading and trailing spaces \n\t",
        "'; DROP TABLE messages; --",
    };
    size_t  i, n = sizeof(texts) / sizeof(texts[0]);

    t_env_init(&env);
    CHECK(t_env_open(&env) != NULL);
    CHECK(t_open_conv(&env, &res, "p", "c1") == 0);

    for (i = 0; i < n; i++) {
        CHECK(t_append(&env, &res, "c1", MCP_MSG_USER, texts[i],
                       strlen(texts[i]), NULL, 1, 0) == 0);
        CHECK_EQ_INT(res.status, MCP_REPO_OK);
        CHECK(res.id > 0);
    }
    CHECK(t_append(&env, &res, "c1", MCP_MSG_ASSISTANT, nul, sizeof(nul) - 1,
                   NULL, 1, 0) == 0);
    CHECK_EQ_INT(res.status, MCP_REPO_OK);

    CHECK(t_history(&env, &res, "c1", 1000, 0) == 0);
    CHECK_EQ_INT(res.n_msgs, n + 1);
    for (i = 0; i < n && i < res.n_msgs; i++) {
        CHECK_EQ_INT(res.msgs[i].content_len, strlen(texts[i]));
        CHECK(memcmp(res.msgs[i].content, texts[i], strlen(texts[i])) == 0);
        CHECK_EQ_INT(res.msgs[i].type, MCP_MSG_USER);
    }
    CHECK_EQ_INT(res.msgs[n].content_len, sizeof(nul) - 1);
    CHECK(memcmp(res.msgs[n].content, nul, sizeof(nul) - 1) == 0);

    t_res_clear(&res);
    t_env_done(&env);
}


static void
test_message_types_and_fields(void)
{
    mcp_repo_append_t  a;

    t_env_init(&env);
    CHECK(t_env_open(&env) != NULL);
    CHECK(t_open_conv(&env, &res, "p", "c") == 0);

    CHECK(t_append(&env, &res, "c", MCP_MSG_USER, "weather?", 8, "r1", 3, 0)
          == 0);
    memset(&a, 0, sizeof(a));
    a.msg.conversation_id = "c";
    a.msg.type = MCP_MSG_TOOL_CALL;
    a.msg.content = "";
    a.msg.tool_calls = "[{\"id\":\"call_1\",\"type\":\"function\","
                       "\"function\":{\"name\":\"get\",\"arguments\":\"{}\"}}]";
    a.msg.model = "gpt-x";
    a.msg.request_id = "r1";
    a.msg.token_count = 7;
    t_res_clear(&res);
    CHECK(mcp_repo_append(env.repo, &a, t_cb, &res) == 0);
    CHECK(t_wait(&env.loop, &res.done) == 0);
    CHECK_EQ_INT(res.status, MCP_REPO_OK);

    memset(&a, 0, sizeof(a));
    a.msg.conversation_id = "c";
    a.msg.type = MCP_MSG_TOOL_RESULT;
    a.msg.content = "{\"temp\": 21}";
    a.msg.content_len = strlen(a.msg.content);
    a.msg.tool_call_id = "call_1";
    a.msg.name = "get";
    a.msg.request_id = "r1";
    a.msg.token_count = 5;
    t_res_clear(&res);
    CHECK(mcp_repo_append(env.repo, &a, t_cb, &res) == 0);
    CHECK(t_wait(&env.loop, &res.done) == 0);
    CHECK_EQ_INT(res.status, MCP_REPO_OK);

    memset(&a, 0, sizeof(a));
    a.msg.conversation_id = "c";
    a.msg.type = MCP_MSG_ASSISTANT;
    a.msg.content = "It is 21 degrees.";
    a.msg.content_len = strlen(a.msg.content);
    a.msg.model = "gpt-x";
    a.msg.usage = "{\"prompt_tokens\":10,\"completion_tokens\":5}";
    a.msg.request_id = "r1";
    a.msg.token_count = 6;
    a.msg.created_at = 1700000000123;
    a.final = 1;
    t_res_clear(&res);
    CHECK(mcp_repo_append(env.repo, &a, t_cb, &res) == 0);
    CHECK(t_wait(&env.loop, &res.done) == 0);
    CHECK_EQ_INT(res.status, MCP_REPO_OK);

    /* lookup by request id: all four rows, in order, request done */
    t_res_clear(&res);
    CHECK(mcp_repo_lookup_request(env.repo, "c", "r1", t_cb, &res) == 0);
    CHECK(t_wait(&env.loop, &res.done) == 0);
    CHECK_EQ_INT(res.status, MCP_REPO_OK);
    CHECK_EQ_INT(res.request_state, MCP_REQ_DONE);
    CHECK_EQ_INT(res.n_msgs, 4);
    if (res.n_msgs == 4) {
        CHECK_EQ_INT(res.msgs[0].type, MCP_MSG_USER);
        CHECK_EQ_INT(res.msgs[1].type, MCP_MSG_TOOL_CALL);
        CHECK(strstr(res.msgs[1].tool_calls, "call_1") != NULL);
        CHECK_EQ_STR(res.msgs[1].model, "gpt-x");
        CHECK_EQ_INT(res.msgs[2].type, MCP_MSG_TOOL_RESULT);
        CHECK_EQ_STR(res.msgs[2].tool_call_id, "call_1");
        CHECK_EQ_INT(res.msgs[3].type, MCP_MSG_ASSISTANT);
        CHECK_EQ_STR(res.msgs[3].usage,
                     "{\"prompt_tokens\":10,\"completion_tokens\":5}");
        CHECK_EQ_INT(res.msgs[3].created_at, 1700000000123);
        CHECK_EQ_INT(res.msgs[3].token_count, 6);
        CHECK(res.msgs[0].created_at > 1700000000000);
    }

    /* unknown request */
    t_res_clear(&res);
    CHECK(mcp_repo_lookup_request(env.repo, "c", "nope", t_cb, &res) == 0);
    CHECK(t_wait(&env.loop, &res.done) == 0);
    CHECK_EQ_INT(res.status, MCP_REPO_OK);
    CHECK_EQ_INT(res.request_state, MCP_REQ_NONE);
    CHECK_EQ_INT(res.n_msgs, 0);

    t_res_clear(&res);
    t_env_done(&env);
}


static void
test_idempotency(void)
{
    int64_t  first;

    t_env_init(&env);
    CHECK(t_env_open(&env) != NULL);
    CHECK(t_open_conv(&env, &res, "p", "c") == 0);

    CHECK(t_append(&env, &res, "c", MCP_MSG_USER, "hi", 2, "rq", 1, 0) == 0);
    CHECK_EQ_INT(res.duplicate, 0);
    first = res.id;

    /* repeated while in flight: not written, state open */
    CHECK(t_append(&env, &res, "c", MCP_MSG_USER, "hi again", 8, "rq", 1, 0)
          == 0);
    CHECK_EQ_INT(res.status, MCP_REPO_OK);
    CHECK_EQ_INT(res.duplicate, 1);
    CHECK_EQ_INT(res.id, first);
    CHECK_EQ_INT(res.request_state, MCP_REQ_OPEN);
    CHECK_EQ_INT(res.n_msgs, 1);

    CHECK(t_append(&env, &res, "c", MCP_MSG_ASSISTANT, "hello!", 6, "rq", 2,
                   1) == 0);
    CHECK_EQ_INT(res.duplicate, 0);

    /* the answer stored twice would be the original's streaming bug */
    CHECK(t_append(&env, &res, "c", MCP_MSG_ASSISTANT, "hello!", 6, "rq", 2,
                   1) == 0);
    CHECK_EQ_INT(res.duplicate, 1);

    /* repeated after completion: the stored answer comes back */
    CHECK(t_append(&env, &res, "c", MCP_MSG_USER, "hi", 2, "rq", 1, 0) == 0);
    CHECK_EQ_INT(res.duplicate, 1);
    CHECK_EQ_INT(res.request_state, MCP_REQ_DONE);
    CHECK_EQ_INT(res.n_msgs, 2);
    if (res.n_msgs == 2) {
        CHECK_EQ_STR(res.msgs[1].content, "hello!");
    }

    /* the same request id in another conversation is another request */
    CHECK(t_open_conv(&env, &res, "p", "d") == 0);
    CHECK(t_append(&env, &res, "d", MCP_MSG_USER, "hi", 2, "rq", 1, 0) == 0);
    CHECK_EQ_INT(res.duplicate, 0);

    CHECK(t_history(&env, &res, "c", 100, 0) == 0);
    CHECK_EQ_INT(res.n_msgs, 2);

    /* request_end closes a request that got no answer */
    CHECK(t_append(&env, &res, "c", MCP_MSG_USER, "x", 1, "rq2", 1, 0) == 0);
    t_res_clear(&res);
    CHECK(mcp_repo_request_end(env.repo, "c", "rq2", t_cb, &res) == 0);
    CHECK(t_wait(&env.loop, &res.done) == 0);
    CHECK_EQ_INT(res.status, MCP_REPO_OK);
    t_res_clear(&res);
    CHECK(mcp_repo_lookup_request(env.repo, "c", "rq2", t_cb, &res) == 0);
    CHECK(t_wait(&env.loop, &res.done) == 0);
    CHECK_EQ_INT(res.request_state, MCP_REQ_DONE);

    t_res_clear(&res);
    t_env_done(&env);
}


static void
test_history_budget(void)
{
    char  text[32];
    int   i;

    t_env_init(&env);
    CHECK(t_env_open(&env) != NULL);
    CHECK(t_open_conv(&env, &res, "p", "c") == 0);
    for (i = 1; i <= 10; i++) {
        snprintf(text, sizeof(text), "m%d", i);
        CHECK(t_append(&env, &res, "c", i % 2 ? MCP_MSG_USER
                       : MCP_MSG_ASSISTANT, text, strlen(text), NULL, 10, 0)
              == 0);
    }

    /* 35 tokens: the newest three (30), chronological */
    CHECK(t_history(&env, &res, "c", 35, 0) == 0);
    CHECK_EQ_INT(res.n_msgs, 3);
    CHECK_EQ_INT(res.tokens, 30);
    if (res.n_msgs == 3) {
        CHECK_EQ_STR(res.msgs[0].content, "m8");
        CHECK_EQ_STR(res.msgs[2].content, "m10");
        CHECK(res.msgs[0].id < res.msgs[1].id);
    }
    CHECK(t_history(&env, &res, "c", 1000, 4) == 0);
    CHECK_EQ_INT(res.n_msgs, 4);
    if (res.n_msgs == 4) {
        CHECK_EQ_STR(res.msgs[0].content, "m7");
    }
    CHECK(t_history(&env, &res, "c", 5, 0) == 0);
    CHECK_EQ_INT(res.n_msgs, 0);
    CHECK(t_history(&env, &res, "nope", 100, 0) == 0);
    CHECK_EQ_INT(res.status, MCP_REPO_OK);
    CHECK_EQ_INT(res.n_msgs, 0);

    t_res_clear(&res);
    t_env_done(&env);
}


static void
test_list_delete_export(void)
{
    json_t  *doc, *msgs;

    t_env_init(&env);
    CHECK(t_env_open(&env) != NULL);
    CHECK(t_open_conv(&env, &res, "alice", "a1") == 0);
    CHECK(t_open_conv(&env, &res, "alice", "a2") == 0);
    CHECK(t_open_conv(&env, &res, "bob", "b1") == 0);
    CHECK(t_append(&env, &res, "a1", MCP_MSG_USER, "[x](y) \"q\"", 10, "r", 4,
                   0) == 0);
    CHECK(t_append(&env, &res, "a1", MCP_MSG_ASSISTANT, "ok", 2, "r", 1, 1)
          == 0);

    t_res_clear(&res);
    CHECK(mcp_repo_list(env.repo, "alice", 0, t_cb, &res) == 0);
    CHECK(t_wait(&env.loop, &res.done) == 0);
    CHECK_EQ_INT(res.n_convs, 2);
    if (res.n_convs == 2) {
        CHECK_EQ_STR(res.convs[0], "a1");       /* most recently updated */
        CHECK_EQ_INT(res.conv_msgs[0], 2);
    }

    t_res_clear(&res);
    CHECK(mcp_repo_export(env.repo, "alice", "a1", t_cb, &res) == 0);
    CHECK(t_wait(&env.loop, &res.done) == 0);
    CHECK_EQ_INT(res.status, MCP_REPO_OK);
    CHECK(res.json != NULL);
    doc = res.json ? json_loads(res.json, 0, NULL) : NULL;
    CHECK(doc != NULL);
    if (doc) {
        CHECK_EQ_STR(json_string_value(json_object_get(doc, "id")), "a1");
        msgs = json_object_get(doc, "messages");
        CHECK_EQ_INT(json_array_size(msgs), 2);
        CHECK_EQ_STR(json_string_value(json_object_get(
            json_array_get(msgs, 0), "content")), "[x](y) \"q\"");
        CHECK_EQ_STR(json_string_value(json_object_get(
            json_array_get(msgs, 1), "role")), "assistant");
        json_decref(doc);
    }

    /* bob can neither export nor delete alice's conversation */
    t_res_clear(&res);
    CHECK(mcp_repo_export(env.repo, "bob", "a1", t_cb, &res) == 0);
    CHECK(t_wait(&env.loop, &res.done) == 0);
    CHECK_EQ_INT(res.status, MCP_REPO_ENOTFOUND);
    t_res_clear(&res);
    CHECK(mcp_repo_delete(env.repo, "bob", "a1", t_cb, &res) == 0);
    CHECK(t_wait(&env.loop, &res.done) == 0);
    CHECK_EQ_INT(res.status, MCP_REPO_ENOTFOUND);

    t_res_clear(&res);
    CHECK(mcp_repo_delete(env.repo, "alice", "a1", t_cb, &res) == 0);
    CHECK(t_wait(&env.loop, &res.done) == 0);
    CHECK_EQ_INT(res.status, MCP_REPO_OK);
    CHECK_EQ_INT(res.count, 2);
    CHECK(t_history(&env, &res, "a1", 100, 0) == 0);
    CHECK_EQ_INT(res.n_msgs, 0);

    /* appending to a deleted (missing) conversation is a clear error */
    CHECK(t_append(&env, &res, "a1", MCP_MSG_USER, "late", 4, NULL, 1, 0)
          == 0);
    CHECK_EQ_INT(res.status, MCP_REPO_ENOTFOUND);
    CHECK(strstr(res.error, "a1") != NULL);

    t_res_clear(&res);
    CHECK(mcp_repo_list(env.repo, "alice", 0, t_cb, &res) == 0);
    CHECK(t_wait(&env.loop, &res.done) == 0);
    CHECK_EQ_INT(res.n_convs, 1);

    t_res_clear(&res);
    t_env_done(&env);
}


static void
test_bad_arguments(void)
{
    mcp_repo_append_t  a;

    t_env_init(&env);
    CHECK(t_env_open(&env) != NULL);
    memset(&a, 0, sizeof(a));
    a.msg.conversation_id = "c";
    a.msg.type = 9;
    a.msg.content = "x";
    a.msg.content_len = 1;
    t_res_clear(&res);
    CHECK(mcp_repo_append(env.repo, &a, t_cb, &res) == 0);
    CHECK(t_wait(&env.loop, &res.done) == 0);
    CHECK_EQ_INT(res.status, MCP_REPO_EINVAL);
    CHECK(strstr(res.error, "type") != NULL);
    t_res_clear(&res);
    t_env_done(&env);
}


static int
t_sql_int(const char *path, const char *sql)
{
    sqlite3       *db;
    sqlite3_stmt  *st;
    int            v = -1;

    if (sqlite3_open(path, &db) != SQLITE_OK) {
        return -1;
    }
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK) {
        if (sqlite3_step(st) == SQLITE_ROW) {
            v = sqlite3_column_int(st, 0);
        }
        sqlite3_finalize(st);
    }
    sqlite3_close(db);
    return v;
}


/* a version 5 database back to the tables of version 4 */
static const char  t_undo_v5[] =
    "CREATE TABLE messages_v4 ("
    "  id INTEGER PRIMARY KEY,"
    "  conversation_id TEXT NOT NULL"
    "    REFERENCES conversations(id) ON DELETE CASCADE,"
    "  type INTEGER NOT NULL CHECK (type BETWEEN 1 AND 4),"
    "  content TEXT NOT NULL, tool_calls TEXT, tool_call_id TEXT, name TEXT,"
    "  model TEXT, usage TEXT,"
    "  token_count INTEGER NOT NULL DEFAULT 0 CHECK (token_count >= 0),"
    "  request_id TEXT, part INTEGER NOT NULL DEFAULT 0,"
    "  created_at INTEGER NOT NULL, request_state INTEGER);"
    "INSERT INTO messages_v4 SELECT id, conversation_id, type, content,"
    "  tool_calls, tool_call_id, name, model, usage, token_count, request_id,"
    "  part, created_at, request_state FROM messages;"
    "DROP TABLE messages;"
    "ALTER TABLE messages_v4 RENAME TO messages;"
    "CREATE INDEX messages_by_conversation ON messages(conversation_id, id);"
    "CREATE UNIQUE INDEX messages_by_request"
    "  ON messages(conversation_id, request_id, type, part)"
    "  WHERE request_id IS NOT NULL;"
    "CREATE INDEX messages_by_time ON messages(created_at);"
    "CREATE INDEX messages_open_requests ON messages(request_state)"
    "  WHERE request_state = 1;"
    "ALTER TABLE conversations DROP COLUMN last_id;"
    "ALTER TABLE conversations DROP COLUMN message_count;";

/* a version 4 database back to the tables of version 3 */
static const char  t_undo_v4[] =
    "DROP INDEX messages_open_requests;"
    "ALTER TABLE messages DROP COLUMN request_state;"
    "CREATE INDEX conversations_by_principal"
    "  ON conversations(principal, updated_at DESC);"
    "CREATE TABLE requests (conversation_id TEXT NOT NULL"
    "  REFERENCES conversations(id) ON DELETE CASCADE,"
    "  request_id TEXT NOT NULL, state INTEGER NOT NULL,"
    "  started_at INTEGER NOT NULL, finished_at INTEGER,"
    "  PRIMARY KEY (conversation_id, request_id)) WITHOUT ROWID;";


static int
t_lookup_state(t_env_t *e, const char *conv, const char *rid)
{
    t_res_t  r;
    int      state;

    memset(&r, 0, sizeof(r));
    if (mcp_repo_lookup_request(e->repo, conv, rid, t_cb, &r) != 0
        || t_wait(&e->loop, &r.done) != 0 || r.status != MCP_REPO_OK)
    {
        t_res_clear(&r);
        return -1;
    }
    state = r.request_state;
    t_res_clear(&r);
    return state;
}


static void
test_schema_versions(void)
{
    mcp_err_t  err;
    sqlite3   *db;

    t_env_init(&env);
    CHECK(t_env_open(&env) != NULL);
    t_env_close_repo(&env);
    CHECK_EQ_INT(t_sql_int(env.path, "PRAGMA user_version"), 5);
    CHECK_EQ_STR("wal", "wal");
    CHECK_EQ_INT(t_sql_int(env.path, "SELECT count(*) FROM sqlite_schema "
                           "WHERE name = 'messages_by_time'"), 1);

    /* a version 1 database is migrated */
    CHECK(sqlite3_open(env.path, &db) == SQLITE_OK);
    CHECK(sqlite3_exec(db, t_undo_v5, NULL, NULL, NULL) == SQLITE_OK);
    CHECK(sqlite3_exec(db, t_undo_v4, NULL, NULL, NULL) == SQLITE_OK);
    CHECK(sqlite3_exec(db, "DROP INDEX messages_by_time; "
                       "PRAGMA user_version = 1", NULL, NULL, NULL)
          == SQLITE_OK);
    sqlite3_close(db);
    CHECK(t_env_open(&env) != NULL);
    t_env_close_repo(&env);
    CHECK_EQ_INT(t_sql_int(env.path, "PRAGMA user_version"), 5);
    CHECK_EQ_INT(t_sql_int(env.path, "SELECT count(*) FROM sqlite_schema "
                           "WHERE name = 'messages_by_time'"), 1);

    /* a version 3 database keeps its requests' states */
    t_env_close_repo(&env);
    CHECK(sqlite3_open(env.path, &db) == SQLITE_OK);
    CHECK(sqlite3_exec(db, t_undo_v5, NULL, NULL, NULL) == SQLITE_OK);
    CHECK(sqlite3_exec(db, t_undo_v4, NULL, NULL, NULL) == SQLITE_OK);
    CHECK(sqlite3_exec(db,
        "INSERT INTO conversations VALUES ('c3', 'p', NULL, 1, 1);"
        "INSERT INTO messages(conversation_id, type, content, request_id,"
        "  created_at) VALUES ('c3', 1, 'q1', 'done', 1),"
        "  ('c3', 2, 'a1', 'done', 2), ('c3', 1, 'q2', 'open', 3);"
        "INSERT INTO requests VALUES ('c3', 'done', 2, 1, 2),"
        "  ('c3', 'open', 1, 3, NULL);"
        "PRAGMA user_version = 3", NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_close(db);
    CHECK(t_env_open(&env) != NULL);
    CHECK(t_lookup_state(&env, "c3", "done") == MCP_REQ_DONE);
    CHECK(t_lookup_state(&env, "c3", "open") == MCP_REQ_ABANDONED);
    t_env_close_repo(&env);
    CHECK_EQ_INT(t_sql_int(env.path, "PRAGMA user_version"), 5);
    CHECK_EQ_INT(t_sql_int(env.path, "SELECT count(*) FROM sqlite_schema "
                           "WHERE name = 'requests'"), 0);

    /* a newer one is refused, untouched */
    CHECK(sqlite3_open(env.path, &db) == SQLITE_OK);
    CHECK(sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL)
          == SQLITE_OK);
    sqlite3_close(db);
    CHECK(mcp_repo_open(&env.loop, &env.rc, &env.pc, &err) == NULL);
    CHECK(strstr(err.msg, "schema version 99") != NULL);
    CHECK_EQ_INT(t_sql_int(env.path, "PRAGMA user_version"), 99);

    t_env_done(&env);
}


static void
test_persistence_disabled(void)
{
    t_env_init(&env);
    env.pc.enabled = 0;
    CHECK(t_env_open(&env) != NULL);
    CHECK(t_open_conv(&env, &res, "p", "c") == 0);
    CHECK_EQ_INT(res.status, MCP_REPO_OK);
    CHECK(t_append(&env, &res, "c", MCP_MSG_USER, "x", 1, "r", 1, 0) == 0);
    CHECK_EQ_INT(res.status, MCP_REPO_OK);
    CHECK(t_history(&env, &res, "c", 100, 0) == 0);
    CHECK_EQ_INT(res.n_msgs, 0);
    t_env_close_repo(&env);
    CHECK_EQ_INT(t_sql_int(env.path, "SELECT count(*) FROM messages"), 0);
    t_res_clear(&res);
    t_env_done(&env);
}


UNIT_MAIN("repo_ops",
    UNIT_TEST(test_conversation_open),
    UNIT_TEST(test_byte_exact),
    UNIT_TEST(test_message_types_and_fields),
    UNIT_TEST(test_idempotency),
    UNIT_TEST(test_history_budget),
    UNIT_TEST(test_list_delete_export),
    UNIT_TEST(test_bad_arguments),
    UNIT_TEST(test_schema_versions),
    UNIT_TEST(test_persistence_disabled))
