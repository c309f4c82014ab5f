/*
 * A chat request's storage: its rows written strictly in order through a
 * small queue (so history reads back as it happened), each exactly once;
 * the conversation contexts the LRU shares with requests; the replay of a
 * stored answer.  The loop itself is in mcp_chat_turn.c.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat/mcp_chat_int.h"

static void mcp_chat_kick(mcp_chat_req_t *r);

/* ------------------------------------------------------------ contexts */

mcp_chat_conv_t *
mcp_chat_conv_new(void)
{
    mcp_chat_conv_t  *cv = calloc(1, sizeof(*cv));

    if (cv) {
        cv->refs = 1;
        mcp_chat_hist_init(&cv->h);
    }
    return cv;
}


void
mcp_chat_conv_unref(mcp_chat_conv_t *cv)
{
    if (--cv->refs == 0) {
        mcp_chat_hist_clear(&cv->h);
        free(cv->principal);
        free(cv);
    }
}


void
mcp_chat_conv_evicted(void *v)
{
    mcp_chat_conv_t  *cv = v;

    cv->cached = 0;
    mcp_chat_conv_unref(cv);
}


void
mcp_chat_drop_context(mcp_chat_t *c, const char *conv)
{
    if (conv && c->contexts) {
        mcp_lru_remove(c->contexts, conv, strlen(conv));
    }
}


void
mcp_chat_forget_context(mcp_chat_req_t *r)
{
    mcp_chat_drop_context(r->chat, r->conv);
}


/* A conversation created or deleted in the store: tell core (redis/
   records and releases homes). */
void
mcp_chat_tell(mcp_chat_t *c, const char *conv, mcp_conv_event_e ev)
{
    if (c->d && conv) {
        mcp_daemon_conversation_event(c->d, conv, ev);
    }
}


/* A conversation open that created it. */
void
mcp_chat_tell_created(mcp_chat_t *c, const mcp_repo_result_t *res,
    const char *conv)
{
    if (res->status == MCP_REPO_OK && res->created) {
        mcp_chat_tell(c, conv, MCP_CONV_CREATED);
    }
}


/* ------------------------------------------------------------ buffers */

int
mcp_chat_buf_add(char **buf, size_t *len, size_t *cap, const char *s,
    size_t n)
{
    char    *b;
    size_t   c;

    if (*len + n + 1 > *cap) {
        c = *cap ? *cap : 256;
        while (c < *len + n + 1) {
            c *= 2;
        }
        b = realloc(*buf, c);
        if (b == NULL) {
            return -1;
        }
        *buf = b;
        *cap = c;
    }
    memcpy(*buf + *len, s, n);
    *len += n;
    (*buf)[*len] = '\0';
    return 0;
}


json_t *
mcp_chat_text_json(const char *s, size_t n)
{
    json_t  *j = json_stringn(s ? s : "", s ? n : 0);

    /* a provider that splits a character between deltas: never send
       invalid JSON, send the bytes we can */
    return j ? j : json_string("");
}


/* ------------------------------------------------------------ storage */

static char *
mcp_chat_dup(const char *s)
{
    return s ? strdup(s) : NULL;
}


static void
mcp_chat_wq_free(mcp_chat_wq_t *q)
{
    mcp_repo_msg_clear(&q->a.msg);
    free(q);
}


/* m == NULL: only mark the request finished (request_end) */
static void
mcp_chat_store_push(mcp_chat_req_t *r, const mcp_repo_msg_t *m, int final)
{
    mcp_chat_wq_t   *q = calloc(1, sizeof(*q));
    mcp_repo_msg_t  *d;

    if (q == NULL) {
        r->store_failed = 1;
        return;
    }
    d = &q->a.msg;
    d->conversation_id = strdup(r->conv);
    d->request_id = strdup(r->rid);
    q->a.final = final;
    if (m != NULL) {
        d->type = m->type;
        d->content = malloc(m->content_len + 1);
        if (d->content) {
            memcpy(d->content, m->content, m->content_len);
            d->content[m->content_len] = '\0';
        }
        d->content_len = m->content_len;
        d->tool_calls = mcp_chat_dup(m->tool_calls);
        d->tool_call_id = mcp_chat_dup(m->tool_call_id);
        d->name = mcp_chat_dup(m->name);
        d->model = mcp_chat_dup(m->model);
        d->usage = mcp_chat_dup(m->usage);
        d->token_count = m->token_count;
        d->part = m->part;
    }
    if (r->wq_tail) {
        r->wq_tail->next = q;
    } else {
        r->wq_head = q;
    }
    r->wq_tail = q;
    mcp_chat_kick(r);
}


void
mcp_chat_store(mcp_chat_req_t *r, const mcp_repo_msg_t *m, int final)
{
    mcp_chat_store_push(r, m, final);
}


static void
mcp_chat_stored(const mcp_repo_result_t *res, void *data)
{
    mcp_chat_req_t  *r = data;
    mcp_chat_wq_t   *q = r->wq_head;

    r->writing = 0;
    r->wq_head = q->next;
    if (r->wq_head == NULL) {
        r->wq_tail = NULL;
    }
    if (res->status != MCP_REPO_OK) {
        r->store_failed = 1;
        mcp_log_error(r->chat->log, "chat", "request %s of %s: storing a "
                      "%s message: %s", r->rid, r->conv,
                      q->a.msg.type ? mcp_msg_type_name(q->a.msg.type)
                                    : "request end", res->error);
    }
    mcp_chat_wq_free(q);
    mcp_chat_kick(r);
    mcp_chat_req_unref(r);
}


static void
mcp_chat_kick(mcp_chat_req_t *r)
{
    void          (*fn)(mcp_chat_req_t *r);
    mcp_chat_wq_t  *q = r->wq_head;
    int             rc;

    if (r->writing) {
        return;
    }
    if (q == NULL) {
        if (r->drained) {
            fn = r->drained;
            r->drained = NULL;
            fn(r);
        }
        return;
    }
    r->writing = 1;
    mcp_chat_req_ref(r);
    if (q->a.msg.type == 0) {
        rc = mcp_repo_request_end(r->chat->repo, q->a.msg.conversation_id,
                                  q->a.msg.request_id, mcp_chat_stored, r);
    } else {
        rc = mcp_repo_append(r->chat->repo, &q->a, mcp_chat_stored, r);
    }
    if (rc != 0) {
        mcp_repo_result_t  res;

        memset(&res, 0, sizeof(res));
        res.status = MCP_REPO_ECLOSED;
        res.error = "the conversation store is closed";
        mcp_chat_stored(&res, r);
    }
}


void
mcp_chat_store_then(mcp_chat_req_t *r, void (*fn)(mcp_chat_req_t *r))
{
    r->drained = fn;
    mcp_chat_kick(r);
}


void
mcp_chat_store_json(mcp_chat_req_t *r, mcp_msg_type_e type, json_t *msg,
    const char *content, size_t len, int64_t part, const char *call_id,
    const char *name, const char *usage, int final)
{
    mcp_repo_msg_t  m;

    memset(&m, 0, sizeof(m));
    m.type = type;
    m.content = (char *) (content ? content : "");
    m.content_len = content ? len : 0;
    m.tool_call_id = (char *) call_id;
    m.name = (char *) name;
    m.usage = (char *) usage;
    m.model = r->model;
    m.part = part;
    m.token_count = msg ? mcp_chat_tokens_msg(msg)
                        : mcp_chat_tokens_text(content, len) + 3;
    mcp_chat_store_push(r, &m, final);
}


char *
mcp_chat_usage_json(mcp_chat_req_t *r, const char *finish)
{
    json_t  *u;
    char    *s;

    u = json_pack("{s:I, s:I, s:I, s:s}",
                  "prompt_tokens", (json_int_t) r->prompt_tokens,
                  "completion_tokens", (json_int_t) r->completion_tokens,
                  "total_tokens",
                  (json_int_t) (r->prompt_tokens + r->completion_tokens),
                  "finish_reason", finish ? finish : "stop");
    s = u ? json_dumps(u, JSON_COMPACT) : NULL;
    json_decref(u);
    return s;
}


/* the last assistant row of the request, which marks it answered */
void
mcp_chat_store_final(mcp_chat_req_t *r, const char *finish)
{
    char  *usage = mcp_chat_usage_json(r, finish);

    mcp_chat_store_json(r, MCP_MSG_ASSISTANT, NULL, r->turn_text,
                        r->turn_len, r->hop, NULL, NULL, usage, 1);
    free(usage);
}


/*
 * What a cancel keeps: the text of the turn that was streaming, stored as
 * the answer and marked "cancelled"; otherwise only the end of the request
 * (earlier turns and tools are stored already).
 */
void
mcp_chat_turn_keep_partial(mcp_chat_req_t *r)
{
    if (r->state == MCP_REQ_S_MODEL && r->turn_len > 0) {
        mcp_chat_store_final(r, "cancelled");
    } else {
        mcp_chat_store_push(r, NULL, 0);
    }
    mcp_chat_forget_context(r);
}


/* ------------------------------------------------------------ replay */

void
mcp_chat_replay(mcp_chat_req_t *r, const mcp_repo_result_t *res)
{
    char         *text = NULL, *usage = NULL;
    size_t        len = 0, cap = 0, i;
    const char   *model = NULL;
    json_t       *u = NULL, *md, *fr;

    for (i = 0; i < res->n_msgs; i++) {
        const mcp_repo_msg_t  *m = &res->msgs[i];

        if (m->type != MCP_MSG_ASSISTANT) {
            continue;
        }
        mcp_chat_buf_add(&text, &len, &cap, m->content ? m->content : "",
                         m->content ? m->content_len : 0);
        if (m->model) {
            model = m->model;
        }
        if (m->usage) {
            usage = m->usage;
        }
    }

    r->chat->replayed++;
    mcp_chat_emit(r, "chunk", json_pack("{s:s, s:o, s:{s:b}}", "type", "text",
                  "data", mcp_chat_text_json(text, len), "metadata",
                  "cached", 1));

    md = json_pack("{s:s, s:b}", "conversation_id", r->conv, "cached", 1);
    if (model) {
        json_object_set_new(md, "model", json_string(model));
    }
    u = usage ? json_loads(usage, 0, NULL) : NULL;
    if (u) {
        fr = json_object_get(u, "finish_reason");
        if (fr) {
            json_object_set(md, "finish_reason", fr);
            json_object_del(u, "finish_reason");
        }
        json_object_set_new(md, "usage", u);
    }
    free(text);
    r->chat->completed++;
    mcp_chat_emit(r, "complete", json_pack("{s:o}", "metadata", md));
    mcp_chat_finish(r);
}


