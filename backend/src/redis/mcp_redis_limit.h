/*
 * Fleet-wide provider rate limits and instance heartbeats over Redis.
 *
 * RPM and TPM are sliding 60 s windows kept in Redis sorted sets and
 * checked-and-charged by one Lua script, so the check and the charge are
 * one atomic step for the whole fleet: N instances together stay within
 * the provider's limit, not N times it (LiteLLM's overshoot came from a
 * local check before a shared write).  Time is Redis' own (TIME inside
 * the script), so instance clocks do not matter.  A request's settle
 * replaces its reservation by the tokens really used, at the
 * reservation's own time, and wakes the queue when tokens came back.
 *
 * It plugs into the llm layer as its admission gate (mcp_llm_set_gate):
 * after the local limiter admits the head of a provider's queue, the gate
 * asks Redis.  The answer comes back asynchronously: the first ask returns
 * "wait" and the reply kicks the provider's queue, which then finds a
 * granted permit.  When Redis is not up the gate says "no shared state"
 * and the local limiter alone decides (counted as a fallback).  An error
 * reply (an ACL denying the keys) is handled like Redis being down: local
 * limits for a backoff (reconnect_min doubling up to reconnect_max), then
 * one more ask; never an immediate resend.
 *
 * Heartbeats: every heartbeat_interval the instance refreshes
 * <prefix>instance:<id> (TTL heartbeat_ttl) and its entry in the
 * <prefix>instances sorted set; status shows how many are alive.
 */

#ifndef MCP_REDIS_LIMIT_H
#define MCP_REDIS_LIMIT_H

#include <jansson.h>
#include <uv.h>

#include "llm/mcp_llm.h"
#include "redis/mcp_redis.h"

#define MCP_REDIS_LIMIT_MAX_PROVIDERS  32
#define MCP_REDIS_LIMIT_WINDOW_MS      60000

typedef struct mcp_redis_limit_s  mcp_redis_limit_t;

typedef struct {
    mcp_redis_limit_t  *lim;
    char                name[96];
    int                 pending;       /* an acquire is on its way */
    int64_t             granted;       /* permits taken, not yet used */
    uint64_t            ask_seq;       /* the window member asked for */
    uint64_t            grant_seq;     /* the one granted (the ticket) */
    uint64_t            retry_at;      /* the window is full until then */
    uint64_t            local_until;   /* Redis refused: local until then */
    int64_t             refused_ms;    /* that backoff; doubles, 0 on ok */
    uint64_t            shared_admits;
    uint64_t            shared_waits;
    uint64_t            local_admits;  /* Redis was not up */
} mcp_redis_rl_provider_t;

struct mcp_redis_limit_s {
    mcp_redis_t               *redis;
    mcp_llm_t                 *llm;         /* NULL: no llm layer */
    uv_timer_t                 heartbeat;
    int                        closing;
    uint64_t                   seq;         /* unique window members */
    int64_t                    window_ms;   /* 60 s; tests shorten it */
    int64_t                    live_instances;  /* -1: unknown */
    mcp_redis_rl_provider_t    provs[MCP_REDIS_LIMIT_MAX_PROVIDERS];
    size_t                     nprovs;
};

int mcp_redis_limit_init(mcp_redis_limit_t *lim, mcp_redis_t *redis,
    mcp_llm_t *llm);
/* The llm admission gate over this limit (init installs it). */
void mcp_redis_limit_gate(mcp_redis_limit_t *lim, mcp_llm_gate_t *gate);
/* Stop the heartbeat, detach from llm; close_cb when the timer closed. */
void mcp_redis_limit_close(mcp_redis_limit_t *lim, uv_close_cb close_cb);
/* Add "rate_limits" and "instances" to the redis status object. */
void mcp_redis_limit_stats(mcp_redis_limit_t *lim, json_t *o);

#endif /* MCP_REDIS_LIMIT_H */
