/*
 * The repository as an mcpd subsystem: opened at start from the bound
 * config (before the link server accepts, so a bad database stops mcpd
 * with a clear message), its stats under "repository_stats", closed by the
 * daemon's stop hook.  Other subsystems find it with mcp_repo_daemon_get().
 */

#include <string.h>

#include "core/mcp_daemon.h"
#include "repo/mcp_repo_int.h"
#include "repo/mcp_repo_daemon.h"

#define MCP_REPO_STATS_KEY  "repository_stats"


static void
mcp_repo_daemon_stop(mcp_daemon_t *d, void *ctx)
{
    mcp_repo_close(ctx);
}


/*
 * The repository's messages start with "repository" for the tools and
 * tests that open it alone; mcpd's start-up log already names the
 * subsystem ("repository: ..."), so the word is not said twice there.
 */
static void
mcp_repo_daemon_unprefix(mcp_err_t *err)
{
    static const char  word[] = "repository";
    size_t             skip = sizeof(word) - 1;

    if (strncmp(err->msg, word, skip) != 0) {
        return;
    }
    if (err->msg[skip] == ':') {
        skip++;
    }
    while (err->msg[skip] == ' ') {
        skip++;
    }
    memmove(err->msg, err->msg + skip, strlen(err->msg + skip) + 1);
}


/* a pool with connections it could not open (again): status has why */
static void
mcp_repo_daemon_pool_health(mcp_health_t *h, json_t *pool, const char *name)
{
    json_int_t  size = json_integer_value(json_object_get(pool, "size"));
    json_int_t  open = json_integer_value(json_object_get(pool, "open"));

    if (open < size) {
        mcp_health_reason(h, "store: %lld of %lld %s connections are not "
                          "open: a health check failed and the database "
                          "file cannot be opened again", (long long)
                          (size - open), (long long) size, name);
    }
}


/* health: writes failing on storage, and connections that are not open */
static void
mcp_repo_daemon_health(mcp_health_t *h, void *repo)
{
    json_t      *st = mcp_repo_stats(repo);
    const char  *fault = mcp_repo_write_fault(repo);

    if (fault != NULL) {
        mcp_health_reason(h, "store: the last write failed and none has "
                          "succeeded since, new messages are not stored: %s",
                          fault);
    }

    mcp_repo_daemon_pool_health(h, json_object_get(st, "writers"),
                                "writer");
    mcp_repo_daemon_pool_health(h, json_object_get(st, "readers"),
                                "reader");
    json_decref(st);
}


int
mcp_repo_daemon_init(mcp_daemon_t *d, mcp_err_t *err)
{
    const mcp_repo_conf_t     *rc = &d->conf->chat.service.repository;
    const mcp_persist_conf_t  *pc = &d->conf->persistence;
    mcp_repo_t                *repo;

    repo = mcp_repo_open(d->loop, rc, pc, err);
    if (repo == NULL) {
        mcp_repo_daemon_unprefix(err);
        return -1;
    }
    mcp_repo_set_log(repo, &d->log);
    if (mcp_daemon_add_stats(d, MCP_REPO_STATS_KEY, mcp_repo_stats_fn, repo)
        != 0
        || mcp_daemon_add_health(d, "repository", mcp_repo_daemon_health, repo)
        != 0
        || mcp_daemon_on_stop(d, mcp_repo_daemon_stop, repo) != 0)
    {
        mcp_repo_close(repo);
        snprintf(err->msg, sizeof(err->msg), "cannot register with the "
                 "daemon");
        return -1;
    }
    mcp_log_info(&d->log, "repo", "%s ready: schema %d, %s, %s, retention %s",
                 rc->path, mcp_repo_schema_version(),
                 rc->pool.enable_pooling ? "pooled" : "single connection",
                 rc->synchronous == MCP_REPO_SYNC_FULL ? "synchronous=FULL"
                                                       : "synchronous=NORMAL",
                 pc->enabled ? "on" : "off (persistence disabled)");
    if (repo->loop_cpu >= 0) {
        mcp_log_info(&d->log, "repo", "writer_affinity loop: the event loop "
                     "and the writers on CPU %d, the readers and the "
                     "checkpointer on the others", repo->loop_cpu);
    } else if (rc->pool.writer_affinity == MCP_REPO_AFFINITY_LOOP) {
        mcp_log_warn(&d->log, "repo", "writer_affinity loop not applied: %s",
                     repo->affinity_note);
    }
    return 0;
}


mcp_repo_t *
mcp_repo_daemon_get(mcp_daemon_t *d)
{
    size_t  i;

    /* the stats registry already maps the key to the repository */
    for (i = 0; i < d->nstats; i++) {
        if (strcmp(d->stats[i].key, MCP_REPO_STATS_KEY) == 0) {
            return d->stats[i].ctx;
        }
    }
    return NULL;
}
