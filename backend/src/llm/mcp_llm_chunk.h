/*
 * The common streamed chunk, read without building a JSON tree.
 *
 * Nearly every event of a streamed answer is the same small object:
 *
 *   {"id":"..","object":"chat.completion.chunk","created":1,"model":"m",
 *    "choices":[{"index":0,"delta":{"content":"Hel"},"finish_reason":null}]}
 *
 * Parsing each into a jansson tree, to read one string out of it and free
 * the tree, was about 9 % of mcpd's CPU at 2,000 turns/s
 * (docs/benchmarks.md, "Chat turns").  mcp_llm_chunk_scan() reads such an
 * event in one pass and validates all of it.  It answers "plain" only
 * when the tree would have said exactly the same: maybe a text delta,
 * maybe the model, and nothing else to act on.  Anything else answers
 * "not plain", and the caller parses the event with jansson as before:
 * tool calls, a finish_reason, usage, an error, a duplicate of a key that
 * matters, an escaped key, a number jansson could refuse, nesting deeper
 * than MCP_LLM_CHUNK_MAX_DEPTH, and any input that is not valid JSON.
 * So a "not plain" answer costs one extra pass, and never a different
 * outcome.
 */

#ifndef MCP_LLM_CHUNK_H
#define MCP_LLM_CHUNK_H

#include <stddef.h>

#define MCP_LLM_CHUNK_MAX_DEPTH  32

typedef struct {
    const char  *content;           /* choices[0].delta.content as written */
    size_t       content_len;       /*   (escapes not yet decoded) */
    const char  *model;             /* "model", free of escapes; or NULL */
    size_t       model_len;
    unsigned     has_content:1;     /* content is a string */
    unsigned     content_escaped:1; /* it holds a backslash escape */
} mcp_llm_chunk_t;

/* 1: a plain chunk, described in *c; 0: anything else (parse it fully). */
int mcp_llm_chunk_scan(const char *p, size_t len, mcp_llm_chunk_t *c);

/*
 * Decode the escapes of a string that mcp_llm_chunk_scan() accepted into
 * out, which has room for len bytes (decoding never lengthens).  Returns
 * the decoded length.
 */
size_t mcp_llm_chunk_unescape(const char *in, size_t len, char *out);

#endif /* MCP_LLM_CHUNK_H */
