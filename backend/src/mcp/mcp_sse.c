/*
 * Incremental SSE parser (see mcp_sse.h).
 */

#include "mcp/mcp_sse.h"

#include <stdlib.h>
#include <string.h>


void
mcp_sse_init(mcp_sse_t *p, size_t max, mcp_sse_event_pt on_event, void *ctx)
{
    memset(p, 0, sizeof(*p));
    p->max = max ? max : 1 << 20;
    p->on_event = on_event;
    p->ctx = ctx;
    p->retry_ms = -1;
}


void
mcp_sse_free(mcp_sse_t *p)
{
    free(p->line);
    free(p->data);
    p->line = p->data = NULL;
    p->line_len = p->line_cap = p->data_len = p->data_cap = 0;
}


static int
mcp_sse_grow(char **buf, size_t *cap, size_t need)
{
    char    *nb;
    size_t   c = *cap ? *cap : 256;

    if (need <= *cap) {
        return 0;
    }
    while (c < need) {
        c *= 2;
    }
    nb = realloc(*buf, c);
    if (nb == NULL) {
        return -1;
    }
    *buf = nb;
    *cap = c;
    return 0;
}


static void
mcp_sse_dispatch(mcp_sse_t *p)
{
    if (p->has_fields && !p->overflow) {
        if (p->data_len > 0 && p->data[p->data_len - 1] == '\n') {
            p->data_len--;    /* the last data line's newline */
        }
        if (p->data) {
            p->data[p->data_len] = '\0';
        }
        p->on_event(p->ctx, p->event[0] ? p->event : "message",
                    p->data ? p->data : "", p->data_len);
    }
    p->data_len = 0;
    p->event[0] = '\0';
    p->has_fields = 0;
    p->overflow = 0;
}


static int
mcp_sse_field(mcp_sse_t *p, const char *line, size_t len)
{
    const char  *colon = memchr(line, ':', len);
    size_t       nlen = colon ? (size_t) (colon - line) : len;
    const char  *val = colon ? colon + 1 : line + len;
    size_t       vlen = colon ? len - nlen - 1 : 0;

    if (nlen == 0) {
        return 0;    /* a comment (keep-alive) */
    }
    if (vlen > 0 && *val == ' ') {
        val++;
        vlen--;
    }
    p->has_fields = 1;
    if (nlen == 4 && memcmp(line, "data", 4) == 0) {
        if (p->data_len + vlen + 2 > p->max) {
            p->overflow = 1;
            return 0;
        }
        if (mcp_sse_grow(&p->data, &p->data_cap, p->data_len + vlen + 2)) {
            return -1;
        }
        memcpy(p->data + p->data_len, val, vlen);
        p->data_len += vlen;
        p->data[p->data_len++] = '\n';
    } else if (nlen == 5 && memcmp(line, "event", 5) == 0) {
        if (vlen >= sizeof(p->event)) {
            vlen = sizeof(p->event) - 1;
        }
        memcpy(p->event, val, vlen);
        p->event[vlen] = '\0';
    } else if (nlen == 2 && memcmp(line, "id", 2) == 0) {
        if (vlen < sizeof(p->last_id) && !memchr(val, '\0', vlen)) {
            memcpy(p->last_id, val, vlen);
            p->last_id[vlen] = '\0';
        }
    } else if (nlen == 5 && memcmp(line, "retry", 5) == 0) {
        int64_t  v = 0;
        size_t   i;
        for (i = 0; i < vlen && i < 12; i++) {
            if (val[i] < '0' || val[i] > '9') {
                return 0;
            }
            v = v * 10 + (val[i] - '0');
        }
        if (vlen > 0 && vlen <= 12) {
            p->retry_ms = v;
        }
    }
    return 0;
}


static int
mcp_sse_line(mcp_sse_t *p, const char *line, size_t len)
{
    if (len > 0 && line[len - 1] == '\r') {
        len--;
    }
    if (len == 0) {
        mcp_sse_dispatch(p);
        return 0;
    }
    return mcp_sse_field(p, line, len);
}


int
mcp_sse_feed(mcp_sse_t *p, const char *buf, size_t len)
{
    const char  *nl;
    size_t       n;

    while (len > 0) {
        nl = memchr(buf, '\n', len);
        n = nl ? (size_t) (nl - buf) : len;

        if (p->line_len + n > p->max) {
            /* an absurd line: drop it and the event it belongs to */
            p->overflow = 1;
            p->has_fields = 1;
            p->line_len = 0;
            if (nl == NULL) {
                return 0;
            }
        } else if (nl && p->line_len == 0) {
            if (mcp_sse_line(p, buf, n) != 0) {
                return -1;
            }
        } else {
            if (mcp_sse_grow(&p->line, &p->line_cap, p->line_len + n + 1)) {
                return -1;
            }
            memcpy(p->line + p->line_len, buf, n);
            p->line_len += n;
            if (nl) {
                size_t  l = p->line_len;
                p->line_len = 0;
                if (mcp_sse_line(p, p->line, l) != 0) {
                    return -1;
                }
            }
        }
        if (nl == NULL) {
            break;
        }
        buf += n + 1;
        len -= n + 1;
    }
    return 0;
}
