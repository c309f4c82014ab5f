/*
 * Tool result -> what the chat service hands back to the model.
 *
 * Text parts are joined with newlines; media (image, audio, blobs) never
 * go to the model as base64: they become a one-line placeholder in the
 * text and are kept aside in `media` for clients.  Embedded text resources
 * are inlined under a "[resource URI]" line; resource links are named.
 * When there is no content but structuredContent, its JSON is the text.
 *
 * The text is capped at max_bytes: an oversize result keeps its head and
 * its tail (cut on UTF-8 boundaries) around a marker that says how much
 * was left out, so neither the model nor the user mistakes it for all.
 */

#ifndef MCP_RESULT_H
#define MCP_RESULT_H

#include <jansson.h>
#include <stddef.h>

typedef struct {
    char    *text;           /* NUL-terminated, strlen(text) <= max_bytes */
    size_t   len;
    int      is_error;       /* isError:true, or a JSON-RPC error */
    int      truncated;
    size_t   full_len;       /* length before capping */
    json_t  *media;          /* array of {type, mimeType, data|uri}; or NULL */
} mcp_tool_result_t;

/* A tools/call result object.  0, -1 on ENOMEM. */
int mcp_result_convert(const json_t *result, size_t max_bytes,
    mcp_tool_result_t *out);
/* A JSON-RPC error (or a local failure message when error is NULL). */
int mcp_result_from_error(const json_t *error, const char *message,
    size_t max_bytes, mcp_tool_result_t *out);
void mcp_result_free(mcp_tool_result_t *r);

/*
 * Cap text (len bytes) to max_bytes keeping head and tail around a marker.
 * Returns a new string (length in *out_len), NULL on ENOMEM.
 */
char *mcp_result_cap(const char *text, size_t len, size_t max_bytes,
    size_t *out_len);

#endif /* MCP_RESULT_H */
