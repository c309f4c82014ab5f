/* mcp/mcp_result: content kinds, isError, JSON-RPC errors, the cap */

#include "unit.h"
#include "mcp/mcp_result.h"

#include <stdlib.h>

static json_t *
J(const char *s)
{
    return json_loads(s, 0, NULL);
}

static void
test_text_and_media(void)
{
    json_t             *r = J("{\"content\":["
        "{\"type\":\"text\",\"text\":\"hello\"},"
        "{\"type\":\"image\",\"data\":\"AAAA\",\"mimeType\":\"image/png\"},"
        "{\"type\":\"resource\",\"resource\":{\"uri\":\"demo://a\","
        "\"text\":\"inside\"}},"
        "{\"type\":\"resource\",\"resource\":{\"uri\":\"demo://b\","
        "\"blob\":\"AAAAAAAA\",\"mimeType\":\"application/zip\"}},"
        "{\"type\":\"resource_link\",\"uri\":\"file:///x\",\"name\":\"x\"},"
        "{\"type\":\"weird\"}]}");
    mcp_tool_result_t   out;

    CHECK(mcp_result_convert(r, 10000, &out) == 0);
    CHECK_EQ_STR(out.text, "hello\n"
        "[image: image/png, 3 bytes, not shown]\n"
        "[resource demo://a]\ninside\n"
        "[resource demo://b: application/zip, 6 bytes, not shown]\n"
        "[resource link file:///x x]\n"
        "[unsupported content type \"weird\"]");
    CHECK_EQ_INT(out.is_error, 0);
    CHECK_EQ_INT(out.truncated, 0);
    CHECK_EQ_INT(json_array_size(out.media), 2);
    CHECK_EQ_STR(json_string_value(json_object_get(
        json_array_get(out.media, 0), "data")), "AAAA");
    mcp_result_free(&out);
    json_decref(r);
}

static void
test_is_error_and_structured(void)
{
    json_t             *r = J("{\"isError\":true,\"content\":[{\"type\":"
                              "\"text\",\"text\":\"Access denied\"}]}");
    json_t             *s = J("{\"content\":[],\"structuredContent\":"
                              "{\"sum\":3}}");
    json_t             *e = J("{\"code\":-32602,\"message\":\"bad args\"}");
    mcp_tool_result_t   out;

    CHECK(mcp_result_convert(r, 100, &out) == 0);
    CHECK_EQ_INT(out.is_error, 1);
    CHECK_EQ_STR(out.text, "Access denied");
    CHECK(out.media == NULL);
    mcp_result_free(&out);

    CHECK(mcp_result_convert(s, 100, &out) == 0);
    CHECK_EQ_STR(out.text, "{\"sum\":3}");
    mcp_result_free(&out);

    CHECK(mcp_result_from_error(e, NULL, 100, &out) == 0);
    CHECK_EQ_INT(out.is_error, 1);
    CHECK_EQ_STR(out.text, "MCP error -32602: bad args");
    mcp_result_free(&out);

    CHECK(mcp_result_from_error(NULL, "server restarting", 100, &out) == 0);
    CHECK_EQ_STR(out.text, "server restarting");
    mcp_result_free(&out);

    CHECK(mcp_result_convert(NULL, 100, &out) == 0);    /* empty, no crash */
    CHECK_EQ_STR(out.text, "");
    mcp_result_free(&out);
    json_decref(r);
    json_decref(s);
    json_decref(e);
}

static void
test_cap_keeps_head_and_tail(void)
{
    size_t   n = 100000, len, i;
    char    *big = malloc(n + 1), *out;

    for (i = 0; i < n; i++) {
        big[i] = 'a' + (char) (i % 26);
    }
    memcpy(big, "HEAD", 4);
    memcpy(big + n - 4, "TAIL", 4);
    big[n] = '\0';

    out = mcp_result_cap(big, n, 1000, &len);
    CHECK(out != NULL);
    CHECK(len <= 1000);
    CHECK(len > 900);
    CHECK_EQ_INT(strlen(out), len);
    CHECK(strncmp(out, "HEAD", 4) == 0);
    CHECK(strcmp(out + len - 4, "TAIL") == 0);
    CHECK(strstr(out, "bytes truncated by mcpd") != NULL);
    CHECK(strstr(out, "of 100000 bytes") != NULL);
    free(out);

    out = mcp_result_cap(big, 10, 1000, &len);    /* short: unchanged */
    CHECK_EQ_INT(len, 10);
    CHECK(strncmp(out, big, 10) == 0);
    free(out);

    out = mcp_result_cap(big, n, 5, &len);        /* tiny cap: bounded */
    CHECK(len <= 5);
    free(out);
    free(big);
}

static void
test_cap_respects_utf8(void)
{
    /* 3-byte characters: every cut must land on a character boundary */
    size_t   n = 3 * 5000, len, i, cap;
    char    *s = malloc(n + 1), *out;

    for (i = 0; i < n; i += 3) {
        memcpy(s + i, "\xe2\x82\xac", 3);     /* the euro sign */
    }
    s[n] = '\0';
    for (cap = 100; cap < 160; cap++) {
        out = mcp_result_cap(s, n, cap, &len);
        CHECK(len <= cap);
        /* head: whole euros up to the marker */
        i = 0;
        while (i < len && (unsigned char) out[i] == 0xe2) {
            i += 3;
        }
        CHECK(out[i] == '\n');
        /* tail starts on a lead byte right after the marker */
        CHECK((unsigned char) out[len - 3] == 0xe2 || len < 3);
        {
            json_t  *valid = json_stringn(out, len);   /* valid UTF-8 */
            CHECK(valid != NULL);
            json_decref(valid);
        }
        free(out);
    }
    free(s);
}

static void
test_convert_caps(void)
{
    json_t             *r;
    mcp_tool_result_t   out;
    char               *big = malloc(300001);

    memset(big, 'x', 300000);
    big[300000] = '\0';
    r = json_pack("{s:[{s:s,s:s}]}", "content", "type", "text", "text", big);
    CHECK(mcp_result_convert(r, 4096, &out) == 0);
    CHECK_EQ_INT(out.truncated, 1);
    CHECK_EQ_INT(out.full_len, 300000);
    CHECK(out.len <= 4096);
    mcp_result_free(&out);
    json_decref(r);
    free(big);
}

UNIT_MAIN("mcp_result",
    UNIT_TEST(test_text_and_media),
    UNIT_TEST(test_is_error_and_structured),
    UNIT_TEST(test_cap_keeps_head_and_tail),
    UNIT_TEST(test_cap_respects_utf8),
    UNIT_TEST(test_convert_caps))
