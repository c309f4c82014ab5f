/*
 * One MCP server's lists: tools/list, prompts/list, resources/list with
 * their pagination, and the refresh on notifications/.../list_changed
 * (see mcp_client.h).
 */

#include "mcp/mcp_client_int.h"
#include "mcp/mcp_jsonrpc.h"

#include <stdio.h>
#include <stdlib.h>

#define MCP_LIST_MAX_PAGES  1000

static const char *const  mcp_list_method[] = {
    "tools/list", "prompts/list", "resources/list"
};
static const char *const  mcp_list_key[] = { "tools", "prompts", "resources" };


/* ------------------------------------------------------------ lists */

void
mcp_server_settle(mcp_server_t *srv)
{
    if (!srv->settled) {
        srv->settled = 1;
        if (srv->owner.settled) {
            srv->owner.settled(srv->owner.ctx, srv);
        }
    }
}


static void
mcp_server_list_done(void *ctx, json_t *result, json_t *error,
    const char *failure)
{
    mcp_list_ctx_t  *lc = ctx;
    mcp_server_t    *srv = lc->srv;
    json_t          *items, **slot;
    const char      *cursor;
    char             buf[160];

    if (result != NULL) {
        items = json_object_get(result, mcp_list_key[lc->kind]);
        if (json_is_array(items)) {
            json_array_extend(lc->acc, items);
        }
        cursor = json_string_value(json_object_get(result, "nextCursor"));
        if (cursor && *cursor && ++lc->pages < MCP_LIST_MAX_PAGES) {
            mcp_server_list(srv, lc->kind, lc, cursor);
            return;
        }
        slot = lc->kind == 0 ? &srv->tools
               : lc->kind == 1 ? &srv->prompts : &srv->resources;
        json_decref(*slot);
        *slot = lc->acc;
        lc->acc = NULL;
        mcp_log_info(srv->log, "mcp", "%s: %zu %s", srv->sconf->name,
                     json_array_size(*slot), mcp_list_key[lc->kind]);
        if (srv->owner.lists_changed) {
            srv->owner.lists_changed(srv->owner.ctx, srv, lc->kind);
        }
    } else {
        mcp_log_warn(srv->log, "mcp", "%s: %s failed: %s", srv->sconf->name,
                     mcp_list_method[lc->kind],
                     error ? mcp_rpc_error_text(error, buf, sizeof(buf))
                           : failure);
    }
    json_decref(lc->acc);
    free(lc);
    if (srv->listing > 0 && --srv->listing == 0) {
        mcp_server_settle(srv);
    }
}


void
mcp_server_list(mcp_server_t *srv, int kind, mcp_list_ctx_t *lc,
    const char *cursor)
{
    json_t  *params = cursor ? json_pack("{s:s}", "cursor", cursor) : NULL;

    if (lc == NULL) {
        lc = calloc(1, sizeof(*lc));
        if (lc == NULL) {
            json_decref(params);
            return;
        }
        lc->srv = srv;
        lc->kind = kind;
        lc->acc = json_array();
        srv->listing++;
    }
    mcp_server_request_any(srv, mcp_list_method[kind], params,
                           srv->conf->connection.connection_timeout_ms,
                           mcp_server_list_done, lc, 0);
}


void
mcp_server_list_all(mcp_server_t *srv)
{
    int  kind;

    for (kind = 0; kind < 3; kind++) {
        if (json_object_get(srv->capabilities, mcp_list_key[kind])) {
            mcp_server_list(srv, kind, NULL, NULL);
        }
    }
    if (srv->listing == 0) {
        mcp_server_settle(srv);
    }
}
