/*
 * Request sets warmed on a reader (mcp_repo_warm.c): a long conversation's
 * first append since the start waits for a reader to walk its chain while
 * other conversations' writes go on; its writes keep their order, its old
 * request ids are still recognised, and a stop, a sweep or a delete while
 * it waits each get the answer they would get without warming.
 *
 * Each test fills conversations past the warming threshold (128
 * messages), reopens the repository (no set survives a start) and holds
 * the readers, so that a walk waits as long as the test needs.
 */

#include "unit.h"
#include "test_repo_util.h"
#include "repo/mcp_repo_int.h"     /* the walk a reader does, directly */

#define T_LONG  200             /* messages of the long conversation */

static t_env_t  env;
static int      t_seq;          /* completions, in order */

typedef struct {
    t_res_t  r;
    int      seq;
} t_step_t;


static void
t_step_cb(const mcp_repo_result_t *res, void *data)
{
    t_step_t  *s = data;

    t_cb(res, &s->r);
    s->seq = ++t_seq;
}


/* submit an append without waiting for it */
static int
t_send(t_step_t *s, const char *conv, mcp_msg_type_e type, const char *text,
    const char *rid, int final)
{
    mcp_repo_append_t  a;

    memset(&a, 0, sizeof(a));
    memset(s, 0, sizeof(*s));
    a.msg.conversation_id = (char *) conv;
    a.msg.type = type;
    a.msg.content = (char *) text;
    a.msg.content_len = strlen(text);
    a.msg.request_id = (char *) rid;
    a.msg.token_count = 1;
    a.final = final;
    return mcp_repo_append(env.repo, &a, t_step_cb, s);
}


/*
 * "long" and "long2" with T_LONG answered requests each, "short" with one
 * message; then a restart with this many readers, each held for hold_ms
 * (into hold[]), so that a walk waits as long as the test needs.
 */
static void
t_start_readers(t_res_t *hold, int readers, int64_t hold_ms,
    int64_t connection_timeout)
{
    static t_step_t  fill[2 * T_LONG];
    t_res_t          r;
    char             rid[T_LONG][16];
    int              i;

    memset(&r, 0, sizeof(r));
    t_env_init(&env);
    env.pc.retention_policy = MCP_RETAIN_UNLIMITED;
    env.rc.pool.max_readers = readers;
    env.rc.pool.connection_timeout = connection_timeout;
    CHECK(t_env_open(&env) != NULL);
    CHECK(t_open_conv(&env, &r, "p", "long") == 0);
    CHECK(t_open_conv(&env, &r, "p", "long2") == 0);
    CHECK(t_open_conv(&env, &r, "p", "short") == 0);
    CHECK(t_append(&env, &r, "short", MCP_MSG_USER, "s", 1, "s-0", 1, 1) == 0);
    for (i = 0; i < T_LONG; i++) {
        snprintf(rid[i], sizeof(rid[i]), "old-%d", i);
        CHECK(t_send(&fill[2 * i], "long", MCP_MSG_USER, "q", rid[i], 1)
              == 0);
        CHECK(t_send(&fill[2 * i + 1], "long2", MCP_MSG_USER, "q", rid[i], 1)
              == 0);
    }
    for (i = 0; i < 2 * T_LONG; i++) {
        CHECK(t_wait(&env.loop, &fill[i].r.done) == 0);
        CHECK_EQ_INT(fill[i].r.status, MCP_REPO_OK);
    }
    t_env_close_repo(&env);

    CHECK(t_env_open(&env) != NULL);
    for (i = 0; i < readers; i++) {
        memset(&hold[i], 0, sizeof(hold[i]));
        CHECK(mcp_repo_debug_hold(env.repo, 0, hold_ms, t_cb, &hold[i]) == 0);
    }
    usleep(20000);                      /* the readers have taken them */
    t_res_clear(&r);
}


static void
t_start(t_res_t *hold, int64_t hold_ms, int64_t connection_timeout)
{
    t_start_readers(hold, 1, hold_ms, connection_timeout);
}


/*
 * The long conversation's question and answer wait for the walk; another
 * conversation's append, sent after them, is stored meanwhile.  Without
 * warming all three share one group, and the first walks the chain on
 * the writer in front of the others.
 */
static void
test_others_write_while_a_chain_warms(void)
{
    t_step_t  q, a, other;
    t_res_t   hold, r;

    t_start(&hold, 500, 5000);
    CHECK(t_send(&q, "long", MCP_MSG_USER, "question", "new-1", 0) == 0);
    CHECK(t_send(&a, "long", MCP_MSG_ASSISTANT, "answer", "new-1", 1) == 0);
    CHECK(t_send(&other, "short", MCP_MSG_USER, "s", "s-1", 1) == 0);

    CHECK(t_wait(&env.loop, &other.r.done) == 0);
    CHECK_EQ_INT(other.r.status, MCP_REPO_OK);
    CHECK_EQ_INT(q.r.done, 0);          /* parked behind the held reader */
    CHECK_EQ_INT(a.r.done, 0);
    CHECK_EQ_INT(t_reqsets_stat(env.repo, "parked"), 2);
    CHECK_EQ_INT(hold.done, 0);

    CHECK(t_wait(&env.loop, &q.r.done) == 0);
    CHECK(t_wait(&env.loop, &a.r.done) == 0);
    CHECK_EQ_INT(q.r.status, MCP_REPO_OK);
    CHECK_EQ_INT(a.r.status, MCP_REPO_OK);
    CHECK(other.seq < q.seq && q.seq < a.seq);
    CHECK_EQ_INT(q.r.duplicate, 0);
    CHECK_EQ_INT(t_reqsets_stat(env.repo, "warmed"), 1);
    CHECK_EQ_INT(t_reqsets_stat(env.repo, "parked"), 0);
    /* short's read in place, long's adopted: not read again on the writer
       (the first group after the start must not drop it) */
    CHECK_EQ_INT(t_reqsets_stat(env.repo, "loads"), 2);

    /* stored in the order sent, the answer newest */
    CHECK(t_history(&env, &r, "long", 1000, 3) == 0);
    CHECK_EQ_INT(r.n_msgs, 3);
    if (r.n_msgs == 3) {
        CHECK_EQ_STR(r.msgs[1].content, "question");
        CHECK_EQ_STR(r.msgs[2].content, "answer");
        CHECK_EQ_INT(r.msgs[2].id, a.r.id);
    }

    /* the reader's set knows the oldest request ids too */
    CHECK(t_append(&env, &r, "long", MCP_MSG_USER, "q", 1, "old-3", 1, 1)
          == 0);
    CHECK_EQ_INT(r.status, MCP_REPO_OK);
    CHECK_EQ_INT(r.duplicate, 1);
    CHECK(t_append(&env, &r, "long", MCP_MSG_USER, "question", 8, "new-1", 1,
                   0) == 0);
    CHECK_EQ_INT(r.duplicate, 1);
    CHECK_EQ_INT(r.id, q.r.id);
    CHECK_EQ_INT(t_reqsets_stat(env.repo, "warmed"), 1);  /* read once */
    CHECK(t_wait(&env.loop, &hold.done) == 0);
    t_res_clear(&q.r);
    t_res_clear(&a.r);
    t_res_clear(&other.r);
    t_res_clear(&r);
    t_env_done(&env);
}


/* A short chain is read in place, as before: no reader round trip. */
static void
test_short_chain_reads_in_place(void)
{
    t_step_t  s;
    t_res_t   hold;

    t_start(&hold, 400, 5000);
    CHECK(t_send(&s, "short", MCP_MSG_USER, "s", "s-0", 1) == 0);
    CHECK(t_wait(&env.loop, &s.r.done) == 0);
    CHECK_EQ_INT(s.r.duplicate, 1);
    CHECK_EQ_INT(hold.done, 0);         /* no reader was needed */
    CHECK_EQ_INT(t_reqsets_stat(env.repo, "warmed"), 0);
    CHECK(t_wait(&env.loop, &hold.done) == 0);
    t_res_clear(&s.r);
    t_env_done(&env);
}


/*
 * The walk waits in the readers' queue past connection_timeout and is
 * swept: the writer then reads the chain itself, and the append is
 * stored, not timed out.
 */
static void
test_swept_walk_reads_on_the_writer(void)
{
    t_step_t  q;
    t_res_t   hold, r;

    t_start(&hold, 600, 150);
    CHECK(t_send(&q, "long", MCP_MSG_USER, "question", "old-7", 1) == 0);
    CHECK(t_wait(&env.loop, &q.r.done) == 0);
    CHECK_EQ_INT(q.r.status, MCP_REPO_OK);
    CHECK_EQ_INT(q.r.duplicate, 1);
    CHECK_EQ_INT(hold.done, 0);         /* answered before the reader */
    CHECK_EQ_INT(t_reqsets_stat(env.repo, "warmed"), 0);
    CHECK_EQ_INT(t_reqsets_stat(env.repo, "parked"), 0);
    CHECK_EQ_INT(t_repo_stat(env.repo, "readers", "timeouts"), 0);
    CHECK(t_wait(&env.loop, &hold.done) == 0);
    CHECK(t_append(&env, &r, "long", MCP_MSG_USER, "q", 1, "old-9", 1, 1)
          == 0);
    CHECK_EQ_INT(r.duplicate, 1);
    t_res_clear(&q.r);
    t_res_clear(&r);
    t_env_done(&env);
}


/* A delete sent after a parked append runs after it, not before. */
static void
test_delete_waits_its_turn(void)
{
    t_step_t  q, d;
    t_res_t   hold, r;

    t_start(&hold, 300, 5000);
    CHECK(t_send(&q, "long", MCP_MSG_USER, "question", "new-1", 1) == 0);
    memset(&d, 0, sizeof(d));
    CHECK(mcp_repo_delete(env.repo, "p", "long", t_step_cb, &d) == 0);
    CHECK(t_wait(&env.loop, &q.r.done) == 0);
    CHECK(t_wait(&env.loop, &d.r.done) == 0);
    CHECK_EQ_INT(q.r.status, MCP_REPO_OK);
    CHECK_EQ_INT(d.r.status, MCP_REPO_OK);
    CHECK(q.seq < d.seq);
    t_res_clear(&r);
    CHECK(mcp_repo_list(env.repo, "p", 10, t_cb, &r) == 0);
    CHECK(t_wait(&env.loop, &r.done) == 0);
    CHECK_EQ_INT(r.n_convs, 2);             /* "long2" and "short" */
    CHECK(strcmp(r.convs[0], "long") != 0 && strcmp(r.convs[1], "long") != 0);
    CHECK(t_wait(&env.loop, &hold.done) == 0);
    t_res_clear(&q.r);
    t_res_clear(&d.r);
    t_res_clear(&r);
    t_env_done(&env);
}


/* Closing with writes parked answers them; nothing hangs or leaks. */
static void
test_close_answers_parked_writes(void)
{
    t_step_t  q, a;
    t_res_t   hold;

    t_start(&hold, 300, 5000);
    CHECK(t_send(&q, "long", MCP_MSG_USER, "question", "new-1", 0) == 0);
    CHECK(t_send(&a, "long", MCP_MSG_ASSISTANT, "answer", "new-1", 1) == 0);
    t_sleep_loop(&env.loop, 100);
    CHECK_EQ_INT(t_reqsets_stat(env.repo, "parked"), 2);
    t_env_close_repo(&env);
    CHECK_EQ_INT(q.r.done, 1);
    CHECK_EQ_INT(q.r.status, MCP_REPO_ECLOSED);
    CHECK_EQ_INT(a.r.done, 1);
    CHECK_EQ_INT(a.r.status, MCP_REPO_ECLOSED);
    CHECK(strstr(q.r.error, "shutting down") != NULL);
    CHECK_EQ_INT(hold.done, 1);
    t_res_clear(&q.r);
    t_res_clear(&a.r);
    t_env_done(&env);
}


/*
 * After a start many long conversations can come back at once: at most
 * half the readers walk, so that clients' reads still find one.  With two
 * readers, the second conversation's walk waits until the first's ends.
 */
static void
test_walks_leave_readers_for_clients(void)
{
    t_step_t  q1, q2;
    t_res_t   hold[2];

    t_start_readers(hold, 2, 300, 5000);
    CHECK(t_send(&q1, "long", MCP_MSG_USER, "question", "new-1", 1) == 0);
    CHECK(t_send(&q2, "long2", MCP_MSG_USER, "question", "new-1", 1) == 0);
    t_sleep_loop(&env.loop, 100);
    CHECK_EQ_INT(t_reqsets_stat(env.repo, "parked"), 2);
    CHECK_EQ_INT(t_reqsets_stat(env.repo, "walks_waiting"), 1);
    CHECK(t_wait(&env.loop, &q1.r.done) == 0);
    CHECK(t_wait(&env.loop, &q2.r.done) == 0);
    CHECK_EQ_INT(q1.r.status, MCP_REPO_OK);
    CHECK_EQ_INT(q2.r.status, MCP_REPO_OK);
    CHECK_EQ_INT(t_reqsets_stat(env.repo, "walks_waiting"), 0);
    CHECK_EQ_INT(t_reqsets_stat(env.repo, "warmed"), 2);
    CHECK_EQ_INT(t_reqsets_stat(env.repo, "loads"), 2);  /* no re-read */
    CHECK(t_wait(&env.loop, &hold[0].done) == 0);
    CHECK(t_wait(&env.loop, &hold[1].done) == 0);
    t_res_clear(&q1.r);
    t_res_clear(&q2.r);
    t_env_done(&env);
}


/*
 * A reader walks a long chain in read transactions of 256 messages; a
 * prune between two of them can delete the message the next one starts
 * from.  The walk then says it walked nothing (and mcp_op_warm() gives
 * the chain back to the writer) instead of ending as if the chain did.
 */
static void
test_walk_from_a_vanished_message_says_so(void)
{
    mcp_repo_t     fake;
    mcp_conn_t     c;
    mcp_reqset_t  *set;
    t_res_t        hold;
    char           msg[256], sql[128];
    int64_t        head, next, gone;
    size_t         walked;

    t_start(&hold, 1, 5000);
    CHECK(t_wait(&env.loop, &hold.done) == 0);
    t_env_close_repo(&env);
    memset(&fake, 0, sizeof(fake));
    CHECK(mcp_conn_open(&c, &env.rc, 0, msg, sizeof(msg)) == SQLITE_OK);
    set = mcp_reqset_alloc(&fake.reqsets);
    CHECK(mcp_chain_head(&c, "long", &head, NULL) == SQLITE_ROW);

    /* ten messages, then where the next chunk would start */
    CHECK(mcp_reqset_walk(set, &c, "long", head, 0, 10, &gone, &walked)
          == SQLITE_OK);
    CHECK_EQ_INT(walked, 10);
    CHECK(gone > 0 && gone < head);
    snprintf(sql, sizeof(sql), "DELETE FROM messages WHERE id = %lld",
             (long long) gone);
    CHECK(sqlite3_exec(c.db, sql, NULL, NULL, NULL) == SQLITE_OK);

    CHECK(mcp_reqset_walk(set, &c, "long", gone, 0, 256, &next, &walked)
          == SQLITE_OK);
    CHECK_EQ_INT(walked, 0);
    CHECK_EQ_INT(next, 0);
    /* from the newest, the walk still ends at the gap: a reader could not
       tell it from the chain's end without the count */
    CHECK(mcp_reqset_walk(set, &c, "long", head, 0, 256, &next, &walked)
          == SQLITE_OK);
    CHECK_EQ_INT(walked, 10);
    mcp_reqset_drop(set);
    mcp_conn_close(&c);
    t_res_clear(&hold);
    t_env_done(&env);
}


UNIT_MAIN("repo_warm",
    UNIT_TEST(test_others_write_while_a_chain_warms),
    UNIT_TEST(test_short_chain_reads_in_place),
    UNIT_TEST(test_swept_walk_reads_on_the_writer),
    UNIT_TEST(test_delete_waits_its_turn),
    UNIT_TEST(test_close_answers_parked_writes),
    UNIT_TEST(test_walks_leave_readers_for_clients),
    UNIT_TEST(test_walk_from_a_vanished_message_says_so))
