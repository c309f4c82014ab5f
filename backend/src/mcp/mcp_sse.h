/*
 * Server-Sent Events for MCP's HTTP transports: incremental, cut anywhere,
 * with the fields resumption needs ("id" becomes Last-Event-ID, "retry"
 * the reconnect delay).  Line ends LF or CRLF.  An event with an empty
 * data field (the priming event of Streamable HTTP) is reported too, so
 * the caller learns its id; the caller ignores its empty data.
 */

#ifndef MCP_SSE_H
#define MCP_SSE_H

#include <stddef.h>
#include <stdint.h>

typedef void (*mcp_sse_event_pt)(void *ctx, const char *event,
    const char *data, size_t len);

typedef struct {
    mcp_sse_event_pt   on_event;
    void              *ctx;
    size_t             max;          /* longest line / event, bytes */
    char              *line;
    size_t             line_len, line_cap;
    char              *data;
    size_t             data_len, data_cap;
    char               event[64];
    int                has_fields;
    int                overflow;     /* an event was too large (dropped) */
    char               last_id[256]; /* last "id:" seen */
    int64_t            retry_ms;     /* last "retry:", -1 if none */
} mcp_sse_t;

void mcp_sse_init(mcp_sse_t *p, size_t max, mcp_sse_event_pt on_event,
    void *ctx);
/* 0, or -1 on ENOMEM */
int mcp_sse_feed(mcp_sse_t *p, const char *buf, size_t len);
void mcp_sse_free(mcp_sse_t *p);

#endif /* MCP_SSE_H */
