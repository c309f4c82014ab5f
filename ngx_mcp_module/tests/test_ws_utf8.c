/*
 * Streaming UTF-8 validator: accepts exactly RFC 3629, fails at the first
 * impossible byte, and gives the same answer for any split of the input.
 */

#include <stdint.h>
#include <string.h>

#include "unit.h"
#include "mcp_utf8.h"

static int
valid_split(const char *s, size_t len, size_t at)
{
    uint32_t  st;

    st = mcp_utf8_feed(MCP_UTF8_ACCEPT, (const uint8_t *) s, at, NULL);
    st = mcp_utf8_feed(st, (const uint8_t *) s + at, len - at, NULL);

    return st == MCP_UTF8_ACCEPT;
}

static int
valid_all_splits(const char *s, size_t len)
{
    size_t  at;
    int     want = mcp_utf8_valid((const uint8_t *) s, len);

    for (at = 0; at <= len; at++) {
        if (valid_split(s, len, at) != want) {
            return -1;
        }
    }
    return want;
}

#define V(lit)  valid_all_splits(lit, sizeof(lit) - 1)

static void
test_valid(void)
{
    CHECK_EQ_INT(V(""), 1);
    CHECK_EQ_INT(V("hello, world, this is plain ascii text"), 1);
    CHECK_EQ_INT(V("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5"), 1);
    CHECK_EQ_INT(V("\xc2\x80"), 1);                     /* U+0080 */
    CHECK_EQ_INT(V("\xdf\xbf"), 1);                     /* U+07FF */
    CHECK_EQ_INT(V("\xe0\xa0\x80"), 1);                 /* U+0800 */
    CHECK_EQ_INT(V("\xed\x9f\xbf"), 1);                 /* U+D7FF */
    CHECK_EQ_INT(V("\xee\x80\x80"), 1);                 /* U+E000 */
    CHECK_EQ_INT(V("\xef\xbf\xbf"), 1);                 /* U+FFFF */
    CHECK_EQ_INT(V("\xf0\x90\x80\x80"), 1);             /* U+10000 */
    CHECK_EQ_INT(V("\xf4\x8f\xbf\xbf"), 1);             /* U+10FFFF */
    CHECK_EQ_INT(V("abcdefgh\xf0\x9f\x98\x80" "abcdefghijklmnop"), 1);
}

static void
test_invalid(void)
{
    CHECK_EQ_INT(V("\x80"), 0);                         /* stray continuation */
    CHECK_EQ_INT(V("\xc0\x80"), 0);                     /* overlong NUL */
    CHECK_EQ_INT(V("\xc1\xbf"), 0);
    CHECK_EQ_INT(V("\xe0\x9f\xbf"), 0);                 /* overlong 3-byte */
    CHECK_EQ_INT(V("\xed\xa0\x80"), 0);                 /* surrogate D800 */
    CHECK_EQ_INT(V("\xed\xbf\xbf"), 0);                 /* surrogate DFFF */
    CHECK_EQ_INT(V("\xf0\x8f\xbf\xbf"), 0);             /* overlong 4-byte */
    CHECK_EQ_INT(V("\xf4\x90\x80\x80"), 0);             /* > U+10FFFF */
    CHECK_EQ_INT(V("\xf5\x80\x80\x80"), 0);
    CHECK_EQ_INT(V("\xff"), 0);
    CHECK_EQ_INT(V("\xce\xba\xe1"), 0);                 /* truncated */
    CHECK_EQ_INT(V("\xe1\x80"), 0);
    CHECK_EQ_INT(V("ab\xc2" "c"), 0);
}

static void
test_fail_fast(void)
{
    /* Autobahn 6.4.1: the bad byte is the 4th of F4 90 80 80 (at F4 90) */
    static const uint8_t  s[] = "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5"
                                "\xf4\x90\x80\x80\x65\x64\x69\x74\x65\x64";
    size_t    bad = 99;
    uint32_t  st;

    st = mcp_utf8_feed(MCP_UTF8_ACCEPT, s, 12, NULL);
    CHECK(st != MCP_UTF8_REJECT);                        /* F4 alone: fine */
    st = mcp_utf8_feed(st, s + 12, sizeof(s) - 1 - 12, &bad);
    CHECK(st == MCP_UTF8_REJECT);
    CHECK_EQ_INT(bad, 0);                                /* at 0x90 */

    /* sticky */
    CHECK(mcp_utf8_feed(st, (const uint8_t *) "a", 1, NULL)
          == MCP_UTF8_REJECT);
}

static void
test_exhaustive_two_bytes(void)
{
    unsigned  a, b, want;
    uint8_t   s[2];

    /* every two-byte string against a direct reading of RFC 3629 */
    for (a = 0; a < 256; a++) {
        for (b = 0; b < 256; b++) {
            s[0] = (uint8_t) a;
            s[1] = (uint8_t) b;
            if (a < 0x80) {
                want = b < 0x80;
            } else if (a >= 0xc2 && a <= 0xdf) {
                want = b >= 0x80 && b <= 0xbf;
            } else {
                want = 0;
            }
            CHECK_EQ_INT(mcp_utf8_valid(s, 2), want);
        }
    }
}

UNIT_MAIN("ws_utf8",
    UNIT_TEST(test_valid),
    UNIT_TEST(test_invalid),
    UNIT_TEST(test_fail_fast),
    UNIT_TEST(test_exhaustive_two_bytes))
