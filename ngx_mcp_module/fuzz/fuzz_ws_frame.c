/*
 * Fuzz the WebSocket frame parser as the module drives it: the input is
 * cut into reads at sizes taken from its first bytes, and every event must
 * stay inside the buffer, respect the limits and agree with a one-piece
 * parse of the same bytes.  Any crash or sanitizer report is a bug.
 */

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mcp_utf8.h"
#include "mcp_ws_frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_MESSAGE  4096

typedef struct {
    uint64_t  events;
    uint64_t  bytes;
    int       rc;
    uint16_t  code;
} summary_t;

static void
parse(const uint8_t *in, size_t size, const uint8_t *cuts, size_t ncuts,
    int mask, summary_t *out)
{
    uint8_t          *buf;
    mcp_ws_parser_t   p;
    mcp_ws_event_t    ev;
    size_t            off = 0, piece, used, k = 0;
    uint64_t          msg = 0;
    int               rc = MCP_WS_AGAIN;

    buf = malloc(size ? size : 1);
    if (buf == NULL) {
        abort();
    }
    memcpy(buf, in, size);
    mcp_ws_parser_init(&p, MAX_MESSAGE, mask);
    memset(out, 0, sizeof(*out));

    while (off < size) {
        piece = ncuts ? (size_t) cuts[k++ % ncuts] + 1 : size;
        if (piece > size - off) {
            piece = size - off;
        }

        while (piece) {
            rc = mcp_ws_parse(&p, buf + off, piece, &used, &ev);
            if (used > piece) {
                abort();
            }
            off += used;
            piece -= used;

            if (rc != MCP_WS_EVENT) {
                break;
            }

            out->events++;
            out->bytes += ev.len;

            if (ev.data != NULL && ev.len
                && !(ev.data >= buf && ev.data + ev.len <= buf + size)
                && !(ev.data >= p.ctl && ev.data + ev.len <= p.ctl + 125))
            {
                abort();
            }

            if (ev.opcode == MCP_WS_OP_TEXT || ev.opcode == MCP_WS_OP_BINARY) {
                msg = ev.first ? ev.len : msg + ev.len;
                if (msg > MAX_MESSAGE) {
                    abort();
                }
            }

            if (ev.opcode == MCP_WS_OP_CLOSE && ev.reason_len
                && !mcp_utf8_valid(ev.reason, ev.reason_len))
            {
                abort();
            }
        }

        if (rc == MCP_WS_ERROR) {
            break;
        }
    }

    out->rc = rc;
    out->code = p.close_code;
    free(buf);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    summary_t  whole, split;
    size_t     ncuts;

    if (size < 2) {
        return 0;
    }

    /* first byte: how many of the following bytes are read sizes */
    ncuts = data[0] & 7;
    if (size < 1 + ncuts) {
        return 0;
    }

    parse(data + 1 + ncuts, size - 1 - ncuts, NULL, 0, 1, &whole);
    parse(data + 1 + ncuts, size - 1 - ncuts, data + 1, ncuts, 1, &split);

    /* the split never changes the verdict or the bytes delivered */
    if (whole.rc == MCP_WS_ERROR || split.rc == MCP_WS_ERROR) {
        if (whole.rc != split.rc || whole.code != split.code) {
            abort();
        }
    } else if (whole.bytes != split.bytes) {
        abort();
    }

    /* unmasked frames allowed: exercises the other branch */
    parse(data + 1 + ncuts, size - 1 - ncuts, data + 1, ncuts, 0, &split);

    return 0;
}
