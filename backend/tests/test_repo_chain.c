/*
 * Black-box tests of the repository API (mcp_repo.h) over interleaved
 * conversations, written to hold across changes of the storage layout:
 * every history, page, export and list count is compared with a model of
 * what was acknowledged; idempotency of request ids (recent and old
 * requests, other conversations, after a restart, inside one group
 * commit); lookup by request id; delete and re-create; concurrent
 * appends with reads in flight.
 *
 * Retention and the upgrade of a version 4 file are in
 * test_repo_chain2.c, more conversations than the writer keeps request
 * sets for and two repositories on one file in test_repo_chain3.c.  The
 * model and its checks: test_repo_chain.h.
 */

#include "test_repo_chain.h"

#define T_CONVS  5

static t_env_t   env;
static t_res_t   rs[16], miss;
static c_conv_t  cs[9];


static void
t_open_unlimited(void)
{
    t_env_init(&env);
    env.pc.retention_policy = MCP_RETAIN_UNLIMITED;
    CHECK(t_env_open(&env) != NULL);
}


static void
t_done(void)
{
    c_env_done(&env, rs, 16);
}


/* a restart: the requests open until now are abandoned */
static void
t_reopen(void)
{
    t_env_close_repo(&env);
    CHECK(t_env_open(&env) != NULL);
    c_restart(cs, sizeof(cs) / sizeof(cs[0]));
}


/*
 * Five conversations filled round-robin (about 200 rows each, every type,
 * request ids repeating across conversations) plus one of another
 * principal in the same group commits: each read of each conversation
 * returns exactly its own rows.
 */
static void
test_interleaved_reads(void)
{
    c_conv_t  *other = &cs[T_CONVS];
    size_t     i;

    t_open_unlimited();
    c_open_all(&env, &rs[0], cs, T_CONVS, "conv-");
    c_rounds(&env, rs, cs, T_CONVS, 240);
    for (i = 0; i < T_CONVS; i++) {
        CHECK(cs[i].n >= 160 && cs[i].n <= 240);
    }

    /* another principal's conversation written in the same groups */
    c_conv_init(other, "q", "other");
    CHECK(t_open_conv(&env, &rs[0], "q", "other") == 0);
    for (i = 0; i < 40; i++) {
        c_round(&env, rs, cs, T_CONVS + 1, 1u << (i % T_CONVS));
    }

    c_check_all(&env, &rs[0], cs, T_CONVS);
    /* cursors that are rows of the other conversations */
    for (i = 0; i < 40; i++) {
        c_check_page_before(&env, &rs[0], &cs[i % T_CONVS],
                            cs[(i + 1) % T_CONVS].m[i * 4].id, 6);
    }
    c_check_page_before(&env, &rs[0], &cs[2], INT64_C(1) << 50, 9);
    c_check_pages(&env, &rs[0], &cs[0], 1);
    c_check_pages(&env, &rs[0], &cs[1], 1000);
    c_check_history(&env, &rs[0], other, C_BIG, 0);
    c_check_pages(&env, &rs[0], other, 16);
    c_check_export(&env, &rs[0], other);
    c_check_list(&env, &rs[0], "q", other, 1);

    /* the same reads after a restart: nothing kept only in memory */
    t_reopen();
    c_check_all(&env, &rs[0], cs, T_CONVS);
    c_check_history(&env, &rs[0], other, 50, 3);
    t_done();
}


/* the conversations of "p", most recently updated first, into r */
static void
t_list_into(t_res_t *r)
{
    t_res_clear(r);
    CHECK(mcp_repo_list(env.repo, "p", 0, t_cb, r) == 0);
    CHECK(t_wait(&env.loop, &r->done) == 0);
    CHECK_EQ_INT(r->status, MCP_REPO_OK);
}


/*
 * A request id is unique per conversation per (type, part): a repeat,
 * recent or hundreds of rows back, is answered with the stored row's id
 * and the request's stored rows, and writes nothing.
 */
static void
test_duplicates(void)
{
    char     rid[24];
    c_msg_t  m;
    size_t   i, last;

    t_open_unlimited();
    c_open_all(&env, &rs[0], cs, 3, "dup-");
    c_rounds(&env, rs, cs, 3, 240);

    /* the newest request of each conversation, and the oldest */
    t_list_into(&rs[1]);
    for (i = 0; i < 3; i++) {
        last = (cs[i].n - 1) / 8;
        snprintf(rid, sizeof(rid), "req-%zu", last);
        c_check_duplicate(&env, &rs[0], &cs[i], rid, MCP_MSG_USER, 0,
                          c_req_state(&cs[i], rid));
        c_check_duplicate(&env, &rs[0], &cs[i], "req-0", MCP_MSG_USER, 0,
                          MCP_REQ_DONE);
        c_check_duplicate(&env, &rs[0], &cs[i], "req-0", MCP_MSG_TOOL_RESULT,
                          1, MCP_REQ_DONE);
        c_check_duplicate(&env, &rs[0], &cs[i], "req-1", MCP_MSG_TOOL_CALL, 0,
                          MCP_REQ_DONE);
        c_check_duplicate(&env, &rs[0], &cs[i], "req-2", MCP_MSG_ASSISTANT, 0,
                          MCP_REQ_DONE);
    }
    /* nothing was written: counts, history, pages, the list's order (a
       repeat is no activity) as before */
    c_check_list(&env, &rs[0], "p", cs, 3);
    t_list_into(&rs[2]);
    CHECK_EQ_INT(rs[2].n_convs, rs[1].n_convs);
    for (i = 0; i < rs[1].n_convs && i < rs[2].n_convs; i++) {
        CHECK_EQ_STR(rs[2].convs[i], rs[1].convs[i]);
    }
    c_check_history(&env, &rs[0], &cs[0], C_BIG, 0);
    c_check_pages(&env, &rs[0], &cs[1], 50);

    /* the same id in another conversation is another request */
    memset(&m, 0, sizeof(m));
    m.type = MCP_MSG_USER;
    snprintf(m.rid, sizeof(m.rid), "fresh");
    for (i = 0; i < 3; i++) {
        snprintf(m.content, sizeof(m.content), "fresh question in %s",
                 cs[i].id);
        m.content_len = strlen(m.content);
        c_push(&env, &rs[0], &cs[i], &m);
    }
    c_check_duplicate(&env, &rs[0], &cs[1], "fresh", MCP_MSG_USER, 0,
                      MCP_REQ_OPEN);

    /* another part, another type of the same request: new rows */
    m.type = MCP_MSG_TOOL_CALL;
    m.part = 2;
    m.content_len = 0;
    c_push(&env, &rs[0], &cs[0], &m);
    m.type = MCP_MSG_TOOL_RESULT;
    snprintf(m.content, sizeof(m.content), "[\"part 2\"]");
    m.content_len = strlen(m.content);
    c_push(&env, &rs[0], &cs[0], &m);
    m.type = MCP_MSG_ASSISTANT;
    m.part = 0;
    m.final = 1;
    c_push(&env, &rs[0], &cs[0], &m);
    c_check_duplicate(&env, &rs[0], &cs[0], "fresh", MCP_MSG_TOOL_CALL, 2,
                      MCP_REQ_DONE);
    c_check_duplicate(&env, &rs[0], &cs[2], "fresh", MCP_MSG_USER, 0,
                      MCP_REQ_OPEN);

    /* after a restart: still detected, the open ones abandoned */
    last = (cs[1].next - 1) / 8;
    snprintf(rid, sizeof(rid), "req-%zu", last);
    CHECK_EQ_INT(c_req_state(&cs[1], rid), MCP_REQ_OPEN);
    t_reopen();
    c_check_lookup(&env, &rs[0], &cs[1], rid, MCP_REQ_ABANDONED);
    /* its answer comes after the restart: done, its rows all there */
    memset(&m, 0, sizeof(m));
    m.type = MCP_MSG_ASSISTANT;
    m.final = 1;
    snprintf(m.rid, sizeof(m.rid), "%s", rid);
    snprintf(m.content, sizeof(m.content), "late answer");
    m.content_len = strlen(m.content);
    c_push(&env, &rs[0], &cs[1], &m);
    c_check_lookup(&env, &rs[0], &cs[1], rid, MCP_REQ_DONE);
    c_check_duplicate(&env, &rs[0], &cs[1], rid, MCP_MSG_TOOL_CALL, 0,
                      MCP_REQ_DONE);
    for (i = 0; i < 3; i++) {
        c_check_duplicate(&env, &rs[0], &cs[i], "req-0", MCP_MSG_ASSISTANT, 0,
                          MCP_REQ_DONE);
        c_check_duplicate(&env, &rs[0], &cs[i], "req-3", MCP_MSG_TOOL_CALL, 1,
                          MCP_REQ_DONE);
    }
    c_check_duplicate(&env, &rs[0], &cs[0], "fresh", MCP_MSG_TOOL_RESULT, 2,
                      MCP_REQ_DONE);
    c_check_duplicate(&env, &rs[0], &cs[1], "fresh", MCP_MSG_USER, 0,
                      MCP_REQ_ABANDONED);
    c_check_all(&env, &rs[0], cs, 3);
    t_done();
}


/* What t_queue() queued, i-th answered in rs[i]. */
static c_msg_t  queued[16];

/* Queue m with content text as the i-th append of a group. */
static void
t_queue(const c_conv_t *c, c_msg_t *m, size_t i, const char *text)
{
    snprintf(m->content, sizeof(m->content), "%s", text);
    m->content_len = strlen(m->content);
    queued[i] = *m;
    CHECK(c_submit(&env, &rs[i], c->id, m) == 0);
}


static void
t_wait_group(size_t n)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        CHECK(t_wait(&env.loop, &rs[i].done) == 0);
        CHECK_EQ_INT(rs[i].status, MCP_REPO_OK);
    }
}


/*
 * Repeats queued together behind a busy writer, so that it takes them as
 * one group: the first queued is stored once, the others are its
 * duplicates; the same id in another conversation of that group is not.
 */
static void
test_duplicates_in_one_group(void)
{
    c_msg_t  m;
    size_t   i;

    t_open_unlimited();
    c_open_all(&env, &rs[0], cs, 2, "grp-");
    c_rounds(&env, rs, cs, 2, 40);

    memset(&m, 0, sizeof(m));
    m.type = MCP_MSG_USER;
    m.tokens = 4;
    snprintf(m.rid, sizeof(m.rid), "same");
    c_hold_writer(&env, &rs[15]);
    t_queue(&cs[0], &m, 0, "asked #0");
    t_queue(&cs[0], &m, 1, "asked #1");
    t_queue(&cs[0], &m, 2, "asked #2");
    t_queue(&cs[1], &m, 3, "asked in the other conversation");
    t_queue(&cs[0], &m, 4, "asked #4");
    t_queue(&cs[0], &m, 5, "asked #5");
    t_wait_group(6);
    c_record(&cs[0], &queued[0], &rs[0]);
    c_record(&cs[1], &queued[3], &rs[3]);
    for (i = 1; i < 6; i++) {
        if (i != 3) {
            CHECK_EQ_INT(rs[i].duplicate, 1);
            CHECK_EQ_INT(rs[i].id, rs[0].id);
            CHECK_EQ_INT(rs[i].request_state, MCP_REQ_OPEN);
            CHECK_EQ_INT(rs[i].n_msgs, 1);
            CHECK_EQ_STR(rs[i].msgs[0].content, "asked #0");
        }
    }

    /* a request, its answer and a repeat of its question in one group:
       the repeat sees the request done, with both rows */
    snprintf(m.rid, sizeof(m.rid), "whole");
    c_hold_writer(&env, &rs[15]);
    t_queue(&cs[1], &m, 0, "question");
    m.type = MCP_MSG_ASSISTANT;
    m.final = 1;
    t_queue(&cs[1], &m, 1, "answer");
    m.type = MCP_MSG_USER;
    m.final = 0;
    t_queue(&cs[1], &m, 2, "question again");
    t_wait_group(3);
    c_record(&cs[1], &queued[0], &rs[0]);
    c_record(&cs[1], &queued[1], &rs[1]);
    CHECK_EQ_INT(rs[2].duplicate, 1);
    CHECK_EQ_INT(rs[2].id, rs[0].id);
    CHECK_EQ_INT(rs[2].request_state, MCP_REQ_DONE);
    CHECK_EQ_INT(rs[2].n_msgs, 2);

    c_check_all(&env, &rs[0], cs, 2);
    c_check_lookup(&env, &rs[0], &cs[0], "same", MCP_REQ_OPEN);
    c_check_lookup(&env, &rs[0], &cs[1], "whole", MCP_REQ_DONE);
    t_done();
}


/*
 * Groups holding several rows of each conversation: for each, a new row,
 * a repeat of an old request, another new row, plus an append to a
 * missing conversation in the middle.  The new rows follow each other
 * (and nothing of the repeat or of the failure shows), group after group.
 */
static void
test_group_bursts(void)
{
    c_msg_t  m[T_CONVS][2], dup;
    size_t   i;
    int      b;

    t_open_unlimited();
    c_open_all(&env, &rs[0], cs, T_CONVS, "burst-");
    c_rounds(&env, rs, cs, T_CONVS, 30);

    for (b = 0; b < 4; b++) {
        c_hold_writer(&env, &rs[15]);
        for (i = 0; i < T_CONVS; i++) {
            c_gen(&cs[i], cs[i].next, &m[i][0]);
            c_gen(&cs[i], cs[i].next + 1, &m[i][1]);
            dup = *c_find(&cs[i], "req-0", MCP_MSG_USER, 0);
            CHECK(c_submit(&env, &rs[3 * i], cs[i].id, &m[i][0]) == 0);
            CHECK(c_submit(&env, &rs[3 * i + 1], cs[i].id, &dup) == 0);
            CHECK(c_submit(&env, &rs[3 * i + 2], cs[i].id, &m[i][1]) == 0);
            if (i == 2) {
                CHECK(c_submit(&env, &miss, "no-such-conv", &dup) == 0);
            }
        }
        for (i = 0; i < 3 * T_CONVS; i++) {
            CHECK(t_wait(&env.loop, &rs[i].done) == 0);
        }
        CHECK(t_wait(&env.loop, &miss.done) == 0);
        CHECK_EQ_INT(miss.status, MCP_REPO_ENOTFOUND);
        for (i = 0; i < T_CONVS; i++) {
            c_record(&cs[i], &m[i][0], &rs[3 * i]);
            CHECK_EQ_INT(rs[3 * i + 1].status, MCP_REPO_OK);
            CHECK_EQ_INT(rs[3 * i + 1].duplicate, 1);
            CHECK_EQ_INT(rs[3 * i + 1].id,
                         c_find(&cs[i], "req-0", MCP_MSG_USER, 0)->id);
            c_record(&cs[i], &m[i][1], &rs[3 * i + 2]);
        }
    }
    c_check_all(&env, &rs[0], cs, T_CONVS);
    t_reopen();
    c_check_all(&env, &rs[0], cs, T_CONVS);
    t_res_clear(&miss);
    t_done();
}


/*
 * Lookup by request id: a recent and an old request, one still in
 * flight, one ended without an answer, ids unknown to the conversation.
 */
static void
test_lookup(void)
{
    c_conv_t  *open = NULL;
    c_msg_t    m;
    char       rid[24], open_rid[24];
    int        k;

    t_open_unlimited();
    c_open_all(&env, &rs[0], cs, 4, "look-");
    memset(&m, 0, sizeof(m));
    m.type = MCP_MSG_USER;
    snprintf(m.rid, sizeof(m.rid), "early");
    snprintf(m.content, sizeof(m.content), "asked first, never answered");
    m.content_len = strlen(m.content);
    c_push(&env, &rs[0], &cs[2], &m);
    cs[2].next = 0;                         /* the rounds start at req-0 */
    c_rounds(&env, rs, cs, 4, 200);

    /* ended far down the conversation: found, and done */
    c_check_lookup(&env, &rs[0], &cs[2], "early", MCP_REQ_OPEN);
    t_res_clear(&rs[0]);
    CHECK(mcp_repo_request_end(env.repo, cs[2].id, "early", t_cb, &rs[0])
          == 0);
    CHECK(t_wait(&env.loop, &rs[0].done) == 0);
    CHECK_EQ_INT(rs[0].status, MCP_REPO_OK);
    ((c_msg_t *) c_find(&cs[2], "early", MCP_MSG_USER, 0))->final = 1;
    c_check_lookup(&env, &rs[0], &cs[2], "early", MCP_REQ_DONE);

    /* the conversations sit out different rounds: one of them ends part
       way through a request (in flight) */
    for (k = 0; k < 4 && open == NULL; k++) {
        snprintf(open_rid, sizeof(open_rid), "req-%zu", (cs[k].next - 1) / 8);
        if (c_req_state(&cs[k], open_rid) == MCP_REQ_OPEN) {
            open = &cs[k];
        }
    }
    CHECK(open != NULL);
    if (open == NULL) {
        t_done();
        return;
    }
    c_check_lookup(&env, &rs[0], open, open_rid, MCP_REQ_OPEN);
    CHECK(rs[0].n_msgs >= 1 && rs[0].n_msgs < 6);

    for (k = 0; k < 4; k++) {
        c_check_lookup(&env, &rs[0], &cs[k], "req-0", MCP_REQ_DONE);
        c_check_lookup(&env, &rs[0], &cs[k], "req-1", MCP_REQ_DONE);
        snprintf(rid, sizeof(rid), "req-%zu", cs[k].next / 8 - 1);
        c_check_lookup(&env, &rs[0], &cs[k], rid, MCP_REQ_DONE);
        CHECK_EQ_INT(rs[0].n_msgs, 6);
    }

    /* ended without a final row: done, with the rows it has */
    t_res_clear(&rs[0]);
    CHECK(mcp_repo_request_end(env.repo, open->id, open_rid, t_cb, &rs[0])
          == 0);
    CHECK(t_wait(&env.loop, &rs[0].done) == 0);
    CHECK_EQ_INT(rs[0].status, MCP_REPO_OK);
    /* for the model: finished as if its question were its final row */
    ((c_msg_t *) c_find(open, open_rid, MCP_MSG_USER, 0))->final = 1;
    CHECK_EQ_INT(c_req_state(open, open_rid), MCP_REQ_DONE);
    c_check_lookup(&env, &rs[0], open, open_rid, MCP_REQ_DONE);

    /* unknown: no rows, no state, not an error */
    c_check_unknown(&env, &rs[0], cs[0].id, "req-999");
    c_check_unknown(&env, &rs[0], cs[0].id, "");
    c_check_unknown(&env, &rs[0], "no-such-conv", "req-0");

    /* a request of one conversation is unknown to the others */
    snprintf(m.rid, sizeof(m.rid), "only-in-0");
    snprintf(m.content, sizeof(m.content), "mine");
    m.content_len = 4;
    c_push(&env, &rs[0], &cs[0], &m);
    c_check_lookup(&env, &rs[0], &cs[0], "only-in-0", MCP_REQ_OPEN);
    c_check_unknown(&env, &rs[0], cs[1].id, "only-in-0");

    /* after a restart the open one is abandoned, the rest as they were */
    t_reopen();
    c_check_lookup(&env, &rs[0], &cs[0], "only-in-0", MCP_REQ_ABANDONED);
    c_check_lookup(&env, &rs[0], &cs[2], "req-0", MCP_REQ_DONE);
    c_check_lookup(&env, &rs[0], open, open_rid, MCP_REQ_DONE);
    c_check_lookup(&env, &rs[0], &cs[3], rid, MCP_REQ_DONE);
    t_done();
}


static int64_t
t_delete(const char *principal, const char *conv, int status)
{
    t_res_clear(&rs[0]);
    CHECK(mcp_repo_delete(env.repo, principal, conv, t_cb, &rs[0]) == 0);
    CHECK(t_wait(&env.loop, &rs[0].done) == 0);
    CHECK_EQ_INT(rs[0].status, status);
    return rs[0].count;
}


/* c is gone: no rows, no requests, pages and export not found */
static void
t_check_gone(const c_conv_t *c)
{
    CHECK(t_history(&env, &rs[0], c->id, C_BIG, 0) == 0);
    CHECK_EQ_INT(rs[0].status, MCP_REPO_OK);
    CHECK_EQ_INT(rs[0].n_msgs, 0);
    t_res_clear(&rs[0]);
    CHECK(mcp_repo_history_page(env.repo, "p", c->id, 0, 10, t_cb, &rs[0])
          == 0);
    CHECK(t_wait(&env.loop, &rs[0].done) == 0);
    CHECK_EQ_INT(rs[0].status, MCP_REPO_ENOTFOUND);
    t_res_clear(&rs[0]);
    CHECK(mcp_repo_export(env.repo, "p", c->id, t_cb, &rs[0]) == 0);
    CHECK(t_wait(&env.loop, &rs[0].done) == 0);
    CHECK_EQ_INT(rs[0].status, MCP_REPO_ENOTFOUND);
    c_check_unknown(&env, &rs[0], c->id, "req-0");
}


/* move conversation from to the end of cs (it is deleted) */
static void
t_drop(size_t *n, size_t from)
{
    c_conv_t  tmp = cs[from];

    memmove(&cs[from], &cs[from + 1], (*n - from - 1) * sizeof(cs[0]));
    cs[--*n] = tmp;
}


/*
 * Delete takes one conversation's rows and nothing else; the id can be
 * used again for a new, empty conversation whose request ids are new;
 * appends elsewhere go on.
 */
static void
test_delete(void)
{
    c_conv_t  gone;
    c_msg_t   m, m2;
    size_t    n = T_CONVS, i;

    t_open_unlimited();
    c_open_all(&env, &rs[0], cs, T_CONVS, "del-");
    c_rounds(&env, rs, cs, T_CONVS, 120);

    /* one in the middle */
    CHECK_EQ_INT(t_delete("p", cs[2].id, MCP_REPO_OK), cs[2].n);
    t_drop(&n, 2);
    gone = cs[n];
    t_check_gone(&gone);
    c_check_all(&env, &rs[0], cs, n);

    /* an append to it now fails and leaves nothing behind */
    CHECK(t_append(&env, &rs[0], gone.id, MCP_MSG_USER, "late", 4, "req-0",
                   1, 0) == 0);
    CHECK_EQ_INT(rs[0].status, MCP_REPO_ENOTFOUND);

    /* the same id again: a new conversation, empty, its requests new */
    CHECK(t_open_conv(&env, &rs[0], "p", gone.id) == 0);
    CHECK_EQ_INT(rs[0].status, MCP_REPO_OK);
    CHECK_EQ_INT(rs[0].created, 1);
    c_conv_init(&cs[n], "p", gone.id);
    c_check_history(&env, &rs[0], &cs[n], C_BIG, 0);
    CHECK_EQ_INT(rs[0].n_msgs, 0);
    for (i = 0; i < 10; i++) {
        c_gen(&cs[n], cs[n].next, &m);
        c_push(&env, &rs[0], &cs[n], &m);   /* "req-0": not a duplicate */
    }
    n++;
    c_check_all(&env, &rs[0], cs, n);
    c_check_lookup(&env, &rs[0], &cs[n - 1], "req-0", MCP_REQ_DONE);
    c_check_lookup(&env, &rs[0], &cs[n - 1], "req-5", MCP_REQ_NONE);

    /* the one holding the newest rows (the new one), then more appends:
       they may reuse the deleted rows' ids (SQLite rowids do), so any
       memory of the deleted rows would show up here */
    CHECK_EQ_INT(t_delete("p", cs[n - 1].id, MCP_REPO_OK), cs[n - 1].n);
    n--;
    t_check_gone(&cs[n]);
    for (i = 0; i < 20; i++) {
        c_round(&env, rs, cs, n, 0);
    }
    c_check_all(&env, &rs[0], cs, n);
    c_check_duplicate(&env, &rs[0], &cs[0], "req-0", MCP_MSG_USER, 0,
                      MCP_REQ_DONE);

    /* a delete queued between appends to other conversations */
    c_hold_writer(&env, &rs[15]);
    c_gen(&cs[0], cs[0].next, &m);
    CHECK(c_submit(&env, &rs[1], cs[0].id, &m) == 0);
    CHECK(mcp_repo_delete(env.repo, "p", cs[1].id, t_cb, &rs[2]) == 0);
    c_gen(&cs[2], cs[2].next, &m2);
    CHECK(c_submit(&env, &rs[3], cs[2].id, &m2) == 0);
    for (i = 1; i < 4; i++) {
        CHECK(t_wait(&env.loop, &rs[i].done) == 0);
    }
    c_record(&cs[0], &m, &rs[1]);
    CHECK_EQ_INT(rs[2].status, MCP_REPO_OK);
    CHECK_EQ_INT(rs[2].count, cs[1].n);
    c_record(&cs[2], &m2, &rs[3]);
    t_drop(&n, 1);
    t_check_gone(&cs[n]);
    c_check_all(&env, &rs[0], cs, n);

    /* and all of it as stored */
    t_reopen();
    c_check_all(&env, &rs[0], cs, n);
    t_done();
}


/* ------------------------------------------------------------ concurrency */

#define T_WRITERS   64
#define T_PER       4       /* a request: question, tool call and result,
                               answer; then a repeat of the question */
#define T_READERS   8
#define T_READS     2048

typedef struct {
    int       idx;
    int       conv;
    int       sent;                 /* appends sent so far */
    int       reader;
    c_msg_t   m;
    int64_t   ids[T_PER];
} t_caller_t;

static t_caller_t  callers[T_WRITERS + T_READERS];
static int         writing, reading, failures;
static size_t      nreads;
static struct {
    int       conv;
    size_t    n;
    int64_t   ids[48];
} reads[T_READS];

static void t_caller_next(t_caller_t *c);


static void
t_read_cb(const mcp_repo_result_t *res, void *data)
{
    t_caller_t  *c = data;
    size_t       i, n = res->n_msgs;
    int          bad = res->status != MCP_REPO_OK || n > 48;

    reading--;

    for (i = 0; i < n && !bad; i++) {
        bad = (i > 0 && res->msgs[i].id <= res->msgs[i - 1].id)
              || strncmp(res->msgs[i].content, cs[c->conv].id,
                         strlen(cs[c->conv].id)) != 0;
    }
    if (bad) {
        failures++;
        fprintf(stderr, "  read of %s: bad rows\n", cs[c->conv].id);
    } else if (nreads < T_READS) {
        reads[nreads].conv = c->conv;
        reads[nreads].n = n;
        for (i = 0; i < n; i++) {
            reads[nreads].ids[i] = res->msgs[i].id;
        }
        nreads++;
    }
    t_caller_next(c);
}


static void
t_write_cb(const mcp_repo_result_t *res, void *data)
{
    t_caller_t  *c = data;
    int          j = c->sent - 1;

    if (res->status != MCP_REPO_OK) {
        failures++;
        fprintf(stderr, "  append: %s\n", res->error);
    } else if (j < T_PER) {
        failures += res->duplicate || (j > 0 && res->id <= c->ids[j - 1]);
        c->ids[j] = res->id;
        c_acked(&cs[c->conv], &c->m, res->id);
    } else {
        /* the repeat: the stored question and its whole request */
        failures += !res->duplicate || res->id != c->ids[0]
                    || res->n_msgs != T_PER
                    || res->request_state != MCP_REQ_DONE;
    }
    t_caller_next(c);
}


static void
t_caller_next(t_caller_t *c)
{
    static const int  types[T_PER + 1] = { MCP_MSG_USER, MCP_MSG_TOOL_CALL,
        MCP_MSG_TOOL_RESULT, MCP_MSG_ASSISTANT, MCP_MSG_USER };
    int               j = c->sent++;

    if (c->reader) {
        if (writing == 0) {
            return;
        }
        reading++;
        if (j % 2) {
            mcp_repo_history(env.repo, cs[c->conv].id, C_BIG, 48, t_read_cb,
                             c);
        } else {
            mcp_repo_history_page(env.repo, "p", cs[c->conv].id, 0, 48,
                                  t_read_cb, c);
        }
        return;
    }
    if (j > T_PER) {
        writing--;
        return;
    }
    memset(&c->m, 0, sizeof(c->m));
    c->m.type = types[j];
    c->m.tokens = 1 + j;
    c->m.final = j == T_PER - 1;
    snprintf(c->m.rid, sizeof(c->m.rid), "w%d", c->idx);
    snprintf(c->m.content, sizeof(c->m.content), "%s/w%d/%d ünï",
             cs[c->conv].id, c->idx, j);
    c->m.content_len = strlen(c->m.content);
    CHECK(c_append(env.repo, cs[c->conv].id, &c->m, t_write_cb, c) == 0);
}


/* a read taken while writers ran is a prefix of the final conversation:
   nothing seen out of order, no row that appears later below it */
static void
t_check_read(size_t r)
{
    const c_conv_t  *c = &cs[reads[r].conv];
    size_t           i;

    CHECK(reads[r].n <= c->n);
    for (i = 0; i < reads[r].n && i < c->n; i++) {
        if (reads[r].ids[i] != c->m[i].id) {
            fprintf(stderr, "  read %zu of %s: row %zu is %lld, not %lld\n",
                    r, c->id, i, (long long) reads[r].ids[i],
                    (long long) c->m[i].id);
            CHECK(!"a read is a prefix of the conversation");
            return;
        }
    }
}


/*
 * 64 writers over 8 conversations, each a whole request then a repeat of
 * its question, all started at once, with 8 readers reading the whole
 * conversations meanwhile: everything acknowledged, each conversation
 * exactly its acknowledged rows in id order, every read a prefix of it.
 */
static void
test_concurrent_appends(void)
{
    char      id[32];
    uint64_t  start;
    size_t    i;

    t_env_init(&env);
    env.pc.retention_policy = MCP_RETAIN_UNLIMITED;
    CHECK(t_env_open(&env) != NULL);
    for (i = 0; i < 8; i++) {
        snprintf(id, sizeof(id), "cc-%zu", i);
        c_conv_init(&cs[i], "p", id);
        CHECK(t_open_conv(&env, &rs[0], "p", id) == 0);
    }
    memset(callers, 0, sizeof(callers));
    writing = T_WRITERS;
    reading = 0;
    failures = 0;
    nreads = 0;
    for (i = 0; i < T_WRITERS + T_READERS; i++) {
        callers[i].idx = (int) i;
        callers[i].conv = (int) (i % 8);
        callers[i].reader = i >= T_WRITERS;
        t_caller_next(&callers[i]);
    }
    start = uv_hrtime();
    while ((writing > 0 || reading > 0)
           && uv_hrtime() - start < 15000000000ull)
    {
        uv_run(&env.loop, UV_RUN_ONCE);
    }
    CHECK_EQ_INT(writing, 0);
    CHECK_EQ_INT(reading, 0);
    CHECK_EQ_INT(failures, 0);
    CHECK(nreads > 0);

    for (i = 0; i < 8; i++) {
        CHECK_EQ_INT(cs[i].n, T_WRITERS / 8 * T_PER);
        c_sort_by_id(&cs[i]);
    }
    c_check_all(&env, &rs[0], cs, 8);
    for (i = 0; i < nreads; i++) {
        t_check_read(i);
    }
    t_done();
}


UNIT_MAIN("repo_chain",
    UNIT_TEST(test_interleaved_reads),
    UNIT_TEST(test_duplicates),
    UNIT_TEST(test_duplicates_in_one_group),
    UNIT_TEST(test_group_bursts),
    UNIT_TEST(test_lookup),
    UNIT_TEST(test_delete),
    UNIT_TEST(test_concurrent_appends))
