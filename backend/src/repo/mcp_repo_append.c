/*
 * Appending a message, on the writer inside its group's transaction, and
 * what belongs with it: idempotency, a request's stored rows, its end.
 *
 * An append reads the conversation's newest message (which also proves
 * the conversation exists), checks the request key against the writer's
 * request set (mcp_repo_reqset.c), inserts the row linked to that newest
 * one and makes itself the newest.  Every page it writes is at the end of
 * the table except the conversation's own row: see mcp_repo_chain.c.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "repo/mcp_repo_int.h"


/* ------------------------------------------------------------ requests */

typedef struct {
    mcp_repo_result_t  *res;
    mcp_msg_type_e      type;       /* the row looked for, with part; */
    int64_t             part;       /* type 0: every row (a lookup) */
    int64_t             found;      /* its id */
    int                 armed;      /* found: the walk may stop early */
    int                 state;
} mcp_req_rows_t;


static int
mcp_req_rows_collect(mcp_chain_t *ch, void *ctx)
{
    mcp_req_rows_t  *q = ctx;
    mcp_repo_msg_t  *m;
    int              rc;

    rc = mcp_msg_push_row(ch->st, q->res);
    if (rc != SQLITE_OK) {
        return rc;
    }
    m = &q->res->msgs[q->res->n_msgs - 1];
    if (m->type == q->type && m->part == q->part) {
        q->found = m->id;
        q->armed = 1;
    }
    if (m->type == MCP_MSG_USER) {
        /* walking down, the last seen is the request's first part */
        q->state = sqlite3_column_int(ch->st, MCP_GET_STATE);
    }
    return SQLITE_OK;
}


/*
 * The stored rows of a request, oldest first, and its state into res;
 * *found: the id of its (type, part) row, 0 if there is none.  With a
 * type, the walk stops early only once that row is found (a duplicate
 * confirmed: its answer follows its question); type 0 (a lookup) reads
 * the whole chain.
 */
int
mcp_request_rows(mcp_conn_t *c, mcp_repo_result_t *res, const char *conv,
    const char *rid, mcp_msg_type_e type, int64_t part, int64_t *found)
{
    mcp_req_rows_t  q = { res, type, part, 0, 0, MCP_REQ_NONE };
    int             rc;

    rc = mcp_chain_request(c, conv, rid, 1, &q.armed, mcp_req_rows_collect,
                           &q);
    mcp_msgs_reverse(res);
    res->request_state = q.state;
    if (found) {
        *found = q.found;
    }
    return rc;
}


static int
mcp_req_finish_row(mcp_chain_t *ch, void *ctx)
{
    mcp_conn_t    *c = ctx;
    sqlite3_stmt  *st = c->st[MCP_ST_REQ_FINISH];

    if (sqlite3_column_int(ch->st, MCP_LINK_TYPE) != MCP_MSG_USER) {
        return SQLITE_OK;
    }
    sqlite3_bind_int64(st, 1, ch->id);
    return mcp_step_done(st);
}


/* the request's state, on its user message, becomes done */
static int
mcp_request_finish(mcp_conn_t *c, const char *conv, const char *rid)
{
    return mcp_chain_request(c, conv, rid, 0, NULL, mcp_req_finish_row, c);
}


/* ------------------------------------------------------------ request sets */

/*
 * Add to set the keys of conv's chain from message from down to (not
 * including) down_to, at most limit messages (*walked: how many were);
 * *next: where a further walk goes on (0: the chain is read).
 */
int
mcp_reqset_walk(mcp_reqset_t *set, mcp_conn_t *c, const char *conv,
    int64_t from, int64_t down_to, size_t limit, int64_t *next,
    size_t *walked)
{
    mcp_chain_t  ch;
    const char  *rid;
    size_t       n = 0;
    int          rc;

    *next = 0;
    *walked = 0;
    mcp_chain_at(&ch, c, conv, from, 0);
    while ((rc = mcp_chain_next(&ch)) == SQLITE_ROW && ch.id > down_to) {
        rid = (const char *) sqlite3_column_text(ch.st, MCP_LINK_REQUEST);
        if (rid != NULL
            && mcp_reqset_add(set, mcp_reqset_key(rid,
                   sqlite3_column_int(ch.st, MCP_LINK_TYPE),
                   sqlite3_column_int64(ch.st, MCP_LINK_PART))) != 0)
        {
            rc = SQLITE_NOMEM;
            break;
        }
        if (++n == limit) {
            *next = ch.next;
            rc = SQLITE_DONE;
            break;
        }
    }
    *walked = n;
    mcp_chain_close(&ch);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? SQLITE_OK : rc;
}


static int
mcp_reqset_read(mcp_reqset_t *set, mcp_conn_t *c, const char *conv,
    int64_t head, int64_t down_to)
{
    int64_t  next;
    size_t   walked;
    int      rc;

    rc = mcp_reqset_walk(set, c, conv, head, down_to, SIZE_MAX, &next,
                         &walked);
    if (rc == SQLITE_OK) {
        set->synced = head;
    }
    return rc;
}


/*
 * The conversation's request set, in step with its chain whose newest is
 * head: read whole the first time (or when it knows a newer message than
 * the chain has, which only a delete elsewhere explains), else only what
 * was appended since it last saw the chain.  NULL: no memory, or the
 * read failed (*rc).
 */
static mcp_reqset_t *
mcp_reqset_sync(mcp_repo_t *repo, mcp_conn_t *c, const char *conv,
    int64_t head, int *rc)
{
    mcp_reqsets_t  *sets = &repo->reqsets;
    mcp_reqset_t   *set = mcp_reqsets_find(sets, conv);

    *rc = SQLITE_OK;
    if (set != NULL && set->synced == head) {
        return set;
    }
    if (set == NULL || set->synced > head) {
        set = mcp_reqsets_new(sets, conv);
        if (set == NULL) {
            *rc = SQLITE_NOMEM;
            return NULL;
        }
        *rc = mcp_reqset_read(set, c, conv, head, 0);
    } else {
        *rc = mcp_reqset_read(set, c, conv, head, set->synced);
    }
    if (*rc != SQLITE_OK) {
        mcp_reqsets_forget(sets, conv);
        return NULL;
    }
    return set;
}


/*
 * Is (request id, type, part) stored already?  Then *dup, and r->res has
 * the request's rows and the stored row's id.
 */
static int
mcp_append_check(mcp_conn_t *c, mcp_repo_req_t *r, int64_t head, int *dup)
{
    mcp_reqsets_t   *sets = &r->repo->reqsets;
    mcp_repo_msg_t  *m = &r->msg;
    mcp_reqset_t    *set;
    int64_t          found = 0;
    size_t           i;
    int              rc;

    *dup = 0;
    set = mcp_reqset_sync(r->repo, c, m->conversation_id, head, &rc);
    if (rc != SQLITE_OK) {
        return rc;
    }
    if (!mcp_reqset_has(set, mcp_reqset_key(m->request_id, (int) m->type,
                                            m->part)))
    {
        return SQLITE_OK;
    }

    __atomic_add_fetch(&sets->confirms, 1, __ATOMIC_RELAXED);
    rc = mcp_request_rows(c, &r->res, m->conversation_id, m->request_id,
                          m->type, m->part, &found);
    if (rc == SQLITE_OK && found) {
        *dup = 1;
        r->res.duplicate = 1;
        r->res.id = found;
        return SQLITE_OK;
    }
    /* a stale key (its row deleted) or a collision: it is new */
    if (rc == SQLITE_OK) {
        __atomic_add_fetch(&sets->stale, 1, __ATOMIC_RELAXED);
    }
    for (i = 0; i < r->res.n_msgs; i++) {
        mcp_repo_msg_clear(&r->res.msgs[i]);
    }
    r->res.n_msgs = 0;
    r->res.request_state = MCP_REQ_NONE;
    return rc;
}


/* After the insert: the set knows the new newest, and its key. */
static void
mcp_append_remember(mcp_repo_t *repo, const mcp_repo_msg_t *m, int64_t prev,
    int64_t id)
{
    mcp_reqset_t  *set = mcp_reqsets_find(&repo->reqsets, m->conversation_id);

    if (set == NULL) {
        return;                 /* read whole on its next request id */
    }
    if (set->synced != prev
        || (m->request_id
            && mcp_reqset_add(set, mcp_reqset_key(m->request_id,
                                                  (int) m->type, m->part))
               != 0))
    {
        mcp_reqsets_forget(&repo->reqsets, m->conversation_id);
        return;
    }
    set->synced = id;
    mcp_reqsets_trim(&repo->reqsets);
}


/* ------------------------------------------------------------ append */

static int
mcp_append_insert(mcp_conn_t *c, mcp_repo_msg_t *m, int64_t prev)
{
    sqlite3_stmt  *st = c->st[MCP_ST_MSG_INSERT];
    int            rc;

    sqlite3_bind_text(st, 1, m->conversation_id, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, (int) m->type);
    sqlite3_bind_text(st, 3, m->content, (int) m->content_len, SQLITE_STATIC);
    mcp_bind_str(st, 4, m->tool_calls);
    mcp_bind_str(st, 5, m->tool_call_id);
    mcp_bind_str(st, 6, m->name);
    mcp_bind_str(st, 7, m->model);
    mcp_bind_str(st, 8, m->usage);
    sqlite3_bind_int64(st, 9, m->token_count);
    mcp_bind_str(st, 10, m->request_id);
    sqlite3_bind_int64(st, 11, m->part);
    sqlite3_bind_int64(st, 12, m->created_at);
    if (m->request_id && m->type == MCP_MSG_USER) {
        sqlite3_bind_int(st, 13, MCP_REQ_OPEN);     /* opens the request */
    } else {
        sqlite3_bind_null(st, 13);
    }
    mcp_bind_id(st, 14, prev);
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc;
}


static int
mcp_append_touch(mcp_conn_t *c, int64_t conv_rowid, int64_t now, int64_t id)
{
    sqlite3_stmt  *st = c->st[MCP_ST_CONV_TOUCH];

    sqlite3_bind_int64(st, 1, conv_rowid);
    sqlite3_bind_int64(st, 2, now);
    sqlite3_bind_int64(st, 3, id);
    return mcp_step_done(st);
}


int
mcp_op_append(mcp_conn_t *c, mcp_repo_req_t *r)
{
    mcp_repo_msg_t  *m = &r->msg;
    int64_t          now = (int64_t) mcp_repo_now_ms(), head, id, conv;
    int              rc, dup = 0;

    if (m->created_at == 0) {
        m->created_at = now;
    }
    rc = mcp_chain_head(c, m->conversation_id, &head, &conv);
    if (rc == SQLITE_DONE) {
        mcp_req_fail(r, MCP_REPO_ENOTFOUND, 0, "conversation \"%s\" not found",
                     m->conversation_id);
        return SQLITE_OK;
    }
    if (rc == SQLITE_ROW && m->request_id) {
        rc = mcp_append_check(c, r, head, &dup);
        rc = rc == SQLITE_OK ? SQLITE_ROW : rc;
    }
    if (rc != SQLITE_ROW) {
        mcp_req_fail_db(r, c->db, rc, "appending a message");
        return rc;
    }

    rc = SQLITE_OK;
    if (!dup) {
        rc = mcp_append_insert(c, m, head);
        if (rc != SQLITE_DONE) {
            mcp_req_fail_db(r, c->db, rc, "appending a message");
            return mcp_repo_status_of(rc) == MCP_REPO_EINVAL ? SQLITE_OK : rc;
        }
        id = sqlite3_last_insert_rowid(c->db);
        rc = mcp_append_touch(c, conv, now, id);
        if (rc != SQLITE_OK) {
            mcp_req_fail_db(r, c->db, rc, "appending a message");
            return rc;
        }
        r->res.id = id;
        mcp_append_remember(r->repo, m, head, id);
    }

    if (m->request_id && r->final) {
        /* also when the final row is a duplicate: it is stored, so the
           request is complete */
        rc = mcp_request_finish(c, m->conversation_id, m->request_id);
        if (rc != SQLITE_OK) {
            mcp_req_fail_db(r, c->db, rc, "appending a message");
        } else if (dup && r->res.request_state != MCP_REQ_NONE) {
            r->res.request_state = MCP_REQ_DONE;    /* read before */
        }
    }
    return rc;
}


int
mcp_op_req_end(mcp_conn_t *c, mcp_repo_req_t *r)
{
    int  rc;

    rc = mcp_request_finish(c, r->msg.conversation_id, r->msg.request_id);
    if (rc != SQLITE_OK) {
        mcp_req_fail_db(r, c->db, rc, "ending a request");
    }
    return rc;
}
