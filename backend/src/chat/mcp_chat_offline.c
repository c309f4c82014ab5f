/*
 * The offline demo provider (see mcp_chat_offline.h).  One call = one
 * timer that emits the next word each tick, then the tool calls, then
 * on_done; cancel closes the timer and no callback follows.
 */

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat/mcp_chat_offline.h"

typedef struct {
    uv_loop_t   *loop;
    int64_t      delay_ms;
    uint64_t     calls;
    uint64_t     active;
} mcp_offline_t;

typedef struct {
    mcp_offline_t              *p;
    uv_timer_t                  timer;
    const mcp_chat_turn_cb_t   *cb;
    void                       *data;
    char                       *text;       /* the whole reply */
    size_t                      pos;
    json_t                     *calls;      /* [{id, name, arguments}] */
    int                         stream;
    int                         paused;
    int                         fail;
    int64_t                     delay_ms;
    int64_t                     prompt_tokens;
} mcp_offline_call_t;


/* ------------------------------------------------------------ script */

/* a tool named p, or <server>__p / <prefix>_p as the host exposes it */
static int
mcp_offline_name_is(const char *name, const char *p)
{
    size_t  n = strlen(name), k = strlen(p);

    return strcmp(name, p) == 0
           || (n > k + 1 && strcmp(name + n - k, p) == 0
               && name[n - k - 1] == '_');
}


/* the first tool matching the wanted names, in the order they are given */
static const char *
mcp_offline_tool(json_t *tools, const char *const *want)
{
    size_t        i, k;
    json_t       *t;
    const char   *name;

    for (k = 0; want[k]; k++) {
        json_array_foreach(tools, i, t) {
            name = json_string_value(json_object_get(json_object_get(t,
                                     "function"), "name"));
            if (name && mcp_offline_name_is(name, want[k])) {
                return name;
            }
        }
    }
    return NULL;
}


/* 2, not 2.0, when the user wrote an integer */
static json_t *
mcp_offline_number(double v)
{
    if (v == (double) (long long) v && v > -1e15 && v < 1e15) {
        return json_integer((json_int_t) v);
    }
    return json_real(v);
}


/* the first two numbers in s */
static int
mcp_offline_numbers(const char *s, double *a, double *b)
{
    double   v[2];
    int      n = 0;
    char    *end;

    while (*s && n < 2) {
        if (isdigit((unsigned char) *s)
            || (*s == '-' && isdigit((unsigned char) s[1])))
        {
            v[n++] = strtod(s, &end);
            s = end;
            continue;
        }
        s++;
    }
    if (n < 2) {
        return 0;
    }
    *a = v[0];
    *b = v[1];
    return 1;
}


static void
mcp_offline_add_call(mcp_offline_call_t *c, const char *name, json_t *args,
    int n)
{
    char  id[32], *a = json_dumps(args, JSON_COMPACT);

    snprintf(id, sizeof(id), "call_offline_%d", n);
    json_array_append_new(c->calls, json_pack("{s:s, s:s, s:s}", "id", id,
                          "name", name, "arguments", a ? a : "{}"));
    free(a);
    json_decref(args);
}


static char *
mcp_offline_join(const char *a, const char *b)
{
    size_t  n = strlen(a) + strlen(b) + 1;
    char   *s = malloc(n);

    if (s) {
        snprintf(s, n, "%s%s", a, b);
    }
    return s;
}


static const char *
mcp_offline_str(json_t *m, const char *key)
{
    const char  *v = json_string_value(json_object_get(m, key));

    return v ? v : "";
}


/* after tools ran: say what they returned */
static char *
mcp_offline_after_tools(json_t *msgs)
{
    size_t   i = json_array_size(msgs), n = 0;
    char    *out = strdup(""), *next, line[600];
    json_t  *m;

    while (i > 0) {
        m = json_array_get(msgs, i - 1);
        if (strcmp(mcp_offline_str(m, "role"), "tool") != 0)
        {
            break;
        }
        i--;
        n++;
    }
    for (; n > 0 && out; n--, i++) {
        m = json_array_get(msgs, i);
        snprintf(line, sizeof(line), "%sThe tool answered: %.500s",
                 out[0] ? " " : "",
                 mcp_offline_str(m, "content"));
        next = mcp_offline_join(out, line);
        free(out);
        out = next;
    }
    return out;
}


static void
mcp_offline_script(mcp_offline_call_t *c, json_t *msgs, json_t *tools)
{
    static const char *const  sum[] = { "get-sum", "get_sum", "add", NULL };
    static const char *const  echo[] = { "echo", NULL };
    static const char *const  longop[] = { "trigger-long-running-operation",
                                           "longRunningOperation", NULL };
    json_t       *last = json_array_get(msgs, json_array_size(msgs) - 1);
    const char   *text = "", *tool;
    char          buf[1200], *said;
    double        a, b;
    size_t        i;

    /* what the user asked last (tool turns come after it) */
    for (i = json_array_size(msgs); i > 0; i--) {
        json_t  *m = json_array_get(msgs, i - 1);

        if (strcmp(mcp_offline_str(m, "role"), "user") == 0) {
            text = mcp_offline_str(m, "content");
            break;
        }
    }

    if (strcmp(mcp_offline_str(last, "role"), "tool") == 0
        && strstr(text, "offline:loop") == NULL)
    {
        /* the notice opened this reply already, in its first turn */
        said = mcp_offline_after_tools(msgs);
        c->text = said ? mcp_offline_join(" ", said) : NULL;
        free(said);
        return;
    }

    if (strstr(text, "offline:fail")) {
        c->fail = 1;
        c->text = strdup("");
        return;
    }
    if (strstr(text, "offline:slow")) {
        c->delay_ms = 100;
    }
    if (strstr(text, "offline:loop") && (tool = mcp_offline_tool(tools, echo))) {
        mcp_offline_add_call(c, tool, json_pack("{s:s}", "message", "again"),
                             0);
        c->text = strdup("");
        return;
    }
    if (strstr(text, "offline:long") && (tool = mcp_offline_tool(tools,
                                                                 longop)))
    {
        mcp_offline_add_call(c, tool, json_pack("{s:i, s:i}", "duration", 30,
                                                "steps", 30), 0);
        c->text = strdup(MCP_CHAT_OFFLINE_NOTICE "Starting a long operation.");
        return;
    }
    if (strstr(text, "offline:parallel")
        && (tool = mcp_offline_tool(tools, echo)))
    {
        mcp_offline_add_call(c, tool, json_pack("{s:s}", "message", "one"), 0);
        mcp_offline_add_call(c, tool, json_pack("{s:s}", "message", "two"), 1);
        c->text = strdup(MCP_CHAT_OFFLINE_NOTICE "Calling two tools at once.");
        return;
    }
    if (strncmp(text, "echo ", 5) == 0 && (tool = mcp_offline_tool(tools, echo)))
    {
        mcp_offline_add_call(c, tool, json_pack("{s:s}", "message", text + 5),
                             0);
        c->text = strdup(MCP_CHAT_OFFLINE_NOTICE "Let me echo that.");
        return;
    }
    if (mcp_offline_numbers(text, &a, &b) && (tool = mcp_offline_tool(tools,
                                                                      sum)))
    {
        mcp_offline_add_call(c, tool, json_pack("{s:o, s:o}",
                             "a", mcp_offline_number(a),
                             "b", mcp_offline_number(b)), 0);
        c->text = strdup(MCP_CHAT_OFFLINE_NOTICE "Let me add those with a "
                         "tool.");
        return;
    }
    snprintf(buf, sizeof(buf), MCP_CHAT_OFFLINE_NOTICE "You said: \"%.800s\"."
             " Ask me to add two numbers or to echo something and I will "
             "call a tool.%s", text,
             c->delay_ms >= 100 ? " This reply is slow on purpose, one word "
             "at a time, so that it can be cancelled while it streams." : "");
    c->text = strdup(buf);
}


/* ------------------------------------------------------------ running */

static void
mcp_offline_closed(uv_handle_t *h)
{
    mcp_offline_call_t  *c = h->data;

    c->p->active--;
    free(c->text);
    json_decref(c->calls);
    free(c);
}


static void
mcp_offline_end(mcp_offline_call_t *c)
{
    mcp_chat_turn_end_t  end;
    size_t               i;
    json_t              *t;

    json_array_foreach(c->calls, i, t) {
        c->cb->on_tool_call(c->data,
            json_string_value(json_object_get(t, "id")),
            json_string_value(json_object_get(t, "name")),
            json_string_value(json_object_get(t, "arguments")));
    }
    memset(&end, 0, sizeof(end));
    if (c->fail) {
        end.code = "provider_error";
        end.message = "the offline provider was asked to fail "
                      "(offline:fail)";
    } else {
        end.finish_reason = json_array_size(c->calls) ? "tool_calls" : "stop";
    }
    end.model = MCP_CHAT_OFFLINE_MODEL;
    end.provider = "offline";
    end.prompt_tokens = c->prompt_tokens;
    end.completion_tokens = (int64_t) (strlen(c->text) + 3) / 4;
    end.usage_present = 1;
    uv_close((uv_handle_t *) &c->timer, mcp_offline_closed);
    c->cb->on_done(c->data, &end);
}


static void
mcp_offline_tick(uv_timer_t *t)
{
    mcp_offline_call_t  *c = t->data;
    size_t               n = c->pos, len = strlen(c->text);

    if (c->paused) {
        return;
    }
    if (!c->stream) {
        n = len;
    } else {
        /* one word and the spaces after it */
        while (n < len && c->text[n] != ' ') {
            n++;
        }
        while (n < len && c->text[n] == ' ') {
            n++;
        }
    }
    if (n > c->pos) {
        c->cb->on_text(c->data, c->text + c->pos, n - c->pos);
        c->pos = n;
    }
    if (c->pos >= len) {
        uv_timer_stop(&c->timer);
        mcp_offline_end(c);
        return;
    }
    uv_timer_start(&c->timer, mcp_offline_tick, (uint64_t) c->delay_ms, 0);
}


static void *
mcp_offline_start(void *ctx, json_t *messages, const char *messages_json,
    size_t messages_len, json_t *tools, int stream,
    const mcp_chat_turn_cb_t *cb, void *data, mcp_chat_turn_end_t *fail)
{
    mcp_offline_t       *p = ctx;
    mcp_offline_call_t  *c = calloc(1, sizeof(*c));
    char                *dump;

    if (c == NULL || (c->calls = json_array()) == NULL) {
        free(c);
        fail->code = "internal";
        fail->message = "out of memory";
        return NULL;
    }
    c->p = p;
    c->cb = cb;
    c->data = data;
    c->stream = stream;
    c->delay_ms = p->delay_ms;
    mcp_offline_script(c, messages, tools);
    if (c->text == NULL) {
        json_decref(c->calls);
        free(c);
        fail->code = "internal";
        fail->message = "out of memory";
        return NULL;
    }
    dump = json_dumps(messages, JSON_COMPACT);
    c->prompt_tokens = dump ? (int64_t) (strlen(dump) + 3) / 4 : 0;
    free(dump);

    uv_timer_init(p->loop, &c->timer);
    c->timer.data = c;
    uv_timer_start(&c->timer, mcp_offline_tick, (uint64_t) c->delay_ms, 0);
    p->calls++;
    p->active++;
    return c;
}


static void
mcp_offline_cancel(void *call)
{
    mcp_offline_call_t  *c = call;

    uv_timer_stop(&c->timer);
    uv_close((uv_handle_t *) &c->timer, mcp_offline_closed);
}


static void
mcp_offline_pause(void *call, int paused)
{
    mcp_offline_call_t  *c = call;

    c->paused = paused;
    if (!paused && !uv_is_closing((uv_handle_t *) &c->timer)) {
        uv_timer_start(&c->timer, mcp_offline_tick, (uint64_t) c->delay_ms,
                       0);
    }
}


static json_t *
mcp_offline_status(void *ctx)
{
    mcp_offline_t  *p = ctx;

    return json_pack("{s:s, s:b, s:s, s:I, s:I}", "name", "offline",
                     "offline", 1, "note", "demo provider, not a language "
                     "model: no API key is configured", "calls",
                     (json_int_t) p->calls, "active", (json_int_t) p->active);
}


static void
mcp_offline_close(void *ctx)
{
    free(ctx);
}


mcp_chat_provider_t *
mcp_chat_offline_new(uv_loop_t *loop, int64_t delay_ms)
{
    mcp_chat_provider_t  *pr = calloc(1, sizeof(*pr));
    mcp_offline_t        *p = calloc(1, sizeof(*p));

    if (pr == NULL || p == NULL) {
        free(pr);
        free(p);
        return NULL;
    }
    p->loop = loop;
    p->delay_ms = delay_ms;
    pr->name = MCP_CHAT_OFFLINE_MODEL;
    pr->offline = 1;
    pr->ctx = p;
    pr->start = mcp_offline_start;
    pr->cancel = mcp_offline_cancel;
    pr->pause = mcp_offline_pause;
    pr->status = mcp_offline_status;
    pr->close = mcp_offline_close;
    return pr;
}
