#ifndef MCP_REDIS_UV_H
#define MCP_REDIS_UV_H

#include <hiredis/async.h>
#include <uv.h>

/*
 * Runs a hiredis async context on a libuv loop: one uv_poll on its socket,
 * watching what hiredis asks for.  Used instead of hiredis 0.14's own
 * adapters/libuv.h, which ignores a poll error; see mcp_redis_uv.c.
 * REDIS_OK, or REDIS_ERR (the context is left untouched).
 */
int mcp_redis_uv_attach(redisAsyncContext *ac, uv_loop_t *loop);

#endif
