/*
 * Per-principal limits, so one client cannot starve the others: chat
 * requests running or queued at once, and requests started per minute (a
 * token bucket of requests_per_minute refilled continuously).  A refusal
 * says when to try again (rate_limited, chunk.retry_after_ms).
 *
 * Entries exist while a principal has requests in flight or a bucket that
 * is not yet full again; mcp_chat_limits_sweep() frees the rest.  Pure
 * (the caller passes the time); unit-tested in test_chat_limits.c.
 */

#ifndef MCP_CHAT_LIMITS_H
#define MCP_CHAT_LIMITS_H

#include <stddef.h>
#include <stdint.h>

typedef struct mcp_chat_limits_s  mcp_chat_limits_t;

enum {
    MCP_LIMIT_OK = 0,
    MCP_LIMIT_CONCURRENT,       /* too many in flight */
    MCP_LIMIT_RATE,             /* too many this minute */
    MCP_LIMIT_NOMEM
};

/* per_minute 0: no rate limit */
mcp_chat_limits_t *mcp_chat_limits_new(int64_t concurrent,
    int64_t per_minute);
void mcp_chat_limits_free(mcp_chat_limits_t *l);

/* Take one slot for principal at now_ms; on refusal *retry_after_ms. */
int mcp_chat_limits_acquire(mcp_chat_limits_t *l, const char *principal,
    uint64_t now_ms, int64_t *retry_after_ms);
/* Give the slot back (the request ended). */
void mcp_chat_limits_release(mcp_chat_limits_t *l, const char *principal);

/* Free idle entries (nothing in flight, bucket full at now_ms). */
void mcp_chat_limits_sweep(mcp_chat_limits_t *l, uint64_t now_ms);

size_t mcp_chat_limits_principals(const mcp_chat_limits_t *l);
uint64_t mcp_chat_limits_refused(const mcp_chat_limits_t *l, int kind);

#endif /* MCP_CHAT_LIMITS_H */
