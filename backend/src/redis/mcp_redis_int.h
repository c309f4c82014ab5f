/*
 * What mcp_redis.c (the connection) and mcp_redis_cmd.c (commands and
 * their deadlines) share; not for other subsystems.
 */

#ifndef MCP_REDIS_INT_H
#define MCP_REDIS_INT_H

#include "redis/mcp_redis.h"

void mcp_redis_set_error(mcp_redis_t *r, const char *why);
/* Drop the connection soon, outside any hiredis callback. */
void mcp_redis_schedule_drop(mcp_redis_t *r, const char *why);
/* One of our uv handles closed (the last one after close: closed()). */
void mcp_redis_handles_dec(mcp_redis_t *r);
/* Queue a command or script; also for the handshake (before UP). */
int mcp_redis_submit(mcp_redis_t *r, mcp_redis_script_t *s, int nkeys,
    mcp_redis_cb_pt cb, void *data, int argc, const char **argv,
    const size_t *lens);

#endif /* MCP_REDIS_INT_H */
