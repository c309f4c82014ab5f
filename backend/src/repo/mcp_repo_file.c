/*
 * The database file at start, before any pool opens it: synchronously,
 * so that everything that can be wrong with it (not a database, corrupt,
 * read-only, its directory or its disk) is a clear error before mcpd
 * accepts a client; then WAL, the migrations and clear_on_startup.
 */

#include <stdio.h>
#include <string.h>

#include "repo/mcp_repo_int.h"


static int
mcp_repo_fail(mcp_err_t *err, sqlite3 *db, const char *path, int rc,
    const char *what)
{
    const char  *hint = "";

    switch (rc & 0xff) {
    case SQLITE_NOTADB:
    case SQLITE_CORRUPT:
        hint = " (the file is not a SQLite database or is corrupt; restore "
               "it from a backup or move it away)";
        break;
    case SQLITE_READONLY:
    case SQLITE_CANTOPEN:
    case SQLITE_PERM:
        hint = " (mcpd must be able to write the file and its directory)";
        break;
    case SQLITE_FULL:
        hint = " (free disk space)";
        break;
    }
    mcp_repo_err(err, NULL, "repository \"%s\": %s: %s%s", path, what,
                db ? sqlite3_errmsg(db) : sqlite3_errstr(rc), hint);
    return -1;
}


/* One statement returning one text row, for PRAGMAs. */
static int
mcp_repo_pragma_text(sqlite3 *db, const char *sql, char *out, size_t len)
{
    sqlite3_stmt  *st;
    int            rc;

    rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK) {
        return rc;
    }
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        snprintf(out, len, "%s", (const char *) sqlite3_column_text(st, 0));
        rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    return rc;
}


/*
 * Synchronous, at start: everything that can be wrong with the file shows
 * here, before mcpd accepts a client.  The write at the end proves the
 * file, its directory (-wal, -shm) and the disk take writes.
 */
int
mcp_repo_prepare_file(mcp_repo_t *repo, mcp_err_t *err)
{
    const char     *path = repo->conf.path;
    sqlite3        *db = NULL;
    sqlite3_stmt   *st;
    char            mode[32], msg[512];
    int64_t         deleted = 0;
    int             rc;

    rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE
                         | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        mcp_repo_fail(err, db, path, rc, "cannot open");
        goto failed;
    }
    sqlite3_extended_result_codes(db, 1);
    sqlite3_busy_timeout(db, (int) repo->conf.busy_timeout);
    if (sqlite3_db_readonly(db, "main") == 1) {
        rc = SQLITE_READONLY;
        mcp_repo_fail(err, NULL, path, rc, "the file is read-only");
        goto failed;
    }

    rc = mcp_repo_pragma_text(db, "PRAGMA journal_mode = WAL", mode,
                              sizeof(mode));
    if (rc != SQLITE_OK) {
        mcp_repo_fail(err, db, path, rc, "cannot enable WAL");
        goto failed;
    }
    if (strcmp(mode, "wal") != 0) {
        mcp_repo_err(err, NULL, "repository \"%s\": WAL mode refused (journal "
                    "mode is \"%s\"); is the file on a network file system?",
                    path, mode);
        rc = SQLITE_ERROR;
        goto failed;
    }
    sqlite3_exec(db, "PRAGMA foreign_keys = ON", NULL, NULL, NULL);

    rc = mcp_repo_migrate(db, msg, sizeof(msg));
    if (rc != SQLITE_OK) {
        mcp_repo_fail(err, NULL, path, rc, msg);
        goto failed;
    }

    rc = sqlite3_prepare_v2(db, "INSERT INTO meta(key, value)"
                            " VALUES ('opened_at', ?1) ON CONFLICT(key)"
                            " DO UPDATE SET value = excluded.value", -1, &st,
                            NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, (sqlite3_int64) mcp_repo_now_ms());
        rc = sqlite3_step(st);
        sqlite3_finalize(st);
        rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
    }
    if (rc != SQLITE_OK) {
        mcp_repo_fail(err, db, path, rc, "cannot write");
        goto failed;
    }

    rc = mcp_retention_startup(db, &repo->conf, &repo->persist, &deleted,
                               msg, sizeof(msg));
    if (rc != SQLITE_OK) {
        mcp_repo_fail(err, NULL, path, rc, msg);
        goto failed;
    }
    repo->retention_deleted += (uint64_t) deleted;
    repo->retention_runs++;
    repo->last_retention_ms = mcp_repo_now_ms();

    sqlite3_close_v2(db);
    return 0;

failed:
    sqlite3_close_v2(db);
    return -1;
}
