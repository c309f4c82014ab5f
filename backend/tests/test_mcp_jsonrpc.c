/* mcp/mcp_jsonrpc: newline framing across splits, oversize lines,
 * classification, ids, builders */

#include "unit.h"
#include "mcp/mcp_jsonrpc.h"

#include <stdlib.h>

typedef struct {
    char    lines[16][128];
    size_t  n;
    size_t  oversize[4];
    size_t  no;
} collect_t;

static void
on_line(void *ctx, const char *line, size_t len, int oversize)
{
    collect_t  *c = ctx;

    if (oversize) {
        if (c->no < 4) {
            c->oversize[c->no++] = len;
        }
        return;
    }
    if (c->n < 16 && len < 128) {
        memcpy(c->lines[c->n], line, len);
        c->lines[c->n][len] = '\0';
        c->n++;
    }
}

static void
test_framing_every_split(void)
{
    const char  *in = "{\"a\":1}\n\r\n{\"b\":2}\r\n\n{\"c\":3}\n";
    size_t       len = strlen(in), split;

    for (split = 0; split <= len; split++) {
        mcp_framer_t  f;
        collect_t     c = { 0 };

        mcp_framer_init(&f, 1024);
        CHECK(mcp_framer_feed(&f, in, split, on_line, &c) == 0);
        CHECK(mcp_framer_feed(&f, in + split, len - split, on_line, &c) == 0);
        CHECK_EQ_INT(c.n, 3);
        CHECK_EQ_STR(c.lines[0], "{\"a\":1}");
        CHECK_EQ_STR(c.lines[1], "{\"b\":2}");
        CHECK_EQ_STR(c.lines[2], "{\"c\":3}");
        CHECK_EQ_INT(mcp_framer_pending(&f), 0);
        mcp_framer_free(&f);
    }
}

static void
test_framing_byte_by_byte_and_partial(void)
{
    const char    *in = "abc\ndef";
    mcp_framer_t   f;
    collect_t      c = { 0 };
    size_t         i;

    mcp_framer_init(&f, 1024);
    for (i = 0; i < strlen(in); i++) {
        CHECK(mcp_framer_feed(&f, in + i, 1, on_line, &c) == 0);
    }
    CHECK_EQ_INT(c.n, 1);
    CHECK_EQ_STR(c.lines[0], "abc");
    CHECK_EQ_INT(mcp_framer_pending(&f), 3);
    mcp_framer_free(&f);
}

static void
test_framing_oversize_dropped_then_recovers(void)
{
    mcp_framer_t   f;
    collect_t      c = { 0 };
    char           big[100];

    memset(big, 'x', sizeof(big));
    mcp_framer_init(&f, 16);
    CHECK(mcp_framer_feed(&f, "ok1\n", 4, on_line, &c) == 0);
    CHECK(mcp_framer_feed(&f, big, 10, on_line, &c) == 0);
    CHECK(mcp_framer_feed(&f, big, 50, on_line, &c) == 0);
    CHECK(mcp_framer_feed(&f, big, 40, on_line, &c) == 0);
    CHECK(mcp_framer_feed(&f, "\nok2\n", 5, on_line, &c) == 0);
    CHECK_EQ_INT(c.n, 2);
    CHECK_EQ_STR(c.lines[1], "ok2");
    CHECK_EQ_INT(c.no, 1);
    CHECK_EQ_INT(c.oversize[0], 100);
    /* a line of exactly the limit passes */
    CHECK(mcp_framer_feed(&f, "0123456789abcdef\n", 17, on_line, &c) == 0);
    CHECK_EQ_INT(c.n, 3);
    mcp_framer_free(&f);
}

static mcp_rpc_kind_e
kind_of(const char *text)
{
    json_t          *m = mcp_rpc_parse(text, strlen(text), NULL, 0);
    mcp_rpc_kind_e   k;
    const char      *why;

    if (m == NULL) {
        return MCP_RPC_INVALID;
    }
    k = mcp_rpc_classify(m, &why);
    CHECK((k == MCP_RPC_INVALID) == (why != NULL));
    json_decref(m);
    return k;
}

static void
test_classify(void)
{
    CHECK_EQ_INT(kind_of("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}"),
                 MCP_RPC_REQUEST);
    CHECK_EQ_INT(kind_of("{\"jsonrpc\":\"2.0\",\"id\":\"x\",\"method\":\"a\"}"),
                 MCP_RPC_REQUEST);
    CHECK_EQ_INT(kind_of("{\"jsonrpc\":\"2.0\",\"method\":\"notifications/x\"}"),
                 MCP_RPC_NOTIFICATION);
    CHECK_EQ_INT(kind_of("{\"jsonrpc\":\"2.0\",\"id\":3,\"result\":{}}"),
                 MCP_RPC_RESULT);
    CHECK_EQ_INT(kind_of("{\"jsonrpc\":\"2.0\",\"id\":3,\"error\":"
                         "{\"code\":-32601,\"message\":\"no\"}}"),
                 MCP_RPC_ERROR);
    CHECK_EQ_INT(kind_of("{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":"
                         "{\"code\":-32700,\"message\":\"parse\"}}"),
                 MCP_RPC_ERROR);
    /* invalid shapes */
    CHECK_EQ_INT(kind_of("[{\"jsonrpc\":\"2.0\",\"method\":\"a\"}]"),
                 MCP_RPC_INVALID);
    CHECK_EQ_INT(kind_of("{\"jsonrpc\":\"1.0\",\"method\":\"a\"}"),
                 MCP_RPC_INVALID);
    CHECK_EQ_INT(kind_of("{\"method\":\"a\"}"), MCP_RPC_INVALID);
    CHECK_EQ_INT(kind_of("{\"jsonrpc\":\"2.0\",\"id\":1.5,\"method\":\"a\"}"),
                 MCP_RPC_INVALID);
    CHECK_EQ_INT(kind_of("{\"jsonrpc\":\"2.0\",\"id\":1}"), MCP_RPC_INVALID);
    CHECK_EQ_INT(kind_of("{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":1,"
                         "\"error\":{\"code\":1}}"), MCP_RPC_INVALID);
    CHECK_EQ_INT(kind_of("{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":"
                         "{\"code\":\"x\"}}"), MCP_RPC_INVALID);
    CHECK_EQ_INT(kind_of("{\"jsonrpc\":\"2.0\",\"method\":7}"),
                 MCP_RPC_INVALID);
    CHECK_EQ_INT(kind_of("\"hello\""), MCP_RPC_INVALID);
    CHECK_EQ_INT(kind_of("not json"), MCP_RPC_INVALID);
    /* duplicate keys are ambiguous: rejected */
    CHECK_EQ_INT(kind_of("{\"jsonrpc\":\"2.0\",\"id\":1,\"id\":2,"
                         "\"result\":{}}"), MCP_RPC_INVALID);
}

static void
test_ids(void)
{
    json_t   *a = json_integer(42), *b = json_string("17"),
             *c = json_string("x1"), *d = json_real(1.0);
    int64_t   v = 0;

    CHECK(mcp_rpc_id_int(a, &v) == 0 && v == 42);
    CHECK(mcp_rpc_id_int(b, &v) == 0 && v == 17);
    CHECK(mcp_rpc_id_int(c, &v) == -1);
    CHECK(mcp_rpc_id_int(d, &v) == -1);
    CHECK(mcp_rpc_id_int(NULL, &v) == -1);
    json_decref(a);
    json_decref(b);
    json_decref(c);
    json_decref(d);
}

static void
test_builders_roundtrip(void)
{
    json_t   *p = json_pack("{s:s}", "text", "line1\nline2");
    json_t   *req = mcp_rpc_request(7, "tools/call", p);
    json_t   *id = json_string("srv-1");
    json_t   *err = mcp_rpc_error(id, MCP_RPC_METHOD_NOT_FOUND, "nope");
    json_t   *res = mcp_rpc_result(id, NULL), *back;
    size_t    len;
    char     *line = mcp_rpc_dump_line(req, &len), buf[64];

    CHECK(line != NULL);
    CHECK(line[len - 1] == '\n');
    CHECK(memchr(line, '\n', len - 1) == NULL);    /* no embedded newline */
    back = mcp_rpc_parse(line, len - 1, NULL, 0);
    CHECK(back && mcp_rpc_classify(back, NULL) == MCP_RPC_REQUEST);
    CHECK(json_equal(back, req));
    CHECK_EQ_INT(mcp_rpc_classify(err, NULL), MCP_RPC_ERROR);
    CHECK_EQ_STR(mcp_rpc_error_text(json_object_get(err, "error"), buf,
                                    sizeof(buf)), "-32601: nope");
    CHECK_EQ_INT(mcp_rpc_classify(res, NULL), MCP_RPC_RESULT);
    CHECK_EQ_STR(json_string_value(json_object_get(res, "id")), "srv-1");
    free(line);
    json_decref(back);
    json_decref(req);
    json_decref(err);
    json_decref(res);
    json_decref(id);
}

UNIT_MAIN("mcp_jsonrpc",
    UNIT_TEST(test_framing_every_split),
    UNIT_TEST(test_framing_byte_by_byte_and_partial),
    UNIT_TEST(test_framing_oversize_dropped_then_recovers),
    UNIT_TEST(test_classify),
    UNIT_TEST(test_ids),
    UNIT_TEST(test_builders_roundtrip))
