/*
 * The repository's config sections bound through core's top-level table:
 * defaults, every key, and rejection of unknown keys and bad values with
 * their location.
 */

#include <stddef.h>

#include "unit.h"
#include "core/mcp_conf.h"
#include "repo/mcp_repo.h"
#include "test_conf_util.h"


static void
test_defaults(void)
{
    mcp_conf_t           conf;
    mcp_err_t            err;
    mcp_repo_conf_t      rc;
    mcp_persist_conf_t   pc;

    CHECK(t_bind("daemon: {}\n", &conf, &err) == 0);
    mcp_repo_conf_defaults(&rc, &pc);
    CHECK_EQ_STR(conf.chat.service.repository.path, "run/events.db");
    CHECK_EQ_INT(conf.chat.service.repository.synchronous, rc.synchronous);
    CHECK_EQ_INT(conf.chat.service.repository.busy_timeout, rc.busy_timeout);
    CHECK_EQ_INT(conf.chat.service.repository.wal_checkpoint_pages, 1000);
    CHECK_EQ_INT(rc.wal_checkpoint_pages, 1000);
    CHECK(memcmp(&conf.chat.service.repository.pool, &rc.pool,
                 sizeof(rc.pool)) == 0);
    CHECK(memcmp(&conf.persistence, &pc, sizeof(pc)) == 0);
    mcp_cfg_unbind(mcp_conf_fields, &conf);
}


static void
test_all_keys(void)
{
    static const char  yaml[] =
        "chat:\n"
        "  service:\n"
        "    repository:\n"
        "      path: /tmp/x.db\n"
        "      synchronous: full\n"
        "      busy_timeout: 250ms\n"
        "      wal_checkpoint_pages: 4000\n"
        "      connection_pool:\n"
        "        max_readers: 8\n"
        "        max_writers: 2\n"
        "        connection_timeout: 1.5\n"
        "        health_check_interval: 10s\n"
        "        enable_pooling: false\n"
        "        max_batch: 64\n"
        "persistence:\n"
        "  enabled: false\n"
        "  retention_policy: time_based\n"
        "  max_tokens_per_conversation: 100\n"
        "  max_messages_per_conversation: 7\n"
        "  retention_days: 3\n"
        "  clear_on_startup: true\n"
        "  retention_interval: 5m\n";
    mcp_conf_t        conf;
    mcp_err_t         err;
    mcp_repo_conf_t  *r = &conf.chat.service.repository;

    CHECK(t_bind(yaml, &conf, &err) == 0);
    CHECK_EQ_STR(r->path, "/tmp/x.db");
    CHECK_EQ_INT(r->synchronous, MCP_REPO_SYNC_FULL);
    CHECK_EQ_INT(r->busy_timeout, 250);
    CHECK_EQ_INT(r->wal_checkpoint_pages, 4000);
    CHECK_EQ_INT(r->pool.max_readers, 8);
    CHECK_EQ_INT(r->pool.max_writers, 2);
    CHECK_EQ_INT(r->pool.connection_timeout, 1500);
    CHECK_EQ_INT(r->pool.health_check_interval, 10000);
    CHECK_EQ_INT(r->pool.enable_pooling, 0);
    CHECK_EQ_INT(r->pool.max_batch, 64);
    CHECK_EQ_INT(conf.persistence.enabled, 0);
    CHECK_EQ_INT(conf.persistence.retention_policy, MCP_RETAIN_TIME_BASED);
    CHECK_EQ_INT(conf.persistence.max_tokens_per_conversation, 100);
    CHECK_EQ_INT(conf.persistence.max_messages_per_conversation, 7);
    CHECK_EQ_INT(conf.persistence.retention_days, 3);
    CHECK_EQ_INT(conf.persistence.clear_on_startup, 1);
    CHECK_EQ_INT(conf.persistence.retention_interval, 300000);
    mcp_cfg_unbind(mcp_conf_fields, &conf);
}


static void
test_rejects(void)
{
    mcp_conf_t  conf;
    mcp_err_t   err;

    CHECK(t_bind("chat:\n  service:\n    repository:\n      pth: x\n",
                 &conf, &err) != 0);
    CHECK(strstr(err.msg, "t.yaml:4:7") != NULL);
    CHECK(strstr(err.msg, "pth") != NULL);
    mcp_cfg_unbind(mcp_conf_fields, &conf);

    CHECK(t_bind("persistence:\n  retention_policy: forever\n", &conf, &err)
          != 0);
    CHECK(strstr(err.msg, "t.yaml:2:") != NULL);
    CHECK(strstr(err.msg, "token_limit") != NULL);
    mcp_cfg_unbind(mcp_conf_fields, &conf);

    CHECK(t_bind("chat:\n  service:\n    repository:\n"
                 "      connection_pool:\n        max_readers: 0\n",
                 &conf, &err) != 0);
    CHECK(strstr(err.msg, "t.yaml:5:") != NULL);
    mcp_cfg_unbind(mcp_conf_fields, &conf);

    CHECK(t_bind("chat:\n  service:\n    repository:\n"
                 "      synchronous: extra\n", &conf, &err) != 0);
    CHECK(strstr(err.msg, "normal") != NULL);
    mcp_cfg_unbind(mcp_conf_fields, &conf);

    /* below the range, and not a number: where, and what is allowed */
    CHECK(t_bind("chat:\n  service:\n    repository:\n"
                 "      wal_checkpoint_pages: 10\n", &conf, &err) != 0);
    CHECK(strstr(err.msg, "t.yaml:4:29") != NULL);
    CHECK(strstr(err.msg, "100") != NULL);
    mcp_cfg_unbind(mcp_conf_fields, &conf);
    CHECK(t_bind("chat:\n  service:\n    repository:\n"
                 "      wal_checkpoint_pages: lots\n", &conf, &err) != 0);
    CHECK(strstr(err.msg, "t.yaml:4:29") != NULL);
    mcp_cfg_unbind(mcp_conf_fields, &conf);

    CHECK(t_bind("persistence:\n  enabled: maybe\n", &conf, &err) != 0);
    mcp_cfg_unbind(mcp_conf_fields, &conf);
}


UNIT_MAIN("repo_conf",
    UNIT_TEST(test_defaults),
    UNIT_TEST(test_all_keys),
    UNIT_TEST(test_rejects))
