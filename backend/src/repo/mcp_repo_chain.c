/*
 * A conversation's messages as a chain (schema version 5): each message
 * names the conversation's previous one (prev_id) and the conversation row
 * names its newest (last_id).  An append then writes only the pages at the
 * end of the table and the conversation's own row, where a per-conversation
 * index cost a scattered leaf per conversation in every group commit.
 *
 * A walk reads newest first, one row id lookup per message.  It trusts a
 * link only when it leads to an older message of the same conversation, so
 * a link to a message deleted since (retention relinks what it keeps, but
 * a row id freed at the top of the table can be given again) ends the walk
 * instead of straying into another conversation.
 *
 * Pruning (retention, delete) walks the chain once, deletes what the
 * caller's rule says, links each kept message to the next kept one and
 * fixes the conversation's newest and count.
 */

#include <string.h>

#include "repo/mcp_repo_int.h"


/*
 * The conversation's row: its newest message (*last, 0: none yet), and if
 * asked its own rowid and message_count.  SQLITE_ROW; SQLITE_DONE: no
 * such conversation; or the error.
 */
static int
mcp_chain_conv_row(mcp_conn_t *c, const char *conv, int64_t *last,
    int64_t *conv_rowid, int64_t *count)
{
    sqlite3_stmt  *st = c->st[MCP_ST_CONV_HEAD];
    int            rc;

    *last = 0;
    sqlite3_bind_text(st, 1, conv, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *last = sqlite3_column_int64(st, 0);
        if (conv_rowid) {
            *conv_rowid = sqlite3_column_int64(st, 1);
        }
        if (count) {
            *count = sqlite3_column_int64(st, 2);
        }
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc;
}


/*
 * SQLITE_ROW with *last (0: no message yet) and, if asked, the
 * conversation row's own rowid (the append rewrites that row by it, one
 * descent instead of two through the text key); SQLITE_DONE: no such
 * conversation; or the error.
 */
int
mcp_chain_head(mcp_conn_t *c, const char *conv, int64_t *last,
    int64_t *conv_rowid)
{
    return mcp_chain_conv_row(c, conv, last, conv_rowid, NULL);
}


/* SQLITE_ROW with the conversation's message_count, as mcp_chain_head() */
int
mcp_chain_count(mcp_conn_t *c, const char *conv, int64_t *count)
{
    int64_t  last;

    *count = 0;
    return mcp_chain_conv_row(c, conv, &last, NULL, count);
}


/* A walk from message id (0: an empty walk); full: every column. */
void
mcp_chain_at(mcp_chain_t *ch, mcp_conn_t *c, const char *conv, int64_t id,
    int full)
{
    memset(ch, 0, sizeof(*ch));
    ch->conv = conv;
    ch->next = id;
    ch->full = full;
    ch->st = c->st[full ? MCP_ST_MSG_GET : MCP_ST_MSG_LINK];
}


/* A walk from the conversation's newest message; as mcp_chain_head(). */
int
mcp_chain_open(mcp_chain_t *ch, mcp_conn_t *c, const char *conv, int full)
{
    int64_t  last;
    int      rc;

    rc = mcp_chain_head(c, conv, &last, NULL);
    mcp_chain_at(ch, c, conv, rc == SQLITE_ROW ? last : 0, full);
    return rc;
}


/*
 * SQLITE_ROW: ch->st is on the next older message (read it before the
 * next call); SQLITE_DONE: the chain ends; or the error.
 */
int
mcp_chain_next(mcp_chain_t *ch)
{
    sqlite3_stmt  *st = ch->st;
    const char    *conv;
    int64_t        prev;
    int            rc;

    sqlite3_reset(st);
    if (ch->next <= 0) {
        return SQLITE_DONE;
    }
    sqlite3_bind_int64(st, 1, ch->next);
    rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        sqlite3_reset(st);
        ch->next = 0;
        return rc;                          /* a dangling link ends it */
    }
    conv = (const char *) sqlite3_column_text(st, ch->full ? 1
                                              : MCP_LINK_CONV);
    if (conv == NULL || strcmp(conv, ch->conv) != 0) {
        sqlite3_reset(st);
        ch->next = 0;
        return SQLITE_DONE;
    }
    ch->id = ch->next;
    prev = sqlite3_column_int64(st, ch->full ? MCP_GET_PREV : MCP_LINK_PREV);
    ch->next = prev > 0 && prev < ch->id ? prev : 0;
    return SQLITE_ROW;
}


void
mcp_chain_close(mcp_chain_t *ch)
{
    if (ch->st) {
        sqlite3_reset(ch->st);
    }
}


static int
mcp_col_is(sqlite3_stmt *st, int col, const char *s)
{
    const char  *v = (const char *) sqlite3_column_text(st, col);

    return v != NULL && strcmp(v, s) == 0;
}


/*
 * The rows of request rid, newest first, to fn.  The walk reads to the
 * end of the chain, or, once *armed (NULL: from the start), stops at the
 * first row of another request below one of rid's user messages: a
 * request's rows follow its question.  Callers that must see every row
 * (a lookup; a duplicate not yet confirmed) arm it late or never: after
 * retention took a question whose answer it kept, a question asked again
 * leaves the older rows below another request's.
 */
int
mcp_chain_request(mcp_conn_t *c, const char *conv, const char *rid, int full,
    const int *armed, mcp_chain_row_pt fn, void *ctx)
{
    mcp_chain_t  ch;
    int          rc, type, seen_user = 0;
    int          rid_col = full ? 10 : MCP_LINK_REQUEST;
    int          type_col = full ? 2 : MCP_LINK_TYPE;

    rc = mcp_chain_open(&ch, c, conv, full);
    if (rc != SQLITE_ROW) {
        return rc == SQLITE_DONE ? SQLITE_OK : rc;
    }
    while ((rc = mcp_chain_next(&ch)) == SQLITE_ROW) {
        if (!mcp_col_is(ch.st, rid_col, rid)) {
            if (seen_user && (armed == NULL || *armed)) {
                break;
            }
            continue;
        }
        type = sqlite3_column_int(ch.st, type_col);
        seen_user |= type == MCP_MSG_USER;
        rc = fn(&ch, ctx);
        if (rc != SQLITE_OK) {
            break;
        }
    }
    mcp_chain_close(&ch);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? SQLITE_OK : rc;
}


static int
mcp_chain_delete(mcp_conn_t *c, int64_t id)
{
    sqlite3_stmt  *st = c->st[MCP_ST_MSG_DELETE];

    sqlite3_bind_int64(st, 1, id);
    return mcp_step_done(st);
}


/* message id's link becomes prev (0: it is the oldest) */
static int
mcp_chain_relink(mcp_conn_t *c, int64_t id, int64_t prev)
{
    sqlite3_stmt  *st = c->st[MCP_ST_MSG_RELINK];

    sqlite3_bind_int64(st, 1, id);
    mcp_bind_id(st, 2, prev);
    return mcp_step_done(st);
}


/* The conversation's newest becomes last, its count drops by gone. */
static int
mcp_chain_fix_conv(mcp_conn_t *c, const char *conv, int64_t last,
    int64_t gone)
{
    sqlite3_stmt  *st = c->st[MCP_ST_CONV_CHAIN];

    sqlite3_bind_text(st, 1, conv, -1, SQLITE_STATIC);
    mcp_bind_id(st, 2, last);
    sqlite3_bind_int64(st, 3, gone);
    return mcp_step_done(st);
}


/*
 * Walk the chain; delete each message rule() says, at most max of them
 * (*more then says some may be left).  Kept messages are linked to each
 * other past the deleted ones, the conversation's newest and count
 * follow.
 */
int
mcp_chain_prune(mcp_conn_t *c, const char *conv, mcp_chain_rule_pt rule,
    void *ctx, int64_t max, int64_t *deleted, int *more)
{
    mcp_chain_t  ch;
    int64_t      kept = 0;      /* the newest kept above the walk */
    int64_t      head = 0, gone = 0, id;
    int          rc, stale = 0;

    *more = 0;
    rc = mcp_chain_open(&ch, c, conv, 0);
    if (rc != SQLITE_ROW) {
        return rc == SQLITE_DONE ? SQLITE_OK : rc;
    }
    head = ch.next;

    while ((rc = mcp_chain_next(&ch)) == SQLITE_ROW) {
        id = ch.id;
        if (gone < max && rule(ch.st, ctx)) {
            sqlite3_reset(ch.st);
            rc = mcp_chain_delete(c, id);
            if (rc != SQLITE_OK) {
                break;
            }
            gone++;
            stale = 1;
            continue;
        }
        if (gone >= max) {
            *more = 1;
        }
        if (stale) {
            /* the kept message above pointed into what went */
            sqlite3_reset(ch.st);
            rc = kept ? mcp_chain_relink(c, kept, id)
                      : SQLITE_OK;
            if (rc != SQLITE_OK) {
                break;
            }
            if (kept == 0) {
                head = id;
            }
            stale = 0;
        }
        if (*more) {
            break;                  /* the rest stays as it is linked */
        }
        kept = id;
    }
    mcp_chain_close(&ch);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE && rc != SQLITE_OK) {
        return rc;              /* (OK: stopped at max after a relink) */
    }

    if (stale) {
        /* what went reached the end of the chain */
        rc = kept ? mcp_chain_relink(c, kept, 0)
                  : SQLITE_OK;
        if (rc != SQLITE_OK) {
            return rc;
        }
        if (kept == 0) {
            head = 0;
        }
    }
    *deleted += gone;
    return gone ? mcp_chain_fix_conv(c, conv, head, gone) : SQLITE_OK;
}
