/*
 * The field tables of chat and chat.service (defaults documented in
 * docs/configuration.md, "Chat service").
 */

#include <stddef.h>
#include <string.h>

#include "chat/mcp_chat_conf.h"

#define MCP_FIELD_END  { NULL, 0, 0, NULL, 0, 0, NULL, NULL, NULL, NULL, NULL }

static const char *const  mcp_chat_provider_values[] = {
    "auto", "llm", "offline", NULL
};

static const mcp_cfg_field_t  mcp_chat_streaming_fields[] = {
    { "enabled", MCP_CFG_T_BOOL,
      offsetof(mcp_chat_streaming_conf_t, enabled), "true", 0, 0, NULL,
      NULL, NULL, NULL,
      "stream text deltas when a request does not say (payload.streaming)" },
    MCP_FIELD_END
};

#define CTX(m)  offsetof(mcp_chat_context_conf_t, m)

static const mcp_cfg_field_t  mcp_chat_context_fields[] = {
    { "max_tokens", MCP_CFG_T_INT, CTX(max_tokens), "4000", 100, 10000000,
      NULL, NULL, NULL, NULL,
      "prompt budget: system prompt, history and the user message" },
    { "reserve_tokens", MCP_CFG_T_INT, CTX(reserve_tokens), "500", 0,
      10000000, NULL, NULL, NULL, NULL,
      "part of max_tokens kept free for the answer" },
    { "cache_conversations", MCP_CFG_T_INT, CTX(cache_conversations),
      "1024", 0, 10000000, NULL, NULL, NULL, NULL,
      "assembled contexts kept in memory (LRU); 0: read history each turn" },
    { "mcp_prompt", MCP_CFG_T_STRING, CTX(mcp_prompt), NULL, 0, 0, NULL,
      NULL, NULL, NULL,
      "an MCP prompt (server/name, no required arguments) whose text joins "
      "the system prompt" },
    { "mcp_resources", MCP_CFG_T_STRING_LIST, CTX(mcp_resources), NULL, 0, 0,
      NULL, NULL, NULL, NULL,
      "MCP resource URIs whose text joins the system prompt" },
    MCP_FIELD_END
};

#define LIM(m)  offsetof(mcp_chat_limits_conf_t, m)

static const mcp_cfg_field_t  mcp_chat_limits_fields[] = {
    { "concurrent_requests", MCP_CFG_T_INT, LIM(concurrent_requests), "16",
      1, 1000000, NULL, NULL, NULL, NULL,
      "chat requests one principal may have running or queued" },
    { "requests_per_minute", MCP_CFG_T_INT, LIM(requests_per_minute), "600",
      0, 100000000, NULL, NULL, NULL, NULL,
      "chat requests one principal may start per minute (0: no limit)" },
    { "conversation_queue", MCP_CFG_T_INT, LIM(conversation_queue), "16", 0,
      100000, NULL, NULL, NULL, NULL,
      "requests waiting behind a running one in the same conversation; "
      "beyond: conversation_busy" },
    MCP_FIELD_END
};

#define SVC(m)  offsetof(mcp_chat_service_conf_t, m)

const mcp_cfg_field_t  mcp_chat_service_conf_fields[] = {
    { "system_prompt", MCP_CFG_T_STRING, SVC(system_prompt),
      "You are a helpful assistant. You have tools; use them when they "
      "help and say which you used.", 0, 0, NULL, NULL, NULL, NULL,
      "the system prompt (trailing whitespace removed)" },
    { "max_tool_hops", MCP_CFG_T_INT, SVC(max_tool_hops), "8", 0, 64, NULL,
      NULL, NULL, NULL,
      "model turns that may call tools in one request; past it: "
      "tool_limit_reached" },
    { "provider", MCP_CFG_T_ENUM, SVC(provider), "auto", 0, 0,
      mcp_chat_provider_values, NULL, NULL, NULL,
      "auto: the llm section's provider when its API key is set, else the "
      "offline demo provider; llm; offline" },
    { "offline_delay", MCP_CFG_T_DURATION, SVC(offline_delay_ms), "20ms", 0,
      10000, NULL, NULL, NULL, NULL,
      "offline provider: pause between streamed words (0: none)" },
    { "streaming", MCP_CFG_T_SECTION, SVC(streaming), NULL, 0, 0, NULL,
      mcp_chat_streaming_fields, NULL, NULL, "streaming default" },
    { "context", MCP_CFG_T_SECTION, SVC(context), NULL, 0, 0, NULL,
      mcp_chat_context_fields, NULL, NULL, "context assembly" },
    { "limits", MCP_CFG_T_SECTION, SVC(limits), NULL, 0, 0, NULL,
      mcp_chat_limits_fields, NULL, NULL, "per-principal limits" },
    { "repository", MCP_CFG_T_SECTION, SVC(repository), NULL, 0, 0, NULL,
      mcp_repo_conf_fields, NULL, NULL, "the conversation store (SQLite)" },
    MCP_FIELD_END
};

const mcp_cfg_field_t  mcp_chat_conf_fields[] = {
    { "service", MCP_CFG_T_SECTION, offsetof(mcp_chat_conf_t, service), NULL,
      0, 0, NULL, mcp_chat_service_conf_fields, NULL, NULL,
      "the chat service" },
    MCP_FIELD_END
};


int
mcp_chat_conf_defaults(mcp_chat_service_conf_t *sc)
{
    mcp_err_t  err;

    memset(sc, 0, sizeof(*sc));
    return mcp_cfg_bind(NULL, mcp_chat_service_conf_fields, sc, &err);
}
