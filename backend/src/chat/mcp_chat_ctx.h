/*
 * Context assembly: what the model is sent for one turn.
 *
 * A conversation's history is kept as a list of chat-completion messages
 * (user, assistant with or without tool_calls, tool results), each with its
 * estimated token count and the request it belongs to.  It is built from
 * the stored rows once (mcp_chat_hist_add_row) and then kept current as a
 * turn stores what it produced, so the next turn neither re-reads nor
 * re-parses the conversation (the LRU of mcp_chat.c holds these lists).
 *
 * mcp_chat_assemble() sends: the system message, then the newest history
 * that fits max_tokens - reserve_tokens, walking newest-first in units (an
 * assistant message with tool calls travels with its tool results: the
 * model sees what it did, and a provider never gets a call without its
 * result), then this request's own messages, always ending with them (the
 * current user message first).  When even those do not fit, history is
 * left out entirely; the current messages are never cut.
 *
 * Pure: no I/O, no loop; unit-tested in backend/tests/test_chat_ctx.c.
 */

#ifndef MCP_CHAT_CTX_H
#define MCP_CHAT_CTX_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "chat/mcp_tokens.h"
#include "repo/mcp_repo.h"

typedef struct {
    json_t    *msg;         /* {"role":..., ...} */
    int64_t    tokens;      /* estimate, framing included */
    char      *request_id;  /* NULL: unknown */
    int64_t    hop;         /* the model turn it came from */
    int        tool;        /* a tool result ("role": "tool"): read at
                               every assembly, so kept out of the JSON */
    char      *json;        /* msg as compact JSON, made at its first
                               mcp_chat_messages_dump, dropped when msg
                               changes; NULL: not made yet */
    size_t     json_len;
} mcp_chat_item_t;

typedef struct {
    mcp_chat_item_t  *items;
    size_t            n;
    size_t            cap;
    int64_t           tokens;       /* sum over items */
} mcp_chat_hist_t;

/* Which estimator counts tokens (named in status). */
const char *mcp_chat_tokens_estimator(void);
/* Tokens of a string / of one message with its framing. */
int64_t mcp_chat_tokens_text(const char *s, size_t len);
int64_t mcp_chat_tokens_msg(json_t *msg);
/* The reply priming every request pays once. */
#define MCP_CHAT_TOKENS_PRIMING  MCP_TOKENS_REPLY_PRIMING

void mcp_chat_hist_init(mcp_chat_hist_t *h);
void mcp_chat_hist_clear(mcp_chat_hist_t *h);

/* Append a message (a reference is taken). 0 or -1 (out of memory). */
int mcp_chat_hist_push(mcp_chat_hist_t *h, json_t *msg,
    const char *request_id, int64_t hop);

/*
 * Append one stored row in chronological order.  Tool calls join the
 * assistant message of their turn (or start one); results become "tool"
 * messages.  Rows of skip_request (the request being answered) are left
 * out.  0 or -1.
 */
int mcp_chat_hist_add_row(mcp_chat_hist_t *h, const mcp_repo_msg_t *row,
    const char *skip_request);

/*
 * Make the list valid for a provider: drop tool calls without a result and
 * results without a call (a request that was cut short leaves either),
 * and assistant messages left with neither text nor calls.
 */
void mcp_chat_hist_repair(mcp_chat_hist_t *h);

/* Forget the oldest items until at most max_tokens remain. */
void mcp_chat_hist_trim(mcp_chat_hist_t *h, int64_t max_tokens);

/*
 * The messages for one turn: [system] + newest fitting history + current.
 * system may be NULL or empty (then no system message).  current is an
 * array (not stolen).  *prompt_tokens gets the estimate of the whole
 * request, *history_used the number of history messages sent.  New ref.
 */
json_t *mcp_chat_assemble(const char *system, const mcp_chat_hist_t *h,
    json_t *current, int64_t max_tokens, int64_t reserve_tokens,
    int64_t *prompt_tokens, size_t *history_used);

/*
 * msgs (what mcp_chat_assemble returned, history_used as it said) as
 * compact JSON, exactly json_dumps(msgs, JSON_COMPACT): what a provider
 * sends.  A history message is dumped once and kept with its item (a
 * conversation's messages go out again every turn), the others each time.
 * Not const: it fills the items' json.  malloc'd, *len set; NULL when out
 * of memory (the caller then lets the provider dump msgs itself).
 */
char *mcp_chat_messages_dump(mcp_chat_hist_t *h, json_t *msgs,
    size_t history_used, size_t *len);

/* The stored form of tool-call parts: turn and index in one number. */
#define MCP_CHAT_PART(hop, i)   ((int64_t) (hop) * 1000 + (i))
#define MCP_CHAT_PART_HOP(part) ((part) / 1000)

#endif /* MCP_CHAT_CTX_H */
