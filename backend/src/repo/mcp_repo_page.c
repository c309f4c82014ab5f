/*
 * Keyset pages for the client API: a conversation's messages newest
 * first below a message id, and a principal's conversations below an
 * (updated_at, id) pair.  A history page starts at the cursor message's
 * link down the conversation's chain (mcp_repo_chain.c) and a list page
 * is one range scan of conversations_by_principal_page (schema version
 * 3), so the hundredth page costs what the first does, and rows appended
 * while a client pages (higher ids, later updated_at) land above its
 * cursor instead of shifting what it sees next.
 *
 * The SQL lives here; mcp_repo_db.c prepares it once per connection with
 * the rest of the statement table.
 */

#include <stdlib.h>
#include <string.h>

#include "repo/mcp_repo_int.h"

const char  mcp_sql_list_page[] =
    "SELECT c.id, c.principal, c.title, c.created_at, c.updated_at,"
    " c.message_count FROM conversations c"
    " WHERE c.principal = ?1 AND (c.updated_at, c.id) < (?2, ?3)"
    " ORDER BY c.updated_at DESC, c.id DESC LIMIT ?4";


/* SQLITE_ROW: principal owns conv; SQLITE_DONE: it does not (or none) */
static int
mcp_page_owner(mcp_conn_t *c, const char *conv, const char *principal)
{
    sqlite3_stmt  *st = c->st[MCP_ST_CONV_GET];
    int            rc;

    sqlite3_bind_text(st, 1, conv, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW
        && strcmp((const char *) sqlite3_column_text(st, 0), principal) != 0)
    {
        rc = SQLITE_DONE;
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc;
}


/*
 * The walk for the page below message `before` (0: from the newest).  The
 * cursor's own link leads on; a cursor that is not in the chain any more
 * (retention took it) costs a walk from the newest past what is above it.
 */
static int
mcp_page_start(mcp_chain_t *ch, mcp_conn_t *c, const char *conv,
    int64_t before)
{
    int  rc;

    if (before <= 0) {
        rc = mcp_chain_open(ch, c, conv, 1);
        return rc == SQLITE_ROW || rc == SQLITE_DONE ? SQLITE_OK : rc;
    }
    mcp_chain_at(ch, c, conv, before, 1);
    rc = mcp_chain_next(ch);
    if (rc == SQLITE_ROW) {
        return SQLITE_OK;               /* ch->next: below the cursor */
    }
    if (rc != SQLITE_DONE) {
        return rc;
    }
    rc = mcp_chain_open(ch, c, conv, 1);
    if (rc != SQLITE_ROW) {
        return rc == SQLITE_DONE ? SQLITE_OK : rc;
    }
    while (ch->next >= before && (rc = mcp_chain_next(ch)) == SQLITE_ROW) {
        /* above the cursor */
    }
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? SQLITE_OK : rc;
}


static void
mcp_op_page_history(mcp_conn_t *c, mcp_repo_req_t *r)
{
    const char    *conv = r->msg.conversation_id;
    mcp_chain_t    ch;
    int            rc;

    rc = mcp_page_owner(c, conv, r->principal);
    if (rc == SQLITE_DONE) {
        mcp_req_fail(r, MCP_REPO_ENOTFOUND, 0, "conversation \"%s\" not found",
                     conv);
        return;
    }
    if (rc != SQLITE_ROW) {
        mcp_req_fail_db(r, c->db, rc, "reading a history page");
        return;
    }

    rc = mcp_page_start(&ch, c, conv, r->msg.id);
    if (rc == SQLITE_OK) {
        rc = mcp_chain_collect(&ch, &r->res, r->limit, INT64_MAX, NULL);
    }
    if (rc != SQLITE_DONE) {
        mcp_req_fail_db(r, c->db, rc, "reading a history page");
        return;
    }
    mcp_msgs_reverse(&r->res);
}


static void
mcp_op_page_list(mcp_conn_t *c, mcp_repo_req_t *r)
{
    sqlite3_stmt  *st = c->st[MCP_ST_PAGE_LIST];
    int            rc;

    sqlite3_bind_text(st, 1, r->principal, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, r->msg.created_at);
    sqlite3_bind_text(st, 3, r->cursor ? r->cursor : "", -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, r->limit);
    rc = mcp_collect_convs(st, &r->res);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc != SQLITE_DONE) {
        mcp_req_fail_db(r, c->db, rc, "reading a page of conversations");
    }
}


void
mcp_op_page(mcp_conn_t *c, mcp_repo_req_t *r)
{
    if (r->op == MCP_OP_PAGE_HISTORY) {
        mcp_op_page_history(c, r);
    } else {
        mcp_op_page_list(c, r);
    }
}


/* ------------------------------------------------------------ submit */

int
mcp_repo_history_page(mcp_repo_t *repo, const char *principal,
    const char *conversation_id, int64_t before, int64_t limit,
    mcp_repo_cb_pt cb, void *data)
{
    mcp_repo_req_t  *r = mcp_req_new(MCP_OP_PAGE_HISTORY, cb, data);

    if (r == NULL) {
        return -1;
    }
    if (conversation_id == NULL || limit <= 0) {
        return mcp_repo_reject(repo, r, "a history page needs a conversation"
                               " id and a positive limit");
    }
    r->principal = strdup(principal ? principal : "");
    r->msg.conversation_id = strdup(conversation_id);
    r->msg.id = before;
    r->limit = limit;
    if (r->principal == NULL || r->msg.conversation_id == NULL) {
        mcp_req_free(r);
        return -1;
    }
    return mcp_repo_submit(repo, r);
}


int
mcp_repo_list_page(mcp_repo_t *repo, const char *principal,
    int64_t before_updated, const char *before_id, int64_t limit,
    mcp_repo_cb_pt cb, void *data)
{
    mcp_repo_req_t  *r = mcp_req_new(MCP_OP_PAGE_LIST, cb, data);

    if (r == NULL) {
        return -1;
    }
    if (limit <= 0) {
        return mcp_repo_reject(repo, r, "a page of conversations needs a "
                               "positive limit");
    }
    r->principal = strdup(principal ? principal : "");
    /* no cursor: above every row (updated_at is epoch ms, far below) */
    r->msg.created_at = before_updated >= 0 ? before_updated : INT64_MAX;
    r->cursor = before_id ? strdup(before_id) : NULL;
    r->limit = limit;
    if (r->principal == NULL || (before_id && r->cursor == NULL)) {
        mcp_req_free(r);
        return -1;
    }
    return mcp_repo_submit(repo, r);
}
