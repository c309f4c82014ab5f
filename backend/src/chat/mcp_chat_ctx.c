/*
 * Context assembly (see mcp_chat_ctx.h).
 */

#include <stdlib.h>
#include <string.h>

#include "chat/mcp_chat_ctx.h"
#include "chat/mcp_tokens.h"



/* ------------------------------------------------------------ tokens */

/*
 * Every count goes through these two functions: the cl100k-shaped
 * estimator of chat/mcp_tokens.h with OpenAI's per-message framing (3 per
 * message, 1 per name, 3 priming per request).
 */
const char *
mcp_chat_tokens_estimator(void)
{
    return mcp_tokens_estimator_name();
}


int64_t
mcp_chat_tokens_text(const char *s, size_t len)
{
    return s ? (int64_t) mcp_tokens_estimate(s, len) : 0;
}


int64_t
mcp_chat_tokens_msg(json_t *msg)
{
    mcp_tok_message_t   m;
    json_t             *v;
    char               *dump = NULL;
    int64_t             t;

    memset(&m, 0, sizeof(m));
    if ((v = json_object_get(msg, "role")) && json_is_string(v)) {
        m.role = json_string_value(v);
        m.role_len = json_string_length(v);
    }
    if ((v = json_object_get(msg, "content")) && json_is_string(v)) {
        m.content = json_string_value(v);
        m.content_len = json_string_length(v);
    }
    if ((v = json_object_get(msg, "name")) && json_is_string(v)) {
        m.name = json_string_value(v);
        m.name_len = json_string_length(v);
    }
    /* what else the provider encodes: the calls, or the id answered */
    if ((v = json_object_get(msg, "tool_calls")) != NULL) {
        dump = json_dumps(v, JSON_COMPACT);
        m.extra = dump;
        m.extra_len = dump ? strlen(dump) : 0;
    } else if ((v = json_object_get(msg, "tool_call_id")) && json_is_string(v))
    {
        m.extra = json_string_value(v);
        m.extra_len = json_string_length(v);
    }
    t = (int64_t) mcp_tokens_message(&m);
    free(dump);
    return t;
}


/* ------------------------------------------------------------ the list */

void
mcp_chat_hist_init(mcp_chat_hist_t *h)
{
    memset(h, 0, sizeof(*h));
}


/* msg is about to change (or go): its dump no longer says what it holds */
static void
mcp_chat_item_changed(mcp_chat_item_t *it)
{
    free(it->json);
    it->json = NULL;
    it->json_len = 0;
}


static void
mcp_chat_item_clear(mcp_chat_item_t *it)
{
    mcp_chat_item_changed(it);
    json_decref(it->msg);
    free(it->request_id);
    it->msg = NULL;
    it->request_id = NULL;
}


void
mcp_chat_hist_clear(mcp_chat_hist_t *h)
{
    size_t  i;

    for (i = 0; i < h->n; i++) {
        mcp_chat_item_clear(&h->items[i]);
    }
    free(h->items);
    mcp_chat_hist_init(h);
}


int
mcp_chat_hist_push(mcp_chat_hist_t *h, json_t *msg, const char *request_id,
    int64_t hop)
{
    mcp_chat_item_t  *it, *grown;

    if (h->n == h->cap) {
        size_t  cap = h->cap ? h->cap * 2 : 16;

        grown = realloc(h->items, cap * sizeof(*grown));
        if (grown == NULL) {
            return -1;
        }
        h->items = grown;
        h->cap = cap;
    }
    it = &h->items[h->n];
    it->request_id = request_id ? strdup(request_id) : NULL;
    if (request_id && it->request_id == NULL) {
        return -1;
    }
    it->msg = json_incref(msg);
    it->json = NULL;
    it->json_len = 0;
    it->tokens = mcp_chat_tokens_msg(msg);
    it->hop = hop;
    it->tool = json_is_string(json_object_get(msg, "role"))
               && strcmp(json_string_value(json_object_get(msg, "role")),
                         "tool") == 0;
    h->n++;
    h->tokens += it->tokens;
    return 0;
}


static int
mcp_chat_same_request(const mcp_chat_item_t *it, const char *rid)
{
    return it->request_id && rid && strcmp(it->request_id, rid) == 0;
}


/* the assistant message this tool call belongs to: the last item, when it
   is the same request's same turn and no result has come yet */
static mcp_chat_item_t *
mcp_chat_call_owner(mcp_chat_hist_t *h, const mcp_repo_msg_t *row,
    int64_t hop)
{
    mcp_chat_item_t  *last;
    json_t           *role;

    if (h->n == 0) {
        return NULL;
    }
    last = &h->items[h->n - 1];
    role = json_object_get(last->msg, "role");
    if (!json_is_string(role) || strcmp(json_string_value(role), "assistant")
        || !mcp_chat_same_request(last, row->request_id) || last->hop != hop)
    {
        return NULL;
    }
    return last;
}


static int
mcp_chat_add_tool_call(mcp_chat_hist_t *h, const mcp_repo_msg_t *row)
{
    int64_t           hop = MCP_CHAT_PART_HOP(row->part);
    mcp_chat_item_t  *owner = mcp_chat_call_owner(h, row, hop);
    json_t           *call, *calls, *msg;
    int64_t           before;
    int               rc;

    call = json_pack("{s:s, s:s, s:{s:s, s:s#}}",
                     "id", row->tool_call_id ? row->tool_call_id : "",
                     "type", "function",
                     "function",
                       "name", row->name ? row->name : "",
                       "arguments", row->content ? row->content : "",
                       row->content ? row->content_len : 0);
    if (call == NULL) {
        return 0;   /* arguments that are not UTF-8: drop the call */
    }

    if (owner != NULL) {
        mcp_chat_item_changed(owner);
        calls = json_object_get(owner->msg, "tool_calls");
        if (calls == NULL) {
            calls = json_array();
            json_object_set_new(owner->msg, "tool_calls", calls);
        }
        json_array_append_new(calls, call);
        before = owner->tokens;
        owner->tokens = mcp_chat_tokens_msg(owner->msg);
        h->tokens += owner->tokens - before;
        return 0;
    }

    msg = json_pack("{s:s, s:n, s:[o]}", "role", "assistant", "content",
                    "tool_calls", call);
    if (msg == NULL) {
        return -1;
    }
    rc = mcp_chat_hist_push(h, msg, row->request_id, hop);
    json_decref(msg);
    return rc;
}


int
mcp_chat_hist_add_row(mcp_chat_hist_t *h, const mcp_repo_msg_t *row,
    const char *skip_request)
{
    json_t  *msg = NULL;
    int      rc;

    if (skip_request && row->request_id
        && strcmp(row->request_id, skip_request) == 0)
    {
        return 0;
    }

    switch (row->type) {
    case MCP_MSG_USER:
    case MCP_MSG_ASSISTANT:
        msg = json_pack("{s:s, s:s#}",
                        "role", row->type == MCP_MSG_USER ? "user"
                                                          : "assistant",
                        "content", row->content ? row->content : "",
                        row->content ? row->content_len : 0);
        break;
    case MCP_MSG_TOOL_CALL:
        return mcp_chat_add_tool_call(h, row);
    case MCP_MSG_TOOL_RESULT:
        msg = json_pack("{s:s, s:s, s:s#}", "role", "tool",
                        "tool_call_id",
                        row->tool_call_id ? row->tool_call_id : "",
                        "content", row->content ? row->content : "",
                        row->content ? row->content_len : 0);
        break;
    }
    if (msg == NULL) {
        return 0;   /* content that is not UTF-8 cannot go to a provider */
    }
    rc = mcp_chat_hist_push(h, msg, row->request_id,
                            row->type == MCP_MSG_TOOL_RESULT
                            ? MCP_CHAT_PART_HOP(row->part) : row->part);
    json_decref(msg);
    return rc;
}


/* ------------------------------------------------------------ repair */

static const char *
mcp_chat_role(const mcp_chat_item_t *it)
{
    const char  *r = json_string_value(json_object_get(it->msg, "role"));

    return r ? r : "";
}


static int
mcp_chat_has_result(const mcp_chat_hist_t *h, size_t from, const char *id)
{
    size_t       i;
    const char  *tid;

    for (i = from; i < h->n && h->items[i].tool; i++) {
        tid = json_string_value(json_object_get(h->items[i].msg,
                                                "tool_call_id"));
        if (tid && strcmp(tid, id) == 0) {
            return 1;
        }
    }
    return 0;
}


static int
mcp_chat_has_call(json_t *calls, const char *id)
{
    size_t   i;
    json_t  *c;

    json_array_foreach(calls, i, c) {
        const char  *cid = json_string_value(json_object_get(c, "id"));

        if (cid && strcmp(cid, id) == 0) {
            return 1;
        }
    }
    return 0;
}


/* is item i (an assistant) worth keeping once its calls are filtered */
static int
mcp_chat_filter_calls(mcp_chat_hist_t *h, size_t i)
{
    mcp_chat_item_t  *it = &h->items[i];
    json_t           *calls = json_object_get(it->msg, "tool_calls");
    json_t           *content = json_object_get(it->msg, "content");
    size_t            k;

    if (calls == NULL) {
        return 1;
    }
    mcp_chat_item_changed(it);
    for (k = json_array_size(calls); k > 0; k--) {
        const char  *id = json_string_value(
            json_object_get(json_array_get(calls, k - 1), "id"));

        if (id == NULL || !mcp_chat_has_result(h, i + 1, id)) {
            json_array_remove(calls, k - 1);
        }
    }
    if (json_array_size(calls) == 0) {
        json_object_del(it->msg, "tool_calls");
        if (!json_is_string(content) || json_string_length(content) == 0) {
            return 0;
        }
    }
    return 1;
}


void
mcp_chat_hist_repair(mcp_chat_hist_t *h)
{
    size_t       i, out = 0;
    json_t      *calls = NULL;
    const char  *role, *id;
    int          keep;

    for (i = 0; i < h->n; i++) {
        mcp_chat_item_t  *it = &h->items[i];

        role = mcp_chat_role(it);
        if (strcmp(role, "assistant") == 0) {
            keep = mcp_chat_filter_calls(h, i);
            calls = json_object_get(it->msg, "tool_calls");
        } else if (strcmp(role, "tool") == 0) {
            id = json_string_value(json_object_get(it->msg, "tool_call_id"));
            keep = calls != NULL && id != NULL && mcp_chat_has_call(calls, id);
        } else {
            keep = 1;
            calls = NULL;
        }

        h->tokens -= it->tokens;
        if (!keep) {
            mcp_chat_item_clear(it);
            continue;
        }
        it->tokens = mcp_chat_tokens_msg(it->msg);
        h->tokens += it->tokens;
        h->items[out++] = *it;
    }
    h->n = out;
}


/* start of the unit that ends at item i: a tool result belongs with the
   assistant message that called it */
static size_t
mcp_chat_unit_start(const mcp_chat_hist_t *h, size_t i)
{
    while (i > 0 && h->items[i].tool) {
        i--;
    }
    return i;
}


void
mcp_chat_hist_trim(mcp_chat_hist_t *h, int64_t max_tokens)
{
    size_t   drop = 0, i;
    int64_t  total = h->tokens;

    while (drop < h->n && total > max_tokens) {
        total -= h->items[drop++].tokens;
    }
    /* never leave a tool result without its call at the front */
    while (drop < h->n && h->items[drop].tool) {
        total -= h->items[drop++].tokens;
    }
    if (drop == 0) {
        return;
    }
    for (i = 0; i < drop; i++) {
        mcp_chat_item_clear(&h->items[i]);
    }
    memmove(h->items, h->items + drop, (h->n - drop) * sizeof(*h->items));
    h->n -= drop;
    h->tokens = total;
}


/* ------------------------------------------------------------ assembly */

json_t *
mcp_chat_assemble(const char *system, const mcp_chat_hist_t *h,
    json_t *current, int64_t max_tokens, int64_t reserve_tokens,
    int64_t *prompt_tokens, size_t *history_used)
{
    json_t   *out, *sys = NULL, *m;
    int64_t   used = MCP_CHAT_TOKENS_PRIMING, budget, t;
    size_t    i, first, start;

    out = json_array();
    if (out == NULL) {
        return NULL;
    }

    if (system && system[0]) {
        sys = json_pack("{s:s, s:s}", "role", "system", "content", system);
        if (sys) {
            used += mcp_chat_tokens_msg(sys);
            json_array_append_new(out, sys);
        }
    }
    json_array_foreach(current, i, m) {
        used += mcp_chat_tokens_msg(m);
    }

    /* newest-first, whole units, stop at the first that does not fit:
       keeping a coherent recent stretch beats filling gaps with old turns */
    budget = max_tokens - reserve_tokens;
    first = h->n;
    while (first > 0) {
        start = mcp_chat_unit_start(h, first - 1);
        t = 0;
        for (i = start; i < first; i++) {
            t += h->items[i].tokens;
        }
        if (used + t > budget) {
            break;
        }
        used += t;
        first = start;
    }
    /* a unit cut at the front of the cached list starts with results */
    while (first < h->n && h->items[first].tool) {
        used -= h->items[first].tokens;
        first++;
    }

    for (i = first; i < h->n; i++) {
        json_array_append(out, h->items[i].msg);
    }
    json_array_extend(out, current);

    if (prompt_tokens) {
        *prompt_tokens = used;
    }
    if (history_used) {
        *history_used = h->n - first;
    }
    return out;
}


/* ------------------------------------------------------------ dump */

static const char *
mcp_chat_item_json(mcp_chat_item_t *it, size_t *len)
{
    if (it->json == NULL) {
        it->json = json_dumps(it->msg, JSON_COMPACT);
        it->json_len = it->json ? strlen(it->json) : 0;
    }
    *len = it->json_len;
    return it->json;
}


char *
mcp_chat_messages_dump(mcp_chat_hist_t *h, json_t *msgs,
    size_t history_used, size_t *len)
{
    size_t        n = json_array_size(msgs), i, j, total = 2, off;
    size_t        first = history_used <= h->n ? h->n - history_used : h->n;
    const char  **text;
    size_t       *tlen;
    char        **own, *out = NULL;
    json_t       *m;

    text = calloc(n + 1, sizeof(*text));
    tlen = calloc(n + 1, sizeof(*tlen));
    own = calloc(n + 1, sizeof(*own));
    if (text == NULL || tlen == NULL || own == NULL) {
        goto done;
    }

    /* the history part is the same objects as the items, in order: an
       item's dump stands for its message only when they are one object */
    for (i = 0, j = first; i < n; i++) {
        m = json_array_get(msgs, i);
        if (j < h->n && h->items[j].msg == m) {
            text[i] = mcp_chat_item_json(&h->items[j++], &tlen[i]);
        } else {
            text[i] = own[i] = json_dumps(m, JSON_COMPACT);
            tlen[i] = own[i] ? strlen(own[i]) : 0;
        }
        if (text[i] == NULL) {
            goto done;
        }
        total += tlen[i] + 1;
    }

    out = malloc(total + 1);
    if (out == NULL) {
        goto done;
    }
    out[0] = '[';
    for (i = 0, off = 1; i < n; i++) {
        if (i > 0) {
            out[off++] = ',';
        }
        memcpy(out + off, text[i], tlen[i]);
        off += tlen[i];
    }
    out[off++] = ']';
    out[off] = '\0';
    *len = off;

done:
    for (i = 0; own && i < n; i++) {
        free(own[i]);
    }
    free(own);
    free(tlen);
    free(text);
    return out;
}
