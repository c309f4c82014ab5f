/*
 * Streaming, fail-fast UTF-8 validation (RFC 3629) for WebSocket text
 * messages and close reasons.  Pure C, no allocation.
 *
 * The whole state fits in one uint32_t that the caller keeps between calls,
 * so a code point split across frames, fragments or reads is validated
 * exactly as if it had arrived in one piece, and the first byte that can
 * never start or continue a valid sequence is reported at once (Autobahn
 * 6.4 "fail fast"), without waiting for the end of the message.
 */

#ifndef MCP_UTF8_H
#define MCP_UTF8_H

#include <stddef.h>
#include <stdint.h>

#define MCP_UTF8_ACCEPT  0u             /* at a code point boundary */
#define MCP_UTF8_REJECT  0xffffffffu    /* sticky: input is not UTF-8 */

/*
 * Feed len bytes; returns the new state.  When the result is
 * MCP_UTF8_REJECT and bad is not NULL, *bad is the offset of the offending
 * byte within p.  Any other non-zero state means "inside a code point".
 */
uint32_t mcp_utf8_feed(uint32_t state, const uint8_t *p, size_t len,
    size_t *bad);

/* The whole buffer is complete, valid UTF-8. */
int mcp_utf8_valid(const uint8_t *p, size_t len);

#endif /* MCP_UTF8_H */
