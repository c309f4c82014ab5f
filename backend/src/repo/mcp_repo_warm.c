/*
 * Warming a request set on a reader, off the writer.
 *
 * A conversation's first append with a request id since the writer last
 * held its request set (after a start, or once the set was evicted) needs
 * every key of its chain (mcp_repo_reqset.c).  Read on the writer, that
 * walk held every other conversation's writes behind it: ~1 s for a chain
 * of 20,000 messages among 320,000 (measured).  So a writer that finds no
 * set for a long chain parks that conversation's writes instead and asks
 * a reader to walk the chain from its own snapshot.  The set comes back
 * to the writers' queue (MCP_OP_WARMED); the writer adopts it, catches it
 * up from the reader's snapshot to the chain's newest (a few rows at
 * most: nothing of the conversation was written meanwhile), and runs the
 * parked writes, in their order, as a group of their own.
 *
 * While a conversation warms, every write naming it is parked behind the
 * first, whatever its kind, so that the chain keeps the callers' order.
 * Writes of other conversations go on.  Short chains (up to
 * MCP_WARM_MIN_MESSAGES) are still read in place: the round trip through
 * a reader would cost their callers more than the walk costs the writer.
 * Without readers (enable_pooling: false) there is no one to ask.
 *
 * The map of warming conversations lives with the request sets and, like
 * them, is touched only by the writer holding the turn, and by the loop
 * once the writers are gone (mcp_warm_fail_all).
 */

#include <stdlib.h>
#include <string.h>

#include "repo/mcp_repo_int.h"

/* a chain longer than this is walked on a reader */
#define MCP_WARM_MIN_MESSAGES  128
/* messages per read transaction of a reader's walk */
#define MCP_WARM_CHUNK         256
/* the parked writes run in groups of at most this (and max_batch) */
#define MCP_WARM_GROUP         64


typedef struct {
    mcp_req_fifo_t   parked;        /* writes, in arrival order */
    size_t           n;
} mcp_warm_t;


static void
mcp_fifo_push(mcp_req_fifo_t *f, mcp_repo_req_t *r)
{
    r->next = NULL;
    if (f->tail) {
        f->tail->next = r;
    } else {
        f->head = r;
    }
    f->tail = r;
}


static mcp_repo_req_t *
mcp_fifo_pop(mcp_req_fifo_t *f)
{
    mcp_repo_req_t  *r = f->head;

    if (r != NULL) {
        f->head = r->next;
        if (f->head == NULL) {
            f->tail = NULL;
        }
        r->next = NULL;
    }
    return r;
}


static void
mcp_warm_free(void *value, void *ctx)
{
    (void) ctx;
    free(value);        /* emptied by whoever took it out */
}


static mcp_warm_t *
mcp_warm_find(mcp_reqsets_t *s, const char *conv)
{
    if (s->warming == NULL || conv == NULL) {
        return NULL;
    }
    return mcp_strmap_get(s->warming, conv);
}


static void
mcp_warm_park(mcp_reqsets_t *s, mcp_warm_t *wm, mcp_repo_req_t *r)
{
    mcp_fifo_push(&wm->parked, r);
    wm->n++;
    __atomic_add_fetch(&s->parked, 1, __ATOMIC_RELAXED);
}


/*
 * Does this append find no set and a chain worth a reader?  Reads the
 * conversation row (outside the group's transaction: the group has not
 * begun); any doubt (an error, no such conversation) says no, and the
 * append then runs, and fails, as it would have.
 */
static int
mcp_warm_wanted(mcp_worker_t *w, mcp_repo_req_t *r)
{
    mcp_repo_t  *repo = w->pool->repo;
    int64_t      count;

    if (r->op != MCP_OP_APPEND || r->msg.request_id == NULL
        || repo->reqsets.walkers == 0
        || mcp_reqsets_find(&repo->reqsets, r->msg.conversation_id) != NULL)
    {
        return 0;
    }
    return mcp_chain_count(&w->conn, r->msg.conversation_id, &count)
               == SQLITE_ROW
           && count > MCP_WARM_MIN_MESSAGES;
}


/*
 * Writer: hand a walk to the readers, unless half of them walk already:
 * after a start many long conversations can come back at once, and the
 * clients' own reads must still find a reader.  The others wait here, in
 * order, for a walk to end.
 */
static void
mcp_warm_ask(mcp_repo_t *repo, mcp_repo_req_t *ask)
{
    mcp_reqsets_t  *s = &repo->reqsets;

    if (s->walking >= s->walkers) {
        mcp_fifo_push(&s->asks, ask);
        __atomic_add_fetch(&s->asks_waiting, 1, __ATOMIC_RELAXED);
        return;
    }
    s->walking++;
    mcp_pool_push(&repo->readers, ask);
}


/* Writer: a walk ended; the next waiting one goes to the readers. */
static void
mcp_warm_ask_next(mcp_repo_t *repo)
{
    mcp_reqsets_t   *s = &repo->reqsets;
    mcp_repo_req_t  *ask = mcp_fifo_pop(&s->asks);

    s->walking--;
    if (ask != NULL) {
        __atomic_sub_fetch(&s->asks_waiting, 1, __ATOMIC_RELAXED);
        mcp_warm_ask(repo, ask);
    }
}


/* A new warming conversation: parks r and asks a reader.  0 or -1. */
static int
mcp_warm_start(mcp_worker_t *w, mcp_repo_req_t *r)
{
    mcp_repo_t      *repo = w->pool->repo;
    mcp_reqsets_t   *s = &repo->reqsets;
    mcp_repo_req_t  *ask;
    mcp_warm_t      *wm;

    if (s->warming == NULL) {
        s->warming = mcp_strmap_new(mcp_warm_free, NULL);
    }
    ask = mcp_req_new(MCP_OP_WARM, NULL, NULL);
    wm = calloc(1, sizeof(*wm));
    if (s->warming == NULL || ask == NULL || wm == NULL
        || (ask->msg.conversation_id = strdup(r->msg.conversation_id)) == NULL)
    {
        free(wm);
        if (ask) {
            mcp_req_free(ask);
        }
        return -1;
    }
    if (mcp_strmap_put(s->warming, r->msg.conversation_id, wm) != 0) {
        mcp_req_free(ask);      /* the map freed wm */
        return -1;
    }
    ask->repo = repo;
    ask->warm_foreign = s->foreign;         /* see mcp_warm_done() */
    mcp_warm_park(s, wm, r);
    mcp_warm_ask(repo, ask);
    return 0;
}


/*
 * Writer, before its group's transaction: park the group's writes of
 * warming conversations, and start warming those that need it.  Keeps
 * the others in order at the front of batch; returns how many.
 */
size_t
mcp_warm_divert(mcp_worker_t *w, mcp_repo_req_t **batch, size_t n)
{
    mcp_reqsets_t  *s = &w->pool->repo->reqsets;
    mcp_warm_t     *wm;
    size_t          i, kept = 0;

    for (i = 0; i < n; i++) {
        wm = mcp_warm_find(s, batch[i]->msg.conversation_id);
        if (wm != NULL) {
            mcp_warm_park(s, wm, batch[i]);
        } else if (!mcp_warm_wanted(w, batch[i])
                   || mcp_warm_start(w, batch[i]) != 0)
        {
            batch[kept++] = batch[i];
        }
    }
    return kept;
}


/*
 * Reader: the conversation's whole set, as of its newest message when the
 * walk began.  The walk reads MCP_WARM_CHUNK messages per read
 * transaction: each statement on its own would start from a page cache
 * that every commit meanwhile emptied (3.4 s instead of 1.1 s for 20,000
 * messages among 320,000, measured), while one transaction for the whole
 * walk keeps the WAL from starting over, and the writer then checkpoints
 * on every group (other conversations' appends took up to 475 ms).  The
 * chain below its newest message changes only by a prune (retention, a
 * delete), which leaves the set stale keys at worst: hints, confirmed
 * before use.
 */
void
mcp_op_warm(mcp_conn_t *c, mcp_repo_req_t *r)
{
    const char  *conv = r->msg.conversation_id;
    int64_t      head = 0, next, from;
    size_t       walked;
    int          rc;

    r->warm = mcp_reqset_alloc(&r->repo->reqsets);
    if (r->warm == NULL) {
        mcp_req_fail(r, MCP_REPO_EIO, 0, "out of memory");
        return;
    }
    next = -1;                  /* first: the newest */
    do {
        rc = mcp_step_done(c->st[MCP_ST_BEGIN_READ]);
        if (rc != SQLITE_OK) {
            break;
        }
        if (next < 0) {
            rc = mcp_chain_head(c, conv, &head, NULL);
            rc = rc == SQLITE_ROW ? SQLITE_OK : rc;
            next = head;
        }
        if (rc == SQLITE_OK) {
            from = next;
            rc = mcp_reqset_walk(r->warm, c, conv, from, 0, MCP_WARM_CHUNK,
                                 &next, &walked);
            if (rc == SQLITE_OK && from > 0 && walked == 0) {
                /* the message this chunk starts from went between two
                   transactions (retention, a delete): what it linked to
                   is unknown here; the writer reads the chain itself */
                rc = SQLITE_ABORT;
            }
        }
        (void) mcp_step_done(c->st[MCP_ST_COMMIT]);
    } while (rc == SQLITE_OK && next > 0);

    if (rc != SQLITE_OK) {
        mcp_reqset_drop(r->warm);
        r->warm = NULL;
        if (rc == SQLITE_DONE || rc == SQLITE_ABORT) {
            /* deleted or pruned meanwhile: a race, not a reader's error */
            mcp_req_fail(r, MCP_REPO_ENOTFOUND, 0, "the chain changed");
        } else {
            mcp_req_fail_db(r, c->db, rc, "warming a request set");
        }
        return;
    }
    r->warm->synced = head;
}


/*
 * Any thread, once a reader is done with r (or the loop got it back from
 * a sweep or a stop): hand it to the writers, with or without a set.
 * The writer must see it to run what it parked.
 */
void
mcp_warm_back(mcp_repo_t *repo, mcp_repo_req_t *r)
{
    r->op = MCP_OP_WARMED;
    mcp_pool_push(&repo->writers, r);
}


/*
 * Loop: a walk for the writer came back here instead (swept from the
 * readers' queue past connection_timeout, or stopped).  The writer must
 * still see it to run what it parked; once closing, mcp_warm_fail_all()
 * answers the parked writes instead.
 */
void
mcp_warm_returned(mcp_repo_t *repo, mcp_repo_req_t *r)
{
    if (repo->closing) {
        mcp_req_free(r);
        return;
    }
    mcp_warm_back(repo, r);
}


/*
 * Writer: the set of a warming conversation is back.  Adopt it (unless a
 * write already made one: then the writer's own is newer) and run the
 * parked writes in groups of max_batch; each group's callers hear from
 * it as from any group.  Without a set (the reader failed), the first
 * parked append reads the chain here, as before warming existed.
 */
void
mcp_warm_done(mcp_worker_t *w, mcp_repo_req_t *r)
{
    mcp_pool_t       *p = w->pool;
    mcp_reqsets_t    *s = &p->repo->reqsets;
    mcp_warm_t       *wm = mcp_warm_find(s, r->msg.conversation_id);
    mcp_repo_req_t   *group[MCP_WARM_GROUP];
    mcp_req_fifo_t    parked;
    size_t            n, max;

    mcp_warm_ask_next(p->repo);
    /*
     * Has another process written to the file since the walk was asked
     * for?  Then its deletes may have reused row ids the reader saw, and
     * the set goes, as every set does then (mcp_reqsets_watch(), run here
     * too: the first group after a start must not take this set for
     * another connection's).
     */
    if (r->warm != NULL
        && (mcp_reqsets_watch(s, &w->conn) != SQLITE_OK
            || r->warm_foreign != s->foreign))
    {
        mcp_reqset_drop(r->warm);
        r->warm = NULL;
    }
    if (r->warm != NULL) {
        __atomic_add_fetch(&s->warmed, 1, __ATOMIC_RELAXED);
        mcp_reqsets_adopt(s, r->msg.conversation_id, r->warm);
        r->warm = NULL;
    }
    if (wm == NULL) {
        mcp_req_free(r);
        return;
    }
    parked = wm->parked;
    __atomic_sub_fetch(&s->parked, wm->n, __ATOMIC_RELAXED);
    mcp_strmap_remove(s->warming, r->msg.conversation_id);     /* frees wm */
    mcp_req_free(r);

    max = (size_t) p->max_batch < MCP_WARM_GROUP ? (size_t) p->max_batch
                                                 : MCP_WARM_GROUP;
    while (parked.head != NULL) {
        for (n = 0; n < max && (group[n] = mcp_fifo_pop(&parked)) != NULL;
             n++)
        {
            /* void */
        }
        mcp_pool_write_group(w, group, n);
        mcp_pool_send(p, group, n);
    }
}


static int
mcp_warm_fail_one(const char *conv, void *value, void *ctx)
{
    mcp_warm_t  *wm = value;

    (void) conv;
    mcp_repo_refuse(ctx, wm->parked.head);
    return 1;
}


/* Loop, the writers gone: parked writes are not run; their callers hear. */
void
mcp_warm_fail_all(mcp_repo_t *repo)
{
    mcp_reqsets_t   *s = &repo->reqsets;
    mcp_repo_req_t  *ask;

    if (s->warming != NULL) {
        mcp_strmap_sweep(s->warming, mcp_warm_fail_one, repo);
        mcp_strmap_free(s->warming);
        s->warming = NULL;
    }
    while ((ask = mcp_fifo_pop(&s->asks)) != NULL) {
        mcp_req_free(ask);              /* walks never handed out */
    }
    s->asks_waiting = 0;
    s->walking = 0;
    s->parked = 0;
}
