/*
 * Fuzz the provider stream path as the transport sees it: the input is
 * cut into feeds at positions taken from its first byte, run through the
 * SSE parser, chunk interpretation and tool-call assembly, then ended; and
 * the same bytes are tried as a non-streaming body.  Malformed input must
 * only ever produce an error code.
 */

#include <stddef.h>
#include <stdint.h>

#include "llm/mcp_llm_stream.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
on_text(void *ctx, const char *t, size_t len)
{
    size_t  *n = ctx;

    *n += len;
}

static void
on_tool(void *ctx, const mcp_llm_tool_call_t *c)
{
    size_t  *n = ctx;

    *n += c->arguments.len + c->name.len;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const mcp_llm_stream_cb_t  cbs = { on_text, on_tool, NULL };
    mcp_llm_stream_t                  s;
    size_t                            off, n, step, total = 0;
    json_t                           *j;

    if (size == 0) {
        return 0;
    }
    step = (size_t) (data[0] % 37) + 1;
    data++;
    size--;

    mcp_llm_stream_init(&s, &cbs, &total);
    s.sse.max_line = 1 << 16;
    s.tools.max_bytes = 1 << 16;
    for (off = 0; off < size; off += n) {
        n = size - off < step ? size - off : step;
        if (mcp_llm_stream_feed(&s, (const char *) data + off, n) != 0) {
            break;
        }
    }
    mcp_llm_stream_end(&s);
    (void) mcp_llm_err_name(s.err);
    j = mcp_llm_toolcalls_json(&s.tools);
    json_decref(j);
    mcp_llm_stream_free(&s);

    mcp_llm_stream_init(&s, &cbs, &total);
    mcp_llm_stream_body(&s, (const char *) data, size);
    mcp_llm_stream_free(&s);
    return 0;
}
