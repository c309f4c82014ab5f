/*
 * What the chat service needs from a model and from tools, as two small
 * interfaces.  The provider layer (llm/) and the MCP host (mcp/) are bound
 * to them by adapters (mcp_chat_llm.c, mcp_chat_mcp.c); the offline demo
 * provider (mcp_chat_offline.c) implements the first directly, and tests
 * can stand in for either.  The service never depends on more than this.
 *
 * Rules shared by both: callbacks run on the loop thread and never from
 * inside start()/call(); after cancel() no callback runs.
 */

#ifndef MCP_CHAT_PROVIDER_H
#define MCP_CHAT_PROVIDER_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/* ------------------------------------------------------------ model */

typedef struct {
    const char  *code;          /* NULL: success; else a client error code:
                                   provider_unavailable, provider_error,
                                   rate_limited, internal */
    const char  *message;       /* human-readable detail */
    const char  *finish_reason; /* "stop", "tool_calls", "length", ... */
    const char  *model;
    const char  *provider;      /* who answered */
    int64_t      prompt_tokens;
    int64_t      completion_tokens;
    int          usage_present;
    int64_t      retry_after_ms;    /* rate_limited: a hint, or 0 */
} mcp_chat_turn_end_t;

typedef struct {
    void  (*on_text)(void *data, const char *text, size_t len);
    /* one complete call; arguments is the JSON text the model produced */
    void  (*on_tool_call)(void *data, const char *id, const char *name,
                          const char *arguments);
    void  (*on_done)(void *data, const mcp_chat_turn_end_t *end);
} mcp_chat_turn_cb_t;

typedef struct mcp_chat_provider_s  mcp_chat_provider_t;

struct mcp_chat_provider_s {
    const char   *name;         /* for status and complete.model */
    int           offline;      /* the demo provider, not a model */
    void         *ctx;

    /*
     * One model turn over messages (an array, referenced only during the
     * call) with tools (an OpenAI tools array or NULL).  messages_json,
     * when not NULL, is the same array as compact JSON (messages_len
     * bytes, read only during the call), for a provider that sends it:
     * the caller keeps the history's dumps from turn to turn.  Returns a
     * handle, or NULL with *fail filled when it cannot start at all.
     */
    void       *(*start)(void *ctx, json_t *messages,
                         const char *messages_json, size_t messages_len,
                         json_t *tools, int stream,
                         const mcp_chat_turn_cb_t *cb, void *data,
                         mcp_chat_turn_end_t *fail);
    void        (*cancel)(void *call);
    /* optional: stop producing while the client is slow */
    void        (*pause)(void *call, int paused);
    json_t     *(*status)(void *ctx);      /* optional, new ref */
    void        (*close)(void *ctx);        /* optional */
};

/* ------------------------------------------------------------ tools */

typedef struct {
    const char  *status;        /* "ok", "error" or "timeout" */
    const char  *text;          /* what the model is told */
    size_t       len;
    int          truncated;     /* capped by the host */
} mcp_chat_tool_end_t;

typedef void (*mcp_chat_tool_done_pt)(void *data,
    const mcp_chat_tool_end_t *end);

typedef struct mcp_chat_tools_s  mcp_chat_tools_t;

struct mcp_chat_tools_s {
    void        *ctx;
    /* list_tools: [{"name","server","description","parameters"}], new ref */
    json_t     *(*list)(void *ctx);
    /* the OpenAI "tools" array for a model request, new ref or NULL */
    json_t     *(*openai)(void *ctx);
    /* NULL when the call cannot start (unknown tool...): *fail says why */
    void       *(*call)(void *ctx, const char *name, const char *arguments,
                        mcp_chat_tool_done_pt done, void *data,
                        mcp_chat_tool_end_t *fail);
    void        (*cancel)(void *call);
    /* optional: text of a prompt / resource for the system prompt */
    char       *(*prompt_text)(void *ctx, const char *name);
    char       *(*resource_text)(void *ctx, const char *uri);
};

#endif /* MCP_CHAT_PROVIDER_H */
