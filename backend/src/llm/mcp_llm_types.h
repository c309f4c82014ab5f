/*
 * Types shared by the provider layer's parts and its callers: token usage
 * and the stable error codes a request can end with.  The codes are part
 * of the client-facing contract (they reach the WebSocket error frame as
 * chunk.code), so they are only ever added to, never renamed.
 */

#ifndef MCP_LLM_TYPES_H
#define MCP_LLM_TYPES_H

#include <stdint.h>

typedef struct {
    int64_t  prompt_tokens;
    int64_t  completion_tokens;
    int64_t  total_tokens;
    int      present;              /* the provider reported usage */
} mcp_llm_usage_t;

typedef enum {
    MCP_LLM_OK = 0,
    MCP_LLM_E_CANCELLED,           /* the caller cancelled */
    MCP_LLM_E_QUEUE_FULL,          /* concurrency/rate wait queue full */
    MCP_LLM_E_QUEUE_TIMEOUT,       /* waited pool_timeout for a slot */
    MCP_LLM_E_CIRCUIT_OPEN,        /* breaker open, no fallback */
    MCP_LLM_E_RATE_LIMITED,        /* 429 after retries / Retry-After > cap */
    MCP_LLM_E_HTTP,                /* other non-2xx status */
    MCP_LLM_E_SERVER,              /* 5xx after retries */
    MCP_LLM_E_CONNECT,             /* could not connect */
    MCP_LLM_E_NETWORK,             /* reset / broken transfer */
    MCP_LLM_E_TIMEOUT,             /* connect/read/write timeout */
    MCP_LLM_E_PROVIDER,            /* error event inside a 200 stream */
    MCP_LLM_E_BAD_RESPONSE,        /* malformed JSON chunk or body */
    MCP_LLM_E_NO_FINISH,           /* stream ended without finish_reason */
    MCP_LLM_E_CONFIG,              /* unknown provider, missing key */
    MCP_LLM_E_INTERNAL,
    MCP_LLM_E__COUNT
} mcp_llm_err_e;

/* "cancelled", "queue_full", ... (stable, snake_case) */
const char *mcp_llm_err_name(mcp_llm_err_e e);

#endif /* MCP_LLM_TYPES_H */
