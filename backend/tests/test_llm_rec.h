/*
 * Test helpers for provider response interpretation: a recorder of the
 * stream's callbacks, and a run of an SSE text through a stream in
 * pieces of any size.
 */

#ifndef TEST_LLM_REC_H
#define TEST_LLM_REC_H

#include <stdio.h>
#include <string.h>

#include "llm/mcp_llm_stream.h"

typedef struct {
    char  text[4096];
    char  tools[4096];              /* <id:name:arguments> each */
    int   usage_calls;
    int   tool_calls;
} rec_t;

static void
on_text(void *ctx, const char *t, size_t len)
{
    rec_t  *r = ctx;

    strncat(r->text, t, len);
}

static void
on_tool(void *ctx, const mcp_llm_tool_call_t *c)
{
    rec_t  *r = ctx;
    size_t  n = strlen(r->tools);

    snprintf(r->tools + n, sizeof(r->tools) - n, "<%s:%s:%s>",
             mcp_llm_buf_cstr(&c->id), mcp_llm_buf_cstr(&c->name),
             mcp_llm_buf_cstr(&c->arguments));
    r->tool_calls++;
}

static void
on_usage(void *ctx, const mcp_llm_usage_t *u)
{
    rec_t  *r = ctx;

    r->usage_calls++;
}

static const mcp_llm_stream_cb_t  rec_cbs = { on_text, on_tool, on_usage };

/*
 * Run text through a fresh stream in pieces of `step` bytes, every event
 * by jansson if no_scan; then its end, unless it failed.  Returns the
 * error.  The caller frees s.
 */
static mcp_llm_err_e
rec_run(const char *text, size_t step, int no_scan, rec_t *r,
    mcp_llm_stream_t *s)
{
    size_t  len = strlen(text), off, n;

    memset(r, 0, sizeof(*r));
    mcp_llm_stream_init(s, &rec_cbs, r);
    s->no_scan = no_scan;
    for (off = 0; off < len; off += n) {
        n = len - off < step ? len - off : step;
        if (mcp_llm_stream_feed(s, text + off, n) != 0) {
            return s->err;
        }
    }
    mcp_llm_stream_end(s);
    return s->err;
}

#endif /* TEST_LLM_REC_H */
