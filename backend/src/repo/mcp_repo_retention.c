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
#define MCP_RETAIN_OPEN_MAX        16

/*
 * Each conversation is pruned down its chain (mcp_repo_chain.c): the rule
 * below sees its messages newest first.  The window of the original SQL
 * (ROW_NUMBER and a running SUM over id DESC) is the walk's own count.
 */
typedef struct {
    const mcp_persist_conf_t  *pc;
    int64_t                    cutoff;     /* time_based: created before */
    int64_t                    rn;         /* messages seen, this one too */
    int64_t                    cum;        /* their tokens */
    char                      *open[MCP_RETAIN_OPEN_MAX];
    int                        n_open;     /* requests in flight */
    int                        open_more;  /* more than fit: keep all */
} mcp_retain_t;


static int
mcp_retain_in_flight(mcp_retain_t *k, sqlite3_stmt *link)
{
    const char  *rid = (const char *) sqlite3_column_text(link,
                                                          MCP_LINK_REQUEST);
    int          i;

    if (rid == NULL) {
        return 0;
    }
    if (k->open_more) {
        return 1;
    }
    for (i = 0; i < k->n_open; i++) {
        if (strcmp(k->open[i], rid) == 0) {
            return 1;
        }
    }
    return 0;
}


/* newest first: the newest message itself is always kept (the original
   kept nothing then, or all) */
static int
mcp_retain_rule(sqlite3_stmt *link, void *ctx)
{
    mcp_retain_t              *k = ctx;
    const mcp_persist_conf_t  *pc = k->pc;
    int                        old;

    k->rn++;
    k->cum += sqlite3_column_int64(link, MCP_LINK_TOKENS);
    switch (pc->retention_policy) {
    case MCP_RETAIN_TOKEN_LIMIT:
        old = k->rn > 1 && k->cum > pc->max_tokens_per_conversation;
        break;
    case MCP_RETAIN_MESSAGE_COUNT:
        old = k->rn > pc->max_messages_per_conversation;
        break;
    default:
        old = sqlite3_column_int64(link, MCP_LINK_CREATED) < k->cutoff;
        break;
    }
    return old && !mcp_retain_in_flight(k, link);
}


static void
mcp_retain_reset(mcp_retain_t *k)
{
    while (k->n_open > 0) {
        free(k->open[--k->n_open]);
    }
    k->open_more = 0;
    k->rn = 0;
    k->cum = 0;
}


/* the conversation's requests in flight (a partial index holds them) */
static int
mcp_retain_open_requests(mcp_conn_t *c, const char *conv, mcp_retain_t *k)
{
    sqlite3_stmt  *st = c->st[MCP_ST_REQ_OPEN];
    const char    *rid;
    int            rc;

    mcp_retain_reset(k);
    sqlite3_bind_text(st, 1, conv, -1, SQLITE_STATIC);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        rid = (const char *) sqlite3_column_text(st, 0);
        if (rid == NULL) {
            continue;
        }
        if (k->n_open == MCP_RETAIN_OPEN_MAX
            || (k->open[k->n_open] = strdup(rid)) == NULL)
        {
            k->open_more = 1;       /* keep every message with a request */
            continue;
        }
        k->n_open++;
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}


static int
mcp_retain_fail(sqlite3 *db, int rc, const char *what, char *err,
    size_t errlen)
{
    snprintf(err, errlen, "retention: %s: %s", what, sqlite3_errmsg(db));
    return rc;
}


/*
 * Conversations with something to delete: for message_count those
 * counting more, after the cursor, for token_limit all of them; for
 * time_based those of the oldest messages past the cutoff that are not
 * in flight (a range of the created_at index about as long as one step's
 * rows, never a scan of all that is old, so a large backlog costs each
 * step the same; the requests in flight are a few entries of a partial
 * index).
 */
static const char  mcp_sql_next_convs[] =
    "SELECT id FROM conversations WHERE id > ?1 AND message_count > ?3"
    " ORDER BY id LIMIT ?2";

static const char  mcp_sql_old_convs[] =
    "SELECT DISTINCT conversation_id FROM (SELECT m.conversation_id"
    " FROM messages m WHERE m.created_at < ?1 AND (m.request_id IS NULL"
    "  OR NOT EXISTS (SELECT 1 FROM messages u WHERE u.request_state = 1"
    "  AND u.conversation_id = m.conversation_id"
    "  AND u.request_id = m.request_id))"
    " ORDER BY m.created_at LIMIT ?2)";


static int
mcp_retain_list(mcp_conn_t *c, mcp_retain_t *k, const char *cursor,
    sqlite3_stmt **list)
{
    const mcp_persist_conf_t  *pc = k->pc;
    int                        rc;

    if (pc->retention_policy == MCP_RETAIN_TIME_BASED) {
        rc = sqlite3_prepare_v2(c->db, mcp_sql_old_convs, -1, list, NULL);
        if (rc == SQLITE_OK) {
            sqlite3_bind_int64(*list, 1, k->cutoff);
            sqlite3_bind_int(*list, 2, MCP_RETAIN_ROWS_PER_STEP);
        }
        return rc;
    }
    rc = sqlite3_prepare_v2(c->db, mcp_sql_next_convs, -1, list, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(*list, 1, cursor ? cursor : "", -1,
                          SQLITE_TRANSIENT);
        sqlite3_bind_int(*list, 2, MCP_RETAIN_CONVS_PER_STEP);
        /* token_limit: one message is always kept */
        sqlite3_bind_int64(*list, 3, pc->retention_policy
                           == MCP_RETAIN_MESSAGE_COUNT
                           ? pc->max_messages_per_conversation : 1);
    }
    return rc;
}


/*
 * Up to MCP_RETAIN_CONVS_PER_STEP conversations after the cursor (time
 * based: those of the oldest rows), and MCP_RETAIN_ROWS_PER_STEP
 * messages: a conversation cut short is visited again by the next step.
 * Time based is done when a step finds nothing more to delete.
 */
static int
mcp_retain_step(mcp_conn_t *c, mcp_reqsets_t *sets,
    const mcp_persist_conf_t *pc, char **cursor, int64_t *deleted, int *done,
    char *err, size_t errlen)
{
    mcp_retain_t   k;
    sqlite3_stmt  *list = NULL;
    const char    *conv;
    int64_t        budget = MCP_RETAIN_ROWS_PER_STEP, gone;
    int            rc, n = 0, more = 0;
    int            by_time = pc->retention_policy == MCP_RETAIN_TIME_BASED;

    memset(&k, 0, sizeof(k));
    k.pc = pc;
    k.cutoff = (int64_t) mcp_repo_now_ms() - pc->retention_days * 86400000;
    rc = mcp_retain_list(c, &k, *cursor, &list);
    if (rc != SQLITE_OK) {
        return mcp_retain_fail(c->db, rc, "preparing", err, errlen);
    }

    while (!more && budget > 0 && (rc = sqlite3_step(list)) == SQLITE_ROW) {
        conv = (const char *) sqlite3_column_text(list, 0);
        n++;
        rc = mcp_retain_open_requests(c, conv, &k);
        gone = 0;
        if (rc == SQLITE_OK) {
            rc = mcp_chain_prune(c, conv, mcp_retain_rule, &k, budget, &gone,
                                 &more);
        }
        if (rc != SQLITE_OK) {
            mcp_retain_fail(c->db, rc, "deleting messages", err, errlen);
            break;
        }
        if (gone > 0 && sets) {
            mcp_reqsets_forget(sets, conv);
        }
        *deleted += gone;
        budget -= gone;
        if (!more && !by_time) {
            /* done with it: the next step starts after it */
            free(*cursor);
            *cursor = strdup(conv);
        }
    }
    mcp_retain_reset(&k);
    sqlite3_finalize(list);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE && rc != SQLITE_OK) {
        return rc;
    }
    if (by_time) {
        *done = budget == MCP_RETAIN_ROWS_PER_STEP;    /* deleted nothing */
    } else {
        *done = rc == SQLITE_DONE && n < MCP_RETAIN_CONVS_PER_STEP;
    }
    return SQLITE_OK;
}


/* One step, inside the caller's transaction. */
int
mcp_retention_step(mcp_conn_t *c, mcp_reqsets_t *sets,
    const mcp_persist_conf_t *pc, char **cursor, int64_t *deleted, int *done,
    char *err, size_t errlen)
{
    *done = 1;
    if (!pc->enabled) {
        return SQLITE_OK;
    }
    switch (pc->retention_policy) {
    case MCP_RETAIN_TIME_BASED:
    case MCP_RETAIN_TOKEN_LIMIT:
    case MCP_RETAIN_MESSAGE_COUNT:
        return mcp_retain_step(c, sets, pc, cursor, deleted, done, err,
                               errlen);
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
mcp_retention_startup(sqlite3 *db, const mcp_repo_conf_t *conf,
    const mcp_persist_conf_t *pc, int64_t *deleted, char *err, size_t errlen)
{
    mcp_conn_t   c;
    char        *cursor = NULL;
    int          rc, done = 0;

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

    if (!pc->enabled || pc->retention_policy == MCP_RETAIN_UNLIMITED) {
        return SQLITE_OK;
    }
    /* the walks need a connection's prepared statements */
    rc = mcp_conn_open(&c, conf, 0, err, errlen);
    if (rc != SQLITE_OK) {
        return rc;
    }
    while (!done) {
        rc = mcp_retain_exec(c.db, "BEGIN IMMEDIATE", "starting", err,
                             errlen);
        if (rc == SQLITE_OK) {
            rc = mcp_retention_step(&c, NULL, pc, &cursor, deleted, &done,
                                    err, errlen);
        }
        if (rc == SQLITE_OK) {
            rc = mcp_retain_exec(c.db, "COMMIT", "committing", err, errlen);
        }
        if (rc != SQLITE_OK) {
            sqlite3_exec(c.db, "ROLLBACK", NULL, NULL, NULL);
            break;
        }
    }
    free(cursor);
    mcp_conn_close(&c);
    return rc;
}
