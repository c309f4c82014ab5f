/*
 * `mcpd -c CONFIG llm call PROVIDER 'JSON-messages' [options]`: drive the
 * provider layer exactly as mcpd does (same config, same loop, same code)
 * and print every event as one JSON line on stdout.  For operators (is my
 * key, base_url, limit right?) and for the integration tests.
 *
 * argv[0] is "llm".  Returns the exit status: 0 all requests completed,
 * 1 some failed, 2 usage or config error.
 */

#ifndef MCP_LLM_CLI_H
#define MCP_LLM_CLI_H

#include <uv.h>

#include "core/mcp_log.h"
#include "llm/mcp_llm_conf.h"

/* On the daemon's loop (not yet running), with the llm section bound. */
int mcp_llm_cli(uv_loop_t *loop, const mcp_llm_conf_t *conf,
    const mcp_log_t *log, int argc, char **argv);

#endif /* MCP_LLM_CLI_H */
