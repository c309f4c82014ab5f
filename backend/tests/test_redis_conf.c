/*
 * The redis: section (defaults, values, rejections with their location)
 * and the connection's behaviour with no Redis to reach: it never blocks,
 * refuses commands at once (callers fall back to local state), reports
 * degraded with a reason, and closes cleanly.
 */

#include <stddef.h>
#include <string.h>

#include "unit.h"
#include "core/mcp_conf.h"
#include "redis/mcp_redis.h"
#include "test_conf_util.h"


static void
test_off_by_default(void)
{
    mcp_conf_t  conf;
    mcp_err_t   err;

    CHECK(t_bind("daemon: {}\n", &conf, &err) == 0);
    CHECK(conf.redis.address == NULL);
    CHECK_EQ_STR(conf.redis.key_prefix, "mcp:");
    CHECK_EQ_INT(conf.redis.command_timeout_ms, 250);
    CHECK_EQ_INT(conf.redis.connect_timeout_ms, 1000);
    CHECK_EQ_INT(conf.redis.cluster_max_connections, 0);
    mcp_cfg_unbind(mcp_conf_fields, &conf);
}


static void
test_values(void)
{
    mcp_conf_t  conf;
    mcp_err_t   err;

    CHECK(t_bind("redis:\n"
                 "  address: unix:/run/redis.sock\n"
                 "  username: mcpd\n"
                 "  password_env: REDIS_PW\n"
                 "  database: 3\n"
                 "  key_prefix: \"edge:\"\n"
                 "  instance_id: e1\n"
                 "  command_timeout: 100ms\n"
                 "  reconnect_max: 2s\n"
                 "  heartbeat_ttl: 3s\n"
                 "  dedupe_ttl: 1m\n"
                 "  cluster_max_connections: 500\n", &conf, &err) == 0);
    CHECK_EQ_STR(conf.redis.address, "unix:/run/redis.sock");
    CHECK_EQ_STR(conf.redis.username, "mcpd");
    CHECK_EQ_STR(conf.redis.password_env, "REDIS_PW");
    CHECK_EQ_INT(conf.redis.database, 3);
    CHECK_EQ_STR(conf.redis.key_prefix, "edge:");
    CHECK_EQ_STR(conf.redis.instance_id, "e1");
    CHECK_EQ_INT(conf.redis.command_timeout_ms, 100);
    CHECK_EQ_INT(conf.redis.reconnect_max_ms, 2000);
    CHECK_EQ_INT(conf.redis.heartbeat_ttl_ms, 3000);
    CHECK_EQ_INT(conf.redis.dedupe_ttl_ms, 60000);
    CHECK_EQ_INT(conf.redis.cluster_max_connections, 500);
    mcp_cfg_unbind(mcp_conf_fields, &conf);
}


static void
test_rejections(void)
{
    mcp_conf_t  conf;
    mcp_err_t   err;

    CHECK(t_bind("redis:\n  adress: x\n", &conf, &err) != 0);
    CHECK(strstr(err.msg, "t.yaml:2:3") != NULL);
    CHECK(strstr(err.msg, "adress") != NULL);
    mcp_cfg_unbind(mcp_conf_fields, &conf);

    CHECK(t_bind("redis:\n  command_timeout: 1ms\n", &conf, &err) != 0);
    CHECK(strstr(err.msg, "t.yaml:2") != NULL);
    mcp_cfg_unbind(mcp_conf_fields, &conf);

    CHECK(t_bind("redis:\n  database: many\n", &conf, &err) != 0);
    mcp_cfg_unbind(mcp_conf_fields, &conf);
}


static int  t_closed;

static void
t_on_closed(void *ctx)
{
    t_closed = 1;
}

static void
t_stop_loop(uv_timer_t *t)
{
    uv_stop(t->loop);
}

static void
test_unreachable_redis_never_blocks(void)
{
    mcp_conf_t    conf;
    mcp_err_t     err;
    mcp_log_t     log;
    mcp_redis_t   r;
    uv_loop_t     loop;
    uv_timer_t    stop;
    json_t       *st;
    const char   *argv[1] = { "PING" };
    char          key[64];
    uint64_t      t0;

    /* port 1 on loopback: refused (or silent): bounded by the timeouts */
    CHECK(t_bind("redis:\n  address: 127.0.0.1:1\n  instance_id: u1\n"
                 "  connect_timeout: 50ms\n  reconnect_min: 10ms\n"
                 "  reconnect_max: 20ms\n", &conf, &err) == 0);
    mcp_log_init(&log, MCP_LOG_ERROR, 0);  /* quiet */
    uv_loop_init(&loop);
    CHECK(mcp_redis_init(&r, &loop, &conf.redis, &log) == 0);
    CHECK_EQ_STR(mcp_redis_key(&r, key, sizeof(key), "req:%s", "x"),
                 "mcp:req:x");

    t0 = uv_hrtime();
    mcp_redis_start(&r);
    CHECK((uv_hrtime() - t0) / 1000000 < 50);    /* start did not block */
    CHECK(mcp_redis_command(&r, NULL, NULL, 1, argv, NULL) == -1);

    uv_timer_init(&loop, &stop);
    uv_timer_start(&stop, t_stop_loop, 300, 0);
    uv_run(&loop, UV_RUN_DEFAULT);

    CHECK(!mcp_redis_up(&r));
    CHECK(mcp_redis_command(&r, NULL, NULL, 1, argv, NULL) == -1);
    st = mcp_redis_stats(&r);
    CHECK(st != NULL);
    CHECK_EQ_STR(json_string_value(json_object_get(st, "state")),
                 "degraded");
    CHECK(json_string_value(json_object_get(st, "reason")) != NULL);
    CHECK_EQ_STR(json_string_value(json_object_get(st, "instance")), "u1");
    json_decref(st);

    t_closed = 0;
    mcp_redis_close(&r, t_on_closed, NULL);
    uv_close((uv_handle_t *) &stop, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK(t_closed == 1);
    CHECK(uv_loop_close(&loop) == 0);
    mcp_redis_free(&r);
    mcp_cfg_unbind(mcp_conf_fields, &conf);
}


UNIT_MAIN("redis_conf",
    UNIT_TEST(test_off_by_default),
    UNIT_TEST(test_values),
    UNIT_TEST(test_rejections),
    UNIT_TEST(test_unreachable_redis_never_blocks))
