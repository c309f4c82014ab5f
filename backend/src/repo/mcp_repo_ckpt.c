/*
 * The checkpointer: copies the WAL back into the database file on its own
 * thread and connection.
 *
 * SQLite's automatic checkpoint runs inside the COMMIT that crosses
 * wal_autocheckpoint pages, on the committing thread, and it syncs the
 * database file: every thousandth page or so one group commit (and every
 * caller in it) waits for an fsync that has nothing to do with its own
 * durability.  With pooling, the writers turn the automatic checkpoint off
 * and their WAL hook wakes this thread instead, which runs a PASSIVE
 * checkpoint: it never blocks a writer or a reader, and whatever frames it
 * could not copy this time it copies next time.  Without pooling (the
 * baseline) the automatic checkpoint stays, as in the original.
 *
 * Background checkpoints alone never shorten the WAL under sustained
 * writes: SQLite starts the WAL over only when a write transaction begins
 * after a checkpoint copied *every* frame, and the writer keeps adding
 * frames while the checkpointer copies.  The WAL then grows without bound
 * (200 MB in 3 s of the benchmark), and every frame appended to a growing
 * file costs the kernel a new page and block allocation.  So once the WAL
 * holds MCP_CKPT_RESTART_FACTOR times the threshold, the writer itself
 * completes a PASSIVE checkpoint between two groups, holding no
 * transaction; its next transaction then writes from the start of the
 * WAL.  PASSIVE never waits: if a reader still uses an old snapshot the
 * WAL is not restarted this time and the writer tries again later.
 *
 * Every write queued meanwhile waits for that checkpoint: it copies what
 * is left and syncs both files.  Left a quarter of the WAL (1,000 pages
 * at the default threshold), it took 15-30 ms once every 4,000 pages, and
 * that was the p99 of a chat turn's commits.  So past the restart mark,
 * when the background runs keep up with the writes (the last one left
 * uncopied less than half of what it copied: the writer added that much
 * while it ran), the background thread first chases the writer: it runs
 * again while that still holds and more than MCP_CKPT_RESIDUAL frames are
 * left, each run shorter than the one before.  Then the writer completes
 * the checkpoint with the few frames left.  When the runs do not keep up
 * (writes at the disk's limit), chasing would only let the WAL grow: the
 * writer completes it at once, as it did before the chase.  A run that
 * copies nothing (a reader on an old snapshot) ends the chase too, and
 * the writer tries after every group, since PASSIVE never waits.  At
 * twice the mark the writer completes the checkpoint whatever is left,
 * which bounds the WAL.
 */

#include <stdio.h>
#include <string.h>

#include "repo/mcp_repo_int.h"

#define MCP_CKPT_RESTART_FACTOR  4
#define MCP_CKPT_RESIDUAL        64     /* frames, at most a quarter of
                                           wal_checkpoint_pages: close
                                           enough, the chase ends */


static uint64_t
mcp_ckpt_restart_mark(mcp_ckpt_t *k)
{
    return (uint64_t) k->pages * MCP_CKPT_RESTART_FACTOR;
}


static uint64_t
mcp_ckpt_residual(mcp_ckpt_t *k)
{
    return k->pages / 4 < MCP_CKPT_RESIDUAL ? (uint64_t) k->pages / 4
                                            : MCP_CKPT_RESIDUAL;
}


/* frames of the WAL not yet copied into the database file */
static uint64_t
mcp_ckpt_left(mcp_ckpt_t *k, uint64_t frames)
{
    uint64_t  copied = __atomic_load_n(&k->copied, __ATOMIC_RELAXED);

    return frames > copied ? frames - copied : 0;
}


/* Writer thread, after each commit: n pages are in the WAL. */
static int
mcp_ckpt_wal_hook(void *arg, sqlite3 *db, const char *name, int n)
{
    mcp_ckpt_t  *k = arg;
    uint64_t     before;

    before = __atomic_exchange_n(&k->wal_frames, (uint64_t) n,
                                 __ATOMIC_RELAXED);
    if ((uint64_t) n < before) {
        /* under mu: a run that ends now must not record how much of the
           old WAL it copied (see mcp_ckpt_run) */
        pthread_mutex_lock(&k->mu);
        __atomic_add_fetch(&k->restarts, 1, __ATOMIC_RELAXED);
        __atomic_store_n(&k->mark, 0, __ATOMIC_RELAXED);
        __atomic_store_n(&k->copied, 0, __ATOMIC_RELAXED);
        pthread_mutex_unlock(&k->mu);
        before = 0;
    }
    __atomic_add_fetch(&k->frames_written, (uint64_t) n - before,
                       __ATOMIC_RELAXED);
    /*
     * Every wal_checkpoint_pages new frames, not after every commit once
     * the WAL is that long: a checkpointer woken by each commit runs all
     * the time, syncing the WAL each time, for a few frames each run.
     * Past the restart mark the chase and the writer's own checkpoint
     * take over (see the top): a run woken here then would keep the
     * checkpointer busy, and the writer, which waits for it to be idle,
     * from ever completing one before twice the mark.
     */
    if ((uint64_t) n >= __atomic_load_n(&k->mark, __ATOMIC_RELAXED)
                        + (uint64_t) k->pages
        && (uint64_t) n < mcp_ckpt_restart_mark(k))
    {
        __atomic_store_n(&k->mark, (uint64_t) n, __ATOMIC_RELAXED);
        pthread_mutex_lock(&k->mu);
        if (!k->wanted) {
            k->wanted = 1;
            pthread_cond_signal(&k->cv);
        }
        pthread_mutex_unlock(&k->mu);
    }
    return SQLITE_OK;
}


void
mcp_ckpt_attach(mcp_ckpt_t *k, sqlite3 *db)
{
    if (k->started) {
        sqlite3_wal_autocheckpoint(db, 0);
        sqlite3_wal_hook(db, mcp_ckpt_wal_hook, k);
    }
}


/*
 * Under k->mu: one PASSIVE checkpoint on db, after the one running on
 * another thread (SQLite runs one at a time and a PASSIVE one does not
 * wait for another).  1: it copied every frame it saw.
 */
static int
mcp_ckpt_run(mcp_ckpt_t *k, sqlite3 *db)
{
    uint64_t  t0, us, gen, before;
    int       rc, log = 0, done = 0;

    k->waiters++;
    while (k->running) {
        pthread_cond_wait(&k->idle, &k->mu);
    }
    k->waiters--;
    k->running = 1;
    gen = __atomic_load_n(&k->restarts, __ATOMIC_RELAXED);
    before = __atomic_load_n(&k->copied, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&k->mu);

    t0 = mcp_repo_now_ns();
    rc = sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_PASSIVE, &log,
                                   &done);
    us = (mcp_repo_now_ns() - t0) / 1000;

    pthread_mutex_lock(&k->mu);
    k->running = 0;
    pthread_cond_broadcast(&k->idle);
    k->runs++;
    if (rc != SQLITE_OK && rc != SQLITE_BUSY) {
        k->errors++;
    }
    k->wal_pages = (uint64_t) (log > 0 ? log : 0);
    k->last_us = us;
    mcp_hist_record(&k->time_us, us);
    k->keeping_up = 0;
    if (rc == SQLITE_OK && done > 0 && (uint64_t) done > before
        && gen == __atomic_load_n(&k->restarts, __ATOMIC_RELAXED))
    {
        /* the frames counted are this WAL's: it did not start over */
        __atomic_store_n(&k->copied, (uint64_t) done, __ATOMIC_RELAXED);
        k->keeping_up = 2 * mcp_ckpt_left(k, __atomic_load_n(&k->wal_frames,
                                                             __ATOMIC_RELAXED))
                        < (uint64_t) done - before;
    }
    return rc == SQLITE_OK && done == log;
}


/*
 * Under k->mu, past the restart mark: is another background run worth
 * it before the writer's own checkpoint?  Not while the writer waits to
 * run its own.
 */
static int
mcp_ckpt_chase(mcp_ckpt_t *k, uint64_t frames)
{
    return k->keeping_up && k->waiters == 0
           && mcp_ckpt_left(k, frames) > mcp_ckpt_residual(k);
}


/*
 * Checkpointer thread, after a run that copied frames but did not reach
 * the end of the WAL as it is when the run ends (the writer kept
 * writing): sync the database file now.  SQLite syncs it only when a
 * checkpoint reaches the end, which under sustained writes is the
 * writer's own one before a restart, and that sync then has to write out
 * every page all the background runs copied, with every write queued
 * behind it.  Done here, the writer's sync finds little to write.  When
 * the runs keep up with the writes, after every run (a run that copied
 * every frame *it saw* did not reach the end: the writer commits while it
 * copies; without this the writer's database sync alone took 3-5 ms in
 * the chat benchmark); when they do not, only after a run that could
 * not even copy what it saw, as one more sync per run then slows the
 * runs further.  Syncing through SQLite's own file object keeps SQLite's
 * locks intact (opening and closing another descriptor on the file would
 * drop them).
 */
static void
mcp_ckpt_sync_db(mcp_ckpt_t *k)
{
    sqlite3_file  *f = NULL;

    if (sqlite3_file_control(k->conn.db, "main", SQLITE_FCNTL_FILE_POINTER,
                             &f) == SQLITE_OK
        && f != NULL && f->pMethods != NULL)
    {
        f->pMethods->xSync(f, k->sync_flags);
    }
}


static void *
mcp_ckpt_main(void *arg)
{
    mcp_ckpt_t  *k = arg;
    uint64_t     copied, frames;
    int          all;

    mcp_repo_yield_to_loop(MCP_CPU_AWAY_FROM_LOOP);
    pthread_mutex_lock(&k->mu);
    for ( ;; ) {
        while (!k->wanted && !k->stop) {
            pthread_cond_wait(&k->cv, &k->mu);
        }
        if (k->stop) {
            break;
        }
        k->wanted = 0;
        copied = __atomic_load_n(&k->copied, __ATOMIC_RELAXED);
        all = mcp_ckpt_run(k, k->conn.db);
        frames = __atomic_load_n(&k->wal_frames, __ATOMIC_RELAXED);
        if (__atomic_load_n(&k->copied, __ATOMIC_RELAXED) > copied
            && mcp_ckpt_left(k, frames) > 0 && (k->keeping_up || !all))
        {
            /* still "running": the writer's own checkpoint waits for this
               sync rather than doing it a second time */
            k->running = 1;
            pthread_mutex_unlock(&k->mu);
            mcp_ckpt_sync_db(k);
            pthread_mutex_lock(&k->mu);
            k->running = 0;
            pthread_cond_broadcast(&k->idle);
        }
        if (frames >= mcp_ckpt_restart_mark(k) && mcp_ckpt_chase(k, frames)) {
            k->wanted = 1;
        }
    }
    pthread_mutex_unlock(&k->mu);
    return NULL;
}


/*
 * Writer thread, between two groups, holding no transaction: past the
 * restart mark, when the checkpointer is idle, set it chasing if that is
 * worth it, else complete the checkpoint (see the top).  At twice the
 * mark, complete it whatever is left, after the background run if one is
 * running: that bounds the WAL.
 */
void
mcp_ckpt_restart(mcp_ckpt_t *k, sqlite3 *db)
{
    uint64_t  frames = __atomic_load_n(&k->wal_frames, __ATOMIC_RELAXED);
    uint64_t  t0;
    int       forced;

    if (!k->started || frames < mcp_ckpt_restart_mark(k)) {
        return;
    }
    pthread_mutex_lock(&k->mu);
    forced = frames >= 2 * mcp_ckpt_restart_mark(k);
    if (!forced && (k->running || k->wanted)) {
        /* the chase, or a run woken before the mark: after it */

    } else if (!forced && mcp_ckpt_chase(k, frames)) {
        k->wanted = 1;
        pthread_cond_signal(&k->cv);

    } else {
        t0 = mcp_repo_now_ns();
        mcp_ckpt_run(k, db);
        k->writer_runs++;
        k->writer_forced += forced;
        mcp_hist_record(&k->writer_us, (mcp_repo_now_ns() - t0) / 1000);
    }
    pthread_mutex_unlock(&k->mu);
}


/* background 0: only the stats exist (the baseline checkpoints inline) */
int
mcp_ckpt_start(mcp_ckpt_t *k, const mcp_repo_conf_t *rc, int background,
    char *err, size_t errlen)
{
    memset(k, 0, sizeof(*k));
    pthread_mutex_init(&k->mu, NULL);
    pthread_cond_init(&k->cv, NULL);
    pthread_cond_init(&k->idle, NULL);
    k->pages = rc->wal_checkpoint_pages > 0 ? (int) rc->wal_checkpoint_pages
                                            : 1000;
    k->sync_flags = rc->synchronous == MCP_REPO_SYNC_FULL ? SQLITE_SYNC_FULL
                                                          : SQLITE_SYNC_NORMAL;
    mcp_hist_reset(&k->time_us);
    mcp_hist_reset(&k->writer_us);
    if (!background) {
        return 0;
    }
    if (mcp_conn_open(&k->conn, rc, 0, err, errlen) != SQLITE_OK) {
        return -1;
    }
    if (pthread_create(&k->tid, NULL, mcp_ckpt_main, k) != 0) {
        snprintf(err, errlen, "repository: cannot start the checkpointer");
        mcp_conn_close(&k->conn);
        return -1;
    }
    k->started = 1;
    pthread_setname_np(k->tid, "repo-ckpt");
    return 0;
}


void
mcp_ckpt_stop(mcp_ckpt_t *k)
{
    if (k->started) {
        pthread_mutex_lock(&k->mu);
        k->stop = 1;
        pthread_cond_signal(&k->cv);
        pthread_mutex_unlock(&k->mu);
        pthread_join(k->tid, NULL);
        k->started = 0;
    }
    mcp_conn_close(&k->conn);
    pthread_cond_destroy(&k->idle);
    pthread_cond_destroy(&k->cv);
    pthread_mutex_destroy(&k->mu);
}


json_t *
mcp_ckpt_stats(mcp_ckpt_t *k)
{
    json_t  *o = json_object();

    pthread_mutex_lock(&k->mu);
    json_object_set_new(o, "background", json_boolean(k->started));
    json_object_set_new(o, "runs", json_integer((json_int_t) k->runs));
    json_object_set_new(o, "errors", json_integer((json_int_t) k->errors));
    json_object_set_new(o, "threshold_pages", json_integer(k->pages));
    json_object_set_new(o, "wal_restarts", json_integer((json_int_t)
        __atomic_load_n(&k->restarts, __ATOMIC_RELAXED)));
    json_object_set_new(o, "frames_written", json_integer((json_int_t)
        __atomic_load_n(&k->frames_written, __ATOMIC_RELAXED)));
    json_object_set_new(o, "wal_pages",
                        json_integer((json_int_t) k->wal_pages));
    json_object_set_new(o, "time_p99_ms",
        json_real(mcp_hist_quantile(&k->time_us, 0.99) / 1000.0));
    /* what the writes queued behind the writer's own ones waited */
    json_object_set_new(o, "writer_runs",
                        json_integer((json_int_t) k->writer_runs));
    json_object_set_new(o, "writer_forced",
                        json_integer((json_int_t) k->writer_forced));
    json_object_set_new(o, "writer_time_p99_ms",
        json_real(mcp_hist_quantile(&k->writer_us, 0.99) / 1000.0));
    json_object_set_new(o, "writer_time_max_ms",
        json_real((double) k->writer_us.max / 1000.0));
    pthread_mutex_unlock(&k->mu);
    return o;
}
