/* llm/mcp_llm_body: the request body with the caller's dump of the
   messages spliced in is the same bytes as the body jansson dumps whole,
   with and without streaming and tools, and with a model name that needs
   escaping. */

#include <stdlib.h>

#include "unit.h"
#include "llm/mcp_llm_int.h"

static void
check_same_body(const char *model, int stream, json_t *tools)
{
    mcp_llm_provider_conf_t  conf;
    mcp_llm_provider_t       p;
    mcp_llm_req_t            r;
    json_t                  *whole;
    char                    *want;

    memset(&conf, 0, sizeof(conf));
    conf.model = (char *) model;
    conf.temperature = 0.7;
    conf.max_tokens = 256;
    conf.top_p = 1.0;
    memset(&p, 0, sizeof(p));
    p.conf = &conf;
    memset(&r, 0, sizeof(r));
    r.p = &p;
    r.stream = stream;
    r.tools = tools;
    r.messages = json_pack("[{s:s, s:s}, {s:s, s:s}]", "role", "system",
                           "content", "be brief", "role", "user",
                           "content", "caf\u00e9 \"quoted\"\n");

    /* the reference: jansson's dump of the whole object, keys in the
       order the body has them */
    whole = json_pack("{s:s, s:O, s:f, s:I, s:f}", "model", model,
                      "messages", r.messages, "temperature", 0.7,
                      "max_tokens", (json_int_t) 256, "top_p", 1.0);
    if (stream) {
        json_object_set_new(whole, "stream", json_true());
        json_object_set_new(whole, "stream_options",
                            json_pack("{s:b}", "include_usage", 1));
    }
    if (tools != NULL) {
        json_object_set(whole, "tools", tools);
    }
    want = json_dumps(whole, JSON_COMPACT);
    json_decref(whole);

    /* the messages dumped here, and a caller's own dump spliced in */
    CHECK(llm_build_body(&r) == 0);
    CHECK_EQ_STR(r.body, want);
    free(r.messages_json);

    r.messages_json = json_dumps(r.messages, JSON_COMPACT);
    r.messages_len = strlen(r.messages_json);
    CHECK(llm_build_body(&r) == 0);
    CHECK_EQ_STR(r.body, want);
    CHECK_EQ_INT(r.body_len, strlen(want));

    free(want);
    free(r.body);
    free(r.messages_json);
    json_decref(r.messages);
}

static void
test_llm_body_spliced_same_bytes(void)
{
    json_t  *tools = json_pack("[{s:s, s:{s:s}}]", "type", "function",
                               "function", "name", "everything__echo");

    check_same_body("mock-text", 0, NULL);
    check_same_body("mock-text", 1, NULL);
    check_same_body("odd \"model\" \\ name", 1, tools);
    json_decref(tools);
}

UNIT_MAIN("llm_body",
    UNIT_TEST(test_llm_body_spliced_same_bytes))
