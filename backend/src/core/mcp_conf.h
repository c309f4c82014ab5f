/*
 * The top-level mcpd.yaml: core's own sections (daemon, logging) and the
 * table that names every subsystem's section.
 *
 * Adding a subsystem section is two lines here and one in mcp_conf.c:
 *   #include "llm/mcp_llm_conf.h"          (its struct and field table)
 *   mcp_llm_conf_t  llm;                   (member of mcp_conf_t)
 *   { "llm", MCP_CFG_T_SECTION, offsetof(mcp_conf_t, llm), ... ,
 *     mcp_llm_conf_fields, ... }           (entry in mcp_conf_fields)
 */

#ifndef MCP_CONF_H
#define MCP_CONF_H

#include <stdint.h>

#include "core/mcp_config.h"
#include "chat/mcp_chat_conf.h"
#include "repo/mcp_repo_conf.h"
#include "llm/mcp_llm_conf.h"
#include "mcp/mcp_host_conf.h"
#include "redis/mcp_redis_conf.h"

typedef struct {
    char     *socket;               /* daemon.socket */
    int64_t   shutdown_timeout_ms;  /* daemon.shutdown_timeout */
    int64_t   shutdown_grace_ms;    /* daemon.shutdown_grace */
    int64_t   max_links;            /* daemon.max_links */
    int64_t   max_frame_size;       /* daemon.max_frame_size (bytes) */
    int64_t   link_buffer_size;     /* daemon.link_buffer_size (bytes) */
} mcp_daemon_conf_t;

typedef struct {
    int       level;                /* mcp_log_level_e */
    int       format;               /* mcp_log_format_e */
} mcp_logging_conf_t;

typedef struct {
    mcp_daemon_conf_t    daemon;
    mcp_logging_conf_t   logging;
    /* subsystem sections go here, one member each */
    mcp_chat_conf_t      chat;          /* chat/ (repository: repo/) */
    mcp_persist_conf_t   persistence;   /* repo/ */
    mcp_llm_conf_t       llm;
    mcp_mcp_conf_t       mcp;           /* mcp/ (MCP host) */
    mcp_redis_conf_t     redis;         /* redis/ (optional) */
} mcp_conf_t;

extern const mcp_cfg_field_t  mcp_daemon_conf_fields[];
extern const mcp_cfg_field_t  mcp_logging_conf_fields[];
extern const mcp_cfg_field_t  mcp_conf_fields[];

/*
 * Parse and bind the whole file.  On success *root keeps the tree (for
 * subsystems that read raw nodes) and conf is filled; free both with
 * mcp_conf_free().  On failure err says file:line:col and nothing is left
 * allocated.
 */
int mcp_conf_load(const char *path, mcp_conf_t *conf, mcp_cfg_node_t **root,
    mcp_err_t *err);
void mcp_conf_free(mcp_conf_t *conf, mcp_cfg_node_t *root);

#endif /* MCP_CONF_H */
