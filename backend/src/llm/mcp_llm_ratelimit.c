/* Request/token rate limiter: see mcp_llm_ratelimit.h. */

#include <math.h>

#include "llm/mcp_llm_ratelimit.h"

static void
bucket_init(mcp_llm_bucket_t *b, int64_t limit, int64_t now)
{
    b->limit = limit > 0 ? (double) limit : 0;
    b->avail = b->limit;
    b->last_ms = now;
    b->blocked_until = 0;
}

static void
bucket_refill(mcp_llm_bucket_t *b, int64_t now)
{
    if (b->limit <= 0 || now <= b->last_ms) {
        return;
    }
    b->avail += b->limit * (double) (now - b->last_ms) / 60000.0;
    if (b->avail > b->limit) {
        b->avail = b->limit;
    }
    b->last_ms = now;
}

/* ms until `need` is available (0: now) */
static int64_t
bucket_wait(mcp_llm_bucket_t *b, int64_t now, double need)
{
    int64_t  wait = 0;

    if (b->blocked_until > now) {
        wait = b->blocked_until - now;
    }
    if (b->limit <= 0) {
        return wait;
    }

    bucket_refill(b, now);
    if (b->avail < need) {
        int64_t  w = (int64_t) ceil((need - b->avail) * 60000.0 / b->limit);

        if (w < 1) {
            w = 1;
        }
        if (w > wait) {
            wait = w;
        }
    }
    return wait;
}

void
mcp_llm_ratelimit_init(mcp_llm_ratelimit_t *rl, int64_t rpm, int64_t tpm,
    int64_t now_ms)
{
    bucket_init(&rl->req, rpm, now_ms);
    bucket_init(&rl->tok, tpm, now_ms);
}

int64_t
mcp_llm_ratelimit_acquire(mcp_llm_ratelimit_t *rl, int64_t now_ms,
    int64_t tokens, int64_t *reserved)
{
    double   need = tokens > 0 ? (double) tokens : 0;
    int64_t  w1, w2;

    if (rl->tok.limit > 0 && need > rl->tok.limit) {
        need = rl->tok.limit;
    }

    w1 = bucket_wait(&rl->req, now_ms, 1);
    w2 = bucket_wait(&rl->tok, now_ms, need);
    if (w1 || w2) {
        return w1 > w2 ? w1 : w2;
    }

    if (rl->req.limit > 0) {
        rl->req.avail -= 1;
    }
    if (rl->tok.limit > 0) {
        rl->tok.avail -= need;
    }
    *reserved = (int64_t) need;
    return 0;
}

void
mcp_llm_ratelimit_settle(mcp_llm_ratelimit_t *rl, int64_t now_ms,
    int64_t reserved, int64_t used, int refund_request)
{
    bucket_refill(&rl->tok, now_ms);
    bucket_refill(&rl->req, now_ms);

    if (rl->tok.limit > 0) {
        rl->tok.avail += (double) (reserved - used);
        if (rl->tok.avail > rl->tok.limit) {
            rl->tok.avail = rl->tok.limit;
        }
    }
    if (refund_request && rl->req.limit > 0) {
        rl->req.avail += 1;
        if (rl->req.avail > rl->req.limit) {
            rl->req.avail = rl->req.limit;
        }
    }
}

static void
bucket_observe(mcp_llm_bucket_t *b, int64_t now, int64_t remaining,
    int64_t reset_ms)
{
    if (remaining < 0) {
        return;
    }
    if (remaining == 0 && reset_ms > 0) {
        if (now + reset_ms > b->blocked_until) {
            b->blocked_until = now + reset_ms;
        }
    }
    if (b->limit > 0) {
        bucket_refill(b, now);
        if ((double) remaining < b->avail) {
            b->avail = (double) remaining;
        }
    }
}

void
mcp_llm_ratelimit_observe(mcp_llm_ratelimit_t *rl, int64_t now_ms,
    int64_t remaining_req, int64_t reset_req_ms, int64_t remaining_tok,
    int64_t reset_tok_ms)
{
    bucket_observe(&rl->req, now_ms, remaining_req, reset_req_ms);
    bucket_observe(&rl->tok, now_ms, remaining_tok, reset_tok_ms);
}

void
mcp_llm_ratelimit_block(mcp_llm_ratelimit_t *rl, int64_t now_ms, int64_t ms)
{
    if (ms > 0 && now_ms + ms > rl->req.blocked_until) {
        rl->req.blocked_until = now_ms + ms;
    }
}

static int64_t
bucket_left(mcp_llm_bucket_t *b, int64_t now)
{
    if (b->blocked_until > now) {
        return 0;
    }
    if (b->limit <= 0) {
        return -1;
    }
    bucket_refill(b, now);
    return b->avail > 0 ? (int64_t) b->avail : 0;
}

int64_t
mcp_llm_ratelimit_left_requests(mcp_llm_ratelimit_t *rl, int64_t now_ms)
{
    return bucket_left(&rl->req, now_ms);
}

int64_t
mcp_llm_ratelimit_left_tokens(mcp_llm_ratelimit_t *rl, int64_t now_ms)
{
    return bucket_left(&rl->tok, now_ms);
}
