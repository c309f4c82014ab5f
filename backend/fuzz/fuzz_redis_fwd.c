/*
 * Fuzz what an instance reads from another through Redis pub/sub: the
 * forwarding message decoder, and the final-frame test on the frame text
 * it carries; a decoded message must encode and decode to the same.
 */

#include "redis/mcp_redis_fwd_codec.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mcp_fwd_msg_t  m, again;
    char           rid[129], *enc;
    size_t         len;

    if (mcp_fwd_decode((const char *) data, size, &m) == 0) {
        if (m.text != NULL) {
            (void) mcp_fwd_frame_final(m.text, m.len, rid, sizeof(rid));
        }
        enc = mcp_fwd_encode(&m, &len);
        if (enc != NULL) {
            if (mcp_fwd_decode(enc, len, &again) != 0
                || again.kind != m.kind || again.sid != m.sid
                || again.seq != m.seq || strcmp(again.from, m.from) != 0
                || again.len != m.len
                || (m.len > 0 && memcmp(again.text, m.text, m.len) != 0))
            {
                abort();
            }
            mcp_fwd_msg_clear(&again);
            free(enc);
        }
    }
    mcp_fwd_msg_clear(&m);
    (void) mcp_fwd_frame_final((const char *) data, size, rid, sizeof(rid));
    return 0;
}
