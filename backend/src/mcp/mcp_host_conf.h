/*
 * The `mcp:` section of mcpd.yaml (bound through mcp_mcp_conf_fields; the
 * top-level table in core/mcp_conf.c names it).
 */

#ifndef MCP_HOST_CONF_H
#define MCP_HOST_CONF_H

#include <stdint.h>

#include "core/mcp_config.h"

typedef struct {
    int64_t   max_reconnect_attempts;   /* 0: retry forever */
    int64_t   initial_reconnect_delay_ms;
    int64_t   max_reconnect_delay_ms;
    int64_t   connection_timeout_ms;    /* start + initialize */
    int64_t   ping_interval_ms;         /* 0: no pings */
    int64_t   ping_timeout_ms;
} mcp_mcp_connection_conf_t;

typedef struct {
    char                        *config_file;   /* relative to the YAML */
    int64_t                      call_timeout_ms;
    int64_t                      max_call_duration_ms;
    int64_t                      max_result_size;
    int64_t                      max_message_size;
    int64_t                      schema_cache_size;
    mcp_cfg_strings_t            roots;
    mcp_mcp_connection_conf_t    connection;
} mcp_mcp_conf_t;

extern const mcp_cfg_field_t  mcp_mcp_connection_conf_fields[];
extern const mcp_cfg_field_t  mcp_mcp_conf_fields[];

#endif /* MCP_HOST_CONF_H */
