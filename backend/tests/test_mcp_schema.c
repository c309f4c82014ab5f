/* mcp/mcp_schema: MCP extras stripped, schemas passed through, cache */

#include "unit.h"
#include "mcp/mcp_schema.h"

#include <stdlib.h>

static json_t *
J(const char *s)
{
    json_error_t  e;
    json_t       *j = json_loads(s, 0, &e);
    if (j == NULL) {
        fprintf(stderr, "bad test JSON: %s\n", e.text);
    }
    return j;
}

static void
test_extras_stripped(void)
{
    json_t  *tool = J("{\"name\":\"get.sum\",\"title\":\"Sum\","
        "\"description\":\"Adds\",\"annotations\":{\"readOnlyHint\":true},"
        "\"outputSchema\":{\"type\":\"object\"},\"_meta\":{\"x\":1},"
        "\"icons\":[],\"inputSchema\":{\"$schema\":\"http://json-schema.org/"
        "draft-07/schema#\",\"type\":\"object\",\"properties\":{\"a\":"
        "{\"type\":\"number\",\"title\":\"A\"}},\"required\":[\"a\"]}}");
    json_t  *want = J("{\"type\":\"function\",\"function\":{\"name\":"
        "\"get_sum\",\"description\":\"Adds\",\"parameters\":{\"type\":"
        "\"object\",\"properties\":{\"a\":{\"type\":\"number\",\"title\":"
        "\"A\"}},\"required\":[\"a\"]}}}");
    json_t  *got = mcp_schema_tool_to_openai(tool, "get_sum", NULL);

    CHECK(got != NULL);
    CHECK(json_equal(got, want));
    json_decref(tool);
    json_decref(want);
    json_decref(got);
}

static void
test_anyof_ref_type_arrays_intact(void)
{
    const char  *schema = "{\"type\":\"object\",\"properties\":{"
        "\"x\":{\"anyOf\":[{\"type\":\"string\"},{\"type\":\"null\"}],"
        "\"default\":null},"
        "\"y\":{\"oneOf\":[{\"$ref\":\"#/$defs/P\"},{\"type\":\"integer\"}]},"
        "\"z\":{\"type\":[\"string\",\"null\"]}},"
        "\"$defs\":{\"P\":{\"type\":\"object\",\"properties\":{}}},"
        "\"additionalProperties\":false}";
    json_t  *in = J(schema), *p = mcp_schema_parameters(in);

    CHECK(json_equal(in, p));
    json_decref(in);
    json_decref(p);

    /* a top-level anyOf is left alone: no "type" invented next to it */
    in = J("{\"anyOf\":[{\"type\":\"object\"}]}");
    p = mcp_schema_parameters(in);
    CHECK(json_equal(in, p));
    json_decref(in);
    json_decref(p);
}

static void
test_missing_or_odd_schema(void)
{
    json_t  *want = J("{\"type\":\"object\",\"properties\":{}}");
    json_t  *tool = J("{\"name\":\"t\"}");
    json_t  *got = mcp_schema_tool_to_openai(tool, "t", NULL);
    json_t  *in, *p;

    CHECK(json_equal(json_object_get(json_object_get(got, "function"),
                                     "parameters"), want));
    CHECK_EQ_STR(json_string_value(json_object_get(
        json_object_get(got, "function"), "description")), "");
    json_decref(got);
    json_decref(tool);

    in = J("{\"properties\":{\"a\":{}}}");   /* no type: object assumed */
    p = mcp_schema_parameters(in);
    CHECK_EQ_STR(json_string_value(json_object_get(p, "type")), "object");
    json_decref(in);
    json_decref(p);

    in = J("{\"type\":\"object\"}");         /* properties added */
    p = mcp_schema_parameters(in);
    CHECK(json_equal(p, want));
    json_decref(in);
    json_decref(p);

    p = mcp_schema_parameters(NULL);
    CHECK(json_equal(p, want));
    json_decref(p);
    json_decref(want);
    CHECK(mcp_schema_tool_to_openai(NULL, "x", NULL) == NULL);
}

static void
test_title_when_no_description(void)
{
    json_t  *tool = J("{\"name\":\"t\",\"title\":\"Nice title\"}");
    json_t  *got = mcp_schema_tool_to_openai(tool, "t", NULL);

    CHECK_EQ_STR(json_string_value(json_object_get(
        json_object_get(got, "function"), "description")), "Nice title");
    CHECK(json_object_get(json_object_get(got, "function"), "title") == NULL);
    json_decref(got);
    json_decref(tool);
}

static void
test_cache_hits_by_schema_hash(void)
{
    mcp_lru_t        *cache = mcp_schema_cache_create(4);
    mcp_lru_stats_t   st;
    json_t  *t1 = J("{\"name\":\"a\",\"inputSchema\":{\"type\":\"object\","
                    "\"properties\":{\"q\":{\"type\":\"string\"}}}}");
    /* same schema, keys in another order: same canonical text */
    json_t  *t2 = J("{\"name\":\"b\",\"inputSchema\":{\"properties\":{\"q\":"
                    "{\"type\":\"string\"}},\"type\":\"object\"}}");
    json_t  *o1 = mcp_schema_tool_to_openai(t1, "a", cache);
    json_t  *o2 = mcp_schema_tool_to_openai(t2, "b", cache);

    mcp_lru_stats(cache, &st);
    CHECK_EQ_INT(st.hits, 1);
    CHECK_EQ_INT(st.misses, 1);
    CHECK_EQ_INT(st.size, 1);
    CHECK(json_equal(json_object_get(json_object_get(o1, "function"),
                                     "parameters"),
                     json_object_get(json_object_get(o2, "function"),
                                     "parameters")));
    CHECK_EQ_STR(json_string_value(json_object_get(
        json_object_get(o2, "function"), "name")), "b");
    CHECK(mcp_schema_hash(json_object_get(t1, "inputSchema"))
          == mcp_schema_hash(json_object_get(t2, "inputSchema")));
    json_decref(o1);
    json_decref(o2);
    json_decref(t1);
    json_decref(t2);
    mcp_lru_destroy(cache);
}

UNIT_MAIN("mcp_schema",
    UNIT_TEST(test_extras_stripped),
    UNIT_TEST(test_anyof_ref_type_arrays_intact),
    UNIT_TEST(test_missing_or_odd_schema),
    UNIT_TEST(test_title_when_no_description),
    UNIT_TEST(test_cache_hits_by_schema_hash))
