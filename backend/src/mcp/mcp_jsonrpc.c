/*
 * JSON-RPC framing and classification for MCP.  The framer is not
 * re-entrant: on_line must not feed the same framer.
 */

#include "mcp/mcp_jsonrpc.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


void
mcp_framer_init(mcp_framer_t *f, size_t max_line)
{
    memset(f, 0, sizeof(*f));
    f->max = max_line ? max_line : 1;
}


void
mcp_framer_free(mcp_framer_t *f)
{
    free(f->buf);
    memset(f, 0, sizeof(*f));
}


size_t
mcp_framer_pending(const mcp_framer_t *f)
{
    return f->len;
}


static int
mcp_framer_append(mcp_framer_t *f, const char *p, size_t n)
{
    char    *nb;
    size_t   cap;

    if (f->len + n > f->cap) {
        cap = f->cap ? f->cap : 4096;
        while (cap < f->len + n) {
            cap *= 2;
        }
        nb = realloc(f->buf, cap);
        if (nb == NULL) {
            return -1;
        }
        f->buf = nb;
        f->cap = cap;
    }
    memcpy(f->buf + f->len, p, n);
    f->len += n;
    return 0;
}


static void
mcp_framer_emit(const char *line, size_t len, mcp_framer_line_pt on_line,
    void *ctx)
{
    if (len > 0 && line[len - 1] == '\r') {
        len--;
    }
    if (len > 0) {
        on_line(ctx, line, len, 0);
    }
}


int
mcp_framer_feed(mcp_framer_t *f, const char *data, size_t n,
    mcp_framer_line_pt on_line, void *ctx)
{
    const char  *nl;
    size_t       chunk;

    while (n > 0) {
        nl = memchr(data, '\n', n);
        chunk = nl ? (size_t) (nl - data) : n;

        if (f->skipping) {
            f->skipping += chunk;
            if (nl) {
                on_line(ctx, NULL, f->skipping, 1);
                f->skipping = 0;
            }

        } else if (f->len + chunk > f->max) {
            /* the line is too long: drop what we held and the rest of it */
            f->skipping = f->len + chunk;
            f->len = 0;
            if (nl) {
                on_line(ctx, NULL, f->skipping, 1);
                f->skipping = 0;
            }

        } else if (nl && f->len == 0) {
            /* common case: a whole line in the input, no copy */
            mcp_framer_emit(data, chunk, on_line, ctx);

        } else {
            if (mcp_framer_append(f, data, chunk) != 0) {
                return -1;
            }
            if (nl) {
                size_t  total = f->len;

                f->len = 0;
                mcp_framer_emit(f->buf, total, on_line, ctx);
            }
        }

        if (nl == NULL) {
            break;
        }
        data += chunk + 1;
        n -= chunk + 1;
    }
    return 0;
}


/* ------------------------------------------------------------ messages */

static int
mcp_rpc_id_valid(const json_t *id)
{
    /* JSON-RPC ids are strings or integers (null only in some errors) */
    return json_is_string(id) || json_is_integer(id);
}


mcp_rpc_kind_e
mcp_rpc_classify(const json_t *msg, const char **why)
{
    const json_t  *ver, *id, *method, *result, *error, *code;
    const char    *dummy;

    if (why == NULL) {
        why = &dummy;
    }
    *why = NULL;

    if (!json_is_object(msg)) {
        *why = json_is_array(msg) ? "batches are not supported"
                                  : "message is not a JSON object";
        return MCP_RPC_INVALID;
    }
    ver = json_object_get(msg, "jsonrpc");
    if (!json_is_string(ver) || strcmp(json_string_value(ver), "2.0") != 0) {
        *why = "\"jsonrpc\" is not \"2.0\"";
        return MCP_RPC_INVALID;
    }

    id = json_object_get(msg, "id");
    method = json_object_get(msg, "method");
    result = json_object_get(msg, "result");
    error = json_object_get(msg, "error");

    if (method != NULL) {
        if (!json_is_string(method)) {
            *why = "\"method\" is not a string";
            return MCP_RPC_INVALID;
        }
        if (result != NULL || error != NULL) {
            *why = "a request cannot carry \"result\" or \"error\"";
            return MCP_RPC_INVALID;
        }
        if (id == NULL) {
            return MCP_RPC_NOTIFICATION;
        }
        if (!mcp_rpc_id_valid(id)) {
            *why = "\"id\" is not a string or an integer";
            return MCP_RPC_INVALID;
        }
        return MCP_RPC_REQUEST;
    }

    if (result != NULL && error != NULL) {
        *why = "both \"result\" and \"error\"";
        return MCP_RPC_INVALID;
    }
    if (result != NULL) {
        if (!mcp_rpc_id_valid(id)) {
            *why = "response without a valid \"id\"";
            return MCP_RPC_INVALID;
        }
        return MCP_RPC_RESULT;
    }
    if (error != NULL) {
        if (!json_is_object(error)) {
            *why = "\"error\" is not an object";
            return MCP_RPC_INVALID;
        }
        code = json_object_get(error, "code");
        if (!json_is_integer(code)) {
            *why = "\"error.code\" is not an integer";
            return MCP_RPC_INVALID;
        }
        if (id != NULL && !json_is_null(id) && !mcp_rpc_id_valid(id)) {
            *why = "error with an invalid \"id\"";
            return MCP_RPC_INVALID;
        }
        return MCP_RPC_ERROR;
    }

    *why = "neither \"method\", \"result\" nor \"error\"";
    return MCP_RPC_INVALID;
}


const char *
mcp_rpc_kind_name(mcp_rpc_kind_e kind)
{
    switch (kind) {
    case MCP_RPC_REQUEST:       return "request";
    case MCP_RPC_NOTIFICATION:  return "notification";
    case MCP_RPC_RESULT:        return "result";
    case MCP_RPC_ERROR:         return "error";
    default:                    return "invalid";
    }
}


json_t *
mcp_rpc_parse(const char *text, size_t len, char *err, size_t err_size)
{
    json_error_t   je;
    json_t        *msg;

    msg = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (msg == NULL && err && err_size) {
        snprintf(err, err_size, "invalid JSON at column %d: %s",
                 je.column, je.text);
    }
    return msg;
}


int
mcp_rpc_id_int(const json_t *id, int64_t *out)
{
    const char  *s;
    char        *end;
    long long    v;

    if (json_is_integer(id)) {
        *out = (int64_t) json_integer_value(id);
        return 0;
    }
    if (!json_is_string(id)) {
        return -1;
    }
    s = json_string_value(id);
    if (*s < '0' || *s > '9') {
        return -1;
    }
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno || *end != '\0') {
        return -1;
    }
    *out = v;
    return 0;
}


json_t *
mcp_rpc_request(int64_t id, const char *method, json_t *params)
{
    json_t  *m = json_object();

    json_object_set_new(m, "jsonrpc", json_string("2.0"));
    json_object_set_new(m, "id", json_integer((json_int_t) id));
    json_object_set_new(m, "method", json_string(method));
    if (params) {
        json_object_set_new(m, "params", params);
    }
    return m;
}


json_t *
mcp_rpc_notification(const char *method, json_t *params)
{
    json_t  *m = json_object();

    json_object_set_new(m, "jsonrpc", json_string("2.0"));
    json_object_set_new(m, "method", json_string(method));
    if (params) {
        json_object_set_new(m, "params", params);
    }
    return m;
}


json_t *
mcp_rpc_result(const json_t *id, json_t *result)
{
    json_t  *m = json_object();

    json_object_set_new(m, "jsonrpc", json_string("2.0"));
    json_object_set_new(m, "id", id ? json_deep_copy(id) : json_null());
    json_object_set_new(m, "result", result ? result : json_object());
    return m;
}


json_t *
mcp_rpc_error(const json_t *id, int code, const char *message)
{
    json_t  *m = json_object(), *e = json_object();

    json_object_set_new(e, "code", json_integer(code));
    json_object_set_new(e, "message", json_string(message ? message : ""));
    json_object_set_new(m, "jsonrpc", json_string("2.0"));
    json_object_set_new(m, "id", id ? json_deep_copy(id) : json_null());
    json_object_set_new(m, "error", e);
    return m;
}


char *
mcp_rpc_dump_line(const json_t *msg, size_t *len)
{
    size_t   n;
    char    *buf;

    /* JSON_COMPACT never emits raw newlines: strings escape them */
    n = json_dumpb(msg, NULL, 0, JSON_COMPACT);
    if (n == 0) {
        return NULL;
    }
    buf = malloc(n + 1);
    if (buf == NULL) {
        return NULL;
    }
    if (json_dumpb(msg, buf, n, JSON_COMPACT) != n) {
        free(buf);
        return NULL;
    }
    buf[n] = '\n';
    if (len) {
        *len = n + 1;
    }
    return buf;
}


const char *
mcp_rpc_error_text(const json_t *error, char *buf, size_t size)
{
    const json_t  *code = json_object_get(error, "code");
    const json_t  *msg = json_object_get(error, "message");

    snprintf(buf, size, "%" JSON_INTEGER_FORMAT ": %s",
             json_is_integer(code) ? json_integer_value(code) : 0,
             json_is_string(msg) ? json_string_value(msg) : "(no message)");
    return buf;
}
