/*
 * MCP tool -> OpenAI function conversion with an LRU of converted schemas.
 */

#include "mcp/mcp_schema.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>


uint64_t
mcp_schema_hash(const json_t *schema)
{
    char      *text;
    uint64_t   h;

    if (schema == NULL) {
        return 0;
    }
    text = json_dumps(schema, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    if (text == NULL) {
        return 0;
    }
    h = mcp_lru_hash(text, strlen(text));
    free(text);
    return h;
}


json_t *
mcp_schema_parameters(const json_t *input_schema)
{
    json_t  *p;

    if (!json_is_object(input_schema)) {
        p = json_object();
        json_object_set_new(p, "type", json_string("object"));
        json_object_set_new(p, "properties", json_object());
        return p;
    }

    p = json_deep_copy(input_schema);
    if (p == NULL) {
        return NULL;
    }
    /* providers reject a $schema keyword; the rest is the server's */
    json_object_del(p, "$schema");
    if (json_object_get(p, "type") == NULL
        && json_object_get(p, "anyOf") == NULL
        && json_object_get(p, "oneOf") == NULL
        && json_object_get(p, "$ref") == NULL)
    {
        json_object_set_new(p, "type", json_string("object"));
    }
    if (json_is_string(json_object_get(p, "type"))
        && strcmp(json_string_value(json_object_get(p, "type")), "object") == 0
        && json_object_get(p, "properties") == NULL)
    {
        /* OpenAI insists on "properties" for an object schema */
        json_object_set_new(p, "properties", json_object());
    }
    return p;
}


static void
mcp_schema_cache_free(void *v)
{
    json_decref(v);
}


mcp_lru_t *
mcp_schema_cache_create(size_t capacity)
{
    return mcp_lru_create(capacity, mcp_schema_cache_free);
}


static json_t *
mcp_schema_parameters_cached(const json_t *schema, mcp_lru_t *cache)
{
    uint64_t   h;
    json_t    *p;

    if (cache == NULL) {
        return mcp_schema_parameters(schema);
    }
    h = mcp_schema_hash(schema);
    p = mcp_lru_get(cache, &h, sizeof(h));
    if (p != NULL) {
        return json_incref(p);
    }
    p = mcp_schema_parameters(schema);
    if (p != NULL && mcp_lru_put(cache, &h, sizeof(h), json_incref(p)) != 0)
    {
        json_decref(p);    /* the reference the cache did not take */
    }
    return p;
}


json_t *
mcp_schema_tool_to_openai(const json_t *tool, const char *exposed,
    mcp_lru_t *cache)
{
    const json_t  *desc;
    json_t        *fn, *out, *params;

    if (!json_is_object(tool)) {
        return NULL;
    }
    params = mcp_schema_parameters_cached(json_object_get(tool, "inputSchema"),
                                          cache);
    if (params == NULL) {
        return NULL;
    }

    desc = json_object_get(tool, "description");
    if (!json_is_string(desc)) {
        /* the title is the next best thing the model can read */
        desc = json_object_get(tool, "title");
    }

    fn = json_object();
    json_object_set_new(fn, "name", json_string(exposed));
    json_object_set_new(fn, "description",
                        json_string(json_is_string(desc)
                                    ? json_string_value(desc) : ""));
    json_object_set_new(fn, "parameters", params);

    out = json_object();
    json_object_set_new(out, "type", json_string("function"));
    json_object_set_new(out, "function", fn);
    return out;
}
