/*
 * chat and chat.service: the chat service's configuration.  The repository
 * keeps its own table (chat.service.repository, repo/mcp_repo_conf.h); this
 * file owns the rest of the section and the two tables core names.
 * Everything is validated when the file is bound, at start (the original
 * checked max_tool_hops lazily, at the first tool call).
 */

#ifndef MCP_CHAT_CONF_H
#define MCP_CHAT_CONF_H

#include <stdint.h>

#include "core/mcp_config.h"
#include "repo/mcp_repo_conf.h"

enum {
    MCP_CHAT_PROVIDER_AUTO = 0,     /* llm when a provider key is set, else
                                       the offline demo provider */
    MCP_CHAT_PROVIDER_LLM,
    MCP_CHAT_PROVIDER_OFFLINE
};

typedef struct {
    int       enabled;              /* chat.service.streaming.enabled */
} mcp_chat_streaming_conf_t;

typedef struct {
    int64_t   max_tokens;           /* the prompt budget */
    int64_t   reserve_tokens;       /* left for the answer */
    int64_t   cache_conversations;  /* assembled contexts kept (LRU) */
    char     *mcp_prompt;           /* "server/name" joined to the system
                                       prompt, or NULL */
    mcp_cfg_strings_t  mcp_resources;   /* resource URIs joined to it */
} mcp_chat_context_conf_t;

typedef struct {
    int64_t   concurrent_requests;  /* per principal, running + queued */
    int64_t   requests_per_minute;  /* per principal; 0: unlimited */
    int64_t   conversation_queue;   /* requests waiting per conversation */
} mcp_chat_limits_conf_t;

typedef struct {
    char                      *system_prompt;
    int64_t                    max_tool_hops;
    int                        provider;        /* MCP_CHAT_PROVIDER_* */
    int64_t                    offline_delay_ms;    /* between deltas */
    mcp_chat_streaming_conf_t  streaming;
    mcp_chat_context_conf_t    context;
    mcp_chat_limits_conf_t     limits;
    mcp_repo_conf_t            repository;      /* repo/ owns its table */
} mcp_chat_service_conf_t;

typedef struct {
    mcp_chat_service_conf_t    service;
} mcp_chat_conf_t;

extern const mcp_cfg_field_t  mcp_chat_service_conf_fields[];
extern const mcp_cfg_field_t  mcp_chat_conf_fields[];

/* The defaults without a file (tests, tools); free with
   mcp_cfg_unbind(mcp_chat_service_conf_fields, sc). 0 or -1. */
int mcp_chat_conf_defaults(mcp_chat_service_conf_t *sc);

#endif /* MCP_CHAT_CONF_H */
