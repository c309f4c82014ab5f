/*
 * Shared by the unit tests of config sections: the whole of mcpd.yaml
 * (text) bound into an mcp_conf_t, as mcpd's main binds it, errors with
 * "t.yaml:line:col".
 */

#ifndef TEST_CONF_UTIL_H
#define TEST_CONF_UTIL_H

#include <string.h>

#include "core/mcp_conf.h"

static int
t_bind(const char *yaml, mcp_conf_t *conf, mcp_err_t *err)
{
    mcp_cfg_node_t  *root;
    int              rc;

    memset(conf, 0, sizeof(*conf));
    root = mcp_cfg_parse_string("t.yaml", yaml, strlen(yaml), err);
    if (root == NULL) {
        return -1;
    }
    rc = mcp_cfg_bind(root, mcp_conf_fields, conf, err);
    mcp_cfg_free(root);
    return rc;
}

#endif
