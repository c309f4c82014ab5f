/*
 * The chain layout's own guards (schema 5): request sets (hash keys,
 * growth, a writer outside mcpd), a walk that meets a link into another
 * conversation, a history page whose cursor message is gone.
 */

#include <jansson.h>
#include <sqlite3.h>
#include <stdio.h>

#include "unit.h"
#include "test_repo_util.h"
#include "repo/mcp_repo_int.h"

static t_env_t  env;
static t_res_t  res;


static void
t_sql(const char *sql)
{
    sqlite3  *db;
    char     *msg = NULL;

    CHECK(sqlite3_open(env.path, &db) == SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        fprintf(stderr, "  sql: %s: %s\n", sql, msg);
        CHECK(0);
    }
    sqlite3_free(msg);
    sqlite3_close(db);
}


/* a fresh repository with conversation conv of principal "p" */
static void
t_start(const char *conv)
{
    t_env_init(&env);
    CHECK(t_env_open(&env) != NULL);
    CHECK(t_open_conv(&env, &res, "p", conv) == 0);
}


static void
test_reqset_keys(void)
{
    mcp_reqsets_t   sets;
    mcp_reqset_t   *set;
    char            rid[32];
    int             i, missing = 0, extra = 0;

    memset(&sets, 0, sizeof(sets));
    CHECK(mcp_reqsets_find(&sets, "c") == NULL);
    set = mcp_reqsets_new(&sets, "c");
    CHECK(set != NULL);
    if (set == NULL) {
        return;
    }
    /* one key per (request id, type, part): none stands for another */
    CHECK(mcp_reqset_key("r", 1, 0) != mcp_reqset_key("r", 2, 0));
    CHECK(mcp_reqset_key("r", 1, 0) != mcp_reqset_key("r", 1, 1));
    CHECK(mcp_reqset_key("r", 1, 0) != mcp_reqset_key("s", 1, 0));
    CHECK(mcp_reqset_key("r", 1, 0) == mcp_reqset_key("r", 1, 0));

    for (i = 0; i < 5000; i++) {             /* through many growths */
        snprintf(rid, sizeof(rid), "rq-%d", i);
        CHECK(mcp_reqset_add(set, mcp_reqset_key(rid, 1, 0)) == 0);
        CHECK(mcp_reqset_add(set, mcp_reqset_key(rid, 1, 0)) == 0);
    }
    CHECK_EQ_INT(set->n, 5000);
    CHECK_EQ_INT(sets.keys, 5000);
    for (i = 0; i < 5000; i++) {
        snprintf(rid, sizeof(rid), "rq-%d", i);
        missing += !mcp_reqset_has(set, mcp_reqset_key(rid, 1, 0));
        extra += mcp_reqset_has(set, mcp_reqset_key(rid, 2, 0));
    }
    CHECK_EQ_INT(missing, 0);
    CHECK_EQ_INT(extra, 0);

    CHECK(mcp_reqsets_find(&sets, "c") == set);
    mcp_reqsets_forget(&sets, "c");
    CHECK(mcp_reqsets_find(&sets, "c") == NULL);
    CHECK_EQ_INT(sets.keys, 0);
    mcp_reqsets_free(&sets);
}


/*
 * Past the bound on keys, the least recently written conversations' sets
 * go until it fits; the newest stays (1,048,576 keys in all).
 */
static void
test_reqsets_bound_evicts_oldest(void)
{
    mcp_reqsets_t   sets;
    mcp_reqset_t   *a, *b;
    uint64_t        k;

    memset(&sets, 0, sizeof(sets));
    a = mcp_reqsets_new(&sets, "a");
    CHECK(a != NULL);
    for (k = 1; a && k <= 600000; k++) {
        CHECK(mcp_reqset_add(a, k * 0x9e3779b97f4a7c15ull) == 0);
    }
    b = mcp_reqsets_new(&sets, "b");
    CHECK(b != NULL);
    for (k = 1; b && k <= 600000; k++) {
        CHECK(mcp_reqset_add(b, k * 0xff51afd7ed558ccdull) == 0);
    }
    CHECK_EQ_INT(sets.keys, 1200000);
    mcp_reqsets_trim(&sets);
    CHECK_EQ_INT(sets.keys, 600000);
    CHECK_EQ_INT(sets.evicted, 1);
    CHECK(mcp_reqsets_find(&sets, "a") == NULL);
    CHECK(mcp_reqsets_find(&sets, "b") == b);
    mcp_reqsets_trim(&sets);                /* fits: nothing more goes */
    CHECK_EQ_INT(sets.evicted, 1);
    mcp_reqsets_free(&sets);
}


/*
 * A large deployment talks in 20,000 conversations at once (its cached
 * contexts, docs/operations.md): each keeps its set, so an append never
 * reads its conversation's whole chain again.  Past 32,768 the least
 * recently written goes.
 */
static void
test_reqsets_hold_a_large_deployment(void)
{
    mcp_reqsets_t   sets;
    mcp_reqset_t   *set;
    char            conv[32];
    int             i, lost = 0;

    memset(&sets, 0, sizeof(sets));
    for (i = 0; i < 20000; i++) {
        snprintf(conv, sizeof(conv), "conv-%d", i);
        set = mcp_reqsets_new(&sets, conv);
        CHECK(set != NULL);
        if (set == NULL) {
            break;
        }
        CHECK(mcp_reqset_add(set, mcp_reqset_key(conv, 1, 0)) == 0);
        CHECK(mcp_reqset_add(set, mcp_reqset_key(conv, 2, 0)) == 0);
        CHECK(mcp_reqset_add(set, mcp_reqset_key(conv, 2, 1)) == 0);
        mcp_reqsets_trim(&sets);
    }
    for (i = 0; i < 20000; i++) {
        snprintf(conv, sizeof(conv), "conv-%d", i);
        set = mcp_reqsets_find(&sets, conv);
        lost += set == NULL || !mcp_reqset_has(set, mcp_reqset_key(conv, 2,
                                                                   1));
    }
    CHECK_EQ_INT(lost, 0);
    CHECK_EQ_INT(sets.keys, 60000);
    CHECK_EQ_INT(sets.evicted, 0);

    /* read in order above, conv-0 then again: conv-1 is the oldest */
    CHECK(mcp_reqsets_find(&sets, "conv-0") != NULL);
    for (i = 20000; i < 32769; i++) {
        snprintf(conv, sizeof(conv), "conv-%d", i);
        CHECK(mcp_reqsets_new(&sets, conv) != NULL);
    }
    CHECK(mcp_reqsets_find(&sets, "conv-0") != NULL);
    CHECK(mcp_reqsets_find(&sets, "conv-1") == NULL);
    CHECK(mcp_reqsets_find(&sets, "conv-32768") != NULL);
    CHECK_EQ_INT(sets.evicted, 1);          /* counted, for the status */
    CHECK_EQ_INT(sets.keys, 60000 - 3);
    mcp_reqsets_free(&sets);
}


/* another process appends (keeping the chain): mcpd's set catches up */
static void
test_reqset_sees_other_writers(void)
{
    int64_t  theirs;

    t_start("c");
    CHECK(t_append(&env, &res, "c", MCP_MSG_USER, "mine", 4, "r1", 1, 0)
          == 0);
    CHECK_EQ_INT(res.duplicate, 0);

    t_sql("INSERT INTO messages(conversation_id, type, content, request_id,"
          " token_count, created_at, prev_id) VALUES ('c', 1, 'theirs',"
          " 'r2', 1, 1, (SELECT last_id FROM conversations WHERE id = 'c'));"
          "UPDATE conversations SET last_id = last_insert_rowid(),"
          " message_count = message_count + 1 WHERE id = 'c'");
    CHECK(t_history(&env, &res, "c", 1000, 0) == 0);
    CHECK_EQ_INT(res.n_msgs, 2);
    theirs = res.n_msgs == 2 ? res.msgs[1].id : 0;

    /* their request id is known, and so is mine */
    CHECK(t_append(&env, &res, "c", MCP_MSG_USER, "again", 5, "r2", 1, 0)
          == 0);
    CHECK_EQ_INT(res.duplicate, 1);
    CHECK_EQ_INT(res.id, theirs);
    CHECK(t_append(&env, &res, "c", MCP_MSG_USER, "again", 5, "r1", 1, 0)
          == 0);
    CHECK_EQ_INT(res.duplicate, 1);

    /* they delete the conversation and start it again: nothing of the
       old one is a duplicate, the new chain's keys are */
    t_sql("DELETE FROM messages WHERE conversation_id = 'c';"
          "UPDATE conversations SET last_id = NULL, message_count = 0"
          " WHERE id = 'c';"
          "INSERT INTO messages(conversation_id, type, content, request_id,"
          " token_count, created_at) VALUES ('c', 1, 'new', 'r3', 1, 1);"
          "UPDATE conversations SET last_id = last_insert_rowid(),"
          " message_count = 1 WHERE id = 'c'");
    CHECK(t_append(&env, &res, "c", MCP_MSG_USER, "old", 3, "r1", 1, 0)
          == 0);
    CHECK_EQ_INT(res.duplicate, 0);
    CHECK(t_append(&env, &res, "c", MCP_MSG_USER, "again", 5, "r3", 1, 0)
          == 0);
    CHECK_EQ_INT(res.duplicate, 1);
    CHECK(t_history(&env, &res, "c", 1000, 0) == 0);
    CHECK_EQ_INT(res.n_msgs, 2);
    if (res.n_msgs == 2) {
        CHECK_EQ_STR(res.msgs[0].content, "new");
        CHECK_EQ_STR(res.msgs[1].content, "old");
    }
    t_res_clear(&res);
    t_env_done(&env);
}


/* a link into another conversation ends the walk there */
static void
test_walk_stays_in_its_conversation(void)
{
    int  i;

    t_start("a");
    CHECK(t_open_conv(&env, &res, "p", "b") == 0);
    for (i = 0; i < 3; i++) {
        CHECK(t_append(&env, &res, "a", MCP_MSG_USER, "A", 1, NULL, 1, 0)
              == 0);
        CHECK(t_append(&env, &res, "b", MCP_MSG_USER, "B", 1, NULL, 1, 0)
              == 0);
    }
    /* ids: a = 1, 3, 5; b = 2, 4, 6.  a's newest now leads into b */
    t_sql("UPDATE messages SET prev_id = 4 WHERE id = 5");
    CHECK(t_history(&env, &res, "a", 1000, 0) == 0);
    CHECK_EQ_INT(res.n_msgs, 1);
    CHECK_EQ_INT(res.n_msgs ? res.msgs[0].id : 0, 5);

    /* a newest that is b's message: a has nothing to show */
    t_sql("UPDATE conversations SET last_id = 6 WHERE id = 'a'");
    CHECK(t_history(&env, &res, "a", 1000, 0) == 0);
    CHECK_EQ_INT(res.n_msgs, 0);
    /* and a link upwards is not followed either */
    t_sql("UPDATE conversations SET last_id = 3 WHERE id = 'a';"
          "UPDATE messages SET prev_id = 5 WHERE id = 3");
    CHECK(t_history(&env, &res, "a", 1000, 0) == 0);
    CHECK_EQ_INT(res.n_msgs, 1);
    CHECK(t_history(&env, &res, "b", 1000, 0) == 0);
    CHECK_EQ_INT(res.n_msgs, 3);
    t_res_clear(&res);
    t_env_done(&env);
}


static int
t_page(int64_t before, int64_t limit)
{
    t_res_clear(&res);
    if (mcp_repo_history_page(env.repo, "p", "c", before, limit, t_cb, &res)
        != 0)
    {
        return -1;
    }
    return t_wait(&env.loop, &res.done);
}


/* the cursor's message went (retention): the page is still what is
   below it */
static void
test_page_below_a_deleted_cursor(void)
{
    int  i;

    t_start("c");
    for (i = 0; i < 10; i++) {
        CHECK(t_append(&env, &res, "c", MCP_MSG_USER, "m", 1, NULL, 1, 0)
              == 0);
    }
    CHECK(t_page(7, 3) == 0);
    CHECK_EQ_INT(res.n_msgs, 3);
    CHECK_EQ_INT(res.n_msgs == 3 ? res.msgs[0].id : 0, 4);
    CHECK_EQ_INT(res.n_msgs == 3 ? res.msgs[2].id : 0, 6);

    t_sql("DELETE FROM messages WHERE id = 7;"
          "UPDATE messages SET prev_id = 6 WHERE id = 8");
    CHECK(t_page(7, 3) == 0);
    CHECK_EQ_INT(res.status, MCP_REPO_OK);
    CHECK_EQ_INT(res.n_msgs, 3);
    CHECK_EQ_INT(res.n_msgs == 3 ? res.msgs[0].id : 0, 4);
    CHECK_EQ_INT(res.n_msgs == 3 ? res.msgs[2].id : 0, 6);
    /* a cursor above everything: the newest page */
    CHECK(t_page(1000, 2) == 0);
    CHECK_EQ_INT(res.n_msgs, 2);
    CHECK_EQ_INT(res.n_msgs == 2 ? res.msgs[1].id : 0, 10);
    t_res_clear(&res);
    t_env_done(&env);
}


/* rule: delete the messages whose content is "old" */
static int
t_rule_old(sqlite3_stmt *link, void *ctx)
{
    int64_t  *seen = ctx;

    (*seen)++;
    return sqlite3_column_int64(link, MCP_LINK_TOKENS) == 0;
}


/*
 * A prune that stops at its row budget right after linking a kept message
 * past deleted ones still counts what it deleted and fixes the
 * conversation's count (it once returned early there).
 */
static void
test_prune_stops_at_its_budget(void)
{
    static const int  tokens[] = { 1, 0, 0, 1, 0, 0, 1 };  /* oldest first */
    mcp_conn_t        c;
    int64_t           deleted = 0, seen = 0;
    char              msg[256];
    int               i, more = 0;

    t_start("c");
    for (i = 0; i < 7; i++) {
        CHECK(t_append(&env, &res, "c", MCP_MSG_USER, "m", 1, NULL,
                       tokens[i], 0) == 0);
    }
    t_env_close_repo(&env);
    /* ids 1..7; newest first: 7 keep, 6 5 go, 4 keep, 3 2 go, 1 keep */

    CHECK(mcp_conn_open(&c, &env.rc, 0, msg, sizeof(msg)) == SQLITE_OK);
    CHECK(sqlite3_exec(c.db, "BEGIN IMMEDIATE", NULL, NULL, NULL) == 0);
    CHECK(mcp_chain_prune(&c, "c", t_rule_old, &seen, 3, &deleted, &more)
          == SQLITE_OK);
    CHECK(sqlite3_exec(c.db, "COMMIT", NULL, NULL, NULL) == 0);
    CHECK_EQ_INT(deleted, 3);           /* 6, 5, 3: the budget */
    CHECK_EQ_INT(more, 1);
    mcp_conn_close(&c);

    CHECK(t_env_open(&env) != NULL);
    CHECK(t_history(&env, &res, "c", 1000, 0) == 0);
    CHECK_EQ_INT(res.n_msgs, 4);        /* 1, 2, 4, 7 linked */
    CHECK_EQ_INT(res.n_msgs == 4 ? res.msgs[0].id : 0, 1);
    CHECK_EQ_INT(res.n_msgs == 4 ? res.msgs[1].id : 0, 2);
    CHECK_EQ_INT(res.n_msgs == 4 ? res.msgs[2].id : 0, 4);
    CHECK_EQ_INT(res.n_msgs == 4 ? res.msgs[3].id : 0, 7);
    t_res_clear(&res);
    if (mcp_repo_list(env.repo, "p", 10, t_cb, &res) == 0) {
        CHECK(t_wait(&env.loop, &res.done) == 0);
    }
    CHECK_EQ_INT(res.n_convs, 1);
    CHECK_EQ_INT(res.conv_msgs[0], 4);  /* the count follows */
    t_res_clear(&res);
    t_env_done(&env);
}


/*
 * The sets are read once per conversation and kept: checkpoints, WAL
 * restarts and the readers do not count as another writer; a commit by
 * another connection does, and drops them all.
 */
static void
test_sets_kept_until_another_writer(void)
{
    char  conv[16], rid[16];
    int   i;

    t_env_init(&env);
    env.rc.wal_checkpoint_pages = 8;        /* many checkpoints */
    CHECK(t_env_open(&env) != NULL);
    for (i = 0; i < 4; i++) {
        snprintf(conv, sizeof(conv), "c%d", i);
        CHECK(t_open_conv(&env, &res, "p", conv) == 0);
    }
    for (i = 0; i < 400; i++) {
        snprintf(conv, sizeof(conv), "c%d", i % 4);
        snprintf(rid, sizeof(rid), "r%d", i);
        CHECK(t_append(&env, &res, conv, MCP_MSG_USER, "question", 8, rid,
                       2, 0) == 0);
        CHECK_EQ_INT(res.duplicate, 0);
        if (i % 50 == 0) {
            CHECK(t_history(&env, &res, conv, 1000, 10) == 0);
        }
    }
    CHECK_EQ_INT(t_reqsets_stat(env.repo, "loads"), 4);
    CHECK_EQ_INT(t_reqsets_stat(env.repo, "foreign"), 0);
    CHECK_EQ_INT(t_reqsets_stat(env.repo, "keys"), 400);

    t_sql("UPDATE conversations SET title = 'renamed' WHERE id = 'c0'");
    CHECK(t_append(&env, &res, "c1", MCP_MSG_USER, "again", 5, "r1", 2, 0)
          == 0);
    CHECK_EQ_INT(res.duplicate, 1);
    CHECK_EQ_INT(t_reqsets_stat(env.repo, "foreign"), 1);
    CHECK_EQ_INT(t_reqsets_stat(env.repo, "loads"), 5);       /* c1's, read again */
    t_res_clear(&res);
    t_env_done(&env);
}


UNIT_MAIN("repo_reqset",
    UNIT_TEST(test_reqsets_bound_evicts_oldest),
    UNIT_TEST(test_reqsets_hold_a_large_deployment),
    UNIT_TEST(test_sets_kept_until_another_writer),
    UNIT_TEST(test_prune_stops_at_its_budget),
    UNIT_TEST(test_reqset_keys),
    UNIT_TEST(test_reqset_sees_other_writers),
    UNIT_TEST(test_walk_stays_in_its_conversation),
    UNIT_TEST(test_page_below_a_deleted_cursor))
