/*
 * Fuzz the link codec as a receiver sees it: a byte stream cut into frames,
 * each payload decoded according to its type.  Any crash, overread or
 * undefined behaviour is a bug; malformed input must only return errors.
 */

#include <stddef.h>
#include <stdint.h>

#include "link/mcp_link_codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t            off = 0, need, pos, kl, vl;
    long              rc;
    mcp_link_frame_t  f;
    mcp_link_hello_t  h;
    uint16_t          code;
    const uint8_t    *k, *v;

    while (off < size) {
        rc = mcp_link_frame_parse(data + off, size - off, 4096, &f, &need);
        if (rc <= 0) {
            break;
        }

        switch (f.type) {
        case MCP_LINK_HELLO:
            (void) mcp_link_hello_read(f.payload, f.len, &h);
            break;
        case MCP_LINK_CLOSE:
            (void) mcp_link_close_read(f.payload, f.len, &code, &k, &kl);
            break;
        case MCP_LINK_OPEN:
            pos = 0;
            while (mcp_link_kv_next(f.payload, f.len, &pos, &k, &kl, &v, &vl)
                   == 1)
            {
                /* walk every pair */
            }
            (void) mcp_link_kv_find(f.payload, f.len, "addr", &v, &vl);
            break;
        default:
            break;
        }

        off += (size_t) rc;
    }

    return 0;
}
