/*
 * The lease lock's pure parts: renewal often enough to survive two missed
 * renewals, holder tokens that never collide between instances or holders;
 * and with no Redis to reach, acquiring refuses at once (no callback, no
 * blocking) and releasing still frees the lease.
 */

#include <string.h>

#include "unit.h"
#include "core/mcp_conf.h"
#include "redis/mcp_redis_lease.h"


static void
test_renew_every(void)
{
    CHECK(mcp_redis_lease_renew_every(5000) == 1666);
    CHECK(mcp_redis_lease_renew_every(3) == 1);
    CHECK(mcp_redis_lease_renew_every(1) == 1);
    CHECK(mcp_redis_lease_renew_every(0) == 1);
    /* three renewals fit in one lease */
    CHECK(3 * mcp_redis_lease_renew_every(900) <= 900);
}


static void
test_tokens(void)
{
    char  a[64], b[64], c[64];

    mcp_redis_lease_token(a, sizeof(a), "edge-1", 7);
    mcp_redis_lease_token(b, sizeof(b), "edge-1", 8);
    mcp_redis_lease_token(c, sizeof(c), "edge-17", 7);
    CHECK_EQ_STR(a, "edge-1#7");
    CHECK(strcmp(a, b) != 0 && strcmp(a, c) != 0);
    /* "edge-1" + "17" and "edge-17" + "" stay apart through the '#' */
    mcp_redis_lease_token(b, sizeof(b), "edge-1#1", 7);
    CHECK(strcmp(b, "edge-1#17") != 0);
}


static int  t_cb_ran, t_freed;

static void
t_cb(mcp_redis_lease_t *l, int acquired, void *data)
{
    t_cb_ran++;
}

static void
t_free(mcp_redis_lease_t *l)
{
    t_freed++;
}


static void
test_without_redis(void)
{
    mcp_redis_conf_t    conf;
    mcp_log_t           log;
    mcp_redis_t         r;
    mcp_redis_lease_t  *l;
    uv_loop_t           loop;

    memset(&conf, 0, sizeof(conf));
    conf.address = "127.0.0.1:1";
    conf.instance_id = "u1";
    conf.command_timeout_ms = 50;
    conf.reconnect_min_ms = 10;
    conf.reconnect_max_ms = 10;
    mcp_log_init(&log, MCP_LOG_ERROR, MCP_LOG_TEXT);
    uv_loop_init(&loop);
    CHECK(mcp_redis_init(&r, &loop, &conf, &log) == 0);
    CHECK(mcp_redis_lease_register(&r) == 0);

    l = mcp_redis_lease_new(&r, "t:lock:c", 1000, t_free);
    CHECK(l != NULL);
    CHECK(strncmp(l->token, "u1#", 3) == 0);
    CHECK(mcp_redis_lease_acquire(l, t_cb, NULL) == -1);   /* not up */
    mcp_redis_lease_release(l);
    mcp_redis_close(&r, NULL, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK(t_cb_ran == 0 && t_freed == 1);
    CHECK(uv_loop_close(&loop) == 0);
    mcp_redis_free(&r);
}


UNIT_MAIN("redis_lease",
    UNIT_TEST(test_renew_every),
    UNIT_TEST(test_tokens),
    UNIT_TEST(test_without_redis))
