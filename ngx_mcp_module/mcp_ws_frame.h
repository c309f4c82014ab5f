/*
 * RFC 6455 framing: a resumable parser for client frames and a serializer
 * for server frames.  Pure C, no allocation, no I/O: the nginx module feeds
 * it whatever each read returned, and the unit tests and the fuzzer feed it
 * every possible split.
 *
 * The parser keeps all of its state in mcp_ws_parser_t (about 200 bytes),
 * so a connection needs no read buffer of its own between reads: a header,
 * extended length or masking key cut anywhere is collected here, payload
 * bytes are unmasked in place and handed out as chunks as soon as they
 * arrive.  Control frames (at most 125 bytes) are collected whole.
 *
 * Everything RFC 6455 makes a MUST for a server is checked, and the first
 * violation yields the close code to send:
 *   1002  RSV bits without a negotiated extension, reserved opcodes,
 *         unmasked client frames, control frames that are fragmented or
 *         longer than 125 bytes, a continuation with no message open, a new
 *         data frame while a fragmented message is open, a 64-bit length
 *         with the top bit set, a close payload of one byte, an invalid
 *         close code
 *   1007  text (and close reasons) that is not UTF-8, detected at the first
 *         bad byte, across fragments and reads
 *   1009  a message whose declared size exceeds max_message, detected from
 *         the frame header, before any payload byte is buffered
 */

#ifndef MCP_WS_FRAME_H
#define MCP_WS_FRAME_H

#include <stddef.h>
#include <stdint.h>

#define MCP_WS_OP_CONT      0x0
#define MCP_WS_OP_TEXT      0x1
#define MCP_WS_OP_BINARY    0x2
#define MCP_WS_OP_CLOSE     0x8
#define MCP_WS_OP_PING      0x9
#define MCP_WS_OP_PONG      0xa

#define MCP_WS_CONTROL_MAX  125
#define MCP_WS_HDR_MAX      14      /* client header: 2 + 8 + 4 */
#define MCP_WS_SRV_HDR_MAX  10      /* server header: never masked */

#define MCP_WS_CLOSE_NORMAL         1000
#define MCP_WS_CLOSE_GOING_AWAY     1001
#define MCP_WS_CLOSE_PROTOCOL       1002
#define MCP_WS_CLOSE_UNSUPPORTED    1003
#define MCP_WS_CLOSE_NO_STATUS      1005    /* never sent on the wire */
#define MCP_WS_CLOSE_ABNORMAL       1006    /* never sent on the wire */
#define MCP_WS_CLOSE_BAD_DATA       1007
#define MCP_WS_CLOSE_POLICY         1008
#define MCP_WS_CLOSE_TOO_BIG        1009
#define MCP_WS_CLOSE_INTERNAL       1011
#define MCP_WS_CLOSE_TRY_AGAIN      1013

/* mcp_ws_parse() results */
#define MCP_WS_AGAIN        0       /* all input consumed, nothing to report */
#define MCP_WS_EVENT        1       /* *ev is filled */
#define MCP_WS_ERROR        (-1)    /* p->close_code and p->error say why */

typedef struct {
    /* limits, set by the caller before the first call */
    uint64_t        max_message;    /* 0: no limit */
    unsigned        require_mask:1; /* client frames must be masked */

    /* the frame being read */
    uint8_t         state;
    uint8_t         hdr_have;
    uint8_t         hdr_need;
    uint8_t         fin;
    uint8_t         opcode;
    uint8_t         masked;
    uint8_t         mask_off;       /* mask phase of the next payload byte */
    uint8_t         hdr[MCP_WS_HDR_MAX];
    uint8_t         mask[4];
    uint64_t        frame_len;
    uint64_t        frame_done;

    /* the data message being read, possibly over several frames */
    uint8_t         msg_opcode;     /* TEXT or BINARY while open, else 0 */
    uint8_t         msg_started;    /* a chunk of it was handed out */
    uint32_t        utf8;
    uint64_t        msg_len;        /* declared so far, over its frames */

    /* a control frame is collected whole */
    uint8_t         ctl_len;
    uint8_t         ctl[MCP_WS_CONTROL_MAX];

    /* after MCP_WS_ERROR */
    uint16_t        close_code;
    const char     *error;
} mcp_ws_parser_t;

typedef struct {
    /*
     * TEXT or BINARY: a chunk of a data message (the message's opcode, also
     * for its continuation frames); PING, PONG or CLOSE: a whole control
     * frame.
     */
    uint8_t         opcode;
    unsigned        first:1;        /* data: first chunk of the message */
    unsigned        last:1;         /* data: the message ends here */
    unsigned        frame_end:1;    /* data: this frame ends here */
    const uint8_t  *data;           /* unmasked payload (points into buf) */
    size_t          len;
    uint64_t        msg_size;       /* data: declared size so far */

    /* CLOSE only: 1005 when the frame had no payload */
    uint16_t        close_code;
    const uint8_t  *reason;
    size_t          reason_len;
} mcp_ws_event_t;

void mcp_ws_parser_init(mcp_ws_parser_t *p, uint64_t max_message,
    int require_mask);

/*
 * Parse from buf (len bytes; unmasked in place).  Sets *consumed to the
 * bytes used.  Call again with the rest after MCP_WS_EVENT; after
 * MCP_WS_ERROR the stream is dead and the connection must be closed with
 * p->close_code.
 */
int mcp_ws_parse(mcp_ws_parser_t *p, uint8_t *buf, size_t len,
    size_t *consumed, mcp_ws_event_t *ev);

/* 1 if a peer may send this close code (RFC 6455 7.4, IANA registry). */
int mcp_ws_close_code_valid(unsigned code);

/* Write a server frame header (never masked); returns its length. */
size_t mcp_ws_frame_header(uint8_t *out, unsigned fin, unsigned opcode,
    uint64_t len);

/*
 * Write a close payload (code, then reason cut to fit 125 bytes at a code
 * point boundary); returns its length.  out must hold 125 bytes.
 */
size_t mcp_ws_close_payload(uint8_t *out, uint16_t code, const char *reason,
    size_t reason_len);

/* XOR len bytes with the mask, starting at mask phase off. */
void mcp_ws_unmask(uint8_t *p, size_t len, const uint8_t mask[4],
    unsigned off);

#endif /* MCP_WS_FRAME_H */
