/*
 * Redis as an mcpd subsystem: started when mcpd.yaml has `redis.address`,
 * otherwise nothing at all (no status key, no hooks).  Registers the
 * "redis" status section and the llm layer's fleet-wide admission gate;
 * its stop hook closes the connection.
 */

#ifndef MCP_REDIS_DAEMON_H
#define MCP_REDIS_DAEMON_H

#include "core/mcp_daemon.h"

int mcp_redis_daemon_init(mcp_daemon_t *d, mcp_err_t *err);

#endif /* MCP_REDIS_DAEMON_H */
