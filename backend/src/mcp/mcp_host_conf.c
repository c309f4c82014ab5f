/*
 * The `mcp:` section's field table.  Defaults are documented in
 * docs/configuration.md (MCP part) and conf/mcpd.yaml; keep them in step.
 */

#include <stddef.h>

#include "mcp/mcp_host_conf.h"

#define MCP_FIELD_END  { NULL, 0, 0, NULL, 0, 0, NULL, NULL, NULL, NULL, NULL }

const mcp_cfg_field_t  mcp_mcp_connection_conf_fields[] = {
    { "max_reconnect_attempts", MCP_CFG_T_INT,
      offsetof(mcp_mcp_connection_conf_t, max_reconnect_attempts), "5",
      0, 1000000, NULL, NULL, NULL, NULL,
      "consecutive failed starts before a server is given up (0: never)" },
    { "initial_reconnect_delay", MCP_CFG_T_DURATION,
      offsetof(mcp_mcp_connection_conf_t, initial_reconnect_delay_ms), "1s",
      10, 3600000, NULL, NULL, NULL, NULL,
      "first retry delay; doubles per failure, with jitter" },
    { "max_reconnect_delay", MCP_CFG_T_DURATION,
      offsetof(mcp_mcp_connection_conf_t, max_reconnect_delay_ms), "30s",
      10, 86400000, NULL, NULL, NULL, NULL,
      "cap of the retry delay" },
    { "connection_timeout", MCP_CFG_T_DURATION,
      offsetof(mcp_mcp_connection_conf_t, connection_timeout_ms), "30s",
      100, 3600000, NULL, NULL, NULL, NULL,
      "how long a server may take to start and answer initialize" },
    { "ping_interval", MCP_CFG_T_DURATION,
      offsetof(mcp_mcp_connection_conf_t, ping_interval_ms), "30s",
      0, 86400000, NULL, NULL, NULL, NULL,
      "ping each ready server this often (0: never)" },
    { "ping_timeout", MCP_CFG_T_DURATION,
      offsetof(mcp_mcp_connection_conf_t, ping_timeout_ms), "10s",
      10, 3600000, NULL, NULL, NULL, NULL,
      "a server that does not answer a ping in time is restarted" },
    MCP_FIELD_END
};

const mcp_cfg_field_t  mcp_mcp_conf_fields[] = {
    { "config_file", MCP_CFG_T_STRING, offsetof(mcp_mcp_conf_t, config_file),
      NULL, 0, 0, NULL, NULL, NULL, NULL,
      "servers.json (mcpServers format), relative to this YAML file; "
      "none: no MCP servers" },
    { "call_timeout", MCP_CFG_T_DURATION,
      offsetof(mcp_mcp_conf_t, call_timeout_ms), "60s",
      10, 86400000, NULL, NULL, NULL, NULL,
      "a call without a reply (or progress) for this long fails" },
    { "max_call_duration", MCP_CFG_T_DURATION,
      offsetof(mcp_mcp_conf_t, max_call_duration_ms), "10m",
      10, 86400000, NULL, NULL, NULL, NULL,
      "hard cap on a call, however much progress it reports" },
    { "max_result_size", MCP_CFG_T_SIZE,
      offsetof(mcp_mcp_conf_t, max_result_size), "100k",
      256, 1073741824, NULL, NULL, NULL, NULL,
      "tool result text handed to the model, head and tail kept" },
    { "max_message_size", MCP_CFG_T_SIZE,
      offsetof(mcp_mcp_conf_t, max_message_size), "64m",
      4096, 1073741824, NULL, NULL, NULL, NULL,
      "largest JSON-RPC message accepted from a server" },
    { "schema_cache_size", MCP_CFG_T_INT,
      offsetof(mcp_mcp_conf_t, schema_cache_size), "512",
      1, 1000000, NULL, NULL, NULL, NULL,
      "converted tool schemas kept (LRU)" },
    { "roots", MCP_CFG_T_STRING_LIST, offsetof(mcp_mcp_conf_t, roots),
      NULL, 0, 0, NULL, NULL, NULL, NULL,
      "directories (or file:// URIs) offered to servers via roots/list" },
    { "connection", MCP_CFG_T_SECTION, offsetof(mcp_mcp_conf_t, connection),
      NULL, 0, 0, NULL, mcp_mcp_connection_conf_fields, NULL, NULL,
      "starting, pinging and restarting servers" },
    MCP_FIELD_END
};
