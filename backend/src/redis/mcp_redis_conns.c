/* The cluster-wide WebSocket count: see mcp_redis_conns.h. */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redis/mcp_redis_conns.h"

/*
 * KEYS: instances zset, this instance's count key.  ARGV: cap, ttl ms,
 * count key prefix, this instance, local count before this session.
 * Returns 1 (admitted, count published) or 0 (at the cap).  The other
 * instances' keys are derived inside: fine for one Redis, not for Redis
 * Cluster (documented).
 */
static mcp_redis_script_t  mcp_conns_admit = { .src =
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "local total = tonumber(ARGV[5])\n"
    "for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], now, '+inf'))"
    " do\n"
    "  if id ~= ARGV[4] then\n"
    "    total = total + (tonumber(redis.call('GET', ARGV[3] .. id)) or 0)\n"
    "  end\n"
    "end\n"
    "if total >= tonumber(ARGV[1]) then return 0 end\n"
    "redis.call('SET', KEYS[2], tonumber(ARGV[5]) + 1, 'PX', ARGV[2])\n"
    "return 1\n"
};

/* only instances with a live heartbeat are summed, so a count key may
   outlive its instance; the TTL only cleans up after it */
#define MCP_CONNS_KEY_TTL_MS  86400000

static void
conns_on_up(mcp_redis_t *r, void *data)
{
    mcp_redis_conns_publish(data);
}

typedef struct {
    mcp_redis_conns_t  *c;
    mcp_session_t      *s;
} mcp_conns_req_t;

static void
conns_key(mcp_redis_conns_t *c, char *buf, size_t size, const void *s)
{
    snprintf(buf, size, "%p", s);
}

void
mcp_redis_conns_publish(mcp_redis_conns_t *c)
{
    mcp_redis_t  *r = c->redis;
    char          key[300], n[24], ttl[24];
    const char   *argv[5];

    mcp_redis_key(r, key, sizeof(key), "conns:%s", r->instance);
    snprintf(n, sizeof(n), "%lld", (long long) c->admitted);
    snprintf(ttl, sizeof(ttl), "%d", MCP_CONNS_KEY_TTL_MS);
    argv[0] = "SET";
    argv[1] = key;
    argv[2] = n;
    argv[3] = "PX";
    argv[4] = ttl;
    (void) mcp_redis_command(r, NULL, NULL, 5, argv, NULL);
}

static void
conns_admitted(mcp_redis_t *r, redisReply *reply, const char *err,
    void *data)
{
    mcp_conns_req_t    *q = data;
    mcp_redis_conns_t  *c = q->c;
    char                key[32];

    if (err == NULL && reply->type == REDIS_REPLY_INTEGER
        && reply->integer == 0 && mcp_session_is_open(q->s))
    {
        /* the count of this session goes back; CLOSE must not take it */
        c->admitted--;
        c->rejected++;
        conns_key(c, key, sizeof(key), q->s);
        if (mcp_strmap_put(c->refused, key, q->s) == 0) {
            mcp_session_close(q->s, 1013, "cluster at capacity");
        }
        mcp_redis_conns_publish(c);
    } else if (err != NULL) {
        c->unchecked++;
    }
    mcp_session_unref(q->s);
    free(q);
}

static void
conns_on_open(mcp_session_t *s, void *ctx)
{
    mcp_redis_conns_t  *c = ctx;
    mcp_redis_t        *r = c->redis;
    mcp_conns_req_t    *q;
    char                kset[300], kme[300], kpre[300], cap[24], ttl[24];
    char                before[24];
    const char         *args[7];

    snprintf(before, sizeof(before), "%lld", (long long) c->admitted);
    c->admitted++;                  /* counted now, given back if refused */
    if (r->conf->cluster_max_connections <= 0) {
        mcp_redis_conns_publish(c);
        return;
    }
    q = mcp_redis_up(r) ? calloc(1, sizeof(*q)) : NULL;
    if (q == NULL) {
        c->unchecked++;
        mcp_redis_fallback(r);
        return;
    }
    mcp_redis_key(r, kset, sizeof(kset), "instances");
    mcp_redis_key(r, kme, sizeof(kme), "conns:%s", r->instance);
    mcp_redis_key(r, kpre, sizeof(kpre), "conns:");
    snprintf(cap, sizeof(cap), "%lld",
             (long long) r->conf->cluster_max_connections);
    snprintf(ttl, sizeof(ttl), "%d", MCP_CONNS_KEY_TTL_MS);
    args[0] = kset;
    args[1] = kme;
    args[2] = cap;
    args[3] = ttl;
    args[4] = kpre;
    args[5] = r->instance;
    args[6] = before;
    q->c = c;
    q->s = s;
    mcp_session_ref(s);
    if (mcp_redis_eval(r, &mcp_conns_admit, conns_admitted, q, 2, 7, args,
                       NULL) != 0)
    {
        mcp_session_unref(s);
        free(q);
        c->unchecked++;
        mcp_redis_fallback(r);
    }
}

static void
conns_on_close(mcp_session_t *s, void *ctx)
{
    mcp_redis_conns_t  *c = ctx;
    char                key[32];

    conns_key(c, key, sizeof(key), s);
    if (mcp_strmap_remove(c->refused, key) == 1) {
        return;                     /* refused: never counted */
    }
    if (c->admitted > 0) {
        c->admitted--;
    }
    mcp_redis_conns_publish(c);
}

int
mcp_redis_conns_init(mcp_redis_conns_t *c, mcp_daemon_t *d,
    mcp_redis_t *redis)
{
    memset(c, 0, sizeof(*c));
    c->redis = redis;
    c->refused = mcp_strmap_new(NULL, NULL);
    if (c->refused == NULL
        || mcp_redis_add_script(redis, &mcp_conns_admit) != 0
        || mcp_redis_on_up(redis, conns_on_up, c) != 0
        || mcp_daemon_on_session_open(d, conns_on_open, c) != 0
        || mcp_daemon_on_session_close(d, conns_on_close, c) != 0)
    {
        return -1;
    }
    return 0;
}

void
mcp_redis_conns_free(mcp_redis_conns_t *c)
{
    if (c->refused != NULL) {
        mcp_strmap_free(c->refused);
        c->refused = NULL;
    }
}

void
mcp_redis_conns_stats(mcp_redis_conns_t *c, json_t *o)
{
    json_object_set_new(o, "connections", json_pack("{s:I, s:I, s:I, s:I}",
        "open_here", (json_int_t) c->admitted,
        "cluster_max", (json_int_t) c->redis->conf->cluster_max_connections,
        "rejected", (json_int_t) c->rejected,
        "unchecked", (json_int_t) c->unchecked));
}
