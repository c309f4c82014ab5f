/*
 * The provider layer as the chat service's model (mcp_chat_provider.h).
 */

#ifndef MCP_CHAT_LLM_H
#define MCP_CHAT_LLM_H

#include "chat/mcp_chat_provider.h"
#include "llm/mcp_llm.h"

/* provider NULL: llm.active.  NULL on out of memory. */
mcp_chat_provider_t *mcp_chat_llm_new(mcp_llm_t *llm, const char *provider);

/*
 * chat.service.provider auto: the provider to use, or NULL when none has
 * its API key in the environment (then the offline demo provider answers).
 * llm.active first, then openai, groq, openrouter, then any other; a
 * provider with api_key_env "" needs no key.
 */
const char *mcp_chat_llm_pick(const mcp_llm_conf_t *conf);

#endif /* MCP_CHAT_LLM_H */
