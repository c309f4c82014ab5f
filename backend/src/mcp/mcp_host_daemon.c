/*
 * The "mcp" subsystem of mcpd.
 */

#include "mcp/mcp_host_daemon.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MCP_STATS_KEY  "mcp_stats"


void
mcp_conf_dir(const char *conf_path, char *out, size_t size)
{
    const char  *slash = conf_path ? strrchr(conf_path, '/') : NULL;

    if (slash == NULL) {
        snprintf(out, size, ".");
    } else if (slash == conf_path) {
        snprintf(out, size, "/");
    } else {
        snprintf(out, size, "%.*s", (int) (slash - conf_path), conf_path);
    }
}


static void
mcp_host_daemon_freed(void *ctx)
{
    mcp_host_free(ctx);
}


static void
mcp_host_daemon_stop(mcp_daemon_t *d, void *ctx)
{
    /* servers get stdin closed / DELETE; the loop drains their handles */
    mcp_host_stop(ctx, mcp_host_daemon_freed, ctx);
}


mcp_host_t *
mcp_host_from_daemon(mcp_daemon_t *d)
{
    size_t  i;

    /* the stats registry already maps the key to the host: no global */
    for (i = 0; i < d->nstats; i++) {
        if (strcmp(d->stats[i].key, MCP_STATS_KEY) == 0) {
            return d->stats[i].ctx;
        }
    }
    return NULL;
}


/* health: one reason per enabled server that is not ready, and why */
static void
mcp_host_daemon_health(mcp_health_t *h, void *ctx)
{
    mcp_host_t          *host = ctx;
    const mcp_server_t  *srv;
    const char          *why;
    size_t               i;

    for (i = 0; i < host->n; i++) {
        srv = &host->servers[i];
        why = srv->last_error[0] ? srv->last_error : "no error recorded";

        switch (srv->state) {
        case MCP_SRV_STARTING:
            if (!srv->ever_ready && srv->attempts == 0) {
                mcp_health_reason(h, "MCP server '%s' is starting: its "
                                  "tools are not offered yet",
                                  srv->sconf->name);
            } else {
                mcp_health_reason(h, "MCP server '%s' is restarting, its "
                                  "tools are not offered; last error: %s",
                                  srv->sconf->name, why);
            }
            break;
        case MCP_SRV_BACKOFF:
            mcp_health_reason(h, "MCP server '%s' is down and will be "
                              "retried, its tools are not offered; last "
                              "error: %s", srv->sconf->name, why);
            break;
        case MCP_SRV_FAILED:
            mcp_health_reason(h, "MCP server '%s' failed and is not "
                              "retried until mcpd restarts: %s",
                              srv->sconf->name, why);
            break;
        default:
            break;      /* ready, disabled, or stopping with mcpd */
        }
    }
}


int
mcp_host_subsystem_init(mcp_daemon_t *d, mcp_err_t *err)
{
    mcp_host_t  *h;
    char         dir[4096];

    mcp_conf_dir(d->conf_path, dir, sizeof(dir));
    h = mcp_host_create(d->loop, &d->conf->mcp, dir, &d->log, NULL, err);
    if (h == NULL) {
        return -1;
    }
    if (mcp_daemon_add_stats(d, MCP_STATS_KEY, mcp_host_stats, h) != 0
        || mcp_daemon_add_health(d, "mcp", mcp_host_daemon_health, h) != 0
        || mcp_daemon_on_stop(d, mcp_host_daemon_stop, h) != 0)
    {
        mcp_err_set(err, NULL, "cannot register the MCP host");
        mcp_host_free(h);
        return -1;
    }
    mcp_log_info(&d->log, "mcp", "%zu MCP servers configured", h->n);
    mcp_host_start(h, NULL, NULL);
    return 0;
}
