/* Unit tests for provider response interpretation (SSE and JSON body). */

#include <stdlib.h>

#include "unit.h"
#include "test_llm_rec.h"

/* run(): every event read as the stream chooses (the plain-chunk reader
   where it applies); test_llm_chunk.c compares both ways */
static mcp_llm_err_e
run(const char *text, size_t step, rec_t *r, mcp_llm_stream_t *s)
{
    return rec_run(text, step, 0, r, s);
}

static const char  text_stream[] =
    ": OPENROUTER PROCESSING\r\n\r\n"
    "data: {\"model\":\"m1\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\r\n\r\n"
    "data:{\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}\n\n"
    "data: {\"choices\":[{\"delta\":{\"content\":\"lo\"},\"finish_reason\":null}]}\n\n"
    "data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n"
    "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":2,\"total_tokens\":9}}\n\n"
    "data: [DONE]\n\n";

static void
test_text_any_chunking(void)
{
    mcp_llm_stream_t  s;
    rec_t             r;
    size_t            step;

    for (step = 1; step <= sizeof(text_stream); step += 7) {
        CHECK_EQ_INT(run(text_stream, step, &r, &s), MCP_LLM_OK);
        CHECK_EQ_STR(r.text, "Hello");
        CHECK_EQ_STR(s.finish_reason, "stop");
        CHECK_EQ_STR(s.model, "m1");
        CHECK_EQ_INT(s.usage.prompt_tokens, 7);
        CHECK_EQ_INT(s.usage.completion_tokens, 2);
        CHECK_EQ_INT(s.usage.total_tokens, 9);
        CHECK_EQ_INT(r.usage_calls, 1);
        CHECK(s.done);
        mcp_llm_stream_free(&s);
    }
}

static void
test_tool_calls_stream(void)
{
    mcp_llm_stream_t  s;
    rec_t             r;
    const char       *t =
        "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"c1\",\"type\":\"function\",\"function\":{\"name\":\"f\",\"arguments\":\"\"}}]}}]}\n\n"
        "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"{\\\"a\\\":\"}}]}}]}\n\n"
        "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"1}\"}}]}}]}\n\n"
        "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"c2\",\"function\":{\"name\":\"g\",\"arguments\":\"{}\"}}]}}]}\n\n"
        "data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"tool_calls\"}],\"x_groq\":{\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":4}}}\n\n"
        "data: [DONE]\n\n";

    CHECK_EQ_INT(run(t, 5, &r, &s), MCP_LLM_OK);
    CHECK_EQ_STR(r.tools, "<c1:f:{\"a\":1}><c2:g:{}>");
    CHECK_EQ_INT(r.tool_calls, 2);
    CHECK_EQ_INT(s.usage.total_tokens, 7);
    mcp_llm_stream_free(&s);
}

static void
test_errors_after_200(void)
{
    mcp_llm_stream_t  s;
    rec_t             r;

    /* OpenRouter mid-stream error */
    CHECK_EQ_INT(run("data: {\"choices\":[{\"delta\":{\"content\":\"x\"}}]}\n\n"
                     "data: {\"error\":{\"code\":502,\"message\":\"upstream died\"},"
                     "\"choices\":[{\"delta\":{},\"finish_reason\":\"error\"}]}\n\n",
                     3, &r, &s), MCP_LLM_E_PROVIDER);
    CHECK(strstr(s.errmsg, "upstream died") != NULL);
    CHECK_EQ_STR(r.text, "x");
    mcp_llm_stream_free(&s);

    /* vLLM */
    CHECK_EQ_INT(run("data: {\"object\":\"error\",\"message\":\"oom\",\"type\":\"x\",\"code\":500}\n\n",
                     64, &r, &s), MCP_LLM_E_PROVIDER);
    CHECK(strstr(s.errmsg, "oom") != NULL);
    mcp_llm_stream_free(&s);

    /* finish_reason "error" alone */
    CHECK_EQ_INT(run("data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"error\"}]}\n\n",
                     64, &r, &s), MCP_LLM_E_PROVIDER);
    mcp_llm_stream_free(&s);

    /* event: error with non-JSON data */
    CHECK_EQ_INT(run("event: error\ndata: overloaded\n\n", 64, &r, &s),
                 MCP_LLM_E_PROVIDER);
    CHECK(strstr(s.errmsg, "overloaded") != NULL);
    mcp_llm_stream_free(&s);

    /* malformed chunk */
    CHECK_EQ_INT(run("data: {\"choices\":[{\"delta\":{\"content\":\"x\"}}]}\n\n"
                     "data: {\"choices\":[{\"del\n\n", 64, &r, &s),
                 MCP_LLM_E_BAD_RESPONSE);
    CHECK(strstr(s.errmsg, "chunk 2") != NULL);
    mcp_llm_stream_free(&s);
}

static void
test_no_finish_reason(void)
{
    mcp_llm_stream_t  s;
    rec_t             r;

    CHECK_EQ_INT(run("data: {\"choices\":[{\"delta\":{\"content\":\"cut\"}}]}\n\n",
                     64, &r, &s), MCP_LLM_E_NO_FINISH);
    CHECK_EQ_STR(mcp_llm_err_name(s.err), "stream_truncated");
    mcp_llm_stream_free(&s);

    /* [DONE] without finish_reason is still a truncation */
    CHECK_EQ_INT(run("data: {\"choices\":[{\"delta\":{\"content\":\"cut\"}}]}\n\n"
                     "data: [DONE]\n\n", 64, &r, &s), MCP_LLM_E_NO_FINISH);
    CHECK(strstr(s.errmsg, "[DONE]") != NULL);
    mcp_llm_stream_free(&s);

    /* nothing at all */
    CHECK_EQ_INT(run("", 64, &r, &s), MCP_LLM_E_NO_FINISH);
    mcp_llm_stream_free(&s);
}

static void
test_body(void)
{
    mcp_llm_stream_t  s;
    rec_t             r;
    const char       *b =
        "{\"model\":\"m\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
        "\"content\":\"hi\",\"tool_calls\":[{\"id\":\"a\",\"type\":\"function\","
        "\"function\":{\"name\":\"f\",\"arguments\":\"{}\"}},{\"id\":\"b\",\"type\":\"function\","
        "\"function\":{\"name\":\"g\",\"arguments\":\"[]\"}}]},\"finish_reason\":\"tool_calls\"}],"
        "\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2,\"total_tokens\":3}}";

    memset(&r, 0, sizeof(r));
    mcp_llm_stream_init(&s, &rec_cbs, &r);
    CHECK_EQ_INT(mcp_llm_stream_body(&s, b, strlen(b)), 0);
    CHECK_EQ_STR(r.text, "hi");
    CHECK_EQ_STR(r.tools, "<a:f:{}><b:g:[]>");
    CHECK_EQ_INT(s.usage.total_tokens, 3);
    mcp_llm_stream_free(&s);

    memset(&r, 0, sizeof(r));
    mcp_llm_stream_init(&s, &rec_cbs, &r);
    CHECK_EQ_INT(mcp_llm_stream_body(&s, "{\"error\":{\"message\":\"bad key\"}}", 31), -1);
    CHECK_EQ_INT(s.err, MCP_LLM_E_PROVIDER);
    mcp_llm_stream_free(&s);

    memset(&r, 0, sizeof(r));
    mcp_llm_stream_init(&s, &rec_cbs, &r);
    CHECK_EQ_INT(mcp_llm_stream_body(&s, "{\"choices\":[]}", 14), -1);
    CHECK_EQ_INT(s.err, MCP_LLM_E_BAD_RESPONSE);
    mcp_llm_stream_free(&s);

    memset(&r, 0, sizeof(r));
    mcp_llm_stream_init(&s, &rec_cbs, &r);
    CHECK_EQ_INT(mcp_llm_stream_body(&s, "nope", 4), -1);
    CHECK_EQ_INT(s.err, MCP_LLM_E_BAD_RESPONSE);
    mcp_llm_stream_free(&s);
}

static void
test_err_names(void)
{
    int  i;

    for (i = 0; i < MCP_LLM_E__COUNT; i++) {
        CHECK(mcp_llm_err_name((mcp_llm_err_e) i) != NULL);
    }
    CHECK_EQ_STR(mcp_llm_err_name(MCP_LLM_E__COUNT), "internal_error");
}

UNIT_MAIN("llm_stream",
    UNIT_TEST(test_text_any_chunking),
    UNIT_TEST(test_tool_calls_stream),
    UNIT_TEST(test_errors_after_200),
    UNIT_TEST(test_no_finish_reason),
    UNIT_TEST(test_body),
    UNIT_TEST(test_err_names))
