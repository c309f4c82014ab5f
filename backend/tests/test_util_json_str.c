/* util/mcp_json_str: the same bytes as jansson's compact dump, for every
   byte that can occur in valid UTF-8 text. */

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "unit.h"
#include "util/mcp_json_str.h"

static void
check_like_jansson(const char *s, size_t n)
{
    json_t  *j = json_stringn(s, n);
    char    *want = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
    char    *got = malloc(MCP_JSON_STR_MAX(n) + 1);
    size_t   len = mcp_json_str_write(got, s, n);

    got[len] = '\0';
    CHECK(len <= MCP_JSON_STR_MAX(n));
    CHECK_EQ_STR(got, want);
    free(got);
    free(want);
    json_decref(j);
}


static void
test_json_str_escapes(void)
{
    static const char *const  cases[] = {
        "", "Hello from the mock.", "quote \" and backslash \\",
        "tab\tnew\nline\rcr\bbs\fff", "slash / stays", "del \x7f stays",
        "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "\x01\x1f\x1e"
    };
    size_t  i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        check_like_jansson(cases[i], strlen(cases[i]));
    }
    check_like_jansson("nul\0inside", 10);      /* jansson: \u0000 */
}


static void
test_json_str_every_ascii_byte(void)
{
    char    s[128];
    size_t  i;

    for (i = 0; i < sizeof(s); i++) {
        s[i] = (char) i;
    }
    check_like_jansson(s, sizeof(s));
    for (i = 0; i < sizeof(s); i++) {       /* one at a time: worst case */
        check_like_jansson(s + i, 1);
    }
}


UNIT_MAIN("util_json_str",
    UNIT_TEST(test_json_str_escapes),
    UNIT_TEST(test_json_str_every_ascii_byte))
