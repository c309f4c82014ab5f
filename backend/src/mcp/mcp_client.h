/*
 * One MCP server as mcpd sees it: its connection attempts (transport),
 * the lifecycle (initialize, initialized, ping, restart with backoff), the
 * requests in flight with their timeouts, and the lists it serves.
 *
 * States: starting -> ready; any failure -> backoff -> starting ...;
 * after connection.max_reconnect_attempts consecutive failed starts, or a
 * configuration error, -> failed (for good).  Requests need `ready`;
 * others fail at once (asynchronously, never inside the caller's call).
 */

#ifndef MCP_CLIENT_H
#define MCP_CLIENT_H

#include <jansson.h>
#include <stdint.h>
#include <uv.h>

#include "core/mcp_log.h"
#include "mcp/mcp_host_conf.h"
#include "mcp/mcp_servers_conf.h"
#include "mcp/mcp_transport.h"
#include "util/mcp_hist.h"

#define MCP_PROTOCOL_LATEST  "2025-11-25"

typedef enum {
    MCP_SRV_DISABLED = 0,
    MCP_SRV_STARTING,
    MCP_SRV_READY,
    MCP_SRV_BACKOFF,
    MCP_SRV_FAILED,
    MCP_SRV_STOPPED
} mcp_srv_state_e;

typedef struct mcp_server_s  mcp_server_t;
typedef struct mcp_req_s     mcp_req_t;

/*
 * The outcome of a request: exactly one of result (the JSON-RPC result),
 * error (the JSON-RPC error object) or failure (a local reason: timeout,
 * server gone, not ready) is set.  All borrowed for the call's duration.
 */
typedef void (*mcp_req_done_pt)(void *ctx, json_t *result, json_t *error,
    const char *failure);

/* which list a change is about */
typedef enum {
    MCP_LIST_TOOLS = 0,
    MCP_LIST_PROMPTS = 1,
    MCP_LIST_RESOURCES = 2
} mcp_list_kind_e;

/* What the server tells its owner (the host). */
typedef struct {
    void  *ctx;
    /* a list (mcp_list_kind_e) was read again, whole (after all its pages):
       at start, after a restart, on notifications/.../list_changed */
    void (*lists_changed)(void *ctx, mcp_server_t *srv, int kind);
    /* notifications/resources/updated: a subscribed resource changed */
    void (*resource_updated)(void *ctx, mcp_server_t *srv, const char *uri);
    /* first start finished: ready with lists, or the first attempt failed */
    void (*settled)(void *ctx, mcp_server_t *srv);
} mcp_server_owner_t;

typedef struct {
    uint64_t    calls;
    uint64_t    errors;        /* JSON-RPC errors, isError results, failures */
    uint64_t    timeouts;
    uint64_t    restarts;
    uint64_t    starts_failed;
    mcp_hist_t  latency_ms;
} mcp_server_stats_t;

struct mcp_server_s {
    uv_loop_t                  *loop;
    const mcp_mcp_conf_t       *conf;
    const mcp_server_conf_t    *sconf;
    const mcp_log_t            *log;
    const json_t               *roots;        /* [{uri, name}] */
    mcp_server_owner_t          owner;

    int                         state;
    char                        last_error[256];
    mcp_transport_t            *tr;
    int64_t                     next_id;
    mcp_req_t                  *reqs;         /* in flight, doubly linked */
    unsigned                    attempts;     /* consecutive failed starts */
    int                         settled;
    int                         stopped;      /* mcp_server_stop() called */
    int                         ever_ready;
    int                         listing;      /* lists still loading */
    unsigned                    seed;
    uint64_t                    ready_at;

    uv_timer_t                  retry_timer;
    uv_timer_t                  ping_timer;
    int                         ping_out;

    char                        protocol[32];
    json_t                     *server_info;
    json_t                     *capabilities;
    char                       *instructions;
    json_t                     *tools;        /* arrays, last complete list */
    json_t                     *prompts;
    json_t                     *resources;

    mcp_server_stats_t          stats;
    int                         handles;      /* for destroy */
    void                      (*destroyed)(void *ctx);
    void                       *destroyed_ctx;
};

void mcp_server_init(mcp_server_t *srv, uv_loop_t *loop,
    const mcp_mcp_conf_t *conf, const mcp_server_conf_t *sconf,
    const mcp_log_t *log, const json_t *roots, mcp_server_owner_t owner);
void mcp_server_start(mcp_server_t *srv);
/* Stop for good: pending requests fail, the transport closes gracefully,
   done(ctx) is called once the timers are closed (the struct may go). */
void mcp_server_stop(mcp_server_t *srv, void (*done)(void *ctx), void *ctx);

/*
 * Send a request.  params is stolen.  timeout_ms 0: mcp.call_timeout (or
 * the server's own).  Progress notifications for it extend the deadline
 * (up to mcp.max_call_duration).  done is always called exactly once,
 * later, unless mcp_req_cancel() is called first.  Returns the request
 * (for cancel) or NULL on ENOMEM.
 */
mcp_req_t *mcp_server_request(mcp_server_t *srv, const char *method,
    json_t *params, int64_t timeout_ms, mcp_req_done_pt done, void *ctx);
/* Abandon a request: notifications/cancelled goes to the server; done is
   not called. */
void mcp_req_cancel(mcp_req_t *req, const char *reason);

const char *mcp_server_state_name(int state);
json_t *mcp_server_stats_json(const mcp_server_t *srv);

#endif /* MCP_CLIENT_H */
