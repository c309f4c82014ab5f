/*
 * The RFC 6455 parser: every check gives the right close code, and every
 * stream gives the same events whatever the split of its bytes.
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "unit.h"
#include "mcp_ws_frame.h"

typedef struct {
    uint8_t  b[200000];
    size_t   n;
} stream_t;

/* append a client frame, masked with a fixed key unless masked == 0 */
static void
frame(stream_t *s, unsigned b0, int masked, const void *payload, size_t len)
{
    static const uint8_t  key[4] = { 0x37, 0xfa, 0x21, 0x3d };
    size_t                i;

    s->b[s->n++] = (uint8_t) b0;

    if (len < 126) {
        s->b[s->n++] = (uint8_t) ((masked ? 0x80 : 0) | len);
    } else if (len <= 0xffff) {
        s->b[s->n++] = (uint8_t) ((masked ? 0x80 : 0) | 126);
        s->b[s->n++] = (uint8_t) (len >> 8);
        s->b[s->n++] = (uint8_t) len;
    } else {
        s->b[s->n++] = (uint8_t) ((masked ? 0x80 : 0) | 127);
        for (i = 0; i < 8; i++) {
            s->b[s->n++] = (uint8_t) ((uint64_t) len >> (56 - 8 * i));
        }
    }

    if (masked) {
        memcpy(s->b + s->n, key, 4);
        s->n += 4;
    }

    for (i = 0; i < len; i++) {
        s->b[s->n++] = ((const uint8_t *) payload)[i]
                       ^ (masked ? key[i & 3] : 0);
    }
}

/*
 * Run the parser over s in pieces of `step` bytes (0: one piece) and write
 * what it saw: whole messages "T<len>:<first 8 bytes>", control frames
 * "P<len>" / "O<len>" / "C<code>", and "E<code>" on error.
 */
static void
run(const stream_t *src, size_t step, uint64_t max, char *log, size_t logsz)
{
    static uint8_t   buf[200000];
    static uint8_t   msg[200000];
    mcp_ws_parser_t  p;
    mcp_ws_event_t   ev;
    size_t           off = 0, piece, used, msglen = 0, pos = 0;
    int              rc;

    memcpy(buf, src->b, src->n);
    mcp_ws_parser_init(&p, max, 1);
    log[0] = '\0';

    while (off < src->n) {
        piece = step ? step : src->n;
        if (piece > src->n - off) {
            piece = src->n - off;
        }

        while (piece) {
            rc = mcp_ws_parse(&p, buf + off, piece, &used, &ev);
            off += used;
            piece -= used;

            if (rc == MCP_WS_ERROR) {
                pos += snprintf(log + pos, logsz - pos, "E%u;", p.close_code);
                return;
            }

            if (rc == MCP_WS_AGAIN) {
                break;
            }

            if (ev.opcode == MCP_WS_OP_TEXT || ev.opcode == MCP_WS_OP_BINARY) {
                if (ev.first) {
                    msglen = 0;
                }
                memcpy(msg + msglen, ev.data, ev.len);
                msglen += ev.len;
                if (ev.last) {
                    pos += snprintf(log + pos, logsz - pos, "%c%zu:%.*s;",
                                    ev.opcode == MCP_WS_OP_TEXT ? 'T' : 'B',
                                    msglen, (int) (msglen < 8 ? msglen : 8),
                                    (char *) msg);
                }
            } else if (ev.opcode == MCP_WS_OP_CLOSE) {
                pos += snprintf(log + pos, logsz - pos, "C%u:%.*s;",
                                ev.close_code, (int) ev.reason_len,
                                (const char *) ev.reason);
            } else {
                pos += snprintf(log + pos, logsz - pos, "%c%zu:%.*s;",
                                ev.opcode == MCP_WS_OP_PING ? 'P' : 'O',
                                ev.len, (int) ev.len, (const char *) ev.data);
            }
        }
    }
}

/* the same log for every split size; returns it */
static const char *
parse_all(const stream_t *s, uint64_t max)
{
    static char  want[4096], got[4096];
    size_t       step;

    run(s, 0, max, want, sizeof(want));

    for (step = 1; step <= 20 && step < s->n; step++) {
        run(s, step, max, got, sizeof(got));
        if (strcmp(got, want) != 0) {
            fprintf(stderr, "  split %zu: %s != %s\n", step, got, want);
            return "SPLIT-MISMATCH";
        }
    }

    return want;
}

static stream_t  s;

#define RESET()  (s.n = 0)

static void
test_simple_messages(void)
{
    static char  big[70000];

    RESET();
    frame(&s, 0x81, 1, "hello", 5);
    frame(&s, 0x81, 1, "", 0);
    frame(&s, 0x82, 1, "\x01\x02", 2);
    CHECK_EQ_STR(parse_all(&s, 0), "T5:hello;T0:;B2:\x01\x02;");

    memset(big, 'a', sizeof(big));
    RESET();
    frame(&s, 0x81, 1, big, 200);
    frame(&s, 0x81, 1, big, sizeof(big));
    CHECK_EQ_STR(parse_all(&s, 0), "T200:aaaaaaaa;T70000:aaaaaaaa;");
}

static void
test_fragmentation(void)
{
    RESET();
    frame(&s, 0x01, 1, "hel", 3);
    frame(&s, 0x89, 1, "p1", 2);           /* ping between fragments */
    frame(&s, 0x00, 1, "", 0);
    frame(&s, 0x00, 1, "lo", 2);
    frame(&s, 0x8a, 1, "", 0);             /* unsolicited pong */
    frame(&s, 0x80, 1, "!", 1);
    CHECK_EQ_STR(parse_all(&s, 0), "P2:p1;O0:;T6:hello!;");

    RESET();
    frame(&s, 0x80, 1, "x", 1);            /* continuation, no message */
    CHECK_EQ_STR(parse_all(&s, 0), "E1002;");

    RESET();
    frame(&s, 0x01, 1, "x", 1);
    frame(&s, 0x81, 1, "y", 1);            /* new message mid-message */
    CHECK_EQ_STR(parse_all(&s, 0), "E1002;");

    RESET();
    frame(&s, 0x09, 1, "x", 1);            /* fragmented ping */
    CHECK_EQ_STR(parse_all(&s, 0), "E1002;");
}

static void
test_protocol_errors(void)
{
    static char  big[126];
    unsigned     op;

    RESET();
    frame(&s, 0x81, 0, "hi", 2);            /* unmasked */
    CHECK_EQ_STR(parse_all(&s, 0), "E1002;");

    RESET();
    frame(&s, 0xc1, 1, "hi", 2);            /* RSV1 */
    CHECK_EQ_STR(parse_all(&s, 0), "E1002;");
    RESET();
    frame(&s, 0x91, 1, "hi", 2);            /* RSV3 */
    CHECK_EQ_STR(parse_all(&s, 0), "E1002;");

    for (op = 3; op <= 15; op++) {
        if (op >= 8 && op <= 10) {
            continue;
        }
        RESET();
        frame(&s, 0x80 | op, 1, "", 0);
        CHECK_EQ_STR(parse_all(&s, 0), "E1002;");
    }

    RESET();
    frame(&s, 0x89, 1, big, 126);           /* control > 125 */
    CHECK_EQ_STR(parse_all(&s, 0), "E1002;");
    RESET();
    frame(&s, 0x89, 1, big, 125);
    CHECK(strncmp(parse_all(&s, 0), "P125:", 5) == 0);

    /* non-minimal 16-bit length */
    RESET();
    memcpy(s.b, "\x81\xfe\x00\x05\x00\x00\x00\x00hello", 13);
    s.n = 13;
    CHECK_EQ_STR(parse_all(&s, 0), "E1002;");

    /* 64-bit length with the top bit */
    RESET();
    memcpy(s.b, "\x82\xff\x80\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00", 14);
    s.n = 14;
    CHECK_EQ_STR(parse_all(&s, 0), "E1002;");
}

static void
test_limits(void)
{
    static char  big[300];

    memset(big, 'b', sizeof(big));

    RESET();
    frame(&s, 0x81, 1, big, 100);
    frame(&s, 0x81, 1, big, 101);
    CHECK_EQ_STR(parse_all(&s, 100), "T100:bbbbbbbb;E1009;");

    /* the sum of fragments counts */
    RESET();
    frame(&s, 0x01, 1, big, 60);
    frame(&s, 0x80, 1, big, 41);
    CHECK_EQ_STR(parse_all(&s, 100), "E1009;");

    /* a huge declared length fails from the header alone */
    RESET();
    memcpy(s.b, "\x82\xff\x00\x00\x01\x00\x00\x00\x00\x00\x01\x02\x03\x04", 14);
    s.n = 14;
    CHECK_EQ_STR(parse_all(&s, 1 << 20), "E1009;");
}

static void
test_utf8(void)
{
    RESET();
    /* a code point split across fragments is fine */
    frame(&s, 0x01, 1, "\xce", 1);
    frame(&s, 0x80, 1, "\xba", 1);
    CHECK_EQ_STR(parse_all(&s, 0), "T2:\xce\xba;");

    RESET();
    frame(&s, 0x81, 1, "ab\xc0\xafz", 5);
    CHECK_EQ_STR(parse_all(&s, 0), "E1007;");

    RESET();
    frame(&s, 0x81, 1, "ab\xce", 3);        /* ends mid code point */
    CHECK_EQ_STR(parse_all(&s, 0), "E1007;");

    /* fail fast: the error comes before the (never sent) final fragment */
    RESET();
    frame(&s, 0x01, 1, "ok\xed\xa0\x80", 5);
    CHECK_EQ_STR(parse_all(&s, 0), "E1007;");

    /* binary is not checked */
    RESET();
    frame(&s, 0x82, 1, "\xff\xfe", 2);
    CHECK_EQ_STR(parse_all(&s, 0), "B2:\xff\xfe;");
}

static void
test_close(void)
{
    RESET();
    frame(&s, 0x88, 1, "", 0);
    CHECK_EQ_STR(parse_all(&s, 0), "C1005:;");

    RESET();
    frame(&s, 0x88, 1, "\x03\xe8" "bye", 5);
    CHECK_EQ_STR(parse_all(&s, 0), "C1000:bye;");

    RESET();
    frame(&s, 0x88, 1, "\x03", 1);
    CHECK_EQ_STR(parse_all(&s, 0), "E1002;");

    RESET();
    frame(&s, 0x88, 1, "\x03\xed", 2);      /* 1005 on the wire */
    CHECK_EQ_STR(parse_all(&s, 0), "E1002;");

    RESET();
    frame(&s, 0x88, 1, "\x03\xe8\xc0\x80", 4);
    CHECK_EQ_STR(parse_all(&s, 0), "E1007;");

    CHECK(mcp_ws_close_code_valid(1000));
    CHECK(mcp_ws_close_code_valid(1011));
    CHECK(mcp_ws_close_code_valid(3000));
    CHECK(mcp_ws_close_code_valid(4999));
    CHECK(!mcp_ws_close_code_valid(0));
    CHECK(!mcp_ws_close_code_valid(999));
    CHECK(!mcp_ws_close_code_valid(1004));
    CHECK(!mcp_ws_close_code_valid(1005));
    CHECK(!mcp_ws_close_code_valid(1006));
    CHECK(!mcp_ws_close_code_valid(1015));
    CHECK(!mcp_ws_close_code_valid(2999));
    CHECK(!mcp_ws_close_code_valid(5000));
}

static void
test_serializer(void)
{
    uint8_t  h[10], c[125];
    char     reason[200];
    size_t   n;

    CHECK_EQ_INT(mcp_ws_frame_header(h, 1, MCP_WS_OP_TEXT, 5), 2);
    CHECK(h[0] == 0x81 && h[1] == 5);
    CHECK_EQ_INT(mcp_ws_frame_header(h, 1, MCP_WS_OP_TEXT, 126), 4);
    CHECK(h[1] == 126 && h[2] == 0 && h[3] == 126);
    CHECK_EQ_INT(mcp_ws_frame_header(h, 0, MCP_WS_OP_BINARY, 65536), 10);
    CHECK(h[0] == 0x02 && h[1] == 127 && h[7] == 1 && h[8] == 0);

    CHECK_EQ_INT(mcp_ws_close_payload(c, 1001, "going away", 10), 12);
    CHECK(c[0] == 0x03 && c[1] == 0xe9);

    /* a long reason is cut at a code point boundary */
    memset(reason, 'x', sizeof(reason));
    memcpy(reason + 122, "\xe2\x82\xac", 3);    /* euro sign at 122..124 */
    n = mcp_ws_close_payload(c, 1000, reason, sizeof(reason));
    CHECK_EQ_INT(n, 124);
}

static void
test_unmask_phases(void)
{
    uint8_t  a[64], b[64], key[4] = { 1, 2, 3, 4 };
    size_t   i, cut;

    for (cut = 0; cut < 40; cut++) {
        for (i = 0; i < sizeof(a); i++) {
            a[i] = b[i] = (uint8_t) (i * 7);
        }
        mcp_ws_unmask(a, sizeof(a), key, 0);
        mcp_ws_unmask(b, cut, key, 0);
        mcp_ws_unmask(b + cut, sizeof(b) - cut, key, (unsigned) cut);
        CHECK(memcmp(a, b, sizeof(a)) == 0);
    }
}

UNIT_MAIN("ws_frame",
    UNIT_TEST(test_simple_messages),
    UNIT_TEST(test_fragmentation),
    UNIT_TEST(test_protocol_errors),
    UNIT_TEST(test_limits),
    UNIT_TEST(test_utf8),
    UNIT_TEST(test_close),
    UNIT_TEST(test_serializer),
    UNIT_TEST(test_unmask_phases))
