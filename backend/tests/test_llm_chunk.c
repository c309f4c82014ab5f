/*
 * Unit tests for the plain-chunk reader (mcp_llm_chunk.h): which events
 * it takes, which it leaves to jansson, that what it takes it reads as
 * jansson does, and that a stream gives the same callbacks and outcome
 * with it and without it (mcp_llm_stream_t.no_scan).
 */

#include <jansson.h>
#include <stdlib.h>

#include "unit.h"
#include "test_llm_rec.h"
#include "llm/mcp_llm_chunk.h"

/* events as providers send them: each must be read without a tree */
static const char *const  plain_events[] = {
    /* OpenAI */
    "{\"id\":\"chatcmpl-9\",\"object\":\"chat.completion.chunk\",\"created\":1718000000,"
    "\"model\":\"gpt-4o-mini-2024-07-18\",\"system_fingerprint\":\"fp_0ba0d124f1\","
    "\"choices\":[{\"index\":0,\"delta\":{\"content\":\" world\"},\"logprobs\":null,"
    "\"finish_reason\":null}]}",
    /* the first one: role and empty content */
    "{\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\","
    "\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},"
    "\"finish_reason\":null}]}",
    /* OpenRouter, with usage null (stream_options.include_usage) */
    "{\"id\":\"gen-1\",\"provider\":\"OpenAI\",\"model\":\"openai/gpt-4o\",\"object\":"
    "\"chat.completion.chunk\",\"created\":1,\"choices\":[{\"index\":0,\"delta\":{\"role\":"
    "\"assistant\",\"content\":\"Hi\"},\"finish_reason\":null,\"native_finish_reason\":null,"
    "\"logprobs\":null}],\"usage\":null}",
    /* a Python server's ensure_ascii output: escapes, a surrogate pair */
    "{\"model\":\"vllm\",\"choices\":[{\"delta\":{\"content\":\"caf\\u00e9 \\ud83d\\ude00\\n"
    "\\\"q\\\" \\\\ \\/ \\t\\b\\f\\r\"}}]}",
    /* raw UTF-8, whitespace everywhere, numbers of each kind */
    " { \"choices\" : [ { \"delta\" : { \"content\" : \"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\" } ,"
    " \"index\" : 0 } , 7 ] , \"n\" : [ -0 , 0.5 , -12.25 , 123456789012345678 ] } \r\n",
    /* reasoning beside a null content; error null */
    "{\"error\":null,\"choices\":[{\"delta\":{\"reasoning_content\":\"hmm\",\"content\":null}}]}",
    /* choices empty or not an array, no delta */
    "{\"choices\":[]}",
    "{\"choices\":{\"delta\":{\"content\":\"not read\"}}}",
    "{\"choices\":[{\"index\":0}]}",
};

/* events that only jansson may read */
static const char *const  tree_events[] = {
    "{\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0}]}}]}",
    "{\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\"}]}",
    "{\"choices\":[{\"delta\":{},\"finish_reason\":\"error\"}]}",
    "{\"choices\":[],\"usage\":{\"prompt_tokens\":1}}",
    "{\"x_groq\":{\"id\":\"req_1\"},\"choices\":[{\"delta\":{\"content\":\"a\"}}]}",
    "{\"error\":{\"message\":\"overloaded\"}}",
    "{\"error\":\"x\",\"choices\":[]}",
    "{\"object\":\"error\",\"message\":\"oom\"}",
    "{\"object\":\"\\u0065rror\"}",
    /* jansson keeps the last of equal keys */
    "{\"choices\":[{\"delta\":{\"content\":\"a\",\"content\":\"b\"}}]}",
    "{\"choices\":[],\"choices\":[{\"delta\":{\"content\":\"b\"}}]}",
    "{\"model\":\"a\",\"model\":\"b\"}",
    "{\"choices\":[{\"delta\":{},\"delta\":{\"content\":\"b\"}}]}",
    /* an escaped key could be any of them */
    "{\"choices\":[{\"delta\":{\"c\\u006fntent\":\"a\"}}]}",
    "{\"model\":\"m\\u0031\"}",
    /* what jansson refuses or might */
    "{\"choices\":[{\"delta\":{\"content\":\"\\u0000\"}}]}",
    "{\"a\":\"\\ud800\"}",
    "{\"a\":\"\\udc00\"}",
    "{\"a\":\"\\ud800\\u0041\"}",
    "{\"a\":\"\\x\"}",
    "{\"a\":\"\\u12g4\"}",
    "{\"a\":1e5}",
    "{\"a\":1234567890123456789}",
    "{\"a\":01}",
    "{\"a\":1.}",
    "{\"a\":-}",
    "{\"a\":.5}",
    "{\"a\":0.1234567890123456789012345678901234}",
    "{\"a\":tru}",
    "{\"a\":\"tab\there\"}",
    "{\"a\":\"\xc3\"}",
    "{\"a\":\"\xed\xa0\x80\"}",
    "{\"a\":1,}",
    "{\"a\":[1,]}",
    "{\"a\" 1}",
    "{\"a\":1}x",
    "{\"a\":1}{}",
    "{\"a\":\"open",
    "{\"a\":[1,2",
    "[{\"choices\":[]}]",
    "\"s\"",
    "",
    "   ",
    "{\"a\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}",
};

static void
test_plain_events(void)
{
    mcp_llm_chunk_t  c;
    size_t           i;

    for (i = 0; i < sizeof(plain_events) / sizeof(plain_events[0]); i++) {
        CHECK(mcp_llm_chunk_scan(plain_events[i], strlen(plain_events[i]), &c));
    }
    for (i = 0; i < sizeof(tree_events) / sizeof(tree_events[0]); i++) {
        if (mcp_llm_chunk_scan(tree_events[i], strlen(tree_events[i]), &c)) {
            fprintf(stderr, "  taken as plain: %s\n", tree_events[i]);
            CHECK(0);
        }
    }
}

/* a plain event's text and model, against jansson's reading of it */
static void
check_as_jansson(const char *ev)
{
    mcp_llm_chunk_t   c;
    json_t           *root, *content, *model;
    json_error_t      jerr;
    char              buf[512];
    size_t            n;

    CHECK(mcp_llm_chunk_scan(ev, strlen(ev), &c));
    root = json_loadb(ev, strlen(ev), 0, &jerr);
    CHECK(root != NULL);
    content = json_object_get(json_object_get(json_array_get(
                  json_object_get(root, "choices"), 0), "delta"), "content");
    CHECK_EQ_INT(c.has_content, json_is_string(content) ? 1 : 0);
    if (c.has_content) {
        CHECK(c.content_len <= sizeof(buf));
        n = mcp_llm_chunk_unescape(c.content, c.content_len, buf);
        CHECK_EQ_INT(n, json_string_length(content));
        CHECK(memcmp(buf, json_string_value(content), n) == 0);
    }
    model = json_object_get(root, "model");
    CHECK_EQ_INT(c.model != NULL, json_is_string(model) ? 1 : 0);
    if (c.model != NULL) {
        CHECK_EQ_INT(c.model_len, json_string_length(model));
        CHECK(memcmp(c.model, json_string_value(model), c.model_len) == 0);
    }
    json_decref(root);
}

static void
test_reads_as_jansson(void)
{
    mcp_llm_chunk_t  c;
    char             buf[64];
    const char      *ev = plain_events[3];
    size_t           i, n;

    for (i = 0; i < sizeof(plain_events) / sizeof(plain_events[0]); i++) {
        check_as_jansson(plain_events[i]);
    }

    /* the escapes, byte by byte */
    CHECK(mcp_llm_chunk_scan(ev, strlen(ev), &c));
    CHECK(c.content_escaped);
    n = mcp_llm_chunk_unescape(c.content, c.content_len, buf);
    CHECK_EQ_INT(n, 23);
    CHECK(memcmp(buf, "caf\xc3\xa9 \xf0\x9f\x98\x80\n\"q\" \\ / \t\b\f\r", n) == 0);
    CHECK_EQ_INT(c.model_len, 4);
    CHECK(memcmp(c.model, "vllm", 4) == 0);

    /* no escapes: the text is the event's own bytes */
    ev = plain_events[0];
    CHECK(mcp_llm_chunk_scan(ev, strlen(ev), &c));
    CHECK(!c.content_escaped);
    CHECK_EQ_INT(c.content_len, 6);
    CHECK(c.content == strstr(ev, " world"));
}

/* ------------------------------------------------------------ streams */

static const char *const  streams[] = {
    "data: {\"model\":\"m1\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\n\n"
    "data: {\"model\":\"m2\",\"choices\":[{\"delta\":{\"content\":\"caf\\u00e9\\n\"}}]}\n\n"
    "data: {\"choices\":[{\"delta\":{\"content\":\"\xf0\x9f\x98\x80 \\ud83d\\ude00\"},\"finish_reason\":null}]}\n\n"
    "data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n"
    "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":2}}\n\n"
    "data: [DONE]\n\n",
    /* a tool call between texts */
    "data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\n"
    "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"c1\",\"function\":{\"name\":\"f\",\"arguments\":\"{}\"}}]}}]}\n\n"
    "data: {\"choices\":[{\"delta\":{\"content\":\"b\"},\"finish_reason\":\"tool_calls\"}]}\n\n"
    "data: [DONE]\n\n",
    /* an error after text, then nothing */
    "data: {\"choices\":[{\"delta\":{\"content\":\"x\"}}]}\n\n"
    "data: {\"error\":{\"message\":\"upstream\"},\"choices\":[{\"delta\":{},\"finish_reason\":\"error\"}]}\n\n",
    /* a malformed event after text */
    "data: {\"choices\":[{\"delta\":{\"content\":\"x\"}}]}\n\n"
    "data: {\"choices\":[{\"delta\":{\"content\":\"y\"}}],}\n\n",
    /* a duplicate key: the last wins */
    "data: {\"choices\":[{\"delta\":{\"content\":\"first\",\"content\":\"last\"},\"finish_reason\":\"stop\"}]}\n\n",
    /* cut */
    "data: {\"choices\":[{\"delta\":{\"content\":\"cut\"}}]}\n\n",
};

static void
test_streams_same_either_way(void)
{
    mcp_llm_stream_t  a, b;
    rec_t             ra, rb;
    size_t            i, step;

    for (i = 0; i < sizeof(streams) / sizeof(streams[0]); i++) {
        for (step = 1; step <= strlen(streams[i]); step += 5) {
            (void) rec_run(streams[i], step, 0, &ra, &a);
            (void) rec_run(streams[i], step, 1, &rb, &b);
            CHECK_EQ_STR(ra.text, rb.text);
            CHECK_EQ_STR(ra.tools, rb.tools);
            CHECK_EQ_INT(ra.tool_calls, rb.tool_calls);
            CHECK_EQ_INT(ra.usage_calls, rb.usage_calls);
            CHECK_EQ_INT(a.err, b.err);
            CHECK_EQ_STR(a.errmsg, b.errmsg);
            CHECK_EQ_STR(a.model, b.model);
            CHECK_EQ_STR(a.finish_reason, b.finish_reason);
            CHECK_EQ_INT(a.chunks, b.chunks);
            CHECK_EQ_INT(a.text_bytes, b.text_bytes);
            mcp_llm_stream_free(&a);
            mcp_llm_stream_free(&b);
        }
    }

    /* and what the first stream says, for the record: three of its five
       JSON chunks read without a tree (not the finish, not the usage) */
    (void) rec_run(streams[0], 3, 0, &ra, &a);
    (void) rec_run(streams[0], 3, 1, &rb, &b);
    CHECK_EQ_INT(a.chunks, 5);
    CHECK_EQ_INT(a.plain, 3);
    CHECK_EQ_INT(b.plain, 0);
    mcp_llm_stream_free(&b);
    CHECK_EQ_INT(a.err, MCP_LLM_OK);
    CHECK_EQ_STR(ra.text, "caf\xc3\xa9\n\xf0\x9f\x98\x80 \xf0\x9f\x98\x80");
    CHECK_EQ_STR(a.model, "m1");
    CHECK_EQ_INT(ra.usage_calls, 1);
    mcp_llm_stream_free(&a);

    (void) rec_run(streams[4], 7, 0, &ra, &a);
    CHECK_EQ_STR(ra.text, "last");
    mcp_llm_stream_free(&a);
}

UNIT_MAIN("llm_chunk",
    UNIT_TEST(test_plain_events),
    UNIT_TEST(test_reads_as_jansson),
    UNIT_TEST(test_streams_same_either_way))
