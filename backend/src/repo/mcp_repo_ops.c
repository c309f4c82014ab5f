/*
 * The operations themselves, run by a worker thread on the connection it
 * owns.  Writes run inside the transaction the writer opened for its
 * group; an error that concerns one request only (a duplicate, a missing
 * conversation, an oversize value) fails that request, and SQLite has
 * already undone that statement, so the group goes on.  Anything else
 * (I/O, full disk) is returned and the writer rolls the group back.
 */

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "repo/mcp_repo_int.h"


void
mcp_req_fail(mcp_repo_req_t *r, int status, int code, const char *fmt, ...)
{
    va_list  ap;

    va_start(ap, fmt);
    vsnprintf(r->errbuf, sizeof(r->errbuf), fmt, ap);
    va_end(ap);
    r->res.status = status;
    r->res.error = r->errbuf;
    r->res.sqlite_code = code;
}


void
mcp_req_fail_db(mcp_repo_req_t *r, sqlite3 *db, int rc, const char *what)
{
    mcp_req_fail(r, mcp_repo_status_of(rc), rc, "repository \"%s\": %s: %s",
                 r->repo->conf.path, what,
                 db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
}


void
mcp_repo_msg_clear(mcp_repo_msg_t *m)
{
    free(m->conversation_id);
    free(m->content);
    free(m->tool_calls);
    free(m->tool_call_id);
    free(m->name);
    free(m->model);
    free(m->usage);
    free(m->request_id);
    memset(m, 0, sizeof(*m));
}


void
mcp_req_free(mcp_repo_req_t *r)
{
    size_t  i;

    free(r->principal);
    free(r->title);
    free(r->cursor);
    mcp_repo_msg_clear(&r->msg);
    for (i = 0; i < r->res.n_msgs; i++) {
        mcp_repo_msg_clear(&r->res.msgs[i]);
    }
    free(r->res.msgs);
    for (i = 0; i < r->res.n_convs; i++) {
        free(r->res.convs[i].id);
        free(r->res.convs[i].principal);
        free(r->res.convs[i].title);
    }
    free(r->res.convs);
    free(r->res.json);
    free(r->res_conv_id);
    mcp_reqset_drop(r->warm);
    free(r);
}


/* ------------------------------------------------------------ binding */

/* a row id, or NULL for none (0) */
void
mcp_bind_id(sqlite3_stmt *st, int i, int64_t id)
{
    if (id > 0) {
        sqlite3_bind_int64(st, i, id);
    } else {
        sqlite3_bind_null(st, i);
    }
}


/* A statement that returns no row, run and made ready for the next use. */
int
mcp_step_done(sqlite3_stmt *st)
{
    int  rc = sqlite3_step(st);

    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}


void
mcp_bind_str(sqlite3_stmt *st, int i, const char *s)
{
    if (s) {
        sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
    } else {
        sqlite3_bind_null(st, i);
    }
}


static char *
mcp_col_dup(sqlite3_stmt *st, int i, size_t *len)
{
    const unsigned char  *p;
    size_t                n;
    char                 *s;

    if (sqlite3_column_type(st, i) == SQLITE_NULL) {
        if (len) {
            *len = 0;
        }
        return NULL;
    }
    p = sqlite3_column_text(st, i);
    n = (size_t) sqlite3_column_bytes(st, i);
    s = malloc(n + 1);
    if (s == NULL) {
        return NULL;
    }
    if (n) {
        memcpy(s, p, n);
    }
    s[n] = '\0';
    if (len) {
        *len = n;
    }
    return s;
}


/* columns as in MCP_MSG_COLS */
static void
mcp_msg_from_row(sqlite3_stmt *st, mcp_repo_msg_t *m)
{
    m->id = sqlite3_column_int64(st, 0);
    m->conversation_id = mcp_col_dup(st, 1, NULL);
    m->type = (mcp_msg_type_e) sqlite3_column_int(st, 2);
    m->content = mcp_col_dup(st, 3, &m->content_len);
    m->tool_calls = mcp_col_dup(st, 4, NULL);
    m->tool_call_id = mcp_col_dup(st, 5, NULL);
    m->name = mcp_col_dup(st, 6, NULL);
    m->model = mcp_col_dup(st, 7, NULL);
    m->usage = mcp_col_dup(st, 8, NULL);
    m->token_count = sqlite3_column_int64(st, 9);
    m->request_id = mcp_col_dup(st, 10, NULL);
    m->part = sqlite3_column_int64(st, 11);
    m->created_at = sqlite3_column_int64(st, 12);
}


/* The row st is on, appended to res->msgs. */
int
mcp_msg_push_row(sqlite3_stmt *st, mcp_repo_result_t *res)
{
    mcp_repo_msg_t  *grown;
    size_t           n = res->n_msgs;

    /* the array has room for 16, then doubles: full at 0, 16, 32, ... */
    if (n == 0 || (n >= 16 && (n & (n - 1)) == 0)) {
        grown = realloc(res->msgs, (n ? n * 2 : 16) * sizeof(*grown));
        if (grown == NULL) {
            return SQLITE_NOMEM;
        }
        res->msgs = grown;
    }
    mcp_msg_from_row(st, &res->msgs[res->n_msgs++]);
    return SQLITE_OK;
}


/*
 * The walk's messages into res, newest first: at most limit (0: all),
 * and while their tokens fit budget (INT64_MAX: any; below 0: none);
 * *tokens their sum.  SQLITE_DONE or the error.
 */
int
mcp_chain_collect(mcp_chain_t *ch, mcp_repo_result_t *res, int64_t limit,
    int64_t budget, int64_t *tokens)
{
    int64_t  sum = 0, tc;
    int      rc = SQLITE_DONE;

    while ((limit <= 0 || (int64_t) res->n_msgs < limit)
           && (rc = mcp_chain_next(ch)) == SQLITE_ROW)
    {
        /* newest first, stop at the first that does not fit */
        tc = sqlite3_column_int64(ch->st, 9);
        if (sum + tc > budget) {
            rc = SQLITE_DONE;
            break;
        }
        if (mcp_msg_push_row(ch->st, res) != SQLITE_OK) {
            rc = SQLITE_NOMEM;
            break;
        }
        sum += tc;
    }
    mcp_chain_close(ch);
    if (tokens) {
        *tokens = sum;
    }
    return rc == SQLITE_ROW ? SQLITE_DONE : rc;
}


/* newest-first rows turned oldest-first */
void
mcp_msgs_reverse(mcp_repo_result_t *res)
{
    mcp_repo_msg_t  tmp;
    size_t          i, n = res->n_msgs;

    for (i = 0; i < n / 2; i++) {
        tmp = res->msgs[i];
        res->msgs[i] = res->msgs[n - 1 - i];
        res->msgs[n - 1 - i] = tmp;
    }
}


/* ------------------------------------------------------------ writes */

static void
mcp_new_id(char *out)
{
    unsigned char  b[16];
    size_t         i;
    char          *p = out;

    if (getrandom(b, sizeof(b), 0) != (ssize_t) sizeof(b)) {
        /* entropy unavailable: time and address keep ids distinct */
        uint64_t  t = mcp_repo_now_ns() ^ (uint64_t) (uintptr_t) out;
        for (i = 0; i < sizeof(b); i++) {
            b[i] = (unsigned char) (t >> ((i % 8) * 8)) ^ (unsigned char) i;
        }
    }
    b[6] = (b[6] & 0x0f) | 0x40;      /* a version 4 UUID */
    b[8] = (b[8] & 0x3f) | 0x80;
    for (i = 0; i < sizeof(b); i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10) {
            *p++ = '-';
        }
        p += sprintf(p, "%02x", b[i]);
    }
}


static int
mcp_op_conv_open(mcp_conn_t *c, mcp_repo_req_t *r)
{
    sqlite3_stmt  *st = c->st[MCP_ST_CONV_INSERT];
    const char    *id = r->msg.conversation_id;
    char           gen[40], *owner;
    int            rc;

    if (id == NULL || id[0] == '\0') {
        mcp_new_id(gen);
        id = gen;
    }
    r->res_conv_id = strdup(id);
    r->res.conversation_id = r->res_conv_id;

    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, r->principal, -1, SQLITE_STATIC);
    mcp_bind_str(st, 3, r->title);
    sqlite3_bind_int64(st, 4, (sqlite3_int64) mcp_repo_now_ms());
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc != SQLITE_DONE) {
        mcp_req_fail_db(r, c->db, rc, "creating a conversation");
        return mcp_repo_status_of(rc) == MCP_REPO_EINVAL ? SQLITE_OK : rc;
    }
    if (sqlite3_changes(c->db) == 1) {
        r->res.created = 1;
        return SQLITE_OK;
    }

    st = c->st[MCP_ST_CONV_GET];
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    owner = rc == SQLITE_ROW ? mcp_col_dup(st, 0, NULL) : NULL;
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc != SQLITE_ROW) {
        mcp_req_fail_db(r, c->db, rc, "finding a conversation");
        return rc;
    }
    /* another principal's conversation does not exist for this one */
    if (owner == NULL || strcmp(owner, r->principal) != 0) {
        mcp_req_fail(r, MCP_REPO_ENOTFOUND, 0, "conversation \"%s\" not found",
                     id);
    }
    free(owner);
    return SQLITE_OK;
}


static int
mcp_delete_all(sqlite3_stmt *link, void *ctx)
{
    return 1;
}


static int
mcp_op_delete(mcp_conn_t *c, mcp_repo_req_t *r)
{
    sqlite3_stmt  *st = c->st[MCP_ST_CONV_GET];
    const char    *conv = r->msg.conversation_id;
    int64_t        rows = 0;
    int            rc, owned, more;

    sqlite3_bind_text(st, 1, conv, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    owned = rc == SQLITE_ROW
            && strcmp((const char *) sqlite3_column_text(st, 0),
                      r->principal) == 0;
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        mcp_req_fail_db(r, c->db, rc, "deleting a conversation");
        return rc;
    }
    if (!owned) {
        mcp_req_fail(r, MCP_REPO_ENOTFOUND, 0, "conversation \"%s\" not found",
                     conv);
        return SQLITE_OK;
    }

    /* its messages first: nothing else leads to them */
    mcp_reqsets_forget(&r->repo->reqsets, conv);
    rc = mcp_chain_prune(c, conv, mcp_delete_all, NULL, INT64_MAX, &rows,
                         &more);
    if (rc == SQLITE_OK) {
        st = c->st[MCP_ST_CONV_DELETE];
        sqlite3_bind_text(st, 1, conv, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, r->principal, -1, SQLITE_STATIC);
        rc = mcp_step_done(st);
    }
    if (rc != SQLITE_OK) {
        mcp_req_fail_db(r, c->db, rc, "deleting a conversation");
        return rc;
    }
    r->res.count = rows;
    return SQLITE_OK;
}


static void
mcp_sleep_ms(int64_t ms)
{
    struct timespec  ts = { ms / 1000, (ms % 1000) * 1000000 };

    while (nanosleep(&ts, &ts) != 0) { /* void */ }
}


int
mcp_op_write(mcp_conn_t *c, mcp_repo_req_t *r)
{
    switch (r->op) {
    case MCP_OP_CONV_OPEN:
        return mcp_op_conv_open(c, r);
    case MCP_OP_APPEND:
        return mcp_op_append(c, r);
    case MCP_OP_REQ_END:
        return mcp_op_req_end(c, r);
    case MCP_OP_DELETE:
        return mcp_op_delete(c, r);
    case MCP_OP_HOLD_WRITE:
        mcp_sleep_ms(r->limit);
        return SQLITE_OK;
    default:
        mcp_req_fail(r, MCP_REPO_EINVAL, 0, "not a write operation");
        return SQLITE_OK;
    }
}


/* ------------------------------------------------------------ reads */

static void
mcp_op_history(mcp_conn_t *c, mcp_repo_req_t *r)
{
    mcp_chain_t  ch;
    int          rc;

    rc = mcp_chain_open(&ch, c, r->msg.conversation_id, 1);
    if (rc == SQLITE_ROW || rc == SQLITE_DONE) {
        rc = mcp_chain_collect(&ch, &r->res, r->limit, r->budget,
                               &r->res.tokens);
    }
    if (rc != SQLITE_DONE) {
        mcp_req_fail_db(r, c->db, rc, "reading history");
        return;
    }
    mcp_msgs_reverse(&r->res);
}


static void
mcp_op_lookup(mcp_conn_t *c, mcp_repo_req_t *r)
{
    int  rc;

    rc = mcp_request_rows(c, &r->res, r->msg.conversation_id,
                          r->msg.request_id, 0, 0, NULL);
    if (rc != SQLITE_OK) {
        mcp_req_fail_db(r, c->db, rc, "looking up a request");
    }
}


int
mcp_collect_convs(sqlite3_stmt *st, mcp_repo_result_t *res)
{
    mcp_repo_conv_t  *grown, *cv;
    size_t            cap = res->n_convs;
    int               rc;

    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (res->n_convs == cap) {
            cap = cap ? cap * 2 : 16;
            grown = realloc(res->convs, cap * sizeof(*grown));
            if (grown == NULL) {
                return SQLITE_NOMEM;
            }
            res->convs = grown;
        }
        cv = &res->convs[res->n_convs++];
        cv->id = mcp_col_dup(st, 0, NULL);
        cv->principal = mcp_col_dup(st, 1, NULL);
        cv->title = mcp_col_dup(st, 2, NULL);
        cv->created_at = sqlite3_column_int64(st, 3);
        cv->updated_at = sqlite3_column_int64(st, 4);
        cv->messages = sqlite3_column_int64(st, 5);
    }
    return rc;
}


static void
mcp_op_list(mcp_conn_t *c, mcp_repo_req_t *r)
{
    sqlite3_stmt  *st = c->st[MCP_ST_CONV_LIST];
    int            rc;

    sqlite3_bind_text(st, 1, r->principal, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, r->limit > 0 ? r->limit : -1);
    rc = mcp_collect_convs(st, &r->res);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc != SQLITE_DONE) {
        mcp_req_fail_db(r, c->db, rc, "listing conversations");
    }
}


void
mcp_op_read(mcp_conn_t *c, mcp_repo_req_t *r)
{
    switch (r->op) {
    case MCP_OP_HISTORY:
        mcp_op_history(c, r);
        break;
    case MCP_OP_LOOKUP:
        mcp_op_lookup(c, r);
        break;
    case MCP_OP_LIST:
        mcp_op_list(c, r);
        break;
    case MCP_OP_EXPORT:
        mcp_op_export(c, r);
        break;
    case MCP_OP_HOLD_READ:
        mcp_sleep_ms(r->limit);
        break;
    case MCP_OP_PAGE_HISTORY:
    case MCP_OP_PAGE_LIST:
        mcp_op_page(c, r);
        break;
    case MCP_OP_WARM:
        mcp_op_warm(c, r);
        break;
    default:
        mcp_req_fail(r, MCP_REPO_EINVAL, 0, "not a read operation");
        break;
    }
}
