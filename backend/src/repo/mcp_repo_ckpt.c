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
 * completes a PASSIVE checkpoint between two groups when no background one
 * runs (those copied most frames already, so it copies the rest; and they
 * run every wal_checkpoint_pages new frames); its next transaction
 * then writes from the start of the WAL again.  PASSIVE never waits: if a
 * reader still uses an old snapshot the WAL is not restarted this time and
 * the writer tries again after its next group.
 */

#include <stdio.h>
#include <string.h>

#include "repo/mcp_repo_int.h"

#define MCP_CKPT_RESTART_FACTOR  4


static uint64_t
mcp_ckpt_restart_mark(mcp_ckpt_t *k)
{
    return (uint64_t) k->pages * MCP_CKPT_RESTART_FACTOR;
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
        __atomic_add_fetch(&k->restarts, 1, __ATOMIC_RELAXED);
        __atomic_store_n(&k->mark, 0, __ATOMIC_RELAXED);
        before = 0;
    }
    __atomic_add_fetch(&k->frames_written, (uint64_t) n - before,
                       __ATOMIC_RELAXED);
    /*
     * Every wal_checkpoint_pages new frames, not after every commit once
     * the WAL is that long: a checkpointer woken by each commit runs all
     * the time, syncing the WAL each time, for a few frames each run.
     * Past the restart mark the writer's own checkpoint is due: no new
     * background run then, so the writer finds the checkpointer idle.
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
 * wait for another).  1: it copied the whole WAL.
 */
static int
mcp_ckpt_run(mcp_ckpt_t *k, sqlite3 *db)
{
    uint64_t  t0, us;
    int       rc, log = 0, done = 0;

    while (k->running) {
        pthread_cond_wait(&k->idle, &k->mu);
    }
    k->running = 1;
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
    return rc == SQLITE_OK && done == log;
}


/*
 * Checkpointer thread, after a run that did not reach the end of the WAL
 * (the writer kept writing): sync the database file now.  SQLite syncs it
 * only when a checkpoint reaches the end, which under sustained writes is
 * the writer's own one before a restart, and that sync then has to write
 * out every page all the background runs copied: tens of milliseconds on
 * the writer's path.  Done here, the writer's sync finds little to write.
 * Syncing through SQLite's own file object keeps SQLite's locks intact
 * (opening and closing another descriptor on the file would drop them).
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

    pthread_mutex_lock(&k->mu);
    for ( ;; ) {
        while (!k->wanted && !k->stop) {
            pthread_cond_wait(&k->cv, &k->mu);
        }
        if (k->stop) {
            break;
        }
        k->wanted = 0;
        if (!mcp_ckpt_run(k, k->conn.db)) {
            pthread_mutex_unlock(&k->mu);
            mcp_ckpt_sync_db(k);
            pthread_mutex_lock(&k->mu);
        }
    }
    pthread_mutex_unlock(&k->mu);
    return NULL;
}


/*
 * Writer thread, between two groups, holding no transaction: complete a
 * checkpoint when the WAL has grown past the restart mark, so that the
 * next transaction writes from the start of the WAL (see the top).  Not
 * while a background one runs, unless the WAL reached twice the mark:
 * waiting for it cost the writer a fifth of its time under load; after
 * the next group it will have finished, and copied most of what this one
 * would copy (no new one starts past the mark).  Twice the mark bounds
 * the WAL when background runs are slow (a slow disk's fsync).
 */
void
mcp_ckpt_restart(mcp_ckpt_t *k, sqlite3 *db)
{
    uint64_t  frames = __atomic_load_n(&k->wal_frames, __ATOMIC_RELAXED);

    if (!k->started || frames < mcp_ckpt_restart_mark(k)) {
        return;
    }
    pthread_mutex_lock(&k->mu);
    if (!k->running || frames >= 2 * mcp_ckpt_restart_mark(k)) {
        mcp_ckpt_run(k, db);
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
    pthread_mutex_unlock(&k->mu);
    return o;
}
