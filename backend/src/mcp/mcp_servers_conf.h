/*
 * servers.json: the Claude Desktop "mcpServers" format.
 *
 *   {"mcpServers": {
 *      "fs":   {"command": "npx", "args": [...], "env": {...}, "cwd": "...",
 *               "enabled": true},
 *      "web":  {"url": "http://127.0.0.1:3001/mcp", "headers": {...}},
 *      "old":  {"type": "sse", "url": "http://host/sse"}}}
 *
 * A server has either "command" (stdio) or "url" (Streamable HTTP, or the
 * legacy HTTP+SSE transport with "type": "sse").  Keys starting with "_"
 * are comments.  Anything else unknown, or of the wrong type, is an error
 * naming the server and the key, so a typo never silently disables a
 * server.  Servers keep the file's order (it decides tool-name prefixes).
 */

#ifndef MCP_SERVERS_CONF_H
#define MCP_SERVERS_CONF_H

#include <stddef.h>
#include <stdint.h>

#include "core/mcp_config.h"

typedef enum {
    MCP_TRANSPORT_STDIO = 0,
    MCP_TRANSPORT_HTTP,       /* Streamable HTTP */
    MCP_TRANSPORT_SSE         /* legacy HTTP+SSE (2024-11-05) */
} mcp_transport_kind_e;

typedef struct {
    char     *name;
    int       enabled;
    int       transport;        /* mcp_transport_kind_e */
    char     *command;
    char    **args;             /* NULL-terminated argv, args[0] = command */
    size_t    nargs;            /* without command */
    char    **env;              /* "KEY=VALUE" overrides, n in nenv */
    size_t    nenv;
    char     *cwd;              /* NULL: mcpd's */
    char     *url;
    char    **headers;          /* "Name: value", n in nheaders */
    size_t    nheaders;
    int64_t   timeout_ms;       /* per-server call timeout; 0: mcp.call_timeout */
} mcp_server_conf_t;

typedef struct {
    size_t              n;
    mcp_server_conf_t  *items;
} mcp_servers_conf_t;

int mcp_servers_conf_parse(const char *name, const char *text, size_t len,
    mcp_servers_conf_t *out, mcp_err_t *err);
/* Read and parse a file (at startup or from the CLI: a small file). */
int mcp_servers_conf_load(const char *path, mcp_servers_conf_t *out,
    mcp_err_t *err);
void mcp_servers_conf_free(mcp_servers_conf_t *c);

const char *mcp_transport_name(int kind);

#endif /* MCP_SERVERS_CONF_H */
