/* chat/mcp_chat_limits: concurrency cap, per-minute bucket with retry
   hints, principals independent, idle entries swept. */

#include "unit.h"
#include "chat/mcp_chat_limits.h"

static void
test_limits_concurrent(void)
{
    mcp_chat_limits_t  *l = mcp_chat_limits_new(2, 0);
    int64_t             retry = 0;

    CHECK_EQ_INT(mcp_chat_limits_acquire(l, "alice", 0, &retry), MCP_LIMIT_OK);
    CHECK_EQ_INT(mcp_chat_limits_acquire(l, "alice", 0, &retry), MCP_LIMIT_OK);
    CHECK_EQ_INT(mcp_chat_limits_acquire(l, "alice", 0, &retry),
                 MCP_LIMIT_CONCURRENT);
    CHECK(retry > 0);
    /* bob is not affected by alice */
    CHECK_EQ_INT(mcp_chat_limits_acquire(l, "bob", 0, &retry), MCP_LIMIT_OK);
    mcp_chat_limits_release(l, "alice");
    CHECK_EQ_INT(mcp_chat_limits_acquire(l, "alice", 0, &retry), MCP_LIMIT_OK);
    CHECK_EQ_INT(mcp_chat_limits_refused(l, MCP_LIMIT_CONCURRENT), 1);

    mcp_chat_limits_release(l, "alice");
    mcp_chat_limits_release(l, "alice");
    mcp_chat_limits_release(l, "bob");
    CHECK_EQ_INT(mcp_chat_limits_principals(l), 2);
    mcp_chat_limits_sweep(l, 1);
    CHECK_EQ_INT(mcp_chat_limits_principals(l), 0);
    mcp_chat_limits_free(l);
}

static void
test_limits_rate(void)
{
    mcp_chat_limits_t  *l = mcp_chat_limits_new(100, 60);   /* 1 per s */
    int64_t             retry = 0;
    int                 i;

    for (i = 0; i < 60; i++) {
        CHECK_EQ_INT(mcp_chat_limits_acquire(l, "p", 1000, &retry),
                     MCP_LIMIT_OK);
        mcp_chat_limits_release(l, "p");
    }
    CHECK_EQ_INT(mcp_chat_limits_acquire(l, "p", 1000, &retry),
                 MCP_LIMIT_RATE);
    CHECK_EQ_INT(retry, 1000);
    CHECK_EQ_INT(mcp_chat_limits_acquire(l, "p", 1400, &retry),
                 MCP_LIMIT_RATE);
    CHECK_EQ_INT(retry, 600);
    CHECK_EQ_INT(mcp_chat_limits_acquire(l, "p", 2000, &retry), MCP_LIMIT_OK);
    mcp_chat_limits_release(l, "p");

    /* not swept while the bucket is refilling, swept once full */
    mcp_chat_limits_sweep(l, 3000);
    CHECK_EQ_INT(mcp_chat_limits_principals(l), 1);
    mcp_chat_limits_sweep(l, 2000 + 61000);
    CHECK_EQ_INT(mcp_chat_limits_principals(l), 0);
    mcp_chat_limits_free(l);
}

UNIT_MAIN("chat_limits",
    UNIT_TEST(test_limits_concurrent),
    UNIT_TEST(test_limits_rate))
