/* Home records outside a routing decision: see mcp_redis_home.h. */

#include <string.h>

#include "redis/mcp_redis_fwd_codec.h"
#include "redis/mcp_redis_home.h"

/*
 * KEYS: home key.  ARGV: this instance.  Deletes the home record if it
 * still names this instance: 1, else 0 (gone, or moved by a takeover).
 */
static mcp_redis_script_t  mcp_release_script = { .src =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then\n"
    "  return redis.call('DEL', KEYS[1])\n"
    "end\n"
    "return 0\n"
};


/* conv's home key into key[300]; -1: too long (no such record can exist) */
static int
home_key(mcp_redis_route_t *rt, const char *conv, char *key)
{
    return mcp_fwd_home_key(key, 300, rt->redis->conf->key_prefix, conv);
}


/* 0: SET NX of this instance as conv's home sent (or no such key) */
static int
home_set_nx(mcp_redis_route_t *rt, const char *conv)
{
    char         key[300];
    const char  *argv[4];

    if (home_key(rt, conv, key) != 0) {
        return 0;
    }
    argv[0] = "SET";
    argv[1] = key;
    argv[2] = rt->redis->instance;
    argv[3] = "NX";
    return mcp_redis_command(rt->redis, NULL, NULL, 4, argv, NULL);
}


/* ------------------------------------------------------------ release */

static void
home_released(mcp_redis_t *r, redisReply *reply, const char *err,
    void *data)
{
    mcp_redis_route_t  *rt = data;

    (void) r;
    if (err == NULL && reply->type == REDIS_REPLY_INTEGER
        && reply->integer == 1)
    {
        rt->homes_released++;
    }
}


/* 0: the release is on its way to Redis (or no such record can exist) */
static int
home_release(mcp_redis_route_t *rt, const char *conv)
{
    char         key[300];
    const char  *args[2];

    if (home_key(rt, conv, key) != 0) {
        return 0;
    }
    args[0] = key;
    args[1] = rt->redis->instance;
    return mcp_redis_eval(rt->redis, &mcp_release_script, home_released, rt,
                          1, 2, args, NULL);
}


/*
 * A conversation was deleted from this store: its home record goes too.
 * Otherwise Redis keeps a key for every conversation ever deleted, and
 * the id stays bound to this instance: once that is gone for good, a new
 * conversation under the id would answer conversation_unavailable for
 * ever.  Only a record that still names this instance is deleted; with
 * Redis down, that happens when it returns.
 */
static void
home_deleted(mcp_redis_route_t *rt, const char *conv)
{
    if (mcp_strmap_remove(rt->unrecorded, conv)) {
        return;                 /* started while Redis was down: no record */
    }
    if (mcp_redis_up(rt->redis) && home_release(rt, conv) == 0) {
        return;
    }
    if (mcp_strmap_count(rt->unreleased) < MCP_ROUTE_UNRECORDED_MAX) {
        (void) mcp_strmap_put(rt->unreleased, conv, NULL);
    }
}


/*
 * A chat created a conversation in this store: this instance is its home.
 * Routing recorded that before the chat ran, except when a delete here
 * released the record meanwhile (a chat queued behind the delete, or
 * forwarded by an instance that read the record before): SET NX puts it
 * back, never over another instance's home, so that the conversation is
 * not left in a store without a record.
 */
static void
home_created(mcp_redis_route_t *rt, const char *conv)
{
    (void) mcp_strmap_remove(rt->unreleased, conv);
    if (home_set_nx(rt, conv) != 0
        && mcp_strmap_count(rt->unrecorded) < MCP_ROUTE_UNRECORDED_MAX)
    {
        (void) mcp_strmap_put(rt->unrecorded, conv, NULL);  /* Redis down */
    }
}


static void
home_conversation_event(const char *conv, mcp_conv_event_e ev, void *ctx)
{
    if (ev == MCP_CONV_DELETED) {
        home_deleted(ctx, conv);
    } else {
        home_created(ctx, conv);
    }
}


/* ------------------------------------------------------------ Redis back */

static int
home_record_one(const char *conv, void *value, void *ctx)
{
    (void) value;
    return home_set_nx(ctx, conv) == 0;
}


static int
home_release_one(const char *conv, void *value, void *ctx)
{
    (void) value;
    return home_release(ctx, conv) == 0;
}


/* Redis is back: the homes of conversations started or deleted meanwhile. */
static void
home_on_up(mcp_redis_t *r, void *data)
{
    mcp_redis_route_t  *rt = data;

    (void) r;
    mcp_strmap_sweep(rt->unrecorded, home_record_one, rt);
    mcp_strmap_sweep(rt->unreleased, home_release_one, rt);
}


int
mcp_redis_home_init(mcp_redis_route_t *rt)
{
    rt->unreleased = mcp_strmap_new(NULL, NULL);
    if (rt->unreleased == NULL
        || mcp_redis_add_script(rt->redis, &mcp_release_script) != 0
        || mcp_redis_on_up(rt->redis, home_on_up, rt) != 0
        || mcp_daemon_on_conversation(rt->d, home_conversation_event, rt) != 0)
    {
        return -1;
    }
    return 0;
}
