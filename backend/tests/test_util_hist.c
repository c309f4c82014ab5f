/* Unit tests for the latency histogram. */

#include <stdint.h>

#include "unit.h"
#include "util/mcp_hist.h"

static void
test_empty_and_small(void)
{
    mcp_hist_t  h;
    uint64_t    i;

    mcp_hist_reset(&h);
    CHECK_EQ_INT(mcp_hist_quantile(&h, 0.5), 0);

    for (i = 1; i <= 10; i++) {
        mcp_hist_record(&h, i);
    }

    /* small values are exact */
    CHECK_EQ_INT(mcp_hist_quantile(&h, 0.5), 5);
    CHECK_EQ_INT(mcp_hist_quantile(&h, 1.0), 10);
    CHECK_EQ_INT(mcp_hist_quantile(&h, 0.0), 1);
    CHECK_EQ_INT(h.count, 10);
    CHECK_EQ_INT(h.sum, 55);
}

static void
test_relative_error_bounded(void)
{
    mcp_hist_t  h;
    uint64_t    v, got;

    for (v = 17; v < 100000000ull; v = v * 3 + 7) {
        mcp_hist_reset(&h);
        mcp_hist_record(&h, v);
        mcp_hist_record(&h, v * 2);
        got = mcp_hist_quantile(&h, 0.0);
        /* reported within 1/16 above, never below */
        CHECK(got >= v);
        CHECK(got <= v + v / 16 + 1);
    }
}

static void
test_merge_and_tail(void)
{
    mcp_hist_t  a, b;
    uint64_t    i, p99;

    mcp_hist_reset(&a);
    mcp_hist_reset(&b);

    for (i = 0; i < 990; i++) {
        mcp_hist_record(&a, 1000);
    }

    for (i = 0; i < 10; i++) {
        mcp_hist_record(&b, 50000);
    }

    mcp_hist_merge(&a, &b);
    CHECK_EQ_INT(a.count, 1000);
    CHECK(mcp_hist_quantile(&a, 0.5) >= 1000);
    CHECK(mcp_hist_quantile(&a, 0.5) < 1100);
    p99 = mcp_hist_quantile(&a, 0.995);
    CHECK(p99 >= 50000);
    CHECK_EQ_INT(mcp_hist_quantile(&a, 1.0), 50000);
}

UNIT_MAIN("util_hist",
    UNIT_TEST(test_empty_and_small),
    UNIT_TEST(test_relative_error_bounded),
    UNIT_TEST(test_merge_and_tail))
