/*
 * Find the top-level "request_id" of a client's JSON text, so that even
 * when mcpd is unreachable the module can answer in the client protocol
 * with the client's own request id; and walk an object's members.  Pure
 * C, no allocation.
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

/*
 * The members of one JSON object, one by one, each checked as it is
 * reached (also used by /health to fold mcpd's reply into its document):
 *
 *     mcp_json_members(&it, p, len);
 *     while ((rc = mcp_json_next_member(&it, &m)) == 1) { ... }
 *
 * rc 0: the object ended well; -1: not an object, or malformed there.
 */
typedef struct {
    const uint8_t  *p;
    const uint8_t  *end;
    int             inside;
} mcp_json_iter_t;

typedef struct {
    const uint8_t  *start;      /* the key's opening quote */
    const uint8_t  *key;        /* the key as written, quotes excluded */
    size_t          key_len;
    const uint8_t  *value;      /* the value's JSON text */
    size_t          value_len;
} mcp_json_member_t;

void mcp_json_members(mcp_json_iter_t *it, const uint8_t *p, size_t len);
int mcp_json_next_member(mcp_json_iter_t *it, mcp_json_member_t *m);

#endif /* MCP_REQID_H */
