/*
 * Chat requests: validation, the conversation (scoped to the principal),
 * idempotency (a stored answer is replayed, a running one is joined),
 * per-principal limits, per-conversation order, cancel and the one place
 * a request ends.  Its frames are in mcp_chat_frames.c.
 */

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat/mcp_chat_int.h"
#include "chat/mcp_chat_title.h"


/* ------------------------------------------------------------ helpers */

const char *
mcp_chat_principal(mcp_session_t *s)
{
    const char  *p = mcp_session_attr(s, "principal");

    /* the module leaves it out when mcp_principal is unset or empty: the
       anonymous principal, shared by every such client */
    return p ? p : "";
}


/* an id a client may give: a string of 1..128 bytes without NUL */
int
mcp_chat_valid_id(json_t *v)
{
    size_t  n;

    if (!json_is_string(v)) {
        return 0;
    }
    n = json_string_length(v);
    return n > 0 && n <= MCP_CHAT_ID_MAX
           && strlen(json_string_value(v)) == n;
}


/*
 * "principal \x1f conversation [\x1f request]": the keys of the order
 * lanes and of running requests.  The principal is part of both so that
 * nobody can join, or queue behind, a conversation that is not theirs.
 */
char *
mcp_chat_key(const char *principal, const char *conv, const char *rid)
{
    size_t  a = strlen(principal), b = strlen(conv);
    size_t  c = rid ? strlen(rid) : 0;
    char   *k = malloc(a + b + c + 3);

    if (k) {
        memcpy(k, principal, a);
        k[a] = '\x1f';
        memcpy(k + a + 1, conv, b + 1);
        if (rid) {
            k[a + 1 + b] = '\x1f';
            memcpy(k + a + b + 2, rid, c + 1);
        }
    }
    return k;
}


/* ------------------------------------------------------------ lifetime */

void
mcp_chat_req_ref(mcp_chat_req_t *r)
{
    r->refs++;
}


static void
mcp_chat_req_free(mcp_chat_req_t *r)
{
    size_t  i;

    for (i = 0; i < r->nlisteners; i++) {
        mcp_session_unref(r->listeners[i].s);
        free(r->listeners[i].rid);
    }
    free(r->listeners);
    for (i = 0; i < r->ntcalls; i++) {
        free(r->tcalls[i].id);
        free(r->tcalls[i].name);
        free(r->tcalls[i].arguments);
        json_decref(r->tcalls[i].result);
    }
    free(r->tcalls);
    mcp_session_unref(r->s);
    if (r->ctx) {
        mcp_chat_conv_unref(r->ctx);
    }
    free(r->err_msg);
    json_decref(r->out);
    json_decref(r->cur);
    json_decref(r->tools);
    free(r->rid);
    free(r->principal);
    free(r->conv);
    free(r->key);
    free(r->lane);
    free(r->text);
    free(r->turn_text);
    free(r->reply);
    free(r->model);
    free(r->finish_reason);
    free(r);
}


void
mcp_chat_req_unref(mcp_chat_req_t *r)
{
    if (--r->refs == 0) {
        mcp_chat_req_free(r);
    }
}


static mcp_chat_req_t *
mcp_chat_req_new(mcp_chat_t *c, mcp_session_t *s, const char *rid,
    const char *principal, const char *text, size_t text_len, int stream)
{
    mcp_chat_req_t  *r = calloc(1, sizeof(*r));

    if (r == NULL) {
        return NULL;
    }
    r->chat = c;
    r->refs = 1;
    r->s = s;
    mcp_session_ref(s);
    r->rid = strdup(rid);
    r->principal = strdup(principal);
    r->text = malloc(text_len + 1);
    r->cur = json_array();
    r->stream = stream;
    r->t_start = uv_hrtime();
    if (r->rid == NULL || r->principal == NULL || r->text == NULL
        || r->cur == NULL)
    {
        mcp_chat_req_unref(r);
        return NULL;
    }
    memcpy(r->text, text, text_len);
    r->text[text_len] = '\0';

    r->next = c->reqs;
    if (c->reqs) {
        c->reqs->prev = r;
    }
    c->reqs = r;
    c->nreqs++;
    return r;
}


void
mcp_chat_fail(mcp_chat_req_t *r, int kind, const char *code,
    int64_t retry_after_ms, const char *fmt, ...)
{
    char     msg[512];
    va_list  ap;
    json_t  *chunk;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);

    chunk = json_pack("{s:s, s:s}", "error", msg, "code", code);
    if (retry_after_ms > 0) {
        json_object_set_new(chunk, "retry_after_ms",
                            json_integer(retry_after_ms));
    }
    if (r->conv) {
        json_object_set_new(chunk, "conversation_id", json_string(r->conv));
    }
    r->chat->errors[kind]++;
    mcp_chat_emit(r, "error", chunk);
    mcp_chat_finish(r);
}


/* ------------------------------------------------------------ ending */

void
mcp_chat_finish(mcp_chat_req_t *r)
{
    mcp_chat_t      *c = r->chat;
    mcp_chat_req_t  *next = NULL;
    uint64_t         now;

    if (r->finished) {
        return;
    }
    r->finished = 1;
    r->state = MCP_REQ_S_DONE;

    now = uv_hrtime();
    mcp_hist_record(&c->duration, (now - r->t_start) / 1000000);
    if (now - r->t_start > r->t_wait) {
        mcp_hist_record(&c->overhead, (now - r->t_start - r->t_wait) / 1000);
    }

    if (r->key) {
        mcp_strmap_remove(c->running, r->key);
    }
    if (r->held_order) {
        r->held_order = 0;
        next = mcp_chat_order_done(c->order, r->lane);
    }
    if (r->held_limit) {
        r->held_limit = 0;
        mcp_chat_limits_release(c->limits, r->principal);
    }

    mcp_chat_req_unlink(&c->reqs, r);
    c->nreqs--;

    if (json_array_size(r->out) > 0 && mcp_session_is_open(r->s)) {
        /* a slow client: the end of the reply is still held (FLOW or a
           congested link), and is sent when the session resumes */
        mcp_chat_draining_add(c, r);
    } else {
        mcp_chat_req_unref(r);
    }

    if (next != NULL) {
        mcp_chat_turn_begin(next);
    }
}


/* the end of a cancelled request once its partial answer is stored */
void
mcp_chat_cancel_done(mcp_chat_req_t *r)
{
    json_t  *chunk;

    if (r->finished) {
        return;
    }
    if (r->told) {
        mcp_chat_finish(r);
        return;
    }
    r->chat->errors[MCP_CHAT_E_CANCELLED]++;
    chunk = json_pack("{s:s, s:s}", "error",
                      r->cancel == MCP_CHAT_STOP_DISCONNECT
                      ? "the client went away" : "cancelled by the client",
                      "code", "cancelled");
    if (r->conv) {
        json_object_set_new(chunk, "conversation_id", json_string(r->conv));
    }
    mcp_chat_emit(r, "error", chunk);
    mcp_chat_finish(r);
}


void
mcp_chat_req_cancel(mcp_chat_req_t *r, int why)
{
    mcp_chat_t  *c = r->chat;

    if (r->finished || r->cancel || r->state == MCP_REQ_S_FINISHING) {
        return;
    }
    r->cancel = why;
    switch (why) {
    case MCP_CHAT_STOP_DISCONNECT:
        c->disconnected++;
        break;
    case MCP_CHAT_STOP_SHUTDOWN:
        c->shutdown++;
        break;
    default:
        c->cancelled++;
    }

    switch (r->state) {
    case MCP_REQ_S_WAITING:
        if (mcp_chat_order_remove(c->order, r->lane, r)) {
            r->held_order = 0;
        }
        mcp_chat_cancel_done(r);
        return;
    case MCP_REQ_S_MODEL:
    case MCP_REQ_S_TOOLS:
        mcp_chat_turn_stop(r);
        mcp_chat_turn_keep_partial(r);
        mcp_chat_store_then(r, mcp_chat_cancel_done);
        return;
    default:
        /* a repository operation is in flight: its callback sees cancel */
        return;
    }
}


mcp_chat_req_t *
mcp_chat_find(mcp_chat_t *c, mcp_session_t *s, const char *rid)
{
    mcp_chat_req_t  *r;
    size_t           i;

    for (r = c->reqs; r; r = r->next) {
        if (r->s == s && strcmp(r->rid, rid) == 0) {
            return r;
        }
        for (i = 0; i < r->nlisteners; i++) {
            if (r->listeners[i].s == s && strcmp(r->listeners[i].rid, rid)
                == 0)
            {
                return r;
            }
        }
    }
    return NULL;
}


/* ------------------------------------------------------------ start */

static void
mcp_chat_processing(mcp_chat_req_t *r, mcp_session_t *s, const char *rid)
{
    json_t  *chunk = json_pack("{s:{s:b, s:s}}", "metadata", "processing", 1,
                               "conversation_id", r->conv);

    if (s == NULL) {
        mcp_chat_emit(r, "processing", chunk);
    } else {
        mcp_session_reply(s, rid, "processing", chunk);
    }
}


/* a repeat of a request that is still running: it gets the rest */
static int
mcp_chat_attach(mcp_chat_t *c, mcp_session_t *s, const char *rid,
    const char *conv)
{
    mcp_chat_listener_t  *l;
    mcp_chat_req_t       *r;
    char                 *key = mcp_chat_key(mcp_chat_principal(s), conv,
                                             rid);

    r = key ? mcp_strmap_get(c->running, key) : NULL;
    free(key);
    if (r == NULL || r->finished) {
        return 0;
    }
    c->attached++;
    mcp_chat_processing(r, s, rid);
    if (r->s == s) {
        return 1;           /* the same socket already gets every frame */
    }
    l = realloc(r->listeners, (r->nlisteners + 1) * sizeof(*l));
    if (l == NULL) {
        return 1;
    }
    r->listeners = l;
    l[r->nlisteners].s = s;
    l[r->nlisteners].rid = strdup(rid);
    if (l[r->nlisteners].rid == NULL) {
        return 1;
    }
    mcp_session_ref(s);
    r->nlisteners++;
    return 1;
}


static void
mcp_chat_queue(mcp_chat_req_t *r)
{
    mcp_chat_t  *c = r->chat;
    int          rc;

    r->key = mcp_chat_key(r->principal, r->conv, r->rid);
    r->lane = mcp_chat_key(r->principal, r->conv, NULL);
    if (r->key == NULL || mcp_strmap_put(c->running, r->key, r) != 0) {
        free(r->key);
        r->key = NULL;
        mcp_chat_fail(r, MCP_CHAT_E_INTERNAL, "internal", 0, "out of memory");
        return;
    }

    mcp_chat_processing(r, NULL, NULL);

    rc = r->lane == NULL ? MCP_ORDER_NOMEM
         : mcp_chat_order_submit(c->order, r->lane, r,
                               (size_t) c->conf->limits.conversation_queue);
    switch (rc) {
    case MCP_ORDER_RUN:
        r->held_order = 1;
        mcp_chat_turn_begin(r);
        return;
    case MCP_ORDER_QUEUED:
        r->held_order = 1;
        r->state = MCP_REQ_S_WAITING;
        return;
    case MCP_ORDER_BUSY:
        mcp_chat_fail(r, MCP_CHAT_E_BUSY, "conversation_busy", 0,
                      "conversation %s is running another request and %lld "
                      "more are waiting", r->conv,
                      (long long) c->conf->limits.conversation_queue);
        return;
    default:
        mcp_chat_fail(r, MCP_CHAT_E_INTERNAL, "internal", 0, "out of memory");
    }
}


static void
mcp_chat_opened(const mcp_repo_result_t *res, void *data)
{
    mcp_chat_req_t  *r = data;
    mcp_chat_t      *c = r->chat;

    mcp_chat_tell_created(c, res, res->conversation_id);
    if (r->finished) {
        mcp_chat_req_unref(r);
        return;
    }

    if (res->status == MCP_REPO_ENOTFOUND) {
        mcp_chat_fail(r, MCP_CHAT_E_NOTFOUND, "conversation_not_found", 0,
                      "%s", res->error);
    } else if (res->status != MCP_REPO_OK) {
        mcp_log_error(c->log, "chat", "request %s: opening the "
                      "conversation: %s", r->rid, res->error);
        mcp_chat_fail(r, MCP_CHAT_E_INTERNAL, "internal", 0,
                      "the conversation store failed: %s", res->error);
    } else if (r->cancel) {
        r->conv = strdup(res->conversation_id);
        mcp_chat_cancel_done(r);
    } else {
        r->conv = strdup(res->conversation_id);
        r->fresh = res->created;
        if (r->conv == NULL) {
            mcp_chat_fail(r, MCP_CHAT_E_INTERNAL, "internal", 0,
                          "out of memory");
        } else {
            mcp_chat_queue(r);
        }
    }
    mcp_chat_req_unref(r);
}


/* the payload of a chat, checked field by field (docs/websocket-api.md) */
static const char *
mcp_chat_check_payload(json_t *p, json_t **text, json_t **conv, int *stream,
    int dflt)
{
    json_t  *st, *md;

    if (p == NULL || !json_is_object(p)) {
        return p == NULL ? "payload is required" : "payload must be an object";
    }
    *text = json_object_get(p, "text");
    if (*text == NULL) {
        return "payload.text is required";
    }
    if (!json_is_string(*text)) {
        return "payload.text must be a string";
    }
    *conv = json_object_get(p, "conversation_id");
    if (*conv && json_is_null(*conv)) {
        *conv = NULL;
    }
    if (*conv && !mcp_chat_valid_id(*conv)) {
        return "payload.conversation_id must be a string of 1 to 128 bytes";
    }
    st = json_object_get(p, "streaming");
    if (st == NULL || json_is_null(st)) {
        *stream = dflt;
    } else if (json_is_boolean(st)) {
        *stream = json_is_true(st);
    } else {
        return "payload.streaming must be true or false";
    }
    md = json_object_get(p, "metadata");
    if (md && !json_is_null(md) && !json_is_object(md)) {
        return "payload.metadata must be an object";
    }
    return NULL;
}


void
mcp_chat_handle_chat(mcp_session_t *s, const char *rid, json_t *msg,
    void *ctx)
{
    mcp_chat_t      *c = ctx;
    json_t          *text = NULL, *conv = NULL;
    const char      *why, *principal = mcp_chat_principal(s);
    mcp_chat_req_t  *r;
    int64_t          retry = 0;
    int              stream = 0, rc;
    char             title[MCP_CHAT_TITLE_MAX + 4];

    why = mcp_chat_check_payload(json_object_get(msg, "payload"), &text,
                                 &conv, &stream,
                                 c->conf->streaming.enabled);
    if (why != NULL) {
        c->errors[MCP_CHAT_E_INVALID]++;
        mcp_session_error(s, rid, "invalid_request", "%s", why);
        return;
    }
    if (c->stopping) {
        mcp_session_error(s, rid, "backend_unavailable",
                          "mcpd is shutting down; send the request again");
        return;
    }

    /* a repeat of a running request joins it, whatever the limits say */
    if (conv && mcp_chat_attach(c, s, rid, json_string_value(conv))) {
        return;
    }

    rc = mcp_chat_limits_acquire(c->limits, principal, uv_now(c->d->loop),
                                 &retry);
    if (rc != MCP_LIMIT_OK) {
        c->errors[MCP_CHAT_E_RATE]++;
        mcp_session_reply(s, rid, "error", json_pack("{s:s, s:s, s:I}",
            "error", rc == MCP_LIMIT_RATE
                     ? "too many requests per minute for this client"
                     : rc == MCP_LIMIT_CONCURRENT
                     ? "too many requests in flight for this client"
                     : "out of memory",
            "code", "rate_limited", "retry_after_ms", (json_int_t) retry));
        return;
    }

    r = mcp_chat_req_new(c, s, rid, principal, json_string_value(text),
                         json_string_length(text), stream);
    if (r == NULL) {
        mcp_chat_limits_release(c->limits, principal);
        mcp_session_error(s, rid, "internal", "out of memory");
        return;
    }
    r->held_limit = 1;
    c->started++;

    if (conv != NULL) {
        /* queued in arrival order now; its turn opens the conversation
           (and finds out whether it belongs to this principal) */
        r->conv = strdup(json_string_value(conv));
        if (r->conv == NULL) {
            mcp_chat_fail(r, MCP_CHAT_E_INTERNAL, "internal", 0,
                          "out of memory");
            return;
        }
        mcp_chat_queue(r);
        return;
    }

    /* a new conversation: nothing can be ahead of it */
    r->state = MCP_REQ_S_OPENING;
    r->opened = 1;
    mcp_chat_req_ref(r);
    if (mcp_repo_conversation_open(c->repo, principal, NULL,
                                   mcp_chat_title(r->text, strlen(r->text),
                                                  title),
                                   mcp_chat_opened, r) != 0)
    {
        mcp_chat_req_unref(r);
        mcp_chat_fail(r, MCP_CHAT_E_INTERNAL, "internal", 0,
                      "the conversation store is not available");
    }
}
