/*
 * list_conversations across homes: conversations live in their homes'
 * stores, so the instance that gets the request asks every live instance
 * (fan-out through mcp_redis_fwd.h) and itself, and merges the pages,
 * newest first.  Chosen over a per-principal index in Redis because the
 * stores stay the only truth (titles, counts, updated_at change with every
 * turn) and nothing in Redis has to follow them.  An instance that does
 * not answer in time is left out and the answer says `partial: true`.
 * Redis down: this instance's conversations only (also `partial`).
 */

#ifndef MCP_REDIS_LIST_H
#define MCP_REDIS_LIST_H

#include "core/mcp_daemon.h"
#include "redis/mcp_redis.h"
#include "redis/mcp_redis_fwd.h"

typedef struct {
    mcp_daemon_t       *d;
    mcp_redis_t        *redis;
    mcp_redis_fwd_t    *fwd;
    mcp_action_next_t   list;
    uint64_t            fanouts;
    uint64_t            partial;
} mcp_redis_list_t;

int mcp_redis_list_init(mcp_redis_list_t *l, mcp_daemon_t *d,
    mcp_redis_t *redis, mcp_redis_fwd_t *fwd);
void mcp_redis_list_stats(mcp_redis_list_t *l, json_t *o);

#endif /* MCP_REDIS_LIST_H */
