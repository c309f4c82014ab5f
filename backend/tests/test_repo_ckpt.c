/*
 * The checkpointer (repo/mcp_repo_ckpt.c) under sustained writes: the WAL
 * keeps starting over, stays bounded and loses nothing while the
 * background thread chases the writer; a reader on an old snapshot stops
 * the chase (no thread spinning on checkpoints that cannot copy), and the
 * WAL starts over again once that reader is gone.
 */

#include <sqlite3.h>

#include "unit.h"
#include "test_repo_util.h"

#define T_PAGES  100        /* wal_checkpoint_pages: restart mark 400 */

static t_env_t  env;


static json_t *
t_ckpt_stats(json_t **doc)
{
    *doc = mcp_repo_stats(env.repo);
    return json_object_get(*doc, "checkpoint");
}


static int64_t
t_ckpt_int(const char *key)
{
    json_t   *doc;
    int64_t   v;

    v = json_integer_value(json_object_get(t_ckpt_stats(&doc), key));
    json_decref(doc);
    return v;
}


static off_t
t_wal_size(void)
{
    char         wal[512];
    struct stat  sb;

    snprintf(wal, sizeof(wal), "%s-wal", env.path);
    return stat(wal, &sb) == 0 ? sb.st_size : -1;
}


static int64_t
t_count_rows(void)
{
    sqlite3       *db = NULL;
    sqlite3_stmt  *st = NULL;
    int64_t        n = -1;

    if (sqlite3_open_v2(env.path, &db, SQLITE_OPEN_READONLY, NULL)
            == SQLITE_OK
        && sqlite3_prepare_v2(db, "SELECT count(*) FROM messages", -1, &st,
                              NULL) == SQLITE_OK
        && sqlite3_step(st) == SQLITE_ROW)
    {
        n = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
}


/* n rows of len bytes into conversation c, one append at a time */
static void
t_write_rows(t_res_t *r, int n, size_t len)
{
    static char  row[8192];
    int          i;

    memset(row, 'w', sizeof(row));
    for (i = 0; i < n; i++) {
        CHECK(t_append(&env, r, "c", MCP_MSG_TOOL_RESULT, row, len, NULL, 1,
                       0) == 0);
        CHECK_EQ_INT(r->status, MCP_REPO_OK);
    }
}


static void
test_chase_keeps_wal_short(void)
{
    t_res_t   r;
    json_t   *doc, *ck;
    int64_t   restarts, written;

    memset(&r, 0, sizeof(r));
    t_env_init(&env);
    env.rc.wal_checkpoint_pages = T_PAGES;
    CHECK(t_env_open(&env) != NULL);
    CHECK(t_open_conv(&env, &r, "p", "c") == 0);

    /* ~3 frames a row: the WAL passes its restart mark several times */
    t_write_rows(&r, 1200, 6000);

    ck = t_ckpt_stats(&doc);
    restarts = json_integer_value(json_object_get(ck, "wal_restarts"));
    written = json_integer_value(json_object_get(ck, "frames_written"));
    CHECK(restarts >= 2);
    CHECK(written > 4 * 4 * T_PAGES);
    CHECK_EQ_INT(json_integer_value(json_object_get(ck, "errors")), 0);
    /* the writer's own checkpoints are counted and timed for status */
    CHECK(json_integer_value(json_object_get(ck, "writer_runs"))
          >= json_integer_value(json_object_get(ck, "writer_forced")));
    CHECK(json_integer_value(json_object_get(ck, "runs"))
          >= json_integer_value(json_object_get(ck, "writer_runs")));
    CHECK(json_is_number(json_object_get(ck, "writer_time_p99_ms")));
    CHECK(json_is_number(json_object_get(ck, "writer_time_max_ms")));
    json_decref(doc);

    /* never past twice the mark plus one group: ~800 frames of 4 KiB */
    CHECK(t_wal_size() > 0 && t_wal_size() < 1000 * (4096 + 24));

    /* and every row is there, read by another connection, and the
       newest through the repository's readers */
    CHECK_EQ_INT(t_count_rows(), 1200);
    CHECK(t_history(&env, &r, "c", 1000000, 5) == 0);
    CHECK_EQ_INT(r.status, MCP_REPO_OK);
    CHECK_EQ_INT(r.n_msgs, 5);
    t_res_clear(&r);
    t_env_done(&env);
}


static void
test_old_snapshot_stops_chase(void)
{
    t_res_t        r;
    sqlite3       *reader = NULL;
    sqlite3_stmt  *st = NULL;
    int64_t        restarts, runs, wruns, frames0, frames;

    memset(&r, 0, sizeof(r));
    t_env_init(&env);
    env.rc.wal_checkpoint_pages = T_PAGES;
    CHECK(t_env_open(&env) != NULL);
    CHECK(t_open_conv(&env, &r, "p", "c") == 0);
    t_write_rows(&r, 10, 6000);

    /* another process's reader keeps the snapshot of this moment */
    CHECK(sqlite3_open_v2(env.path, &reader, SQLITE_OPEN_READONLY, NULL)
          == SQLITE_OK);
    CHECK(sqlite3_exec(reader, "BEGIN", NULL, NULL, NULL) == SQLITE_OK);
    CHECK(sqlite3_prepare_v2(reader, "SELECT count(*) FROM messages", -1,
                             &st, NULL) == SQLITE_OK);
    CHECK(sqlite3_step(st) == SQLITE_ROW);

    restarts = t_ckpt_int("wal_restarts");
    frames0 = t_ckpt_int("frames_written");
    t_write_rows(&r, 600, 6000);
    frames = t_ckpt_int("frames_written") - frames0;
    CHECK(frames > 4 * T_PAGES);

    /*
     * Nothing past the snapshot can be copied: no restart, and the
     * background thread ran about once per wal_checkpoint_pages new
     * frames, not once per group (the writer's forced attempts at twice
     * the mark are its own and counted apart).
     */
    CHECK_EQ_INT(t_ckpt_int("wal_restarts"), restarts);
    runs = t_ckpt_int("runs");
    wruns = t_ckpt_int("writer_runs");
    CHECK(runs - wruns <= frames / T_PAGES + 8);

    /* the reader goes: the WAL starts over again */
    sqlite3_finalize(st);
    sqlite3_exec(reader, "COMMIT", NULL, NULL, NULL);
    sqlite3_close(reader);
    t_write_rows(&r, 400, 6000);
    CHECK(t_ckpt_int("wal_restarts") > restarts);

    t_res_clear(&r);
    t_env_done(&env);
}


UNIT_MAIN("repo_ckpt",
    UNIT_TEST(test_chase_keeps_wal_short),
    UNIT_TEST(test_old_snapshot_stops_chase))
