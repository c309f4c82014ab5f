/*
 * The top-level field table of mcpd.yaml.  Defaults here are documented in
 * docs/configuration.md; keep the two in step.
 */

#include <stddef.h>
#include <string.h>

#include "core/mcp_conf.h"
#include "core/mcp_log.h"

#define MCP_FIELD_END  { NULL, 0, 0, NULL, 0, 0, NULL, NULL, NULL, NULL, NULL }

const mcp_cfg_field_t  mcp_daemon_conf_fields[] = {
    { "socket", MCP_CFG_T_STRING, offsetof(mcp_daemon_conf_t, socket),
      "run/mcpd.sock", 0, 0, NULL, NULL, NULL, NULL,
      "unix socket the nginx workers connect to (mcp_backend unix:PATH)" },
    { "shutdown_timeout", MCP_CFG_T_DURATION,
      offsetof(mcp_daemon_conf_t, shutdown_timeout_ms), "10s",
      0, 600000, NULL, NULL, NULL, NULL,
      "how long a graceful stop may take before mcpd exits anyway" },
    { "shutdown_grace", MCP_CFG_T_DURATION,
      offsetof(mcp_daemon_conf_t, shutdown_grace_ms), "2s",
      0, 60000, NULL, NULL, NULL, NULL,
      "at stop, how long in-flight requests get to send their last frame "
      "and store what they produced before the links close" },
    { "max_links", MCP_CFG_T_INT, offsetof(mcp_daemon_conf_t, max_links),
      "256", 1, 65536, NULL, NULL, NULL, NULL,
      "links (one per nginx worker) accepted at once" },
    { "max_frame_size", MCP_CFG_T_SIZE,
      offsetof(mcp_daemon_conf_t, max_frame_size), "16m",
      4096, 67108864, NULL, NULL, NULL, NULL,
      "largest link frame payload accepted; match mcp_max_message_size" },
    { "link_buffer_size", MCP_CFG_T_SIZE,
      offsetof(mcp_daemon_conf_t, link_buffer_size), "128k",
      65536, 1073741824, NULL, NULL, NULL, NULL,
      "unsent bytes per link before its sessions' producers are paused; "
      "keep it at most an eighth of nginx's mcp_send_buffer_size" },
    MCP_FIELD_END
};

const mcp_cfg_field_t  mcp_logging_conf_fields[] = {
    { "level", MCP_CFG_T_ENUM, offsetof(mcp_logging_conf_t, level), "info",
      0, 0, mcp_log_level_names, NULL, NULL, NULL,
      "debug, info, warn or error" },
    { "format", MCP_CFG_T_ENUM, offsetof(mcp_logging_conf_t, format), "text",
      0, 0, mcp_log_format_names, NULL, NULL, NULL,
      "text (one human line) or json (one JSON object per line)" },
    MCP_FIELD_END
};

const mcp_cfg_field_t  mcp_conf_fields[] = {
    { "daemon", MCP_CFG_T_SECTION, offsetof(mcp_conf_t, daemon), NULL,
      0, 0, NULL, mcp_daemon_conf_fields, NULL, NULL, "the daemon itself" },
    { "logging", MCP_CFG_T_SECTION, offsetof(mcp_conf_t, logging), NULL,
      0, 0, NULL, mcp_logging_conf_fields, NULL, NULL, "logs on stderr" },
    /* subsystem sections: one line each */
    { "chat", MCP_CFG_T_SECTION, offsetof(mcp_conf_t, chat), NULL,
      0, 0, NULL, mcp_chat_conf_fields, NULL, NULL, "the chat service" },
    { "persistence", MCP_CFG_T_SECTION, offsetof(mcp_conf_t, persistence),
      NULL, 0, 0, NULL, mcp_persist_conf_fields, NULL, NULL,
      "what the conversation store keeps, and for how long" },
    { "llm", MCP_CFG_T_CUSTOM, offsetof(mcp_conf_t, llm), NULL, 0, 0, NULL,
      mcp_llm_conf_fields, mcp_llm_conf_bind, mcp_llm_conf_unbind,
      "LLM providers" },
    { "mcp", MCP_CFG_T_SECTION, offsetof(mcp_conf_t, mcp), NULL,
      0, 0, NULL, mcp_mcp_conf_fields, NULL, NULL, "the MCP host" },
    { "redis", MCP_CFG_T_SECTION, offsetof(mcp_conf_t, redis), NULL,
      0, 0, NULL, mcp_redis_conf_fields, NULL, NULL,
      "shared state across instances (optional)" },
    MCP_FIELD_END
};


int
mcp_conf_load(const char *path, mcp_conf_t *conf, mcp_cfg_node_t **root,
    mcp_err_t *err)
{
    mcp_cfg_node_t  *tree;

    memset(conf, 0, sizeof(*conf));
    *root = NULL;

    tree = mcp_cfg_parse_file(path, err);
    if (tree == NULL) {
        return -1;
    }

    if (mcp_cfg_bind(tree, mcp_conf_fields, conf, err) != 0) {
        mcp_cfg_unbind(mcp_conf_fields, conf);
        mcp_cfg_free(tree);
        return -1;
    }

    *root = tree;
    return 0;
}


void
mcp_conf_free(mcp_conf_t *conf, mcp_cfg_node_t *root)
{
    mcp_cfg_unbind(mcp_conf_fields, conf);
    mcp_cfg_free(root);
}
