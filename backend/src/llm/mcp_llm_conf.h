/*
 * The `llm` section of mcpd.yaml:
 *
 *   llm:
 *     active: openai                 # provider used when a caller names none
 *     fallback: groq                 # optional: used when a provider's breaker
 *                                    # is open or its retries are exhausted
 *     providers:
 *       <name>:                      # openai, groq, openrouter, or any name
 *         base_url, model, temperature, max_tokens, top_p,
 *         api_key_env,               # env var holding the key ("" = no auth)
 *         http_referer, x_title,     # OpenRouter attribution headers
 *         openai_beta,               # OpenAI-Beta header, sent when set
 *         http_client: { max_connections, max_keepalive, keepalive_expiry,
 *           connect_timeout, read_timeout, write_timeout, pool_timeout,
 *           concurrent_requests, queue_size, queue_timeout,
 *           requests_per_minute, tokens_per_minute, max_retries,
 *           backoff_factor, max_backoff, retry_budget,
 *           breaker_failures, breaker_cooldown, http2 }
 *
 * Providers are a map of any names; openai, groq and openrouter get their
 * well-known base_url, model and key variable when those are left out.
 */

#ifndef MCP_LLM_CONF_H
#define MCP_LLM_CONF_H

#include <stddef.h>
#include <stdint.h>

#include "core/mcp_config.h"

typedef struct {
    int64_t   max_connections;
    int64_t   max_keepalive;
    int64_t   keepalive_expiry_ms;
    int64_t   connect_timeout_ms;
    int64_t   read_timeout_ms;
    int64_t   write_timeout_ms;
    int64_t   pool_timeout_ms;
    int64_t   concurrent_requests;
    int64_t   queue_size;
    int64_t   queue_timeout_ms;
    int64_t   requests_per_minute;
    int64_t   tokens_per_minute;
    int64_t   max_retries;
    double    backoff_factor;
    int64_t   max_backoff_ms;
    int64_t   retry_budget_ms;
    int64_t   breaker_failures;
    int64_t   breaker_cooldown_ms;
    int       http2;
} mcp_llm_http_conf_t;

typedef struct {
    char                 *name;          /* the map key */
    char                 *base_url;
    char                 *model;
    double                temperature;
    int64_t               max_tokens;
    double                top_p;
    char                 *api_key_env;
    char                 *http_referer;
    char                 *x_title;
    char                 *openai_beta;
    mcp_llm_http_conf_t   http_client;
} mcp_llm_provider_conf_t;

typedef struct {
    size_t                    n;
    mcp_llm_provider_conf_t  *items;
} mcp_llm_providers_conf_t;

typedef struct {
    char                      *active;
    char                      *fallback;
    mcp_llm_providers_conf_t   providers;
} mcp_llm_conf_t;

extern const mcp_cfg_field_t  mcp_llm_http_conf_fields[];
extern const mcp_cfg_field_t  mcp_llm_provider_conf_fields[];
extern const mcp_cfg_field_t  mcp_llm_conf_fields[];

/* The provider of that name, or NULL. */
const mcp_llm_provider_conf_t *mcp_llm_conf_provider(
    const mcp_llm_conf_t *conf, const char *name);

/*
 * Cross-field checks a field table cannot express (active and fallback
 * name configured providers).  node is the `llm` map, for locations; may
 * be NULL.
 */
int mcp_llm_conf_check(const mcp_llm_conf_t *conf,
    const mcp_cfg_node_t *node, mcp_err_t *err);

/*
 * The binder core's top-level table uses for `llm` (MCP_CFG_T_CUSTOM, with
 * mcp_llm_conf_fields as its section for documentation): binds the table,
 * then runs mcp_llm_conf_check, so --check-config catches everything.
 */
int mcp_llm_conf_bind(const mcp_cfg_node_t *node, void *dst, mcp_err_t *err);
void mcp_llm_conf_unbind(void *dst);

#endif /* MCP_LLM_CONF_H */
