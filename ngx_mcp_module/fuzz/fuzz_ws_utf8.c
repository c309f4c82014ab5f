/*
 * Fuzz the streaming UTF-8 validator: any split of the input must give the
 * same verdict as one pass, and a rejection must point inside the piece.
 */

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "mcp_utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint32_t  whole, st = MCP_UTF8_ACCEPT;
    size_t    off = 0, piece, bad, cut;

    if (size < 1) {
        return 0;
    }

    cut = (size_t) data[0] % 7 + 1;
    data++;
    size--;

    whole = mcp_utf8_feed(MCP_UTF8_ACCEPT, data, size, NULL);

    while (off < size) {
        piece = size - off < cut ? size - off : cut;
        bad = (size_t) -1;
        st = mcp_utf8_feed(st, data + off, piece, &bad);
        if (st == MCP_UTF8_REJECT) {
            if (bad >= piece) {
                abort();
            }
            break;
        }
        off += piece;
    }

    if ((whole == MCP_UTF8_REJECT) != (st == MCP_UTF8_REJECT)) {
        abort();
    }

    if (whole != MCP_UTF8_REJECT && whole != st) {
        abort();
    }

    return 0;
}
