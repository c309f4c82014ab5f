/* The `llm` section: field tables and checks (see mcp_llm_conf.h). */

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llm/mcp_llm_conf.h"

#define F_END  { NULL, 0, 0, NULL, 0, 0, NULL, NULL, NULL, NULL, NULL }
#define H(key, type, member, def, min, max, doc)                             \
    { key, type, offsetof(mcp_llm_http_conf_t, member), def, min, max,       \
      NULL, NULL, NULL, NULL, doc }
#define P(key, type, member, def, min, max, doc)                             \
    { key, type, offsetof(mcp_llm_provider_conf_t, member), def, min, max,   \
      NULL, NULL, NULL, NULL, doc }

const mcp_cfg_field_t  mcp_llm_http_conf_fields[] = {
    H("max_connections", MCP_CFG_T_INT, max_connections, "20", 1, 10000,
      "connections open to the provider at most (libcurl pool size)"),
    H("max_keepalive", MCP_CFG_T_INT, max_keepalive, "10", 0, 10000,
      "idle connections kept for reuse"),
    H("keepalive_expiry", MCP_CFG_T_DURATION, keepalive_expiry_ms, "30s",
      1000, 86400000, "an idle connection older than this is not reused"),
    H("connect_timeout", MCP_CFG_T_DURATION, connect_timeout_ms, "10s",
      1, 600000, "TCP + TLS connect"),
    H("read_timeout", MCP_CFG_T_DURATION, read_timeout_ms, "60s", 1, 3600000,
      "longest silence from the provider: before the first byte and "
      "between bytes of a stream"),
    H("write_timeout", MCP_CFG_T_DURATION, write_timeout_ms, "10s",
      1, 600000, "sending the request once connected"),
    H("pool_timeout", MCP_CFG_T_DURATION, pool_timeout_ms, "5s", 1, 3600000,
      "longest wait for a free concurrency slot (all concurrent_requests "
      "busy) before failing with queue_timeout"),
    H("concurrent_requests", MCP_CFG_T_INT, concurrent_requests, "20",
      1, 10000, "requests in flight at once; more wait in the queue"),
    H("queue_size", MCP_CFG_T_INT, queue_size, "1000", 0, 1000000,
      "requests that may wait (for a slot or for rate budget); beyond it "
      "a request fails at once with queue_full"),
    H("queue_timeout", MCP_CFG_T_DURATION, queue_timeout_ms, "60s",
      1, 3600000, "longest total wait in the queue (rate-limit delays "
      "included) before failing with queue_timeout"),
    H("requests_per_minute", MCP_CFG_T_INT, requests_per_minute, "0",
      0, 100000000, "request budget per minute; 0: unlimited"),
    H("tokens_per_minute", MCP_CFG_T_INT, tokens_per_minute, "0",
      0, 1000000000000.0, "token budget per minute (prompt estimate + "
      "max_tokens reserved, settled with real usage); 0: unlimited"),
    H("max_retries", MCP_CFG_T_INT, max_retries, "3", 0, 20,
      "retries on 429, 5xx and network errors before any output"),
    H("backoff_factor", MCP_CFG_T_DOUBLE, backoff_factor, "0.5", 0, 600,
      "seconds; retry n waits uniform(0, factor * 2^n) (full jitter) "
      "unless the provider sent Retry-After"),
    H("max_backoff", MCP_CFG_T_DURATION, max_backoff_ms, "30s", 0, 3600000,
      "cap on one backoff wait"),
    H("retry_budget", MCP_CFG_T_DURATION, retry_budget_ms, "60s",
      0, 3600000, "cap on the total time spent waiting between retries; "
      "a Retry-After beyond it fails at once"),
    H("breaker_failures", MCP_CFG_T_INT, breaker_failures, "5", 0, 1000,
      "consecutive failures (5xx, network, timeout) that open the circuit "
      "breaker; 0: no breaker"),
    H("breaker_cooldown", MCP_CFG_T_DURATION, breaker_cooldown_ms, "30s",
      1, 3600000, "how long the breaker stays open before one probe"),
    H("http2", MCP_CFG_T_BOOL, http2, "true", 0, 0,
      "negotiate HTTP/2 over TLS when the provider offers it"),
    F_END
};

const mcp_cfg_field_t  mcp_llm_provider_conf_fields[] = {
    P("base_url", MCP_CFG_T_STRING, base_url, NULL, 0, 0,
      "API root; requests go to {base_url}/chat/completions "
      "(openai, groq, openrouter: their public API when omitted)"),
    P("model", MCP_CFG_T_STRING, model, NULL, 0, 0, "model name"),
    P("temperature", MCP_CFG_T_DOUBLE, temperature, "0.7", 0, 2,
      "sampling temperature"),
    P("max_tokens", MCP_CFG_T_INT, max_tokens, "4096", 1, 10000000,
      "completion tokens at most (also reserved against tokens_per_minute)"),
    P("top_p", MCP_CFG_T_DOUBLE, top_p, "1.0", 0, 1, "nucleus sampling"),
    P("api_key_env", MCP_CFG_T_STRING, api_key_env, NULL, 0, 0,
      "environment variable holding the API key (default <NAME>_API_KEY; "
      "\"\" sends no Authorization)"),
    P("http_referer", MCP_CFG_T_STRING, http_referer, NULL, 0, 0,
      "HTTP-Referer header (OpenRouter attribution; default for "
      "openrouter: https://github.com/mcp-edge)"),
    P("x_title", MCP_CFG_T_STRING, x_title, NULL, 0, 0,
      "X-Title header (OpenRouter attribution; default for openrouter: "
      "mcp-edge)"),
    P("openai_beta", MCP_CFG_T_STRING, openai_beta, NULL, 0, 0,
      "OpenAI-Beta header, sent only when set"),
    { "http_client", MCP_CFG_T_SECTION,
      offsetof(mcp_llm_provider_conf_t, http_client), NULL, 0, 0, NULL,
      mcp_llm_http_conf_fields, NULL, NULL, "the provider's HTTP pool" },
    F_END
};

typedef struct {
    const char  *name;
    const char  *base_url;
    const char  *model;
} mcp_llm_known_t;

static const mcp_llm_known_t  mcp_llm_known[] = {
    { "openai", "https://api.openai.com/v1", "gpt-4o-mini" },
    { "groq", "https://api.groq.com/openai/v1", "llama-3.3-70b-versatile" },
    { "openrouter", "https://openrouter.ai/api/v1", "google/gemini-2.5-flash" },
};

static int
conf_set_default(char **dst, const char *value)
{
    if (*dst != NULL || value == NULL) {
        return 0;
    }
    *dst = strdup(value);
    return *dst ? 0 : -1;
}

static int
conf_provider_defaults(mcp_llm_provider_conf_t *p)
{
    const mcp_llm_known_t  *k = NULL;
    char                    env[128];
    size_t                  i;

    for (i = 0; i < sizeof(mcp_llm_known) / sizeof(mcp_llm_known[0]); i++) {
        if (strcmp(p->name, mcp_llm_known[i].name) == 0) {
            k = &mcp_llm_known[i];
        }
    }

    if (p->api_key_env == NULL) {
        for (i = 0; p->name[i] && i < sizeof(env) - 9; i++) {
            env[i] = isalnum((unsigned char) p->name[i])
                     ? (char) toupper((unsigned char) p->name[i]) : '_';
        }
        memcpy(env + i, "_API_KEY", 9);
        if (conf_set_default(&p->api_key_env, env) != 0) {
            return -1;
        }
    }

    if (k && (conf_set_default(&p->base_url, k->base_url) != 0
              || conf_set_default(&p->model, k->model) != 0))
    {
        return -1;
    }

    if (strcmp(p->name, "openrouter") == 0
        && (conf_set_default(&p->http_referer, "https://github.com/mcp-edge")
            != 0 || conf_set_default(&p->x_title, "mcp-edge") != 0))
    {
        return -1;
    }
    return 0;
}

static int
conf_provider_check(const mcp_cfg_node_t *node, mcp_llm_provider_conf_t *p,
    mcp_err_t *err)
{
    const mcp_llm_http_conf_t  *h = &p->http_client;
    const mcp_cfg_node_t       *hn = mcp_cfg_child(node, "http_client");

    if (p->base_url == NULL || p->base_url[0] == '\0') {
        mcp_err_set(err, node, "'%s.base_url' is required for a provider "
                    "other than openai, groq and openrouter",
                    mcp_cfg_name(node));
        return -1;
    }
    if (strncmp(p->base_url, "http://", 7) != 0
        && strncmp(p->base_url, "https://", 8) != 0)
    {
        mcp_err_set(err, node, "'%s.base_url' must start with http:// or "
                    "https://", mcp_cfg_name(node));
        return -1;
    }
    if (p->model == NULL || p->model[0] == '\0') {
        mcp_err_set(err, node, "'%s.model' is required", mcp_cfg_name(node));
        return -1;
    }
    if (hn == NULL) {
        hn = node;
    }
    if (h->max_keepalive > h->max_connections) {
        mcp_err_set(err, hn, "'%s': max_keepalive (%lld) must "
                    "not exceed max_connections (%lld)", mcp_cfg_name(hn),
                    (long long) h->max_keepalive,
                    (long long) h->max_connections);
        return -1;
    }
    if (h->concurrent_requests > h->max_connections) {
        mcp_err_set(err, hn, "'%s': concurrent_requests (%lld) "
                    "must not exceed max_connections (%lld)",
                    mcp_cfg_name(hn), (long long) h->concurrent_requests,
                    (long long) h->max_connections);
        return -1;
    }
    return 0;
}

static void
conf_providers_free(void *dst)
{
    mcp_llm_providers_conf_t  *ps = dst;
    size_t                     i;

    for (i = 0; i < ps->n; i++) {
        mcp_cfg_unbind(mcp_llm_provider_conf_fields, &ps->items[i]);
        free(ps->items[i].name);
    }
    free(ps->items);
    ps->items = NULL;
    ps->n = 0;
}

static int
conf_providers_bind(const mcp_cfg_node_t *node, void *dst, mcp_err_t *err)
{
    mcp_llm_providers_conf_t  *ps = dst;
    mcp_llm_provider_conf_t   *p;
    size_t                     i;

    if (node == NULL || mcp_cfg_is_null(node)) {
        return 0;
    }
    if (node->kind != MCP_CFG_MAP) {
        mcp_err_set(err, node, "'%s' must be a map of provider names",
                    mcp_cfg_name(node));
        return -1;
    }

    ps->items = calloc(node->n ? node->n : 1, sizeof(*ps->items));
    if (ps->items == NULL) {
        mcp_err_set(err, node, "out of memory");
        return -1;
    }

    for (i = 0; i < node->n; i++) {
        p = &ps->items[ps->n++];
        p->name = strdup(node->keys[i]);
        if (p->name == NULL) {
            mcp_err_set(err, node, "out of memory");
            return -1;
        }
        if (node->items[i]->kind != MCP_CFG_MAP
            && !mcp_cfg_is_null(node->items[i]))
        {
            mcp_err_set(err, node->items[i], "'%s' must be a map",
                        mcp_cfg_name(node->items[i]));
            return -1;
        }
        if (mcp_cfg_bind(mcp_cfg_is_null(node->items[i]) ? NULL
                                                         : node->items[i],
                         mcp_llm_provider_conf_fields, p, err) != 0)
        {
            return -1;
        }
        if (conf_provider_defaults(p) != 0) {
            mcp_err_set(err, node, "out of memory");
            return -1;
        }
        if (conf_provider_check(node->items[i], p, err) != 0) {
            return -1;
        }
    }
    return 0;
}

const mcp_cfg_field_t  mcp_llm_conf_fields[] = {
    { "active", MCP_CFG_T_STRING, offsetof(mcp_llm_conf_t, active), "openai",
      0, 0, NULL, NULL, NULL, NULL,
      "provider used when a request names none" },
    { "fallback", MCP_CFG_T_STRING, offsetof(mcp_llm_conf_t, fallback), NULL,
      0, 0, NULL, NULL, NULL, NULL,
      "provider tried when another one's breaker is open or its retries "
      "are exhausted before any output; unset: no fallback" },
    { "providers", MCP_CFG_T_CUSTOM, offsetof(mcp_llm_conf_t, providers),
      NULL, 0, 0, NULL, NULL, conf_providers_bind, conf_providers_free,
      "map of provider name to its settings" },
    F_END
};

const mcp_llm_provider_conf_t *
mcp_llm_conf_provider(const mcp_llm_conf_t *conf, const char *name)
{
    size_t  i;

    for (i = 0; name && i < conf->providers.n; i++) {
        if (strcmp(conf->providers.items[i].name, name) == 0) {
            return &conf->providers.items[i];
        }
    }
    return NULL;
}

int
mcp_llm_conf_check(const mcp_llm_conf_t *conf, const mcp_cfg_node_t *node,
    mcp_err_t *err)
{
    const mcp_cfg_node_t  *n;

    if (conf->providers.n == 0) {
        return 0;       /* no LLM configured: requests fail config_error */
    }
    if (conf->active && mcp_llm_conf_provider(conf, conf->active) == NULL) {
        n = node ? mcp_cfg_child(node, "active") : NULL;
        mcp_err_set(err, n, "'llm.active' names provider '%s', which is not "
                    "in llm.providers", conf->active);
        return -1;
    }
    if (conf->fallback && conf->fallback[0]
        && mcp_llm_conf_provider(conf, conf->fallback) == NULL)
    {
        n = node ? mcp_cfg_child(node, "fallback") : NULL;
        mcp_err_set(err, n, "'llm.fallback' names provider '%s', which is not "
                    "in llm.providers", conf->fallback);
        return -1;
    }
    return 0;
}

int
mcp_llm_conf_bind(const mcp_cfg_node_t *node, void *dst, mcp_err_t *err)
{
    if (node && !mcp_cfg_is_null(node) && node->kind != MCP_CFG_MAP) {
        mcp_err_set(err, node, "'llm' must be a map");
        return -1;
    }
    if (node && mcp_cfg_is_null(node)) {
        node = NULL;
    }
    if (mcp_cfg_bind(node, mcp_llm_conf_fields, dst, err) != 0) {
        return -1;
    }
    return mcp_llm_conf_check(dst, node, err);
}

void
mcp_llm_conf_unbind(void *dst)
{
    mcp_cfg_unbind(mcp_llm_conf_fields, dst);
}
