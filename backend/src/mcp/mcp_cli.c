/*
 * The operator CLI, on the same host code the daemon runs:
 *
 *   mcpd -c CONFIG mcp list                      servers, lists, tool names
 *   mcpd -c CONFIG mcp call SERVER TOOL [JSON]   call a tool (original name)
 *   mcpd -c CONFIG mcp prompt SERVER NAME [JSON] prompts/get
 *   mcpd -c CONFIG mcp read SERVER URI           resources/read
 *   mcpd -c CONFIG mcp shell                     JSON lines on stdin/stdout
 *   mcpd -c CONFIG mcp connect URL               the conformance client
 *
 * Everything prints JSON on stdout; logs go to stderr.  Exit status: 0
 * success, 1 failure (or a tool error), 2 usage.
 */

#include "mcp/mcp_host_daemon.h"
#include "mcp/mcp_jsonrpc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    mcp_daemon_t  *d;
    mcp_host_t    *host;
    int            argc;
    char         **argv;
    int            rc;
    int            stopping;
    /* shell */
    uv_pipe_t      in;
    mcp_framer_t   framer;
    int            in_open;
    unsigned       pending;
    int            quit;
    /* connect */
    json_t        *todo;      /* tools left to call */
} mcp_cli_t;

typedef struct {
    mcp_cli_t  *cli;
    json_t     *id;
} mcp_cli_op_t;


static void
mcp_cli_print(json_t *o)
{
    char  *s = json_dumps(o, JSON_COMPACT | JSON_ENCODE_ANY);

    if (s != NULL) {
        fputs(s, stdout);
        fputc('\n', stdout);
        fflush(stdout);
        free(s);
    }
}


static void
mcp_cli_stopped(void *ctx)
{
    mcp_cli_t  *c = ctx;

    mcp_host_free(c->host);
    c->host = NULL;
}


static void
mcp_cli_finish(mcp_cli_t *c, int rc)
{
    if (c->stopping) {
        return;
    }
    c->stopping = 1;
    c->rc = rc;
    if (c->in_open) {
        c->in_open = 0;
        uv_close((uv_handle_t *) &c->in, NULL);
    }
    mcp_host_stop(c->host, mcp_cli_stopped, c);
}


static json_t *
mcp_cli_json_arg(const char *text, const char *what)
{
    json_error_t  je;
    json_t       *j = json_loads(text, JSON_DECODE_ANY, &je);

    if (j == NULL || !json_is_object(j)) {
        fprintf(stderr, "mcpd: %s must be a JSON object%s%s\n", what,
                j ? "" : ": ", j ? "" : je.text);
        json_decref(j);
        return NULL;
    }
    return j;
}


/* ------------------------------------------------------------ one shot */

static void
mcp_cli_call_done(void *ctx, const mcp_tool_result_t *res, json_t *raw)
{
    mcp_cli_t  *c = ctx;
    json_t     *o;

    o = json_pack("{s:s,s:s,s:b,s:b,s:s%,s:O?}",
                  "server", c->argv[2], "tool", c->argv[3],
                  "isError", res->is_error, "truncated", res->truncated,
                  "text", res->text, res->len, "result", raw);
    mcp_cli_print(o);
    json_decref(o);
    mcp_cli_finish(c, res->is_error ? 1 : 0);
}


static void
mcp_cli_req_done(void *ctx, json_t *result, json_t *error,
    const char *failure)
{
    mcp_cli_t  *c = ctx;
    json_t     *o;

    o = json_pack("{s:O?,s:O?,s:s?}", "result", result, "error", error,
                  "failure", failure);
    mcp_cli_print(o);
    json_decref(o);
    mcp_cli_finish(c, result ? 0 : 1);
}


/* the named server is not ready: say why, as JSON */
static int
mcp_cli_not_ready(mcp_cli_t *c, mcp_server_t *srv)
{
    json_t  *o;

    if (srv->state == MCP_SRV_READY) {
        return 0;
    }
    o = json_pack("{s:s,s:s,s:s}", "server", srv->sconf->name, "state",
                  mcp_server_state_name(srv->state), "failure",
                  srv->last_error[0] ? srv->last_error : "not ready");
    mcp_cli_print(o);
    json_decref(o);
    mcp_cli_finish(c, 1);
    return 1;
}


static void
mcp_cli_settled(void *ctx)
{
    mcp_cli_t     *c = ctx;
    const char    *sub = c->argv[1];
    mcp_server_t  *srv = c->argc > 2 ? mcp_host_server(c->host, c->argv[2])
                                     : NULL;
    json_t        *args = NULL, *o;

    if (strcmp(sub, "list") == 0) {
        o = mcp_host_describe(c->host);
        mcp_cli_print(o);
        json_decref(o);
        mcp_cli_finish(c, 0);
        return;
    }
    if (srv == NULL || mcp_cli_not_ready(c, srv)) {
        if (srv == NULL) {
            mcp_cli_finish(c, 1);
        }
        return;
    }
    if (c->argc > 4) {
        args = mcp_cli_json_arg(c->argv[4], "the arguments");
        if (args == NULL) {
            mcp_cli_finish(c, 2);
            return;
        }
    }
    if (strcmp(sub, "call") == 0) {
        if (mcp_host_call_on(c->host, c->argv[2], c->argv[3], args,
                             mcp_cli_call_done, c) == NULL)
        {
            mcp_cli_finish(c, 1);
        }
    } else if (strcmp(sub, "prompt") == 0) {
        mcp_server_request(srv, "prompts/get",
                           json_pack("{s:s,s:o}", "name", c->argv[3],
                                     "arguments",
                                     args ? json_incref(args) : json_object()),
                           0, mcp_cli_req_done, c);
    } else {
        mcp_server_request(srv, "resources/read",
                           json_pack("{s:s}", "uri", c->argv[3]), 0,
                           mcp_cli_req_done, c);
    }
    json_decref(args);
}


/* ------------------------------------------------------------ shell */

static mcp_cli_op_t *
mcp_cli_op(mcp_cli_t *c, json_t *msg)
{
    mcp_cli_op_t  *op = calloc(1, sizeof(*op));

    if (op != NULL) {
        op->cli = c;
        op->id = json_incref(json_object_get(msg, "id"));
        c->pending++;
    }
    return op;
}


static void
mcp_cli_op_end(mcp_cli_op_t *op, json_t *o)
{
    mcp_cli_t  *c = op->cli;

    json_object_set(o, "id", op->id ? op->id : json_null());
    mcp_cli_print(o);
    json_decref(o);
    json_decref(op->id);
    free(op);
    if (--c->pending == 0 && c->quit) {
        mcp_cli_finish(c, 0);
    }
}


static void
mcp_cli_shell_call_done(void *ctx, const mcp_tool_result_t *res, json_t *raw)
{
    mcp_cli_op_end(ctx, json_pack("{s:s,s:b,s:b,s:I,s:s%,s:O?}",
                                  "op", "call", "isError", res->is_error,
                                  "truncated", res->truncated,
                                  "full_len", (json_int_t) res->full_len,
                                  "text", res->text, res->len,
                                  "result", raw));
}


static void
mcp_cli_shell_req_done(void *ctx, json_t *result, json_t *error,
    const char *failure)
{
    mcp_cli_op_end(ctx, json_pack("{s:O?,s:O?,s:s?}", "result", result,
                                  "error", error, "failure", failure));
}


static void
mcp_cli_shell_error(mcp_cli_t *c, json_t *msg, const char *text)
{
    json_t  *o = json_pack("{s:O?,s:s}", "id", json_object_get(msg, "id"),
                           "failure", text);
    mcp_cli_print(o);
    json_decref(o);
}


static void
mcp_cli_shell_request(mcp_cli_t *c, json_t *msg, const char *op)
{
    const char    *server = json_string_value(json_object_get(msg, "server"));
    mcp_server_t  *srv = server ? mcp_host_server(c->host, server) : NULL;
    json_t        *params;
    mcp_cli_op_t  *o;

    if (srv == NULL) {
        mcp_cli_shell_error(c, msg, "no such server");
        return;
    }
    if (strcmp(op, "prompt") == 0) {
        params = json_pack("{s:O?}", "name", json_object_get(msg, "name"));
        if (json_is_object(json_object_get(msg, "args"))) {
            json_object_set(params, "arguments", json_object_get(msg, "args"));
        }
        op = "prompts/get";
    } else if (strcmp(op, "read") == 0) {
        params = json_pack("{s:O?}", "uri", json_object_get(msg, "uri"));
        op = "resources/read";
    } else {
        /* any method, for tests: {"op":"request","method":...} */
        params = json_incref(json_object_get(msg, "params"));
        op = json_string_value(json_object_get(msg, "method"));
        if (op == NULL) {
            json_decref(params);
            mcp_cli_shell_error(c, msg, "request needs a method");
            return;
        }
    }
    o = mcp_cli_op(c, msg);
    if (o == NULL || mcp_server_request(srv, op, params,
                                        json_integer_value(json_object_get(
                                            msg, "timeout_ms")),
                                        mcp_cli_shell_req_done, o) == NULL)
    {
        mcp_cli_shell_error(c, msg, "out of memory");
    }
}


static void
mcp_cli_shell_call(mcp_cli_t *c, json_t *msg)
{
    const char    *server = json_string_value(json_object_get(msg, "server"));
    const char    *tool = json_string_value(json_object_get(msg, "tool"));
    const char    *name = json_string_value(json_object_get(msg, "name"));
    json_t        *args = json_object_get(msg, "args");
    mcp_cli_op_t  *o = mcp_cli_op(c, msg);
    mcp_call_t    *call;

    if (o == NULL) {
        return;
    }
    call = name ? mcp_host_call(c->host, name, args, mcp_cli_shell_call_done,
                                o)
           : server && tool ? mcp_host_call_on(c->host, server, tool, args,
                                               mcp_cli_shell_call_done, o)
           : NULL;
    if (call == NULL) {
        mcp_cli_op_end(o, json_pack("{s:s,s:b,s:s}", "op", "call",
                                    "isError", 1, "text",
                                    "no such tool or server"));
    }
}


static void
mcp_cli_shell_line(void *ctx, const char *line, size_t len, int oversize)
{
    mcp_cli_t   *c = ctx;
    json_t      *msg = oversize ? NULL : json_loadb(line, len, 0, NULL);
    const char  *op = json_string_value(json_object_get(msg, "op"));
    json_t      *o;

    if (op == NULL) {
        mcp_cli_shell_error(c, msg, "expected {\"op\": ...}");
    } else if (strcmp(op, "list") == 0) {
        o = mcp_host_describe(c->host);
        json_object_set(o, "id", json_object_get(msg, "id"));
        mcp_cli_print(o);
        json_decref(o);
    } else if (strcmp(op, "stats") == 0) {
        o = json_pack("{s:o}", "mcp_stats", mcp_host_stats(c->host));
        json_object_set(o, "id", json_object_get(msg, "id"));
        mcp_cli_print(o);
        json_decref(o);
    } else if (strcmp(op, "call") == 0) {
        mcp_cli_shell_call(c, msg);
    } else if (strcmp(op, "quit") == 0) {
        c->quit = 1;
        if (c->pending == 0) {
            mcp_cli_finish(c, 0);
        }
    } else {
        mcp_cli_shell_request(c, msg, op);
    }
    json_decref(msg);
}


static void
mcp_cli_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    buf->base = malloc(65536);
    buf->len = buf->base ? 65536 : 0;
}


static void
mcp_cli_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
    mcp_cli_t  *c = st->data;

    if (n > 0 && !c->stopping) {
        mcp_framer_feed(&c->framer, buf->base, (size_t) n,
                        mcp_cli_shell_line, c);
    } else if (n < 0) {
        /* stdin closed: stop (pending calls fail as "stopping") */
        mcp_cli_finish(c, 0);
    }
    free(buf->base);
}


static int
mcp_cli_shell(mcp_cli_t *c)
{
    mcp_framer_init(&c->framer, 16 << 20);
    if (uv_pipe_init(c->d->loop, &c->in, 0) != 0
        || uv_pipe_open(&c->in, 0) != 0)
    {
        fprintf(stderr, "mcpd: mcp shell needs stdin to be a pipe\n");
        return -1;
    }
    c->in.data = c;
    c->in_open = 1;
    uv_read_start((uv_stream_t *) &c->in, mcp_cli_alloc, mcp_cli_read);
    mcp_host_start(c->host, NULL, NULL);
    return 0;
}


/* ------------------------------------------------------------ connect */

static void mcp_cli_connect_next(mcp_cli_t *c);

static void
mcp_cli_connect_done(void *ctx, const mcp_tool_result_t *res, json_t *raw)
{
    mcp_cli_t  *c = ctx;
    json_t     *o = json_pack("{s:b,s:s%}", "isError", res->is_error,
                              "text", res->text, res->len);

    mcp_cli_print(o);
    json_decref(o);
    mcp_cli_connect_next(c);
}


/* call every tool the server lists, with arguments the suite expects */
static void
mcp_cli_connect_next(mcp_cli_t *c)
{
    json_t      *tool, *args;
    const char  *name;

    while (json_array_size(c->todo) > 0) {
        tool = json_incref(json_array_get(c->todo, 0));
        json_array_remove(c->todo, 0);
        name = json_string_value(json_object_get(tool, "name"));
        args = name && strcmp(name, "add_numbers") == 0
               ? json_pack("{s:i,s:i}", "a", 5, "b", 3) : json_object();
        if (name && mcp_host_call_on(c->host, "conformance", name, args,
                                     mcp_cli_connect_done, c) != NULL)
        {
            json_decref(args);
            json_decref(tool);
            return;
        }
        json_decref(args);
        json_decref(tool);
    }
    mcp_cli_finish(c, 0);
}


static void
mcp_cli_connect_settled(void *ctx)
{
    mcp_cli_t     *c = ctx;
    mcp_server_t  *srv = mcp_host_server(c->host, "conformance");

    if (mcp_cli_not_ready(c, srv)) {
        return;
    }
    c->todo = json_deep_copy(srv->tools);
    mcp_cli_connect_next(c);
}


static mcp_host_t *
mcp_cli_connect_host(mcp_cli_t *c, const char *url, mcp_err_t *err)
{
    char                  text[4096 + 64];
    mcp_servers_conf_t    sc;

    snprintf(text, sizeof(text), "{\"mcpServers\":{\"conformance\":"
             "{\"url\":\"%.4000s\"}}}", url);
    if (strchr(url, '"') || strchr(url, '\\')) {
        mcp_err_set(err, NULL, "bad URL");
        return NULL;
    }
    if (mcp_servers_conf_parse("(command line)", text, strlen(text), &sc,
                               err) != 0)
    {
        return NULL;
    }
    return mcp_host_create_with(c->d->loop, &c->d->conf->mcp, &sc,
                                &c->d->log, err);
}


/* ------------------------------------------------------------ main */

static int
mcp_cli_usage(void)
{
    fprintf(stderr,
        "usage: mcpd -c CONFIG mcp list\n"
        "       mcpd -c CONFIG mcp call SERVER TOOL [JSON-ARGS]\n"
        "       mcpd -c CONFIG mcp prompt SERVER NAME [JSON-ARGS]\n"
        "       mcpd -c CONFIG mcp read SERVER URI\n"
        "       mcpd -c CONFIG mcp shell     (JSON lines on stdin)\n"
        "       mcpd -c CONFIG mcp connect URL\n");
    return 2;
}


int
mcp_cli_main(mcp_daemon_t *d, int argc, char **argv)
{
    mcp_cli_t    c;
    mcp_err_t    err;
    char         dir[4096];
    const char  *sub = argc > 1 ? argv[1] : "";
    int          need = strcmp(sub, "list") == 0 || strcmp(sub, "shell") == 0
                        ? 2 : strcmp(sub, "connect") == 0 ? 3 : 4;

    if (argc < need || (need == 4 && strcmp(sub, "call") != 0
                        && strcmp(sub, "prompt") != 0
                        && strcmp(sub, "read") != 0))
    {
        return mcp_cli_usage();
    }
    memset(&c, 0, sizeof(c));
    c.d = d;
    c.argc = argc;
    c.argv = argv;
    err.msg[0] = '\0';

    if (strcmp(sub, "connect") == 0) {
        c.host = mcp_cli_connect_host(&c, argv[2], &err);
    } else {
        mcp_conf_dir(d->conf_path, dir, sizeof(dir));
        c.host = mcp_host_create(d->loop, &d->conf->mcp, dir, &d->log,
                                 need == 4 ? argv[2] : NULL, &err);
    }
    if (c.host == NULL) {
        fprintf(stderr, "mcpd: %s\n", err.msg);
        return 1;
    }

    if (strcmp(sub, "shell") == 0) {
        if (mcp_cli_shell(&c) != 0) {
            mcp_host_free(c.host);
            return 1;
        }
    } else {
        mcp_host_start(c.host, strcmp(sub, "connect") == 0
                               ? mcp_cli_connect_settled : mcp_cli_settled,
                       &c);
    }
    uv_run(d->loop, UV_RUN_DEFAULT);
    mcp_framer_free(&c.framer);
    json_decref(c.todo);
    if (c.host) {
        mcp_host_free(c.host);
    }
    return c.rc;
}
