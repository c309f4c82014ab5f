/*
 * Retry policy pieces, pure and clock-free: parsing how long a provider
 * asks us to wait, exponential backoff with full jitter under a total cap,
 * and a per-provider circuit breaker.
 */

#ifndef MCP_LLM_POLICY_H
#define MCP_LLM_POLICY_H

#include <stdint.h>
#include <time.h>

/*
 * Go-style duration as Groq and OpenAI send in x-ratelimit-reset-*:
 * "6m0.5s", "2m59.56s", "7.66s", "20ms", "1h2m", "500us", "0s"; a bare
 * number is seconds.  Milliseconds rounded up.  0 or -1.
 */
int mcp_llm_parse_duration(const char *s, int64_t *ms);

/*
 * Retry-After: delta seconds ("2", "1.5") or an HTTP date (IMF-fixdate,
 * RFC 850, asctime) relative to now.  A date in the past is 0.  0 or -1.
 */
int mcp_llm_parse_retry_after(const char *s, time_t now, int64_t *ms);

/* retry-after-ms / x-ms-retry-after-ms: milliseconds, may be fractional. */
int mcp_llm_parse_retry_after_ms(const char *s, int64_t *ms);

/*
 * Full-jitter backoff for retry `attempt` (0 for the first retry):
 * uniform in [0, min(cap_ms, factor_s * 1000 * 2^attempt)].  r01 is a
 * uniform random number in [0, 1).
 */
int64_t mcp_llm_backoff_ms(unsigned attempt, double factor_s, int64_t cap_ms,
    double r01);

/* ------------------------------------------------------------ breaker */

typedef enum {
    MCP_LLM_BREAKER_CLOSED,
    MCP_LLM_BREAKER_OPEN,
    MCP_LLM_BREAKER_HALF_OPEN
} mcp_llm_breaker_state_e;

typedef struct {
    mcp_llm_breaker_state_e  state;
    unsigned                 threshold;    /* consecutive failures to open */
    int64_t                  cooldown_ms;  /* open -> half-open */
    unsigned                 failures;
    int64_t                  opened_at;
    unsigned                 probing;      /* half-open probe in flight */
    uint64_t                 opens;        /* for status */
} mcp_llm_breaker_t;

void mcp_llm_breaker_init(mcp_llm_breaker_t *b, unsigned threshold,
    int64_t cooldown_ms);
/* May a request go now?  In half-open, lets exactly one probe through. */
int mcp_llm_breaker_allow(mcp_llm_breaker_t *b, int64_t now_ms);
/* The outcome of a request that was allowed: 1 ok, 0 failed, -1 neither
 * (cancelled: a half-open probe slot is released, nothing counted). */
void mcp_llm_breaker_record(mcp_llm_breaker_t *b, int64_t now_ms, int ok);
/* The state as seen now ("open" turns "half_open" after the cooldown). */
const char *mcp_llm_breaker_state(mcp_llm_breaker_t *b, int64_t now_ms);

#endif /* MCP_LLM_POLICY_H */
