/*
 * A pool worker's connection: checked every health_check_interval (and
 * before a request once that long has passed), closed and reopened by its
 * own thread when a check or an error says it is broken (I/O error,
 * corruption, a file that is gone), so that one bad connection costs one
 * request, not every request after it.  See docs/storage.md, "Acquisition
 * timeout, health checks, recovery".
 */

#include <stdio.h>

#include "repo/mcp_repo_int.h"


static int
mcp_worker_reopen(mcp_worker_t *w, char *err, size_t errlen)
{
    mcp_pool_t  *p = w->pool;
    int          rc, was_open = w->conn.db != NULL;

    mcp_conn_close(&w->conn);
    rc = mcp_conn_open(&w->conn, &p->repo->conf, !p->writer, err, errlen);
    if (rc == SQLITE_OK && p->writer) {
        mcp_ckpt_attach(&p->repo->ckpt, w->conn.db);
    }

    pthread_mutex_lock(&p->mu);
    p->reconnects++;
    if (was_open && rc != SQLITE_OK) {
        p->open--;
    } else if (!was_open && rc == SQLITE_OK) {
        p->open++;
    }
    pthread_mutex_unlock(&p->mu);

    w->broken = rc != SQLITE_OK;
    return rc;
}


/* A broken connection is closed and replaced, here, by its own thread. */
void
mcp_worker_health(mcp_worker_t *w)
{
    mcp_pool_t  *p = w->pool;
    char         err[256];
    int          rc, failed;
    uint64_t     gen;

    gen = __atomic_load_n(&p->repo->debug_break, __ATOMIC_ACQUIRE);
    rc = w->broken ? SQLITE_ERROR : mcp_conn_health(&w->conn);
    failed = rc != SQLITE_OK || gen != w->last_break;
    w->last_break = gen;
    w->last_check_ms = mcp_repo_now_ms();

    pthread_mutex_lock(&p->mu);
    p->health_checks++;
    p->last_health_ms = w->last_check_ms;
    if (failed) {
        p->health_failures++;
    }
    pthread_mutex_unlock(&p->mu);

    if (failed) {
        mcp_worker_reopen(w, err, sizeof(err));
    }
}


int
mcp_worker_ready(mcp_worker_t *w, mcp_repo_req_t *r)
{
    int64_t  interval = w->pool->repo->conf.pool.health_check_interval;
    char     err[256];

    if (interval > 0
        && mcp_repo_now_ms() - w->last_check_ms >= (uint64_t) interval)
    {
        mcp_worker_health(w);
    }
    if (w->broken && mcp_worker_reopen(w, err, sizeof(err)) != SQLITE_OK) {
        mcp_req_fail(r, MCP_REPO_EIO, 0, "repository: %s", err);
        return 0;
    }
    return 1;
}


void
mcp_worker_check_code(mcp_worker_t *w, int code)
{
    switch (code & 0xff) {
    case SQLITE_IOERR:
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
    case SQLITE_CANTOPEN:
        w->broken = 1;      /* replaced before its next use */
        break;
    }
}
