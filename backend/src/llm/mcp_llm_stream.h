/*
 * Turns a provider's response into events, independent of transport:
 * an SSE stream fed in arbitrary pieces (streaming) or one JSON body
 * (non-streaming).  Text deltas are passed on at once; tool calls are
 * assembled (mcp_llm_toolcall.h) and handed over complete when the
 * finish_reason arrives; usage when it arrives (stream_options.include_usage
 * puts it in a last chunk with empty choices; Groq used x_groq.usage).
 *
 * Failure is never silent: an error event after the 200 (OpenRouter's
 * {"error":...} with finish_reason "error", vLLM's {"object":"error"},
 * "event: error"), a malformed chunk, or the end of the stream before a
 * finish_reason each end the response with an error code and message.
 */

#ifndef MCP_LLM_STREAM_H
#define MCP_LLM_STREAM_H

#include <stddef.h>

#include "llm/mcp_llm_sse.h"
#include "llm/mcp_llm_toolcall.h"
#include "llm/mcp_llm_types.h"

/* text is not NUL-terminated: it may lie inside the provider's event */
typedef struct {
    void  (*on_text)(void *ctx, const char *text, size_t len);
    void  (*on_tool_call)(void *ctx, const mcp_llm_tool_call_t *call);
    void  (*on_usage)(void *ctx, const mcp_llm_usage_t *usage);
} mcp_llm_stream_cb_t;

typedef struct {
    const mcp_llm_stream_cb_t  *cb;
    void                       *ctx;

    mcp_llm_sse_t               sse;
    mcp_llm_toolcalls_t         tools;
    mcp_llm_usage_t             usage;

    char                        finish_reason[32];
    char                        model[128];
    size_t                      chunks;        /* JSON chunks seen */
    size_t                      plain;         /*   of them read without
                                                  a tree (mcp_llm_chunk.h) */
    size_t                      text_bytes;
    unsigned                    done:1;        /* [DONE] seen */
    unsigned                    finished:1;    /* a finish_reason seen */
    unsigned                    tools_emitted:1;
    unsigned                    no_scan:1;     /* every event by jansson
                                                  (tests, bench) */
    char                       *unescaped;     /* a plain chunk's text */
    size_t                      unescaped_cap;

    mcp_llm_err_e               err;
    char                        errmsg[256];
} mcp_llm_stream_t;

void mcp_llm_stream_init(mcp_llm_stream_t *s, const mcp_llm_stream_cb_t *cb,
    void *ctx);
void mcp_llm_stream_free(mcp_llm_stream_t *s);

/* Streaming: feed body bytes.  0, or -1 once s->err is set (stop reading). */
int mcp_llm_stream_feed(mcp_llm_stream_t *s, const char *buf, size_t len);
/* The transfer ended cleanly: checks finish_reason.  0 or -1 (s->err). */
int mcp_llm_stream_end(mcp_llm_stream_t *s);

/* Non-streaming: the whole 200 body.  0 or -1 (s->err). */
int mcp_llm_stream_body(mcp_llm_stream_t *s, const char *buf, size_t len);

/* Set s->err (first error wins) with a printf-style message; returns -1. */
int mcp_llm_stream_fail(mcp_llm_stream_t *s, mcp_llm_err_e err,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif /* MCP_LLM_STREAM_H */
