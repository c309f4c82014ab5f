/*
 * The repository's place in mcpd (see mcp_repo_daemon.c).
 */

#ifndef MCP_REPO_DAEMON_H
#define MCP_REPO_DAEMON_H

#include "core/mcp_daemon.h"
#include "repo/mcp_repo.h"

/* Open from d->conf, register stats and the stop hook.  0 or -1 + err. */
int mcp_repo_daemon_init(mcp_daemon_t *d, mcp_err_t *err);

/* The repository opened by mcp_repo_daemon_init(), or NULL. */
mcp_repo_t *mcp_repo_daemon_get(mcp_daemon_t *d);

#endif /* MCP_REPO_DAEMON_H */
