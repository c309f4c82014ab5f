/*
 * Tool-name mapping: MCP allows 1-128 characters of [A-Za-z0-9._-], the
 * strictest provider (OpenAI) 1-64 of [A-Za-z0-9_-].  Given every
 * (server, tool) pair in config order, build the names the model sees:
 *
 *   1. sanitize the tool name (anything outside [A-Za-z0-9_-] becomes '_');
 *   2. names that now collide across the set get the server prefix,
 *      "<server>__<tool>" (both sanitized);
 *   3. a name longer than 64, or still colliding, is cut and ends with
 *      "_" + 8 hex digits of a stable hash of (server, tool).
 *
 * The result depends only on the set and its order, never on timing; the
 * map is kept both ways (exposed -> server/tool, server/tool -> exposed).
 */

#ifndef MCP_NAMES_H
#define MCP_NAMES_H

#include <stddef.h>

#define MCP_NAME_MAX  64

typedef struct {
    char  *server;
    char  *tool;        /* the original MCP name, sent back in tools/call */
    char  *exposed;     /* what the model sees; set by mcp_names_build */
} mcp_name_t;

typedef struct {
    size_t       n;
    size_t       cap;
    mcp_name_t  *items;
} mcp_names_t;

void mcp_names_init(mcp_names_t *m);
void mcp_names_free(mcp_names_t *m);
/* Append in config order (servers in file order, tools as listed). 0/-1 */
int mcp_names_add(mcp_names_t *m, const char *server, const char *tool);
/* Compute every exposed name.  0, -1 on ENOMEM. */
int mcp_names_build(mcp_names_t *m);

const mcp_name_t *mcp_names_by_exposed(const mcp_names_t *m,
    const char *exposed);
const char *mcp_names_exposed(const mcp_names_t *m, const char *server,
    const char *tool);

/* 1 when s is a valid provider function name */
int mcp_names_valid(const char *s);

#endif /* MCP_NAMES_H */
