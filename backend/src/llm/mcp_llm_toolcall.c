/* Tool-call delta assembly: see mcp_llm_toolcall.h for the rules. */

#include <string.h>

#include "llm/mcp_llm_toolcall.h"

#define TC_DEFAULT_MAX_CALLS  128
#define TC_DEFAULT_MAX_BYTES  (16u << 20)

void
mcp_llm_toolcalls_init(mcp_llm_toolcalls_t *tc)
{
    memset(tc, 0, sizeof(*tc));
    tc->max_calls = TC_DEFAULT_MAX_CALLS;
    tc->max_bytes = TC_DEFAULT_MAX_BYTES;
}

static void
tc_call_free(mcp_llm_tool_call_t *c)
{
    mcp_llm_buf_free(&c->id);
    mcp_llm_buf_free(&c->type);
    mcp_llm_buf_free(&c->name);
    mcp_llm_buf_free(&c->arguments);
}

void
mcp_llm_toolcalls_reset(mcp_llm_toolcalls_t *tc)
{
    size_t  i;

    for (i = 0; i < tc->n; i++) {
        tc_call_free(&tc->calls[i]);
    }
    tc->n = 0;
}

void
mcp_llm_toolcalls_free(mcp_llm_toolcalls_t *tc)
{
    mcp_llm_toolcalls_reset(tc);
    free(tc->calls);
    tc->calls = NULL;
    tc->cap = 0;
}

static mcp_llm_tool_call_t *
tc_new_call(mcp_llm_toolcalls_t *tc, long index)
{
    mcp_llm_tool_call_t  *calls, *c;
    size_t                cap;

    if (tc->n >= tc->max_calls) {
        return NULL;
    }

    if (tc->n == tc->cap) {
        cap = tc->cap ? tc->cap * 2 : 4;
        calls = realloc(tc->calls, cap * sizeof(*calls));
        if (calls == NULL) {
            return NULL;
        }
        tc->calls = calls;
        tc->cap = cap;
    }

    c = &tc->calls[tc->n++];
    memset(c, 0, sizeof(*c));
    c->index = index;
    return c;
}

/* The latest call at this index (a later call at the same index wins). */
static mcp_llm_tool_call_t *
tc_by_index(mcp_llm_toolcalls_t *tc, long index)
{
    size_t  i;

    for (i = tc->n; i > 0; i--) {
        if (tc->calls[i - 1].index == index) {
            return &tc->calls[i - 1];
        }
    }
    return NULL;
}

static mcp_llm_tool_call_t *
tc_by_id(mcp_llm_toolcalls_t *tc, const char *id)
{
    size_t  i;

    for (i = tc->n; i > 0; i--) {
        if (tc->calls[i - 1].id.len && strcmp(tc->calls[i - 1].id.data, id) == 0) {
            return &tc->calls[i - 1];
        }
    }
    return NULL;
}

/* "" for null/absent; NULL for a non-string that is not null. */
static const char *
tc_str(const json_t *obj, const char *key, size_t *len)
{
    const json_t  *v = obj ? json_object_get(obj, key) : NULL;

    if (v == NULL || json_is_null(v)) {
        *len = 0;
        return "";
    }
    if (!json_is_string(v)) {
        return NULL;
    }
    *len = json_string_length(v);
    return json_string_value(v);
}

/* Find (or start) the call a fragment belongs to. */
static mcp_llm_tool_call_t *
tc_locate(mcp_llm_toolcalls_t *tc, const json_t *frag, const char *id,
    size_t idlen)
{
    const json_t         *jindex = json_object_get(frag, "index");
    mcp_llm_tool_call_t  *c;
    long                  index;

    if (json_is_integer(jindex)) {
        index = (long) json_integer_value(jindex);
        c = tc_by_index(tc, index);
        if (c == NULL) {
            return tc_new_call(tc, index);
        }
        if (idlen && c->id.len
            && (c->id.len != idlen || memcmp(c->id.data, id, idlen) != 0))
        {
            return tc_new_call(tc, index);     /* new id, same index */
        }
        return c;
    }

    /* no index: by id, else continue the last call, else a new one */
    if (idlen) {
        c = tc_by_id(tc, id);
        return c ? c : tc_new_call(tc, tc->n ? tc->calls[tc->n - 1].index + 1
                                             : 0);
    }
    return tc->n ? &tc->calls[tc->n - 1] : tc_new_call(tc, 0);
}

static int
tc_merge(mcp_llm_toolcalls_t *tc, mcp_llm_tool_call_t *c, const char *id,
    size_t idlen, const char *type, size_t tlen, const char *name,
    size_t nlen, const char *args, size_t alen)
{
    if (idlen && c->id.len == 0 && mcp_llm_buf_append(&c->id, id, idlen)) {
        return MCP_LLM_TC_ERR_NOMEM;
    }
    if (tlen && c->type.len == 0 && mcp_llm_buf_append(&c->type, type, tlen)) {
        return MCP_LLM_TC_ERR_NOMEM;
    }

    /* a name sent again whole in a later chunk is a repeat, not a suffix */
    if (nlen && !(c->name.len == nlen && memcmp(c->name.data, name, nlen) == 0)) {
        if (c->name.len + nlen > 1024) {
            return MCP_LLM_TC_ERR_TOO_LARGE;
        }
        if (mcp_llm_buf_append(&c->name, name, nlen) != 0) {
            return MCP_LLM_TC_ERR_NOMEM;
        }
    }

    if (alen) {
        if (c->arguments.len + alen > tc->max_bytes) {
            return MCP_LLM_TC_ERR_TOO_LARGE;
        }
        if (mcp_llm_buf_append(&c->arguments, args, alen) != 0) {
            return MCP_LLM_TC_ERR_NOMEM;
        }
    }

    return 0;
}

static int
tc_add_one(mcp_llm_toolcalls_t *tc, const json_t *frag)
{
    const json_t         *fn;
    const char           *id, *type, *name, *args;
    size_t                idlen, tlen, nlen, alen;
    mcp_llm_tool_call_t  *c;

    if (!json_is_object(frag)) {
        return MCP_LLM_TC_ERR_BAD;
    }

    fn = json_object_get(frag, "function");
    if (fn != NULL && !json_is_object(fn) && !json_is_null(fn)) {
        return MCP_LLM_TC_ERR_BAD;
    }
    if (json_is_null(fn)) {
        fn = NULL;
    }

    id = tc_str(frag, "id", &idlen);
    type = tc_str(frag, "type", &tlen);
    name = tc_str(fn, "name", &nlen);
    args = tc_str(fn, "arguments", &alen);
    if (id == NULL || type == NULL || name == NULL || args == NULL) {
        return MCP_LLM_TC_ERR_BAD;
    }

    c = tc_locate(tc, frag, id, idlen);
    if (c == NULL) {
        return tc->n >= tc->max_calls ? MCP_LLM_TC_ERR_TOO_LARGE
                                      : MCP_LLM_TC_ERR_NOMEM;
    }

    return tc_merge(tc, c, id, idlen, type, tlen, name, nlen, args, alen);
}

int
mcp_llm_toolcalls_add(mcp_llm_toolcalls_t *tc, const json_t *deltas)
{
    size_t  i;
    int     rc;

    if (json_is_null(deltas)) {
        return 0;
    }
    if (json_is_object(deltas)) {
        return tc_add_one(tc, deltas);
    }
    if (!json_is_array(deltas)) {
        return MCP_LLM_TC_ERR_BAD;
    }

    for (i = 0; i < json_array_size(deltas); i++) {
        rc = tc_add_one(tc, json_array_get(deltas, i));
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

json_t *
mcp_llm_toolcalls_json(const mcp_llm_toolcalls_t *tc)
{
    json_t                     *arr, *call;
    const mcp_llm_tool_call_t  *c;
    size_t                      i;

    arr = json_array();
    for (i = 0; arr && i < tc->n; i++) {
        c = &tc->calls[i];
        call = json_pack("{s:s%, s:s%, s:{s:s%, s:s%}}",
            "id", mcp_llm_buf_cstr(&c->id), c->id.len,
            "type", c->type.len ? c->type.data : "function",
            c->type.len ? c->type.len : 8,
            "function",
            "name", mcp_llm_buf_cstr(&c->name), c->name.len,
            "arguments", mcp_llm_buf_cstr(&c->arguments), c->arguments.len);
        if (call == NULL || json_array_append_new(arr, call) != 0) {
            json_decref(arr);
            return NULL;
        }
    }
    return arr;
}
