/* The `redis:` section: see mcp_redis_conf.h and docs/configuration.md. */

#include <stddef.h>

#include "redis/mcp_redis_conf.h"

#define R(m)  offsetof(mcp_redis_conf_t, m)

const mcp_cfg_field_t  mcp_redis_conf_fields[] = {
    { "address", MCP_CFG_T_STRING, R(address), NULL, 0, 0, NULL, NULL, NULL,
      NULL, "host:port, /path or unix:/path; absent: Redis is off" },
    { "username", MCP_CFG_T_STRING, R(username), NULL, 0, 0, NULL, NULL,
      NULL, NULL, "ACL user for AUTH (Redis 6+)" },
    { "password", MCP_CFG_T_STRING, R(password), NULL, 0, 0, NULL, NULL,
      NULL, NULL, "password for AUTH (prefer password_env)" },
    { "password_env", MCP_CFG_T_STRING, R(password_env), NULL, 0, 0, NULL,
      NULL, NULL, NULL, "environment variable holding the password" },
    { "database", MCP_CFG_T_INT, R(database), "0", 0, 1000, NULL, NULL,
      NULL, NULL, "SELECT this database" },
    { "key_prefix", MCP_CFG_T_STRING, R(key_prefix), "mcp:", 0, 0, NULL,
      NULL, NULL, NULL, "prefix of every key (one per cluster of mcpd)" },
    { "instance_id", MCP_CFG_T_STRING, R(instance_id), NULL, 0, 0, NULL,
      NULL, NULL, NULL, "this instance's name; default <hostname>-<pid>" },
    { "connect_timeout", MCP_CFG_T_DURATION, R(connect_timeout_ms), "1s",
      10, 60000, NULL, NULL, NULL, NULL,
      "a connection (with AUTH and SELECT) not up by then is retried" },
    { "command_timeout", MCP_CFG_T_DURATION, R(command_timeout_ms), "250ms",
      5, 60000, NULL, NULL, NULL, NULL,
      "a command unanswered by then fails; the instance uses local state" },
    { "reconnect_min", MCP_CFG_T_DURATION, R(reconnect_min_ms), "100ms",
      1, 60000, NULL, NULL, NULL, NULL, "first reconnect delay" },
    { "reconnect_max", MCP_CFG_T_DURATION, R(reconnect_max_ms), "5s",
      1, 600000, NULL, NULL, NULL, NULL,
      "reconnect delay doubles up to this, with full jitter" },
    { "heartbeat_interval", MCP_CFG_T_DURATION, R(heartbeat_interval_ms),
      "1s", 50, 600000, NULL, NULL, NULL, NULL,
      "how often this instance says it is alive" },
    { "heartbeat_ttl", MCP_CFG_T_DURATION, R(heartbeat_ttl_ms), "5s",
      100, 3600000, NULL, NULL, NULL, NULL,
      "an instance silent this long counts as gone" },
    { "dedupe_ttl", MCP_CFG_T_DURATION, R(dedupe_ttl_ms), "10m", 1000,
      86400000, NULL, NULL, NULL, NULL,
      "how long a request id stays claimed cluster-wide" },
    { "cluster_max_connections", MCP_CFG_T_INT, R(cluster_max_connections),
      "0", 0, 100000000, NULL, NULL, NULL, NULL,
      "open WebSockets across all instances (0: no cap); beyond it mcpd "
      "closes the new one with 1013" },
    { NULL, 0, 0, NULL, 0, 0, NULL, NULL, NULL, NULL, NULL }
};
