/*
 * The MCP host: every configured server, the tool registry the model sees
 * and the API the chat service uses.
 *
 *   tools:  mcp_host_tools() is the OpenAI "tools" array (names mapped,
 *           schemas converted and cached); it changes only when a server's
 *           list changes (mcp_host_tools_version() tells when).
 *   calls:  mcp_host_call() by exposed name with JSON arguments; the
 *           callback gets the result converted and capped for the model,
 *           exactly once, unless mcp_host_call_cancel() came first.
 *
 * Servers start in parallel, each on its own; none can block the loop or
 * the others.  Everything runs on the daemon's loop thread.
 */

#ifndef MCP_HOST_H
#define MCP_HOST_H

#include <jansson.h>
#include <uv.h>

#include "core/mcp_log.h"
#include "mcp/mcp_client.h"
#include "mcp/mcp_host_conf.h"
#include "mcp/mcp_names.h"
#include "mcp/mcp_result.h"
#include "mcp/mcp_servers_conf.h"
#include "util/mcp_lru.h"

typedef struct mcp_host_s  mcp_host_t;
typedef struct mcp_call_s  mcp_call_t;

/*
 * res: the converted result (is_error set for tool errors, JSON-RPC errors
 * and failures alike); raw: the MCP result object or NULL.  Both borrowed.
 */
typedef void (*mcp_call_done_pt)(void *ctx, const mcp_tool_result_t *res,
    json_t *raw);

struct mcp_host_s {
    uv_loop_t               *loop;
    const mcp_mcp_conf_t    *conf;
    const mcp_log_t         *log;
    mcp_servers_conf_t       servers_conf;
    mcp_server_t            *servers;
    size_t                   n;
    json_t                  *roots;

    mcp_names_t              names;        /* exposed <-> (server, tool) */
    json_t                  *tool_objs;    /* MCP tool objects, same order */
    json_t                  *tools;        /* OpenAI tools, same order */
    uint64_t                 tools_version;
    mcp_lru_t               *schema_cache;

    size_t                   unsettled;
    void                   (*on_settled)(void *ctx);
    void                    *settled_ctx;

    size_t                   alive;
    void                   (*on_stopped)(void *ctx);
    void                    *stopped_ctx;

    void                   (*on_change)(void *ctx, mcp_server_t *srv,
                                        int kind, const char *uri);
    void                    *change_ctx;
};

/*
 * Load servers.json (conf->config_file, relative to base_dir when not
 * absolute; none when empty) and prepare the servers.  only: start just this server (the
 * CLI), or NULL for all enabled ones.  NULL with err on a config error.
 */
mcp_host_t *mcp_host_create(uv_loop_t *loop, const mcp_mcp_conf_t *conf,
    const char *base_dir, const mcp_log_t *log, const char *only,
    mcp_err_t *err);
/* The same from an already parsed servers list (taken). */
mcp_host_t *mcp_host_create_with(uv_loop_t *loop, const mcp_mcp_conf_t *conf,
    mcp_servers_conf_t *servers, const mcp_log_t *log, mcp_err_t *err);
/* Start every server; on_settled (may be NULL) once each is ready with its
   lists or has failed its first attempt. */
void mcp_host_start(mcp_host_t *h, void (*on_settled)(void *ctx), void *ctx);
/* Stop all; done once every server's handles are closed. */
void mcp_host_stop(mcp_host_t *h, void (*done)(void *ctx), void *ctx);
void mcp_host_free(mcp_host_t *h);

/* The OpenAI tools array (borrowed; valid until the next list change). */
json_t *mcp_host_tools(mcp_host_t *h);
uint64_t mcp_host_tools_version(const mcp_host_t *h);

mcp_call_t *mcp_host_call(mcp_host_t *h, const char *exposed,
    const json_t *args, mcp_call_done_pt done, void *ctx);
/* Call a tool by server and original name (the CLI). */
mcp_call_t *mcp_host_call_on(mcp_host_t *h, const char *server,
    const char *tool, const json_t *args, mcp_call_done_pt done, void *ctx);
void mcp_host_call_cancel(mcp_call_t *call);

mcp_server_t *mcp_host_server(mcp_host_t *h, const char *name);

/*
 * Be told when a server's prompts or resources may have changed: kind is
 * MCP_LIST_* after that list was read again (uri NULL), or
 * MCP_LIST_RESOURCES with the uri of a subscribed resource the server
 * said was updated.  One watcher (the chat service's system prompt).
 */
void mcp_host_on_change(mcp_host_t *h, void (*fn)(void *ctx,
    mcp_server_t *srv, int kind, const char *uri), void *ctx);

/* {"servers": {name: stats}, "tools": N, "schema_cache": {...}} */
json_t *mcp_host_stats(void *h);
/* For the CLI: per server, its state and lists */
json_t *mcp_host_describe(mcp_host_t *h);

#endif /* MCP_HOST_H */
