/*
 * The actions besides chat: cancel, history, list_conversations,
 * delete_conversation, list_tools.  Each checks its payload (wrong types
 * are invalid_request), reads through the repository scoped to the
 * session's principal (someone else's conversation does not exist), and
 * answers with one `complete` or one `error`.
 */

#include <stdlib.h>
#include <string.h>

#include "chat/mcp_chat_int.h"

#define MCP_CHAT_PAGE_DEFAULT  50
#define MCP_CHAT_PAGE_MAX      500
/* list_conversations reads this many rows at most to serve a cursor */
#define MCP_CHAT_LIST_SCAN     10000

/* what an action waits for: the session and its request id */
typedef struct {
    mcp_chat_t     *chat;
    mcp_session_t  *s;
    char           *rid;
    char           *conv;
    int64_t         limit;
    int64_t         before;     /* 0: none */
} mcp_chat_op_t;


static mcp_chat_op_t *
mcp_chat_op_new(mcp_chat_t *c, mcp_session_t *s, const char *rid)
{
    mcp_chat_op_t  *op = calloc(1, sizeof(*op));

    if (op == NULL) {
        return NULL;
    }
    op->chat = c;
    op->s = s;
    op->rid = strdup(rid);
    if (op->rid == NULL) {
        free(op);
        return NULL;
    }
    mcp_session_ref(s);
    return op;
}


static void
mcp_chat_op_free(mcp_chat_op_t *op)
{
    mcp_session_unref(op->s);
    free(op->rid);
    free(op->conv);
    free(op);
}


static void
mcp_chat_op_repo_error(mcp_chat_op_t *op, const mcp_repo_result_t *res)
{
    if (res->status == MCP_REPO_ENOTFOUND) {
        op->chat->errors[MCP_CHAT_E_NOTFOUND]++;
        mcp_session_error(op->s, op->rid, "conversation_not_found",
                          "conversation %s not found",
                          op->conv ? op->conv : "");
        return;
    }
    op->chat->errors[MCP_CHAT_E_INTERNAL]++;
    mcp_log_error(op->chat->log, "chat", "request %s: %s", op->rid,
                  res->error);
    mcp_session_error(op->s, op->rid, "internal",
                      "the conversation store failed: %s", res->error);
}


/*
 * The payload: an object, or absent (*p NULL then: jansson's getters
 * answer NULL for it, i.e. every field absent).  -1 after answering an
 * error.
 */
static int
mcp_chat_payload(mcp_session_t *s, const char *rid, json_t *msg, json_t **p)
{
    *p = json_object_get(msg, "payload");
    if (*p == NULL || json_is_null(*p)) {
        *p = NULL;
        return 0;
    }
    if (!json_is_object(*p)) {
        mcp_session_error(s, rid, "invalid_request",
                          "payload must be an object");
        return -1;
    }
    return 0;
}


/* an optional non-negative integer field; -1 after answering an error */
static int
mcp_chat_int_field(mcp_session_t *s, const char *rid, json_t *p,
    const char *key, int64_t min, int64_t max, int64_t *out)
{
    json_t  *v = json_object_get(p, key);

    if (v == NULL || json_is_null(v)) {
        return 0;
    }
    if (!json_is_integer(v) || json_integer_value(v) < min
        || json_integer_value(v) > max)
    {
        mcp_session_error(s, rid, "invalid_request",
                          "payload.%s must be an integer from %lld to %lld",
                          key, (long long) min, (long long) max);
        return -1;
    }
    *out = json_integer_value(v);
    return 0;
}


/* the required conversation_id; NULL after answering an error */
static const char *
mcp_chat_conv_field(mcp_session_t *s, const char *rid, json_t *p)
{
    json_t  *v = json_object_get(p, "conversation_id");

    if (v == NULL || json_is_null(v)) {
        mcp_session_error(s, rid, "invalid_request",
                          "payload.conversation_id is required");
        return NULL;
    }
    if (!mcp_chat_valid_id(v)) {
        mcp_session_error(s, rid, "invalid_request",
                          "payload.conversation_id must be a string of 1 to "
                          "128 bytes");
        return NULL;
    }
    return json_string_value(v);
}


/* ------------------------------------------------------------ cancel */

void
mcp_chat_handle_cancel(mcp_session_t *s, const char *rid, json_t *msg,
    void *ctx)
{
    mcp_chat_t      *c = ctx;
    mcp_chat_req_t  *r;
    json_t          *p, *target;
    int              done;

    if (mcp_chat_payload(s, rid, msg, &p) != 0) {
        c->errors[MCP_CHAT_E_INVALID]++;
        return;
    }
    target = json_object_get(p, "target");
    if (!mcp_chat_valid_id(target)) {
        mcp_session_error(s, rid, "invalid_request",
                          "payload.target must be the request_id to cancel");
        return;
    }

    r = mcp_chat_find(c, s, json_string_value(target));
    done = r != NULL && !r->finished && !r->cancel
           && r->state != MCP_REQ_S_FINISHING;
    mcp_session_reply(s, rid, "complete", json_pack("{s:{s:b}}", "metadata",
                      "cancelled", done));
    if (done) {
        mcp_chat_req_cancel(r, 1);
    }
}


/* ------------------------------------------------------------ history */

static json_t *
mcp_chat_history_msg(json_t *m)
{
    json_t      *o, *v;
    const char  *type = json_string_value(json_object_get(m, "type"));

    o = json_pack("{s:O, s:s, s:O, s:O, s:O}",
                  "seq", json_object_get(m, "id"),
                  "role", type ? type : "",
                  "content", json_object_get(m, "content"),
                  "request_id", json_object_get(m, "request_id"),
                  "created_at", json_object_get(m, "created_at"));
    if (o == NULL) {
        return NULL;
    }
    if ((v = json_object_get(m, "name")) != NULL) {
        json_object_set(o, "tool", v);
    }
    if ((v = json_object_get(m, "tool_call_id")) != NULL) {
        json_object_set(o, "tool_call_id", v);
    }
    if ((v = json_object_get(m, "model")) != NULL) {
        json_object_set(o, "model", v);
    }
    if ((v = json_object_get(m, "usage")) != NULL && json_is_object(v)) {
        json_t  *u = json_deep_copy(v), *fr = json_object_get(u, "finish_reason");

        if (fr) {
            /* "cancelled", "tool_limit_reached": a partial answer */
            json_object_set(o, "finish_reason", fr);
            json_object_del(u, "finish_reason");
        }
        json_object_set_new(o, "usage", u);
    }
    return o;
}


static void
mcp_chat_history_done(const mcp_repo_result_t *res, void *data)
{
    mcp_chat_op_t  *op = data;
    json_t         *doc, *msgs, *out, *m;
    size_t          i, n, end, start;

    if (res->status != MCP_REPO_OK) {
        mcp_chat_op_repo_error(op, res);
        mcp_chat_op_free(op);
        return;
    }
    doc = json_loadb(res->json, res->json_len, 0, NULL);
    msgs = json_object_get(doc, "messages");
    n = json_array_size(msgs);

    /* messages are oldest first: the page ends before `before` */
    end = n;
    if (op->before > 0) {
        while (end > 0 && json_integer_value(json_object_get(
                   json_array_get(msgs, end - 1), "id")) >= op->before)
        {
            end--;
        }
    }
    start = end > (size_t) op->limit ? end - (size_t) op->limit : 0;

    out = json_array();
    for (i = start; i < end; i++) {
        m = mcp_chat_history_msg(json_array_get(msgs, i));
        if (m) {
            json_array_append_new(out, m);
        }
    }
    m = json_pack("{s:s, s:o}", "conversation_id", op->conv, "messages", out);
    if (start > 0) {
        json_object_set(m, "next_before",
                        json_object_get(json_array_get(msgs, start), "id"));
    }
    json_decref(doc);
    mcp_session_reply(op->s, op->rid, "complete",
                      json_pack("{s:o}", "metadata", m));
    mcp_chat_op_free(op);
}


void
mcp_chat_handle_history(mcp_session_t *s, const char *rid, json_t *msg,
    void *ctx)
{
    mcp_chat_t     *c = ctx;
    json_t         *p;
    const char     *conv;
    mcp_chat_op_t  *op;
    int64_t         limit = MCP_CHAT_PAGE_DEFAULT, before = 0;

    if (mcp_chat_payload(s, rid, msg, &p) != 0
        || (conv = mcp_chat_conv_field(s, rid, p)) == NULL
        || mcp_chat_int_field(s, rid, p, "limit", 1, MCP_CHAT_PAGE_MAX,
                              &limit) != 0
        || mcp_chat_int_field(s, rid, p, "before", 1, INT64_MAX, &before)
           != 0)
    {
        c->errors[MCP_CHAT_E_INVALID]++;
        return;
    }
    op = mcp_chat_op_new(c, s, rid);
    if (op == NULL || (op->conv = strdup(conv)) == NULL) {
        mcp_session_error(s, rid, "internal", "out of memory");
        if (op) {
            mcp_chat_op_free(op);
        }
        return;
    }
    op->limit = limit;
    op->before = before;
    /* export checks the owner and reads every row off the loop; a page is
       cut from it (see docs/operations.md on very long conversations) */
    if (mcp_repo_export(c->repo, mcp_chat_principal(s), conv,
                        mcp_chat_history_done, op) != 0)
    {
        mcp_session_error(s, rid, "internal",
                          "the conversation store is not available");
        mcp_chat_op_free(op);
    }
}


/* ------------------------------------------------------------ list */

static void
mcp_chat_list_done(const mcp_repo_result_t *res, void *data)
{
    mcp_chat_op_t  *op = data;
    json_t         *out, *md;
    size_t          i, n = 0;
    int64_t         last = 0;
    int             more = 0;

    if (res->status != MCP_REPO_OK) {
        mcp_chat_op_repo_error(op, res);
        mcp_chat_op_free(op);
        return;
    }
    out = json_array();
    for (i = 0; i < res->n_convs; i++) {
        const mcp_repo_conv_t  *cv = &res->convs[i];

        if (op->before > 0 && cv->updated_at >= op->before) {
            continue;
        }
        if (n == (size_t) op->limit) {
            more = 1;
            break;
        }
        json_array_append_new(out, json_pack("{s:s, s:s?, s:I, s:I, s:I}",
                              "conversation_id", cv->id, "title", cv->title,
                              "created_at", (json_int_t) cv->created_at,
                              "updated_at", (json_int_t) cv->updated_at,
                              "messages", (json_int_t) cv->messages));
        last = cv->updated_at;
        n++;
    }
    md = json_pack("{s:o}", "conversations", out);
    if (more) {
        json_object_set_new(md, "next_before", json_integer(last));
    }
    mcp_session_reply(op->s, op->rid, "complete",
                      json_pack("{s:o}", "metadata", md));
    mcp_chat_op_free(op);
}


void
mcp_chat_handle_list_conversations(mcp_session_t *s, const char *rid,
    json_t *msg, void *ctx)
{
    mcp_chat_t     *c = ctx;
    json_t         *p;
    mcp_chat_op_t  *op;
    int64_t         limit = MCP_CHAT_PAGE_DEFAULT, before = 0;

    if (mcp_chat_payload(s, rid, msg, &p) != 0
        || mcp_chat_int_field(s, rid, p, "limit", 1, MCP_CHAT_PAGE_MAX,
                              &limit) != 0
        || mcp_chat_int_field(s, rid, p, "before", 1, INT64_MAX, &before)
           != 0)
    {
        c->errors[MCP_CHAT_E_INVALID]++;
        return;
    }
    op = mcp_chat_op_new(c, s, rid);
    if (op == NULL) {
        mcp_session_error(s, rid, "internal", "out of memory");
        return;
    }
    op->limit = limit;
    op->before = before;
    if (mcp_repo_list(c->repo, mcp_chat_principal(s),
                      before ? MCP_CHAT_LIST_SCAN : limit + 1,
                      mcp_chat_list_done, op) != 0)
    {
        mcp_session_error(s, rid, "internal",
                          "the conversation store is not available");
        mcp_chat_op_free(op);
    }
}


/* ------------------------------------------------------------ delete */

static void
mcp_chat_delete_done(const mcp_repo_result_t *res, void *data)
{
    mcp_chat_op_t  *op = data;

    if (res->status != MCP_REPO_OK) {
        mcp_chat_op_repo_error(op, res);
    } else {
        if (op->chat->contexts) {
            mcp_lru_remove(op->chat->contexts, op->conv, strlen(op->conv));
        }
        mcp_session_reply(op->s, op->rid, "complete", json_pack(
                          "{s:{s:b, s:s, s:I}}", "metadata", "deleted", 1,
                          "conversation_id", op->conv, "messages",
                          (json_int_t) res->count));
    }
    mcp_chat_op_free(op);
}


void
mcp_chat_handle_delete(mcp_session_t *s, const char *rid, json_t *msg,
    void *ctx)
{
    mcp_chat_t     *c = ctx;
    json_t         *p;
    const char     *conv;
    mcp_chat_op_t  *op;

    if (mcp_chat_payload(s, rid, msg, &p) != 0
        || (conv = mcp_chat_conv_field(s, rid, p)) == NULL)
    {
        c->errors[MCP_CHAT_E_INVALID]++;
        return;
    }
    op = mcp_chat_op_new(c, s, rid);
    if (op == NULL || (op->conv = strdup(conv)) == NULL) {
        mcp_session_error(s, rid, "internal", "out of memory");
        if (op) {
            mcp_chat_op_free(op);
        }
        return;
    }
    if (c->contexts) {
        mcp_lru_remove(c->contexts, conv, strlen(conv));
    }
    if (mcp_repo_delete(c->repo, mcp_chat_principal(s), conv,
                        mcp_chat_delete_done, op) != 0)
    {
        mcp_session_error(s, rid, "internal",
                          "the conversation store is not available");
        mcp_chat_op_free(op);
    }
}


/* ------------------------------------------------------------ tools */

void
mcp_chat_handle_list_tools(mcp_session_t *s, const char *rid, json_t *msg,
    void *ctx)
{
    mcp_chat_t  *c = ctx;
    json_t      *tools = NULL, *p;

    if (mcp_chat_payload(s, rid, msg, &p) != 0) {
        c->errors[MCP_CHAT_E_INVALID]++;
        return;
    }
    if (c->tools && c->tools->list) {
        tools = c->tools->list(c->tools->ctx);
    }
    mcp_session_reply(s, rid, "complete", json_pack("{s:{s:o}}", "metadata",
                      "tools", tools ? tools : json_array()));
}
