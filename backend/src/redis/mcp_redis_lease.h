/*
 * A lock with a lease in Redis: SET key token NX PX lease to take it, a
 * Lua compare-and-PEXPIRE every lease/3 to keep it, a Lua compare-and-
 * delete to give it back.  Only the holder's token can renew or release
 * it, and a holder that dies (or loses Redis) loses it when the lease runs
 * out, so it never blocks the others for longer than that.  Used where
 * two instances could both act on a conversation's home: taking over the
 * conversations of an instance that came back under a new name
 * (mcp_redis_route.c).
 */

#ifndef MCP_REDIS_LEASE_H
#define MCP_REDIS_LEASE_H

#include <stdint.h>

#include "redis/mcp_redis.h"

typedef struct mcp_redis_lease_s  mcp_redis_lease_t;

/* acquired: 1 (held now), 0 (someone else holds it), -1 (Redis error) */
typedef void (*mcp_redis_lease_pt)(mcp_redis_lease_t *l, int acquired,
    void *data);

struct mcp_redis_lease_s {
    mcp_redis_t         *redis;
    char                 key[300];
    char                 token[160];
    int64_t              lease_ms;
    int                  held;
    int                  renewals;
    uv_timer_t           renew;
    mcp_redis_lease_pt   cb;
    void                *data;
    void               (*freed)(mcp_redis_lease_t *l);
};

/* The pure parts (unit-tested): how often to renew, the holder token. */
uint64_t mcp_redis_lease_renew_every(int64_t lease_ms);
void mcp_redis_lease_token(char *buf, size_t size, const char *instance,
    uint64_t n);

/* The scripts must be registered once, before Redis starts. */
int mcp_redis_lease_register(mcp_redis_t *r);

/*
 * Take key for lease_ms; cb runs once.  l is the caller's (allocated by
 * mcp_redis_lease_new, freed after release with freed(l)).  0, or -1 when
 * Redis is not up (cb does not run).
 */
mcp_redis_lease_t *mcp_redis_lease_new(mcp_redis_t *r, const char *key,
    int64_t lease_ms, void (*freed)(mcp_redis_lease_t *l));
int mcp_redis_lease_acquire(mcp_redis_lease_t *l, mcp_redis_lease_pt cb,
    void *data);
/* Give it back (if held) and free l once its timer is closed. */
void mcp_redis_lease_release(mcp_redis_lease_t *l);

#endif /* MCP_REDIS_LEASE_H */
