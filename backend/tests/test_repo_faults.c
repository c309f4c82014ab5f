/*
 * Bad database files give a clear error at open, never a crash: garbage,
 * a truncated database, a missing directory, a directory in the way.
 * (Read-only and full file systems need mounts: t/test_store_faults.py.)
 */

#include <fcntl.h>
#include <sqlite3.h>

#include "unit.h"
#include "test_repo_util.h"

static t_env_t  env;


static void
t_write_file(const char *path, const char *data, size_t len)
{
    int  fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

    CHECK(fd >= 0);
    CHECK(write(fd, data, len) == (ssize_t) len);
    close(fd);
}


static void
test_garbage_file(void)
{
    static const char  junk[] = "this is not a database, just some text "
                                "that happens to be long enough to have a "
                                "header-sized prefix of nonsense .........";
    mcp_err_t          err;

    t_env_init(&env);
    t_write_file(env.path, junk, sizeof(junk));
    CHECK(mcp_repo_open(&env.loop, &env.rc, &env.pc, &err) == NULL);
    CHECK(strstr(err.msg, env.path) != NULL);
    CHECK(strstr(err.msg, "not a SQLite database or is corrupt") != NULL);
    t_env_done(&env);
}


static void
test_truncated_database(void)
{
    t_res_t     r;
    mcp_err_t   err;
    char        buf[8192];
    int         fd, i;
    ssize_t     n;

    memset(&r, 0, sizeof(r));
    t_env_init(&env);
    CHECK(t_env_open(&env) != NULL);
    t_open_conv(&env, &r, "p", "c");
    for (i = 0; i < 50; i++) {
        t_append(&env, &r, "c", MCP_MSG_USER, "some text", 9, NULL, 1, 0);
    }
    t_env_close_repo(&env);

    /* keep the header, scribble over the pages after it */
    fd = open(env.path, O_RDWR);
    CHECK(fd >= 0);
    n = read(fd, buf, sizeof(buf));
    CHECK(n > 4096);
    memset(buf, 0xa5, sizeof(buf));
    CHECK(pwrite(fd, buf, 4096, 100) == 4096);
    close(fd);

    /* either refused at open or each request fails clearly */
    env.repo = mcp_repo_open(&env.loop, &env.rc, &env.pc, &err);
    if (env.repo == NULL) {
        CHECK(strstr(err.msg, "corrupt") != NULL
              || strstr(err.msg, "malformed") != NULL);
    } else {
        t_history(&env, &r, "c", 100, 0);
        CHECK(r.status == MCP_REPO_ECORRUPT || r.status == MCP_REPO_OK);
    }
    t_res_clear(&r);
    t_env_done(&env);
}


static void
test_missing_directory(void)
{
    mcp_err_t  err;
    char       path[256];

    t_env_init(&env);
    snprintf(path, sizeof(path), "%s/no/such/dir/store.db", env.dir);
    env.rc.path = path;
    CHECK(mcp_repo_open(&env.loop, &env.rc, &env.pc, &err) == NULL);
    CHECK(strstr(err.msg, "cannot open") != NULL);
    CHECK(strstr(err.msg, path) != NULL);

    /* a directory where the file should be */
    env.rc.path = env.dir;
    CHECK(mcp_repo_open(&env.loop, &env.rc, &env.pc, &err) == NULL);
    CHECK(strstr(err.msg, env.dir) != NULL);
    env.rc.path = env.path;
    t_env_done(&env);
}


static void
test_empty_path(void)
{
    mcp_err_t  err;

    t_env_init(&env);
    env.rc.path = "";
    CHECK(mcp_repo_open(&env.loop, &env.rc, &env.pc, &err) == NULL);
    CHECK(strstr(err.msg, "path") != NULL);
    env.rc.path = env.path;
    t_env_done(&env);
}


UNIT_MAIN("repo_faults",
    UNIT_TEST(test_garbage_file),
    UNIT_TEST(test_truncated_database),
    UNIT_TEST(test_missing_directory),
    UNIT_TEST(test_empty_path))
