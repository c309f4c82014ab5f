/*
 * The link codec: framing for the one multiplexed unix-socket connection
 * between each nginx worker and mcpd.  Pure C, no allocation, no I/O, so the
 * same file compiles into the nginx module and into mcpd and can be fuzzed
 * on its own.  docs/protocol.md is the specification; this is its code.
 *
 * Every frame is a fixed 16-byte header followed by `len` payload bytes:
 *
 *   offset 0  u32  len     payload length, big-endian
 *          4  u8   type    MCP_LINK_HELLO ... MCP_LINK_STATS
 *          5  u8   flags   MCP_LINK_F_* (meaning depends on type)
 *          6  u16  rsv     must be zero
 *          8  u64  sid     session id (0 for link-level frames), big-endian
 */

#ifndef MCP_LINK_CODEC_H
#define MCP_LINK_CODEC_H

#include <stddef.h>
#include <stdint.h>

#define MCP_LINK_VERSION        1
#define MCP_LINK_HDR_LEN        16
/* hard ceiling whatever the configured limit: a frame is never bigger */
#define MCP_LINK_MAX_PAYLOAD    (64u * 1024 * 1024)

typedef enum {
    MCP_LINK_HELLO   = 1,   /* version negotiation, both ways, sid 0 */
    MCP_LINK_OPEN    = 2,   /* module -> mcpd: a WebSocket session begins */
    MCP_LINK_MESSAGE = 3,   /* one whole text message, both ways */
    MCP_LINK_CLOSE   = 4,   /* session ends; u16 code + reason, both ways */
    MCP_LINK_FLOW    = 5,   /* pause/resume a session's producer, both ways */
    MCP_LINK_STATS   = 6    /* status request (module) / JSON reply (mcpd) */
} mcp_link_type_e;

#define MCP_LINK_TYPE_MAX       MCP_LINK_STATS

/* STATS: a request carries F_REQUEST, the reply F_REPLY; sid is the tag */
#define MCP_LINK_F_REQUEST      0x01
#define MCP_LINK_F_REPLY        0x02
/* a STATS request with this payload asks for Prometheus text, not JSON */
#define MCP_LINK_STATS_PROMETHEUS  "prometheus"
/* OPEN: this OPEN replays a session after the link reconnected */
#define MCP_LINK_F_REPLAY       0x04

/* FLOW payload: one byte */
#define MCP_LINK_FLOW_RESUME    0
#define MCP_LINK_FLOW_PAUSE     1

typedef struct {
    uint32_t        len;
    uint8_t         type;
    uint8_t         flags;
    uint64_t        sid;
    const uint8_t  *payload;    /* points into the caller's buffer */
} mcp_link_frame_t;

/* Result of mcp_link_frame_parse(). */
#define MCP_LINK_NEED_MORE      0
#define MCP_LINK_ERR_TYPE       (-1)
#define MCP_LINK_ERR_RSV        (-2)
#define MCP_LINK_ERR_TOO_BIG    (-3)

/*
 * Parse one frame from the start of buf.  Returns the number of bytes the
 * frame occupies (> 0) and fills *frame; or MCP_LINK_NEED_MORE and sets
 * *need to the total bytes required (header, then header + payload once the
 * header is known); or a negative MCP_LINK_ERR_* for a malformed stream,
 * after which the link must be dropped.
 */
long mcp_link_frame_parse(const uint8_t *buf, size_t len, uint32_t max_payload,
    mcp_link_frame_t *frame, size_t *need);

/* Write a header for a payload of len bytes; returns MCP_LINK_HDR_LEN. */
size_t mcp_link_hdr_write(uint8_t *out, uint8_t type, uint8_t flags,
    uint64_t sid, uint32_t len);

const char *mcp_link_type_name(uint8_t type);
const char *mcp_link_strerror(long rc);

/*
 * HELLO payload: u16 min_version, u16 max_version, u32 pid, u32 worker slot.
 * The reply (mcpd -> module) carries the chosen version as min == max.
 */
#define MCP_LINK_HELLO_LEN      12

typedef struct {
    uint16_t        min_version;
    uint16_t        max_version;
    uint32_t        pid;
    uint32_t        worker;
} mcp_link_hello_t;

size_t mcp_link_hello_write(uint8_t *out, const mcp_link_hello_t *h);
int mcp_link_hello_read(const uint8_t *p, size_t len, mcp_link_hello_t *h);

/* CLOSE payload: u16 code, then the UTF-8 reason (at most 123 bytes). */
#define MCP_LINK_CLOSE_REASON_MAX   123

size_t mcp_link_close_write(uint8_t *out, uint16_t code, const char *reason,
    size_t reason_len);
int mcp_link_close_read(const uint8_t *p, size_t len, uint16_t *code,
    const uint8_t **reason, size_t *reason_len);

/*
 * OPEN payload: a list of key/value pairs, each u16 key length, key bytes,
 * u32 value length, value bytes.  Keys in use: "addr" (client address),
 * "principal", "uri", "h:<lowercase header name>", "q:<query arg>".
 */
size_t mcp_link_kv_size(size_t klen, size_t vlen);
/* Append a pair at *pos; returns 0, or -1 when it does not fit in cap. */
int mcp_link_kv_put(uint8_t *buf, size_t cap, size_t *pos,
    const char *key, size_t klen, const char *val, size_t vlen);
/* Read the pair at *pos: 1 and advances *pos, 0 at the end, -1 malformed. */
int mcp_link_kv_next(const uint8_t *p, size_t len, size_t *pos,
    const uint8_t **key, size_t *klen, const uint8_t **val, size_t *vlen);
/* Find a key; returns 1 and the value, 0 when absent, -1 malformed. */
int mcp_link_kv_find(const uint8_t *p, size_t len, const char *key,
    const uint8_t **val, size_t *vlen);

#endif /* MCP_LINK_CODEC_H */
