/* Redis as an mcpd subsystem: see mcp_redis_daemon.h. */

#include <stdlib.h>

#include "llm/mcp_llm_daemon.h"
#include "redis/mcp_redis.h"
#include "redis/mcp_redis_daemon.h"
#include "redis/mcp_redis_conns.h"
#include "redis/mcp_redis_fwd.h"
#include "redis/mcp_redis_limit.h"
#include "redis/mcp_redis_list.h"
#include "redis/mcp_redis_route.h"
#include "repo/mcp_repo_daemon.h"

typedef struct {
    mcp_redis_t        redis;
    mcp_redis_limit_t  lim;
    mcp_redis_conns_t  conns;
    mcp_redis_fwd_t    fwd;
    mcp_redis_route_t  route;
    mcp_redis_list_t   list;
    int                closing;     /* parts still closing */
    unsigned           stopped:1;   /* redis_sub_stop() ran */
} mcp_redis_sub_t;

static json_t *
redis_sub_stats(void *ctx)
{
    mcp_redis_sub_t  *s = ctx;
    json_t           *o = mcp_redis_stats(&s->redis);

    if (o != NULL) {
        mcp_redis_limit_stats(&s->lim, o);
        mcp_redis_conns_stats(&s->conns, o);
        mcp_redis_route_stats(&s->route, o);
        mcp_redis_list_stats(&s->list, o);
        mcp_redis_fwd_stats(&s->fwd, o);
    }
    return o;
}

/* Redis off (the default): status says so, and nothing can be wrong */
static json_t *
redis_off_stats(void *ctx)
{
    return json_pack("{s:s}", "state", "off");
}

static void
redis_sub_health(mcp_health_t *h, void *ctx)
{
    mcp_redis_sub_t  *s = ctx;
    char              why[512];

    if (mcp_redis_trouble(&s->redis, why, sizeof(why))) {
        mcp_health_reason(h, "%s", why);
    }
}

static void
redis_sub_part_closed(mcp_redis_sub_t *s)
{
    /* the struct stays: session-close hooks may still run while the
       loop drains (they find Redis closed and do nothing); it is freed
       once the loop has ended (redis_sub_free) */
    --s->closing;
}

static void
redis_sub_free(mcp_daemon_t *d, void *ctx)
{
    mcp_redis_sub_t  *s = ctx;

    if (!s->stopped || s->closing > 0) {
        return;     /* its handles may still be in the loop: leave it */
    }
    mcp_redis_route_free(&s->route);
    mcp_redis_fwd_free(&s->fwd);
    mcp_redis_conns_free(&s->conns);
    mcp_redis_free(&s->redis);
    free(s);
}

static void
redis_sub_lim_closed(uv_handle_t *h)
{
    mcp_redis_limit_t  *lim = h->data;

    redis_sub_part_closed((mcp_redis_sub_t *) ((char *) lim
                          - offsetof(mcp_redis_sub_t, lim)));
}

static void
redis_sub_conn_closed(void *ctx)
{
    redis_sub_part_closed(ctx);
}

static void
redis_sub_stop(mcp_daemon_t *d, void *ctx)
{
    mcp_redis_sub_t  *s = ctx;

    s->stopped = 1;
    s->closing = 3;
    mcp_redis_limit_close(&s->lim, redis_sub_lim_closed);
    mcp_redis_fwd_close(&s->fwd, redis_sub_conn_closed, s);
    mcp_redis_close(&s->redis, redis_sub_conn_closed, s);
}

int
mcp_redis_daemon_init(mcp_daemon_t *d, mcp_err_t *err)
{
    const mcp_redis_conf_t  *conf = &d->conf->redis;
    mcp_redis_sub_t         *s;

    if (conf->address == NULL || conf->address[0] == '\0') {
        /* off: nothing changes but the one word in status */
        if (mcp_daemon_add_stats(d, "redis", redis_off_stats, NULL) != 0) {
            mcp_err_set(err, NULL, "redis: cannot register with the daemon");
            return -1;
        }
        return 0;
    }
    s = calloc(1, sizeof(*s));
    if (s == NULL || mcp_redis_init(&s->redis, d->loop, conf, &d->log) != 0) {
        free(s);
        mcp_err_set(err, NULL, "redis: out of memory");
        return -1;
    }
    if (mcp_redis_limit_init(&s->lim, &s->redis, mcp_llm_daemon_get(d)) != 0
        || mcp_redis_conns_init(&s->conns, d, &s->redis) != 0
        || mcp_redis_fwd_init(&s->fwd, d, &s->redis) != 0
        || mcp_redis_route_init(&s->route, d, &s->redis, &s->fwd,
                                mcp_repo_daemon_get(d)) != 0
        || mcp_redis_list_init(&s->list, d, &s->redis, &s->fwd) != 0
        || mcp_daemon_add_stats(d, "redis", redis_sub_stats, s) != 0
        || mcp_daemon_add_health(d, "redis", redis_sub_health, s) != 0
        || mcp_daemon_on_stop(d, redis_sub_stop, s) != 0
        || mcp_daemon_on_exit(d, redis_sub_free, s) != 0)
    {
        mcp_err_set(err, NULL, "redis: cannot register with the daemon");
        return -1;
    }
    mcp_log_info(&d->log, "redis", "instance %s, redis at %s",
                 s->redis.instance, conf->address);
    mcp_redis_start(&s->redis);
    mcp_redis_fwd_start(&s->fwd);
    return 0;
}
