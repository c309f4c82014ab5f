/*
 * The repository's two config sections and their defaults:
 * chat.service.repository (the file and its connection pools) and the
 * top-level persistence (what is kept, and for how long).
 */

#include <stddef.h>
#include <string.h>

#include "repo/mcp_repo_conf.h"

static const char *const  mcp_sync_values[] = { "normal", "full", NULL };

static const char *const  mcp_affinity_values[] = { "none", "loop", NULL };

static const char *const  mcp_policy_values[] = {
    "token_limit", "message_count", "time_based", "unlimited", NULL
};

#define POOL(m)  offsetof(mcp_repo_pool_conf_t, m)

static const mcp_cfg_field_t  mcp_repo_pool_fields[] = {
    { "max_readers", MCP_CFG_T_INT, POOL(max_readers), "16", 1, 256,
      NULL, NULL, NULL, NULL,
      "reader connections, each on its own thread" },
    { "max_writers", MCP_CFG_T_INT, POOL(max_writers), "4", 1, 64,
      NULL, NULL, NULL, NULL,
      "writer connections; they take turns committing (one SQLite writer)" },
    { "connection_timeout", MCP_CFG_T_DURATION, POOL(connection_timeout),
      "30s", 1, 3600000, NULL, NULL, NULL, NULL,
      "longest wait for a free connection before the request fails" },
    { "health_check_interval", MCP_CFG_T_DURATION,
      POOL(health_check_interval), "30s", 0, 86400000, NULL, NULL, NULL,
      NULL,
      "each connection is checked this often; a broken one is replaced" },
    { "enable_pooling", MCP_CFG_T_BOOL, POOL(enable_pooling), "true", 0, 0,
      NULL, NULL, NULL, NULL,
      "false: one connection, a transaction per append (the baseline)" },
    { "max_batch", MCP_CFG_T_INT, POOL(max_batch), "256", 1, 100000,
      NULL, NULL, NULL, NULL,
      "most appends committed in one transaction (group commit)" },
    { "writer_affinity", MCP_CFG_T_ENUM, POOL(writer_affinity), "none", 0, 0,
      mcp_affinity_values, NULL, NULL, NULL,
      "loop: the event loop and the writers share one CPU, the readers and "
      "the checkpointer get the others (docs/storage.md)" },
    { NULL, 0, 0, NULL, 0, 0, NULL, NULL, NULL, NULL, NULL }
};

#define REPO(m)  offsetof(mcp_repo_conf_t, m)

const mcp_cfg_field_t  mcp_repo_conf_fields[] = {
    { "path", MCP_CFG_T_STRING, REPO(path), "run/events.db", 0, 0, NULL,
      NULL, NULL, NULL, "the SQLite database file (created if missing)" },
    { "synchronous", MCP_CFG_T_ENUM, REPO(synchronous), "normal", 0, 0,
      mcp_sync_values, NULL, NULL, NULL,
      "normal: durable across crashes; full: also across power loss" },
    { "busy_timeout", MCP_CFG_T_DURATION, REPO(busy_timeout), "5s", 0,
      600000, NULL, NULL, NULL, NULL,
      "SQLite's wait for a lock held by another process" },
    { "wal_checkpoint_pages", MCP_CFG_T_INT, REPO(wal_checkpoint_pages),
      "1000", 100, 1000000, NULL, NULL, NULL, NULL,
      "WAL pages that start a background checkpoint; at 4 times as many "
      "the writer completes one so the WAL starts over" },
    { "connection_pool", MCP_CFG_T_SECTION, REPO(pool), NULL, 0, 0, NULL,
      mcp_repo_pool_fields, NULL, NULL, "reader and writer connections" },
    { NULL, 0, 0, NULL, 0, 0, NULL, NULL, NULL, NULL, NULL }
};

#define PERS(m)  offsetof(mcp_persist_conf_t, m)

const mcp_cfg_field_t  mcp_persist_conf_fields[] = {
    { "enabled", MCP_CFG_T_BOOL, PERS(enabled), "true", 0, 0, NULL, NULL,
      NULL, NULL, "false: nothing is stored and history is empty" },
    { "retention_policy", MCP_CFG_T_ENUM, PERS(retention_policy),
      "token_limit", 0, 0, mcp_policy_values, NULL, NULL, NULL,
      "what retention keeps per conversation" },
    { "max_tokens_per_conversation", MCP_CFG_T_INT,
      PERS(max_tokens_per_conversation), "8000", 1, 1e12, NULL, NULL, NULL,
      NULL, "token_limit: newest messages kept up to this many tokens" },
    { "max_messages_per_conversation", MCP_CFG_T_INT,
      PERS(max_messages_per_conversation), "100", 1, 1e12, NULL, NULL, NULL,
      NULL, "message_count: newest messages kept" },
    { "retention_days", MCP_CFG_T_INT, PERS(retention_days), "30", 1, 36500,
      NULL, NULL, NULL, NULL, "time_based: messages older are deleted" },
    { "clear_on_startup", MCP_CFG_T_BOOL, PERS(clear_on_startup), "false", 0,
      0, NULL, NULL, NULL, NULL, "delete every conversation at start" },
    { "retention_interval", MCP_CFG_T_DURATION, PERS(retention_interval),
      "1h", 0, 2592000000.0, NULL, NULL, NULL, NULL,
      "retention runs at start and then this often (0: only at start)" },
    { NULL, 0, 0, NULL, 0, 0, NULL, NULL, NULL, NULL, NULL }
};

void
mcp_repo_conf_defaults(mcp_repo_conf_t *rc, mcp_persist_conf_t *pc)
{
    if (rc) {
        memset(rc, 0, sizeof(*rc));
        rc->path = NULL;                    /* the caller names the file */
        rc->synchronous = MCP_REPO_SYNC_NORMAL;
        rc->busy_timeout = 5000;
        rc->wal_checkpoint_pages = 1000;
        rc->pool.max_readers = 16;
        rc->pool.max_writers = 4;
        rc->pool.connection_timeout = 30000;
        rc->pool.health_check_interval = 30000;
        rc->pool.enable_pooling = 1;
        rc->pool.max_batch = 256;
    }
    if (pc) {
        memset(pc, 0, sizeof(*pc));
        pc->enabled = 1;
        pc->retention_policy = MCP_RETAIN_TOKEN_LIMIT;
        pc->max_tokens_per_conversation = 8000;
        pc->max_messages_per_conversation = 100;
        pc->retention_days = 30;
        pc->clear_on_startup = 0;
        pc->retention_interval = 3600000;
    }
}
