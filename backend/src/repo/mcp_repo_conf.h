/*
 * The repository's configuration: chat.service.repository (the file and
 * its pools) and the top-level persistence section (what is kept).  Kept
 * apart from mcp_repo.h so core's mcp_conf.h can include it without libuv.
 */

#ifndef MCP_REPO_CONF_H
#define MCP_REPO_CONF_H

#include <stdint.h>

#include "core/mcp_config.h"

/* ------------------------------------------------------------ config */

enum { MCP_REPO_SYNC_NORMAL = 0, MCP_REPO_SYNC_FULL = 1 };

enum { MCP_REPO_AFFINITY_NONE = 0, MCP_REPO_AFFINITY_LOOP = 1 };

typedef struct {
    int64_t   max_readers;
    int64_t   max_writers;
    int64_t   connection_timeout;     /* ms */
    int64_t   health_check_interval;  /* ms */
    int       enable_pooling;
    int64_t   max_batch;              /* appends per group commit */
    int       writer_affinity;        /* MCP_REPO_AFFINITY_* */
} mcp_repo_pool_conf_t;

/* chat.service.repository */
typedef struct {
    char                  *path;
    int                    synchronous;   /* MCP_REPO_SYNC_* */
    int64_t                busy_timeout;  /* ms */
    int64_t                wal_checkpoint_pages;
    mcp_repo_pool_conf_t   pool;
} mcp_repo_conf_t;

enum {
    MCP_RETAIN_TOKEN_LIMIT = 0,
    MCP_RETAIN_MESSAGE_COUNT,
    MCP_RETAIN_TIME_BASED,
    MCP_RETAIN_UNLIMITED
};

/* top-level persistence */
typedef struct {
    int       enabled;
    int       retention_policy;           /* MCP_RETAIN_* */
    int64_t   max_tokens_per_conversation;
    int64_t   max_messages_per_conversation;
    int64_t   retention_days;
    int       clear_on_startup;
    int64_t   retention_interval;         /* ms; 0: only at start */
} mcp_persist_conf_t;

extern const mcp_cfg_field_t  mcp_repo_conf_fields[];
extern const mcp_cfg_field_t  mcp_persist_conf_fields[];

/* The defaults of both tables, without a config file (tests, tools). */
void mcp_repo_conf_defaults(mcp_repo_conf_t *rc, mcp_persist_conf_t *pc);


/* chat and chat.service (whose "repository" entry points at
   mcp_repo_conf_fields) are declared by the chat service:
   chat/mcp_chat_conf.h */

#endif /* MCP_REPO_CONF_H */
