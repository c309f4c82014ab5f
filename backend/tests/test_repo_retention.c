/*
 * Retention policies (token_limit, message_count, time_based, unlimited),
 * clear_on_startup, requests left in flight by a previous run, the
 * background timer, and the rule that a request still in flight keeps
 * its messages whatever the policy says.
 */

#include <sqlite3.h>

#include "unit.h"
#include "test_repo_util.h"

static t_env_t  env;
static t_res_t  res;


static void
t_fill(const char *conv, int n, int64_t tokens, const char *rid_prefix)
{
    char  text[32], rid[32];
    int   i;

    for (i = 1; i <= n; i++) {
        snprintf(text, sizeof(text), "%s-%d", conv, i);
        snprintf(rid, sizeof(rid), "%s%d", rid_prefix, i);
        t_append(&env, &res, conv, MCP_MSG_USER, text, strlen(text),
                 rid_prefix ? rid : NULL, tokens, rid_prefix != NULL);
        CHECK_EQ_INT(res.status, MCP_REPO_OK);
    }
}


static int64_t
t_run_retention(void)
{
    t_res_clear(&res);
    CHECK(mcp_repo_retention_run(env.repo, t_cb, &res) == 0);
    CHECK(t_wait(&env.loop, &res.done) == 0);
    CHECK_EQ_INT(res.status, MCP_REPO_OK);
    return res.count;
}


static void
test_token_limit(void)
{
    t_env_init(&env);
    env.pc.retention_policy = MCP_RETAIN_TOKEN_LIMIT;
    env.pc.max_tokens_per_conversation = 35;
    CHECK(t_env_open(&env) != NULL);
    t_open_conv(&env, &res, "p", "a");
    t_open_conv(&env, &res, "p", "b");
    t_fill("a", 10, 10, NULL);
    t_fill("b", 2, 100, NULL);          /* newest alone exceeds: kept */

    CHECK_EQ_INT(t_run_retention(), 7 + 1);
    t_history(&env, &res, "a", 1000, 0);
    CHECK_EQ_INT(res.n_msgs, 3);
    if (res.n_msgs == 3) {
        CHECK_EQ_STR(res.msgs[0].content, "a-8");
    }
    t_history(&env, &res, "b", 1000, 0);
    CHECK_EQ_INT(res.n_msgs, 1);
    if (res.n_msgs == 1) {
        CHECK_EQ_STR(res.msgs[0].content, "b-2");
    }
    t_res_clear(&res);
    t_env_done(&env);
}


static void
test_message_count_and_startup(void)
{
    t_env_init(&env);
    env.pc.retention_policy = MCP_RETAIN_UNLIMITED;
    CHECK(t_env_open(&env) != NULL);
    t_open_conv(&env, &res, "p", "a");
    t_fill("a", 12, 1, NULL);
    CHECK_EQ_INT(t_run_retention(), 0);     /* unlimited */
    t_env_close_repo(&env);

    /* at open, before anything is served */
    env.pc.retention_policy = MCP_RETAIN_MESSAGE_COUNT;
    env.pc.max_messages_per_conversation = 5;
    CHECK(t_env_open(&env) != NULL);
    t_history(&env, &res, "a", 1000, 0);
    CHECK_EQ_INT(res.n_msgs, 5);
    if (res.n_msgs == 5) {
        CHECK_EQ_STR(res.msgs[0].content, "a-8");
    }
    t_res_clear(&res);
    t_env_done(&env);
}


static void
test_time_based(void)
{
    mcp_repo_append_t  a;
    int64_t            now = (int64_t) time(NULL) * 1000;

    t_env_init(&env);
    env.pc.retention_policy = MCP_RETAIN_TIME_BASED;
    env.pc.retention_days = 30;
    CHECK(t_env_open(&env) != NULL);
    t_open_conv(&env, &res, "p", "a");
    memset(&a, 0, sizeof(a));
    a.msg.conversation_id = "a";
    a.msg.type = MCP_MSG_USER;
    a.msg.content = "old";
    a.msg.content_len = 3;
    a.msg.created_at = now - 31LL * 86400000;
    t_res_clear(&res);
    mcp_repo_append(env.repo, &a, t_cb, &res);
    t_wait(&env.loop, &res.done);
    a.msg.content = "new";
    a.msg.created_at = now - 29LL * 86400000;
    t_res_clear(&res);
    mcp_repo_append(env.repo, &a, t_cb, &res);
    t_wait(&env.loop, &res.done);

    CHECK_EQ_INT(t_run_retention(), 1);
    t_history(&env, &res, "a", 1000, 0);
    CHECK_EQ_INT(res.n_msgs, 1);
    if (res.n_msgs == 1) {
        CHECK_EQ_STR(res.msgs[0].content, "new");
    }
    t_res_clear(&res);
    t_env_done(&env);
}


static void
test_in_flight_kept(void)
{
    t_env_init(&env);
    env.pc.retention_policy = MCP_RETAIN_MESSAGE_COUNT;
    env.pc.max_messages_per_conversation = 1;
    CHECK(t_env_open(&env) != NULL);
    t_open_conv(&env, &res, "p", "a");

    /* request "live": user message stored, answer not yet */
    t_append(&env, &res, "a", MCP_MSG_USER, "question", 8, "live", 1, 0);
    t_append(&env, &res, "a", MCP_MSG_TOOL_CALL, "", 0, "live", 1, 0);
    t_fill("a", 3, 1, "done");              /* completed requests */

    CHECK_EQ_INT(t_run_retention(), 2);     /* done1, done2 */
    t_history(&env, &res, "a", 1000, 0);
    CHECK_EQ_INT(res.n_msgs, 3);
    if (res.n_msgs == 3) {
        CHECK_EQ_STR(res.msgs[0].content, "question");
        CHECK_EQ_STR(res.msgs[2].content, "a-3");
    }

    /* once finished, its rows are ordinary history */
    t_append(&env, &res, "a", MCP_MSG_ASSISTANT, "answer", 6, "live", 1, 1);
    CHECK_EQ_INT(t_run_retention(), 3);
    t_history(&env, &res, "a", 1000, 0);
    CHECK_EQ_INT(res.n_msgs, 1);
    if (res.n_msgs == 1) {
        CHECK_EQ_STR(res.msgs[0].content, "answer");
    }
    t_res_clear(&res);
    t_env_done(&env);
}


static void
test_abandoned_and_clear(void)
{
    t_env_init(&env);
    env.pc.retention_policy = MCP_RETAIN_UNLIMITED;
    CHECK(t_env_open(&env) != NULL);
    t_open_conv(&env, &res, "p", "a");
    t_append(&env, &res, "a", MCP_MSG_USER, "q", 1, "r1", 1, 0);
    t_env_close_repo(&env);

    /* nothing can finish r1 after a restart */
    CHECK(t_env_open(&env) != NULL);
    t_res_clear(&res);
    mcp_repo_lookup_request(env.repo, "a", "r1", t_cb, &res);
    t_wait(&env.loop, &res.done);
    CHECK_EQ_INT(res.request_state, MCP_REQ_ABANDONED);
    t_env_close_repo(&env);

    env.pc.clear_on_startup = 1;
    CHECK(t_env_open(&env) != NULL);
    t_res_clear(&res);
    mcp_repo_list(env.repo, "p", 0, t_cb, &res);
    t_wait(&env.loop, &res.done);
    CHECK_EQ_INT(res.n_convs, 0);
    t_res_clear(&res);
    t_env_done(&env);
}


static void
test_timer(void)
{
    json_t    *st;
    uint64_t   start;
    int64_t    deleted = 0;
    uv_timer_t keep;

    t_env_init(&env);
    env.pc.retention_policy = MCP_RETAIN_MESSAGE_COUNT;
    env.pc.max_messages_per_conversation = 2;
    env.pc.retention_interval = 50;
    CHECK(t_env_open(&env) != NULL);
    t_open_conv(&env, &res, "p", "a");
    t_fill("a", 6, 1, NULL);

    /* the repository's timers do not keep a loop alive; mcpd's listener
       does, this one stands in for it */
    uv_timer_init(&env.loop, &keep);
    uv_timer_start(&keep, (uv_timer_cb) abort, 60000, 0);
    start = uv_hrtime();
    while (deleted < 4 && uv_hrtime() - start < 3000000000ull) {
        uv_run(&env.loop, UV_RUN_NOWAIT);
        usleep(5000);
        st = mcp_repo_stats(env.repo);
        deleted = json_integer_value(json_object_get(
            json_object_get(st, "retention"), "deleted"));
        json_decref(st);
    }
    CHECK(deleted >= 4);
    uv_close((uv_handle_t *) &keep, NULL);
    t_history(&env, &res, "a", 1000, 0);
    CHECK_EQ_INT(res.n_msgs, 2);
    t_res_clear(&res);
    t_env_done(&env);
}


static void
test_many_conversations(void)
{
    char  conv[32];
    int   i;

    /* more conversations than one retention step takes */
    t_env_init(&env);
    env.pc.retention_policy = MCP_RETAIN_UNLIMITED;
    CHECK(t_env_open(&env) != NULL);
    for (i = 0; i < 150; i++) {
        snprintf(conv, sizeof(conv), "c%03d", i);
        t_open_conv(&env, &res, "p", conv);
        t_fill(conv, 2, 1, NULL);
    }
    t_env_close_repo(&env);
    env.pc.retention_policy = MCP_RETAIN_MESSAGE_COUNT;
    env.pc.max_messages_per_conversation = 1;
    CHECK(t_env_open(&env) != NULL);
    for (i = 0; i < 150; i++) {
        snprintf(conv, sizeof(conv), "c%03d", i);
        t_fill(conv, 1, 1, NULL);
    }
    CHECK_EQ_INT(t_run_retention(), 150);
    t_res_clear(&res);
    t_env_done(&env);
}


UNIT_MAIN("repo_retention",
    UNIT_TEST(test_token_limit),
    UNIT_TEST(test_message_count_and_startup),
    UNIT_TEST(test_time_based),
    UNIT_TEST(test_in_flight_kept),
    UNIT_TEST(test_abandoned_and_clear),
    UNIT_TEST(test_timer),
    UNIT_TEST(test_many_conversations))
