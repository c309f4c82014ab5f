/*
 * The provider layer (llm/) behind the chat service's model interface
 * (mcp_chat_provider.h): one model turn = one mcp_llm request; its error
 * codes become the client's (provider_unavailable, provider_error,
 * rate_limited, internal).
 */

#include <stdlib.h>
#include <string.h>

#include "chat/mcp_chat_llm.h"

/* a refusal for rate reasons without a hint from the provider layer */
#define MCP_CHAT_LLM_RETRY_MS  1000

typedef struct {
    mcp_llm_t   *llm;
    char        *provider;      /* NULL: llm.active */
} mcp_chat_llm_t;

typedef struct {
    mcp_llm_req_t              *req;
    const mcp_chat_turn_cb_t   *cb;
    void                       *data;
} mcp_chat_llm_call_t;


static const char *
mcp_chat_llm_code(mcp_llm_err_e e)
{
    switch (e) {
    case MCP_LLM_OK:
        return NULL;
    case MCP_LLM_E_QUEUE_FULL:
    case MCP_LLM_E_RATE_LIMITED:
        return "rate_limited";
    case MCP_LLM_E_HTTP:
    case MCP_LLM_E_PROVIDER:
    case MCP_LLM_E_BAD_RESPONSE:
    case MCP_LLM_E_NO_FINISH:
        return "provider_error";
    case MCP_LLM_E_INTERNAL:
        return "internal";
    case MCP_LLM_E_CONFIG:
        /* no API key (the message names its variable): the operator must
           act, but for the client the provider is simply not usable; not
           a bug of ours, which is what "internal" would say */
        return "provider_unavailable";
    default:
        /* cancelled (the layer is closing), queue timeout, breaker open,
           5xx, connect, network, timeout: nobody could answer */
        return "provider_unavailable";
    }
}


static void
mcp_chat_llm_text(mcp_llm_req_t *r, void *data, const char *text, size_t len)
{
    mcp_chat_llm_call_t  *c = data;

    c->cb->on_text(c->data, text, len);
}


static void
mcp_chat_llm_tool(mcp_llm_req_t *r, void *data,
    const mcp_llm_tool_call_t *call)
{
    mcp_chat_llm_call_t  *c = data;

    c->cb->on_tool_call(c->data, call->id.len ? call->id.data : "",
                        call->name.len ? call->name.data : "",
                        call->arguments.len ? call->arguments.data : "");
}


static void
mcp_chat_llm_done(mcp_llm_req_t *r, void *data, const mcp_llm_result_t *res)
{
    mcp_chat_llm_call_t  *c = data;
    mcp_chat_turn_end_t   end;

    memset(&end, 0, sizeof(end));
    end.code = mcp_chat_llm_code(res->err);
    end.message = res->message;
    end.finish_reason = res->finish_reason;
    end.model = res->model;
    end.provider = res->provider;
    end.prompt_tokens = res->usage.prompt_tokens;
    end.completion_tokens = res->usage.completion_tokens;
    end.usage_present = res->usage.present;
    if (end.code && strcmp(end.code, "rate_limited") == 0) {
        end.retry_after_ms = MCP_CHAT_LLM_RETRY_MS;
    }
    c->cb->on_done(c->data, &end);
    free(c);
}


static const mcp_llm_callbacks_t  mcp_chat_llm_cbs = {
    mcp_chat_llm_text, mcp_chat_llm_tool, NULL, mcp_chat_llm_done
};


static void *
mcp_chat_llm_start(void *ctx, json_t *messages, const char *messages_json,
    size_t messages_len, json_t *tools, int stream,
    const mcp_chat_turn_cb_t *cb, void *data, mcp_chat_turn_end_t *fail)
{
    mcp_chat_llm_t       *p = ctx;
    mcp_chat_llm_call_t  *c = calloc(1, sizeof(*c));
    mcp_llm_call_t        call;
    mcp_llm_err_e         err = MCP_LLM_OK;
    const char           *msg = NULL;

    if (c == NULL) {
        fail->code = "internal";
        fail->message = "out of memory";
        return NULL;
    }
    c->cb = cb;
    c->data = data;

    memset(&call, 0, sizeof(call));
    call.provider = p->provider;
    call.messages = messages;
    call.messages_json = messages_json;
    call.messages_len = messages_len;
    call.tools = tools;
    call.stream = stream;
    c->req = mcp_llm_start(p->llm, &call, &mcp_chat_llm_cbs, c, &err, &msg);
    if (c->req == NULL) {
        free(c);
        fail->code = mcp_chat_llm_code(err ? err : MCP_LLM_E_INTERNAL);
        fail->message = msg ? msg : mcp_llm_err_name(err);
        if (strcmp(fail->code, "rate_limited") == 0) {
            fail->retry_after_ms = MCP_CHAT_LLM_RETRY_MS;
        }
        return NULL;
    }
    return c;
}


static void
mcp_chat_llm_cancel(void *call)
{
    mcp_chat_llm_call_t  *c = call;

    mcp_llm_cancel(c->req);     /* no callback follows */
    free(c);
}


/* FLOW from the module: stop reading the provider while the client lags */
static void
mcp_chat_llm_pause(void *call, int paused)
{
    mcp_chat_llm_call_t  *c = call;

    mcp_llm_pause(c->req, paused);
}


static json_t *
mcp_chat_llm_status(void *ctx)
{
    mcp_chat_llm_t  *p = ctx;

    return json_pack("{s:s, s:b, s:s?}", "name", "llm", "offline", 0,
                     "provider", p->provider);
}


static void
mcp_chat_llm_close(void *ctx)
{
    mcp_chat_llm_t  *p = ctx;

    free(p->provider);
    free(p);
}


mcp_chat_provider_t *
mcp_chat_llm_new(mcp_llm_t *llm, const char *provider)
{
    mcp_chat_provider_t  *pr = calloc(1, sizeof(*pr));
    mcp_chat_llm_t       *p = calloc(1, sizeof(*p));

    if (pr == NULL || p == NULL
        || (provider && (p->provider = strdup(provider)) == NULL))
    {
        free(pr);
        free(p);
        return NULL;
    }
    p->llm = llm;
    pr->name = p->provider ? p->provider : "llm";
    pr->ctx = p;
    pr->start = mcp_chat_llm_start;
    pr->cancel = mcp_chat_llm_cancel;
    pr->pause = mcp_chat_llm_pause;
    pr->status = mcp_chat_llm_status;
    pr->close = mcp_chat_llm_close;
    return pr;
}


/* does this provider have what it needs to authenticate? */
static int
mcp_chat_llm_has_key(const mcp_llm_provider_conf_t *pc)
{
    const char  *v;

    if (pc->api_key_env == NULL || pc->api_key_env[0] == '\0') {
        return 1;               /* no auth (a local server, the mock) */
    }
    v = getenv(pc->api_key_env);
    return v != NULL && v[0] != '\0';
}


const char *
mcp_chat_llm_pick(const mcp_llm_conf_t *conf)
{
    static const char *const  known[] = { "openai", "groq", "openrouter",
                                          NULL };
    const mcp_llm_provider_conf_t  *pc;
    size_t                          i;

    /* the configured one first, then the well-known ones in this order,
       then any other: the first with a key is used */
    if (conf->active && (pc = mcp_llm_conf_provider(conf, conf->active))
        && mcp_chat_llm_has_key(pc))
    {
        return pc->name;
    }
    for (i = 0; known[i]; i++) {
        pc = mcp_llm_conf_provider(conf, known[i]);
        if (pc && mcp_chat_llm_has_key(pc)) {
            return pc->name;
        }
    }
    for (i = 0; i < conf->providers.n; i++) {
        if (mcp_chat_llm_has_key(&conf->providers.items[i])) {
            return conf->providers.items[i].name;
        }
    }
    return NULL;
}
