/*
 * The conversation store: SQLite in WAL mode behind an asynchronous
 * interface for the event loop.
 *
 * Every operation is queued to worker threads that own the SQLite
 * connections (a reader pool and a writer side with group commit); its
 * completion callback runs later on the loop thread.  Nothing here touches
 * the disk on the loop thread, except mcp_repo_open(), which runs once at
 * start, before mcpd accepts anything (it opens, migrates, clears and
 * applies retention, so a bad database is a clear error at start).
 *
 * Content, tool calls, usage: stored and returned byte-exact, never parsed.
 * Timestamps are integer epoch milliseconds.  See docs/storage.md.
 */

#ifndef MCP_REPO_H
#define MCP_REPO_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>
#include <jansson.h>

#include "core/mcp_log.h"
#include "repo/mcp_repo_conf.h"


/* ------------------------------------------------------------ data */

typedef enum {
    MCP_MSG_USER = 1,
    MCP_MSG_ASSISTANT = 2,
    MCP_MSG_TOOL_CALL = 3,
    MCP_MSG_TOOL_RESULT = 4
} mcp_msg_type_e;

const char *mcp_msg_type_name(mcp_msg_type_e type);

/*
 * One message.  Strings are NUL-terminated for convenience but content is
 * byte-exact with its length (it may hold any bytes).  NULL: absent.
 */
typedef struct {
    int64_t          id;            /* row id, chronological per conversation */
    char            *conversation_id;
    mcp_msg_type_e   type;
    char            *content;
    size_t           content_len;
    char            *tool_calls;    /* JSON text as given (assistant) */
    char            *tool_call_id;  /* tool_call / tool_result */
    char            *name;          /* tool name */
    char            *model;
    char            *usage;         /* JSON text as given */
    int64_t          token_count;
    char            *request_id;    /* the user request it belongs to */
    int64_t          part;          /* distinguishes several rows of one
                                       type in one request (hop, call) */
    int64_t          created_at;    /* epoch ms; 0 on append: now */
} mcp_repo_msg_t;

/* Frees the strings of a message whose fields were malloc'd (as in
   results, or a caller's copy) and zeroes it. */
void mcp_repo_msg_clear(mcp_repo_msg_t *m);

typedef struct {
    char     *id;
    char     *principal;
    char     *title;
    int64_t   created_at;
    int64_t   updated_at;
    int64_t   messages;
} mcp_repo_conv_t;

enum {
    MCP_REPO_OK = 0,
    MCP_REPO_ENOTFOUND,     /* no such conversation (for this principal) */
    MCP_REPO_ETIMEDOUT,     /* no connection free within connection_timeout */
    MCP_REPO_EBUSY,         /* the database stayed locked (another process) */
    MCP_REPO_EFULL,         /* disk or database full */
    MCP_REPO_EREADONLY,
    MCP_REPO_ECORRUPT,
    MCP_REPO_EINVAL,        /* bad argument, e.g. a dangling conversation id */
    MCP_REPO_ECLOSED,       /* the repository is shutting down */
    MCP_REPO_EIO            /* any other SQLite or system error */
};

/* request state, reported with a duplicate append and a lookup */
enum {
    MCP_REQ_NONE = 0,       /* no user message with that request id */
    MCP_REQ_OPEN = 1,       /* in flight: answer not complete yet */
    MCP_REQ_DONE = 2,
    MCP_REQ_ABANDONED = 3   /* was in flight when mcpd stopped */
};

/* What a completion callback sees; valid only during the callback. */
typedef struct {
    int                status;        /* MCP_REPO_* */
    const char        *error;         /* human-readable, with context */
    int                sqlite_code;   /* extended result code, or 0 */

    int64_t            id;            /* append: new (or stored) row id */
    int                duplicate;     /* append: request id already stored */
    int                created;       /* conversation_open */
    int                request_state; /* MCP_REQ_*: duplicate / lookup */
    const char        *conversation_id;

    mcp_repo_msg_t    *msgs;          /* history (chronological), lookup,
                                         duplicate append: the stored
                                         rows of that request */
    size_t             n_msgs;
    int64_t            tokens;        /* history: sum of token_count */

    mcp_repo_conv_t   *convs;         /* list */
    size_t             n_convs;

    char              *json;          /* export */
    size_t             json_len;
    int64_t            count;         /* delete: rows removed */
} mcp_repo_result_t;

typedef void (*mcp_repo_cb_pt)(const mcp_repo_result_t *res, void *data);


/* ------------------------------------------------------------ lifecycle */

typedef struct mcp_repo_s  mcp_repo_t;

/*
 * Open (creating the file), set up WAL and the schema (migrations), clear
 * or apply retention, then start the worker threads and the timers on
 * loop.  Synchronous: call it at start, before serving.  NULL + err.
 */
mcp_repo_t *mcp_repo_open(uv_loop_t *loop, const mcp_repo_conf_t *rc,
    const mcp_persist_conf_t *pc, mcp_err_t *err);

/*
 * Stop: requests still queued complete with MCP_REPO_ECLOSED, writes in
 * the current group are committed, threads are joined, handles closed.
 * Run the loop afterwards so the handles finish closing; the memory is
 * released in their close callback.
 */
void mcp_repo_close(mcp_repo_t *repo);

/* Log retention results and failures there (loop thread only). */
void mcp_repo_set_log(mcp_repo_t *repo, const mcp_log_t *log);

/* repository_stats: a new reference. */
json_t *mcp_repo_stats(mcp_repo_t *repo);

/* The same with the signature of mcp_daemon_add_stats(). */
json_t *mcp_repo_stats_fn(void *repo);

/* Loop thread: the error of the last write when it failed on storage
   (full, read-only, I/O, corrupt) and none succeeded since; else NULL. */
const char *mcp_repo_write_fault(mcp_repo_t *repo);


/* ------------------------------------------------------------ operations */

/*
 * Create or find a conversation of principal.  id NULL or "": create one
 * with a new random id.  An id owned by another principal is ENOTFOUND.
 */
int mcp_repo_conversation_open(mcp_repo_t *repo, const char *principal,
    const char *id, const char *title, mcp_repo_cb_pt cb, void *data);

/*
 * Append one message (conversation_id, type, content required).  The
 * callback runs once the transaction holding it has committed.  When the
 * (conversation, request_id, type, part) is already stored, nothing is
 * written: duplicate is set and msgs holds the stored rows of the request.
 * final: this row completes its request (the assistant's last answer).
 */
typedef struct {
    mcp_repo_msg_t   msg;
    int              final;
} mcp_repo_append_t;

int mcp_repo_append(mcp_repo_t *repo, const mcp_repo_append_t *a,
    mcp_repo_cb_pt cb, void *data);

/* Mark a request finished without a final assistant row (error, cancel). */
int mcp_repo_request_end(mcp_repo_t *repo, const char *conversation_id,
    const char *request_id, mcp_repo_cb_pt cb, void *data);

/*
 * The newest messages whose token counts sum to at most token_budget,
 * walked newest-first and returned oldest-first; max_rows 0: no limit.
 */
int mcp_repo_history(mcp_repo_t *repo, const char *conversation_id,
    int64_t token_budget, int64_t max_rows, mcp_repo_cb_pt cb, void *data);

/* All rows of one request, chronological, with the request's state. */
int mcp_repo_lookup_request(mcp_repo_t *repo, const char *conversation_id,
    const char *request_id, mcp_repo_cb_pt cb, void *data);

/* A principal's conversations, most recently updated first. */
int mcp_repo_list(mcp_repo_t *repo, const char *principal, int64_t limit,
    mcp_repo_cb_pt cb, void *data);

int mcp_repo_delete(mcp_repo_t *repo, const char *principal,
    const char *conversation_id, mcp_repo_cb_pt cb, void *data);

/* One conversation of principal as a JSON document (res->json). */
int mcp_repo_export(mcp_repo_t *repo, const char *principal,
    const char *conversation_id, mcp_repo_cb_pt cb, void *data);

/* Run retention now (it also runs at open and every retention_interval). */
int mcp_repo_retention_run(mcp_repo_t *repo, mcp_repo_cb_pt cb, void *data);

/*
 * For tests and benchmarks: hold a reader (write 0) or the writer turn
 * (write 1) for ms milliseconds, as a slow query would.
 */
int mcp_repo_debug_hold(mcp_repo_t *repo, int write, int64_t ms,
    mcp_repo_cb_pt cb, void *data);

/* Make the next health check of every connection fail (tests). */
void mcp_repo_debug_break(mcp_repo_t *repo);


/* ------------------------------------------------------------ keyset pages */

/*
 * mcp_repo_page.c: pages read by one index range each, on the reader pool.
 *
 * A history page: the newest `limit` messages of principal's conversation
 * whose id is below `before` (0: from the newest), oldest first in
 * res->msgs.  Another principal's conversation is ENOTFOUND.  Ask for one
 * row more than a page to learn whether an older page exists.
 */
int mcp_repo_history_page(mcp_repo_t *repo, const char *principal,
    const char *conversation_id, int64_t before, int64_t limit,
    mcp_repo_cb_pt cb, void *data);

/*
 * A page of principal's conversations in (updated_at, id) descending order:
 * the first `limit` strictly below (before_updated, before_id).
 * before_updated < 0: from the newest; before_id NULL: every conversation
 * updated strictly before before_updated.  res->convs.
 */
int mcp_repo_list_page(mcp_repo_t *repo, const char *principal,
    int64_t before_updated, const char *before_id, int64_t limit,
    mcp_repo_cb_pt cb, void *data);

#endif /* MCP_REPO_H */
