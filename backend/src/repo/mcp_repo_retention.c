/*
 * Retention: deletes what the persistence policy says is too old, in
 * small steps (a few conversations or a few thousand rows per
 * transaction) so appends queued behind it wait milliseconds, not the
 * whole sweep.  It runs at open and then from the writer queue on a timer:
 * never on a request's path.
 *
 * A message whose request is still in flight (request_state = 1 on its
 * user message: that is stored, the final answer is not) is never deleted,
 * whatever the policy says; the chat service may be assembling its
 * context.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "repo/mcp_repo_int.h"

#define MCP_RETAIN_CONVS_PER_STEP  64
#define MCP_RETAIN_ROWS_PER_STEP   2000

#define MCP_NOT_IN_FLIGHT(m)                                               \
    " NOT EXISTS (SELECT 1 FROM messages u"                                \
    "  WHERE u.conversation_id = " m ".conversation_id"                    \
    "  AND u.request_id = " m ".request_id AND u.type = 1"                 \
    "  AND u.request_state = 1)"

/* newest first: keep while the running token sum fits, and always keep
   the newest message itself (the original kept nothing then, or all) */
static const char  mcp_sql_token_limit[] =
    "DELETE FROM messages WHERE id IN ("
    " SELECT id FROM (SELECT m.id, m.conversation_id, m.request_id,"
    "  SUM(m.token_count) OVER w AS cum, ROW_NUMBER() OVER w AS rn"
    "  FROM messages m WHERE m.conversation_id = ?1"
    "  WINDOW w AS (ORDER BY m.id DESC)) k"
    " WHERE k.rn > 1 AND k.cum > ?2 AND" MCP_NOT_IN_FLIGHT("k") ")";

static const char  mcp_sql_message_count[] =
    "DELETE FROM messages WHERE id IN ("
    " SELECT id FROM (SELECT m.id, m.conversation_id, m.request_id,"
    "  ROW_NUMBER() OVER (ORDER BY m.id DESC) AS rn"
    "  FROM messages m WHERE m.conversation_id = ?1) k"
    " WHERE k.rn > ?2 AND" MCP_NOT_IN_FLIGHT("k") ")";

static const char  mcp_sql_time_based[] =
    "DELETE FROM messages WHERE id IN ("
    " SELECT m.id FROM messages m WHERE m.created_at < ?1 AND"
    MCP_NOT_IN_FLIGHT("m") " LIMIT ?2)";

static const char  mcp_sql_next_convs[] =
    "SELECT id FROM conversations WHERE id > ?1 ORDER BY id LIMIT ?2";


static int
mcp_retain_fail(sqlite3 *db, int rc, const char *what, char *err,
    size_t errlen)
{
    snprintf(err, errlen, "retention: %s: %s", what, sqlite3_errmsg(db));
    return rc;
}


static int
mcp_retain_time(sqlite3 *db, const mcp_persist_conf_t *pc, int64_t *deleted,
    int *done, char *err, size_t errlen)
{
    sqlite3_stmt  *st;
    int64_t        cutoff;
    int            rc, n;

    cutoff = (int64_t) mcp_repo_now_ms() - pc->retention_days * 86400000;
    rc = sqlite3_prepare_v2(db, mcp_sql_time_based, -1, &st, NULL);
    if (rc != SQLITE_OK) {
        return mcp_retain_fail(db, rc, "preparing", err, errlen);
    }
    sqlite3_bind_int64(st, 1, cutoff);
    sqlite3_bind_int(st, 2, MCP_RETAIN_ROWS_PER_STEP);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        return mcp_retain_fail(db, rc, "deleting old messages", err, errlen);
    }
    n = sqlite3_changes(db);
    *deleted += n;
    *done = n < MCP_RETAIN_ROWS_PER_STEP;
    return SQLITE_OK;
}


static int
mcp_retain_convs(sqlite3 *db, const mcp_persist_conf_t *pc, char **cursor,
    int64_t *deleted, int *done, char *err, size_t errlen)
{
    sqlite3_stmt  *list = NULL, *del = NULL;
    const char    *sql;
    int64_t        keep;
    int            rc, n = 0;

    if (pc->retention_policy == MCP_RETAIN_TOKEN_LIMIT) {
        sql = mcp_sql_token_limit;
        keep = pc->max_tokens_per_conversation;
    } else {
        sql = mcp_sql_message_count;
        keep = pc->max_messages_per_conversation;
    }

    rc = sqlite3_prepare_v2(db, mcp_sql_next_convs, -1, &list, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_prepare_v2(db, sql, -1, &del, NULL);
    }
    if (rc != SQLITE_OK) {
        mcp_retain_fail(db, rc, "preparing", err, errlen);
        goto done;
    }

    sqlite3_bind_text(list, 1, *cursor ? *cursor : "", -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(list, 2, MCP_RETAIN_CONVS_PER_STEP);
    while ((rc = sqlite3_step(list)) == SQLITE_ROW) {
        n++;
        free(*cursor);
        *cursor = strdup((const char *) sqlite3_column_text(list, 0));
        sqlite3_bind_text(del, 1, *cursor, -1, SQLITE_STATIC);
        sqlite3_bind_int64(del, 2, keep);
        rc = sqlite3_step(del);
        sqlite3_reset(del);
        if (rc != SQLITE_DONE) {
            mcp_retain_fail(db, rc, "deleting messages", err, errlen);
            goto done;
        }
        *deleted += sqlite3_changes(db);
    }
    if (rc != SQLITE_DONE) {
        mcp_retain_fail(db, rc, "listing conversations", err, errlen);
        goto done;
    }
    rc = SQLITE_OK;
    *done = n < MCP_RETAIN_CONVS_PER_STEP;

done:
    sqlite3_finalize(list);
    sqlite3_finalize(del);
    return rc;
}


/* One step, inside the caller's transaction. */
int
mcp_retention_step(sqlite3 *db, const mcp_persist_conf_t *pc, char **cursor,
    int64_t *deleted, int *done, char *err, size_t errlen)
{
    *done = 1;
    if (!pc->enabled) {
        return SQLITE_OK;
    }
    switch (pc->retention_policy) {
    case MCP_RETAIN_TIME_BASED:
        return mcp_retain_time(db, pc, deleted, done, err, errlen);
    case MCP_RETAIN_TOKEN_LIMIT:
    case MCP_RETAIN_MESSAGE_COUNT:
        return mcp_retain_convs(db, pc, cursor, deleted, done, err, errlen);
    default:
        return SQLITE_OK;
    }
}


static int
mcp_retain_exec(sqlite3 *db, const char *sql, const char *what, char *err,
    size_t errlen)
{
    int  rc = sqlite3_exec(db, sql, NULL, NULL, NULL);

    return rc == SQLITE_OK ? rc : mcp_retain_fail(db, rc, what, err, errlen);
}


/*
 * At open, before anything is served: requests left in flight by the
 * previous run are abandoned (nothing can finish them now), then the
 * database is cleared or retention runs to the end.
 */
int
mcp_retention_startup(sqlite3 *db, const mcp_persist_conf_t *pc,
    int64_t *deleted, char *err, size_t errlen)
{
    char  *cursor = NULL;
    int    rc, done = 0;

    rc = mcp_retain_exec(db, "UPDATE messages SET request_state = 3"
                         " WHERE request_state = 1",
                         "abandoning requests of the previous run", err,
                         errlen);
    if (rc != SQLITE_OK) {
        return rc;
    }

    if (pc->clear_on_startup) {
        rc = mcp_retain_exec(db, "BEGIN IMMEDIATE;"
                             "DELETE FROM messages;"
                             "DELETE FROM conversations; COMMIT",
                             "clearing the database (clear_on_startup)",
                             err, errlen);
        if (rc != SQLITE_OK) {
            sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
        }
        return rc;
    }

    while (!done) {
        rc = mcp_retain_exec(db, "BEGIN IMMEDIATE", "starting", err, errlen);
        if (rc == SQLITE_OK) {
            rc = mcp_retention_step(db, pc, &cursor, deleted, &done, err,
                                    errlen);
        }
        if (rc == SQLITE_OK) {
            rc = mcp_retain_exec(db, "COMMIT", "committing", err, errlen);
        }
        if (rc != SQLITE_OK) {
            sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
            break;
        }
    }
    free(cursor);
    return rc;
}
