/* Unit tests for streamed tool-call assembly. */

#include <stdlib.h>

#include "unit.h"
#include "llm/mcp_llm_toolcall.h"

static int
add(mcp_llm_toolcalls_t *tc, const char *json)
{
    json_error_t  e;
    json_t       *j = json_loads(json, JSON_DECODE_ANY, &e);
    int           rc;

    CHECK(j != NULL);
    rc = mcp_llm_toolcalls_add(tc, j);
    json_decref(j);
    return rc;
}

#define CALL(tc, i, id_, name_, args_)                                       \
    do {                                                                     \
        CHECK_EQ_STR(mcp_llm_buf_cstr(&(tc)->calls[i].id), id_);             \
        CHECK_EQ_STR(mcp_llm_buf_cstr(&(tc)->calls[i].name), name_);         \
        CHECK_EQ_STR(mcp_llm_buf_cstr(&(tc)->calls[i].arguments), args_);    \
    } while (0)

static void
test_id_first_chunk_only(void)
{
    mcp_llm_toolcalls_t  tc;

    mcp_llm_toolcalls_init(&tc);
    CHECK_EQ_INT(add(&tc, "[{\"index\":0,\"id\":\"call_1\",\"type\":\"function\","
                          "\"function\":{\"name\":\"get_weather\",\"arguments\":\"\"}}]"), 0);
    CHECK_EQ_INT(add(&tc, "[{\"index\":0,\"function\":{\"arguments\":\"{\\\"ci\"}}]"), 0);
    CHECK_EQ_INT(add(&tc, "[{\"index\":0,\"function\":{\"arguments\":\"ty\\\":1}\"}}]"), 0);
    CHECK_EQ_INT(tc.n, 1);
    CALL(&tc, 0, "call_1", "get_weather", "{\"city\":1}");
    mcp_llm_toolcalls_free(&tc);
}

static void
test_id_every_chunk_and_parallel(void)
{
    mcp_llm_toolcalls_t  tc;

    mcp_llm_toolcalls_init(&tc);
    /* vLLM: id and name repeated in every chunk */
    CHECK_EQ_INT(add(&tc, "[{\"index\":0,\"id\":\"a\",\"function\":{\"name\":\"f\",\"arguments\":\"{\"}}]"), 0);
    CHECK_EQ_INT(add(&tc, "[{\"index\":1,\"id\":\"b\",\"function\":{\"name\":\"g\",\"arguments\":\"[\"}}]"), 0);
    CHECK_EQ_INT(add(&tc, "[{\"index\":0,\"id\":\"a\",\"function\":{\"name\":\"f\",\"arguments\":\"}\"}},"
                          "{\"index\":1,\"id\":\"b\",\"function\":{\"name\":\"g\",\"arguments\":\"]\"}}]"), 0);
    CHECK_EQ_INT(tc.n, 2);
    CALL(&tc, 0, "a", "f", "{}");
    CALL(&tc, 1, "b", "g", "[]");
    mcp_llm_toolcalls_free(&tc);
}

static void
test_all_at_index_zero(void)
{
    mcp_llm_toolcalls_t  tc;
    json_t              *j;
    char                *s;

    mcp_llm_toolcalls_init(&tc);
    /* Ollama / Grok: each parallel call whole, all at index 0 */
    CHECK_EQ_INT(add(&tc, "[{\"index\":0,\"id\":\"c1\",\"function\":{\"name\":\"f\",\"arguments\":\"{\\\"x\\\":1}\"}}]"), 0);
    CHECK_EQ_INT(add(&tc, "[{\"index\":0,\"id\":\"c2\",\"function\":{\"name\":\"g\",\"arguments\":\"{}\"}}]"), 0);
    CHECK_EQ_INT(tc.n, 2);
    CALL(&tc, 0, "c1", "f", "{\"x\":1}");
    CALL(&tc, 1, "c2", "g", "{}");

    j = mcp_llm_toolcalls_json(&tc);
    s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    CHECK_EQ_STR(s, "[{\"function\":{\"arguments\":\"{\\\"x\\\":1}\",\"name\":\"f\"},"
                    "\"id\":\"c1\",\"type\":\"function\"},{\"function\":{\"arguments\":\"{}\","
                    "\"name\":\"g\"},\"id\":\"c2\",\"type\":\"function\"}]");
    free(s);
    json_decref(j);
    mcp_llm_toolcalls_free(&tc);
}

static void
test_nulls_and_no_index(void)
{
    mcp_llm_toolcalls_t  tc;

    mcp_llm_toolcalls_init(&tc);
    CHECK_EQ_INT(add(&tc, "[{\"index\":0,\"id\":\"x\",\"type\":null,"
                          "\"function\":{\"name\":\"n\",\"arguments\":null}}]"), 0);
    CHECK_EQ_INT(add(&tc, "[{\"index\":0,\"id\":null,\"function\":{\"name\":null,\"arguments\":\"{}\"}}]"), 0);
    CHECK_EQ_INT(add(&tc, "[{\"index\":0,\"function\":null}]"), 0);
    /* no index: continues by id, a new id starts a new call */
    CHECK_EQ_INT(add(&tc, "[{\"id\":\"y\",\"function\":{\"name\":\"m\",\"arguments\":\"{\"}}]"), 0);
    CHECK_EQ_INT(add(&tc, "[{\"function\":{\"arguments\":\"}\"}}]"), 0);
    CHECK_EQ_INT(add(&tc, "null"), 0);
    CHECK_EQ_INT(tc.n, 2);
    CALL(&tc, 0, "x", "n", "{}");
    CALL(&tc, 1, "y", "m", "{}");

    CHECK_EQ_INT(add(&tc, "[1]"), MCP_LLM_TC_ERR_BAD);
    CHECK_EQ_INT(add(&tc, "[{\"index\":0,\"function\":{\"arguments\":5}}]"), MCP_LLM_TC_ERR_BAD);
    CHECK_EQ_INT(add(&tc, "\"str\""), MCP_LLM_TC_ERR_BAD);
    mcp_llm_toolcalls_free(&tc);
}

static void
test_large_arguments_linear(void)
{
    mcp_llm_toolcalls_t  tc;
    json_t              *frag;
    size_t               i;

    /* 2 MiB of arguments in 1-byte fragments: quadratic copying would
     * take minutes under ASan; doubling takes well under a second */
    mcp_llm_toolcalls_init(&tc);
    CHECK_EQ_INT(add(&tc, "[{\"index\":0,\"id\":\"big\",\"function\":{\"name\":\"f\"}}]"), 0);
    frag = json_pack("[{s:i, s:{s:s}}]", "index", 0, "function", "arguments", "a");
    for (i = 0; i < (2u << 20); i++) {
        if (mcp_llm_toolcalls_add(&tc, frag) != 0) {
            break;
        }
    }
    json_decref(frag);
    CHECK_EQ_INT(tc.calls[0].arguments.len, 2u << 20);

    tc.max_bytes = 10;
    CHECK_EQ_INT(add(&tc, "[{\"index\":1,\"function\":{\"arguments\":\"0123456789AB\"}}]"),
                 MCP_LLM_TC_ERR_TOO_LARGE);
    mcp_llm_toolcalls_free(&tc);
}

static void
test_max_calls(void)
{
    mcp_llm_toolcalls_t  tc;
    char                 buf[128];
    int                  i, rc = 0;

    mcp_llm_toolcalls_init(&tc);
    tc.max_calls = 3;
    for (i = 0; i < 5 && rc == 0; i++) {
        snprintf(buf, sizeof(buf), "[{\"index\":%d,\"id\":\"i%d\"}]", i, i);
        rc = add(&tc, buf);
    }
    CHECK_EQ_INT(rc, MCP_LLM_TC_ERR_TOO_LARGE);
    CHECK_EQ_INT(tc.n, 3);
    mcp_llm_toolcalls_free(&tc);
}

UNIT_MAIN("llm_toolcall",
    UNIT_TEST(test_id_first_chunk_only),
    UNIT_TEST(test_id_every_chunk_and_parallel),
    UNIT_TEST(test_all_at_index_zero),
    UNIT_TEST(test_nulls_and_no_index),
    UNIT_TEST(test_large_arguments_linear),
    UNIT_TEST(test_max_calls))
