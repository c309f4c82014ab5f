/*
 * One MCP server: lifecycle and messages (see mcp_client.h); its requests
 * are in mcp_client_req.c, its lists in mcp_client_lists.c.
 */

#include "mcp/mcp_client_int.h"
#include "mcp/mcp_jsonrpc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>


static const char *const  mcp_protocols[] = {
    "2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05", NULL
};

static void mcp_server_attempt(mcp_server_t *srv);
static void mcp_server_lost(mcp_server_t *srv, const char *why, int config);


const char *
mcp_server_state_name(int state)
{
    switch (state) {
    case MCP_SRV_DISABLED:  return "disabled";
    case MCP_SRV_STARTING:  return "starting";
    case MCP_SRV_READY:     return "ready";
    case MCP_SRV_BACKOFF:   return "backoff";
    case MCP_SRV_FAILED:    return "failed";
    default:                return "stopped";
    }
}


/* ------------------------------------------------------------ messages */

static void
mcp_server_answer(mcp_server_t *srv, json_t *msg)
{
    const char  *method = json_string_value(json_object_get(msg, "method"));
    json_t      *id = json_object_get(msg, "id");
    char         text[160];

    if (strcmp(method, "ping") == 0) {
        mcp_server_send(srv, mcp_rpc_result(id, json_object()));
    } else if (strcmp(method, "roots/list") == 0) {
        mcp_server_send(srv, mcp_rpc_result(id, json_pack("{s:O}", "roots",
                                                          srv->roots)));
    } else {
        /* never leave a server waiting: say no, clearly */
        snprintf(text, sizeof(text), "mcpd does not support '%.80s'", method);
        mcp_log_info(srv->log, "mcp", "%s: declined server request %s",
                     srv->sconf->name, method);
        mcp_server_send(srv, mcp_rpc_error(id, MCP_RPC_METHOD_NOT_FOUND,
                                           text));
    }
}


static void
mcp_server_progress(mcp_server_t *srv, json_t *params)
{
    int64_t  token;

    if (mcp_rpc_id_int(json_object_get(params, "progressToken"), &token)
        == 0)
    {
        mcp_req_progress(srv, token);
    }
}


static void
mcp_server_notified(mcp_server_t *srv, json_t *msg)
{
    const char  *m = json_string_value(json_object_get(msg, "method"));
    json_t      *params = json_object_get(msg, "params");
    char        *data;

    if (strcmp(m, "notifications/progress") == 0) {
        mcp_server_progress(srv, params);
    } else if (strcmp(m, "notifications/tools/list_changed") == 0) {
        mcp_server_list(srv, 0, NULL, NULL);
    } else if (strcmp(m, "notifications/prompts/list_changed") == 0) {
        mcp_server_list(srv, 1, NULL, NULL);
    } else if (strcmp(m, "notifications/resources/list_changed") == 0) {
        mcp_server_list(srv, 2, NULL, NULL);
    } else if (strcmp(m, "notifications/resources/updated") == 0) {
        if (json_is_string(json_object_get(params, "uri"))
            && srv->owner.resource_updated)
        {
            srv->owner.resource_updated(srv->owner.ctx, srv,
                json_string_value(json_object_get(params, "uri")));
        }
    } else if (strcmp(m, "notifications/message") == 0) {
        data = json_dumps(json_object_get(params, "data"),
                          JSON_COMPACT | JSON_ENCODE_ANY);
        mcp_log_info(srv->log, "mcp", "%s: log %s: %.300s", srv->sconf->name,
                     json_string_value(json_object_get(params, "level"))
                     ? json_string_value(json_object_get(params, "level"))
                     : "?", data ? data : "");
        free(data);
    } else {
        mcp_log_debug(srv->log, "mcp", "%s: notification %s",
                      srv->sconf->name, m);
    }
}


static void
mcp_server_on_message(void *ctx, json_t *msg)
{
    mcp_server_t  *srv = ctx;
    const char    *why;
    int64_t        id;

    switch (mcp_rpc_classify(msg, &why)) {
    case MCP_RPC_RESULT:
    case MCP_RPC_ERROR:
        if (mcp_rpc_id_int(json_object_get(msg, "id"), &id) != 0
            || mcp_req_answer(srv, id, json_object_get(msg, "result"),
                              json_object_get(msg, "error")) != 0)
        {
            /* late answer to a request that timed out or was cancelled */
            mcp_log_debug(srv->log, "mcp", "%s: reply to no pending request",
                          srv->sconf->name);
        }
        return;
    case MCP_RPC_REQUEST:
        mcp_server_answer(srv, msg);
        return;
    case MCP_RPC_NOTIFICATION:
        mcp_server_notified(srv, msg);
        return;
    default:
        mcp_log_warn(srv->log, "mcp", "%s: invalid JSON-RPC message: %s",
                     srv->sconf->name, why);
    }
}


static void
mcp_server_on_closed(void *ctx, const char *why, int config_error)
{
    mcp_server_t  *srv = ctx;

    srv->tr = NULL;    /* it frees itself */
    mcp_server_lost(srv, why, config_error);
}


static void
mcp_server_on_send_failed(void *ctx, int64_t id, const char *why)
{
    mcp_req_send_failed(ctx, id, why);
}


/* ------------------------------------------------------------ lifecycle */

static void
mcp_server_retry(uv_timer_t *t)
{
    mcp_server_attempt(t->data);
}


static void
mcp_server_schedule_retry(mcp_server_t *srv)
{
    const mcp_mcp_connection_conf_t  *c = &srv->conf->connection;
    uint64_t                          delay = (uint64_t)
                                              c->initial_reconnect_delay_ms;
    unsigned                          i;

    for (i = 1; i < srv->attempts && delay < (uint64_t)
                                              c->max_reconnect_delay_ms; i++)
    {
        delay *= 2;
    }
    if (delay > (uint64_t) c->max_reconnect_delay_ms) {
        delay = (uint64_t) c->max_reconnect_delay_ms;
    }
    /* equal jitter: half fixed, half random, so restarts do not align */
    delay = delay / 2 + (uint64_t) rand_r(&srv->seed) % (delay / 2 + 1);

    srv->state = MCP_SRV_BACKOFF;
    mcp_log_info(srv->log, "mcp", "%s: retrying in %.1fs (attempt %u)",
                 srv->sconf->name, (double) delay / 1000.0, srv->attempts + 1);
    uv_timer_start(&srv->retry_timer, mcp_server_retry, delay, 0);
}


/* the connection is gone (or never came): fail what waits, maybe retry */
static void
mcp_server_lost(mcp_server_t *srv, const char *why, int config_error)
{
    const mcp_mcp_connection_conf_t  *c = &srv->conf->connection;
    char                              text[320];
    int                               was_ready = srv->state == MCP_SRV_READY;

    if (srv->state == MCP_SRV_STOPPED || srv->state == MCP_SRV_FAILED) {
        return;
    }
    snprintf(srv->last_error, sizeof(srv->last_error), "%s", why);
    uv_timer_stop(&srv->ping_timer);
    srv->ping_out = 0;
    if (srv->tr) {
        mcp_transport_t  *tr = srv->tr;
        srv->tr = NULL;
        tr->close(tr);
    }
    srv->state = MCP_SRV_BACKOFF;
    srv->listing = 0;

    snprintf(text, sizeof(text), "%s: server %s (%.200s)", srv->sconf->name,
             was_ready ? "went away" : "failed to start", why);
    /* what was sent is lost with the connection; what waits for the
       server to be ready waits on for the next attempt */
    mcp_server_fail_reqs(srv, text, 0);

    if (was_ready) {
        srv->stats.restarts++;
        srv->attempts = 1;
        mcp_log_warn(srv->log, "mcp", "%s: lost (%s); restarting",
                     srv->sconf->name, why);
    } else {
        srv->stats.starts_failed++;
        srv->attempts++;
        mcp_log_warn(srv->log, "mcp", "%s: start failed: %s",
                     srv->sconf->name, why);
    }

    if (config_error || (c->max_reconnect_attempts > 0
                         && srv->attempts >= (unsigned)
                                             c->max_reconnect_attempts))
    {
        srv->state = MCP_SRV_FAILED;
        if (!config_error) {
            snprintf(srv->last_error, sizeof(srv->last_error), "gave up "
                     "after %u attempts; last: %.200s", srv->attempts, why);
        }
        mcp_log_error(srv->log, "mcp", "%s: %s; not retrying",
                      srv->sconf->name, srv->last_error);
        mcp_server_fail_reqs(srv, srv->last_error, 1);
    } else {
        mcp_server_schedule_retry(srv);
    }
    mcp_server_settle(srv);
}


static void
mcp_server_ping_done(void *ctx, json_t *result, json_t *error,
    const char *failure)
{
    mcp_server_t  *srv = ctx;
    char           why[160];

    srv->ping_out = 0;
    if (failure != NULL && srv->state == MCP_SRV_READY) {
        /* a JSON-RPC error still proves it is alive; silence does not */
        snprintf(why, sizeof(why), "no answer to ping within %.1fs",
                 (double) srv->conf->connection.ping_timeout_ms / 1000.0);
        mcp_server_lost(srv, why, 0);
    }
}


static void
mcp_server_ping(uv_timer_t *t)
{
    mcp_server_t  *srv = t->data;

    if (srv->state != MCP_SRV_READY || srv->ping_out) {
        return;
    }
    srv->ping_out = 1;
    mcp_server_request_any(srv, "ping", NULL,
                           srv->conf->connection.ping_timeout_ms,
                           mcp_server_ping_done, srv, 0);
}


static int
mcp_server_protocol_ok(const char *v)
{
    const char *const  *p;

    for (p = mcp_protocols; v && *p; p++) {
        if (strcmp(*p, v) == 0) {
            return 1;
        }
    }
    return 0;
}


static void
mcp_server_init_done(void *ctx, json_t *result, json_t *error,
    const char *failure)
{
    mcp_server_t  *srv = ctx;
    const char    *v, *instr;
    char           why[256], etext[160];

    if (srv->state != MCP_SRV_STARTING) {
        return;    /* failed while waiting (transport closed) */
    }
    if (error != NULL) {
        snprintf(why, sizeof(why), "initialize refused: %s",
                 mcp_rpc_error_text(error, etext, sizeof(etext)));
        mcp_server_lost(srv, why, 0);
        return;
    }
    if (failure != NULL) {
        mcp_server_lost(srv, failure, 0);
        return;
    }
    v = json_string_value(json_object_get(result, "protocolVersion"));
    if (!mcp_server_protocol_ok(v)) {
        snprintf(why, sizeof(why), "server speaks protocol '%.40s', mcpd "
                 "supports 2024-11-05 to " MCP_PROTOCOL_LATEST,
                 v ? v : "(none)");
        mcp_server_lost(srv, why, 0);
        return;
    }

    snprintf(srv->protocol, sizeof(srv->protocol), "%s", v);
    json_decref(srv->server_info);
    json_decref(srv->capabilities);
    free(srv->instructions);
    srv->server_info = json_incref(json_object_get(result, "serverInfo"));
    srv->capabilities = json_incref(json_object_get(result, "capabilities"));
    instr = json_string_value(json_object_get(result, "instructions"));
    srv->instructions = instr ? strdup(instr) : NULL;

    srv->tr->set_protocol(srv->tr, v);
    mcp_server_send(srv, mcp_rpc_notification("notifications/initialized",
                                              NULL));
    srv->state = MCP_SRV_READY;
    srv->attempts = 0;
    srv->last_error[0] = '\0';
    srv->ever_ready = 1;
    srv->ready_at = uv_now(srv->loop);
    mcp_log_info(srv->log, "mcp", "%s: ready (%s, protocol %s)",
                 srv->sconf->name,
                 json_string_value(json_object_get(srv->server_info, "name"))
                 ? json_string_value(json_object_get(srv->server_info, "name"))
                 : "?", v);

    mcp_server_send_waiting(srv);

    if (srv->conf->connection.ping_interval_ms > 0) {
        uv_timer_start(&srv->ping_timer, mcp_server_ping,
                       (uint64_t) srv->conf->connection.ping_interval_ms,
                       (uint64_t) srv->conf->connection.ping_interval_ms);
    }
    mcp_server_list_all(srv);
}


static json_t *
mcp_server_init_params(mcp_server_t *srv)
{
    json_t  *caps = json_object();

    if (json_array_size(srv->roots) > 0) {
        /* only on purpose: some servers replace their own paths with ours */
        json_object_set_new(caps, "roots", json_pack("{s:b}", "listChanged",
                                                     0));
    }
    return json_pack("{s:s,s:o,s:{s:s,s:s}}",
                     "protocolVersion", MCP_PROTOCOL_LATEST,
                     "capabilities", caps,
                     "clientInfo", "name", "mcpd", "version", "0.1.0");
}


static void
mcp_server_attempt(mcp_server_t *srv)
{
    mcp_transport_env_t   env;
    char                  err[256];
    int                   config_error = 0;

    if (srv->stopped) {
        return;
    }
    memset(&env, 0, sizeof(env));
    env.loop = srv->loop;
    env.conf = srv->sconf;
    env.log = srv->log;
    env.max_message = (size_t) srv->conf->max_message_size;
    env.cb.ctx = srv;
    env.cb.message = mcp_server_on_message;
    env.cb.closed = mcp_server_on_closed;
    env.cb.send_failed = mcp_server_on_send_failed;

    srv->state = MCP_SRV_STARTING;
    err[0] = '\0';
    srv->tr = srv->sconf->transport == MCP_TRANSPORT_STDIO
              ? mcp_stdio_start(&env, err, sizeof(err), &config_error)
              : mcp_http_start(&env, err, sizeof(err), &config_error);
    if (srv->tr == NULL) {
        mcp_server_lost(srv, err, config_error);
        return;
    }
    mcp_server_request_any(srv, "initialize", mcp_server_init_params(srv),
                           srv->conf->connection.connection_timeout_ms,
                           mcp_server_init_done, srv, 1);
}


void
mcp_server_init(mcp_server_t *srv, uv_loop_t *loop, const mcp_mcp_conf_t *conf,
    const mcp_server_conf_t *sconf, const mcp_log_t *log, const json_t *roots,
    mcp_server_owner_t owner)
{
    memset(srv, 0, sizeof(*srv));
    srv->loop = loop;
    srv->conf = conf;
    srv->sconf = sconf;
    srv->log = log;
    srv->roots = roots;
    srv->owner = owner;
    srv->state = sconf->enabled ? MCP_SRV_STOPPED : MCP_SRV_DISABLED;
    srv->seed = (unsigned) getpid() ^ (unsigned) uv_hrtime()
                ^ (unsigned) (uintptr_t) srv;
    srv->tools = json_array();
    srv->prompts = json_array();
    srv->resources = json_array();
    mcp_hist_reset(&srv->stats.latency_ms);
    uv_timer_init(loop, &srv->retry_timer);
    uv_timer_init(loop, &srv->ping_timer);
    srv->retry_timer.data = srv->ping_timer.data = srv;
}


void
mcp_server_start(mcp_server_t *srv)
{
    if (srv->state == MCP_SRV_DISABLED) {
        srv->settled = 1;
        return;
    }
    mcp_server_attempt(srv);
}


static void
mcp_server_timer_closed(uv_handle_t *h)
{
    mcp_server_t  *srv = h->data;

    if (--srv->handles == 0) {
        json_decref(srv->server_info);
        json_decref(srv->capabilities);
        json_decref(srv->tools);
        json_decref(srv->prompts);
        json_decref(srv->resources);
        free(srv->instructions);
        srv->server_info = srv->capabilities = NULL;
        srv->tools = srv->prompts = srv->resources = NULL;
        srv->instructions = NULL;
        if (srv->destroyed) {
            srv->destroyed(srv->destroyed_ctx);
        }
    }
}


void
mcp_server_stop(mcp_server_t *srv, void (*done)(void *ctx), void *ctx)
{
    mcp_transport_t  *tr = srv->tr;

    srv->state = MCP_SRV_STOPPED;
    srv->stopped = 1;
    srv->tr = NULL;
    mcp_server_fail_reqs(srv, "mcpd is stopping", 1);
    if (tr) {
        tr->close(tr);
    }
    srv->destroyed = done;
    srv->destroyed_ctx = ctx;
    srv->handles = 2;
    uv_close((uv_handle_t *) &srv->retry_timer, mcp_server_timer_closed);
    uv_close((uv_handle_t *) &srv->ping_timer, mcp_server_timer_closed);
}


json_t *
mcp_server_stats_json(const mcp_server_t *srv)
{
    const mcp_server_stats_t  *st = &srv->stats;
    json_t                    *o;

    o = json_pack("{s:s,s:s,s:s?,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}",
        "state", mcp_server_state_name(srv->state),
        "transport", mcp_transport_name(srv->sconf->transport),
        "protocol_version", srv->protocol[0] ? srv->protocol : NULL,
        "tools", (json_int_t) json_array_size(srv->tools),
        "prompts", (json_int_t) json_array_size(srv->prompts),
        "resources", (json_int_t) json_array_size(srv->resources),
        "calls", (json_int_t) st->calls,
        "errors", (json_int_t) st->errors,
        "timeouts", (json_int_t) st->timeouts,
        "restarts", (json_int_t) st->restarts,
        "failed_starts", (json_int_t) st->starts_failed,
        "pid", (json_int_t) (srv->tr ? srv->tr->pid : 0));
    json_object_set_new(o, "latency_ms", json_pack("{s:I,s:I}",
        "p50", (json_int_t) mcp_hist_quantile(&st->latency_ms, 0.50),
        "p99", (json_int_t) mcp_hist_quantile(&st->latency_ms, 0.99)));
    if (srv->last_error[0]) {
        json_object_set_new(o, "last_error", json_string(srv->last_error));
    }
    if (srv->server_info) {
        json_object_set(o, "server_info", srv->server_info);
    }
    return o;
}
