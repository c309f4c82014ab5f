/* Unit tests for the link codec shared by the module and mcpd. */

#include <stdint.h>
#include <stdlib.h>

#include "unit.h"
#include "link/mcp_link_codec.h"

static void
test_roundtrip_every_split(void)
{
    uint8_t           buf[64];
    size_t            n, need, cut;
    long              rc;
    mcp_link_frame_t  f;

    n = mcp_link_hdr_write(buf, MCP_LINK_MESSAGE, 0, 0x0102030405060708ull, 5);
    memcpy(buf + n, "hello", 5);
    n += 5;

    /* every prefix shorter than the frame asks for more, never errs */
    for (cut = 0; cut < n; cut++) {
        rc = mcp_link_frame_parse(buf, cut, 1024, &f, &need);
        CHECK_EQ_INT(rc, MCP_LINK_NEED_MORE);
        CHECK(need > cut);
        CHECK(need <= n);
    }

    rc = mcp_link_frame_parse(buf, n, 1024, &f, &need);
    CHECK_EQ_INT(rc, (long) n);
    CHECK_EQ_INT(f.type, MCP_LINK_MESSAGE);
    CHECK(f.sid == 0x0102030405060708ull);
    CHECK_EQ_INT(f.len, 5);
    CHECK(memcmp(f.payload, "hello", 5) == 0);
}

static void
test_rejects_malformed(void)
{
    uint8_t           buf[32];
    size_t            need;
    mcp_link_frame_t  f;

    mcp_link_hdr_write(buf, 0, 0, 1, 0);
    CHECK_EQ_INT(mcp_link_frame_parse(buf, 16, 0, &f, &need), MCP_LINK_ERR_TYPE);

    mcp_link_hdr_write(buf, MCP_LINK_TYPE_MAX + 1, 0, 1, 0);
    CHECK_EQ_INT(mcp_link_frame_parse(buf, 16, 0, &f, &need), MCP_LINK_ERR_TYPE);

    mcp_link_hdr_write(buf, MCP_LINK_OPEN, 0, 1, 0);
    buf[7] = 1;
    CHECK_EQ_INT(mcp_link_frame_parse(buf, 16, 0, &f, &need), MCP_LINK_ERR_RSV);

    /* the size limit is checked from the header alone, before any payload */
    mcp_link_hdr_write(buf, MCP_LINK_MESSAGE, 0, 1, 2000);
    CHECK_EQ_INT(mcp_link_frame_parse(buf, 16, 1000, &f, &need),
                 MCP_LINK_ERR_TOO_BIG);
    mcp_link_hdr_write(buf, MCP_LINK_MESSAGE, 0, 1, 0xffffffffu);
    CHECK_EQ_INT(mcp_link_frame_parse(buf, 16, 0, &f, &need),
                 MCP_LINK_ERR_TOO_BIG);
}

static void
test_hello_close(void)
{
    uint8_t           buf[200];
    mcp_link_hello_t  h = { 1, 3, 4242, 7 }, r;
    uint16_t          code;
    const uint8_t    *reason;
    size_t            rlen, n;
    char              longreason[200];

    n = mcp_link_hello_write(buf, &h);
    CHECK_EQ_INT(n, MCP_LINK_HELLO_LEN);
    CHECK_EQ_INT(mcp_link_hello_read(buf, n, &r), 0);
    CHECK_EQ_INT(r.min_version, 1);
    CHECK_EQ_INT(r.max_version, 3);
    CHECK_EQ_INT(r.pid, 4242);
    CHECK_EQ_INT(r.worker, 7);
    CHECK_EQ_INT(mcp_link_hello_read(buf, n - 1, &r), -1);

    n = mcp_link_close_write(buf, 1008, "slow", 4);
    CHECK_EQ_INT(mcp_link_close_read(buf, n, &code, &reason, &rlen), 0);
    CHECK_EQ_INT(code, 1008);
    CHECK_EQ_INT(rlen, 4);
    CHECK(memcmp(reason, "slow", 4) == 0);
    CHECK_EQ_INT(mcp_link_close_read(buf, 1, &code, &reason, &rlen), -1);

    /* a reason longer than a close frame allows is cut, never overflowing */
    memset(longreason, 'x', sizeof(longreason));
    n = mcp_link_close_write(buf, 1000, longreason, sizeof(longreason));
    CHECK_EQ_INT(n, 2 + MCP_LINK_CLOSE_REASON_MAX);
}

static void
test_kv(void)
{
    uint8_t         buf[128];
    size_t          pos = 0, vlen;
    const uint8_t  *v;

    CHECK_EQ_INT(mcp_link_kv_put(buf, sizeof(buf), &pos, "addr", 4,
                                 "127.0.0.1", 9), 0);
    CHECK_EQ_INT(mcp_link_kv_put(buf, sizeof(buf), &pos, "principal", 9,
                                 "", 0), 0);
    CHECK_EQ_INT(pos, mcp_link_kv_size(4, 9) + mcp_link_kv_size(9, 0));

    CHECK_EQ_INT(mcp_link_kv_find(buf, pos, "addr", &v, &vlen), 1);
    CHECK_EQ_INT(vlen, 9);
    CHECK(memcmp(v, "127.0.0.1", 9) == 0);
    CHECK_EQ_INT(mcp_link_kv_find(buf, pos, "principal", &v, &vlen), 1);
    CHECK_EQ_INT(vlen, 0);
    CHECK_EQ_INT(mcp_link_kv_find(buf, pos, "nope", &v, &vlen), 0);

    /* truncated list is malformed, not read past its end */
    CHECK_EQ_INT(mcp_link_kv_find(buf, pos - 1, "nope", &v, &vlen), -1);

    /* does not fit */
    pos = 0;
    CHECK_EQ_INT(mcp_link_kv_put(buf, 10, &pos, "addr", 4, "127.0.0.1", 9), -1);
    CHECK_EQ_INT(pos, 0);
}

UNIT_MAIN("link_codec",
    UNIT_TEST(test_roundtrip_every_split),
    UNIT_TEST(test_rejects_malformed),
    UNIT_TEST(test_hello_close),
    UNIT_TEST(test_kv))
