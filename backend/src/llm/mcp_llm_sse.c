/* Incremental SSE parser: see mcp_llm_sse.h for the grammar accepted. */

#include <string.h>

#include "llm/mcp_llm_sse.h"

#define SSE_DEFAULT_MAX_LINE   (1u << 20)
#define SSE_DEFAULT_MAX_EVENT  (16u << 20)

void
mcp_llm_sse_init(mcp_llm_sse_t *p, mcp_llm_sse_event_pt on_event, void *ctx)
{
    memset(p, 0, sizeof(*p));
    p->on_event = on_event;
    p->ctx = ctx;
    p->max_line = SSE_DEFAULT_MAX_LINE;
    p->max_event = SSE_DEFAULT_MAX_EVENT;
}

void
mcp_llm_sse_free(mcp_llm_sse_t *p)
{
    mcp_llm_buf_free(&p->line);
    mcp_llm_buf_free(&p->data);
    mcp_llm_buf_free(&p->event);
}

static int
sse_dispatch(mcp_llm_sse_t *p)
{
    int          rc;
    const char  *name;

    if (!p->has_data) {
        /* an event with no data line is not dispatched (spec) */
        mcp_llm_buf_clear(&p->event);
        return 0;
    }

    name = p->event.len ? p->event.data : "message";
    rc = p->on_event(p->ctx, name, mcp_llm_buf_cstr(&p->data), p->data.len);

    mcp_llm_buf_clear(&p->data);
    mcp_llm_buf_clear(&p->event);
    p->has_data = 0;
    return rc;
}

/* One complete line without its terminator. */
static int
sse_line(mcp_llm_sse_t *p, const char *s, size_t n)
{
    const char  *colon, *val;
    size_t       flen, vlen;

    if (n == 0) {
        return sse_dispatch(p);
    }

    if (s[0] == ':') {
        return 0;                           /* comment / keep-alive */
    }

    colon = memchr(s, ':', n);
    if (colon) {
        flen = (size_t) (colon - s);
        val = colon + 1;
        vlen = n - flen - 1;
        if (vlen && *val == ' ') {
            val++;
            vlen--;
        }

    } else {
        flen = n;
        val = "";
        vlen = 0;
    }

    if (flen == 4 && memcmp(s, "data", 4) == 0) {
        if (p->data.len + vlen + 1 > p->max_event) {
            return MCP_LLM_SSE_ERR_TOO_LARGE;
        }
        if (p->has_data && mcp_llm_buf_append(&p->data, "\n", 1) != 0) {
            return MCP_LLM_SSE_ERR_NOMEM;
        }
        if (mcp_llm_buf_append(&p->data, val, vlen) != 0) {
            return MCP_LLM_SSE_ERR_NOMEM;
        }
        p->has_data = 1;
        return 0;
    }

    if (flen == 5 && memcmp(s, "event", 5) == 0) {
        mcp_llm_buf_clear(&p->event);
        if (mcp_llm_buf_append(&p->event, val, vlen) != 0) {
            return MCP_LLM_SSE_ERR_NOMEM;
        }
        return 0;
    }

    return 0;                               /* id, retry, unknown: ignored */
}

/* Skip a leading UTF-8 BOM, which may itself be split across feeds. */
static size_t
sse_skip_bom(mcp_llm_sse_t *p, const char *buf, size_t len)
{
    static const unsigned char  bom[3] = { 0xEF, 0xBB, 0xBF };
    size_t                      i = 0;

    while (!p->bom_checked && i < len) {
        if ((unsigned char) buf[i] != bom[p->bom_seen]) {
            p->bom_checked = 1;
            if (p->bom_seen) {
                /* a partial BOM that was not one: keep those bytes */
                mcp_llm_buf_append(&p->line, (const char *) bom, p->bom_seen);
            }
            break;
        }
        i++;
        if (++p->bom_seen == 3) {
            p->bom_checked = 1;
        }
    }

    return i;
}

static const char *
sse_find_eol(const char *s, size_t n)
{
    const char  *lf, *cr;

    /* memchr twice is faster than a byte loop on long data lines */
    lf = memchr(s, '\n', n);
    cr = memchr(s, '\r', lf ? (size_t) (lf - s) : n);

    return cr ? cr : lf;
}

int
mcp_llm_sse_feed(mcp_llm_sse_t *p, const char *buf, size_t len)
{
    const char  *s, *end, *eol;
    size_t       n;
    int          rc;

    s = buf + sse_skip_bom(p, buf, len);
    end = buf + len;

    if (p->skip_lf && s < end) {
        if (*s == '\n') {
            s++;
        }
        p->skip_lf = 0;
    }

    while (s < end) {
        eol = sse_find_eol(s, (size_t) (end - s));
        if (eol == NULL) {
            n = (size_t) (end - s);
            if (p->line.len + n > p->max_line) {
                return MCP_LLM_SSE_ERR_TOO_LARGE;
            }
            if (mcp_llm_buf_append(&p->line, s, n) != 0) {
                return MCP_LLM_SSE_ERR_NOMEM;
            }
            return 0;
        }

        n = (size_t) (eol - s);
        if (p->line.len) {
            if (p->line.len + n > p->max_line) {
                return MCP_LLM_SSE_ERR_TOO_LARGE;
            }
            if (mcp_llm_buf_append(&p->line, s, n) != 0) {
                return MCP_LLM_SSE_ERR_NOMEM;
            }
            rc = sse_line(p, p->line.data, p->line.len);
            mcp_llm_buf_clear(&p->line);

        } else {
            if (n > p->max_line) {
                return MCP_LLM_SSE_ERR_TOO_LARGE;
            }
            rc = sse_line(p, s, n);
        }

        s = eol + 1;
        if (*eol == '\r') {
            if (s < end) {
                if (*s == '\n') {
                    s++;
                }
            } else {
                p->skip_lf = 1;
            }
        }

        if (rc != 0) {
            return rc;
        }
    }

    return 0;
}

int
mcp_llm_sse_finish(mcp_llm_sse_t *p)
{
    mcp_llm_buf_clear(&p->line);
    return sse_dispatch(p);
}
