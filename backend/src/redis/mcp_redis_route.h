/*
 * Where a conversation's requests run (docs/operations.md, "Scaling
 * out").  Wraps the actions chat, history, delete_conversation and cancel
 * (mcp_daemon_wrap_action: independent of start order).
 *
 * Each conversation has a home: the instance recorded in
 * <prefix>home:<conversation> when it was first used (SET NX inside one
 * Lua script, so two instances racing to create the same client-chosen id
 * agree).  A request for a conversation whose home is this instance runs
 * here; one whose home is another live instance is forwarded there
 * (mcp_redis_fwd.h); one whose home's heartbeat expired is answered
 * `conversation_unavailable`, never run here on a partial history.
 *
 * A chat without conversation_id gets its id here (a random UUID) so its
 * home is known before it runs, and its request id is recorded for
 * dedupe_ttl in <prefix>req:<principal>:<request_id>: a retry of it on any
 * instance goes to the same conversation's home, which replays the stored
 * answer or attaches to the running one.
 *
 * Redis down: new conversations start here (their homes are recorded when
 * Redis returns); a conversation this instance's store has runs here; any
 * other is `conversation_unavailable` (it may live elsewhere).
 *
 * A delete_conversation that removed the conversation from this store
 * releases its home record (if it still names this instance; with Redis
 * down, when Redis returns): the id is free to start afresh anywhere.
 */

#ifndef MCP_REDIS_ROUTE_H
#define MCP_REDIS_ROUTE_H

#include "core/mcp_daemon.h"
#include "redis/mcp_redis.h"
#include "redis/mcp_redis_fwd.h"
#include "repo/mcp_repo.h"
#include "util/mcp_strmap.h"

/* homes waiting for Redis to return (recorded, or released), at most this
   many of each; beyond it new conversations wait, and releases are lost */
#define MCP_ROUTE_UNRECORDED_MAX  100000

typedef struct {
    mcp_daemon_t       *d;
    mcp_redis_t        *redis;
    mcp_redis_fwd_t    *fwd;
    mcp_repo_t         *repo;          /* NULL: no store (then no checks) */
    mcp_action_next_t   chat, history, del, cancel;
    mcp_strmap_t       *unrecorded;    /* homes made while Redis was down */
    mcp_strmap_t       *unreleased;    /* deleted while Redis was down */
    struct mcp_route_op_s *pending;    /* messages not routed yet */

    /* status */
    uint64_t            local;         /* ran here: this is the home */
    uint64_t            forwarded;     /* sent to the home */
    uint64_t            retries;       /* a request id seen before */
    uint64_t            unavailable;   /* home gone, or unknown while down */
    uint64_t            unchecked;     /* Redis down: decided locally */
    uint64_t            takeovers;     /* homes moved here (same store) */
    uint64_t            homes_released; /* records deleted with their
                                           conversation */
} mcp_redis_route_t;

int mcp_redis_route_init(mcp_redis_route_t *rt, mcp_daemon_t *d,
    mcp_redis_t *redis, mcp_redis_fwd_t *fwd, mcp_repo_t *repo);
void mcp_redis_route_free(mcp_redis_route_t *rt);
void mcp_redis_route_stats(mcp_redis_route_t *rt, json_t *o);

#endif /* MCP_REDIS_ROUTE_H */
