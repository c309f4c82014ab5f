/*
 * Forwarding between instances, the pure part: key and channel names, and
 * the messages instances send each other through Redis pub/sub (one JSON
 * object per PUBLISH).  No libuv, no hiredis: unit-tested on its own.
 *
 *   req    asker -> home   one client message to run on the remote
 *                          session (from, sid); created on first use
 *   close  asker -> home   the client went away or needs nothing more:
 *                          the remote session ends (running work stops)
 *   frame  home -> asker   one frame for the client, numbered from 0 per
 *                          remote session so a lost one is noticed
 *   alive  home -> asker   the remote session still exists (sent every
 *                          heartbeat_interval while it does)
 *   gone   home -> asker   the remote session ended on the home's side
 *   flow   asker -> home   the client is slow (paused) or reads again: the
 *                          remote session is paused or resumed, so the
 *                          home holds its frames and pauses its producers
 *                          as it would for a client of its own
 *   ack    asker -> home   the bytes of frames the asker has passed on to
 *                          its client so far: the home keeps at most a
 *                          window (mcp_fwd_window()) of them on the way
 */

#ifndef MCP_REDIS_FWD_CODEC_H
#define MCP_REDIS_FWD_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

typedef enum {
    MCP_FWD_REQ = 1,
    MCP_FWD_CLOSE,
    MCP_FWD_FRAME,
    MCP_FWD_ALIVE,
    MCP_FWD_GONE,
    MCP_FWD_FLOW,
    MCP_FWD_ACK
} mcp_fwd_kind_e;

typedef struct {
    mcp_fwd_kind_e   kind;
    const char      *from;        /* the sending instance */
    uint64_t         sid;         /* the asker's number for the route */
    uint64_t         seq;         /* frame: its number in the route */
    const char      *principal;   /* req: whose request it is */
    const char      *send_buffer; /* req: the asking client's
                                     mcp_send_buffer_size (the module's
                                     OPEN attribute), NULL if unknown */
    int              acks;        /* req: the asker sends acks; an older
                                     one does not, and its home keeps no
                                     window for it */
    int              paused;      /* flow: 1 pause, 0 resume */
    uint64_t         bytes;       /* ack: frame bytes passed on, in all */
    const char      *text;        /* req: client message; frame: frame */
    size_t           len;
    json_t          *doc;         /* decode: owns the strings above */
} mcp_fwd_msg_t;

/* JSON text (malloc'd, *len set), or NULL (out of memory, bad kind). */
char *mcp_fwd_encode(const mcp_fwd_msg_t *m, size_t *len);
/* 0, or -1 for anything malformed; then call mcp_fwd_msg_clear(). */
int mcp_fwd_decode(const char *buf, size_t len, mcp_fwd_msg_t *m);
void mcp_fwd_msg_clear(mcp_fwd_msg_t *m);

/*
 * A frame for the client: 1 if it is the last one of its request
 * (status complete or error), with its request_id copied into rid; 0 if
 * not; -1 if it is not a frame at all.
 */
int mcp_fwd_frame_final(const char *text, size_t len, char *rid,
    size_t size);

/*
 * The frame bytes a home may have on their way to an asker's client (sent,
 * not yet acknowledged): a quarter of that client's mcp_send_buffer_size
 * (send_buffer: the module's OPEN attribute, forwarded with each request;
 * NULL or bad: the directive's default, 1m), at least 64 KiB.  What is on
 * its way when a FLOW pause reaches the home then fits in what the module
 * takes after asking for the pause.  The asker acknowledges every quarter
 * window.
 */
uint64_t mcp_fwd_window(const char *send_buffer);

/* Names, each prefix + a part; -1 when buf is too small. */
int mcp_fwd_channel(char *buf, size_t size, const char *prefix,
    const char *instance);
int mcp_fwd_home_key(char *buf, size_t size, const char *prefix,
    const char *conv);
int mcp_fwd_lock_key(char *buf, size_t size, const char *prefix,
    const char *conv);
/* A conversation-less chat's request id (its principal is part of it). */
int mcp_fwd_request_key(char *buf, size_t size, const char *prefix,
    const char *principal, const char *rid);

#endif /* MCP_REDIS_FWD_CODEC_H */
