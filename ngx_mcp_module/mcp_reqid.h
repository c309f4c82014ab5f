/*
 * Find the top-level "request_id" of a client's JSON text, so that even
 * when mcpd is unreachable the module can answer in the client protocol
 * with the client's own request id.  Pure C, no allocation.
 */

#ifndef MCP_REQID_H
#define MCP_REQID_H

#include <stddef.h>
#include <stdint.h>

/*
 * If p is a JSON object whose top-level member "request_id" is a string
 * or a number, return the length of that value's JSON token (quotes
 * included) and point *tok at it; the token is safe to copy verbatim into
 * a JSON document.  Otherwise return 0 (write null instead).
 */
size_t mcp_json_request_id(const uint8_t *p, size_t len, const uint8_t **tok);

#endif /* MCP_REQID_H */
