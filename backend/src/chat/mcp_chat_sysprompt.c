/*
 * The system prompt: chat.service.system_prompt, then the text of the
 * configured MCP prompt (context.mcp_prompt, "server/name", a prompt
 * without required arguments) and of each configured MCP resource
 * (context.mcp_resources, URIs as a server lists them).  They are read
 * once every server they come from is ready (the original read its
 * resource catalog before registration had filled it, so resources never
 * reached the model), and the prompt is rebuilt when none is pending.
 * Until then, and for anything that failed, the base prompt is used and
 * the log says why.
 *
 * They are read again when they may have changed, so the model never
 * works from a stale copy: when their server lists its prompts or
 * resources again (notifications/.../list_changed, a restart), and, for a
 * resource whose server supports subscriptions (we subscribe after each
 * first read from a server instance), on notifications/resources/updated.
 */

#include <stdlib.h>
#include <string.h>

#include "chat/mcp_chat_int.h"
#include "mcp/mcp_host_daemon.h"

#define MCP_CHAT_SYS_POLL_MS   250
#define MCP_CHAT_SYS_GIVEUP_MS 120000

static void mcp_chat_sys_build(mcp_chat_t *c);
static void mcp_chat_sys_poll(uv_timer_t *t);


static mcp_server_t *
mcp_chat_sys_server_of(mcp_host_t *h, mcp_chat_sys_item_t *it)
{
    size_t   i, k;
    json_t  *r;

    if (it->prompt) {
        return mcp_host_server(h, it->server);
    }
    for (i = 0; i < h->n; i++) {
        json_array_foreach(h->servers[i].resources, k, r) {
            const char  *uri = json_string_value(json_object_get(r, "uri"));

            if (uri && strcmp(uri, it->name) == 0) {
                return &h->servers[i];
            }
        }
    }
    return NULL;
}


/* the text parts of a prompts/get or resources/read result */
static char *
mcp_chat_sys_text(json_t *result, int prompt)
{
    json_t      *arr = json_object_get(result, prompt ? "messages"
                                                      : "contents");
    json_t      *e, *t;
    size_t       i, len = 0, cap = 0;
    char        *out = NULL;

    json_array_foreach(arr, i, e) {
        t = prompt ? json_object_get(json_object_get(e, "content"), "text")
                   : json_object_get(e, "text");
        if (!json_is_string(t)) {
            continue;
        }
        if (len) {
            mcp_chat_buf_add(&out, &len, &cap, "\n", 1);
        }
        mcp_chat_buf_add(&out, &len, &cap, json_string_value(t),
                         json_string_length(t));
    }
    return out ? out : strdup("");
}


/* rebuilt once no item waits for an answer or for its server */
static void
mcp_chat_sys_settle(mcp_chat_t *c)
{
    size_t  i;

    for (i = 0; i < c->nsys; i++) {
        if (!c->sys[i].done && !c->sys[i].gaveup) {
            return;
        }
    }
    mcp_chat_sys_build(c);
}


static void
mcp_chat_sys_kick(mcp_chat_t *c)
{
    if (!uv_is_active((uv_handle_t *) &c->sys_timer)) {
        c->sys_since = uv_now(c->d->loop);
        uv_timer_start(&c->sys_timer, mcp_chat_sys_poll, 0,
                       MCP_CHAT_SYS_POLL_MS);
    }
}


/* read it again: the poll sends the request once its server is ready */
static void
mcp_chat_sys_reask(mcp_chat_t *c, mcp_chat_sys_item_t *it)
{
    if (it->req != NULL) {
        /* the answer on its way may predate the change */
        it->again = 1;
        return;
    }
    it->asked = 0;
    it->done = 0;
    it->gaveup = 0;
    mcp_chat_sys_kick(c);
}


static void
mcp_chat_sys_subscribed(void *ctx, json_t *result, json_t *error,
    const char *failure)
{
    mcp_chat_sys_item_t  *it = ctx;

    if (result == NULL) {
        mcp_log_warn(it->chat->log, "chat", "system prompt: subscribing to "
                     "resource %s failed: %s", it->name,
                     failure ? failure : "the server answered an error");
    }
}


/* a resource read from a server instance that offers subscriptions */
static void
mcp_chat_sys_subscribe(mcp_chat_sys_item_t *it)
{
    mcp_server_t  *srv = it->from;
    json_t        *res;

    res = srv ? json_object_get(srv->capabilities, "resources") : NULL;
    if (it->prompt || !json_is_true(json_object_get(res, "subscribe"))
        || it->sub_at == srv->ready_at || srv->state != MCP_SRV_READY)
    {
        return;
    }
    it->sub_at = srv->ready_at;
    (void) mcp_server_request(srv, "resources/subscribe",
                              json_pack("{s:s}", "uri", it->name), 0,
                              mcp_chat_sys_subscribed, it);
}


static void
mcp_chat_sys_done(void *ctx, json_t *result, json_t *error,
    const char *failure)
{
    mcp_chat_sys_item_t  *it = ctx;
    mcp_chat_t           *c = it->chat;

    it->req = NULL;
    if (c->stopping) {
        it->done = 1;
        return;
    }
    if (it->again) {
        it->again = 0;
        mcp_chat_sys_reask(c, it);
        return;
    }
    it->done = 1;
    free(it->text);
    it->text = NULL;
    if (result != NULL) {
        it->text = mcp_chat_sys_text(result, it->prompt);
        mcp_chat_sys_subscribe(it);
    } else {
        mcp_log_warn(c->log, "chat", "system prompt: %s %s: %s",
                     it->prompt ? "prompt" : "resource", it->name,
                     failure ? failure : "the server answered an error");
    }
    mcp_chat_sys_settle(c);
}


static void
mcp_chat_sys_poll(uv_timer_t *t)
{
    mcp_chat_t    *c = t->data;
    mcp_host_t    *h = mcp_host_from_daemon(c->d);
    mcp_server_t  *srv;
    size_t         i, waiting = 0;
    json_t        *params;

    for (i = 0; h && i < c->nsys; i++) {
        mcp_chat_sys_item_t  *it = &c->sys[i];

        if (it->asked || it->gaveup) {
            continue;
        }
        srv = mcp_chat_sys_server_of(h, it);
        if (srv == NULL || srv->state != MCP_SRV_READY) {
            waiting++;
            continue;
        }
        params = it->prompt ? json_pack("{s:s}", "name", it->name)
                            : json_pack("{s:s}", "uri", it->name);
        it->asked = 1;
        it->from = srv;
        it->req = mcp_server_request(srv, it->prompt ? "prompts/get"
                                                     : "resources/read",
                                     params, 0, mcp_chat_sys_done, it);
        if (it->req == NULL && !it->done) {
            mcp_chat_sys_done(it, NULL, NULL, "the request could not start");
        }
    }
    if (waiting == 0) {
        uv_timer_stop(t);
    } else if (uv_now(c->d->loop) - c->sys_since > MCP_CHAT_SYS_GIVEUP_MS) {
        mcp_log_warn(c->log, "chat", "system prompt: %zu MCP item(s) never "
                     "became available; using what there is", waiting);
        uv_timer_stop(t);
        for (i = 0; i < c->nsys; i++) {
            c->sys[i].gaveup |= !c->sys[i].asked;
        }
        mcp_chat_sys_settle(c);
    }
}


/* a resource gone from the list of the server it came from: drop it now */
static void
mcp_chat_sys_vanished(mcp_chat_t *c, mcp_chat_sys_item_t *it)
{
    mcp_log_warn(c->log, "chat", "system prompt: resource %s is no longer "
                 "listed; left out", it->name);
    free(it->text);
    it->text = NULL;
    it->from = NULL;
    it->asked = it->done = 1;
    mcp_chat_sys_settle(c);
}


/* the host: srv's prompts or resources were listed again, or uri updated */
static void
mcp_chat_sys_changed(void *ctx, mcp_server_t *srv, int kind, const char *uri)
{
    mcp_chat_t           *c = ctx;
    mcp_host_t           *h = mcp_host_from_daemon(c->d);
    mcp_chat_sys_item_t  *it;
    mcp_server_t         *now;
    size_t                i;

    /* the first lists of a start are what the poll is waiting for */
    if (c->stopping || h == NULL || (uri == NULL && !srv->settled)) {
        return;
    }
    for (i = 0; i < c->nsys; i++) {
        it = &c->sys[i];
        if (it->prompt) {
            if (kind == MCP_LIST_PROMPTS && uri == NULL
                && strcmp(it->server, srv->sconf->name) == 0)
            {
                mcp_chat_sys_reask(c, it);
            }
            continue;
        }
        if (kind != MCP_LIST_RESOURCES) {
            continue;
        }
        if (uri != NULL) {
            if (strcmp(uri, it->name) == 0 && it->from == srv) {
                mcp_chat_sys_reask(c, it);
            }
            continue;
        }
        now = mcp_chat_sys_server_of(h, it);
        if (now == NULL && it->from == srv && it->req == NULL) {
            mcp_chat_sys_vanished(c, it);
        } else if (now == srv || it->from == srv) {
            mcp_chat_sys_reask(c, it);
        }
    }
}


static void
mcp_chat_sys_build(mcp_chat_t *c)
{
    char    *s = NULL, head[600];
    size_t   len = 0, cap = 0, i;

    mcp_chat_buf_add(&s, &len, &cap, c->sys_base, strlen(c->sys_base));
    for (i = 0; i < c->nsys; i++) {
        mcp_chat_sys_item_t  *it = &c->sys[i];

        if (it->text == NULL) {
            continue;
        }
        if (it->prompt) {
            snprintf(head, sizeof(head), "\n\n");
        } else {
            snprintf(head, sizeof(head), "\n\n[resource %.500s]\n", it->name);
        }
        mcp_chat_buf_add(&s, &len, &cap, head, strlen(head));
        mcp_chat_buf_add(&s, &len, &cap, it->text, strlen(it->text));
    }
    if (s == NULL) {
        return;
    }
    free(c->system);
    c->system = s;
    mcp_log_info(c->log, "chat", "system prompt: %zu bytes with %zu MCP "
                 "item(s)", len, c->nsys);
}


int
mcp_chat_sys_init(mcp_chat_t *c)
{
    const mcp_chat_context_conf_t  *cc = &c->conf->context;
    size_t                          n = cc->mcp_resources.n, i;
    const char                     *slash;

    uv_timer_init(c->d->loop, &c->sys_timer);
    c->sys_timer.data = c;
    if (cc->mcp_prompt == NULL && n == 0) {
        return 0;
    }
    c->sys = calloc(n + 1, sizeof(*c->sys));
    c->sys_base = strdup(c->system);
    if (c->sys == NULL || c->sys_base == NULL) {
        return -1;
    }
    if (cc->mcp_prompt) {
        slash = strchr(cc->mcp_prompt, '/');
        c->sys[c->nsys].prompt = 1;
        c->sys[c->nsys].server = slash ? strndup(cc->mcp_prompt,
                                         (size_t) (slash - cc->mcp_prompt))
                                       : strdup("");
        c->sys[c->nsys].name = strdup(slash ? slash + 1 : cc->mcp_prompt);
        c->nsys++;
    }
    for (i = 0; i < n; i++) {
        c->sys[c->nsys].name = strdup(cc->mcp_resources.items[i]);
        c->nsys++;
    }
    for (i = 0; i < c->nsys; i++) {
        c->sys[i].chat = c;
    }
    if (mcp_host_from_daemon(c->d) != NULL) {
        mcp_host_on_change(mcp_host_from_daemon(c->d), mcp_chat_sys_changed,
                           c);
    }
    c->sys_since = uv_now(c->d->loop);
    uv_timer_start(&c->sys_timer, mcp_chat_sys_poll, MCP_CHAT_SYS_POLL_MS,
                   MCP_CHAT_SYS_POLL_MS);
    return 0;
}


void
mcp_chat_sys_free(mcp_chat_t *c)
{
    size_t  i;

    for (i = 0; i < c->nsys; i++) {
        free(c->sys[i].server);
        free(c->sys[i].name);
        free(c->sys[i].text);
    }
    free(c->sys);
    free(c->sys_base);
}
