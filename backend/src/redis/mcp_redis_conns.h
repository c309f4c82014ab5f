/*
 * The cluster-wide WebSocket count against redis.cluster_max_connections.
 *
 * Each instance publishes how many sessions it has admitted in
 * <prefix>conns:<instance>; only instances with a live heartbeat are
 * summed, so a dead instance's sockets stop counting.  On every OPEN
 * a Lua script sums the live instances' counts; at the cap the new
 * session is closed with 1013 "try again later" (nginx passes the close
 * to the client), otherwise this instance's count goes up; CLOSE brings it
 * down.  With Redis down sessions are admitted (nginx's per-instance
 * mcp_max_connections still holds) and counted locally, and the count is
 * published again when Redis returns.
 */

#ifndef MCP_REDIS_CONNS_H
#define MCP_REDIS_CONNS_H

#include "core/mcp_daemon.h"
#include "redis/mcp_redis.h"
#include "util/mcp_strmap.h"

typedef struct {
    mcp_redis_t    *redis;
    int64_t         admitted;      /* open sessions counted here */
    mcp_strmap_t   *refused;       /* sessions closed with 1013 */
    uint64_t        rejected;
    uint64_t        unchecked;
} mcp_redis_conns_t;

int mcp_redis_conns_init(mcp_redis_conns_t *c, mcp_daemon_t *d,
    mcp_redis_t *redis);
void mcp_redis_conns_free(mcp_redis_conns_t *c);
/* Publish the local count (heartbeat, reconnect). */
void mcp_redis_conns_publish(mcp_redis_conns_t *c);
void mcp_redis_conns_stats(mcp_redis_conns_t *c, json_t *o);

#endif /* MCP_REDIS_CONNS_H */
