/* chat/mcp_chat_conf: chat.service binds with its defaults, every key is
   checked at start (range, type, unknown keys with file:line:col), and the
   repository keeps its own table under it. */

#include "unit.h"
#include "chat/mcp_chat_conf.h"

static int
bind(const char *yaml, mcp_chat_conf_t *cc, mcp_err_t *err)
{
    mcp_cfg_node_t  *root;
    int              rc;

    memset(cc, 0, sizeof(*cc));
    err->msg[0] = '\0';
    root = mcp_cfg_parse_string("t.yaml", yaml, strlen(yaml), err);
    if (root == NULL) {
        return -1;
    }
    rc = mcp_cfg_bind(mcp_cfg_child(root, "chat"), mcp_chat_conf_fields, cc,
                      err);
    mcp_cfg_free(root);
    return rc;
}

static void
test_conf_defaults(void)
{
    mcp_chat_service_conf_t  sc;

    CHECK(mcp_chat_conf_defaults(&sc) == 0);
    CHECK_EQ_INT(sc.max_tool_hops, 8);
    CHECK_EQ_INT(sc.provider, MCP_CHAT_PROVIDER_AUTO);
    CHECK_EQ_INT(sc.streaming.enabled, 1);
    CHECK_EQ_INT(sc.context.max_tokens, 4000);
    CHECK_EQ_INT(sc.context.reserve_tokens, 500);
    CHECK_EQ_INT(sc.limits.conversation_queue, 16);
    CHECK(sc.system_prompt != NULL && strstr(sc.system_prompt, "tools"));
    CHECK(sc.repository.path != NULL);     /* repo/ owns its default */
    mcp_cfg_unbind(mcp_chat_service_conf_fields, &sc);
}

static void
test_conf_values_and_errors(void)
{
    mcp_chat_conf_t  cc;
    mcp_err_t        err;

    CHECK(bind("chat:\n  service:\n    max_tool_hops: 3\n"
               "    provider: offline\n    offline_delay: 5ms\n"
               "    streaming: {enabled: false}\n"
               "    limits: {requests_per_minute: 0}\n"
               "    repository: {path: x.db}\n", &cc, &err) == 0);
    CHECK_EQ_INT(cc.service.max_tool_hops, 3);
    CHECK_EQ_INT(cc.service.provider, MCP_CHAT_PROVIDER_OFFLINE);
    CHECK_EQ_INT(cc.service.offline_delay_ms, 5);
    CHECK_EQ_INT(cc.service.streaming.enabled, 0);
    CHECK_EQ_INT(cc.service.limits.requests_per_minute, 0);
    CHECK_EQ_STR(cc.service.repository.path, "x.db");
    mcp_cfg_unbind(mcp_chat_conf_fields, &cc);

    CHECK(bind("chat:\n  service:\n    max_tool_hopz: 3\n", &cc, &err) != 0);
    CHECK(strstr(err.msg, "t.yaml:3:5") != NULL);
    CHECK(strstr(err.msg, "max_tool_hopz") != NULL);
    mcp_cfg_unbind(mcp_chat_conf_fields, &cc);

    CHECK(bind("chat:\n  service:\n    max_tool_hops: 65\n", &cc, &err)
          != 0);
    CHECK(strstr(err.msg, "t.yaml:3:") != NULL);
    mcp_cfg_unbind(mcp_chat_conf_fields, &cc);

    CHECK(bind("chat:\n  service:\n    provider: gpt\n", &cc, &err) != 0);
    mcp_cfg_unbind(mcp_chat_conf_fields, &cc);

    CHECK(bind("chat:\n  service:\n    streaming: {enabled: maybe}\n", &cc,
               &err) != 0);
    mcp_cfg_unbind(mcp_chat_conf_fields, &cc);
}

UNIT_MAIN("chat_conf",
    UNIT_TEST(test_conf_defaults),
    UNIT_TEST(test_conf_values_and_errors))
