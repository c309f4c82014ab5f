/*
 * The tool loop of one chat request:
 *
 *   store the user message (a stored answer is replayed instead)
 *   -> history (the LRU of assembled contexts, else the repository)
 *   -> model turn (text deltas streamed, tool calls collected)
 *   -> the turn's tools in parallel, each result fed back to the model
 *      (failures and timeouts too), up to max_tool_hops turns
 *   -> the final answer stored, then `complete`.
 *
 * `complete` is sent only when every row of the request is committed
 * (mcp_chat_store.c writes them in order, each once).
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat/mcp_chat_int.h"
#include "chat/mcp_chat_title.h"
#include "util/mcp_utf8_cut.h"

static void mcp_chat_model_turn(mcp_chat_req_t *r);


/*
 * The time a request waits for the repository on its way (the user
 * message's commit before the model is called, a history read, the
 * reply's commit before `complete`): chat_stats.store_wait_us, the part
 * of overhead_us an operator sets against repository_stats.
 */
static void
mcp_chat_store_wait_begin(mcp_chat_req_t *r)
{
    r->t_store_mark = uv_hrtime();
}


static void
mcp_chat_store_wait_end(mcp_chat_req_t *r)
{
    if (r->t_store_mark != 0) {
        r->t_store += uv_hrtime() - r->t_store_mark;
        r->t_store_mark = 0;
    }
}


/* ------------------------------------------------------------ endings */

static json_t *
mcp_chat_usage_obj(mcp_chat_req_t *r)
{
    return json_pack("{s:I, s:I, s:I}",
                     "prompt_tokens", (json_int_t) r->prompt_tokens,
                     "completion_tokens", (json_int_t) r->completion_tokens,
                     "total_tokens",
                     (json_int_t) (r->prompt_tokens + r->completion_tokens));
}


static void
mcp_chat_failed_stored(mcp_chat_req_t *r)
{
    mcp_chat_fail(r, r->err_kind, r->err_code, r->err_retry, "%s",
                  r->err_msg ? r->err_msg : "failed");
}


static void
mcp_chat_fail_later(mcp_chat_req_t *r, int kind, const char *code,
    int64_t retry, const char *msg)
{
    r->err_kind = kind;
    r->err_code = code;
    r->err_retry = retry;
    free(r->err_msg);
    r->err_msg = strdup(msg ? msg : code);
    mcp_chat_forget_context(r);
    r->state = MCP_REQ_S_FINISHING;
    mcp_chat_store_then(r, mcp_chat_failed_stored);
}


/* the conversation's cached context learns this request's messages */
static void
mcp_chat_remember(mcp_chat_req_t *r)
{
    mcp_chat_t  *c = r->chat;
    json_t      *m, *last;
    size_t       i;

    if (r->ctx == NULL || !r->ctx->cached) {
        return;
    }
    json_array_foreach(r->cur, i, m) {
        mcp_chat_hist_push(&r->ctx->h, m, r->rid,
                           i == 0 ? 0 : (int64_t) r->hop);
    }
    last = json_pack("{s:s, s:o}", "role", "assistant", "content",
                     mcp_chat_text_json(r->turn_text, r->turn_len));
    mcp_chat_hist_push(&r->ctx->h, last, r->rid, r->hop);
    json_decref(last);
    mcp_chat_hist_trim(&r->ctx->h, c->conf->context.max_tokens);
}


static void
mcp_chat_completed(mcp_chat_req_t *r)
{
    mcp_chat_t  *c = r->chat;
    json_t      *md;
    uint64_t     now, own;

    mcp_chat_store_wait_end(r);
    if (r->finished) {
        return;
    }
    if (r->store_failed) {
        mcp_chat_forget_context(r);
        mcp_chat_fail(r, MCP_CHAT_E_INTERNAL, "internal", 0,
                      "the answer could not be stored; it was not saved");
        return;
    }
    mcp_chat_remember(r);

    now = uv_hrtime();
    own = now - r->t_start > r->t_wait ? now - r->t_start - r->t_wait : 0;
    md = json_pack("{s:s, s:s, s:i, s:I, s:f, s:o, s:s}",
                   "conversation_id", r->conv,
                   "model", r->model ? r->model : c->provider->name,
                   "hops", r->hop,
                   "duration_ms", (json_int_t) ((now - r->t_start) / 1000000),
                   /* mcpd's own share of it (chat_stats.overhead_us for
                      this one request): what a client or a benchmark can
                      set against the model's time */
                   "overhead_ms", (double) (own / 1000) / 1000.0,
                   "usage", mcp_chat_usage_obj(r),
                   "finish_reason",
                   r->finish_reason ? r->finish_reason : "stop");
    if (c->provider->offline) {
        json_object_set_new(md, "offline", json_true());
    }
    c->completed++;
    mcp_hist_record(&c->store_wait, r->t_store / 1000);
    mcp_chat_emit(r, "complete", json_pack("{s:o}", "metadata", md));
    mcp_chat_finish(r);
}


static void
mcp_chat_limit_stored(mcp_chat_req_t *r)
{
    if (r->finished) {
        return;
    }
    mcp_chat_fail(r, MCP_CHAT_E_TOOL_LIMIT, "tool_limit_reached", 0,
                  "the model kept calling tools past max_tool_hops (%lld); "
                  "the partial answer is stored",
                  (long long) r->chat->conf->max_tool_hops);
}


/* ------------------------------------------------------------ begin */

static void
mcp_chat_hist_loaded(const mcp_repo_result_t *res, void *data)
{
    mcp_chat_req_t   *r = data;
    mcp_chat_t       *c = r->chat;
    mcp_chat_conv_t  *cv;
    size_t            i;

    mcp_chat_store_wait_end(r);
    if (r->finished) {
        mcp_chat_req_unref(r);
        return;
    }
    if (r->cancel) {
        mcp_chat_turn_keep_partial(r);
        mcp_chat_store_then(r, mcp_chat_cancel_done);
        mcp_chat_req_unref(r);
        return;
    }
    if (res->status != MCP_REPO_OK) {
        mcp_log_error(c->log, "chat", "request %s: reading history of %s: %s",
                      r->rid, r->conv, res->error);
        mcp_chat_fail(r, MCP_CHAT_E_INTERNAL, "internal", 0,
                      "reading the conversation failed: %s", res->error);
        mcp_chat_req_unref(r);
        return;
    }

    cv = mcp_chat_conv_new();
    if (cv == NULL) {
        mcp_chat_fail(r, MCP_CHAT_E_INTERNAL, "internal", 0, "out of memory");
        mcp_chat_req_unref(r);
        return;
    }
    for (i = 0; i < res->n_msgs; i++) {
        mcp_chat_hist_add_row(&cv->h, &res->msgs[i], r->rid);
    }
    mcp_chat_hist_repair(&cv->h);
    r->ctx = cv;
    cv->principal = strdup(r->principal);
    if (c->contexts && cv->principal) {
        cv->refs++;
        cv->cached = 1;
        if (mcp_lru_put(c->contexts, r->conv, strlen(r->conv), cv) != 0) {
            cv->cached = 0;
            cv->refs--;
        }
    }
    mcp_chat_model_turn(r);
    mcp_chat_req_unref(r);
}


static void
mcp_chat_load(mcp_chat_req_t *r)
{
    mcp_chat_t         *c = r->chat;
    mcp_repo_result_t   none;
    int64_t             budget;

    if (r->ctx != NULL) {
        mcp_chat_model_turn(r);         /* found in the cache at the start */
        return;
    }
    if (r->fresh) {
        /* a conversation created for this request has no history */
        memset(&none, 0, sizeof(none));
        mcp_chat_req_ref(r);
        mcp_chat_hist_loaded(&none, r);
        return;
    }

    r->state = MCP_REQ_S_LOADING;
    budget = c->conf->context.max_tokens - c->conf->context.reserve_tokens;
    mcp_chat_req_ref(r);
    mcp_chat_store_wait_begin(r);
    if (mcp_repo_history(c->repo, r->conv, budget > 0 ? budget : 0, 0,
                         mcp_chat_hist_loaded, r) != 0)
    {
        mcp_chat_req_unref(r);
        mcp_chat_fail(r, MCP_CHAT_E_INTERNAL, "internal", 0,
                      "the conversation store is not available");
    }
}


static void
mcp_chat_user_stored(const mcp_repo_result_t *res, void *data)
{
    mcp_chat_req_t  *r = data;
    mcp_chat_t      *c = r->chat;

    mcp_chat_store_wait_end(r);
    if (r->finished) {
        mcp_chat_req_unref(r);
        return;
    }
    if (res->status != MCP_REPO_OK) {
        mcp_log_error(c->log, "chat", "request %s: storing the user message "
                      "in %s: %s", r->rid, r->conv, res->error);
        mcp_chat_fail(r, MCP_CHAT_E_INTERNAL, "internal", 0,
                      "the message could not be stored: %s", res->error);
    } else if (res->duplicate && res->request_state == MCP_REQ_DONE) {
        mcp_chat_replay(r, res);
    } else if (r->cancel) {
        mcp_chat_turn_keep_partial(r);
        mcp_chat_store_then(r, mcp_chat_cancel_done);
    } else {
        /* new, or stored by an attempt that never finished (mcpd stopped,
           provider failed): answer it now, without a second user row */
        mcp_chat_load(r);
    }
    mcp_chat_req_unref(r);
}


static void
mcp_chat_conv_checked(const mcp_repo_result_t *res, void *data)
{
    mcp_chat_req_t  *r = data;

    mcp_chat_store_wait_end(r);
    mcp_chat_tell_created(r->chat, res, r->conv);
    if (r->finished) {
        mcp_chat_req_unref(r);
        return;
    }
    if (res->status == MCP_REPO_ENOTFOUND) {
        /* another principal's conversation does not exist for this one */
        mcp_chat_fail(r, MCP_CHAT_E_NOTFOUND, "conversation_not_found", 0,
                      "conversation %s not found", r->conv);
    } else if (res->status != MCP_REPO_OK) {
        mcp_log_error(r->chat->log, "chat", "request %s: opening %s: %s",
                      r->rid, r->conv, res->error);
        mcp_chat_fail(r, MCP_CHAT_E_INTERNAL, "internal", 0,
                      "the conversation store failed: %s", res->error);
    } else if (r->cancel) {
        mcp_chat_cancel_done(r);
    } else {
        r->opened = 1;
        r->fresh = res->created;    /* a new id: no history to read */
        mcp_chat_turn_begin(r);
    }
    mcp_chat_req_unref(r);
}


void
mcp_chat_turn_begin(mcp_chat_req_t *r)
{
    mcp_chat_t        *c = r->chat;
    mcp_repo_append_t  a;
    json_t            *user;
    char               title[MCP_CHAT_TITLE_MAX + 4];

    if (r->finished) {
        return;
    }
    /* a conversation whose context is cached was opened by this principal
       before: no need to ask the repository again (one write less per
       turn); the LRU lookup counts the turn as a hit or a miss, once (not
       again when the turn comes back here after opening) */
    if (r->ctx == NULL && c->contexts && !r->opened) {
        mcp_chat_conv_t  *cv = mcp_lru_get(c->contexts, r->conv,
                                           strlen(r->conv));

        if (cv != NULL && cv->principal
            && strcmp(cv->principal, r->principal) == 0)
        {
            cv->refs++;
            r->ctx = cv;
            r->opened = 1;
        }
    }
    if (!r->opened) {
        /* a conversation the client named: is it this principal's? (an
           unknown id starts a conversation with that id) */
        r->state = MCP_REQ_S_OPENING;
        mcp_chat_req_ref(r);
        mcp_chat_store_wait_begin(r);
        /* the title is stored only if this creates the conversation */
        if (mcp_repo_conversation_open(c->repo, r->principal, r->conv,
                                       mcp_chat_title(r->text,
                                                      strlen(r->text), title),
                                       mcp_chat_conv_checked, r) != 0)
        {
            mcp_chat_req_unref(r);
            mcp_chat_fail(r, MCP_CHAT_E_INTERNAL, "internal", 0,
                          "the conversation store is not available");
        }
        return;
    }
    user = json_pack("{s:s, s:s}", "role", "user", "content", r->text);
    if (user == NULL) {
        mcp_chat_fail(r, MCP_CHAT_E_INTERNAL, "internal", 0, "out of memory");
        return;
    }
    json_array_append_new(r->cur, user);

    memset(&a, 0, sizeof(a));
    a.msg.conversation_id = r->conv;
    a.msg.type = MCP_MSG_USER;
    a.msg.content = r->text;
    a.msg.content_len = strlen(r->text);
    a.msg.request_id = r->rid;
    a.msg.token_count = mcp_chat_tokens_msg(user);

    r->state = MCP_REQ_S_STORING_USER;
    mcp_chat_req_ref(r);
    mcp_chat_store_wait_begin(r);
    if (mcp_repo_append(c->repo, &a, mcp_chat_user_stored, r) != 0) {
        mcp_chat_req_unref(r);
        mcp_chat_fail(r, MCP_CHAT_E_INTERNAL, "internal", 0,
                      "the conversation store is not available");
    }
}


/* ------------------------------------------------------------ tools */

static void
mcp_chat_tools_done(mcp_chat_req_t *r)
{
    size_t  i;

    r->t_wait += uv_hrtime() - r->t_mark;
    for (i = 0; i < r->ntcalls; i++) {
        json_array_append(r->cur, r->tcalls[i].result);
    }
    r->hop++;
    r->chat->tool_hops++;
    mcp_chat_model_turn(r);
}


static void
mcp_chat_tool_result(mcp_chat_tcall_t *t, const mcp_chat_tool_end_t *end)
{
    mcp_chat_req_t  *r = t->req;
    mcp_chat_t      *c = r->chat;
    const char      *st = end->status ? end->status : "error";
    json_t          *content;
    size_t           preview;

    t->call = NULL;
    t->done = 1;
    content = mcp_chat_text_json(end->text, end->len);
    t->result = json_pack("{s:s, s:s, s:o}", "role", "tool", "tool_call_id",
                          t->id, "content", content);
    c->tool_calls[strcmp(st, "ok") == 0 ? 0
                  : strcmp(st, "timeout") == 0 ? 2 : 1]++;

    /* the result's head, so a client can show it as it arrives; the
       whole text is in history */
    preview = mcp_utf8_cut(end->text ? end->text : "", end->len,
                           MCP_CHAT_PREVIEW_MAX);
    mcp_chat_emit(r, "chunk", json_pack("{s:s, s:{s:s, s:s, s:s, s:I, s:b, "
                  "s:o, s:b}, s:{s:i}}", "type", "tool_result", "data",
                  "id", t->id, "tool", t->name, "status", st, "size",
                  (json_int_t) end->len, "truncated", end->truncated,
                  "preview", mcp_chat_text_json(end->text, preview),
                  "preview_truncated", preview < end->len,
                  "metadata", "hop", r->hop));
    mcp_chat_store_json(r, MCP_MSG_TOOL_RESULT, t->result,
                        json_string_value(content), json_string_length(content),
                        MCP_CHAT_PART(r->hop, t - r->tcalls), t->id, t->name,
                        NULL, 0);

    if (--r->tools_pending == 0 && !r->cancel && !r->finished) {
        mcp_chat_tools_done(r);
    }
}


static void
mcp_chat_tool_cb(void *data, const mcp_chat_tool_end_t *end)
{
    mcp_chat_tcall_t  *t = data;
    mcp_chat_req_t    *r = t->req;

    r->chat->tools_running--;
    mcp_chat_tool_result(t, end);
    mcp_chat_req_unref(r);
}


static json_t *
mcp_chat_args_json(const char *args)
{
    json_t  *j = args && args[0] ? json_loads(args, JSON_DECODE_ANY, NULL)
                                 : json_object();

    return j ? j : json_string(args);
}


static void
mcp_chat_run_tools(mcp_chat_req_t *r)
{
    mcp_chat_t           *c = r->chat;
    json_t               *calls, *amsg;
    mcp_chat_tool_end_t   fail;
    mcp_chat_tcall_t     *t;
    size_t                i;

    calls = json_array();
    for (i = 0; i < r->ntcalls; i++) {
        t = &r->tcalls[i];
        json_array_append_new(calls, json_pack("{s:s, s:s, s:{s:s, s:s}}",
                              "id", t->id, "type", "function", "function",
                              "name", t->name, "arguments", t->arguments));
    }
    amsg = json_pack("{s:s, s:o, s:o}", "role", "assistant", "content",
                     r->turn_len ? mcp_chat_text_json(r->turn_text,
                                                      r->turn_len)
                                 : json_null(),
                     "tool_calls", calls);
    json_array_append_new(r->cur, amsg);

    /* stored in the order the model produced them: text, then calls */
    if (r->turn_len > 0) {
        mcp_chat_store_json(r, MCP_MSG_ASSISTANT, NULL, r->turn_text,
                            r->turn_len, r->hop, NULL, NULL, NULL, 0);
    }
    for (i = 0; i < r->ntcalls; i++) {
        t = &r->tcalls[i];
        mcp_chat_store_json(r, MCP_MSG_TOOL_CALL, NULL, t->arguments,
                            strlen(t->arguments), MCP_CHAT_PART(r->hop, i),
                            t->id, t->name, NULL, 0);
        mcp_chat_emit(r, "chunk", json_pack("{s:s, s:{s:s, s:s, s:o}, "
                      "s:{s:i}}", "type", "tool_call", "data", "id", t->id,
                      "tool", t->name, "arguments",
                      mcp_chat_args_json(t->arguments), "metadata", "hop",
                      r->hop));
    }

    /* all at once; each result is reported as it comes */
    r->state = MCP_REQ_S_TOOLS;
    r->t_mark = uv_hrtime();
    r->tools_pending = r->ntcalls + 1;      /* +1: no early finish below */
    for (i = 0; i < r->ntcalls && !r->finished && !r->cancel; i++) {
        t = &r->tcalls[i];
        memset(&fail, 0, sizeof(fail));
        t->call = c->tools && c->tools->call
                  ? c->tools->call(c->tools->ctx, t->name, t->arguments,
                                   mcp_chat_tool_cb, t, &fail)
                  : NULL;
        if (t->call != NULL) {
            c->tools_running++;
            mcp_chat_req_ref(r);
            continue;
        }
        if (fail.text == NULL) {
            fail.status = "error";
            fail.text = "no such tool";
            fail.len = strlen(fail.text);
        }
        mcp_chat_tool_result(t, &fail);
    }
    if (--r->tools_pending == 0 && !r->cancel && !r->finished) {
        mcp_chat_tools_done(r);
    }
}


/* ------------------------------------------------------------ model */

static void
mcp_chat_on_text(void *data, const char *text, size_t len)
{
    mcp_chat_req_t  *r = data;
    mcp_chat_t      *c = r->chat;

    if (len == 0) {
        return;
    }
    if (r->t_first == 0) {
        r->t_first = uv_hrtime();
        mcp_hist_record(&c->ttfc, (r->t_first - r->t_start) / 1000000);
    }
    mcp_chat_buf_add(&r->turn_text, &r->turn_len, &r->turn_cap, text, len);
    mcp_chat_buf_add(&r->reply, &r->reply_len, &r->reply_cap, text, len);
    if (r->stream) {
        mcp_chat_emit_delta(r, text, len);
    }
}


static void
mcp_chat_on_tool_call(void *data, const char *id, const char *name,
    const char *arguments)
{
    mcp_chat_req_t    *r = data;
    mcp_chat_tcall_t  *t;
    char               gen[32];

    if (name == NULL || name[0] == '\0') {
        return;     /* an empty slot is not a call */
    }
    t = realloc(r->tcalls, (r->ntcalls + 1) * sizeof(*t));
    if (t == NULL) {
        return;
    }
    r->tcalls = t;
    t = &r->tcalls[r->ntcalls];
    memset(t, 0, sizeof(*t));
    if (id == NULL || id[0] == '\0') {
        snprintf(gen, sizeof(gen), "call_%d_%zu", r->hop, r->ntcalls);
        id = gen;
    }
    t->req = r;
    t->id = strdup(id);
    t->name = strdup(name);
    t->arguments = strdup(arguments ? arguments : "");
    if (t->id && t->name && t->arguments) {
        r->ntcalls++;
    } else {
        free(t->id);
        free(t->name);
        free(t->arguments);
    }
}


static int
mcp_chat_err_kind(const char *code)
{
    if (strcmp(code, "rate_limited") == 0) {
        return MCP_CHAT_E_RATE;
    }
    if (strcmp(code, "provider_unavailable") == 0) {
        return MCP_CHAT_E_UNAVAILABLE;
    }
    if (strcmp(code, "provider_error") == 0) {
        return MCP_CHAT_E_PROVIDER;
    }
    return MCP_CHAT_E_INTERNAL;
}


static void
mcp_chat_on_done(void *data, const mcp_chat_turn_end_t *end)
{
    mcp_chat_req_t  *r = data;
    mcp_chat_t      *c = r->chat;
    json_t          *whole;

    r->call = NULL;
    r->t_wait += uv_hrtime() - r->t_mark;
    if (r->finished || r->cancel) {
        mcp_chat_req_unref(r);
        return;
    }

    if (end->code != NULL) {
        mcp_log_warn(c->log, "chat", "request %s of %s: %s: %s", r->rid,
                     r->conv, end->code, end->message ? end->message : "");
        mcp_chat_fail_later(r, mcp_chat_err_kind(end->code), end->code,
                            end->retry_after_ms, end->message);
        mcp_chat_req_unref(r);
        return;
    }

    r->prompt_tokens += end->prompt_tokens;
    r->completion_tokens += end->completion_tokens;
    r->usage_present |= end->usage_present;
    if (end->model && (r->model == NULL || strcmp(r->model, end->model))) {
        free(r->model);
        r->model = strdup(end->model);
    }
    free(r->finish_reason);
    r->finish_reason = end->finish_reason ? strdup(end->finish_reason) : NULL;

    if (r->ntcalls > 0 && r->hop < c->conf->max_tool_hops) {
        mcp_chat_run_tools(r);
        mcp_chat_req_unref(r);
        return;
    }

    if (!r->stream) {
        whole = json_pack("{s:s, s:o, s:{}}", "type", "text", "data",
                          mcp_chat_text_json(r->reply, r->reply_len),
                          "metadata");
        mcp_chat_emit(r, "chunk", whole);
    }

    r->state = MCP_REQ_S_FINISHING;
    if (r->ntcalls > 0) {
        /* the model wants more tools than allowed: keep what it said */
        free(r->finish_reason);
        r->finish_reason = strdup("tool_limit_reached");
        mcp_chat_store_final(r, "tool_limit_reached");
        mcp_chat_forget_context(r);
        mcp_chat_store_then(r, mcp_chat_limit_stored);
    } else {
        mcp_chat_store_wait_begin(r);
        mcp_chat_store_final(r, r->finish_reason);
        mcp_chat_store_then(r, mcp_chat_completed);
    }
    mcp_chat_req_unref(r);
}


static const mcp_chat_turn_cb_t  mcp_chat_turn_cbs = {
    mcp_chat_on_text, mcp_chat_on_tool_call, mcp_chat_on_done
};


static void
mcp_chat_reset_turn(mcp_chat_req_t *r)
{
    size_t  i;

    for (i = 0; i < r->ntcalls; i++) {
        free(r->tcalls[i].id);
        free(r->tcalls[i].name);
        free(r->tcalls[i].arguments);
        json_decref(r->tcalls[i].result);
    }
    r->ntcalls = 0;
    r->turn_len = 0;
    if (r->turn_text) {
        r->turn_text[0] = '\0';
    }
}


static void
mcp_chat_model_turn(mcp_chat_req_t *r)
{
    mcp_chat_t           *c = r->chat;
    const mcp_chat_service_conf_t  *cf = c->conf;
    mcp_chat_turn_end_t   fail;
    json_t               *msgs;
    int64_t               ptok = 0;
    size_t                used = 0, jlen = 0;
    char                 *json;

    mcp_chat_reset_turn(r);
    if (r->tools == NULL && c->tools && c->tools->openai) {
        r->tools = c->tools->openai(c->tools->ctx);
    }
    msgs = mcp_chat_assemble(c->system, &r->ctx->h, r->cur,
                             cf->context.max_tokens,
                             cf->context.reserve_tokens, &ptok, &used);
    if (msgs == NULL) {
        mcp_chat_fail_later(r, MCP_CHAT_E_INTERNAL, "internal", 0,
                            "out of memory");
        return;
    }
    /* NULL (out of memory) only costs the provider a dump of its own */
    json = mcp_chat_messages_dump(&r->ctx->h, msgs, used, &jlen);

    memset(&fail, 0, sizeof(fail));
    r->state = MCP_REQ_S_MODEL;
    r->t_mark = uv_hrtime();
    mcp_chat_req_ref(r);
    r->call = c->provider->start(c->provider->ctx, msgs, json, jlen,
                                 json_array_size(r->tools) ? r->tools : NULL,
                                 r->stream, &mcp_chat_turn_cbs, r, &fail);
    json_decref(msgs);
    free(json);
    if (r->call == NULL) {
        mcp_chat_req_unref(r);
        mcp_chat_fail_later(r, mcp_chat_err_kind(fail.code ? fail.code
                                                           : "internal"),
                            fail.code ? fail.code : "internal",
                            fail.retry_after_ms, fail.message);
        return;
    }
    if (r->paused && c->provider->pause) {
        c->provider->pause(r->call, 1);
    }
}


/* stop the model call and the tools of r now (cancel, disconnect) */
void
mcp_chat_turn_stop(mcp_chat_req_t *r)
{
    mcp_chat_t  *c = r->chat;
    size_t       i;

    if (r->call) {
        c->provider->cancel(r->call);
        r->call = NULL;
        r->t_wait += uv_hrtime() - r->t_mark;
        mcp_chat_req_unref(r);
    }
    for (i = 0; i < r->ntcalls; i++) {
        if (r->tcalls[i].call) {
            c->tools->cancel(r->tcalls[i].call);
            r->tcalls[i].call = NULL;
            c->tools_running--;
            mcp_chat_req_unref(r);
        }
    }
}
