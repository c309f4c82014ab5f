/*
 * One connection attempt to one MCP server: stdio child or HTTP session.
 *
 * The server object (mcp_client.c) creates a transport per attempt, sends
 * JSON-RPC messages through it and gets every message the server sends
 * back through cb.message.  cb.closed is called at most once, when the
 * transport can no longer carry messages (child exited, stream gone,
 * session expired); after it, or after the owner calls close(), the
 * transport calls nothing and frees itself once its handles are closed.
 */

#ifndef MCP_TRANSPORT_H
#define MCP_TRANSPORT_H

#include <jansson.h>
#include <stdint.h>
#include <uv.h>

#include "core/mcp_log.h"
#include "mcp/mcp_servers_conf.h"

typedef struct mcp_transport_s  mcp_transport_t;

typedef struct {
    void  *ctx;
    /* a message from the server (borrowed) */
    void (*message)(void *ctx, json_t *msg);
    /* the transport is dead; config_error: retrying cannot help */
    void (*closed)(void *ctx, const char *why, int config_error);
    /* HTTP only: the POST carrying request `id` failed (no reply will come) */
    void (*send_failed)(void *ctx, int64_t id, const char *why);
} mcp_transport_cb_t;

typedef struct {
    uv_loop_t                 *loop;
    const mcp_server_conf_t   *conf;
    const mcp_log_t           *log;
    size_t                     max_message;
    mcp_transport_cb_t         cb;
} mcp_transport_env_t;

struct mcp_transport_s {
    const char  *kind;
    int        (*send)(mcp_transport_t *t, const json_t *msg);
    /* HTTP: after initialize, every request carries these */
    void       (*set_protocol)(mcp_transport_t *t, const char *version);
    /* graceful shutdown; no callbacks after this */
    void       (*close)(mcp_transport_t *t);
    int          pid;        /* stdio child, 0 otherwise */
};

/* Start a transport.  NULL with err set on an immediate failure. */
mcp_transport_t *mcp_stdio_start(const mcp_transport_env_t *env,
    char *err, size_t err_size, int *config_error);
mcp_transport_t *mcp_http_start(const mcp_transport_env_t *env,
    char *err, size_t err_size, int *config_error);

#endif /* MCP_TRANSPORT_H */
