/*
 * Fuzz the config path as an operator's file sees it: YAML text -> parse ->
 * bind against a table that has every field type.  Any crash, leak or
 * undefined behaviour is a bug; bad input must only produce a message.
 */

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/mcp_config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct {
    int64_t            n;
    int64_t            ms;
    int64_t            bytes;
    double             ratio;
    int                on;
    int                level;
    char              *name;
    mcp_cfg_strings_t  list;
} f_inner_t;

typedef struct {
    f_inner_t          a;
    f_inner_t          b;
    char              *s;
} f_conf_t;

static const char *const  f_levels[] = { "debug", "info", "warn", NULL };

static const mcp_cfg_field_t  f_inner[] = {
    { "n", MCP_CFG_T_INT, offsetof(f_inner_t, n), "3", 0, 100,
      NULL, NULL, NULL, NULL, NULL },
    { "ms", MCP_CFG_T_DURATION, offsetof(f_inner_t, ms), "1s", 0, 0,
      NULL, NULL, NULL, NULL, NULL },
    { "bytes", MCP_CFG_T_SIZE, offsetof(f_inner_t, bytes), "1m", 1, 1e12,
      NULL, NULL, NULL, NULL, NULL },
    { "ratio", MCP_CFG_T_DOUBLE, offsetof(f_inner_t, ratio), "0.5", 0, 1,
      NULL, NULL, NULL, NULL, NULL },
    { "on", MCP_CFG_T_BOOL, offsetof(f_inner_t, on), "false", 0, 0,
      NULL, NULL, NULL, NULL, NULL },
    { "level", MCP_CFG_T_ENUM, offsetof(f_inner_t, level), "info", 0, 0,
      f_levels, NULL, NULL, NULL, NULL },
    { "name", MCP_CFG_T_STRING, offsetof(f_inner_t, name), "x", 0, 0,
      NULL, NULL, NULL, NULL, NULL },
    { "list", MCP_CFG_T_STRING_LIST, offsetof(f_inner_t, list), "[a]", 0, 0,
      NULL, NULL, NULL, NULL, NULL },
    { NULL, 0, 0, NULL, 0, 0, NULL, NULL, NULL, NULL, NULL }
};

static const mcp_cfg_field_t  f_fields[] = {
    { "a", MCP_CFG_T_SECTION, offsetof(f_conf_t, a), NULL, 0, 0,
      NULL, f_inner, NULL, NULL, NULL },
    { "b", MCP_CFG_T_SECTION, offsetof(f_conf_t, b), NULL, 0, 0,
      NULL, f_inner, NULL, NULL, NULL },
    { "s", MCP_CFG_T_STRING, offsetof(f_conf_t, s), NULL, 0, 0,
      NULL, NULL, NULL, NULL, NULL },
    { NULL, 0, 0, NULL, 0, 0, NULL, NULL, NULL, NULL, NULL }
};

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mcp_err_t        err;
    mcp_cfg_node_t  *root;
    f_conf_t         c;

    memset(&c, 0, sizeof(c));
    root = mcp_cfg_parse_string("fuzz.yaml", (const char *) data, size, &err);
    if (root == NULL) {
        return 0;
    }

    (void) mcp_cfg_path(root, "a.list");
    (void) mcp_cfg_bind(root, f_fields, &c, &err);
    mcp_cfg_unbind(f_fields, &c);
    mcp_cfg_free(root);
    return 0;
}
