/* A lock with a lease in Redis: see mcp_redis_lease.h. */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redis/mcp_redis_lease.h"

/* KEYS: lock.  ARGV: token, lease ms.  1 if still ours (and extended). */
static mcp_redis_script_t  mcp_lease_renew_script = { .src =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then\n"
    "  return redis.call('PEXPIRE', KEYS[1], ARGV[2])\n"
    "end\n"
    "return 0\n"
};

/* KEYS: lock.  ARGV: token.  1 if it was ours (and is gone now). */
static mcp_redis_script_t  mcp_lease_release_script = { .src =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then\n"
    "  return redis.call('DEL', KEYS[1])\n"
    "end\n"
    "return 0\n"
};

uint64_t
mcp_redis_lease_renew_every(int64_t lease_ms)
{
    /* three chances to renew before it runs out */
    return lease_ms >= 3 ? (uint64_t) lease_ms / 3 : 1;
}

void
mcp_redis_lease_token(char *buf, size_t size, const char *instance,
    uint64_t n)
{
    /* unique per holder: the instance and a number only it uses */
    snprintf(buf, size, "%s#%llu", instance, (unsigned long long) n);
}

int
mcp_redis_lease_register(mcp_redis_t *r)
{
    return mcp_redis_add_script(r, &mcp_lease_renew_script) == 0
           && mcp_redis_add_script(r, &mcp_lease_release_script) == 0
           ? 0 : -1;
}

mcp_redis_lease_t *
mcp_redis_lease_new(mcp_redis_t *r, const char *key, int64_t lease_ms,
    void (*freed)(mcp_redis_lease_t *l))
{
    mcp_redis_lease_t  *l = calloc(1, sizeof(*l));

    if (l == NULL) {
        return NULL;
    }
    l->redis = r;
    l->lease_ms = lease_ms;
    l->freed = freed;
    snprintf(l->key, sizeof(l->key), "%s", key);
    /* the clock in ns tells this instance's holders apart */
    mcp_redis_lease_token(l->token, sizeof(l->token), r->instance,
                          uv_hrtime());
    uv_timer_init(r->loop, &l->renew);
    l->renew.data = l;
    return l;
}

static void
lease_renewed(mcp_redis_t *r, redisReply *reply, const char *err,
    void *data)
{
    mcp_redis_lease_t  *l = data;

    /* a lease not renewed runs out by itself: nothing to undo here */
    if (err == NULL && reply->type == REDIS_REPLY_INTEGER
        && reply->integer == 1)
    {
        l->renewals++;
    } else if (l->held) {
        l->held = 0;
        mcp_log_warn(r->log, "redis", "lost the lease on %s", l->key);
    }
}

static void
lease_renew(uv_timer_t *t)
{
    mcp_redis_lease_t  *l = t->data;
    char                ms[24];
    const char         *args[3];

    snprintf(ms, sizeof(ms), "%lld", (long long) l->lease_ms);
    args[0] = l->key;
    args[1] = l->token;
    args[2] = ms;
    if (!l->held || mcp_redis_eval(l->redis, &mcp_lease_renew_script,
                                   lease_renewed, l, 1, 3, args, NULL) != 0)
    {
        l->held = 0;
    }
}

static void
lease_acquired(mcp_redis_t *r, redisReply *reply, const char *err,
    void *data)
{
    mcp_redis_lease_t  *l = data;
    uint64_t            every = mcp_redis_lease_renew_every(l->lease_ms);
    int                 got;

    got = err != NULL ? -1 : reply->type == REDIS_REPLY_STATUS ? 1 : 0;
    if (got == 1) {
        l->held = 1;
        uv_timer_start(&l->renew, lease_renew, every, every);
    }
    l->cb(l, got, l->data);
}

int
mcp_redis_lease_acquire(mcp_redis_lease_t *l, mcp_redis_lease_pt cb,
    void *data)
{
    char         ms[24];
    const char  *argv[6];

    l->cb = cb;
    l->data = data;
    snprintf(ms, sizeof(ms), "%lld", (long long) l->lease_ms);
    argv[0] = "SET";
    argv[1] = l->key;
    argv[2] = l->token;
    argv[3] = "NX";
    argv[4] = "PX";
    argv[5] = ms;
    return mcp_redis_command(l->redis, lease_acquired, l, 6, argv, NULL);
}

static void
lease_closed(uv_handle_t *h)
{
    mcp_redis_lease_t  *l = h->data;

    if (l->freed != NULL) {
        l->freed(l);
    }
    free(l);
}

static void
lease_released(mcp_redis_t *r, redisReply *reply, const char *err,
    void *data)
{
    mcp_redis_lease_t  *l = data;

    uv_close((uv_handle_t *) &l->renew, lease_closed);
}

void
mcp_redis_lease_release(mcp_redis_lease_t *l)
{
    const char  *args[2];

    uv_timer_stop(&l->renew);
    args[0] = l->key;
    args[1] = l->token;
    if (!l->held || mcp_redis_eval(l->redis, &mcp_lease_release_script,
                                   lease_released, l, 1, 2, args, NULL)
                    != 0)
    {
        /* not held, or Redis gone: the lease runs out by itself */
        uv_close((uv_handle_t *) &l->renew, lease_closed);
    }
    l->held = 0;
}
