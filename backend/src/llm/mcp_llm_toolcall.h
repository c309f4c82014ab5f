/*
 * Assembles streamed tool-call deltas (choices[0].delta.tool_calls) into
 * whole calls, whatever chunking style the provider uses:
 *
 *   - merged by "index"; a missing index continues the call with the same
 *     id, else the last call;
 *   - the id only in the first chunk (GLM via OpenRouter), in every chunk
 *     (vLLM), or every parallel call at index 0 (Ollama, Grok): a NEW id at
 *     an index already taken starts a new call, the same id continues it;
 *   - a name repeated verbatim in later chunks is not doubled;
 *   - JSON null fragments count as empty;
 *   - arguments are appended to a doubling buffer, so a megabyte of
 *     arguments in one-byte fragments is linear work.
 *
 * Calls keep the order of their first appearance.  Ids are never invented.
 */

#ifndef MCP_LLM_TOOLCALL_H
#define MCP_LLM_TOOLCALL_H

#include <jansson.h>
#include <stddef.h>

#include "llm/mcp_llm_buf.h"

typedef struct {
    long           index;
    mcp_llm_buf_t  id;
    mcp_llm_buf_t  type;
    mcp_llm_buf_t  name;
    mcp_llm_buf_t  arguments;
} mcp_llm_tool_call_t;

typedef struct {
    mcp_llm_tool_call_t  *calls;
    size_t                n;
    size_t                cap;
    size_t                max_calls;     /* 0: 128 */
    size_t                max_bytes;     /* per call's arguments; 0: 16 MiB */
} mcp_llm_toolcalls_t;

#define MCP_LLM_TC_ERR_BAD        (-1)   /* not a tool_calls array/object */
#define MCP_LLM_TC_ERR_TOO_LARGE  (-2)
#define MCP_LLM_TC_ERR_NOMEM      (-3)

void mcp_llm_toolcalls_init(mcp_llm_toolcalls_t *tc);
void mcp_llm_toolcalls_free(mcp_llm_toolcalls_t *tc);
void mcp_llm_toolcalls_reset(mcp_llm_toolcalls_t *tc);

/* One delta's "tool_calls" array.  0 or MCP_LLM_TC_ERR_*. */
int mcp_llm_toolcalls_add(mcp_llm_toolcalls_t *tc, const json_t *deltas);
/* A complete message's tool_calls (non-streaming): same merge, one pass. */
#define mcp_llm_toolcalls_add_full  mcp_llm_toolcalls_add

/* The calls as an OpenAI "tool_calls" array (new reference). */
json_t *mcp_llm_toolcalls_json(const mcp_llm_toolcalls_t *tc);

#endif /* MCP_LLM_TOOLCALL_H */
