/*
 * Black-box tests of the repository API, continued (test_repo_chain.c
 * has the first part; the model and its checks are test_repo_chain.h):
 * each retention policy over interleaved conversations with a request in
 * flight among deleted rows, retention at open, a version 4 database file
 * built by hand and opened.
 */

#include <sqlite3.h>
#include <time.h>

#include "test_repo_chain.h"

#define T_CONVS  4
#define T_DAY    INT64_C(86400000)
#define T_NOW    ((int64_t) time(NULL) * 1000)

static t_env_t   env;
static t_res_t   rs[16];
static c_conv_t  cs[9];


static void
t_done(void)
{
    c_env_done(&env, rs, 16);
}


/* ------------------------------------------------------------ retention */

/* is row i of c part of a request still in flight (its user row open)? */
static int
t_in_flight(const c_conv_t *c, size_t i)
{
    return c->m[i].rid[0] && c_req_state(c, c->m[i].rid) == MCP_REQ_OPEN;
}


/*
 * What retention must delete from c, applied to the model: the policy
 * walks newest first (message_count: beyond keep rows; token_limit: once
 * the running sum passes keep, never the newest row; time_based: older
 * than cutoff); rows of a request in flight stay (after a restart
 * c_restart() has marked the ones that were open as abandoned).
 */
static int64_t
t_apply(c_conv_t *c, int policy, int64_t keep, int64_t cutoff)
{
    static unsigned char  del[C_MAX_MSGS];
    int64_t               cum = 0, deleted = 0;
    size_t                i, j, rn;

    for (i = c->n; i-- > 0; /* void */) {
        rn = c->n - i;
        cum += c->m[i].tokens;
        switch (policy) {
        case MCP_RETAIN_MESSAGE_COUNT:
            del[i] = (int64_t) rn > keep;
            break;
        case MCP_RETAIN_TOKEN_LIMIT:
            del[i] = rn > 1 && cum > keep;
            break;
        default:
            /* 0: appended without a time, now */
            del[i] = c->m[i].created_at != 0 && c->m[i].created_at < cutoff;
            break;
        }
        del[i] = del[i] && !t_in_flight(c, i);
    }
    for (i = 0, j = 0; i < c->n; i++) {
        if (del[i]) {
            deleted++;
        } else {
            c->m[j++] = c->m[i];
        }
    }
    c->n = j;
    return deleted;
}


static int64_t
t_apply_all(c_conv_t *c, size_t n)
{
    int64_t  deleted = 0, keep;
    size_t   i;

    keep = env.pc.retention_policy == MCP_RETAIN_TOKEN_LIMIT
           ? env.pc.max_tokens_per_conversation
           : env.pc.max_messages_per_conversation;
    for (i = 0; i < n; i++) {
        deleted += t_apply(&c[i], env.pc.retention_policy, keep,
                           T_NOW - env.pc.retention_days * T_DAY);
    }
    return deleted;
}


static int64_t
t_retain(void)
{
    t_res_clear(&rs[0]);
    CHECK(mcp_repo_retention_run(env.repo, t_cb, &rs[0]) == 0);
    CHECK(t_wait(&env.loop, &rs[0].done) == 0);
    CHECK_EQ_INT(rs[0].status, MCP_REPO_OK);
    return rs[0].count;
}


/* created_at of time-based cases: 40 days old or 10 */
static int64_t
t_old(const c_conv_t *c, size_t k)
{
    return T_NOW - 40 * T_DAY + (int64_t) k;
}

static int64_t
t_old_then_new(const c_conv_t *c, size_t k)
{
    return T_NOW - (k < 90 ? 40 : 10) * T_DAY + (int64_t) k;
}

static int64_t
t_mixed(const c_conv_t *c, size_t k)
{
    /* out of order: ages given by the caller need not grow */
    return T_NOW - (k % 3 != 2 ? 40 : 10) * T_DAY;
}


/* a "live" request: its question and a tool call, no answer yet */
static void
t_start_live(c_conv_t *c)
{
    c_msg_t  m;

    c_gen(c, c->next, &m);
    m.type = MCP_MSG_USER;
    snprintf(m.rid, sizeof(m.rid), "live");
    m.part = 0;
    m.final = 0;
    snprintf(m.content, sizeof(m.content), "live question of %s", c->id);
    m.content_len = strlen(m.content);
    c_push(&env, &rs[0], c, &m);
    m.type = MCP_MSG_TOOL_CALL;
    m.content_len = 0;
    c_push(&env, &rs[0], c, &m);
}


static void
t_finish_live(c_conv_t *c)
{
    c_msg_t  m;

    c_gen(c, c->next, &m);
    m.type = MCP_MSG_ASSISTANT;
    snprintf(m.rid, sizeof(m.rid), "live");
    m.part = 0;
    m.final = 1;
    c_push(&env, &rs[0], c, &m);
}


/* the rows just before and after the live request of c (ids) */
static void
t_live_neighbours(const c_conv_t *c, int64_t *before, int64_t *after)
{
    size_t  i;

    *before = *after = 0;
    for (i = 1; i + 2 < c->n; i++) {
        if (strcmp(c->m[i].rid, "live") == 0 && c->m[i].type == MCP_MSG_USER)
        {
            *before = c->m[i - 1].id;
            *after = c->m[i + 2].id;
        }
    }
}


static int
t_has_id(const c_conv_t *c, int64_t id)
{
    size_t  i;

    for (i = 0; i < c->n; i++) {
        if (c->m[i].id == id) {
            return 1;
        }
    }
    return 0;
}


/* a conversation none of whose rows of request "req-0" is left */
static c_conv_t *
t_req0_gone(void)
{
    c_msg_t  exp[C_MAX_MSGS];
    size_t   i;

    for (i = 0; i < T_CONVS; i++) {
        if (c_request_rows(&cs[i], "req-0", exp) == 0) {
            return &cs[i];
        }
    }
    return NULL;
}


/*
 * Requests retention cut in two (question gone, later rows kept): the
 * kept rows are looked up and answer repeats, without a state; the
 * question asked again is stored (after them), and the request then has
 * all its rows, open.  The number of conversations holding one.
 *
 * FINDING (the question asked again; passes on schema 4 at 891f0c2,
 * fails on schema 5 at main d1c2df1): the lookup then returns the new
 * question only, and a repeat of a kept row is not found: it is stored a
 * second time.
 */
static void
t_reopen(c_conv_t *c, const char *rid)
{
    size_t  k;

    for (k = 0; k < c->n; k++) {
        if (strcmp(c->m[k].rid, rid) == 0) {
            c->m[k].final = 0;
        }
    }
}


static int
t_check_partial(void)
{
    c_msg_t  m, ask;
    size_t   i, j;
    int      found = 0;

    for (i = 0; i < T_CONVS; i++) {
        for (j = 0; j < cs[i].n; j++) {
            m = cs[i].m[j];
            if (m.rid[0] && c_find(&cs[i], m.rid, MCP_MSG_USER, 0) == NULL) {
                c_check_lookup(&env, &rs[0], &cs[i], m.rid, MCP_REQ_NONE);
                c_check_duplicate(&env, &rs[0], &cs[i], m.rid, m.type,
                                  m.part, MCP_REQ_NONE);
                memset(&ask, 0, sizeof(ask));
                ask.type = MCP_MSG_USER;
                snprintf(ask.rid, sizeof(ask.rid), "%s", m.rid);
                snprintf(ask.content, sizeof(ask.content), "%s again",
                         m.rid);
                ask.content_len = strlen(ask.content);
                c_push(&env, &rs[0], &cs[i], &ask);
                /* its state is on the question, open again: a final row
                   kept from before no longer ends it (in flight for
                   retention too) */
                t_reopen(&cs[i], m.rid);
                c_check_lookup(&env, &rs[0], &cs[i], m.rid, MCP_REQ_OPEN);
                c_check_duplicate(&env, &rs[0], &cs[i], m.rid, m.type,
                                  m.part, MCP_REQ_OPEN);
                found++;
                break;
            }
        }
    }
    return found;
}


/*
 * One policy over four interleaved conversations: the kept rows are
 * exactly the expected ones, every read agrees, the live request of
 * conversation 1 stays among deleted neighbours while the one of the same
 * name in conversation 2 (finished) goes; appends then continue.
 */
static void
t_retention_case(int policy, int64_t keep)
{
    int64_t    before, after;
    c_conv_t  *c;
    c_msg_t    m;

    t_env_init(&env);
    env.pc.retention_policy = policy;
    env.pc.max_messages_per_conversation = keep;
    env.pc.max_tokens_per_conversation = keep;
    env.pc.retention_days = 30;
    CHECK(t_env_open(&env) != NULL);
    c_open_all(&env, &rs[0], cs, T_CONVS, "ret-");
    if (policy == MCP_RETAIN_TIME_BASED) {
        cs[0].when = t_mixed;
        cs[1].when = t_old_then_new;
        cs[2].when = t_old_then_new;
        cs[3].when = t_old;                 /* emptied */
    }
    c_rounds(&env, rs, cs, T_CONVS, 10);
    t_start_live(&cs[1]);
    t_start_live(&cs[2]);
    c_rounds(&env, rs, cs, T_CONVS, 50);
    t_finish_live(&cs[2]);
    c_rounds(&env, rs, cs, T_CONVS, 60);

    t_live_neighbours(&cs[1], &before, &after);
    CHECK_EQ_INT(t_retain(), t_apply_all(cs, T_CONVS));
    /* the case is what it claims: live kept, its neighbours not */
    CHECK(!t_has_id(&cs[1], before) && !t_has_id(&cs[1], after));
    CHECK(c_find(&cs[1], "live", MCP_MSG_TOOL_CALL, 0) != NULL);
    CHECK(c_find(&cs[2], "live", MCP_MSG_USER, 0) == NULL);
    c_check_all(&env, &rs[0], cs, T_CONVS);
    /* a client's cursor on a row deleted since: the rows below it */
    c_check_page_before(&env, &rs[0], &cs[1], after, 5);
    c_check_page_before(&env, &rs[0], &cs[1], before, 5);
    c_check_page_before(&env, &rs[0], &cs[1], after - 1, 1);
    c_check_lookup(&env, &rs[0], &cs[1], "live", MCP_REQ_OPEN);
    CHECK_EQ_INT(rs[0].n_msgs, 2);
    c_check_unknown(&env, &rs[0], cs[2].id, "live");
    c_check_duplicate(&env, &rs[0], &cs[1], "live", MCP_MSG_USER, 0,
                      MCP_REQ_OPEN);
    CHECK(t_check_partial() > 0);

    /* appends continue each conversation after the kept rows */
    c_rounds(&env, rs, cs, T_CONVS, 12);
    c_check_all(&env, &rs[0], cs, T_CONVS);

    /* the live request ends: its rows are ordinary history from now on */
    t_finish_live(&cs[1]);
    c_check_lookup(&env, &rs[0], &cs[1], "live", MCP_REQ_DONE);
    CHECK_EQ_INT(t_retain(), t_apply_all(cs, T_CONVS));
    c_check_all(&env, &rs[0], cs, T_CONVS);

    /*
     * A retry of a request whose rows retention removed is stored as a new
     * request (today's behaviour): no answer may point at a deleted row.
     */
    c = t_req0_gone();
    CHECK(c != NULL);
    if (c) {
        memset(&m, 0, sizeof(m));
        m.type = MCP_MSG_USER;
        m.tokens = 2;
        snprintf(m.rid, sizeof(m.rid), "req-0");
        snprintf(m.content, sizeof(m.content), "req-0 asked again");
        m.content_len = strlen(m.content);
        CHECK(t_append(&env, &rs[0], c->id, MCP_MSG_USER, m.content,
                       m.content_len, m.rid, m.tokens, 0) == 0);
        c_record(c, &m, &rs[0]);
        c_check_history(&env, &rs[0], c, C_BIG, 0);
        c_check_lookup(&env, &rs[0], c, "req-0", MCP_REQ_OPEN);
    }
    c_check_all(&env, &rs[0], cs, T_CONVS);
    t_done();
}


static void
test_retention_message_count(void)
{
    t_retention_case(MCP_RETAIN_MESSAGE_COUNT, 40);
}


static void
test_retention_token_limit(void)
{
    t_retention_case(MCP_RETAIN_TOKEN_LIMIT, 150);
}


static void
test_retention_time_based(void)
{
    t_retention_case(MCP_RETAIN_TIME_BASED, 0);
}


/* At open: requests of the previous run are over, their rows not kept. */
static void
test_retention_at_open(void)
{
    t_env_init(&env);
    env.pc.retention_policy = MCP_RETAIN_UNLIMITED;
    CHECK(t_env_open(&env) != NULL);
    c_open_all(&env, &rs[0], cs, T_CONVS, "start-");
    c_rounds(&env, rs, cs, T_CONVS, 10);
    t_start_live(&cs[1]);
    c_rounds(&env, rs, cs, T_CONVS, 100);
    t_env_close_repo(&env);

    env.pc.retention_policy = MCP_RETAIN_MESSAGE_COUNT;
    env.pc.max_messages_per_conversation = 30;
    CHECK(t_env_open(&env) != NULL);
    c_restart(cs, T_CONVS);
    CHECK(t_apply_all(cs, T_CONVS) > 0);
    CHECK(c_find(&cs[1], "live", MCP_MSG_USER, 0) == NULL);
    c_check_all(&env, &rs[0], cs, T_CONVS);
    c_rounds(&env, rs, cs, T_CONVS, 5);
    c_check_all(&env, &rs[0], cs, T_CONVS);
    t_done();
}


/*
 * Retention over more conversations and rows than one of its steps
 * takes, with appends queued while it runs: time-based from the writer
 * queue, message_count at open, then message_count from the queue.
 * Each group of 13 conversations belongs to its own principal (a list
 * answer holds 64 at most here).
 */
#define T_MANY   130
#define T_GROUP  13

static int64_t
t_old_first_17(const c_conv_t *c, size_t k)
{
    return T_NOW - (k < 17 ? 40 : 10) * T_DAY + (int64_t) k;
}


static void
t_check_many(c_conv_t *cv)
{
    size_t  g;

    for (g = 0; g < T_MANY; g += T_GROUP) {
        c_check_all(&env, &rs[0], cv + g, T_GROUP);
    }
}


static void
test_retention_in_steps(void)
{
    c_conv_t  *cv = calloc(T_MANY, sizeof(*cv));
    t_res_t    ret;
    c_msg_t    m[15];
    char       name[16];
    size_t     g, i;

    t_env_init(&env);
    env.pc.retention_policy = MCP_RETAIN_TIME_BASED;
    env.pc.retention_days = 30;
    CHECK(t_env_open(&env) != NULL);
    for (g = 0; g < T_MANY; g += T_GROUP) {
        snprintf(name, sizeof(name), "g%zu", g / T_GROUP);
        c_open_as(&env, &rs[0], cv + g, T_GROUP, name, name);
        for (i = 0; i < T_GROUP; i++) {
            cv[g + i].when = t_old_first_17;
        }
        c_rounds(&env, rs, cv + g, T_GROUP, 25);
    }

    /*
     * Appends queued behind it (a busy writer holds them back) run
     * between its steps.  Their rows are never old, and none of them ends
     * a request: a final row would take its request's old rows out of
     * flight, and whether retention sees them before or after that
     * depends on where its steps are when the append runs.  So the
     * result is exact.
     */
    c_hold_writer(&env, &rs[15]);
    memset(&ret, 0, sizeof(ret));
    CHECK(mcp_repo_retention_run(env.repo, t_cb, &ret) == 0);
    for (i = 0; i < 15; i++) {         /* rs[15] is the hold's */
        c_gen(&cv[i * 8], cv[i * 8].next, &m[i]);
        m[i].final = 0;
        CHECK(c_submit(&env, &rs[i], cv[i * 8].id, &m[i]) == 0);
    }
    for (i = 0; i < 15; i++) {
        CHECK(t_wait(&env.loop, &rs[i].done) == 0);
        c_record(&cv[i * 8], &m[i], &rs[i]);
    }
    CHECK(t_wait(&env.loop, &ret.done) == 0);
    CHECK_EQ_INT(ret.status, MCP_REPO_OK);
    CHECK_EQ_INT(ret.count, t_apply_all(cv, T_MANY));
    CHECK(ret.count > 2000);
    t_check_many(cv);

    t_env_close_repo(&env);
    env.pc.retention_policy = MCP_RETAIN_MESSAGE_COUNT;
    env.pc.max_messages_per_conversation = 3;
    CHECK(t_env_open(&env) != NULL);
    c_restart(cv, T_MANY);
    t_apply_all(cv, T_MANY);
    t_check_many(cv);

    for (g = 0; g < T_MANY; g += T_GROUP) {
        c_rounds(&env, rs, cv + g, T_GROUP, 2);
    }
    CHECK_EQ_INT(t_retain(), t_apply_all(cv, T_MANY));
    t_check_many(cv);
    t_res_clear(&ret);
    free(cv);
    t_done();
}


/* ------------------------------------------------------------ upgrade */

/* The schema as mcpd's migrations 1 to 4 made it (mcp_repo_db.c): a
   file written by a version 4 mcpd, frozen here on purpose. */
static const char  t_schema_v4[] =
    "CREATE TABLE conversations ("
    "  id          TEXT PRIMARY KEY NOT NULL,"
    "  principal   TEXT NOT NULL,"
    "  title       TEXT,"
    "  created_at  INTEGER NOT NULL,"
    "  updated_at  INTEGER NOT NULL);"
    "CREATE INDEX conversations_by_principal"
    "  ON conversations(principal, updated_at DESC);"
    "CREATE TABLE messages ("
    "  id              INTEGER PRIMARY KEY,"
    "  conversation_id TEXT NOT NULL"
    "                  REFERENCES conversations(id) ON DELETE CASCADE,"
    "  type            INTEGER NOT NULL CHECK (type BETWEEN 1 AND 4),"
    "  content         TEXT NOT NULL,"
    "  tool_calls      TEXT,"
    "  tool_call_id    TEXT,"
    "  name            TEXT,"
    "  model           TEXT,"
    "  usage           TEXT,"
    "  token_count     INTEGER NOT NULL DEFAULT 0 CHECK (token_count >= 0),"
    "  request_id      TEXT,"
    "  part            INTEGER NOT NULL DEFAULT 0,"
    "  created_at      INTEGER NOT NULL);"
    "CREATE INDEX messages_by_conversation ON messages(conversation_id, id);"
    "CREATE UNIQUE INDEX messages_by_request"
    "  ON messages(conversation_id, request_id, type, part)"
    "  WHERE request_id IS NOT NULL;"
    "CREATE TABLE requests ("
    "  conversation_id TEXT NOT NULL"
    "                  REFERENCES conversations(id) ON DELETE CASCADE,"
    "  request_id      TEXT NOT NULL,"
    "  state           INTEGER NOT NULL,"
    "  started_at      INTEGER NOT NULL,"
    "  finished_at     INTEGER,"
    "  PRIMARY KEY (conversation_id, request_id)) WITHOUT ROWID;"
    "CREATE TABLE meta ("
    "  key   TEXT PRIMARY KEY NOT NULL,"
    "  value) WITHOUT ROWID;"
    "CREATE INDEX messages_by_time ON messages(created_at);"
    "CREATE INDEX IF NOT EXISTS conversations_by_principal_page"
    "  ON conversations(principal, updated_at, id);"
    "ALTER TABLE messages ADD COLUMN request_state INTEGER;"
    "CREATE INDEX messages_open_requests ON messages(request_state)"
    "  WHERE request_state = 1;"
    "DROP TABLE requests;"
    "DROP INDEX conversations_by_principal;"
    "PRAGMA user_version = 4;";


static int64_t
t_v4_when(const c_conv_t *c, size_t k)
{
    return INT64_C(1700000000000) + (int64_t) k * 1000 + c->id[3];
}


/* one model row into the file, as a version 4 mcpd wrote it */
static void
t_v4_insert(sqlite3 *db, sqlite3_stmt *ins, c_conv_t *c, c_msg_t *m)
{
    const char  *text[6] = { m->rid, m->tool_calls, m->tool_call_id,
                             m->name, m->model, m->usage };
    char         sql[256];
    int          i;

    sqlite3_bind_text(ins, 1, c->id, -1, SQLITE_STATIC);
    sqlite3_bind_int(ins, 2, m->type);
    sqlite3_bind_text(ins, 3, m->content, (int) m->content_len,
                      SQLITE_STATIC);
    sqlite3_bind_int64(ins, 4, m->tokens);
    for (i = 0; i < 6; i++) {       /* ?5 and ?9 to ?13; "": NULL */
        if (text[i][0]) {
            sqlite3_bind_text(ins, i ? 8 + i : 5, text[i], -1,
                              SQLITE_STATIC);
        } else {
            sqlite3_bind_null(ins, i ? 8 + i : 5);
        }
    }
    sqlite3_bind_int64(ins, 6, m->part);
    sqlite3_bind_int64(ins, 7, m->created_at);
    if (m->rid[0] && m->type == MCP_MSG_USER) {
        sqlite3_bind_int(ins, 8, MCP_REQ_OPEN);
    } else {
        sqlite3_bind_null(ins, 8);
    }
    CHECK_EQ_INT(sqlite3_step(ins), SQLITE_DONE);
    sqlite3_reset(ins);
    m->id = sqlite3_last_insert_rowid(db);
    c->m[c->n++] = *m;
    c->next++;
    if (m->final) {
        snprintf(sql, sizeof(sql), "UPDATE messages SET request_state = 2"
                 " WHERE conversation_id = '%s' AND request_id = '%s'"
                 " AND type = 1", c->id, m->rid);
        CHECK(sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK);
    }
}


/*
 * Three conversations of "p" and one of "q", interleaved; requests done,
 * in flight (state 1) and abandoned by an earlier run (state 3).
 */
static void
t_write_v4(const char *path)
{
    sqlite3       *db;
    sqlite3_stmt  *ins;
    c_msg_t        m;
    size_t         i;
    int            k;

    CHECK(sqlite3_open(path, &db) == SQLITE_OK);
    CHECK(sqlite3_exec(db, t_schema_v4, NULL, NULL, NULL) == SQLITE_OK);
    CHECK(sqlite3_exec(db, "BEGIN;"
        "INSERT INTO conversations VALUES"
        " ('v4-0', 'p', 'first', 1700000000000, 1700000100000),"
        " ('v4-1', 'p', NULL, 1700000000001, 1700000100001),"
        " ('v4-2', 'p', 'dritte — ☃', 1700000000002, 1700000100002),"
        " ('v4-3', 'q', NULL, 1700000000003, 1700000100003),"
        " ('v4-4', 'q', 'empty', 1700000000004, 1700000000004)",
        NULL, NULL, NULL) == SQLITE_OK);
    CHECK(sqlite3_prepare_v2(db, "INSERT INTO messages(conversation_id,"
        " type, content, token_count, request_id, part, created_at,"
        " request_state, tool_calls, tool_call_id, name, model, usage)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
        -1, &ins, NULL) == SQLITE_OK);
    for (i = 0; i < 5; i++) {
        snprintf(m.content, sizeof(m.content), "v4-%zu", i);
        c_conv_init(&cs[i], i < 3 ? "p" : "q", m.content);
        cs[i].when = t_v4_when;
    }
    for (k = 0; k < 100; k++) {
        for (i = 0; i < 4; i++) {
            if (k % (int) (i + 3) != 1) {
                c_gen(&cs[i], cs[i].next, &m);
                t_v4_insert(db, ins, &cs[i], &m);
            }
        }
        if (k == 50) {
            c_gen(&cs[2], cs[2].next, &m);
            m.type = MCP_MSG_USER;
            snprintf(m.rid, sizeof(m.rid), "earlier-run");
            t_v4_insert(db, ins, &cs[2], &m);
        }
    }
    sqlite3_finalize(ins);
    /* as retention under version 4 left it: v4-0 starts part way into
       request req-1, whose question is gone */
    CHECK(sqlite3_exec(db, "UPDATE messages SET request_state = 3"
        " WHERE request_id = 'earlier-run';"
        "DELETE FROM messages WHERE id IN (SELECT id FROM messages"
        " WHERE conversation_id = 'v4-0' ORDER BY id LIMIT 10); COMMIT",
        NULL, NULL, NULL) == SQLITE_OK);
    cs[0].n -= 10;
    memmove(&cs[0].m[0], &cs[0].m[10], cs[0].n * sizeof(cs[0].m[0]));
    sqlite3_close(db);
}


static void
t_check_v4(void)
{
    char    rid[24];
    size_t  i;

    c_check_all(&env, &rs[0], cs, 3);
    c_check_all(&env, &rs[0], &cs[3], 2);   /* "q": one of them empty */
    for (i = 0; i < 4; i++) {
        c_check_lookup(&env, &rs[0], &cs[i], "req-0", i ? MCP_REQ_DONE
                       : MCP_REQ_NONE);
        c_check_lookup(&env, &rs[0], &cs[i], "req-1", i ? MCP_REQ_DONE
                       : MCP_REQ_NONE);
        CHECK_EQ_INT(rs[0].n_msgs, i ? 6 : 4);
        snprintf(rid, sizeof(rid), "req-%zu", (cs[i].next - 1) / 8);
        c_check_lookup(&env, &rs[0], &cs[i], rid, c_req_state(&cs[i], rid));
        c_check_duplicate(&env, &rs[0], &cs[i], "req-1", MCP_MSG_TOOL_RESULT,
                          1, i ? MCP_REQ_DONE : MCP_REQ_NONE);
        c_check_duplicate(&env, &rs[0], &cs[i], rid, MCP_MSG_USER, 0,
                          c_req_state(&cs[i], rid));
    }
    c_check_lookup(&env, &rs[0], &cs[2], "earlier-run", MCP_REQ_ABANDONED);
    c_check_duplicate(&env, &rs[0], &cs[2], "earlier-run", MCP_MSG_USER, 0,
                      MCP_REQ_ABANDONED);
}


/*
 * A file written by a version 4 mcpd: every read, lookup and duplicate
 * answer works on its rows, appends continue each conversation, and so
 * after another restart and retention at open.
 */
static void
test_upgrade_from_v4(void)
{
    size_t  i;

    t_env_init(&env);
    env.pc.retention_policy = MCP_RETAIN_UNLIMITED;
    t_write_v4(env.path);
    CHECK(t_env_open(&env) != NULL);
    c_restart(cs, 5);
    t_check_v4();

    for (i = 0; i < 5; i++) {
        cs[i].when = NULL;
    }
    c_rounds(&env, rs, cs, 5, 16);          /* the empty one starts too */
    c_check_all(&env, &rs[0], cs, 3);
    c_check_all(&env, &rs[0], &cs[3], 2);

    t_env_close_repo(&env);
    env.pc.retention_policy = MCP_RETAIN_MESSAGE_COUNT;
    env.pc.max_messages_per_conversation = 45;
    CHECK(t_env_open(&env) != NULL);
    c_restart(cs, 5);
    t_apply_all(cs, 5);
    c_check_all(&env, &rs[0], cs, 3);
    c_check_all(&env, &rs[0], &cs[3], 2);
    c_rounds(&env, rs, cs, 5, 3);
    c_check_all(&env, &rs[0], cs, 3);
    c_check_all(&env, &rs[0], &cs[3], 2);
    t_done();
}


UNIT_MAIN("repo_chain2",
    UNIT_TEST(test_retention_message_count),
    UNIT_TEST(test_retention_token_limit),
    UNIT_TEST(test_retention_time_based),
    UNIT_TEST(test_retention_at_open),
    UNIT_TEST(test_retention_in_steps),
    UNIT_TEST(test_upgrade_from_v4))
