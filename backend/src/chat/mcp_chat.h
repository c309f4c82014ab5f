/*
 * The chat service: the client actions chat, cancel, history, list_tools,
 * list_conversations and delete_conversation (docs/websocket-api.md),
 * registered with core; the tool loop over a model provider and MCP tools;
 * its status under "chat_stats".
 */

#ifndef MCP_CHAT_H
#define MCP_CHAT_H

#include "core/mcp_daemon.h"

typedef struct mcp_chat_s  mcp_chat_t;

/*
 * mcpd's subsystem entry: reads d->conf->chat.service, finds the
 * repository (repo/ must be initialised first), picks the provider
 * (chat.service.provider), registers actions, status and hooks.
 */
int mcp_chat_daemon_init(mcp_daemon_t *d, mcp_err_t *err);

#endif /* MCP_CHAT_H */
