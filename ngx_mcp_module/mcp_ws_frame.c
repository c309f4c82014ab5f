/*
 * RFC 6455 frame parser and serializer.  See mcp_ws_frame.h.
 */

#include <string.h>

#include "mcp_utf8.h"
#include "mcp_ws_frame.h"

enum {
    MCP_WS_ST_HDR = 0,
    MCP_WS_ST_PAYLOAD,
    MCP_WS_ST_CONTROL,
    MCP_WS_ST_DEAD
};


void
mcp_ws_parser_init(mcp_ws_parser_t *p, uint64_t max_message, int require_mask)
{
    memset(p, 0, sizeof(*p));
    p->max_message = max_message;
    p->require_mask = require_mask ? 1 : 0;
    p->hdr_need = 2;
}


static int
mcp_ws_fail(mcp_ws_parser_t *p, uint16_t code, const char *error)
{
    p->state = MCP_WS_ST_DEAD;
    p->close_code = code;
    p->error = error;

    return MCP_WS_ERROR;
}


void
mcp_ws_unmask(uint8_t *p, size_t len, const uint8_t mask[4], unsigned off)
{
    size_t    i = 0;
    uint8_t   rot[8];
    uint64_t  m, w;

    if (len >= 16) {
        /* the mask rotated to the current phase, repeated over a word */
        for (i = 0; i < 8; i++) {
            rot[i] = mask[(off + i) & 3];
        }
        memcpy(&m, rot, 8);

        for (i = 0; len - i >= 8; i += 8) {
            memcpy(&w, p + i, 8);
            w ^= m;
            memcpy(p + i, &w, 8);
        }
    }

    for ( /* void */ ; i < len; i++) {
        p[i] ^= mask[(off + i) & 3];
    }
}


static int
mcp_ws_is_control(unsigned opcode)
{
    return (opcode & 0x8) != 0;
}


/* The first two header bytes are in: check them and size the rest. */
static int
mcp_ws_header_start(mcp_ws_parser_t *p)
{
    uint8_t   b0 = p->hdr[0], b1 = p->hdr[1];
    unsigned  len7;

    p->fin = b0 >> 7;
    p->opcode = b0 & 0x0f;
    p->masked = b1 >> 7;
    len7 = b1 & 0x7f;

    if (b0 & 0x70) {
        return mcp_ws_fail(p, MCP_WS_CLOSE_PROTOCOL,
                           "RSV bit set without a negotiated extension");
    }

    switch (p->opcode) {
    case MCP_WS_OP_CONT:
    case MCP_WS_OP_TEXT:
    case MCP_WS_OP_BINARY:
    case MCP_WS_OP_CLOSE:
    case MCP_WS_OP_PING:
    case MCP_WS_OP_PONG:
        break;
    default:
        return mcp_ws_fail(p, MCP_WS_CLOSE_PROTOCOL, "reserved opcode");
    }

    if (mcp_ws_is_control(p->opcode)) {
        if (!p->fin) {
            return mcp_ws_fail(p, MCP_WS_CLOSE_PROTOCOL,
                               "fragmented control frame");
        }

        if (len7 > MCP_WS_CONTROL_MAX) {
            return mcp_ws_fail(p, MCP_WS_CLOSE_PROTOCOL,
                               "control frame longer than 125 bytes");
        }
    }

    if (!p->masked && p->require_mask) {
        return mcp_ws_fail(p, MCP_WS_CLOSE_PROTOCOL, "unmasked client frame");
    }

    p->hdr_need = 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0)
                  + (p->masked ? 4 : 0);

    return MCP_WS_AGAIN;
}


/* The whole header is in: decode the length and check message state. */
static int
mcp_ws_header_done(mcp_ws_parser_t *p)
{
    unsigned  len7 = p->hdr[1] & 0x7f, i, off = 2;
    uint64_t  len = len7;

    if (len7 == 126) {
        len = ((uint64_t) p->hdr[2] << 8) | p->hdr[3];
        off = 4;

        if (len < 126) {
            return mcp_ws_fail(p, MCP_WS_CLOSE_PROTOCOL,
                               "length not minimally encoded");
        }

    } else if (len7 == 127) {
        len = 0;
        for (i = 0; i < 8; i++) {
            len = (len << 8) | p->hdr[2 + i];
        }
        off = 10;

        if (len >> 63) {
            return mcp_ws_fail(p, MCP_WS_CLOSE_PROTOCOL,
                               "64-bit length with the top bit set");
        }

        if (len <= 0xffff) {
            return mcp_ws_fail(p, MCP_WS_CLOSE_PROTOCOL,
                               "length not minimally encoded");
        }
    }

    if (p->masked) {
        memcpy(p->mask, p->hdr + off, 4);
    }

    p->frame_len = len;
    p->frame_done = 0;
    p->mask_off = 0;

    if (mcp_ws_is_control(p->opcode)) {
        p->ctl_len = 0;
        p->state = MCP_WS_ST_CONTROL;
        return MCP_WS_AGAIN;
    }

    if (p->opcode == MCP_WS_OP_CONT) {
        if (p->msg_opcode == 0) {
            return mcp_ws_fail(p, MCP_WS_CLOSE_PROTOCOL,
                               "continuation frame without a message");
        }

    } else {
        if (p->msg_opcode != 0) {
            return mcp_ws_fail(p, MCP_WS_CLOSE_PROTOCOL,
                               "new data frame inside a fragmented message");
        }

        p->msg_opcode = p->opcode;
        p->msg_started = 0;
        p->msg_len = 0;
        p->utf8 = MCP_UTF8_ACCEPT;
    }

    /* checked before a single payload byte is buffered by anyone */
    if (p->max_message
        && (len > p->max_message || p->msg_len > p->max_message - len))
    {
        return mcp_ws_fail(p, MCP_WS_CLOSE_TOO_BIG,
                           "message exceeds mcp_max_message_size");
    }

    p->msg_len += len;
    p->state = MCP_WS_ST_PAYLOAD;

    return MCP_WS_AGAIN;
}


/* Hand out a data chunk (possibly empty) of the current frame. */
static int
mcp_ws_data_event(mcp_ws_parser_t *p, uint8_t *data, size_t n,
    mcp_ws_event_t *ev)
{
    size_t  bad;
    int     last;

    if (p->msg_opcode == MCP_WS_OP_TEXT) {
        p->utf8 = mcp_utf8_feed(p->utf8, data, n, &bad);
        if (p->utf8 == MCP_UTF8_REJECT) {
            return mcp_ws_fail(p, MCP_WS_CLOSE_BAD_DATA,
                               "text message is not valid UTF-8");
        }
    }

    p->frame_done += n;
    last = p->fin && p->frame_done == p->frame_len;

    if (last && p->msg_opcode == MCP_WS_OP_TEXT
        && p->utf8 != MCP_UTF8_ACCEPT)
    {
        return mcp_ws_fail(p, MCP_WS_CLOSE_BAD_DATA,
                           "text message ends inside a UTF-8 sequence");
    }

    memset(ev, 0, sizeof(*ev));
    ev->opcode = p->msg_opcode;
    ev->first = !p->msg_started;
    ev->last = last;
    ev->frame_end = p->frame_done == p->frame_len;
    ev->data = data;
    ev->len = n;
    ev->msg_size = p->msg_len;

    p->msg_started = 1;

    if (p->frame_done == p->frame_len) {
        p->state = MCP_WS_ST_HDR;
        p->hdr_have = 0;
        p->hdr_need = 2;

        if (p->fin) {
            p->msg_opcode = 0;
        }
    }

    return MCP_WS_EVENT;
}


/* A whole control frame is in ctl. */
static int
mcp_ws_control_event(mcp_ws_parser_t *p, mcp_ws_event_t *ev)
{
    memset(ev, 0, sizeof(*ev));
    ev->opcode = p->opcode;
    ev->data = p->ctl;
    ev->len = p->ctl_len;

    p->state = MCP_WS_ST_HDR;
    p->hdr_have = 0;
    p->hdr_need = 2;

    if (p->opcode != MCP_WS_OP_CLOSE) {
        return MCP_WS_EVENT;
    }

    if (p->ctl_len == 0) {
        ev->close_code = MCP_WS_CLOSE_NO_STATUS;
        return MCP_WS_EVENT;
    }

    if (p->ctl_len == 1) {
        return mcp_ws_fail(p, MCP_WS_CLOSE_PROTOCOL,
                           "close payload of one byte");
    }

    ev->close_code = (uint16_t) ((p->ctl[0] << 8) | p->ctl[1]);

    if (!mcp_ws_close_code_valid(ev->close_code)) {
        return mcp_ws_fail(p, MCP_WS_CLOSE_PROTOCOL, "invalid close code");
    }

    ev->reason = p->ctl + 2;
    ev->reason_len = p->ctl_len - 2;

    if (!mcp_utf8_valid(ev->reason, ev->reason_len)) {
        return mcp_ws_fail(p, MCP_WS_CLOSE_BAD_DATA,
                           "close reason is not valid UTF-8");
    }

    return MCP_WS_EVENT;
}


int
mcp_ws_parse(mcp_ws_parser_t *p, uint8_t *buf, size_t len, size_t *consumed,
    mcp_ws_event_t *ev)
{
    size_t    i = 0, n;
    uint64_t  left;
    int       rc;

    *consumed = 0;

    for ( ;; ) {

        switch (p->state) {

        case MCP_WS_ST_DEAD:
            return MCP_WS_ERROR;

        case MCP_WS_ST_HDR:
            while (p->hdr_have < p->hdr_need && i < len) {
                p->hdr[p->hdr_have++] = buf[i++];

                if (p->hdr_have == 2) {
                    rc = mcp_ws_header_start(p);
                    if (rc != MCP_WS_AGAIN) {
                        *consumed = i;
                        return rc;
                    }
                }
            }

            if (p->hdr_have < p->hdr_need) {
                *consumed = i;
                return MCP_WS_AGAIN;
            }

            rc = mcp_ws_header_done(p);
            if (rc != MCP_WS_AGAIN) {
                *consumed = i;
                return rc;
            }

            if (p->state == MCP_WS_ST_PAYLOAD && p->frame_len == 0) {
                /* an empty data frame still ends (or opens) a message */
                *consumed = i;
                if (!p->fin) {
                    if (p->msg_started) {
                        p->state = MCP_WS_ST_HDR;
                        p->hdr_have = 0;
                        p->hdr_need = 2;
                        break;
                    }
                }
                return mcp_ws_data_event(p, buf + i, 0, ev);
            }

            if (p->state == MCP_WS_ST_CONTROL && p->frame_len == 0) {
                *consumed = i;
                return mcp_ws_control_event(p, ev);
            }

            break;

        case MCP_WS_ST_PAYLOAD:
            left = p->frame_len - p->frame_done;
            n = len - i;
            if ((uint64_t) n > left) {
                n = (size_t) left;
            }

            if (n == 0) {
                *consumed = i;
                return MCP_WS_AGAIN;
            }

            if (p->masked) {
                mcp_ws_unmask(buf + i, n, p->mask, p->mask_off);
                p->mask_off = (uint8_t) ((p->mask_off + n) & 3);
            }

            *consumed = i + n;
            return mcp_ws_data_event(p, buf + i, n, ev);

        case MCP_WS_ST_CONTROL:
            n = len - i;
            if (n > p->frame_len - p->ctl_len) {
                n = (size_t) (p->frame_len - p->ctl_len);
            }

            memcpy(p->ctl + p->ctl_len, buf + i, n);
            if (p->masked) {
                mcp_ws_unmask(p->ctl + p->ctl_len, n, p->mask, p->ctl_len);
            }
            p->ctl_len += (uint8_t) n;
            i += n;

            *consumed = i;

            if (p->ctl_len < p->frame_len) {
                return MCP_WS_AGAIN;
            }

            return mcp_ws_control_event(p, ev);
        }
    }
}


int
mcp_ws_close_code_valid(unsigned code)
{
    if (code >= 1000 && code <= 1003) {
        return 1;
    }

    /* 1004 reserved, 1005/1006 never on the wire, 1015 TLS only */
    if (code >= 1007 && code <= 1014) {
        return 1;
    }

    return code >= 3000 && code <= 4999;
}


size_t
mcp_ws_frame_header(uint8_t *out, unsigned fin, unsigned opcode, uint64_t len)
{
    unsigned  i;

    out[0] = (uint8_t) ((fin ? 0x80 : 0) | (opcode & 0x0f));

    if (len < 126) {
        out[1] = (uint8_t) len;
        return 2;
    }

    if (len <= 0xffff) {
        out[1] = 126;
        out[2] = (uint8_t) (len >> 8);
        out[3] = (uint8_t) len;
        return 4;
    }

    out[1] = 127;
    for (i = 0; i < 8; i++) {
        out[2 + i] = (uint8_t) (len >> (56 - 8 * i));
    }

    return 10;
}


size_t
mcp_ws_close_payload(uint8_t *out, uint16_t code, const char *reason,
    size_t reason_len)
{
    size_t  max = MCP_WS_CONTROL_MAX - 2;

    out[0] = (uint8_t) (code >> 8);
    out[1] = (uint8_t) code;

    if (reason == NULL) {
        return 2;
    }

    if (reason_len > max) {
        reason_len = max;
        /* never cut a code point in two: back off continuation bytes */
        while (reason_len > 0
               && ((uint8_t) reason[reason_len] & 0xc0) == 0x80)
        {
            reason_len--;
        }
    }

    memcpy(out + 2, reason, reason_len);

    return 2 + reason_len;
}
