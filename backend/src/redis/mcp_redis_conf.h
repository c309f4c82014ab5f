/*
 * The optional top-level `redis:` section of mcpd.yaml.  Absent (or with no
 * `address`) Redis is off and nothing in mcpd changes.
 */

#ifndef MCP_REDIS_CONF_H
#define MCP_REDIS_CONF_H

#include <stdint.h>

#include "core/mcp_config.h"

typedef struct {
    char     *address;              /* "host:port", "/path" or "unix:/path" */
    char     *username;             /* ACL user (Redis 6+); NULL: default */
    char     *password;             /* literal; password_env wins if set */
    char     *password_env;         /* environment variable with it */
    int64_t   database;             /* SELECT n */
    char     *key_prefix;           /* every key starts with it */
    char     *instance_id;          /* NULL: "<hostname>-<pid>" */
    int64_t   connect_timeout_ms;
    int64_t   command_timeout_ms;
    int64_t   reconnect_min_ms;     /* first backoff; doubles, with jitter */
    int64_t   reconnect_max_ms;
    int64_t   heartbeat_interval_ms;
    int64_t   heartbeat_ttl_ms;
    int64_t   dedupe_ttl_ms;        /* request-id claims */
    int64_t   cluster_max_connections; /* 0: no cluster-wide cap */
} mcp_redis_conf_t;

extern const mcp_cfg_field_t  mcp_redis_conf_fields[];

#endif /* MCP_REDIS_CONF_H */
