/*
 * Per-provider request and token rate limiter, pure (the caller passes the
 * clock in milliseconds), so it is unit-tested without waiting.
 *
 * Two token buckets refilled continuously: requests per minute and tokens
 * per minute (0 disables either).  A request reserves one request and its
 * worst case (prompt estimate + max_tokens) before it is sent; when the
 * real usage is known the difference is settled, so a short answer gives
 * tokens back and an over-long one takes them.  The provider's
 * x-ratelimit-* headers correct the local view downwards: our buckets
 * never claim more than the provider says remains, and "0 remaining,
 * resets in 6m0.5s" blocks until then.  Reservations larger than a whole
 * minute's budget are clamped to it, so they wait for a full bucket
 * instead of waiting forever.
 */

#ifndef MCP_LLM_RATELIMIT_H
#define MCP_LLM_RATELIMIT_H

#include <stdint.h>

typedef struct {
    double    limit;         /* per minute; 0: unlimited */
    double    avail;         /* may go negative after settling */
    int64_t   last_ms;       /* last refill */
    int64_t   blocked_until; /* provider said 0 remaining until then */
} mcp_llm_bucket_t;

typedef struct {
    mcp_llm_bucket_t  req;
    mcp_llm_bucket_t  tok;
} mcp_llm_ratelimit_t;

void mcp_llm_ratelimit_init(mcp_llm_ratelimit_t *rl, int64_t rpm, int64_t tpm,
    int64_t now_ms);

/*
 * Try to admit one request that may use `tokens`.  Returns 0 and debits
 * both buckets, or returns the milliseconds to wait before trying again
 * (> 0) and changes nothing.  *reserved gets what was debited (the clamped
 * token count) for the later settle.
 */
int64_t mcp_llm_ratelimit_acquire(mcp_llm_ratelimit_t *rl, int64_t now_ms,
    int64_t tokens, int64_t *reserved);

/* The request used `used` tokens of the `reserved` ones (used may be 0 on
 * failure before sending: then the request itself is given back too when
 * refund_request is set). */
void mcp_llm_ratelimit_settle(mcp_llm_ratelimit_t *rl, int64_t now_ms,
    int64_t reserved, int64_t used, int refund_request);

/*
 * The provider's view from response headers; pass -1 for a header that
 * was absent.  remaining_* caps the local bucket; a 0 remaining with a
 * reset time blocks until then.
 */
void mcp_llm_ratelimit_observe(mcp_llm_ratelimit_t *rl, int64_t now_ms,
    int64_t remaining_req, int64_t reset_req_ms, int64_t remaining_tok,
    int64_t reset_tok_ms);

/* Block all requests until now + ms (a 429 with Retry-After). */
void mcp_llm_ratelimit_block(mcp_llm_ratelimit_t *rl, int64_t now_ms,
    int64_t ms);

/* For status: what is left now (-1 when unlimited). */
int64_t mcp_llm_ratelimit_left_requests(mcp_llm_ratelimit_t *rl,
    int64_t now_ms);
int64_t mcp_llm_ratelimit_left_tokens(mcp_llm_ratelimit_t *rl,
    int64_t now_ms);

#endif /* MCP_LLM_RATELIMIT_H */
