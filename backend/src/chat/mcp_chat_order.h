/*
 * Per-conversation ordering: requests in one conversation run one after
 * another in arrival order; different conversations run concurrently.
 *
 * An entry exists only while its conversation has a request running or
 * waiting: it is reference-counted by them and freed when the last one is
 * done (the original kept one lock per conversation forever).  Pure: the
 * caller runs the job it is handed; unit-tested in test_chat_order.c.
 */

#ifndef MCP_CHAT_ORDER_H
#define MCP_CHAT_ORDER_H

#include <stddef.h>

typedef struct mcp_chat_order_s  mcp_chat_order_t;

enum {
    MCP_ORDER_RUN = 1,      /* nothing ahead: run the job now */
    MCP_ORDER_QUEUED = 0,   /* it will be handed back by order_done() */
    MCP_ORDER_BUSY = -1,    /* max_queue jobs already wait: refuse */
    MCP_ORDER_NOMEM = -2
};

mcp_chat_order_t *mcp_chat_order_new(void);
void mcp_chat_order_free(mcp_chat_order_t *o);

/* Submit job for conversation conv; see the enum. */
int mcp_chat_order_submit(mcp_chat_order_t *o, const char *conv, void *job,
    size_t max_queue);

/*
 * The running job of conv is finished: returns the next job to run now
 * (the caller runs it), or NULL when none waits (the entry is freed).
 */
void *mcp_chat_order_done(mcp_chat_order_t *o, const char *conv);

/* Take a waiting job out (it was cancelled); 1 if it was waiting. */
int mcp_chat_order_remove(mcp_chat_order_t *o, const char *conv, void *job);

/* Conversations with a running or waiting request; jobs waiting. */
size_t mcp_chat_order_active(const mcp_chat_order_t *o);
size_t mcp_chat_order_waiting(const mcp_chat_order_t *o);

#endif /* MCP_CHAT_ORDER_H */
