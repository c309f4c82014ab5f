/*
 * The provider layer as an mcpd subsystem: created at start from the
 * bound `llm` section, its stats under "llm_client_stats", closed by the
 * daemon's stop hook (live requests end with "cancelled").  The chat
 * service finds it with mcp_llm_daemon_get().  Also the `llm` command:
 * `mcpd -c CONFIG llm call ...` (mcp_llm_cli.h).
 */

#ifndef MCP_LLM_DAEMON_H
#define MCP_LLM_DAEMON_H

#include "core/mcp_daemon.h"
#include "llm/mcp_llm.h"

int mcp_llm_daemon_init(mcp_daemon_t *d, mcp_err_t *err);
mcp_llm_t *mcp_llm_daemon_get(mcp_daemon_t *d);
int mcp_llm_daemon_command(mcp_daemon_t *d, int argc, char **argv);

#endif /* MCP_LLM_DAEMON_H */
