/* Unit tests for the incremental SSE parser. */

#include <stdlib.h>

#include "unit.h"
#include "llm/mcp_llm_sse.h"

typedef struct {
    char    out[8192];
    size_t  len;
    int     events;
    int     stop_after;     /* return 1 from the callback at this event */
} sink_t;

static int
on_event(void *ctx, const char *event, const char *data, size_t len)
{
    sink_t  *s = ctx;
    int      n;

    n = snprintf(s->out + s->len, sizeof(s->out) - s->len, "[%s|%.*s]",
                 event, (int) len, data);
    s->len += (size_t) n;
    s->events++;
    CHECK(data[len] == '\0');
    return s->stop_after && s->events == s->stop_after ? 7 : 0;
}

/* Parse text whole, then in every 2-way split, then byte by byte: all
 * must give the same events. */
static void
check_all_splits(const char *text, const char *expect)
{
    size_t          len = strlen(text), cut, i;
    mcp_llm_sse_t   p;
    sink_t          s;

    for (cut = 0; cut <= len; cut++) {
        memset(&s, 0, sizeof(s));
        mcp_llm_sse_init(&p, on_event, &s);
        CHECK_EQ_INT(mcp_llm_sse_feed(&p, text, cut), 0);
        CHECK_EQ_INT(mcp_llm_sse_feed(&p, text + cut, len - cut), 0);
        CHECK_EQ_INT(mcp_llm_sse_finish(&p), 0);
        CHECK_EQ_STR(s.out, expect);
        mcp_llm_sse_free(&p);
    }

    memset(&s, 0, sizeof(s));
    mcp_llm_sse_init(&p, on_event, &s);
    for (i = 0; i < len; i++) {
        CHECK_EQ_INT(mcp_llm_sse_feed(&p, text + i, 1), 0);
    }
    CHECK_EQ_INT(mcp_llm_sse_finish(&p), 0);
    CHECK_EQ_STR(s.out, expect);
    mcp_llm_sse_free(&p);
}

static void
test_basic_and_space(void)
{
    check_all_splits("data: {\"a\":1}\n\ndata:{\"b\":2}\n\ndata: [DONE]\n\n",
                     "[message|{\"a\":1}][message|{\"b\":2}][message|[DONE]]");
    /* only one leading space is stripped */
    check_all_splits("data:  x\n\n", "[message| x]");
}

static void
test_line_endings(void)
{
    check_all_splits("data: a\r\n\r\ndata: b\r\rdata: c\n\n",
                     "[message|a][message|b][message|c]");
}

static void
test_multiline_and_event(void)
{
    check_all_splits("event: error\ndata: line1\ndata: line2\n\n"
                     "data: next\n\n",
                     "[error|line1\nline2][message|next]");
}

static void
test_comments_keepalive(void)
{
    check_all_splits(": OPENROUTER PROCESSING\n\n:\n\ndata: x\n"
                     ": mid-event comment\ndata: y\n\n",
                     "[message|x\ny]");
    /* id/retry/unknown fields ignored, field without colon ignored */
    check_all_splits("id: 5\nretry: 100\nfoo: bar\ndata\n\n",
                     "[message|]");
}

static void
test_bom_and_eof(void)
{
    check_all_splits("\xEF\xBB\xBF" "data: a\n\n", "[message|a]");
    /* last event without blank line is dispatched; a half line is not */
    check_all_splits("data: a\n\ndata: [DONE]\n", "[message|a][message|[DONE]]");
    check_all_splits("data: a\n\ndata: [DO", "[message|a]");
}

static void
test_event_without_data(void)
{
    check_all_splits("event: ping\n\ndata: z\n\n", "[message|z]");
}

static void
test_limits_and_stop(void)
{
    mcp_llm_sse_t  p;
    sink_t         s;
    char          *big;

    memset(&s, 0, sizeof(s));
    mcp_llm_sse_init(&p, on_event, &s);
    p.max_line = 100;
    big = malloc(300);
    memset(big, 'x', 300);
    memcpy(big, "data: ", 6);
    CHECK_EQ_INT(mcp_llm_sse_feed(&p, big, 60), 0);
    CHECK_EQ_INT(mcp_llm_sse_feed(&p, big + 60, 240), MCP_LLM_SSE_ERR_TOO_LARGE);
    mcp_llm_sse_free(&p);
    free(big);

    memset(&s, 0, sizeof(s));
    mcp_llm_sse_init(&p, on_event, &s);
    p.max_event = 10;
    CHECK_EQ_INT(mcp_llm_sse_feed(&p, "data: 12345\ndata: 67890\n", 24),
                 MCP_LLM_SSE_ERR_TOO_LARGE);
    mcp_llm_sse_free(&p);

    memset(&s, 0, sizeof(s));
    s.stop_after = 1;
    mcp_llm_sse_init(&p, on_event, &s);
    CHECK_EQ_INT(mcp_llm_sse_feed(&p, "data: a\n\ndata: b\n\n", 18), 7);
    CHECK_EQ_INT(s.events, 1);
    mcp_llm_sse_free(&p);
}

static void
test_large_data_linear(void)
{
    mcp_llm_sse_t  p;
    sink_t         s;
    size_t         i;
    char           chunk[1024];

    /* 4 MiB in one data line, fed in 1 KiB pieces: must be quick */
    memset(&s, 0, sizeof(s));
    mcp_llm_sse_init(&p, on_event, &s);
    p.max_line = 8u << 20;
    memset(chunk, 'a', sizeof(chunk));
    CHECK_EQ_INT(mcp_llm_sse_feed(&p, "data: ", 6), 0);
    for (i = 0; i < 4096; i++) {
        CHECK_EQ_INT(mcp_llm_sse_feed(&p, chunk, sizeof(chunk)), 0);
    }
    CHECK_EQ_INT(p.line.len, 6 + 4096 * 1024);
    mcp_llm_sse_free(&p);
}

UNIT_MAIN("llm_sse",
    UNIT_TEST(test_basic_and_space),
    UNIT_TEST(test_line_endings),
    UNIT_TEST(test_multiline_and_event),
    UNIT_TEST(test_comments_keepalive),
    UNIT_TEST(test_bom_and_eof),
    UNIT_TEST(test_event_without_data),
    UNIT_TEST(test_limits_and_stop),
    UNIT_TEST(test_large_data_linear))
