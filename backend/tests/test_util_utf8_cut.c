/* mcp_utf8_cut: shortened text never ends inside a character. */

#include "unit.h"

#include <string.h>

#include "util/mcp_utf8_cut.h"


static void
test_short_text_is_kept_whole(void)
{
    CHECK_EQ_INT(mcp_utf8_cut("abc", 3, 3), 3);
    CHECK_EQ_INT(mcp_utf8_cut("abc", 3, 10), 3);
    CHECK_EQ_INT(mcp_utf8_cut("", 0, 0), 0);
}

static void
test_ascii_is_cut_at_max(void)
{
    CHECK_EQ_INT(mcp_utf8_cut("abcdef", 6, 4), 4);
    CHECK_EQ_INT(mcp_utf8_cut("abcdef", 6, 0), 0);
}

static void
test_cut_inside_a_character_drops_it(void)
{
    const char  *s = "a\xc3\xa9" "b\xf0\x9f\x98\x80" "c";   /* a é b 😀 c */
    size_t       len = strlen(s);

    CHECK_EQ_INT(mcp_utf8_cut(s, len, 1), 1);     /* before é */
    CHECK_EQ_INT(mcp_utf8_cut(s, len, 2), 1);     /* inside é */
    CHECK_EQ_INT(mcp_utf8_cut(s, len, 3), 3);     /* after é */
    CHECK_EQ_INT(mcp_utf8_cut(s, len, 5), 4);     /* inside 😀 */
    CHECK_EQ_INT(mcp_utf8_cut(s, len, 7), 4);
    CHECK_EQ_INT(mcp_utf8_cut(s, len, 8), 8);     /* after 😀 */
}

static void
test_every_cut_of_a_mixed_text_is_whole_characters(void)
{
    const char  *s = "\xce\xb1\xce\xb2 \xe4\xb8\xad\xe6\x96\x87 "
                     "\xf0\x9f\x98\x80!";
    size_t       len = strlen(s), max, n;

    for (max = 0; max <= len; max++) {
        n = mcp_utf8_cut(s, len, max);
        CHECK(n <= max);
        CHECK(n == len || ((unsigned char) s[n] & 0xc0) != 0x80);
    }
}

UNIT_MAIN("util_utf8_cut",
          UNIT_TEST(test_short_text_is_kept_whole),
          UNIT_TEST(test_ascii_is_cut_at_max),
          UNIT_TEST(test_cut_inside_a_character_drops_it),
          UNIT_TEST(test_every_cut_of_a_mixed_text_is_whole_characters))
