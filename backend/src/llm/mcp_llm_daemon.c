/* The provider layer as an mcpd subsystem: see mcp_llm_daemon.h. */

#include <string.h>

#include "llm/mcp_llm_cli.h"
#include "llm/mcp_llm_daemon.h"

#define MCP_LLM_STATS_KEY  "llm_client_stats"

static void
mcp_llm_daemon_stop(mcp_daemon_t *d, void *ctx)
{
    mcp_llm_close(ctx, NULL, NULL);
}

int
mcp_llm_daemon_init(mcp_daemon_t *d, mcp_err_t *err)
{
    const mcp_llm_conf_t  *conf = &d->conf->llm;
    mcp_llm_t             *llm;
    size_t                 i;

    if (mcp_llm_init(&llm, d->loop, conf, &d->log, err) != 0) {
        return -1;
    }
    if (mcp_daemon_add_stats(d, MCP_LLM_STATS_KEY, mcp_llm_stats, llm) != 0
        || mcp_daemon_add_health(d, "llm", mcp_llm_health, llm) != 0
        || mcp_daemon_on_stop(d, mcp_llm_daemon_stop, llm) != 0)
    {
        mcp_llm_close(llm, NULL, NULL);
        mcp_err_set(err, NULL, "llm: cannot register with the daemon");
        return -1;
    }

    for (i = 0; i < conf->providers.n; i++) {
        mcp_log_info(&d->log, "llm", "provider %s: %s, model %s%s",
                     conf->providers.items[i].name,
                     conf->providers.items[i].base_url,
                     conf->providers.items[i].model,
                     conf->active
                     && strcmp(conf->active, conf->providers.items[i].name) == 0
                     ? " (active)" : "");
    }
    return 0;
}

mcp_llm_t *
mcp_llm_daemon_get(mcp_daemon_t *d)
{
    size_t  i;

    /* the stats registry already maps the key to the layer */
    for (i = 0; i < d->nstats; i++) {
        if (strcmp(d->stats[i].key, MCP_LLM_STATS_KEY) == 0) {
            return d->stats[i].ctx;
        }
    }
    return NULL;
}

int
mcp_llm_daemon_command(mcp_daemon_t *d, int argc, char **argv)
{
    return mcp_llm_cli(d->loop, &d->conf->llm, &d->log, argc, argv);
}
