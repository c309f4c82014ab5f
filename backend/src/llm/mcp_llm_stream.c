/* Provider response interpretation: see mcp_llm_stream.h. */

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llm/mcp_llm_chunk.h"
#include "llm/mcp_llm_stream.h"

static const char *const  mcp_llm_err_names[MCP_LLM_E__COUNT] = {
    [MCP_LLM_OK] = "ok",
    [MCP_LLM_E_CANCELLED] = "cancelled",
    [MCP_LLM_E_QUEUE_FULL] = "queue_full",
    [MCP_LLM_E_QUEUE_TIMEOUT] = "queue_timeout",
    [MCP_LLM_E_CIRCUIT_OPEN] = "circuit_open",
    [MCP_LLM_E_RATE_LIMITED] = "rate_limited",
    [MCP_LLM_E_HTTP] = "http_error",
    [MCP_LLM_E_SERVER] = "server_error",
    [MCP_LLM_E_CONNECT] = "connect_error",
    [MCP_LLM_E_NETWORK] = "network_error",
    [MCP_LLM_E_TIMEOUT] = "timeout",
    [MCP_LLM_E_PROVIDER] = "provider_error",
    [MCP_LLM_E_BAD_RESPONSE] = "bad_response",
    [MCP_LLM_E_NO_FINISH] = "stream_truncated",
    [MCP_LLM_E_CONFIG] = "config_error",
    [MCP_LLM_E_INTERNAL] = "internal_error",
};

const char *
mcp_llm_err_name(mcp_llm_err_e e)
{
    if ((unsigned) e >= MCP_LLM_E__COUNT) {
        return "internal_error";
    }
    return mcp_llm_err_names[e];
}

int
mcp_llm_stream_fail(mcp_llm_stream_t *s, mcp_llm_err_e err, const char *fmt,
    ...)
{
    va_list  ap;

    if (s->err == MCP_LLM_OK) {
        s->err = err;
        va_start(ap, fmt);
        vsnprintf(s->errmsg, sizeof(s->errmsg), fmt, ap);
        va_end(ap);
    }
    return -1;
}

static int stream_on_event(void *ctx, const char *event, const char *data,
    size_t len);

void
mcp_llm_stream_init(mcp_llm_stream_t *s, const mcp_llm_stream_cb_t *cb,
    void *ctx)
{
    memset(s, 0, sizeof(*s));
    s->cb = cb;
    s->ctx = ctx;
    mcp_llm_sse_init(&s->sse, stream_on_event, s);
    mcp_llm_toolcalls_init(&s->tools);
}

void
mcp_llm_stream_free(mcp_llm_stream_t *s)
{
    mcp_llm_sse_free(&s->sse);
    mcp_llm_toolcalls_free(&s->tools);
    free(s->unescaped);
}

/* The message of an error object, whatever shape the provider used. */
static const char *
stream_error_text(const json_t *err)
{
    const json_t  *m;

    if (json_is_string(err)) {
        return json_string_value(err);
    }
    m = json_object_get(err, "message");
    if (json_is_string(m)) {
        return json_string_value(m);
    }
    m = json_object_get(err, "error");
    if (json_is_string(m)) {
        return json_string_value(m);
    }
    return "error event in stream";
}

/* {"error":...} (OpenAI, OpenRouter) or {"object":"error",...} (vLLM) */
static int
stream_check_error(mcp_llm_stream_t *s, const json_t *root)
{
    const json_t  *err = json_object_get(root, "error");
    const json_t  *obj = json_object_get(root, "object");

    if (err != NULL && !json_is_null(err)) {
        return mcp_llm_stream_fail(s, MCP_LLM_E_PROVIDER, "provider: %s",
                                   stream_error_text(err));
    }
    if (json_is_string(obj) && strcmp(json_string_value(obj), "error") == 0) {
        return mcp_llm_stream_fail(s, MCP_LLM_E_PROVIDER, "provider: %s",
                                   stream_error_text(root));
    }
    return 0;
}

static int64_t
stream_int(const json_t *obj, const char *key)
{
    const json_t  *v = json_object_get(obj, key);

    return json_is_integer(v) ? (int64_t) json_integer_value(v) : 0;
}

static void
stream_usage(mcp_llm_stream_t *s, const json_t *root)
{
    const json_t  *u = json_object_get(root, "usage");

    if (!json_is_object(u)) {
        u = json_object_get(json_object_get(root, "x_groq"), "usage");
    }
    if (!json_is_object(u)) {
        return;
    }

    s->usage.prompt_tokens = stream_int(u, "prompt_tokens");
    s->usage.completion_tokens = stream_int(u, "completion_tokens");
    s->usage.total_tokens = stream_int(u, "total_tokens");
    if (s->usage.total_tokens == 0) {
        s->usage.total_tokens = s->usage.prompt_tokens
                                + s->usage.completion_tokens;
    }
    s->usage.present = 1;

    if (s->cb && s->cb->on_usage) {
        s->cb->on_usage(s->ctx, &s->usage);
    }
}

static void
stream_emit_tools(mcp_llm_stream_t *s)
{
    size_t  i;

    if (s->tools_emitted) {
        return;
    }
    s->tools_emitted = 1;

    for (i = 0; i < s->tools.n; i++) {
        if (s->cb && s->cb->on_tool_call) {
            s->cb->on_tool_call(s->ctx, &s->tools.calls[i]);
        }
    }
}

static int
stream_tool_calls(mcp_llm_stream_t *s, const json_t *calls)
{
    int  rc;

    if (calls == NULL) {
        return 0;
    }

    rc = mcp_llm_toolcalls_add(&s->tools, calls);
    if (rc == MCP_LLM_TC_ERR_BAD) {
        return mcp_llm_stream_fail(s, MCP_LLM_E_BAD_RESPONSE,
                                   "malformed tool_calls in response");
    }
    if (rc != 0) {
        return mcp_llm_stream_fail(s, MCP_LLM_E_BAD_RESPONSE,
                                   "tool calls exceed the size limit");
    }
    return 0;
}

static int
stream_finish(mcp_llm_stream_t *s, const json_t *choice)
{
    const json_t  *fr = json_object_get(choice, "finish_reason");
    const char    *reason;

    if (!json_is_string(fr)) {
        return 0;
    }

    reason = json_string_value(fr);
    if (strcmp(reason, "error") == 0) {
        return mcp_llm_stream_fail(s, MCP_LLM_E_PROVIDER,
                                   "provider ended the stream with an error");
    }

    snprintf(s->finish_reason, sizeof(s->finish_reason), "%s", reason);
    s->finished = 1;
    stream_emit_tools(s);
    return 0;
}

static void
stream_model(mcp_llm_stream_t *s, const json_t *root)
{
    const json_t  *m;

    if (s->model[0]) {
        return;
    }
    m = json_object_get(root, "model");
    if (json_is_string(m)) {
        snprintf(s->model, sizeof(s->model), "%s", json_string_value(m));
    }
}

static void
stream_emit_text(mcp_llm_stream_t *s, const char *text, size_t len)
{
    if (len == 0) {
        return;
    }
    s->text_bytes += len;
    if (s->cb && s->cb->on_text) {
        s->cb->on_text(s->ctx, text, len);
    }
}

static void
stream_text(mcp_llm_stream_t *s, const json_t *content)
{
    if (json_is_string(content)) {
        stream_emit_text(s, json_string_value(content),
                         json_string_length(content));
    }
}

/* One parsed chunk (streaming) or body (not): key is "delta"/"message". */
static int
stream_object(mcp_llm_stream_t *s, const json_t *root, const char *key)
{
    const json_t  *choices, *choice, *msg;

    if (!json_is_object(root)) {
        return mcp_llm_stream_fail(s, MCP_LLM_E_BAD_RESPONSE,
                                   "response chunk is not a JSON object");
    }
    if (stream_check_error(s, root) != 0) {
        return -1;
    }

    s->chunks++;
    stream_model(s, root);

    choices = json_object_get(root, "choices");
    choice = json_array_get(choices, 0);
    if (json_is_object(choice)) {
        msg = json_object_get(choice, key);
        if (json_is_object(msg)) {
            stream_text(s, json_object_get(msg, "content"));
            if (stream_tool_calls(s, json_object_get(msg, "tool_calls")) != 0) {
                return -1;
            }
        }
        if (stream_finish(s, choice) != 0) {
            return -1;
        }
    }

    stream_usage(s, root);
    return 0;
}

/*
 * A plain chunk (mcp_llm_chunk.h), read without a tree: what
 * stream_object() does for one with no error, tool calls, finish or
 * usage.  The text is passed on where it lies in the event when it has no
 * escapes.  -1 only when the decoding buffer cannot be had: the tree then.
 */
static int
stream_plain(mcp_llm_stream_t *s, const mcp_llm_chunk_t *ck)
{
    const char  *text = ck->content;
    size_t       len = ck->content_len;
    char        *buf;

    if (ck->content_escaped) {
        if (len > s->unescaped_cap) {
            buf = realloc(s->unescaped, len);
            if (buf == NULL) {
                return -1;
            }
            s->unescaped = buf;
            s->unescaped_cap = len;
        }
        len = mcp_llm_chunk_unescape(text, len, s->unescaped);
        text = s->unescaped;
    }
    s->chunks++;
    s->plain++;
    if (s->model[0] == '\0' && ck->model != NULL) {
        snprintf(s->model, sizeof(s->model), "%.*s", (int) ck->model_len,
                 ck->model);
    }
    if (ck->has_content) {
        stream_emit_text(s, text, len);
    }
    return 0;
}

static int
stream_on_event(void *ctx, const char *event, const char *data, size_t len)
{
    mcp_llm_stream_t  *s = ctx;
    json_t            *root;
    json_error_t       jerr;
    mcp_llm_chunk_t    ck;
    int                rc;
    size_t             i = 0, n = len;

    if (s->done || s->err) {
        return 0;
    }

    while (i < n && (data[i] == ' ' || data[i] == '\t' || data[i] == '\n')) {
        i++;
    }
    while (n > i && (data[n - 1] == ' ' || data[n - 1] == '\t'
                     || data[n - 1] == '\n'))
    {
        n--;
    }
    if (n == i) {
        return 0;                                  /* empty priming event */
    }
    if (n - i == 6 && memcmp(data + i, "[DONE]", 6) == 0) {
        s->done = 1;
        return 0;
    }

    if (!s->no_scan && strcmp(event, "error") != 0
        && mcp_llm_chunk_scan(data + i, n - i, &ck)
        && stream_plain(s, &ck) == 0)
    {
        return 0;
    }

    root = json_loadb(data + i, n - i, 0, &jerr);
    if (root == NULL) {
        if (strcmp(event, "error") == 0) {
            return mcp_llm_stream_fail(s, MCP_LLM_E_PROVIDER,
                                       "provider: %.*s", (int) (n - i > 200 ? 200 : n - i),
                                       data + i);
        }
        return mcp_llm_stream_fail(s, MCP_LLM_E_BAD_RESPONSE,
                                   "invalid JSON in stream chunk %zu: %s",
                                   s->chunks + 1, jerr.text);
    }

    if (strcmp(event, "error") == 0) {
        rc = mcp_llm_stream_fail(s, MCP_LLM_E_PROVIDER, "provider: %s",
                                 stream_error_text(json_object_get(root, "error")
                                                   ? json_object_get(root, "error")
                                                   : root));
    } else {
        rc = stream_object(s, root, "delta");
    }

    json_decref(root);
    return rc;
}

int
mcp_llm_stream_feed(mcp_llm_stream_t *s, const char *buf, size_t len)
{
    int  rc;

    if (s->err) {
        return -1;
    }

    rc = mcp_llm_sse_feed(&s->sse, buf, len);
    if (rc == MCP_LLM_SSE_ERR_TOO_LARGE || rc == MCP_LLM_SSE_ERR_NOMEM) {
        return mcp_llm_stream_fail(s, MCP_LLM_E_BAD_RESPONSE,
                                   "stream event exceeds the size limit");
    }
    return s->err ? -1 : 0;
}

int
mcp_llm_stream_end(mcp_llm_stream_t *s)
{
    if (s->err == MCP_LLM_OK) {
        (void) mcp_llm_sse_finish(&s->sse);
    }
    if (s->err) {
        return -1;
    }

    if (!s->finished) {
        return mcp_llm_stream_fail(s, MCP_LLM_E_NO_FINISH,
            "stream ended without a finish_reason after %zu chunks%s",
            s->chunks, s->done ? " ([DONE] seen)" : "");
    }
    return 0;
}

int
mcp_llm_stream_body(mcp_llm_stream_t *s, const char *buf, size_t len)
{
    json_t        *root;
    json_error_t   jerr;
    int            rc;

    root = json_loadb(buf, len, 0, &jerr);
    if (root == NULL) {
        return mcp_llm_stream_fail(s, MCP_LLM_E_BAD_RESPONSE,
                                   "invalid JSON response body: %s", jerr.text);
    }

    rc = stream_object(s, root, "message");
    json_decref(root);
    if (rc != 0) {
        return -1;
    }

    if (!s->finished) {
        return mcp_llm_stream_fail(s, MCP_LLM_E_BAD_RESPONSE,
                                   "response has no choices[0].finish_reason");
    }
    return 0;
}
