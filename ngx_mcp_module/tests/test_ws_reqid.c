/* Finding a client's request_id for error answers. */

#include <stdint.h>
#include <string.h>

#include "unit.h"
#include "mcp_reqid.h"

static const char *
rid(const char *s)
{
    static char     out[256];
    const uint8_t  *tok;
    size_t          n;

    n = mcp_json_request_id((const uint8_t *) s, strlen(s), &tok);
    if (n == 0) {
        return "null";
    }
    memcpy(out, tok, n);
    out[n] = '\0';
    return out;
}

static void
test_found(void)
{
    CHECK_EQ_STR(rid("{\"action\":\"ping\",\"request_id\":\"x\"}"), "\"x\"");
    CHECK_EQ_STR(rid(" { \"request_id\" : 42 } "), "42");
    CHECK_EQ_STR(rid("{\"payload\":{\"request_id\":\"inner\"},"
                     "\"request_id\":\"outer\"}"), "\"outer\"");
    CHECK_EQ_STR(rid("{\"a\":[1,{\"b\":null},true,false,\"s\\\"\"],"
                     "\"request_id\":\"q\\u00e9\"}"), "\"q\\u00e9\"");
    /* found before a later syntax error: still usable */
    CHECK_EQ_STR(rid("{\"request_id\":\"r1\", oops"), "\"r1\"");
}

static void
test_not_found(void)
{
    CHECK_EQ_STR(rid(""), "null");
    CHECK_EQ_STR(rid("not json"), "null");
    CHECK_EQ_STR(rid("[\"request_id\",\"x\"]"), "null");
    CHECK_EQ_STR(rid("{\"request_id\":{\"a\":1}}"), "null");
    CHECK_EQ_STR(rid("{\"request_id\":null}"), "null");
    CHECK_EQ_STR(rid("{\"request_id\":\"unterminated"), "null");
    CHECK_EQ_STR(rid("{\"request_id\":\"ctl\x01\"}"), "null");
    CHECK_EQ_STR(rid("{\"request_id\":\"bad\\q\"}"), "null");
    CHECK_EQ_STR(rid("{\"x\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
                     "[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]"
                     "]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]],"
                     "\"request_id\":\"deep\"}"), "null");
}

UNIT_MAIN("ws_reqid",
    UNIT_TEST(test_found),
    UNIT_TEST(test_not_found))
