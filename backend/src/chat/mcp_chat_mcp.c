/*
 * The MCP host (mcp/) behind the chat service's tools interface
 * (mcp_chat_provider.h): the tools the model is offered, list_tools, and
 * calls by exposed name.  A tool error, a JSON-RPC error and a failure
 * (timeout, server gone) all come back as a result the model is told
 * about, with status "error" or "timeout".
 */

#include <stdlib.h>
#include <string.h>

#include "chat/mcp_chat_mcp.h"

typedef struct {
    mcp_call_t             *call;
    uv_timer_t              later;      /* a result that came too early */
    int                     in_call;
    int                     early;
    mcp_chat_tool_done_pt   done;
    void                   *data;
    char                   *text;
    size_t                  len;
    const char             *status;
    int                     truncated;
} mcp_chat_mcp_call_t;


static json_t *
mcp_chat_mcp_openai(void *ctx)
{
    json_t  *t = mcp_host_tools(ctx);

    return t ? json_incref(t) : NULL;
}


static json_t *
mcp_chat_mcp_list(void *ctx)
{
    mcp_host_t  *h = ctx;
    json_t      *out = json_array(), *obj, *desc, *schema;
    size_t       i;

    for (i = 0; i < h->names.n; i++) {
        const mcp_name_t  *n = &h->names.items[i];

        obj = json_array_get(h->tool_objs, i);
        desc = json_object_get(obj, "description");
        schema = json_object_get(obj, "inputSchema");
        json_array_append_new(out, json_pack("{s:s, s:s, s:s, s:O}",
                              "name", n->exposed ? n->exposed : n->tool,
                              "server", n->server,
                              "description",
                              json_is_string(desc) ? json_string_value(desc)
                                                   : "",
                              "parameters",
                              schema ? schema : json_object()));
    }
    return out;
}


static void
mcp_chat_mcp_closed(uv_handle_t *h)
{
    mcp_chat_mcp_call_t  *c = h->data;

    free(c->text);
    free(c);
}


static void
mcp_chat_mcp_deliver(mcp_chat_mcp_call_t *c)
{
    mcp_chat_tool_end_t  end;

    memset(&end, 0, sizeof(end));
    end.status = c->status;
    end.text = c->text ? c->text : "";
    end.len = c->text ? c->len : 0;
    end.truncated = c->truncated;
    c->done(c->data, &end);
    uv_close((uv_handle_t *) &c->later, mcp_chat_mcp_closed);
}


static void
mcp_chat_mcp_later(uv_timer_t *t)
{
    mcp_chat_mcp_deliver(t->data);
}


static void
mcp_chat_mcp_done(void *ctx, const mcp_tool_result_t *res, json_t *raw)
{
    mcp_chat_mcp_call_t  *c = ctx;

    c->call = NULL;
    c->text = malloc(res->len + 1);
    if (c->text) {
        memcpy(c->text, res->text ? res->text : "", res->len);
        c->text[res->len] = '\0';
        c->len = res->len;
    }
    c->truncated = res->truncated;
    c->status = !res->is_error ? "ok"
                : (res->text && (strstr(res->text, "timed out")
                                 || strstr(res->text, "timeout")))
                  ? "timeout" : "error";
    if (c->in_call) {
        /* the chat service is promised no callback from inside call() */
        c->early = 1;
        uv_timer_start(&c->later, mcp_chat_mcp_later, 0, 0);
        return;
    }
    mcp_chat_mcp_deliver(c);
}


static void *
mcp_chat_mcp_call(void *ctx, const char *name, const char *arguments,
    mcp_chat_tool_done_pt done, void *data, mcp_chat_tool_end_t *fail)
{
    mcp_host_t           *h = ctx;
    mcp_chat_mcp_call_t  *c;
    json_t               *args;
    json_error_t          jerr;

    args = arguments && arguments[0]
           ? json_loads(arguments, JSON_DECODE_ANY, &jerr) : json_object();
    if (args == NULL || !json_is_object(args)) {
        json_decref(args);
        fail->status = "error";
        fail->text = "the arguments are not a JSON object";
        fail->len = strlen(fail->text);
        return NULL;
    }
    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        json_decref(args);
        return NULL;
    }
    c->done = done;
    c->data = data;
    uv_timer_init(h->loop, &c->later);
    c->later.data = c;

    c->in_call = 1;
    c->call = mcp_host_call(h, name, args, mcp_chat_mcp_done, c);
    c->in_call = 0;
    json_decref(args);
    if (c->call == NULL && !c->early) {
        uv_close((uv_handle_t *) &c->later, mcp_chat_mcp_closed);
        fail->status = "error";
        fail->text = "no such tool, or its server is not running";
        fail->len = strlen(fail->text);
        return NULL;
    }
    return c;
}


static void
mcp_chat_mcp_cancel(void *call)
{
    mcp_chat_mcp_call_t  *c = call;

    if (c->call) {
        mcp_host_call_cancel(c->call);
        c->call = NULL;
    }
    uv_timer_stop(&c->later);
    uv_close((uv_handle_t *) &c->later, mcp_chat_mcp_closed);
}


void
mcp_chat_mcp_init(mcp_chat_tools_t *t, mcp_host_t *h)
{
    memset(t, 0, sizeof(*t));
    t->ctx = h;
    t->list = mcp_chat_mcp_list;
    t->openai = mcp_chat_mcp_openai;
    t->call = mcp_chat_mcp_call;
    t->cancel = mcp_chat_mcp_cancel;
}
