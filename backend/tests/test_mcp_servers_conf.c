/* mcp/mcp_servers_conf: the mcpServers format, order, and clear errors */

#include "unit.h"
#include "mcp/mcp_servers_conf.h"

static int
parse(const char *text, mcp_servers_conf_t *c, mcp_err_t *err)
{
    err->msg[0] = '\0';
    return mcp_servers_conf_parse("servers.json", text, strlen(text), c, err);
}

static void
test_full_example_in_order(void)
{
    mcp_servers_conf_t  c;
    mcp_err_t           err;
    const char         *text =
        "{\"_comment\": \"x\", \"mcpServers\": {"
        "\"zeta\": {\"command\": \"node\", \"args\": [\"a.js\", \"stdio\"],"
        "  \"env\": {\"K\": \"v\"}, \"cwd\": \"/tmp\", \"enabled\": false,"
        "  \"_note\": 1},"
        "\"alpha\": {\"url\": \"https://h/mcp\", \"headers\": "
        "  {\"Authorization\": \"Bearer t\"}, \"timeout\": 1500},"
        "\"old\": {\"type\": \"sse\", \"url\": \"http://h/sse\"}}}";

    CHECK(parse(text, &c, &err) == 0);
    CHECK_EQ_INT(c.n, 3);
    CHECK_EQ_STR(c.items[0].name, "zeta");       /* file order, not sorted */
    CHECK_EQ_INT(c.items[0].transport, MCP_TRANSPORT_STDIO);
    CHECK_EQ_INT(c.items[0].enabled, 0);
    CHECK_EQ_STR(c.items[0].args[0], "node");
    CHECK_EQ_STR(c.items[0].args[2], "stdio");
    CHECK(c.items[0].args[3] == NULL);
    CHECK_EQ_INT(c.items[0].nargs, 2);
    CHECK_EQ_STR(c.items[0].env[0], "K=v");
    CHECK_EQ_STR(c.items[0].cwd, "/tmp");
    CHECK_EQ_STR(c.items[1].name, "alpha");
    CHECK_EQ_INT(c.items[1].transport, MCP_TRANSPORT_HTTP);
    CHECK_EQ_INT(c.items[1].enabled, 1);
    CHECK_EQ_STR(c.items[1].headers[0], "Authorization: Bearer t");
    CHECK_EQ_INT(c.items[1].timeout_ms, 1500);
    CHECK_EQ_INT(c.items[2].transport, MCP_TRANSPORT_SSE);
    mcp_servers_conf_free(&c);
}

static void
expect_error(const char *text, const char *want)
{
    mcp_servers_conf_t  c;
    mcp_err_t           err;

    CHECK(parse(text, &c, &err) == -1);
    if (strstr(err.msg, want) == NULL) {
        fprintf(stderr, "  error \"%s\" lacks \"%s\"\n", err.msg, want);
        CHECK(0);
    }
    CHECK_EQ_INT(c.n, 0);
}

static void
test_errors(void)
{
    expect_error("{\"mcpServers\": {\"a\": {\"command\": \"x\",}}}",
                 "servers.json:1:");
    expect_error("[]", "top level must be an object");
    expect_error("{\"mcpServers\": []}", "\"mcpServers\" must be an object");
    expect_error("{\"mcpServers\": {\"a\": 1}}", "mcpServers.a must be an "
                 "object");
    expect_error("{\"mcpServers\": {\"a\": {}}}", "needs 'command'");
    expect_error("{\"mcpServers\": {\"a\": {\"command\": \"\"}}}",
                 "command must be a non-empty string");
    expect_error("{\"mcpServers\": {\"a\": {\"command\": \"x\", \"args\": "
                 "[1]}}}", "args[0] must be a string");
    expect_error("{\"mcpServers\": {\"a\": {\"command\": \"x\", \"env\": "
                 "{\"A=B\": \"c\"}}}}", "bad variable name");
    expect_error("{\"mcpServers\": {\"a\": {\"command\": \"x\", \"headers\": "
                 "{\"X\": \"y\"}}}}", "'headers' only apply to 'url' servers");
    expect_error("{\"mcpServers\": {\"a\": {\"url\": \"http://h\", \"args\": "
                 "[]}}}", "only apply to 'command' servers");
    expect_error("{\"mcpServers\": {\"a\": {\"url\": \"http://h\", \"type\": "
                 "\"websocket\"}}}", "unknown transport 'websocket'");
    expect_error("{\"mcpServers\": {\"a\": {\"command\": \"x\", \"timeout\": "
                 "-1}}}", "timeout must be a positive number");
    expect_error("{\"mcpServers\": {\"a\": {\"command\": \"x\"}, \"a\": "
                 "{\"command\": \"y\"}}}", "servers.json:1:");  /* duplicate */
}

UNIT_MAIN("mcp_servers_conf",
    UNIT_TEST(test_full_example_in_order),
    UNIT_TEST(test_errors))
