/*
 * Fuzz the MCP message path: newline framing and SSE parsing with an
 * input-chosen split,
 * classification, and every converter a message from a server reaches
 * (tool -> OpenAI, tool result -> model text with a small cap).
 */

#include "mcp/mcp_jsonrpc.h"
#include "mcp/mcp_names.h"
#include "mcp/mcp_result.h"
#include "mcp/mcp_schema.h"
#include "mcp/mcp_sse.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void
fuzz_line(void *ctx, const char *line, size_t len, int oversize)
{
    json_t             *msg, *res, *tools, *tool, *o;
    mcp_tool_result_t   r;
    mcp_names_t         names;
    size_t              i;
    int64_t             id;

    if (oversize) {
        return;
    }
    msg = mcp_rpc_parse(line, len, NULL, 0);
    if (msg == NULL) {
        return;
    }
    switch (mcp_rpc_classify(msg, NULL)) {
    case MCP_RPC_RESULT:
        (void) mcp_rpc_id_int(json_object_get(msg, "id"), &id);
        res = json_object_get(msg, "result");
        if (mcp_result_convert(res, 64, &r) == 0) {
            mcp_result_free(&r);
        }
        tools = json_object_get(res, "tools");
        mcp_names_init(&names);
        json_array_foreach(tools, i, tool) {
            const char  *n = json_string_value(json_object_get(tool, "name"));
            mcp_names_add(&names, "s", n ? n : "");
        }
        if (mcp_names_build(&names) == 0) {
            for (i = 0; i < names.n; i++) {
                if (!mcp_names_valid(names.items[i].exposed)) {
                    abort();
                }
                o = mcp_schema_tool_to_openai(json_array_get(tools, i),
                                              names.items[i].exposed, ctx);
                json_decref(o);
            }
        }
        mcp_names_free(&names);
        break;
    case MCP_RPC_ERROR:
        if (mcp_result_from_error(json_object_get(msg, "error"), NULL, 32,
                                  &r) == 0)
        {
            mcp_result_free(&r);
        }
        break;
    default:
        break;
    }
    json_decref(msg);
}

/* the same bytes as an HTTP response stream: SSE events carry messages */
static void
fuzz_sse_event(void *ctx, const char *event, const char *data, size_t len)
{
    fuzz_line(ctx, data, len, 0);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mcp_framer_t   f;
    mcp_lru_t     *cache;
    size_t         split;

    if (size < 1) {
        return 0;
    }
    split = data[0] % (size);
    cache = mcp_schema_cache_create(4);
    mcp_framer_init(&f, 4096);
    mcp_framer_feed(&f, (const char *) data + 1, split, fuzz_line, cache);
    mcp_framer_feed(&f, (const char *) data + 1 + split, size - 1 - split,
                    fuzz_line, cache);
    mcp_framer_free(&f);

    {
        mcp_sse_t  sse;

        mcp_sse_init(&sse, 4096, fuzz_sse_event, cache);
        mcp_sse_feed(&sse, (const char *) data + 1, split);
        mcp_sse_feed(&sse, (const char *) data + 1 + split, size - 1 - split);
        mcp_sse_free(&sse);
    }
    mcp_lru_destroy(cache);
    return 0;
}
