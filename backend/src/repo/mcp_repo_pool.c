/*
 * Connection pools: worker threads that each own one SQLite connection and
 * take requests from their pool's FIFO queue.
 *
 * Readers: max_readers threads, one request at a time each; WAL lets them
 * all read while a write commits.
 *
 * Writers: SQLite lets one connection write at a time.  The writer
 * holding the turn (a mutex) takes every batchable write queued (up to
 * max_batch) and runs them in one BEGIN IMMEDIATE ... COMMIT: group
 * commit.  It keeps the turn while its connection is healthy; the other
 * max_writers - 1 are standbys with open connections, checked every
 * health_check_interval while they wait, that take the turn when it
 * breaks.  Rotating the turn on every group was measured slower:
 * each turn starts with a page cache the other writers' commits made
 * stale.  Writers never contend inside SQLite, so SQLITE_BUSY can only
 * come from another process; it is retried and counted.  See
 * docs/storage.md.
 */

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "repo/mcp_repo_int.h"

#define MCP_BUSY_ATTEMPTS  3
#define MCP_WRITER_SPIN_US 100


static void
mcp_res_reset(mcp_repo_req_t *r)
{
    size_t  i;

    for (i = 0; i < r->res.n_msgs; i++) {
        mcp_repo_msg_clear(&r->res.msgs[i]);
    }
    free(r->res.msgs);
    free(r->res_conv_id);
    r->res_conv_id = NULL;
    memset(&r->res, 0, sizeof(r->res));
}


static void
mcp_pool_error(mcp_pool_t *p, mcp_repo_req_t *r)
{
    pthread_mutex_lock(&p->mu);
    p->errors++;
    if (r->res.status == MCP_REPO_EBUSY) {
        p->busy_errors++;
    }
    pthread_mutex_unlock(&p->mu);
}


/* ------------------------------------------------------------ readers */

static void
mcp_reader_run(mcp_worker_t *w, mcp_repo_req_t *r)
{
    mcp_pool_t  *p = w->pool;
    int          attempt;

    if (!mcp_worker_ready(w, r)) {
        mcp_pool_error(p, r);
        return;
    }
    for (attempt = 1; ; attempt++) {
        mcp_op_read(&w->conn, r);
        if (r->res.status != MCP_REPO_EBUSY || attempt == MCP_BUSY_ATTEMPTS) {
            break;
        }
        pthread_mutex_lock(&p->mu);
        p->busy_retries++;
        pthread_mutex_unlock(&p->mu);
        mcp_res_reset(r);
    }
    pthread_mutex_lock(&p->mu);
    p->queries++;
    pthread_mutex_unlock(&p->mu);
    if (r->res.status != MCP_REPO_OK && r->res.status != MCP_REPO_ENOTFOUND) {
        mcp_worker_check_code(w, r->res.sqlite_code);
        mcp_pool_error(p, r);
    }
}


/* ------------------------------------------------------------ writers */

/* One transaction over the batch; 0 or the error that undid all of it. */
static int
mcp_writer_txn(mcp_worker_t *w, mcp_repo_req_t **batch, size_t n)
{
    mcp_conn_t  *c = &w->conn;
    size_t       i;
    int          rc;

    rc = mcp_step_done(c->st[MCP_ST_BEGIN]);
    if (rc == SQLITE_OK) {
        rc = mcp_reqsets_watch(&w->pool->repo->reqsets, c);
    }
    for (i = 0; rc == SQLITE_OK && i < n; i++) {
        rc = mcp_op_write(c, batch[i]);
    }
    if (rc == SQLITE_OK) {
        rc = mcp_step_done(c->st[MCP_ST_COMMIT]);
    }
    if (rc != SQLITE_OK && !sqlite3_get_autocommit(c->db)) {
        mcp_step_done(c->st[MCP_ST_ROLLBACK]);
    }
    if (rc != SQLITE_OK) {
        /* undone: the request sets may know keys the file has not */
        for (i = 0; i < n; i++) {
            if (batch[i]->msg.conversation_id) {
                mcp_reqsets_forget(&w->pool->repo->reqsets,
                                   batch[i]->msg.conversation_id);
            }
        }
    }
    return rc;
}


void
mcp_pool_write_group(mcp_worker_t *w, mcp_repo_req_t **batch, size_t n)
{
    mcp_pool_t      *p = w->pool;
    mcp_repo_req_t   tmp;
    size_t           i;
    int              rc, attempt;

    if (!mcp_worker_ready(w, batch[0])) {
        tmp = *batch[0];
        for (i = 0; i < n; i++) {
            mcp_req_fail(batch[i], tmp.res.status, 0, "%s", tmp.errbuf);
            mcp_pool_error(p, batch[i]);
        }
        return;
    }
    mcp_ckpt_restart(&p->repo->ckpt, w->conn.db);

    for (attempt = 1; ; attempt++) {
        rc = mcp_writer_txn(w, batch, n);
        if ((rc & 0xff) != SQLITE_BUSY || attempt == MCP_BUSY_ATTEMPTS) {
            break;
        }
        pthread_mutex_lock(&p->mu);
        p->busy_retries++;
        pthread_mutex_unlock(&p->mu);
        for (i = 0; i < n; i++) {
            mcp_res_reset(batch[i]);
        }
    }

    if (rc != SQLITE_OK) {
        /* nothing of the group is stored: every caller hears why */
        mcp_worker_check_code(w, rc);
        for (i = 0; i < n; i++) {
            mcp_res_reset(batch[i]);
            mcp_req_fail(batch[i], mcp_repo_status_of(rc), rc,
                         "repository \"%s\": write failed, not stored: %s",
                         p->repo->conf.path, sqlite3_errmsg(w->conn.db));
            mcp_pool_error(p, batch[i]);
        }
        return;
    }

    pthread_mutex_lock(&p->mu);
    p->writes += n;
    p->commits++;
    p->rows_committed += n;
    if (n > p->max_rows_per_commit) {
        p->max_rows_per_commit = n;
    }
    mcp_hist_record(&p->rows_per_commit, n);
    pthread_mutex_unlock(&p->mu);
}


static void
mcp_writer_retention(mcp_worker_t *w, mcp_repo_req_t *r, int *requeue)
{
    mcp_conn_t  *c = &w->conn;
    char         err[256];
    int          rc, done = 1;

    *requeue = 0;
    if (!mcp_worker_ready(w, r)) {
        return;
    }
    err[0] = '\0';
    rc = mcp_step_done(c->st[MCP_ST_BEGIN]);
    if (rc == SQLITE_OK) {
        rc = mcp_retention_step(c, &w->pool->repo->reqsets,
                                &w->pool->repo->persist, &r->cursor,
                                &r->res.count, &done, err, sizeof(err));
    }
    if (rc == SQLITE_OK) {
        rc = mcp_step_done(c->st[MCP_ST_COMMIT]);
    }
    if (rc != SQLITE_OK) {
        if (!sqlite3_get_autocommit(c->db)) {
            mcp_step_done(c->st[MCP_ST_ROLLBACK]);
        }
        mcp_req_fail(r, mcp_repo_status_of(rc), rc, "repository \"%s\": %s",
                     w->pool->repo->conf.path,
                     err[0] ? err : sqlite3_errmsg(c->db));
        mcp_pool_error(w->pool, r);
        return;
    }
    *requeue = !done;
}


/* ------------------------------------------------------------ queue */

/* Under p->mu: the next request, or for writers the next group. */
static size_t
mcp_pool_pop(mcp_pool_t *p, mcp_repo_req_t **batch, size_t max)
{
    uint64_t         now = mcp_repo_now_ns();
    mcp_repo_req_t  *r;
    size_t           n = 0;

    while ((r = p->head) != NULL && n < max) {
        if (n > 0 && !MCP_OP_BATCHES(r->op)) {
            break;
        }
        p->head = r->next;
        if (p->head == NULL) {
            p->tail = NULL;
        }
        p->queued--;
        r->next = NULL;
        batch[n++] = r;
        p->acquisitions++;
        mcp_hist_record(&p->wait_us, (now - r->enq_ns) / 1000);
        if (!MCP_OP_BATCHES(r->op)) {
            break;
        }
    }
    return n;
}


/* Queue a chain of n requests (linked by next) with one lock and wakeup. */
void
mcp_pool_push_chain(mcp_pool_t *p, mcp_repo_req_t *head, mcp_repo_req_t *tail,
    size_t n)
{
    uint64_t         now = mcp_repo_now_ns();
    mcp_repo_req_t  *r;

    for (r = head; r; r = r->next) {
        r->enq_ns = now;
    }
    pthread_mutex_lock(&p->mu);
    if (p->stop) {
        pthread_mutex_unlock(&p->mu);
        mcp_repo_refuse(p->repo, head);    /* a stopped queue */
        return;
    }
    if (p->tail) {
        p->tail->next = head;
    } else {
        p->head = head;
    }
    p->tail = tail;
    p->queued += n;
    if (p->idle == 0) {
        p->waits += n;
    }
    if (p->writer || n == 1) {
        pthread_cond_signal(&p->cv);    /* one writer turn takes them all */
    } else {
        pthread_cond_broadcast(&p->cv);
    }
    pthread_mutex_unlock(&p->mu);
}


void
mcp_pool_push(mcp_pool_t *p, mcp_repo_req_t *r)
{
    r->next = NULL;
    mcp_pool_push_chain(p, r, r, 1);
}


/*
 * Under p->mu: is there work to take now?  A writer leaves what is queued
 * while the loop is still delivering its last group, unless a whole group
 * waits already: the callers of that group queue their next writes from
 * their callbacks (closed loop, like chat turns), and those belong in the
 * next group instead of trailing behind it in groups of their own.  The
 * wait is bounded by one turn of the loop, which is also the only place
 * new writes come from.
 */
static int
mcp_pool_has_work(mcp_pool_t *p)
{
    return p->head != NULL
           && !(p->delivering && p->queued < (size_t) p->max_batch);
}


/* Loop thread, after delivering completions and queueing what they sent. */
void
mcp_pool_delivered(mcp_pool_t *p)
{
    pthread_mutex_lock(&p->mu);
    if (p->delivering) {
        p->delivering = 0;
        if (p->head) {
            pthread_cond_signal(&p->cv);
        }
    }
    pthread_mutex_unlock(&p->mu);
}


/*
 * Under p->mu, writer: while the loop is delivering the last group (the
 * callers' next writes are on their way: it takes the loop a fraction of
 * a group's time), yield the core instead of sleeping, for at most
 * MCP_WRITER_SPIN_US.  Sleeping there cost two thread wakeups per group
 * (the loop's async, then this condition variable), idle time the writer
 * measured at a quarter of its own at 64 callers; yielding hands the core
 * to the loop and the readers meanwhile.  An idle writer (nothing being
 * delivered) sleeps at once.
 */
static void
mcp_writer_spin(mcp_pool_t *p)
{
    uint64_t  until = mcp_repo_now_ns() + MCP_WRITER_SPIN_US * 1000;

    while (p->delivering && !mcp_pool_has_work(p) && !p->stop
           && mcp_repo_now_ns() < until)
    {
        pthread_mutex_unlock(&p->mu);
        sched_yield();
        pthread_mutex_lock(&p->mu);
    }
}


/* Under p->mu: sleep until work, a health check due, or stop. */
static void
mcp_pool_wait(mcp_worker_t *w)
{
    mcp_pool_t       *p = w->pool;
    int64_t           interval = p->repo->conf.pool.health_check_interval;
    struct timespec   ts;
    int               rc;

    if (p->writer) {
        mcp_writer_spin(p);
    }
    while (!mcp_pool_has_work(p) && !p->stop) {
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += interval / 1000;
        ts.tv_nsec += (interval % 1000) * 1000000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        p->idle++;
        rc = interval > 0 ? pthread_cond_timedwait(&p->cv, &p->mu, &ts)
                          : pthread_cond_wait(&p->cv, &p->mu);
        p->idle--;
        if (rc == ETIMEDOUT && !mcp_pool_has_work(p) && !p->stop) {
            pthread_mutex_unlock(&p->mu);
            mcp_worker_health(w);
            pthread_mutex_lock(&p->mu);
        }
    }
}


/*
 * Hand n finished requests to the loop.  A writer first marks them on
 * their way (see mcp_pool_has_work()), before the loop can deliver them
 * and clear the mark.
 */
void
mcp_pool_send(mcp_pool_t *p, mcp_repo_req_t **batch, size_t n)
{
    if (p->writer && p->max_batch > 1) {
        pthread_mutex_lock(&p->mu);
        p->delivering = 1;
        pthread_mutex_unlock(&p->mu);
    }
    mcp_repo_complete_many(p->repo, batch, n);
}


/* Run what was taken and pass it on: to the loop, or back to a queue. */
static void
mcp_worker_dispatch(mcp_worker_t *w, mcp_repo_req_t **batch, size_t n)
{
    mcp_pool_t  *p = w->pool;
    int          requeue = 0;

    switch (batch[0]->op) {
    case MCP_OP_RETENTION:
        mcp_writer_retention(w, batch[0], &requeue);
        break;
    case MCP_OP_HOLD_WRITE:
        mcp_op_write(&w->conn, batch[0]);
        break;
    case MCP_OP_WARM:
        mcp_reader_run(w, batch[0]);
        mcp_warm_back(p->repo, batch[0]);   /* to the writer that asked */
        return;
    case MCP_OP_WARMED:
        mcp_warm_done(w, batch[0]);         /* sends what it runs */
        return;
    default:
        if (!MCP_OP_IS_WRITE(batch[0]->op)) {
            mcp_reader_run(w, batch[0]);    /* also: the unpooled mode */
        } else {
            /* writes of a conversation whose set a reader reads wait */
            n = mcp_warm_divert(w, batch, n);
            if (n == 0) {
                return;
            }
            mcp_pool_write_group(w, batch, n);
        }
    }
    if (requeue) {
        mcp_pool_push(p, batch[0]);         /* the next retention step */
    } else {
        mcp_pool_send(p, batch, n);
    }
}


/*
 * Writer: take the turn.  A standby waits for it as long as the writer
 * holding it stays healthy, and checks its own connection every
 * health_check_interval meanwhile, so that it is fit when it takes over.
 */
static void
mcp_writer_take_turn(mcp_worker_t *w)
{
    mcp_pool_t       *p = w->pool;
    int64_t           interval = p->repo->conf.pool.health_check_interval;
    struct timespec   ts;

    if (interval <= 0) {
        pthread_mutex_lock(&p->turn);
        return;
    }
    for ( ;; ) {
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += interval / 1000;
        ts.tv_nsec += (interval % 1000) * 1000000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        if (pthread_mutex_timedlock(&p->turn, &ts) == 0) {
            return;
        }
        mcp_worker_health(w);
    }
}


/*
 * Every thread of the repository (writers, readers, the checkpointer)
 * runs at a slightly lower priority (nice +2, its own thread only): when
 * the cores are busy, the event loop goes first.  Each group's writes come
 * from the loop (it hands back the last group's completions and gathers
 * the next), so the loop waiting for a core only stretched everything
 * behind it.  At 64 callers on two cores: the writer at +2 halved the read
 * p99; the readers at +2 too, +9 % appends (median of five, read p99
 * still ~2 ms); +5 cost chat turns/s, where these threads also compete
 * with nginx and the rest of the host (docs/benchmarks.md).  Lowering
 * one's own priority needs no privilege; failing to is harmless.  With
 * writer_affinity: loop the thread also takes its CPUs: with the loop, or
 * away from it (mcp_cpu.h).
 */
void
mcp_repo_yield_to_loop(mcp_cpu_place_e where)
{
    (void) setpriority(PRIO_PROCESS, (id_t) gettid(), MCP_REPO_NICE);
    mcp_cpu_place_thread(where);
}


static void *
mcp_worker_main(void *arg)
{
    mcp_worker_t     *w = arg;
    mcp_pool_t       *p = w->pool;
    mcp_repo_req_t  **batch;
    size_t            n;

    batch = malloc(sizeof(*batch) * (size_t) p->max_batch);
    if (batch == NULL) {
        return NULL;
    }
    /* a writer hands its groups to the loop: with it (writer_affinity) */
    mcp_repo_yield_to_loop(p->writer ? MCP_CPU_WITH_LOOP
                                     : MCP_CPU_AWAY_FROM_LOOP);
    /*
     * A writer keeps the turn while it is healthy: its page cache stays
     * hot, and the standbys blocked on the turn take over only if its
     * connection breaks and cannot be reopened (see the file comment).
     */
    if (p->writer) {
        mcp_writer_take_turn(w);
    }
    for ( ;; ) {
        pthread_mutex_lock(&p->mu);
        mcp_pool_wait(w);
        n = mcp_pool_pop(p, batch, (size_t) p->max_batch);
        if (n == 0) {
            pthread_mutex_unlock(&p->mu);
            break;                          /* stopped and drained */
        }
        p->in_use++;
        pthread_mutex_unlock(&p->mu);

        mcp_worker_dispatch(w, batch, n);

        pthread_mutex_lock(&p->mu);
        p->in_use--;
        pthread_mutex_unlock(&p->mu);

        if (p->writer && w->broken && p->nworkers > 1) {
            pthread_mutex_unlock(&p->turn);     /* a standby's turn */
            sched_yield();
            mcp_writer_take_turn(w);
        }
    }
    if (p->writer) {
        pthread_mutex_unlock(&p->turn);
    }
    free(batch);
    return NULL;
}


/* ------------------------------------------------------------ lifecycle */

int
mcp_pool_start(mcp_pool_t *p, mcp_repo_t *repo, const char *name,
    int writer, int nworkers, int max_batch, char *err, size_t errlen)
{
    mcp_worker_t  *w;
    char           tname[16];
    int            i, rc;

    p->name = name;
    p->repo = repo;
    p->writer = writer;
    p->max_batch = writer && max_batch > 0 ? max_batch : 1;
    p->nworkers = 0;
    pthread_mutex_init(&p->mu, NULL);
    pthread_mutex_init(&p->turn, NULL);
    pthread_cond_init(&p->cv, NULL);
    mcp_hist_reset(&p->wait_us);
    mcp_hist_reset(&p->rows_per_commit);
    if (nworkers == 0) {
        return 0;
    }
    p->workers = calloc((size_t) nworkers, sizeof(*p->workers));
    if (p->workers == NULL) {
        snprintf(err, errlen, "repository: out of memory");
        return -1;
    }

    /* open every connection first: a bad database fails here, at start */
    for (i = 0; i < nworkers; i++) {
        w = &p->workers[i];
        w->pool = p;
        w->idx = i;
        rc = mcp_conn_open(&w->conn, &repo->conf, !writer, err, errlen);
        if (rc != SQLITE_OK) {
            return -1;
        }
        if (writer) {
            mcp_ckpt_attach(&repo->ckpt, w->conn.db);
        }
        w->last_check_ms = mcp_repo_now_ms();
        p->open++;
        p->nworkers++;
    }
    for (i = 0; i < nworkers; i++) {
        w = &p->workers[i];
        if (pthread_create(&w->tid, NULL, mcp_worker_main, w) != 0) {
            snprintf(err, errlen, "repository: cannot start a %s thread: %s",
                     name, strerror(errno));
            return -1;
        }
        w->started = 1;
        /* named for top -H and perf: "repo-writer", "repo-reader" */
        snprintf(tname, sizeof(tname), "repo-%.*s", (int) strlen(name) - 1,
                 name);
        pthread_setname_np(w->tid, tname);
    }
    return 0;
}


/*
 * Stop the workers and wait for them.  The queue stays usable, refusing
 * what comes (the writers and the readers hand each other walks, see
 * mcp_repo_warm.c, until both have stopped); mcp_pool_free() ends it.
 */
void
mcp_pool_stop(mcp_pool_t *p)
{
    mcp_repo_req_t  *r;
    int              i;

    pthread_mutex_lock(&p->mu);
    p->stop = 1;
    r = p->head;
    p->head = p->tail = NULL;
    p->queued = 0;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);

    mcp_repo_refuse(p->repo, r);    /* what no worker took */

    for (i = 0; i < p->nworkers; i++) {
        if (p->workers[i].started) {
            pthread_join(p->workers[i].tid, NULL);
        }
        mcp_conn_close(&p->workers[i].conn);
    }
}


void
mcp_pool_free(mcp_pool_t *p)
{
    free(p->workers);
    p->workers = NULL;
    p->nworkers = 0;
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->turn);
    pthread_mutex_destroy(&p->mu);
}


/* Loop thread: fail what waited past connection_timeout for a worker. */
void
mcp_pool_sweep(mcp_pool_t *p, uint64_t timeout_ms)
{
    mcp_repo_req_t  *expired = NULL, **last = &expired, *r;
    uint64_t         now = mcp_repo_now_ns();
    int              open, in_use;
    size_t           queued;

    pthread_mutex_lock(&p->mu);
    while ((r = p->head) != NULL
           && now - r->enq_ns > timeout_ms * 1000000u)
    {
        p->head = r->next;
        if (p->head == NULL) {
            p->tail = NULL;
        }
        p->queued--;
        /* a walk (or its result) swept is the repository's own: it falls
           back to the writer (mcp_warm_returned()), and no caller saw it */
        if (!MCP_OP_IS_WALK(r->op)) {
            p->timeouts++;
        }
        r->next = NULL;
        *last = r;
        last = &r->next;
    }
    open = p->open;
    in_use = p->in_use;
    queued = p->queued;
    pthread_mutex_unlock(&p->mu);

    while ((r = expired) != NULL) {
        expired = r->next;
        mcp_req_fail(r, MCP_REPO_ETIMEDOUT, 0, "repository: no %s connection "
                     "free within connection_timeout (%llu ms): %d open, %d "
                     "in use, %zu still queued", p->writer ? "writer"
                     : "reader", (unsigned long long) timeout_ms, open,
                     in_use, queued);
        mcp_repo_complete(p->repo, r);
    }
}


json_t *
mcp_pool_stats(mcp_pool_t *p)
{
    json_t    *o = json_object();
    uint64_t   commits;

    pthread_mutex_lock(&p->mu);
    commits = p->commits;
    json_object_set_new(o, "size", json_integer(p->nworkers));
    json_object_set_new(o, "open", json_integer(p->open));
    json_object_set_new(o, "in_use", json_integer(p->in_use));
    json_object_set_new(o, "queued", json_integer((json_int_t) p->queued));
    json_object_set_new(o, "acquisitions",
                        json_integer((json_int_t) p->acquisitions));
    json_object_set_new(o, "waits", json_integer((json_int_t) p->waits));
    json_object_set_new(o, "wait_p50_ms",
        json_real(mcp_hist_quantile(&p->wait_us, 0.50) / 1000.0));
    json_object_set_new(o, "wait_p99_ms",
        json_real(mcp_hist_quantile(&p->wait_us, 0.99) / 1000.0));
    json_object_set_new(o, "timeouts", json_integer((json_int_t) p->timeouts));
    json_object_set_new(o, "busy_errors",
                        json_integer((json_int_t) p->busy_errors));
    json_object_set_new(o, "busy_retries",
                        json_integer((json_int_t) p->busy_retries));
    json_object_set_new(o, "errors", json_integer((json_int_t) p->errors));
    if (p->writer) {
        json_object_set_new(o, "writes", json_integer((json_int_t) p->writes));
        json_object_set_new(o, "commits", json_integer((json_int_t) commits));
        json_object_set_new(o, "rows_per_commit", json_real(commits
            ? (double) p->rows_committed / (double) commits : 0.0));
        json_object_set_new(o, "rows_per_commit_max",
                            json_integer((json_int_t) p->max_rows_per_commit));
    }
    json_object_set_new(o, "queries", json_integer((json_int_t) p->queries));
    json_object_set_new(o, "health_checks",
                        json_integer((json_int_t) p->health_checks));
    json_object_set_new(o, "health_failures",
                        json_integer((json_int_t) p->health_failures));
    json_object_set_new(o, "reconnects",
                        json_integer((json_int_t) p->reconnects));
    json_object_set_new(o, "last_health_check_ms",
                        json_integer((json_int_t) p->last_health_ms));
    pthread_mutex_unlock(&p->mu);
    return o;
}
