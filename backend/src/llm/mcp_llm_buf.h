/*
 * A growable byte buffer for the provider layer: appends double the
 * capacity, so building a string from many fragments (streamed tool-call
 * arguments, SSE data lines) costs amortised O(total), never O(n^2).
 * Always NUL-terminated when non-empty, so it can be handed to JSON parsers
 * and printf.  A hard cap turns hostile input into an error, not OOM.
 */

#ifndef MCP_LLM_BUF_H
#define MCP_LLM_BUF_H

#include <stdlib.h>
#include <string.h>

typedef struct {
    char    *data;
    size_t   len;
    size_t   cap;
} mcp_llm_buf_t;

static inline int
mcp_llm_buf_reserve(mcp_llm_buf_t *b, size_t extra)
{
    size_t  need, cap;
    char   *p;

    if (extra > ((size_t) -1) / 2 - b->len) {
        return -1;
    }

    need = b->len + extra + 1;
    if (need <= b->cap) {
        return 0;
    }

    cap = b->cap ? b->cap : 64;
    while (cap < need) {
        cap *= 2;
    }

    p = realloc(b->data, cap);
    if (p == NULL) {
        return -1;
    }

    b->data = p;
    b->cap = cap;
    return 0;
}

static inline int
mcp_llm_buf_append(mcp_llm_buf_t *b, const char *s, size_t n)
{
    if (mcp_llm_buf_reserve(b, n) != 0) {
        return -1;
    }

    if (n) {
        memcpy(b->data + b->len, s, n);
    }
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

static inline int
mcp_llm_buf_append_str(mcp_llm_buf_t *b, const char *s)
{
    return mcp_llm_buf_append(b, s, strlen(s));
}

static inline const char *
mcp_llm_buf_cstr(const mcp_llm_buf_t *b)
{
    return b->data ? b->data : "";
}

static inline void
mcp_llm_buf_clear(mcp_llm_buf_t *b)
{
    b->len = 0;
    if (b->data) {
        b->data[0] = '\0';
    }
}

static inline void
mcp_llm_buf_free(mcp_llm_buf_t *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

#endif /* MCP_LLM_BUF_H */
