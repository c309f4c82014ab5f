/*
 * Unit tests for the YAML config parser and binder: the exact messages and
 * positions an operator sees, since those are what they act on.
 */

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "unit.h"
#include "core/mcp_config.h"
#include "core/mcp_conf.h"

typedef struct {
    int64_t  max_conn;
    int64_t  timeout_ms;
    int64_t  buf;
    double   ratio;
    int      on;
    int      level;
    char    *name;
} t_inner_t;

typedef struct {
    t_inner_t          inner;
    char              *socket;
    mcp_cfg_strings_t  tags;
    int64_t            count;
    int                custom_seen;
} t_conf_t;

static const char *const  t_levels[] = { "debug", "info", "warn", NULL };

static const mcp_cfg_field_t  t_inner_fields[] = {
    { "max_conn", MCP_CFG_T_INT, offsetof(t_inner_t, max_conn), "10",
      1, 1000, NULL, NULL, NULL, NULL, "" },
    { "timeout", MCP_CFG_T_DURATION, offsetof(t_inner_t, timeout_ms), "30s",
      0, 0, NULL, NULL, NULL, NULL, "" },
    { "buffer", MCP_CFG_T_SIZE, offsetof(t_inner_t, buf), "64k",
      1024, 1048576, NULL, NULL, NULL, NULL, "" },
    { "ratio", MCP_CFG_T_DOUBLE, offsetof(t_inner_t, ratio), "0.5",
      0, 1, NULL, NULL, NULL, NULL, "" },
    { "on", MCP_CFG_T_BOOL, offsetof(t_inner_t, on), "true",
      0, 0, NULL, NULL, NULL, NULL, "" },
    { "level", MCP_CFG_T_ENUM, offsetof(t_inner_t, level), "info",
      0, 0, t_levels, NULL, NULL, NULL, "" },
    { "name", MCP_CFG_T_STRING, offsetof(t_inner_t, name), NULL,
      0, 0, NULL, NULL, NULL, NULL, "" },
    { NULL, 0, 0, NULL, 0, 0, NULL, NULL, NULL, NULL, NULL }
};

static int
t_custom(const mcp_cfg_node_t *node, void *dst, mcp_err_t *err)
{
    *(int *) dst = node ? 2 : 1;
    if (node != NULL && node->kind != MCP_CFG_MAP) {
        mcp_err_set(err, node, "'%s' must be a map", mcp_cfg_name(node));
        return -1;
    }
    return 0;
}

static const mcp_cfg_field_t  t_fields[] = {
    { "outer", MCP_CFG_T_SECTION, offsetof(t_conf_t, inner), NULL,
      0, 0, NULL, t_inner_fields, NULL, NULL, "" },
    { "socket", MCP_CFG_T_STRING, offsetof(t_conf_t, socket), "run/mcpd.sock",
      0, 0, NULL, NULL, NULL, NULL, "" },
    { "tags", MCP_CFG_T_STRING_LIST, offsetof(t_conf_t, tags), "[a, b]",
      0, 0, NULL, NULL, NULL, NULL, "" },
    { "count", MCP_CFG_T_INT, offsetof(t_conf_t, count), NULL,
      0, 0, NULL, NULL, NULL, NULL, "" },
    { "custom", MCP_CFG_T_CUSTOM, offsetof(t_conf_t, custom_seen), NULL,
      0, 0, NULL, NULL, t_custom, NULL, "" },
    { NULL, 0, 0, NULL, 0, 0, NULL, NULL, NULL, NULL, NULL }
};


/* Parse and bind text; returns the bind result, message in err. */
static int
t_load(const char *text, t_conf_t *c, mcp_err_t *err)
{
    mcp_cfg_node_t  *root;
    int              rc;

    memset(c, 0, sizeof(*c));
    err->msg[0] = '\0';
    root = mcp_cfg_parse_string("t.yaml", text, strlen(text), err);
    if (root == NULL) {
        return -2;
    }
    rc = mcp_cfg_bind(root, t_fields, c, err);
    mcp_cfg_free(root);
    return rc;
}

static void
t_expect_error(const char *text, const char *msg)
{
    t_conf_t   c;
    mcp_err_t  err;

    CHECK(t_load(text, &c, &err) != 0);
    CHECK_EQ_STR(err.msg, msg);
    mcp_cfg_unbind(t_fields, &c);
}


static void
test_defaults(void)
{
    t_conf_t   c;
    mcp_err_t  err;

    CHECK_EQ_INT(t_load("", &c, &err), 0);
    CHECK_EQ_INT(c.inner.max_conn, 10);
    CHECK_EQ_INT(c.inner.timeout_ms, 30000);
    CHECK_EQ_INT(c.inner.buf, 65536);
    CHECK(c.inner.ratio == 0.5);
    CHECK_EQ_INT(c.inner.on, 1);
    CHECK_EQ_INT(c.inner.level, 1);
    CHECK(c.inner.name == NULL);
    CHECK_EQ_STR(c.socket, "run/mcpd.sock");
    CHECK_EQ_INT(c.tags.n, 2);
    CHECK_EQ_STR(c.tags.items[1], "b");
    CHECK_EQ_INT(c.custom_seen, 1);
    mcp_cfg_unbind(t_fields, &c);
    CHECK(c.socket == NULL);

    /* comments only, and explicit nulls, are the same as absent */
    CHECK_EQ_INT(t_load("# nothing\n", &c, &err), 0);
    mcp_cfg_unbind(t_fields, &c);
    CHECK_EQ_INT(t_load("outer:\nsocket: ~\n", &c, &err), 0);
    CHECK_EQ_STR(c.socket, "run/mcpd.sock");
    mcp_cfg_unbind(t_fields, &c);
}

static void
test_values(void)
{
    t_conf_t   c;
    mcp_err_t  err;

    CHECK_EQ_INT(t_load("outer:\n  max_conn: 1000\n  timeout: 250ms\n"
                        "  buffer: 1m\n  ratio: 1\n  on: false\n"
                        "  level: warn\n  name: \"x y\"\n"
                        "socket: /tmp/s\ntags: [one]\ncount: -5\n"
                        "custom: {}\n", &c, &err), 0);
    CHECK_EQ_STR(err.msg, "");
    CHECK_EQ_INT(c.inner.max_conn, 1000);
    CHECK_EQ_INT(c.inner.timeout_ms, 250);
    CHECK_EQ_INT(c.inner.buf, 1048576);
    CHECK(c.inner.ratio == 1.0);
    CHECK_EQ_INT(c.inner.on, 0);
    CHECK_EQ_INT(c.inner.level, 2);
    CHECK_EQ_STR(c.inner.name, "x y");
    CHECK_EQ_STR(c.socket, "/tmp/s");
    CHECK_EQ_INT(c.tags.n, 1);
    CHECK_EQ_STR(c.tags.items[0], "one");
    CHECK_EQ_INT(c.count, -5);
    CHECK_EQ_INT(c.custom_seen, 2);
    mcp_cfg_unbind(t_fields, &c);

    /* a bare number is seconds, as in the original config */
    CHECK_EQ_INT(t_load("outer: {timeout: 1.5}\n", &c, &err), 0);
    CHECK_EQ_INT(c.inner.timeout_ms, 1500);
    mcp_cfg_unbind(t_fields, &c);
    CHECK_EQ_INT(t_load("outer: {timeout: 5m}\n", &c, &err), 0);
    CHECK_EQ_INT(c.inner.timeout_ms, 300000);
    mcp_cfg_unbind(t_fields, &c);
    CHECK_EQ_INT(t_load("outer: {timeout: \"1h\"}\n", &c, &err), 0);
    CHECK_EQ_INT(c.inner.timeout_ms, 3600000);
    mcp_cfg_unbind(t_fields, &c);
}

static void
test_unknown_keys(void)
{
    t_expect_error("socket: a\nsokcet: b\n",
                   "t.yaml:2:1: unknown key 'sokcet'");
    t_expect_error("outer:\n  max_conn: 5\n  max_conns: 6\n",
                   "t.yaml:3:3: unknown key 'outer.max_conns'");
}

static void
test_wrong_kinds(void)
{
    t_expect_error("outer: 5\n",
                   "t.yaml:1:8: 'outer' must be a map, not a scalar");
    t_expect_error("outer:\n  max_conn: [1]\n",
                   "t.yaml:2:13: 'outer.max_conn' must be an integer, "
                   "not a list");
    t_expect_error("outer:\n  max_conn: \"5\"\n",
                   "t.yaml:2:13: 'outer.max_conn' must be an integer, "
                   "not a quoted string");
    t_expect_error("outer:\n  max_conn: 5x\n",
                   "t.yaml:2:13: 'outer.max_conn' must be an integer, "
                   "got '5x'");
    t_expect_error("outer:\n  on: yes\n",
                   "t.yaml:2:7: 'outer.on' must be a boolean (true or false),"
                   " got 'yes'");
    t_expect_error("socket: {a: 1}\n",
                   "t.yaml:1:9: 'socket' must be a string, not a map");
    t_expect_error("tags: a\n",
                   "t.yaml:1:7: 'tags' must be a list of strings, "
                   "not a scalar");
    t_expect_error("tags: [a, [b]]\n",
                   "t.yaml:1:11: 'tags[1]' must be a string, not a list");
    t_expect_error("outer:\n  ratio: abc\n",
                   "t.yaml:2:10: 'outer.ratio' must be a number, got 'abc'");
    t_expect_error("custom: 1\n", "t.yaml:1:9: 'custom' must be a map");
    t_expect_error("- a\n",
                   "t.yaml:1:1: the top level must be a map of sections");
}

static void
test_durations_sizes(void)
{
    t_expect_error("outer:\n  timeout: 5x\n",
                   "t.yaml:2:12: 'outer.timeout' must be a duration "
                   "(seconds, or e.g. 250ms, 30s, 5m, 1h), got '5x'");
    t_expect_error("outer:\n  timeout: -1s\n",
                   "t.yaml:2:12: 'outer.timeout' must not be negative, "
                   "got '-1s'");
    t_expect_error("outer:\n  timeout: 0x10\n",
                   "t.yaml:2:12: 'outer.timeout' must be a duration "
                   "(seconds, or e.g. 250ms, 30s, 5m, 1h), got '0x10'");
    t_expect_error("outer:\n  buffer: 12q\n",
                   "t.yaml:2:11: 'outer.buffer' must be a size "
                   "(bytes, or e.g. 64k, 16m, 1g), got '12q'");
    t_expect_error("outer:\n  buffer: 2g\n",
                   "t.yaml:2:11: 'outer.buffer' must be between 1024 and "
                   "1048576 bytes, got '2g'");
}

static void
test_ranges_enums(void)
{
    t_expect_error("outer:\n  max_conn: 0\n",
                   "t.yaml:2:13: 'outer.max_conn' must be between 1 and "
                   "1000, got '0'");
    t_expect_error("outer:\n  max_conn: 99999999999999999999\n",
                   "t.yaml:2:13: 'outer.max_conn' must be an integer, got "
                   "'99999999999999999999'");
    t_expect_error("outer:\n  ratio: 1.5\n",
                   "t.yaml:2:10: 'outer.ratio' must be between 0 and 1, "
                   "got '1.5'");
    t_expect_error("outer:\n  level: loud\n",
                   "t.yaml:2:10: 'outer.level' must be one of: debug, info, "
                   "warn; got 'loud'");
}

static void
test_yaml_errors(void)
{
    t_expect_error("a: 1\na: 2\n",
                   "t.yaml:2:1: duplicate key 'a' (first at line 1)");
    t_expect_error("outer:\n  on: true\n  on: false\n",
                   "t.yaml:3:3: duplicate key 'outer.on' (first at line 2)");
    t_expect_error("a: 1\n---\nb: 2\n",
                   "t.yaml:2:1: only one YAML document is allowed");
    t_expect_error("a: &x 1\nb: *x\n",
                   "t.yaml:1:4: YAML anchors (&x) are not supported in "
                   "mcpd config");
    t_expect_error("a: [1, 2\n",
                   "t.yaml:2:1: YAML syntax error: did not find expected "
                   "',' or ']' while parsing a flow sequence");
    t_expect_error("? [a]\n: 1\n",
                   "t.yaml:1:3: keys of '(top level)' must be plain "
                   "scalars");
}

static void
test_tree_helpers(void)
{
    mcp_err_t              err;
    mcp_cfg_node_t        *root;
    const mcp_cfg_node_t  *n;
    const char            *text = "a:\n  b:\n    c: [x, 'y']\n";

    root = mcp_cfg_parse_string("t.yaml", text, strlen(text), &err);
    CHECK(root != NULL);
    if (root == NULL) {
        return;
    }
    n = mcp_cfg_path(root, "a.b.c");
    CHECK(n != NULL && n->kind == MCP_CFG_SEQ);
    CHECK(n != NULL && n->line == 3 && n->col == 8);
    CHECK_EQ_STR(n ? n->path : NULL, "a.b.c");
    CHECK(n != NULL && n->n == 2 && n->items[1]->quoted);
    CHECK(mcp_cfg_path(root, "a.x") == NULL);
    CHECK(mcp_cfg_child(root, "a") != NULL);
    CHECK_EQ_STR(mcp_cfg_name(root), "(top level)");
    mcp_cfg_free(root);

    CHECK(mcp_cfg_parse_file("/nonexistent/x.yaml", &err) == NULL);
    CHECK_EQ_STR(err.msg, "/nonexistent/x.yaml: cannot open: "
                 "No such file or directory");
}

static void
test_deep_nesting(void)
{
    char             text[400];
    mcp_err_t        err;
    mcp_cfg_node_t  *root;
    size_t           i;

    for (i = 0; i < 200; i++) {
        text[i] = '[';
    }
    text[200] = '\0';
    root = mcp_cfg_parse_string("t.yaml", text, 200, &err);
    CHECK(root == NULL);
    CHECK(strstr(err.msg, "nesting deeper than 64 levels") != NULL);
}

static void
test_core_table_defaults(void)
{
    mcp_conf_t  c;
    mcp_err_t   err;

    /* every default in the core table binds: a typo there fails here */
    memset(&c, 0, sizeof(c));
    CHECK_EQ_INT(mcp_cfg_bind(NULL, mcp_conf_fields, &c, &err), 0);
    CHECK_EQ_STR(c.daemon.socket, "run/mcpd.sock");
    CHECK_EQ_INT(c.daemon.shutdown_timeout_ms, 10000);
    CHECK_EQ_INT(c.daemon.max_frame_size, 16 * 1024 * 1024);
    CHECK_EQ_INT(c.logging.level, 1);
    mcp_cfg_unbind(mcp_conf_fields, &c);
}

UNIT_MAIN("core_config",
    UNIT_TEST(test_core_table_defaults),
    UNIT_TEST(test_defaults),
    UNIT_TEST(test_values),
    UNIT_TEST(test_unknown_keys),
    UNIT_TEST(test_wrong_kinds),
    UNIT_TEST(test_durations_sizes),
    UNIT_TEST(test_ranges_enums),
    UNIT_TEST(test_yaml_errors),
    UNIT_TEST(test_tree_helpers),
    UNIT_TEST(test_deep_nesting))
