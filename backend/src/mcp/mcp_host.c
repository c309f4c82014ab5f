/*
 * The MCP host: servers, the tool registry, calls (see mcp_host.h).
 */

#include "mcp/mcp_host.h"
#include "mcp/mcp_jsonrpc.h"
#include "mcp/mcp_schema.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct mcp_call_s {
    mcp_host_t        *host;
    mcp_req_t         *req;
    mcp_call_done_pt   done;
    void              *ctx;
};


/* ------------------------------------------------------------ registry */

/* Rebuild names and OpenAI tools from every server's last known list, in
   config order, so the mapping never depends on which server came first */
static void
mcp_host_rebuild(mcp_host_t *h)
{
    mcp_names_t   names;
    json_t       *objs = json_array(), *tools = json_array(), *t, *o;
    size_t        i, j;

    mcp_names_init(&names);
    for (i = 0; i < h->n; i++) {
        json_array_foreach(h->servers[i].tools, j, t) {
            const char  *name = json_string_value(json_object_get(t, "name"));
            if (name == NULL) {
                continue;
            }
            mcp_names_add(&names, h->servers[i].sconf->name, name);
            json_array_append(objs, t);
        }
    }
    if (mcp_names_build(&names) != 0) {
        mcp_log_error(h->log, "mcp", "out of memory building tool names");
        mcp_names_free(&names);
        json_decref(objs);
        json_decref(tools);
        return;
    }
    for (i = 0; i < names.n; i++) {
        o = mcp_schema_tool_to_openai(json_array_get(objs, i),
                                      names.items[i].exposed,
                                      h->schema_cache);
        json_array_append_new(tools, o ? o : json_null());
    }

    mcp_names_free(&h->names);
    h->names = names;
    json_decref(h->tool_objs);
    json_decref(h->tools);
    h->tool_objs = objs;
    h->tools = tools;
    h->tools_version++;
}


static void
mcp_host_lists_changed(void *ctx, mcp_server_t *srv, int kind)
{
    mcp_host_t  *h = ctx;

    if (kind == MCP_LIST_TOOLS) {
        mcp_host_rebuild(h);
    } else if (h->on_change) {
        h->on_change(h->change_ctx, srv, kind, NULL);
    }
}


static void
mcp_host_resource_updated(void *ctx, mcp_server_t *srv, const char *uri)
{
    mcp_host_t  *h = ctx;

    if (h->on_change) {
        h->on_change(h->change_ctx, srv, MCP_LIST_RESOURCES, uri);
    }
}


void
mcp_host_on_change(mcp_host_t *h, void (*fn)(void *ctx, mcp_server_t *srv,
    int kind, const char *uri), void *ctx)
{
    h->on_change = fn;
    h->change_ctx = ctx;
}


static void
mcp_host_settled(void *ctx, mcp_server_t *srv)
{
    mcp_host_t  *h = ctx;

    if (h->unsettled > 0 && --h->unsettled == 0 && h->on_settled) {
        h->on_settled(h->settled_ctx);
    }
}


json_t *
mcp_host_tools(mcp_host_t *h)
{
    return h->tools;
}


uint64_t
mcp_host_tools_version(const mcp_host_t *h)
{
    return h->tools_version;
}


mcp_server_t *
mcp_host_server(mcp_host_t *h, const char *name)
{
    size_t  i;

    for (i = 0; i < h->n; i++) {
        if (strcmp(h->servers[i].sconf->name, name) == 0) {
            return &h->servers[i];
        }
    }
    return NULL;
}


/* ------------------------------------------------------------ calls */

static void
mcp_host_call_done(void *ctx, json_t *result, json_t *error,
    const char *failure)
{
    mcp_call_t         *c = ctx;
    mcp_tool_result_t   res;
    size_t              max = (size_t) c->host->conf->max_result_size;
    int                 rc;

    rc = result ? mcp_result_convert(result, max, &res)
                : mcp_result_from_error(error, failure, max, &res);
    if (rc != 0) {
        memset(&res, 0, sizeof(res));
        res.text = (char *) "mcpd: out of memory converting the tool result";
        res.len = strlen(res.text);
        res.is_error = 1;
        c->done(c->ctx, &res, result);
    } else {
        c->done(c->ctx, &res, result);
        mcp_result_free(&res);
    }
    free(c);
}


mcp_call_t *
mcp_host_call_on(mcp_host_t *h, const char *server, const char *tool,
    const json_t *args, mcp_call_done_pt done, void *ctx)
{
    mcp_server_t  *srv = mcp_host_server(h, server);
    mcp_call_t    *c;
    json_t        *params;

    if (srv == NULL) {
        return NULL;
    }
    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        return NULL;
    }
    c->host = h;
    c->done = done;
    c->ctx = ctx;
    /* the model's arguments go as they are: the server validates them */
    params = json_pack("{s:s,s:o}", "name", tool, "arguments",
                       json_is_object(args) ? json_incref((json_t *) args)
                                            : json_object());
    c->req = mcp_server_request(srv, "tools/call", params, 0,
                                mcp_host_call_done, c);
    if (c->req == NULL) {
        free(c);
        return NULL;
    }
    return c;
}


mcp_call_t *
mcp_host_call(mcp_host_t *h, const char *exposed, const json_t *args,
    mcp_call_done_pt done, void *ctx)
{
    const mcp_name_t  *n = mcp_names_by_exposed(&h->names, exposed);

    if (n == NULL) {
        return NULL;
    }
    return mcp_host_call_on(h, n->server, n->tool, args, done, ctx);
}


void
mcp_host_call_cancel(mcp_call_t *c)
{
    mcp_req_cancel(c->req, "cancelled by the user");
    free(c);
}


/* ------------------------------------------------------------ life */

static json_t *
mcp_host_roots(const mcp_mcp_conf_t *conf)
{
    json_t  *roots = json_array();
    size_t   i;
    char     uri[PATH_MAX + 8], real[PATH_MAX];

    for (i = 0; i < conf->roots.n; i++) {
        const char  *r = conf->roots.items[i];
        if (strncmp(r, "file://", 7) == 0) {
            snprintf(uri, sizeof(uri), "%s", r);
        } else {
            snprintf(uri, sizeof(uri), "file://%s",
                     realpath(r, real) ? real : r);
        }
        json_array_append_new(roots, json_pack("{s:s}", "uri", uri));
    }
    return roots;
}


mcp_host_t *
mcp_host_create_with(uv_loop_t *loop, const mcp_mcp_conf_t *conf,
    mcp_servers_conf_t *servers, const mcp_log_t *log, mcp_err_t *err)
{
    mcp_host_t          *h = calloc(1, sizeof(*h));
    mcp_server_owner_t   owner;
    size_t               i;

    if (h == NULL) {
        mcp_servers_conf_free(servers);
        mcp_err_set(err, NULL, "out of memory");
        return NULL;
    }
    h->servers_conf = *servers;
    memset(servers, 0, sizeof(*servers));
    h->loop = loop;
    h->conf = conf;
    h->log = log;
    h->roots = mcp_host_roots(conf);
    h->schema_cache = mcp_schema_cache_create((size_t)
                                              conf->schema_cache_size);
    h->tools = json_array();
    h->tool_objs = json_array();
    mcp_names_init(&h->names);
    h->n = h->servers_conf.n;
    h->servers = calloc(h->n ? h->n : 1, sizeof(mcp_server_t));
    if (h->servers == NULL || h->schema_cache == NULL) {
        mcp_err_set(err, NULL, "out of memory");
        mcp_host_free(h);
        return NULL;
    }
    owner.ctx = h;
    owner.lists_changed = mcp_host_lists_changed;
    owner.settled = mcp_host_settled;
    owner.resource_updated = mcp_host_resource_updated;
    for (i = 0; i < h->n; i++) {
        mcp_server_init(&h->servers[i], loop, conf, &h->servers_conf.items[i],
                        log, h->roots, owner);
    }
    return h;
}


mcp_host_t *
mcp_host_create(uv_loop_t *loop, const mcp_mcp_conf_t *conf,
    const char *base_dir, const mcp_log_t *log, const char *only,
    mcp_err_t *err)
{
    mcp_servers_conf_t   sc;
    char                 path[PATH_MAX];
    size_t               i;
    int                  found = 0;

    memset(&sc, 0, sizeof(sc));
    if (conf->config_file == NULL || conf->config_file[0] == '\0') {
        /* no servers file configured: a host with no servers */
        return mcp_host_create_with(loop, conf, &sc, log, err);
    }
    if (conf->config_file[0] == '/' || base_dir == NULL || !*base_dir) {
        snprintf(path, sizeof(path), "%s", conf->config_file);
    } else {
        snprintf(path, sizeof(path), "%s/%s", base_dir, conf->config_file);
    }
    if (mcp_servers_conf_load(path, &sc, err) != 0) {
        return NULL;
    }
    for (i = 0; only != NULL && i < sc.n; i++) {
        /* the CLI names one server: run it even if disabled, alone */
        sc.items[i].enabled = strcmp(sc.items[i].name, only) == 0;
        found |= sc.items[i].enabled;
    }
    if (only != NULL && !found) {
        mcp_err_set(err, NULL, "%s: no server named '%s'", path, only);
        mcp_servers_conf_free(&sc);
        return NULL;
    }
    return mcp_host_create_with(loop, conf, &sc, log, err);
}


void
mcp_host_start(mcp_host_t *h, void (*on_settled)(void *ctx), void *ctx)
{
    size_t  i;

    h->on_settled = on_settled;
    h->settled_ctx = ctx;
    h->unsettled = 0;
    for (i = 0; i < h->n; i++) {
        if (h->servers[i].sconf->enabled) {
            h->unsettled++;
        }
    }
    if (h->unsettled == 0 && on_settled) {
        on_settled(ctx);
    }
    /* each start only spawns or connects: nothing here waits */
    for (i = 0; i < h->n; i++) {
        mcp_server_start(&h->servers[i]);
    }
}


static void
mcp_host_server_gone(void *ctx)
{
    mcp_host_t  *h = ctx;

    if (--h->alive == 0 && h->on_stopped) {
        h->on_stopped(h->stopped_ctx);
    }
}


void
mcp_host_stop(mcp_host_t *h, void (*done)(void *ctx), void *ctx)
{
    size_t  i;

    h->on_settled = NULL;
    h->on_stopped = done;
    h->stopped_ctx = ctx;
    h->alive = h->n;
    if (h->n == 0) {
        if (done) {
            done(ctx);
        }
        return;
    }
    for (i = 0; i < h->n; i++) {
        mcp_server_stop(&h->servers[i], mcp_host_server_gone, h);
    }
}


void
mcp_host_free(mcp_host_t *h)
{
    if (h == NULL) {
        return;
    }
    mcp_names_free(&h->names);
    json_decref(h->tools);
    json_decref(h->tool_objs);
    json_decref(h->roots);
    mcp_lru_destroy(h->schema_cache);
    free(h->servers);
    mcp_servers_conf_free(&h->servers_conf);
    free(h);
}


/* ------------------------------------------------------------ status */

json_t *
mcp_host_stats(void *ctx)
{
    mcp_host_t       *h = ctx;
    json_t           *servers = json_object(), *o;
    mcp_lru_stats_t   cs;
    size_t            i, ready = 0;

    for (i = 0; i < h->n; i++) {
        json_object_set_new(servers, h->servers[i].sconf->name,
                            mcp_server_stats_json(&h->servers[i]));
        ready += h->servers[i].state == MCP_SRV_READY;
    }
    mcp_lru_stats(h->schema_cache, &cs);
    o = json_pack("{s:I,s:I,s:I,s:o,s:{s:I,s:I,s:I,s:I}}",
        "servers_total", (json_int_t) h->n,
        "servers_ready", (json_int_t) ready,
        "tools", (json_int_t) json_array_size(h->tools),
        "servers", servers,
        "schema_cache", "size", (json_int_t) cs.size,
        "hits", (json_int_t) cs.hits, "misses", (json_int_t) cs.misses,
        "evictions", (json_int_t) cs.evictions);
    return o;
}


json_t *
mcp_host_describe(mcp_host_t *h)
{
    json_t  *servers = json_array(), *s, *map = json_array();
    size_t   i;

    for (i = 0; i < h->n; i++) {
        mcp_server_t  *srv = &h->servers[i];
        if (!srv->sconf->enabled) {
            continue;
        }
        s = mcp_server_stats_json(srv);
        json_object_set_new(s, "name", json_string(srv->sconf->name));
        json_object_set(s, "tools", srv->tools);
        json_object_set(s, "prompts", srv->prompts);
        json_object_set(s, "resources", srv->resources);
        if (srv->instructions) {
            json_object_set_new(s, "instructions",
                                json_string(srv->instructions));
        }
        json_array_append_new(servers, s);
    }
    for (i = 0; i < h->names.n; i++) {
        json_array_append_new(map, json_pack("{s:s,s:s,s:s}",
            "exposed", h->names.items[i].exposed,
            "server", h->names.items[i].server,
            "tool", h->names.items[i].tool));
    }
    return json_pack("{s:o,s:O,s:o}", "servers", servers,
                     "openai_tools", h->tools, "tool_names", map);
}
