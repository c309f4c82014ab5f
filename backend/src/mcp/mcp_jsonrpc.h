/*
 * JSON-RPC 2.0 for MCP: newline-delimited framing (stdio), message
 * classification, id handling and message builders.  Pure C + jansson.
 *
 * MCP forbids embedded newlines in stdio messages, so a line is a message.
 * Lines longer than the framer's limit are dropped whole (reported once,
 * with their length) instead of growing a buffer without bound.
 */

#ifndef MCP_JSONRPC_H
#define MCP_JSONRPC_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* ------------------------------------------------------------ framing */

typedef struct {
    char    *buf;
    size_t   len;
    size_t   cap;
    size_t   max;          /* longest accepted line, bytes */
    size_t   skipping;     /* >0: inside an oversize line, bytes dropped */
} mcp_framer_t;

/* oversize != 0: line is NULL and len is the dropped line's length */
typedef void (*mcp_framer_line_pt)(void *ctx, const char *line, size_t len,
    int oversize);

void mcp_framer_init(mcp_framer_t *f, size_t max_line);
void mcp_framer_free(mcp_framer_t *f);
/*
 * Feed bytes; on_line is called for each complete line (without "\n" and
 * a trailing "\r").  Empty lines are skipped.  Returns 0, -1 on ENOMEM.
 */
int mcp_framer_feed(mcp_framer_t *f, const char *data, size_t n,
    mcp_framer_line_pt on_line, void *ctx);
/* bytes held waiting for a newline */
size_t mcp_framer_pending(const mcp_framer_t *f);


/* ------------------------------------------------------------ messages */

typedef enum {
    MCP_RPC_INVALID = 0,
    MCP_RPC_REQUEST,        /* method + id */
    MCP_RPC_NOTIFICATION,   /* method, no id */
    MCP_RPC_RESULT,         /* id + result */
    MCP_RPC_ERROR           /* id (maybe null) + error{code,message} */
} mcp_rpc_kind_e;

/* JSON-RPC / MCP error codes */
#define MCP_RPC_PARSE_ERROR       (-32700)
#define MCP_RPC_INVALID_REQUEST   (-32600)
#define MCP_RPC_METHOD_NOT_FOUND  (-32601)
#define MCP_RPC_INVALID_PARAMS    (-32602)
#define MCP_RPC_INTERNAL_ERROR    (-32603)
#define MCP_RPC_REQUEST_TIMEOUT   (-32001)

/*
 * Classify a parsed message; why (may be NULL) says what is wrong with an
 * invalid one.  Batches (arrays) are invalid: MCP 2025-06-18 removed them.
 */
mcp_rpc_kind_e mcp_rpc_classify(const json_t *msg, const char **why);
const char *mcp_rpc_kind_name(mcp_rpc_kind_e kind);

/* Parse one message text.  NULL with err filled (may be NULL). */
json_t *mcp_rpc_parse(const char *text, size_t len, char *err,
    size_t err_size);

/*
 * Our own request ids are positive integers.  Accept the number, or a
 * decimal string holding one (some servers stringify ids).  0 or -1.
 */
int mcp_rpc_id_int(const json_t *id, int64_t *out);

/* Builders: new references; params/result are stolen (may be NULL). */
json_t *mcp_rpc_request(int64_t id, const char *method, json_t *params);
json_t *mcp_rpc_notification(const char *method, json_t *params);
json_t *mcp_rpc_result(const json_t *id, json_t *result);
json_t *mcp_rpc_error(const json_t *id, int code, const char *message);

/* Compact text + "\n", malloc'ed; NULL on failure. */
char *mcp_rpc_dump_line(const json_t *msg, size_t *len);

/* "code: message" of an error object, into buf */
const char *mcp_rpc_error_text(const json_t *error, char *buf, size_t size);

#endif /* MCP_JSONRPC_H */
