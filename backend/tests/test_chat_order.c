/* chat/mcp_chat_order: per-conversation FIFO, concurrency across
   conversations, bounded queue, removal, entries freed when idle. */

#include "unit.h"
#include "chat/mcp_chat_order.h"

static void
test_order_fifo(void)
{
    mcp_chat_order_t  *o = mcp_chat_order_new();
    int                a, b, c, x;

    CHECK_EQ_INT(mcp_chat_order_submit(o, "c1", &a, 8), MCP_ORDER_RUN);
    CHECK_EQ_INT(mcp_chat_order_submit(o, "c1", &b, 8), MCP_ORDER_QUEUED);
    CHECK_EQ_INT(mcp_chat_order_submit(o, "c1", &c, 8), MCP_ORDER_QUEUED);
    /* another conversation runs at once */
    CHECK_EQ_INT(mcp_chat_order_submit(o, "c2", &x, 8), MCP_ORDER_RUN);
    CHECK_EQ_INT(mcp_chat_order_active(o), 2);
    CHECK_EQ_INT(mcp_chat_order_waiting(o), 2);

    CHECK(mcp_chat_order_done(o, "c1") == &b);
    CHECK(mcp_chat_order_done(o, "c1") == &c);
    CHECK(mcp_chat_order_done(o, "c1") == NULL);    /* lane freed */
    CHECK_EQ_INT(mcp_chat_order_active(o), 1);
    CHECK(mcp_chat_order_done(o, "c2") == NULL);
    CHECK_EQ_INT(mcp_chat_order_active(o), 0);
    CHECK_EQ_INT(mcp_chat_order_waiting(o), 0);

    /* a fresh request after idle runs at once again */
    CHECK_EQ_INT(mcp_chat_order_submit(o, "c1", &a, 8), MCP_ORDER_RUN);
    CHECK(mcp_chat_order_done(o, "c1") == NULL);
    mcp_chat_order_free(o);
}

static void
test_order_bounded_and_remove(void)
{
    mcp_chat_order_t  *o = mcp_chat_order_new();
    int                j[10], i;

    CHECK_EQ_INT(mcp_chat_order_submit(o, "c", &j[0], 2), MCP_ORDER_RUN);
    CHECK_EQ_INT(mcp_chat_order_submit(o, "c", &j[1], 2), MCP_ORDER_QUEUED);
    CHECK_EQ_INT(mcp_chat_order_submit(o, "c", &j[2], 2), MCP_ORDER_QUEUED);
    CHECK_EQ_INT(mcp_chat_order_submit(o, "c", &j[3], 2), MCP_ORDER_BUSY);
    CHECK_EQ_INT(mcp_chat_order_remove(o, "c", &j[1]), 1);
    CHECK_EQ_INT(mcp_chat_order_remove(o, "c", &j[1]), 0);
    CHECK_EQ_INT(mcp_chat_order_submit(o, "c", &j[3], 2), MCP_ORDER_QUEUED);
    CHECK(mcp_chat_order_done(o, "c") == &j[2]);
    CHECK(mcp_chat_order_done(o, "c") == &j[3]);
    CHECK(mcp_chat_order_done(o, "c") == NULL);

    /* the ring wraps and grows in order */
    CHECK_EQ_INT(mcp_chat_order_submit(o, "w", &j[0], 100), MCP_ORDER_RUN);
    for (i = 1; i < 10; i++) {
        CHECK_EQ_INT(mcp_chat_order_submit(o, "w", &j[i], 100),
                     MCP_ORDER_QUEUED);
        if (i == 3) {
            CHECK(mcp_chat_order_done(o, "w") == &j[1]);
        }
    }
    for (i = 2; i < 10; i++) {
        CHECK(mcp_chat_order_done(o, "w") == &j[i]);
    }
    CHECK(mcp_chat_order_done(o, "w") == NULL);
    CHECK_EQ_INT(mcp_chat_order_active(o), 0);
    mcp_chat_order_free(o);
}

UNIT_MAIN("chat_order",
    UNIT_TEST(test_order_fifo),
    UNIT_TEST(test_order_bounded_and_remove))
