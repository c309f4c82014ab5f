/*
 * The actions besides chat: cancel, history, list_conversations,
 * delete_conversation, list_tools.  Each checks its payload (wrong types
 * are invalid_request), reads through the repository scoped to the
 * session's principal (someone else's conversation does not exist), and
 * answers with one `complete` or one `error`.
 */

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "chat/mcp_chat_int.h"

#define MCP_CHAT_PAGE_DEFAULT  50
#define MCP_CHAT_PAGE_MAX      500

/* mcp_send_buffer_size's default, for a session whose OPEN did not say */
#define MCP_CHAT_SEND_BUFFER_DEFAULT  (1024 * 1024)
/* what a page's frame adds to its messages: the request id, status,
   conversation id, cursor and the JSON around them */
#define MCP_CHAT_ANSWER_ENVELOPE      (512 + 2 * MCP_CHAT_ID_MAX)

/* what an action waits for: the session and its request id */
typedef struct {
    mcp_chat_t     *chat;
    mcp_session_t  *s;
    char           *rid;
    char           *conv;
    int64_t         limit;      /* history, list: the page size */
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
        mcp_chat_req_cancel(r, MCP_CHAT_STOP_CANCEL);
    }
}


/* ------------------------------------------------------------ paging */

/*
 * history and list_conversations read keyset pages (mcp_repo_page.c): one
 * row more than the page is asked for, and its presence is what says
 * that an older page exists.
 */

static mcp_chat_op_t *
mcp_chat_op_begin(mcp_chat_t *c, mcp_session_t *s, const char *rid,
    const char *conv)
{
    mcp_chat_op_t  *op = mcp_chat_op_new(c, s, rid);

    if (op != NULL && conv != NULL && (op->conv = strdup(conv)) == NULL) {
        mcp_chat_op_free(op);
        op = NULL;
    }
    if (op == NULL) {
        mcp_session_error(s, rid, "internal", "out of memory");
    }
    return op;
}


/* rc: what the repository call returned */
static void
mcp_chat_op_submitted(mcp_chat_op_t *op, int rc)
{
    if (rc != 0) {
        mcp_session_error(op->s, op->rid, "internal",
                          "the conversation store is not available");
        mcp_chat_op_free(op);
    }
}


/* the payload and its limit; -1 after answering an error */
static int
mcp_chat_page_payload(mcp_chat_t *c, mcp_session_t *s, const char *rid,
    json_t *msg, json_t **p, int64_t *limit)
{
    *limit = MCP_CHAT_PAGE_DEFAULT;
    if (mcp_chat_payload(s, rid, msg, p) != 0
        || mcp_chat_int_field(s, rid, *p, "limit", 1, MCP_CHAT_PAGE_MAX,
                              limit) != 0)
    {
        c->errors[MCP_CHAT_E_INVALID]++;
        return -1;
    }
    return 0;
}


/* ------------------------------------------------------------ history */

/*
 * The bytes a large answer (a history page) may take: a quarter of the
 * client's mcp_send_buffer_size, which the module sends in OPEN.  After a
 * FLOW pause the module takes up to the whole buffer more before it closes
 * the client with 1008, and what was already on its way when the pause
 * reached mcpd (the link buffer, at most an eighth of it by the docs, and
 * the socket's) must fit there too; a page of a quarter fits, even two.
 * A request forwarded from another instance (mcp_redis_fwd.c) carries
 * the asking client's value.  Without the attribute (an older module or
 * instance): the directive's default, 1m.
 */
static size_t
mcp_chat_answer_budget(mcp_session_t *s)
{
    const char          *v = mcp_session_attr(s, "send_buffer_size");
    unsigned long long   n = v ? strtoull(v, NULL, 10) : 0;

    if (n == 0) {
        n = MCP_CHAT_SEND_BUFFER_DEFAULT;
    }
    return (size_t) (n / 4);
}


static json_t *
mcp_chat_history_usage(json_t *o, const char *usage)
{
    json_t  *u = json_loads(usage, 0, NULL), *fr;

    if (u == NULL || !json_is_object(u)) {
        json_decref(u);
        return o;
    }
    fr = json_object_get(u, "finish_reason");
    if (fr) {
        /* "cancelled", "tool_limit_reached": a partial answer */
        json_object_set(o, "finish_reason", fr);
        json_object_del(u, "finish_reason");
    }
    json_object_set_new(o, "usage", u);
    return o;
}


static json_t *
mcp_chat_history_msg(const mcp_repo_msg_t *m)
{
    json_t  *o, *content;

    content = json_stringn(m->content, m->content_len);
    o = json_pack("{s:I, s:s, s:o, s:s?, s:I}",
                  "seq", (json_int_t) m->id,
                  "role", mcp_msg_type_name(m->type),
                  "content", content ? content : json_null(),
                  "request_id", m->request_id,
                  "created_at", (json_int_t) m->created_at);
    if (o == NULL) {
        return NULL;
    }
    if (content == NULL) {
        /* not UTF-8: JSON cannot carry it as text; say so, keep the rest */
        json_object_set_new(o, "content_invalid_utf8", json_true());
    }
    if (m->name) {
        json_object_set_new(o, "tool", json_string(m->name));
    }
    if (m->tool_call_id) {
        json_object_set_new(o, "tool_call_id", json_string(m->tool_call_id));
    }
    if (m->model) {
        json_object_set_new(o, "model", json_string(m->model));
    }
    return m->usage ? mcp_chat_history_usage(o, m->usage) : o;
}


static void
mcp_chat_history_done(const mcp_repo_result_t *res, void *data)
{
    mcp_chat_op_t  *op = data;
    json_t         *out, *md, *m;
    size_t          i, first, budget, used, size;

    if (res->status != MCP_REPO_OK) {
        mcp_chat_op_repo_error(op, res);
        mcp_chat_op_free(op);
        return;
    }
    /* oldest first: the extra row, if any, is the first and is not shown;
       the page is filled from the newest down, within the client's byte
       budget (the rest is the next page, by the same cursor) */
    first = res->n_msgs > (size_t) op->limit ? 1 : 0;
    budget = mcp_chat_answer_budget(op->s);
    used = MCP_CHAT_ANSWER_ENVELOPE;
    out = json_array();
    for (i = res->n_msgs; i > first; i--) {
        m = mcp_chat_history_msg(&res->msgs[i - 1]);
        if (m == NULL) {
            continue;
        }
        size = json_dumpb(m, NULL, 0, JSON_COMPACT) + 1;
        if (json_array_size(out) > 0 && used + size > budget) {
            json_decref(m);
            break;
        }
        used += size;
        json_array_insert_new(out, 0, m);
    }
    md = json_pack("{s:s, s:o}", "conversation_id", op->conv, "messages", out);
    if (i > 0) {
        /* older messages exist: the page's oldest is the cursor */
        json_object_set_new(md, "next_before", json_integer(res->msgs[i].id));
    }
    mcp_session_answer(op->s, op->rid, "complete",
                      json_pack("{s:o}", "metadata", md));
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
    int64_t         limit, before = 0;

    if (mcp_chat_page_payload(c, s, rid, msg, &p, &limit) != 0) {
        return;
    }
    if ((conv = mcp_chat_conv_field(s, rid, p)) == NULL
        || mcp_chat_int_field(s, rid, p, "before", 1, INT64_MAX, &before)
           != 0)
    {
        c->errors[MCP_CHAT_E_INVALID]++;
        return;
    }
    op = mcp_chat_op_begin(c, s, rid, conv);
    if (op == NULL) {
        return;
    }
    op->limit = limit;
    mcp_chat_op_submitted(op, mcp_repo_history_page(c->repo,
                          mcp_chat_principal(s), conv, before, limit + 1,
                          mcp_chat_history_done, op));
}


/* ------------------------------------------------------------ list */

/*
 * The cursor of list_conversations names the last conversation shown as
 * "<updated_at>:<id>": conversations are ordered by both, so two updated
 * in the same millisecond are still told apart.  Clients treat it as
 * opaque; an integer (an updated_at, the first form) still means "updated
 * strictly before".  0 on success, -1 for something that is neither.
 */
static int
mcp_chat_list_cursor(json_t *v, int64_t *updated, const char **id)
{
    const char  *str, *colon;
    char        *end;
    long long    t;

    *updated = -1;
    *id = NULL;
    if (v == NULL || json_is_null(v)) {
        return 0;
    }
    if (json_is_integer(v)) {
        *updated = json_integer_value(v);
        return *updated >= 1 ? 0 : -1;
    }
    if (!json_is_string(v)
        || strlen(str = json_string_value(v)) != json_string_length(v)
        || (colon = strchr(str, ':')) == NULL || colon == str
        || str[0] < '0' || str[0] > '9')
    {
        return -1;
    }
    t = strtoll(str, &end, 10);
    if (end != colon || t < 0 || t == LLONG_MAX || strlen(colon + 1) == 0
        || strlen(colon + 1) > MCP_CHAT_ID_MAX)
    {
        return -1;
    }
    *updated = t;
    *id = colon + 1;
    return 0;
}


static void
mcp_chat_list_done(const mcp_repo_result_t *res, void *data)
{
    mcp_chat_op_t          *op = data;
    const mcp_repo_conv_t  *cv = NULL;
    json_t                 *out, *md;
    size_t                  i, n;

    if (res->status != MCP_REPO_OK) {
        mcp_chat_op_repo_error(op, res);
        mcp_chat_op_free(op);
        return;
    }
    n = res->n_convs < (size_t) op->limit ? res->n_convs : (size_t) op->limit;
    out = json_array();
    for (i = 0; i < n; i++) {
        cv = &res->convs[i];
        json_array_append_new(out, json_pack("{s:s, s:s?, s:I, s:I, s:I}",
                              "conversation_id", cv->id, "title", cv->title,
                              "created_at", (json_int_t) cv->created_at,
                              "updated_at", (json_int_t) cv->updated_at,
                              "messages", (json_int_t) cv->messages));
    }
    md = json_pack("{s:o}", "conversations", out);
    if (res->n_convs > n && cv != NULL) {
        json_object_set_new(md, "next_before", json_sprintf("%lld:%s",
                            (long long) cv->updated_at, cv->id));
    }
    mcp_session_answer(op->s, op->rid, "complete",
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
    const char     *before_id;
    int64_t         limit, before;

    if (mcp_chat_page_payload(c, s, rid, msg, &p, &limit) != 0) {
        return;
    }
    if (mcp_chat_list_cursor(json_object_get(p, "before"), &before,
                             &before_id) != 0)
    {
        c->errors[MCP_CHAT_E_INVALID]++;
        mcp_session_error(s, rid, "invalid_request",
                          "payload.before must be a next_before this server "
                          "gave");
        return;
    }
    op = mcp_chat_op_begin(c, s, rid, NULL);
    if (op == NULL) {
        return;
    }
    op->limit = limit;
    mcp_chat_op_submitted(op, mcp_repo_list_page(c->repo,
                          mcp_chat_principal(s), before, before_id, limit + 1,
                          mcp_chat_list_done, op));
}


/* ------------------------------------------------------------ delete */

static void
mcp_chat_delete_done(const mcp_repo_result_t *res, void *data)
{
    mcp_chat_op_t  *op = data;

    if (res->status != MCP_REPO_OK) {
        mcp_chat_op_repo_error(op, res);
    } else {
        mcp_chat_drop_context(op->chat, op->conv);
        mcp_chat_tell(op->chat, op->conv, MCP_CONV_DELETED);
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
    op = mcp_chat_op_begin(c, s, rid, conv);
    if (op == NULL) {
        return;
    }
    if (c->contexts) {
        mcp_lru_remove(c->contexts, conv, strlen(conv));
    }
    mcp_chat_op_submitted(op, mcp_repo_delete(c->repo, mcp_chat_principal(s),
                          conv, mcp_chat_delete_done, op));
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
    mcp_session_answer(s, rid, "complete", json_pack("{s:{s:o}}", "metadata",
                      "tools", tools ? tools : json_array()));
}
