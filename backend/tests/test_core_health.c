/*
 * The health registry (core/mcp_health.c): each component's fn adds its
 * reasons, the verdict is "ok" only when there are none, it travels first
 * in the STATS reply, and Prometheus gets one 0/1 sample per component.
 */

#include <stdlib.h>
#include <string.h>

#include "unit.h"
#include "core/mcp_daemon.h"

typedef struct {
    int          calls;
    int          wrong;     /* reasons to add */
    const char  *what;
} t_part_t;


static void
t_part_health(mcp_health_t *h, void *ctx)
{
    t_part_t  *p = ctx;
    int        i;

    p->calls++;
    for (i = 0; i < p->wrong; i++) {
        mcp_health_reason(h, "%s is wrong (%d)", p->what, i + 1);
    }
}


static json_t *
t_stats(void *ctx)
{
    return json_pack("{s:i}", "n", 1);
}


typedef struct {
    uv_loop_t     loop;
    mcp_conf_t    conf;
    mcp_daemon_t  d;
} t_env_t;


static void
t_setup(t_env_t *e)
{
    mcp_err_t  err;

    memset(e, 0, sizeof(*e));
    uv_loop_init(&e->loop);
    CHECK(mcp_cfg_bind(NULL, mcp_conf_fields, &e->conf, &err) == 0);
    CHECK(mcp_daemon_init(&e->d, &e->loop, &e->conf, NULL, "t") == 0);
}


static void
t_teardown(t_env_t *e)
{
    mcp_daemon_cleanup(&e->d);
    mcp_cfg_unbind(mcp_conf_fields, &e->conf);
    CHECK_EQ_INT(uv_loop_close(&e->loop), 0);
}


static void
test_verdict_from_every_component(void)
{
    t_env_t    e;
    t_part_t   redis = { 0, 0, "redis" }, llm = { 0, 0, "llm" };
    json_t    *h, *r;

    t_setup(&e);

    /* nothing registered: ok, an empty list */
    h = mcp_daemon_health_json(&e.d);
    CHECK_EQ_STR(json_string_value(json_object_get(h, "status")), "ok");
    CHECK(json_array_size(json_object_get(h, "reasons")) == 0);
    json_decref(h);

    CHECK(mcp_daemon_add_health(&e.d, "redis", t_part_health, &redis) == 0);
    CHECK(mcp_daemon_add_health(&e.d, "llm", t_part_health, &llm) == 0);
    CHECK(mcp_daemon_add_health(&e.d, "redis", t_part_health, &llm) == -1);

    h = mcp_daemon_health_json(&e.d);
    CHECK_EQ_STR(json_string_value(json_object_get(h, "status")), "ok");
    CHECK(json_array_size(json_object_get(h, "reasons")) == 0);
    CHECK(redis.calls == 1 && llm.calls == 1);
    json_decref(h);

    /* one component with two reasons, in registration order */
    llm.wrong = 2;
    h = mcp_daemon_health_json(&e.d);
    CHECK_EQ_STR(json_string_value(json_object_get(h, "status")),
                 "degraded");
    CHECK(json_array_size(json_object_get(h, "reasons")) == 2);
    r = json_array_get(json_object_get(h, "reasons"), 1);
    CHECK_EQ_STR(json_string_value(json_object_get(r, "component")), "llm");
    CHECK_EQ_STR(json_string_value(json_object_get(r, "reason")),
                 "llm is wrong (2)");
    CHECK(json_object_size(r) == 2);
    json_decref(h);

    /* and back */
    llm.wrong = 0;
    h = mcp_daemon_health_json(&e.d);
    CHECK_EQ_STR(json_string_value(json_object_get(h, "status")), "ok");
    json_decref(h);

    t_teardown(&e);
}


static void
test_stats_reply_carries_it_first(void)
{
    t_env_t     e;
    t_part_t    repo = { 0, 1, "the disk" };
    json_t     *root;
    const char *first;
    void       *it;

    t_setup(&e);
    CHECK(mcp_daemon_add_stats(&e.d, "repository_stats", t_stats, NULL)
          == 0);
    CHECK(mcp_daemon_add_health(&e.d, "repository", t_part_health, &repo)
          == 0);

    root = mcp_daemon_stats_json(&e.d);
    it = json_object_iter(root);
    first = json_object_iter_key(it);
    CHECK_EQ_STR(first, "health");
    CHECK_EQ_STR(json_string_value(json_object_get(
        json_object_get(root, "health"), "status")), "degraded");
    CHECK(json_object_get(root, "repository_stats") != NULL);
    CHECK(json_object_get(root, "mcpd") != NULL);
    json_decref(root);
    t_teardown(&e);
}


static void
test_prometheus_one_sample_per_component(void)
{
    t_env_t    e;
    static const char  first[] =
        "mcp_health_component_degraded{component=\"redis\"} 1\n"
        "mcp_health_component_degraded{component=\"mcp\"} 0\n";
    t_part_t   redis = { 0, 1, "redis" }, mcp = { 0, 0, "mcp" };
    char      *t;

    t_setup(&e);
    CHECK(mcp_daemon_add_health(&e.d, "redis", t_part_health, &redis) == 0);
    CHECK(mcp_daemon_add_health(&e.d, "mcp", t_part_health, &mcp) == 0);

    t = mcp_daemon_stats_prometheus(&e.d);
    CHECK(t != NULL);
    /* first of all, so the module can put its own right before them */
    CHECK(strncmp(t, first, strlen(first)) == 0);
    CHECK(strstr(t, "redis is wrong") == NULL);    /* no free text */
    CHECK(strstr(t, "mcpd_pid ") != NULL);
    free(t);
    t_teardown(&e);
}


UNIT_MAIN("core_health",
    UNIT_TEST(test_verdict_from_every_component),
    UNIT_TEST(test_stats_reply_carries_it_first),
    UNIT_TEST(test_prometheus_one_sample_per_component))
