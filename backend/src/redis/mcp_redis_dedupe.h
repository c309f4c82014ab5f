/*
 * Request-id dedupe across instances.  Wraps the "chat" action: before a
 * chat runs, the instance claims <prefix>req:<principal>:<conversation or
 * ->:<request_id> in Redis (SET NX GET, TTL dedupe_ttl).  The first
 * instance to claim it runs the request; the same instance seeing it again
 * hands it to the chat service, whose own replay/attach answers it; another
 * instance answers `duplicate_request` naming the owner, so a retry that
 * lands elsewhere never makes a second model call.  With Redis down the
 * claim is skipped (a fallback): each instance dedupes locally only.
 */

#ifndef MCP_REDIS_DEDUPE_H
#define MCP_REDIS_DEDUPE_H

#include "core/mcp_daemon.h"
#include "redis/mcp_redis.h"

typedef struct {
    mcp_redis_t    *redis;
    mcp_action_next_t next;        /* the chat action we wrap */
    uint64_t        claimed;       /* first seen here: ran here */
    uint64_t        repeats;       /* seen again here: chat replays */
    uint64_t        duplicates;    /* owned by another instance: refused */
    uint64_t        unchecked;     /* Redis not up: local dedupe only */
} mcp_redis_dedupe_t;

/* Wrap d's "chat" action (before or after chat/ registers it); 0 or -1. */
int mcp_redis_dedupe_init(mcp_redis_dedupe_t *dd, mcp_daemon_t *d,
    mcp_redis_t *redis);
void mcp_redis_dedupe_stats(mcp_redis_dedupe_t *dd, json_t *o);

#endif /* MCP_REDIS_DEDUPE_H */
