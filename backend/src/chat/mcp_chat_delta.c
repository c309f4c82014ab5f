/*
 * Streamed text deltas, the frame a chat turn sends most (one per token
 * with a real provider), written without a jansson tree in the plain case.
 * The frames of every other kind go through mcp_chat_emit (mcp_chat.c).
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat/mcp_chat_int.h"
#include "mcp_utf8.h"
#include "util/mcp_json_str.h"


/*
 * The frame of one streamed text delta, as mcp_session_reply would write
 * it (jansson's compact dump of {"request_id", "status", "chunk"}), at out
 * (MCP_CHAT_DELTA_MAX bytes); text must be valid UTF-8.  Returns its length.
 */
size_t
mcp_chat_delta_frame(char *out, const char *rid, const char *text, size_t len,
    int hop)
{
    static const char  a[] = "{\"request_id\":";
    static const char  b[] = ",\"status\":\"chunk\",\"chunk\":"
                             "{\"type\":\"text\",\"data\":";
    size_t             n = 0;

    memcpy(out, a, sizeof(a) - 1);
    n += sizeof(a) - 1;
    n += mcp_json_str_write(out + n, rid, strlen(rid));
    memcpy(out + n, b, sizeof(b) - 1);
    n += sizeof(b) - 1;
    n += mcp_json_str_write(out + n, text, len);
    n += (size_t) sprintf(out + n, ",\"metadata\":{\"type\":\"delta\","
                          "\"hop\":%d}}}", hop);
    return n;
}


/*
 * A streamed text delta: the frame a turn sends most (one per token with a
 * real provider).  In the plain case (one receiver, nothing held, valid
 * UTF-8) its bytes go straight to the session instead of through a jansson
 * tree built to be dumped at once; otherwise it takes mcp_chat_emit's way.
 */
void
mcp_chat_emit_delta(mcp_chat_req_t *r, const char *text, size_t len)
{
    char    small[1024], *buf;
    size_t  need;

    if (r->nlisteners == 0 && mcp_session_is_open(r->s)
        && json_array_size(r->out) == 0 && !mcp_session_paused(r->s)
        && mcp_utf8_valid((const uint8_t *) text, len))
    {
        need = MCP_CHAT_DELTA_MAX(strlen(r->rid), len);
        buf = need <= sizeof(small) ? small : malloc(need);
        if (buf != NULL) {
            (void) mcp_session_send_text(r->s, buf,
                                         mcp_chat_delta_frame(buf, r->rid,
                                                              text, len,
                                                              r->hop));
            if (buf != small) {
                free(buf);
            }
            return;
        }
    }
    mcp_chat_emit(r, "chunk", json_pack("{s:s, s:o, s:{s:s, s:i}}",
                  "type", "text", "data", mcp_chat_text_json(text, len),
                  "metadata", "type", "delta", "hop", r->hop));
}
