/*
 * mcpd glue for the MCP host: the "mcp" subsystem (starts every server,
 * registers mcp_stats, stops with the daemon) and the `mcp` command.
 */

#ifndef MCP_HOST_DAEMON_H
#define MCP_HOST_DAEMON_H

#include "core/mcp_daemon.h"
#include "mcp/mcp_host.h"

int mcp_host_subsystem_init(mcp_daemon_t *d, mcp_err_t *err);
/* The running host (for the chat service), or NULL before init. */
mcp_host_t *mcp_host_from_daemon(mcp_daemon_t *d);

/* mcpd -c CONFIG mcp list|call|prompt|read|shell|connect ... */
int mcp_cli_main(mcp_daemon_t *d, int argc, char **argv);

/* the directory of the YAML file, for paths relative to it */
void mcp_conf_dir(const char *conf_path, char *out, size_t size);

#endif /* MCP_HOST_DAEMON_H */
