/* chat/mcp_chat_delta.c: a text delta written without jansson is byte for byte
   the frame mcp_session_reply would send for it. */

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "unit.h"
#include "chat/mcp_chat_int.h"

static void
check_delta(const char *rid, const char *text, int hop)
{
    json_t  *o = json_pack("{s:s, s:s, s:{s:s, s:s, s:{s:s, s:i}}}",
                           "request_id", rid, "status", "chunk", "chunk",
                           "type", "text", "data", text, "metadata",
                           "type", "delta", "hop", hop);
    char    *want = json_dumps(o, JSON_COMPACT | JSON_ENCODE_ANY);
    size_t   cap = MCP_CHAT_DELTA_MAX(strlen(rid), strlen(text));
    char    *got = malloc(cap + 1);
    size_t   n = mcp_chat_delta_frame(got, rid, text, strlen(text), hop);

    CHECK(n <= cap);
    got[n] = '\0';
    CHECK_EQ_STR(got, want);
    free(got);
    free(want);
    json_decref(o);
}


static void
test_delta_frame_like_session_reply(void)
{
    check_delta("r1", "Hello", 0);
    check_delta("b12-345", " from the mock.", 3);
    check_delta("id \"quoted\" \\ \t", "line\nbreak \"q\" caf\xc3\xa9 \x01",
                12);
    check_delta("", "", 0);
}


UNIT_MAIN("chat_frames",
    UNIT_TEST(test_delta_frame_like_session_reply))
