/*
 * Black-box tests of the repository API, third part (see
 * test_repo_chain.c; the model and its checks are test_repo_chain.h):
 * more conversations than the writer keeps request sets for, the
 * single-connection mode, and two repositories open on one file, as two
 * mcpd processes would be, each appending to and deleting conversations
 * the other writes.
 */

#include "test_repo_chain.h"

#define T_SETS  4200            /* more conversations than sets are kept */

static t_env_t   env, other;
static t_res_t   rs[16];
static c_conv_t  cs[8];


static void
t_done(void)
{
    t_env_close_repo(&other);
    c_env_done(&env, rs, 16);
}


/* ------------------------------------------------------------ many sets */

typedef struct {
    int       done;
    int       status;
    int       duplicate;
    int64_t   id;
} t_ack_t;

static size_t  acked;


static void
t_ack_cb(const mcp_repo_result_t *res, void *data)
{
    t_ack_t  *a = data;

    a->done = 1;
    a->status = res->status;
    a->duplicate = res->duplicate;
    a->id = res->id;
    acked++;
}


static void
t_wait_acks(size_t n)
{
    uint64_t  start = uv_hrtime();

    while (acked < n && uv_hrtime() - start < 30000000000ull) {
        uv_run(&env.loop, UV_RUN_ONCE);
    }
    CHECK_EQ_INT(acked, n);
}


/*
 * 4,200 conversations, each opened and given one question, all queued at
 * once: the first ones' request sets are gone by the end (4,096 are
 * kept), yet a repeat of their question is still a duplicate and a new
 * request id is still new.
 */
static void
test_more_conversations_than_sets(void)
{
    static t_ack_t     opens[T_SETS], asks[T_SETS];
    static char        ids[T_SETS][16], texts[T_SETS][32];
    static const int   probe[8] = { 0, 1, 2, 3, 100, 2000, 4198, 4199 };
    mcp_repo_append_t  a;
    c_msg_t            m;
    size_t             i, k;

    t_env_init(&env);
    env.pc.retention_policy = MCP_RETAIN_UNLIMITED;
    CHECK(t_env_open(&env) != NULL);
    acked = 0;
    for (i = 0; i < T_SETS; i++) {
        snprintf(ids[i], sizeof(ids[i]), "s%04zu", i);
        CHECK(mcp_repo_conversation_open(env.repo, "p", ids[i], NULL,
                                         t_ack_cb, &opens[i]) == 0);
    }
    t_wait_acks(T_SETS);
    acked = 0;
    for (i = 0; i < T_SETS; i++) {
        CHECK_EQ_INT(opens[i].status, MCP_REPO_OK);
        snprintf(texts[i], sizeof(texts[i]), "question of %s", ids[i]);
        memset(&a, 0, sizeof(a));
        a.msg.conversation_id = ids[i];
        a.msg.type = MCP_MSG_USER;
        a.msg.content = texts[i];
        a.msg.content_len = strlen(texts[i]);
        a.msg.request_id = "ask";
        a.msg.token_count = 3;
        CHECK(mcp_repo_append(env.repo, &a, t_ack_cb, &asks[i]) == 0);
    }
    t_wait_acks(T_SETS);
    for (i = 0; i < T_SETS; i++) {
        CHECK(asks[i].status == MCP_REPO_OK && !asks[i].duplicate);
    }

    for (k = 0; k < 8; k++) {
        i = (size_t) probe[k];
        c_conv_init(&cs[k], "p", ids[i]);
        memset(&m, 0, sizeof(m));
        m.type = MCP_MSG_USER;
        m.tokens = 3;
        snprintf(m.rid, sizeof(m.rid), "ask");
        snprintf(m.content, sizeof(m.content), "%s", texts[i]);
        m.content_len = strlen(m.content);
        t_res_clear(&rs[0]);
        rs[0].id = asks[i].id;              /* acknowledged above */
        c_record(&cs[k], &m, &rs[0]);
        c_check_duplicate(&env, &rs[0], &cs[k], "ask", MCP_MSG_USER, 0,
                          MCP_REQ_OPEN);
        snprintf(m.rid, sizeof(m.rid), "ask-2");
        c_push(&env, &rs[0], &cs[k], &m);
        c_check_duplicate(&env, &rs[0], &cs[k], "ask-2", MCP_MSG_USER, 0,
                          MCP_REQ_OPEN);
        c_check_history(&env, &rs[0], &cs[k], C_BIG, 0);
        c_check_pages(&env, &rs[0], &cs[k], 1);
    }
    t_done();
}


/*
 * The single-connection mode (enable_pooling: false, the baseline): one
 * worker does every read and write, one append a transaction.  The same
 * answers: interleaved conversations, repeats old and new, a delete and
 * the id used again, a restart.
 */
static void
test_unpooled_mode(void)
{
    c_msg_t  m;

    t_env_init(&env);
    env.pc.retention_policy = MCP_RETAIN_UNLIMITED;
    env.rc.pool.enable_pooling = 0;
    CHECK(t_env_open(&env) != NULL);
    c_open_all(&env, &rs[0], cs, 3, "single-");
    c_rounds(&env, rs, cs, 3, 100);
    c_check_all(&env, &rs[0], cs, 3);
    c_check_duplicate(&env, &rs[0], &cs[0], "req-0", MCP_MSG_TOOL_RESULT, 1,
                      MCP_REQ_DONE);
    c_check_duplicate(&env, &rs[0], &cs[2], "req-9", MCP_MSG_USER, 0,
                      MCP_REQ_DONE);

    t_res_clear(&rs[0]);
    CHECK(mcp_repo_delete(env.repo, "p", cs[1].id, t_cb, &rs[0]) == 0);
    CHECK(t_wait(&env.loop, &rs[0].done) == 0);
    CHECK_EQ_INT(rs[0].count, cs[1].n);
    CHECK(t_open_conv(&env, &rs[0], "p", "single-1") == 0);
    CHECK_EQ_INT(rs[0].created, 1);
    c_conv_init(&cs[1], "p", "single-1");
    c_gen(&cs[1], 0, &m);                   /* req-0 again: new here */
    c_push(&env, &rs[0], &cs[1], &m);
    c_rounds(&env, rs, cs, 3, 10);
    c_check_all(&env, &rs[0], cs, 3);

    t_env_close_repo(&env);
    CHECK(t_env_open(&env) != NULL);
    c_restart(cs, 3);
    c_check_all(&env, &rs[0], cs, 3);
    c_check_duplicate(&env, &rs[0], &cs[1], "req-0", MCP_MSG_USER, 0,
                      c_req_state(&cs[1], "req-0"));
    t_done();
}


/* ------------------------------------------------------------ two files */

/* The second repository on env's file, with its own loop. */
static void
t_open_other(void)
{
    memset(&other, 0, sizeof(other));
    other.rc = env.rc;
    other.pc = env.pc;
    uv_loop_init(&other.loop);
    CHECK(t_env_open(&other) != NULL);
}


/* Two repositories on a new file (no retention), two conversations. */
static void
t_open_two(const char *prefix)
{
    t_env_init(&env);
    env.pc.retention_policy = MCP_RETAIN_UNLIMITED;
    CHECK(t_env_open(&env) != NULL);
    t_open_other();
    c_open_all(&env, &rs[0], cs, 2, prefix);
}


static void
t_close_other(void)
{
    t_env_close_repo(&other);
    uv_loop_close(&other.loop);
}


/*
 * Two repositories take turns appending to one conversation: each reads
 * what the other wrote, answers repeats of the other's rows as
 * duplicates, and both read the same conversation.
 */
static void
test_two_repositories_take_turns(void)
{
    c_msg_t  m;
    size_t   k;

    t_open_two("turns-");

    for (k = 0; k < 60; k++) {
        c_gen(&cs[k % 2], cs[k % 2].next, &m);
        c_push(k % 3 ? &env : &other, &rs[0], &cs[k % 2], &m);
    }
    c_check_all(&env, &rs[0], cs, 2);
    c_check_all(&other, &rs[0], cs, 2);
    for (k = 0; k < 4; k++) {
        /* rows each of them wrote, repeated through the other */
        c_check_duplicate(&other, &rs[0], &cs[0], "req-0", MCP_MSG_TOOL_CALL,
                          k % 2, MCP_REQ_DONE);
        c_check_duplicate(&env, &rs[0], &cs[1], "req-1", MCP_MSG_USER, 0,
                          MCP_REQ_DONE);
        c_check_duplicate(&env, &rs[0], &cs[0], "req-3", MCP_MSG_TOOL_RESULT,
                          k % 2, MCP_REQ_DONE);
        c_check_duplicate(&other, &rs[0], &cs[1], "req-2", MCP_MSG_ASSISTANT,
                          0, MCP_REQ_DONE);
    }
    t_close_other();
    t_res_clear(&rs[0]);
    t_env_done(&env);
}


/*
 * Both repositories append to the same two conversations at once, eight
 * callers each sending a request's four rows back to back: every row
 * acknowledged is in its conversation once, in id order, and each side
 * answers repeats of the other's rows.
 */
#define T_CALLERS  8

typedef struct {
    t_env_t   *env;
    c_conv_t  *conv;
    int        idx, sent;
    c_msg_t    m;
} t_turn_t;

static t_turn_t  turns[T_CALLERS];
static int       turns_left, turns_failed;

static void t_turn_next(t_turn_t *t);


static void
t_turn_cb(const mcp_repo_result_t *res, void *data)
{
    t_turn_t  *t = data;
    c_conv_t  *c = t->conv;

    if (res->status != MCP_REPO_OK || res->duplicate) {
        turns_failed++;
        fprintf(stderr, "  append: %s\n", res->error ? res->error : "dup");
    } else {
        c_acked(c, &t->m, res->id);
    }
    t_turn_next(t);
}


static void
t_turn_next(t_turn_t *t)
{
    static const int  types[4] = { MCP_MSG_USER, MCP_MSG_TOOL_CALL,
        MCP_MSG_TOOL_RESULT, MCP_MSG_ASSISTANT };

    if (t->sent == 4) {
        turns_left--;
        return;
    }
    memset(&t->m, 0, sizeof(t->m));
    t->m.type = types[t->sent];
    t->m.final = t->sent == 3;
    t->m.tokens = 2;
    snprintf(t->m.rid, sizeof(t->m.rid), "turn-%d", t->idx);
    snprintf(t->m.content, sizeof(t->m.content), "%s turn %d row %d",
             t->conv->id, t->idx, t->sent);
    t->m.content_len = strlen(t->m.content);
    t->sent++;
    CHECK(c_append(t->env->repo, t->conv->id, &t->m, t_turn_cb, t) == 0);
}


static void
test_two_repositories_at_once(void)
{
    uint64_t  start;
    char      rid[24];
    int       i;

    t_open_two("both-");
    turns_left = T_CALLERS;
    turns_failed = 0;
    for (i = 0; i < T_CALLERS; i++) {
        turns[i].env = i % 2 ? &other : &env;
        turns[i].conv = &cs[(i / 2) % 2];
        turns[i].idx = i;
        turns[i].sent = 0;
        t_turn_next(&turns[i]);
    }
    start = uv_hrtime();
    while (turns_left > 0 && uv_hrtime() - start < 15000000000ull) {
        uv_run(&env.loop, UV_RUN_NOWAIT);
        uv_run(&other.loop, UV_RUN_NOWAIT);
        usleep(200);
    }
    CHECK_EQ_INT(turns_left, 0);
    CHECK_EQ_INT(turns_failed, 0);
    for (i = 0; i < 2; i++) {
        CHECK_EQ_INT(cs[i].n, T_CALLERS / 2 * 4);
        c_sort_by_id(&cs[i]);
    }
    c_check_all(&env, &rs[0], cs, 2);
    c_check_all(&other, &rs[0], cs, 2);
    for (i = 0; i < T_CALLERS; i++) {       /* through the other one */
        snprintf(rid, sizeof(rid), "turn-%d", i);
        c_check_duplicate(i % 2 ? &env : &other, &rs[0], &cs[(i / 2) % 2],
                          rid, MCP_MSG_TOOL_RESULT, 0, MCP_REQ_DONE);
    }
    t_close_other();
    t_res_clear(&rs[0]);
    t_env_done(&env);
}


/*
 * The other repository deletes a conversation this one has written and
 * starts it again under the same id with rows of a new request; this
 * one's next append goes after the new rows, a repeat of a new row is a
 * duplicate, a request of the deleted conversation is new.  ahead: rows
 * appended to another conversation after the shared one's newest, before
 * the delete; rows: how many the other repository writes after it.
 */
static void
t_deleted_elsewhere(size_t ahead, size_t rows)
{
    c_conv_t  *shared = &cs[0], *keep = &cs[1], *c;
    c_msg_t    m;
    size_t     k;

    t_open_two("again-");
    for (k = 0; k < 10 + 3 + ahead; k++) {
        c = k < 10 ? &cs[k % 2] : k < 13 ? shared : keep;
        c_gen(c, c->next, &m);
        c_push(&env, &rs[0], c, &m);
    }

    t_res_clear(&rs[0]);
    CHECK(mcp_repo_delete(other.repo, "p", shared->id, t_cb, &rs[0]) == 0);
    CHECK(t_wait(&other.loop, &rs[0].done) == 0);
    CHECK_EQ_INT(rs[0].status, MCP_REPO_OK);
    CHECK(t_open_conv(&other, &rs[0], "p", "again-0") == 0);
    CHECK_EQ_INT(rs[0].created, 1);
    c_conv_init(shared, "p", "again-0");
    shared->next = 100;
    memset(&m, 0, sizeof(m));
    snprintf(m.rid, sizeof(m.rid), "after");
    for (k = 0; k < rows; k++) {
        m.type = k == 0 ? MCP_MSG_USER : MCP_MSG_TOOL_CALL;
        m.part = k == 0 ? 0 : (int64_t) k - 1;
        snprintf(m.content, sizeof(m.content), "after the delete #%zu", k);
        m.content_len = strlen(m.content);
        c_push(&other, &rs[0], shared, &m);
    }

    c_check_all(&env, &rs[0], cs, 2);
    c_check_duplicate(&env, &rs[0], shared, "after", MCP_MSG_USER, 0,
                      MCP_REQ_OPEN);
    c_check_duplicate(&env, &rs[0], shared, "after", MCP_MSG_TOOL_CALL,
                      (int64_t) rows - 2, MCP_REQ_OPEN);
    c_gen(shared, 0, &m);                   /* "req-0", deleted: new */
    c_push(&env, &rs[0], shared, &m);
    c_gen(keep, keep->next, &m);
    c_push(&env, &rs[0], keep, &m);
    c_check_all(&env, &rs[0], cs, 2);
    c_check_all(&other, &rs[0], cs, 2);
    t_close_other();
    t_res_clear(&rs[0]);
    t_env_done(&env);
}


/* the new rows get row ids above every deleted one */
static void
test_deleted_elsewhere_fresh_ids(void)
{
    t_deleted_elsewhere(5, 3);
}


/*
 * FINDING (fails on main d1c2df1, schema 5): the new rows get the very
 * row ids the deleted ones had, so the conversation's newest id is the
 * one this repository's request set last saw; the set is trusted, "after"
 * is not in it, and the repeat is written as a second row.
 */
static void
test_deleted_elsewhere_same_ids(void)
{
    t_deleted_elsewhere(0, 3);
}


/* FINDING: the same with more new rows: the set catches up only with
   those above the id it last saw, the ones below are missed */
static void
test_deleted_elsewhere_ids_reused_below(void)
{
    t_deleted_elsewhere(0, 5);
}


/*
 * FINDING (minor): mcp_repo.h says history returns the newest messages
 * whose tokens sum to at most token_budget; schema 4 returned nothing for
 * a negative budget, schema 5 returns every row (it takes < 0 as "no
 * budget").  Either mcp_repo.h says so, or this passes again.
 */
static void
test_negative_budget(void)
{
    c_msg_t  m;

    t_env_init(&env);
    env.pc.retention_policy = MCP_RETAIN_UNLIMITED;
    CHECK(t_env_open(&env) != NULL);
    c_open_all(&env, &rs[0], cs, 1, "budget-");
    c_gen(&cs[0], 0, &m);
    c_push(&env, &rs[0], &cs[0], &m);       /* 0 tokens */
    c_gen(&cs[0], 1, &m);
    c_push(&env, &rs[0], &cs[0], &m);       /* 7 tokens */
    c_check_history(&env, &rs[0], &cs[0], -1, 0);
    CHECK_EQ_INT(rs[0].n_msgs, 0);
    c_check_history(&env, &rs[0], &cs[0], 0, 0);
    CHECK_EQ_INT(rs[0].n_msgs, 0);          /* the newest has 7 */
    t_done();
}


UNIT_MAIN("repo_chain3",
    UNIT_TEST(test_unpooled_mode),
    UNIT_TEST(test_more_conversations_than_sets),
    UNIT_TEST(test_two_repositories_take_turns),
    UNIT_TEST(test_two_repositories_at_once),
    UNIT_TEST(test_deleted_elsewhere_fresh_ids),
    UNIT_TEST(test_deleted_elsewhere_same_ids),
    UNIT_TEST(test_deleted_elsewhere_ids_reused_below),
    UNIT_TEST(test_negative_budget))
