/*
 * The offline demo provider: what `make run` answers with when no API key
 * is set.  It is not a model and says so in every reply and in status.  It
 * streams word by word, and calls the configured MCP tools when a message
 * asks for what they do (two numbers to add: a *get-sum* or *add* tool;
 * "echo ...": an *echo* tool), then reports their results, so the whole
 * loop (deltas, tool_call, tool_result, a second turn) can be seen.
 *
 * A few messages script it for tests and demos, documented in
 * docs/operations.md: "offline:slow" (one word per 100 ms, for a long
 * reply), "offline:loop" (always calls a tool: tool_limit_reached),
 * "offline:fail" (a provider_error), "offline:parallel" (two tool calls in
 * one turn), "offline:long" (server-everything's 30 s long-running
 * operation, to see cancel and disconnect stop a tool).
 */

#ifndef MCP_CHAT_OFFLINE_H
#define MCP_CHAT_OFFLINE_H

#include <uv.h>

#include "chat/mcp_chat_provider.h"

#define MCP_CHAT_OFFLINE_MODEL   "offline-demo"
#define MCP_CHAT_OFFLINE_NOTICE  "[offline demo provider, not a language " \
    "model: set OPENAI_API_KEY, GROQ_API_KEY or OPENROUTER_API_KEY for a " \
    "real one] "

/* delay_ms between streamed words (0: as fast as the loop goes).  NULL on
   out of memory; free with provider->close(provider->ctx) and free(). */
mcp_chat_provider_t *mcp_chat_offline_new(uv_loop_t *loop, int64_t delay_ms);

#endif /* MCP_CHAT_OFFLINE_H */
