/* mcp/mcp_sse: events across every split, id/retry, priming, limits */

#include "unit.h"
#include "mcp/mcp_sse.h"

typedef struct {
    char    ev[8][32];
    char    data[8][128];
    size_t  n;
} got_t;

static void
on_event(void *ctx, const char *event, const char *data, size_t len)
{
    got_t  *g = ctx;

    if (g->n < 8 && len < 128) {
        snprintf(g->ev[g->n], 32, "%s", event);
        memcpy(g->data[g->n], data, len);
        g->data[g->n][len] = '\0';
        g->n++;
    }
}

static void
test_every_split(void)
{
    const char  *in = "id: e1\nretry: 500\ndata: \n\n"
                      ": keep-alive\r\n"
                      "event: message\r\nid: e2\r\ndata: {\"a\":1}\r\n\r\n"
                      "data: line1\ndata: line2\n\n";
    size_t       len = strlen(in), split;

    for (split = 0; split <= len; split++) {
        mcp_sse_t  p;
        got_t      g = { 0 };

        mcp_sse_init(&p, 1024, on_event, &g);
        CHECK(mcp_sse_feed(&p, in, split) == 0);
        CHECK(mcp_sse_feed(&p, in + split, len - split) == 0);
        CHECK_EQ_INT(g.n, 3);
        CHECK_EQ_STR(g.data[0], "");            /* the priming event */
        CHECK_EQ_STR(g.ev[1], "message");
        CHECK_EQ_STR(g.data[1], "{\"a\":1}");
        CHECK_EQ_STR(g.data[2], "line1\nline2");
        CHECK_EQ_STR(p.last_id, "e2");
        CHECK_EQ_INT(p.retry_ms, 500);
        mcp_sse_free(&p);
    }
}

static void
test_oversize_event_dropped(void)
{
    mcp_sse_t  p;
    got_t      g = { 0 };
    char       big[200];

    memset(big, 'x', sizeof(big));
    mcp_sse_init(&p, 64, on_event, &g);
    CHECK(mcp_sse_feed(&p, "data: ", 6) == 0);
    CHECK(mcp_sse_feed(&p, big, sizeof(big)) == 0);
    CHECK(mcp_sse_feed(&p, "\n\ndata: ok\n\n", 12) == 0);
    CHECK_EQ_INT(g.n, 1);
    CHECK_EQ_STR(g.data[0], "ok");
    CHECK(mcp_sse_feed(&p, "retry: x1\n\n", 11) == 0);
    CHECK_EQ_INT(p.retry_ms, -1);
    mcp_sse_free(&p);
}

UNIT_MAIN("mcp_sse",
    UNIT_TEST(test_every_split),
    UNIT_TEST(test_oversize_event_dropped))
