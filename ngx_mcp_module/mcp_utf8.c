/*
 * Streaming UTF-8 validator.  See mcp_utf8.h.
 *
 * State layout while inside a code point: bits 16..17 hold how many
 * continuation bytes are still due, bits 8..15 and 0..7 the lowest and
 * highest value the next byte may take.  Narrowing the range of the first
 * continuation byte is what rejects overlong forms (E0 80..9F, F0 80..8F),
 * UTF-16 surrogates (ED A0..BF) and code points past U+10FFFF (F4 90..),
 * all at the first byte that makes the sequence impossible.
 */

#include <string.h>

#include "mcp_utf8.h"

#define MCP_UTF8_STATE(need, lo, hi)                                          \
    (((uint32_t) (need) << 16) | ((uint32_t) (lo) << 8) | (uint32_t) (hi))


static uint32_t
mcp_utf8_lead(uint8_t b)
{
    if (b >= 0xc2 && b <= 0xdf) {
        return MCP_UTF8_STATE(1, 0x80, 0xbf);
    }

    if (b == 0xe0) {
        return MCP_UTF8_STATE(2, 0xa0, 0xbf);
    }

    if (b == 0xed) {
        return MCP_UTF8_STATE(2, 0x80, 0x9f);
    }

    if (b >= 0xe1 && b <= 0xef) {
        return MCP_UTF8_STATE(2, 0x80, 0xbf);
    }

    if (b == 0xf0) {
        return MCP_UTF8_STATE(3, 0x90, 0xbf);
    }

    if (b >= 0xf1 && b <= 0xf3) {
        return MCP_UTF8_STATE(3, 0x80, 0xbf);
    }

    if (b == 0xf4) {
        return MCP_UTF8_STATE(3, 0x80, 0x8f);
    }

    /* 0x80..0xc1 (stray continuation, overlong 2-byte lead), 0xf5..0xff */
    return MCP_UTF8_REJECT;
}


uint32_t
mcp_utf8_feed(uint32_t state, const uint8_t *p, size_t len, size_t *bad)
{
    size_t    i = 0;
    uint8_t   b;
    uint32_t  need, lo, hi;
    uint64_t  word;

    if (state == MCP_UTF8_REJECT) {
        if (bad) {
            *bad = 0;
        }
        return state;
    }

    while (i < len) {

        if (state == MCP_UTF8_ACCEPT) {
            /* ASCII runs are the common case: skip them 8 bytes at a time */
            while (len - i >= 8) {
                memcpy(&word, p + i, 8);
                if (word & 0x8080808080808080ull) {
                    break;
                }
                i += 8;
            }

            if (i == len) {
                break;
            }

            b = p[i];

            if (b < 0x80) {
                i++;
                continue;
            }

            state = mcp_utf8_lead(b);

            if (state == MCP_UTF8_REJECT) {
                if (bad) {
                    *bad = i;
                }
                return state;
            }

            i++;
            continue;
        }

        b = p[i];
        need = state >> 16;
        lo = (state >> 8) & 0xff;
        hi = state & 0xff;

        if (b < lo || b > hi) {
            if (bad) {
                *bad = i;
            }
            return MCP_UTF8_REJECT;
        }

        need--;
        state = need ? MCP_UTF8_STATE(need, 0x80, 0xbf) : MCP_UTF8_ACCEPT;
        i++;
    }

    return state;
}


int
mcp_utf8_valid(const uint8_t *p, size_t len)
{
    return mcp_utf8_feed(MCP_UTF8_ACCEPT, p, len, NULL) == MCP_UTF8_ACCEPT;
}
