/*
 * Incremental Server-Sent Events parser (the WHATWG event-stream grammar)
 * for provider streams.  Feed it bytes as they arrive, cut anywhere; it
 * calls on_event once per dispatched event with the event name ("message"
 * when none was given) and the data lines joined by '\n'.
 *
 * Accepted: LF, CRLF and lone CR line ends (also split between two feeds),
 * "data:" with or without the space, several data lines per event, comment
 * and keep-alive lines (": OPENROUTER PROCESSING"), "event:", "id:",
 * "retry:" (ignored), a leading UTF-8 BOM.  Lines longer than max_line and
 * events larger than max_event are an error, so a hostile peer cannot make
 * us buffer without bound.
 */

#ifndef MCP_LLM_SSE_H
#define MCP_LLM_SSE_H

#include <stddef.h>

#include "llm/mcp_llm_buf.h"

/* Return 0 to go on; anything else stops the feed and is returned by it. */
typedef int (*mcp_llm_sse_event_pt)(void *ctx, const char *event,
    const char *data, size_t len);

typedef struct {
    mcp_llm_sse_event_pt  on_event;
    void                 *ctx;
    size_t                max_line;    /* 0: 1 MiB */
    size_t                max_event;   /* 0: 16 MiB */

    mcp_llm_buf_t         line;        /* a line cut by a feed boundary */
    mcp_llm_buf_t         data;
    mcp_llm_buf_t         event;
    unsigned              has_data:1;
    unsigned              skip_lf:1;   /* previous feed ended in CR */
    unsigned              bom_checked:1;
    size_t                bom_seen;    /* BOM bytes matched so far */
} mcp_llm_sse_t;

#define MCP_LLM_SSE_ERR_TOO_LARGE  (-2)
#define MCP_LLM_SSE_ERR_NOMEM      (-3)

void mcp_llm_sse_init(mcp_llm_sse_t *p, mcp_llm_sse_event_pt on_event,
    void *ctx);
/* 0, a callback's non-zero result, or MCP_LLM_SSE_ERR_* */
int mcp_llm_sse_feed(mcp_llm_sse_t *p, const char *buf, size_t len);
/*
 * End of stream.  A last event whose lines were complete but that lacked
 * the closing blank line is dispatched (servers that close right after
 * "data: [DONE]\n" are common); a half line is dropped.
 */
int mcp_llm_sse_finish(mcp_llm_sse_t *p);
void mcp_llm_sse_free(mcp_llm_sse_t *p);

#endif /* MCP_LLM_SSE_H */
