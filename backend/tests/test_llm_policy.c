/* Unit tests for the rate limiter, Retry-After/duration parsing, backoff
 * and the circuit breaker. */

#include "unit.h"
#include "llm/mcp_llm_policy.h"
#include "llm/mcp_llm_ratelimit.h"

static int64_t
dur(const char *s)
{
    int64_t  ms = -12345;

    if (mcp_llm_parse_duration(s, &ms) != 0) {
        return -1;
    }
    return ms;
}

static void
test_go_durations(void)
{
    CHECK_EQ_INT(dur("6m0.5s"), 360500);
    CHECK_EQ_INT(dur("2m59.56s"), 179560);
    CHECK_EQ_INT(dur("7.66s"), 7660);
    CHECK_EQ_INT(dur("20ms"), 20);
    CHECK_EQ_INT(dur("1h2m3s"), 3723000);
    CHECK_EQ_INT(dur("500us"), 1);
    CHECK_EQ_INT(dur("0s"), 0);
    CHECK_EQ_INT(dur("1s"), 1000);
    CHECK_EQ_INT(dur("2"), 2000);
    CHECK_EQ_INT(dur(" 1.5 "), 1500);
    CHECK_EQ_INT(dur(""), -1);
    CHECK_EQ_INT(dur("abc"), -1);
    CHECK_EQ_INT(dur("5x"), -1);
    CHECK_EQ_INT(dur("1m30"), -1);
    CHECK_EQ_INT(dur("-1s"), -1);
}

static void
test_retry_after(void)
{
    int64_t  ms;
    time_t   now = 1445412480;             /* Wed, 21 Oct 2015 07:28:00 GMT */

    CHECK_EQ_INT(mcp_llm_parse_retry_after("2", now, &ms), 0);
    CHECK_EQ_INT(ms, 2000);
    CHECK_EQ_INT(mcp_llm_parse_retry_after(" 0.25", now, &ms), 0);
    CHECK_EQ_INT(ms, 250);
    CHECK_EQ_INT(mcp_llm_parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT",
                                           now, &ms), 0);
    CHECK_EQ_INT(ms, 30000);
    CHECK_EQ_INT(mcp_llm_parse_retry_after("Wednesday, 21-Oct-15 07:29:00 GMT",
                                           now, &ms), 0);
    CHECK_EQ_INT(ms, 60000);
    CHECK_EQ_INT(mcp_llm_parse_retry_after("Wed Oct 21 07:28:10 2015",
                                           now, &ms), 0);
    CHECK_EQ_INT(ms, 10000);
    /* the past means now */
    CHECK_EQ_INT(mcp_llm_parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT",
                                           now, &ms), 0);
    CHECK_EQ_INT(ms, 0);
    CHECK_EQ_INT(mcp_llm_parse_retry_after("soon", now, &ms), -1);
    CHECK_EQ_INT(mcp_llm_parse_retry_after("-3", now, &ms), -1);
    CHECK_EQ_INT(mcp_llm_parse_retry_after("", now, &ms), -1);

    CHECK_EQ_INT(mcp_llm_parse_retry_after_ms("1500", &ms), 0);
    CHECK_EQ_INT(ms, 1500);
    CHECK_EQ_INT(mcp_llm_parse_retry_after_ms("12.2", &ms), 0);
    CHECK_EQ_INT(ms, 13);
    CHECK_EQ_INT(mcp_llm_parse_retry_after_ms("x", &ms), -1);
}

static void
test_backoff(void)
{
    CHECK_EQ_INT(mcp_llm_backoff_ms(0, 0.5, 0, 0.0), 0);
    CHECK_EQ_INT(mcp_llm_backoff_ms(0, 0.5, 0, 0.5), 250);
    CHECK_EQ_INT(mcp_llm_backoff_ms(2, 0.5, 0, 0.5), 1000);
    CHECK_EQ_INT(mcp_llm_backoff_ms(10, 1.0, 30000, 0.5), 15000);
    CHECK(mcp_llm_backoff_ms(100, 1.0, 30000, 0.999) < 30000);
    CHECK_EQ_INT(mcp_llm_backoff_ms(3, 1.0, 0, 2.0), 0);
}

static void
test_rate_requests(void)
{
    mcp_llm_ratelimit_t  rl;
    int64_t              r, w;
    int                  i;

    mcp_llm_ratelimit_init(&rl, 60, 0, 0);          /* 1 per second */
    for (i = 0; i < 60; i++) {
        CHECK_EQ_INT(mcp_llm_ratelimit_acquire(&rl, 0, 100, &r), 0);
    }
    w = mcp_llm_ratelimit_acquire(&rl, 0, 100, &r);
    CHECK_EQ_INT(w, 1000);
    CHECK_EQ_INT(mcp_llm_ratelimit_acquire(&rl, 500, 100, &r), 500);
    CHECK_EQ_INT(mcp_llm_ratelimit_acquire(&rl, 1000, 100, &r), 0);
    CHECK_EQ_INT(mcp_llm_ratelimit_left_requests(&rl, 1000), 0);
    CHECK_EQ_INT(mcp_llm_ratelimit_left_tokens(&rl, 1000), -1);

    /* a request that never went out is given back */
    mcp_llm_ratelimit_settle(&rl, 1000, 0, 0, 1);
    CHECK_EQ_INT(mcp_llm_ratelimit_acquire(&rl, 1000, 1, &r), 0);
}

static void
test_rate_tokens_reserve_settle(void)
{
    mcp_llm_ratelimit_t  rl;
    int64_t              r1, r2, r;

    mcp_llm_ratelimit_init(&rl, 0, 6000, 0);        /* 100 tokens/s */
    CHECK_EQ_INT(mcp_llm_ratelimit_acquire(&rl, 0, 4000, &r1), 0);
    CHECK_EQ_INT(r1, 4000);
    /* 3000 more do not fit: wait for 1000 tokens = 10 s */
    CHECK_EQ_INT(mcp_llm_ratelimit_acquire(&rl, 0, 3000, &r2), 10000);
    /* the first used only 500: 3500 come back, now it fits */
    mcp_llm_ratelimit_settle(&rl, 0, r1, 500, 0);
    CHECK_EQ_INT(mcp_llm_ratelimit_acquire(&rl, 0, 3000, &r2), 0);
    CHECK_EQ_INT(mcp_llm_ratelimit_left_tokens(&rl, 0), 2500);
    /* used more than reserved: the bucket goes into debt */
    mcp_llm_ratelimit_settle(&rl, 0, r2, 6000, 0);
    CHECK_EQ_INT(mcp_llm_ratelimit_left_tokens(&rl, 0), 0);
    CHECK(mcp_llm_ratelimit_acquire(&rl, 0, 1, &r) > 5000);

    /* a reservation bigger than a minute's budget is clamped */
    mcp_llm_ratelimit_init(&rl, 0, 1000, 0);
    CHECK_EQ_INT(mcp_llm_ratelimit_acquire(&rl, 0, 50000, &r), 0);
    CHECK_EQ_INT(r, 1000);
}

static void
test_rate_headers(void)
{
    mcp_llm_ratelimit_t  rl;
    int64_t              r;

    mcp_llm_ratelimit_init(&rl, 600, 100000, 0);
    /* provider says 5 requests left: we believe it */
    mcp_llm_ratelimit_observe(&rl, 0, 5, 60000, 90000, 1000);
    CHECK_EQ_INT(mcp_llm_ratelimit_left_requests(&rl, 0), 5);
    CHECK_EQ_INT(mcp_llm_ratelimit_left_tokens(&rl, 0), 90000);
    /* 0 remaining, reset in 6m0.5s: blocked until then */
    mcp_llm_ratelimit_observe(&rl, 0, 0, 360500, -1, -1);
    CHECK_EQ_INT(mcp_llm_ratelimit_acquire(&rl, 0, 1, &r), 360500);
    CHECK_EQ_INT(mcp_llm_ratelimit_acquire(&rl, 360500, 1, &r), 0);
    /* headers absent: nothing changes */
    mcp_llm_ratelimit_observe(&rl, 360500, -1, -1, -1, -1);
    /* a 429's Retry-After blocks too */
    mcp_llm_ratelimit_block(&rl, 400000, 2000);
    CHECK_EQ_INT(mcp_llm_ratelimit_acquire(&rl, 400000, 1, &r), 2000);
    CHECK_EQ_INT(mcp_llm_ratelimit_left_requests(&rl, 400000), 0);
}

static void
test_breaker(void)
{
    mcp_llm_breaker_t  b;

    mcp_llm_breaker_init(&b, 3, 1000);
    CHECK(mcp_llm_breaker_allow(&b, 0));
    mcp_llm_breaker_record(&b, 0, 0);
    mcp_llm_breaker_record(&b, 0, 0);
    mcp_llm_breaker_record(&b, 0, 1);            /* success resets */
    mcp_llm_breaker_record(&b, 0, 0);
    mcp_llm_breaker_record(&b, 0, 0);
    CHECK_EQ_STR(mcp_llm_breaker_state(&b, 0), "closed");
    mcp_llm_breaker_record(&b, 10, 0);
    CHECK_EQ_STR(mcp_llm_breaker_state(&b, 10), "open");
    CHECK(!mcp_llm_breaker_allow(&b, 500));
    /* cooldown over: one probe only */
    CHECK_EQ_STR(mcp_llm_breaker_state(&b, 1010), "half_open");
    CHECK(mcp_llm_breaker_allow(&b, 1010));
    CHECK(!mcp_llm_breaker_allow(&b, 1011));
    /* probe cancelled: slot released */
    mcp_llm_breaker_record(&b, 1012, -1);
    CHECK(mcp_llm_breaker_allow(&b, 1013));
    /* probe fails: open again */
    mcp_llm_breaker_record(&b, 1020, 0);
    CHECK_EQ_STR(mcp_llm_breaker_state(&b, 1020), "open");
    CHECK(!mcp_llm_breaker_allow(&b, 2000));
    CHECK(mcp_llm_breaker_allow(&b, 2020));
    mcp_llm_breaker_record(&b, 2030, 1);
    CHECK_EQ_STR(mcp_llm_breaker_state(&b, 2030), "closed");
    CHECK_EQ_INT(b.opens, 2);

    /* threshold 0: disabled */
    mcp_llm_breaker_init(&b, 0, 1000);
    mcp_llm_breaker_record(&b, 0, 0);
    CHECK(mcp_llm_breaker_allow(&b, 0));
}

UNIT_MAIN("llm_policy",
    UNIT_TEST(test_go_durations),
    UNIT_TEST(test_retry_after),
    UNIT_TEST(test_backoff),
    UNIT_TEST(test_rate_requests),
    UNIT_TEST(test_rate_tokens_reserve_settle),
    UNIT_TEST(test_rate_headers),
    UNIT_TEST(test_breaker))
