/*
 * The pools under pressure: acquisition timeouts, health checks replacing
 * broken connections, 64 concurrent writers with readers and no
 * SQLITE_BUSY surfaced, group commit, the unpooled baseline, shutdown with
 * requests queued, the stats document.
 */

#include <sqlite3.h>

#include "unit.h"
#include "test_repo_util.h"

static t_env_t  env;

static void
test_reader_timeout(void)
{
    t_res_t  hold, r;
    json_t  *st;

    t_env_init(&env);
    env.rc.pool.max_readers = 1;
    env.rc.pool.connection_timeout = 100;
    CHECK(t_env_open(&env) != NULL);

    memset(&hold, 0, sizeof(hold));
    memset(&r, 0, sizeof(r));
    CHECK(mcp_repo_debug_hold(env.repo, 0, 700, t_cb, &hold) == 0);
    usleep(20000);
    CHECK(mcp_repo_history(env.repo, "c", 10, 0, t_cb, &r) == 0);
    CHECK(t_wait(&env.loop, &r.done) == 0);
    CHECK_EQ_INT(r.status, MCP_REPO_ETIMEDOUT);
    CHECK(strstr(r.error, "connection_timeout") != NULL);
    CHECK(strstr(r.error, "reader") != NULL);
    CHECK_EQ_INT(hold.done, 0);
    CHECK(t_wait(&env.loop, &hold.done) == 0);

    /* free again: served */
    t_res_clear(&r);
    CHECK(t_history(&env, &r, "c", 10, 0) == 0);
    CHECK_EQ_INT(r.status, MCP_REPO_OK);

    st = mcp_repo_stats(env.repo);
    CHECK_EQ_INT(json_integer_value(json_object_get(
        json_object_get(st, "readers"), "timeouts")), 1);
    json_decref(st);
    t_res_clear(&r);
    t_env_done(&env);
}


static void
test_writer_timeout(void)
{
    t_res_t  hold, r;

    t_env_init(&env);
    env.rc.pool.max_writers = 1;
    env.rc.pool.connection_timeout = 100;
    CHECK(t_env_open(&env) != NULL);
    CHECK(t_open_conv(&env, &r, "p", "c") == 0);

    memset(&hold, 0, sizeof(hold));
    CHECK(mcp_repo_debug_hold(env.repo, 1, 700, t_cb, &hold) == 0);
    usleep(20000);
    CHECK(t_append(&env, &r, "c", MCP_MSG_USER, "x", 1, NULL, 1, 0) == 0);
    CHECK_EQ_INT(r.status, MCP_REPO_ETIMEDOUT);
    CHECK(strstr(r.error, "writer") != NULL);
    CHECK(t_wait(&env.loop, &hold.done) == 0);
    CHECK(t_append(&env, &r, "c", MCP_MSG_USER, "x", 1, NULL, 1, 0) == 0);
    CHECK_EQ_INT(r.status, MCP_REPO_OK);
    t_res_clear(&r);
    t_env_done(&env);
}


static void
test_health_check_replaces(void)
{
    t_res_t  r;
    json_t  *st, *rd, *wr;

    memset(&r, 0, sizeof(r));
    t_env_init(&env);
    env.rc.pool.max_readers = 2;
    env.rc.pool.max_writers = 2;
    env.rc.pool.health_check_interval = 30;
    CHECK(t_env_open(&env) != NULL);
    CHECK(t_open_conv(&env, &r, "p", "c") == 0);

    mcp_repo_debug_break(env.repo);
    t_sleep_loop(&env.loop, 250);

    st = mcp_repo_stats(env.repo);
    rd = json_object_get(st, "readers");
    wr = json_object_get(st, "writers");
    CHECK(json_integer_value(json_object_get(rd, "health_failures")) >= 2);
    CHECK(json_integer_value(json_object_get(rd, "reconnects")) >= 2);
    CHECK(json_integer_value(json_object_get(wr, "health_failures")) >= 1);
    CHECK_EQ_INT(json_integer_value(json_object_get(rd, "open")), 2);
    CHECK(json_integer_value(json_object_get(rd, "last_health_check_ms"))
          > 1700000000000);
    json_decref(st);

    /* the replacements work */
    CHECK(t_append(&env, &r, "c", MCP_MSG_USER, "after", 5, NULL, 1, 0) == 0);
    CHECK_EQ_INT(r.status, MCP_REPO_OK);
    CHECK(t_history(&env, &r, "c", 10, 0) == 0);
    CHECK_EQ_INT(r.n_msgs, 1);
    t_res_clear(&r);
    t_env_done(&env);
}


/* standby writers check their connections while the active one works */
static void
test_standby_health(void)
{
    t_res_t   r, hold;
    json_t   *st, *wr;
    uint64_t  start;
    int64_t   failures = 0, reconnects = 0;

    memset(&r, 0, sizeof(r));
    memset(&hold, 0, sizeof(hold));
    t_env_init(&env);
    env.rc.pool.max_writers = 3;
    env.rc.pool.health_check_interval = 30;
    CHECK(t_env_open(&env) != NULL);
    CHECK(t_open_conv(&env, &r, "p", "c") == 0);

    /* the active writer is busy (it cannot check itself meanwhile) */
    CHECK(mcp_repo_debug_hold(env.repo, 1, 2000, t_cb, &hold) == 0);
    usleep(20000);
    mcp_repo_debug_break(env.repo);
    start = uv_hrtime();
    while ((failures < 2 || reconnects < 2)
           && uv_hrtime() - start < 1500000000ull)
    {
        t_sleep_loop(&env.loop, 20);
        st = mcp_repo_stats(env.repo);
        wr = json_object_get(st, "writers");
        failures = json_integer_value(json_object_get(wr,
                                                      "health_failures"));
        reconnects = json_integer_value(json_object_get(wr, "reconnects"));
        CHECK_EQ_INT(json_integer_value(json_object_get(wr, "open")), 3);
        json_decref(st);
    }
    CHECK_EQ_INT(hold.done, 0);             /* still holding the turn */
    CHECK(failures >= 2);                   /* both standbys */
    CHECK(reconnects >= 2);
    CHECK(t_wait(&env.loop, &hold.done) == 0);

    CHECK(t_append(&env, &r, "c", MCP_MSG_USER, "after", 5, NULL, 1, 0) == 0);
    CHECK_EQ_INT(r.status, MCP_REPO_OK);
    t_res_clear(&r);
    t_env_done(&env);
}


/* ------------------------------------------------------------ load */

#define T_WRITERS   64
#define T_PER       60
#define T_READERS   16

typedef struct {
    mcp_repo_t   *repo;
    int           idx;
    int           left;
    int           reader;
    char          conv[32];
} t_caller_t;

static int  t_ok, t_busy, t_other, t_running, t_reads;

static void t_caller_next(t_caller_t *c);

static void
t_caller_cb(const mcp_repo_result_t *res, void *data)
{
    t_caller_t  *c = data;

    if (res->status == MCP_REPO_OK) {
        t_ok++;
    } else if (res->status == MCP_REPO_EBUSY || res->sqlite_code == SQLITE_BUSY) {
        t_busy++;
    } else {
        t_other++;
        fprintf(stderr, "  unexpected: %s\n", res->error);
    }
    if (c->reader) {
        t_reads++;
    }
    t_caller_next(c);
}

static void
t_caller_next(t_caller_t *c)
{
    mcp_repo_append_t  a;
    char               text[320], rid[32];

    if (c->reader) {
        if (t_running <= T_READERS) {        /* only readers left: stop */
            t_running--;
            return;
        }
        mcp_repo_history(c->repo, c->conv, 4000, 50, t_caller_cb, c);
        return;
    }
    if (c->left-- == 0) {
        t_running--;
        return;
    }
    memset(text, 'x', 300);
    text[300] = '\0';
    snprintf(rid, sizeof(rid), "r%d", c->left);
    memset(&a, 0, sizeof(a));
    a.msg.conversation_id = c->conv;
    a.msg.type = MCP_MSG_USER;
    a.msg.content = text;
    a.msg.content_len = 300;
    a.msg.request_id = rid;
    a.msg.token_count = 75;
    mcp_repo_append(c->repo, &a, t_caller_cb, c);
}


static void
test_64_writers_no_busy(void)
{
    static t_caller_t  callers[T_WRITERS + T_READERS];
    t_res_t            r;
    json_t            *st, *wr;
    uint64_t           start;
    int                i;
    char               conv[32];

    memset(&r, 0, sizeof(r));
    t_env_init(&env);
    CHECK(t_env_open(&env) != NULL);
    for (i = 0; i < 8; i++) {
        snprintf(conv, sizeof(conv), "c%d", i);
        CHECK(t_open_conv(&env, &r, "p", conv) == 0);
    }
    t_ok = t_busy = t_other = t_reads = 0;
    t_running = T_WRITERS + T_READERS;
    for (i = 0; i < T_WRITERS + T_READERS; i++) {
        callers[i].repo = env.repo;
        callers[i].idx = i;
        callers[i].left = T_PER;
        callers[i].reader = i >= T_WRITERS;
        /* 64 writers over 8 conversations: request ids repeat per writer
           but writers 0 and 8 share c0, so make rids distinct by writer */
        snprintf(callers[i].conv, sizeof(callers[i].conv), "c%d", i % 8);
    }
    for (i = 0; i < T_WRITERS + T_READERS; i++) {
        t_caller_next(&callers[i]);
    }
    start = uv_hrtime();
    while (t_running > 0 && uv_hrtime() - start < 15000000000ull) {
        uv_run(&env.loop, UV_RUN_ONCE);
    }
    CHECK_EQ_INT(t_running, 0);
    CHECK_EQ_INT(t_busy, 0);
    CHECK_EQ_INT(t_other, 0);
    CHECK(t_reads > 0);

    st = mcp_repo_stats(env.repo);
    wr = json_object_get(st, "writers");
    CHECK_EQ_INT(json_integer_value(json_object_get(st, "busy_errors")), 0);
    CHECK(json_real_value(json_object_get(wr, "rows_per_commit")) > 1.0);
    CHECK_EQ_INT(json_integer_value(json_object_get(
        json_object_get(st, "checkpoint"), "errors")), 0);
    json_decref(st);
    t_res_clear(&r);
    t_env_close_repo(&env);

    {
        sqlite3       *db;
        sqlite3_stmt  *s;
        int            n = -1;

        CHECK(sqlite3_open(env.path, &db) == SQLITE_OK);
        sqlite3_prepare_v2(db, "SELECT count(*) FROM messages", -1, &s, NULL);
        if (sqlite3_step(s) == SQLITE_ROW) {
            n = sqlite3_column_int(s, 0);
        }
        sqlite3_finalize(s);
        sqlite3_close(db);
        /* (writer i, left k) and (writer i+8, left k) share conv and rid:
           the second is a duplicate by design, so 8 distinct per slot */
        CHECK_EQ_INT(n, 8 * T_PER);
    }
    t_env_done(&env);
}


static void
test_unpooled_baseline(void)
{
    t_res_t   r;
    json_t   *st, *wr;
    int       i;
    char      text[16];

    memset(&r, 0, sizeof(r));
    t_env_init(&env);
    env.rc.pool.enable_pooling = 0;
    CHECK(t_env_open(&env) != NULL);
    CHECK(t_open_conv(&env, &r, "p", "c") == 0);
    for (i = 0; i < 20; i++) {
        snprintf(text, sizeof(text), "m%d", i);
        CHECK(t_append(&env, &r, "c", MCP_MSG_USER, text, strlen(text), NULL,
                       1, 0) == 0);
        CHECK_EQ_INT(r.status, MCP_REPO_OK);
    }
    CHECK(t_history(&env, &r, "c", 100, 0) == 0);
    CHECK_EQ_INT(r.n_msgs, 20);
    st = mcp_repo_stats(env.repo);
    wr = json_object_get(st, "writers");
    CHECK_EQ_INT(json_integer_value(json_object_get(
        json_object_get(st, "readers"), "size")), 0);
    CHECK_EQ_INT(json_integer_value(json_object_get(wr, "size")), 1);
    CHECK_EQ_INT(json_integer_value(json_object_get(wr, "commits")), 21);
    CHECK_EQ_INT(json_integer_value(json_object_get(wr, "rows_per_commit_max")),
                 1);
    json_decref(st);
    t_res_clear(&r);
    t_env_done(&env);
}


static int  t_closed, t_completed;

static void
t_count_cb(const mcp_repo_result_t *res, void *data)
{
    t_completed++;
    if (res->status == MCP_REPO_ECLOSED) {
        t_closed++;
    }
}


static void
test_close_with_queue(void)
{
    mcp_repo_append_t  a;
    t_res_t            r;
    int                i;

    memset(&r, 0, sizeof(r));
    t_env_init(&env);
    env.rc.pool.max_writers = 1;
    CHECK(t_env_open(&env) != NULL);
    CHECK(t_open_conv(&env, &r, "p", "c") == 0);
    t_closed = t_completed = 0;
    CHECK(mcp_repo_debug_hold(env.repo, 1, 200, t_count_cb, NULL) == 0);
    usleep(20000);
    memset(&a, 0, sizeof(a));
    a.msg.conversation_id = "c";
    a.msg.type = MCP_MSG_USER;
    a.msg.content = "q";
    a.msg.content_len = 1;
    for (i = 0; i < 10; i++) {
        CHECK(mcp_repo_append(env.repo, &a, t_count_cb, NULL) == 0);
    }
    t_env_close_repo(&env);
    CHECK_EQ_INT(t_completed, 11);
    CHECK_EQ_INT(t_closed, 10);
    t_res_clear(&r);
    t_env_done(&env);
}


static void
test_stats_document(void)
{
    static const char  *keys[] = {
        "size", "open", "in_use", "waits", "wait_p50_ms", "wait_p99_ms",
        "busy_errors", "queries", "timeouts", "health_checks",
        "last_health_check_ms", NULL
    };
    json_t  *st, *wr;
    int      i;

    t_env_init(&env);
    CHECK(t_env_open(&env) != NULL);
    st = mcp_repo_stats_fn(env.repo);
    CHECK(json_is_object(st));
    for (i = 0; keys[i]; i++) {
        CHECK(json_object_get(json_object_get(st, "readers"), keys[i]));
        CHECK(json_object_get(json_object_get(st, "writers"), keys[i]));
    }
    wr = json_object_get(st, "writers");
    CHECK(json_object_get(wr, "writes") && json_object_get(wr, "commits")
          && json_object_get(wr, "rows_per_commit"));
    CHECK_EQ_INT(json_integer_value(json_object_get(
        json_object_get(st, "readers"), "size")), 16);
    CHECK_EQ_INT(json_integer_value(json_object_get(wr, "size")), 4);
    CHECK_EQ_STR(json_string_value(json_object_get(st, "synchronous")),
                 "normal");
    json_decref(st);
    t_env_done(&env);
}


/* another process holding the write lock: waited out, or a clear EBUSY */
static void
test_external_lock(void)
{
    t_res_t   r;
    sqlite3  *other;
    json_t   *st, *wr;

    memset(&r, 0, sizeof(r));
    t_env_init(&env);
    env.rc.busy_timeout = 60;
    CHECK(t_env_open(&env) != NULL);
    CHECK(t_open_conv(&env, &r, "p", "c") == 0);
    CHECK(sqlite3_open(env.path, &other) == SQLITE_OK);

    /* held 100 ms: inside 3 attempts of 60 ms, the append succeeds */
    CHECK(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL)
          == SQLITE_OK);
    t_res_clear(&r);
    {
        mcp_repo_append_t  a;

        memset(&a, 0, sizeof(a));
        a.msg.conversation_id = "c";
        a.msg.type = MCP_MSG_USER;
        a.msg.content = "waited";
        a.msg.content_len = 6;
        CHECK(mcp_repo_append(env.repo, &a, t_cb, &r) == 0);
        t_sleep_loop(&env.loop, 100);
        CHECK(sqlite3_exec(other, "COMMIT", NULL, NULL, NULL) == SQLITE_OK);
        CHECK(t_wait(&env.loop, &r.done) == 0);
        CHECK_EQ_INT(r.status, MCP_REPO_OK);

        /* held for good: EBUSY after the retries, said clearly */
        CHECK(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL)
              == SQLITE_OK);
        t_res_clear(&r);
        CHECK(mcp_repo_append(env.repo, &a, t_cb, &r) == 0);
        CHECK(t_wait(&env.loop, &r.done) == 0);
        CHECK_EQ_INT(r.status, MCP_REPO_EBUSY);
        CHECK(strstr(r.error, "not stored") != NULL);
        CHECK(strstr(r.error, "locked") != NULL);
        sqlite3_exec(other, "ROLLBACK", NULL, NULL, NULL);
    }
    sqlite3_close(other);

    st = mcp_repo_stats(env.repo);
    wr = json_object_get(st, "writers");
    CHECK(json_integer_value(json_object_get(wr, "busy_retries")) >= 1);
    CHECK_EQ_INT(json_integer_value(json_object_get(wr, "busy_errors")), 1);
    json_decref(st);

    /* and the repository goes on */
    CHECK(t_append(&env, &r, "c", MCP_MSG_USER, "after", 5, NULL, 1, 0) == 0);
    CHECK_EQ_INT(r.status, MCP_REPO_OK);
    t_res_clear(&r);
    t_env_done(&env);
}


/*
 * WAL pages past the threshold wake the background checkpointer; past 4
 * times the threshold the writer completes one and the WAL starts over
 * instead of growing with every write.
 */
static void
test_checkpointer(void)
{
    static char  big[16384];
    t_res_t      r;
    json_t      *st, *ck;
    struct stat  sb;
    uint64_t     start;
    int64_t      runs = 0, written;
    char         wal[512];
    int          i;

    memset(&r, 0, sizeof(r));
    memset(big, 'k', sizeof(big));
    t_env_init(&env);
    env.rc.wal_checkpoint_pages = 100;
    CHECK(t_env_open(&env) != NULL);
    CHECK(t_open_conv(&env, &r, "p", "c") == 0);
    for (i = 0; i < 300; i++) {
        CHECK(t_append(&env, &r, "c", MCP_MSG_TOOL_RESULT, big, sizeof(big),
                       NULL, 1, 0) == 0);
    }
    start = uv_hrtime();
    while (runs < 1 && uv_hrtime() - start < 5000000000ull) {
        usleep(10000);
        st = mcp_repo_stats(env.repo);
        ck = json_object_get(st, "checkpoint");
        runs = json_integer_value(json_object_get(ck, "runs"));
        CHECK_EQ_INT(json_integer_value(json_object_get(ck, "errors")), 0);
        CHECK(json_is_true(json_object_get(ck, "background")));
        json_decref(st);
    }
    CHECK(runs >= 1);
    /* the pages reached the database file while mcpd ran */
    CHECK(stat(env.path, &sb) == 0 && sb.st_size > 1024 * 1024);

    /*
     * 300 rows of 16 KiB are ~2800 pages: the WAL started over at 400
     * pages, or up to 800 if a background run was still copying then
     * (plus the frames of one append): never 4 MiB.
     */
    st = mcp_repo_stats(env.repo);
    ck = json_object_get(st, "checkpoint");
    CHECK(json_integer_value(json_object_get(ck, "wal_restarts")) >= 1);
    CHECK_EQ_INT(json_integer_value(json_object_get(ck, "threshold_pages")),
                 100);
    written = json_integer_value(json_object_get(ck, "frames_written"));
    CHECK(written > 2000);
    json_decref(st);
    snprintf(wal, sizeof(wal), "%s-wal", env.path);
    CHECK(stat(wal, &sb) == 0);
    CHECK(sb.st_size < 4 * 1024 * 1024);
    t_res_clear(&r);
    t_env_done(&env);
}


UNIT_MAIN("repo_pool",
    UNIT_TEST(test_checkpointer),
    UNIT_TEST(test_external_lock),
    UNIT_TEST(test_reader_timeout),
    UNIT_TEST(test_writer_timeout),
    UNIT_TEST(test_health_check_replaces),
    UNIT_TEST(test_standby_health),
    UNIT_TEST(test_64_writers_no_busy),
    UNIT_TEST(test_unpooled_baseline),
    UNIT_TEST(test_close_with_queue),
    UNIT_TEST(test_stats_document))
