/*
 * The MCP host as the chat service's tools (mcp_chat_provider.h).
 */

#ifndef MCP_CHAT_MCP_H
#define MCP_CHAT_MCP_H

#include "chat/mcp_chat_provider.h"
#include "mcp/mcp_host.h"

void mcp_chat_mcp_init(mcp_chat_tools_t *t, mcp_host_t *h);

#endif /* MCP_CHAT_MCP_H */
