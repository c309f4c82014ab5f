/* Unit tests for the `llm` config section: defaults, known providers,
 * cross-field checks, and no leaks on success or failure. */

#include <stdlib.h>

#include "unit.h"
#include "llm/mcp_llm_conf.h"

static int
bind_text(const char *text, mcp_llm_conf_t *conf, mcp_err_t *err)
{
    mcp_cfg_node_t  *root;
    int              rc;

    memset(conf, 0, sizeof(*conf));
    root = mcp_cfg_parse_string("t.yaml", text, strlen(text), err);
    if (root == NULL) {
        return -2;
    }
    rc = mcp_llm_conf_bind(mcp_cfg_child(root, "llm"), conf, err);
    mcp_cfg_free(root);
    return rc;
}

static void
test_known_providers_and_defaults(void)
{
    mcp_llm_conf_t                  c;
    mcp_err_t                       err;
    const mcp_llm_provider_conf_t  *p;

    CHECK_EQ_INT(bind_text("llm:\n  providers:\n    openai: {}\n"
                           "    openrouter:\n      model: x/y\n"
                           "    my-vllm:\n      base_url: http://10.0.0.1:8000/v1/\n"
                           "      model: qwen\n      api_key_env: ''\n",
                           &c, &err), 0);
    CHECK_EQ_STR(c.active, "openai");
    CHECK(c.fallback == NULL);
    CHECK_EQ_INT(c.providers.n, 3);

    p = mcp_llm_conf_provider(&c, "openai");
    CHECK(p != NULL);
    CHECK_EQ_STR(p->base_url, "https://api.openai.com/v1");
    CHECK_EQ_STR(p->model, "gpt-4o-mini");
    CHECK_EQ_STR(p->api_key_env, "OPENAI_API_KEY");
    CHECK(p->openai_beta == NULL && p->http_referer == NULL);
    CHECK_EQ_INT(p->max_tokens, 4096);
    CHECK_EQ_INT(p->http_client.max_connections, 20);
    CHECK_EQ_INT(p->http_client.read_timeout_ms, 60000);
    CHECK_EQ_INT(p->http_client.breaker_failures, 5);
    CHECK(p->http_client.http2 == 1);

    p = mcp_llm_conf_provider(&c, "openrouter");
    CHECK_EQ_STR(p->model, "x/y");
    CHECK_EQ_STR(p->x_title, "mcp-edge");
    CHECK(p->http_referer != NULL);

    p = mcp_llm_conf_provider(&c, "my-vllm");
    CHECK_EQ_STR(p->api_key_env, "");
    CHECK(mcp_llm_conf_provider(&c, "nope") == NULL);
    mcp_llm_conf_unbind(&c);

    /* a named provider's key variable defaults to <NAME>_API_KEY */
    CHECK_EQ_INT(bind_text("llm:\n  active: my-llm\n  providers:\n    my-llm:\n"
                           "      base_url: https://x/v1\n      model: m\n",
                           &c, &err), 0);
    CHECK_EQ_STR(c.providers.items[0].api_key_env, "MY_LLM_API_KEY");
    mcp_llm_conf_unbind(&c);

    /* no llm section at all: no providers, not an error */
    CHECK_EQ_INT(bind_text("daemon: {}\n", &c, &err), 0);
    CHECK_EQ_INT(c.providers.n, 0);
    mcp_llm_conf_unbind(&c);
}

static void
test_http_client_values(void)
{
    mcp_llm_conf_t                  c;
    mcp_err_t                       err;
    const mcp_llm_http_conf_t      *h;

    CHECK_EQ_INT(bind_text("llm:\n  providers:\n    groq:\n      http_client:\n"
                           "        max_connections: 30\n        max_keepalive: 10\n"
                           "        concurrent_requests: 15\n"
                           "        requests_per_minute: 600\n"
                           "        read_timeout: 90\n        pool_timeout: 250ms\n"
                           "        backoff_factor: 1.0\n        http2: false\n"
                           "  active: groq\n", &c, &err), 0);
    h = &c.providers.items[0].http_client;
    CHECK_EQ_INT(h->max_connections, 30);
    CHECK_EQ_INT(h->concurrent_requests, 15);
    CHECK_EQ_INT(h->requests_per_minute, 600);
    CHECK_EQ_INT(h->read_timeout_ms, 90000);
    CHECK_EQ_INT(h->pool_timeout_ms, 250);
    CHECK(h->backoff_factor == 1.0);
    CHECK(h->http2 == 0);
    mcp_llm_conf_unbind(&c);
}

static void
test_errors(void)
{
    mcp_llm_conf_t  c;
    mcp_err_t       err;

    CHECK_EQ_INT(bind_text("llm:\n  active: x\n  providers:\n    openai: {}\n",
                           &c, &err), -1);
    CHECK(strstr(err.msg, "t.yaml:2:") && strstr(err.msg, "'x'"));
    mcp_llm_conf_unbind(&c);

    CHECK_EQ_INT(bind_text("llm:\n  fallback: y\n  providers:\n    openai: {}\n",
                           &c, &err), -1);
    CHECK(strstr(err.msg, "fallback") != NULL);
    mcp_llm_conf_unbind(&c);

    CHECK_EQ_INT(bind_text("llm:\n  active: z\n  providers:\n    z:\n      model: m\n",
                           &c, &err), -1);
    CHECK(strstr(err.msg, "base_url") != NULL);
    mcp_llm_conf_unbind(&c);

    CHECK_EQ_INT(bind_text("llm:\n  providers:\n    openai:\n      base_url: ftp://x\n",
                           &c, &err), -1);
    CHECK(strstr(err.msg, "http://") != NULL);
    mcp_llm_conf_unbind(&c);

    CHECK_EQ_INT(bind_text("llm:\n  providers:\n    openai:\n      http_client:\n"
                           "        max_keepalive: 30\n", &c, &err), -1);
    CHECK(strstr(err.msg, "t.yaml:5:") && strstr(err.msg, "max_keepalive"));
    mcp_llm_conf_unbind(&c);

    CHECK_EQ_INT(bind_text("llm:\n  providers:\n    openai:\n      temperature: 3\n",
                           &c, &err), -1);
    mcp_llm_conf_unbind(&c);

    CHECK_EQ_INT(bind_text("llm:\n  providers: [a, b]\n", &c, &err), -1);
    CHECK(strstr(err.msg, "map") != NULL);
    mcp_llm_conf_unbind(&c);

    CHECK_EQ_INT(bind_text("llm: 5\n", &c, &err), -1);
    mcp_llm_conf_unbind(&c);

    CHECK_EQ_INT(bind_text("llm:\n  providers:\n    openai:\n      colour: red\n",
                           &c, &err), -1);
    CHECK(strstr(err.msg, "llm.providers.openai.colour") != NULL);
    mcp_llm_conf_unbind(&c);
}

UNIT_MAIN("llm_conf",
    UNIT_TEST(test_known_providers_and_defaults),
    UNIT_TEST(test_http_client_values),
    UNIT_TEST(test_errors))
