/*
 * The repository's face on the loop thread: opening at start, queueing
 * requests to the pools, delivering completions through one uv_async,
 * the connection_timeout sweep, the retention timer, and the stats.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "repo/mcp_repo_int.h"

#include <stdarg.h>

static void mcp_repo_async_cb(uv_async_t *h);
static void mcp_repo_flush_stage(mcp_repo_t *repo);
static void mcp_repo_sweep_cb(uv_timer_t *t);
static void mcp_repo_retention_cb(uv_timer_t *t);

static const char *const  mcp_policy_names[] = {
    "token_limit", "message_count", "time_based", "unlimited", NULL
};


/* ------------------------------------------------------------ open */

/* err->msg for mcp_repo_open()'s caller (the second argument is unused) */
void
mcp_repo_err(mcp_err_t *err, const void *unused, const char *fmt, ...)
{
    va_list  ap;

    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
}


static uint64_t
mcp_repo_sweep_interval(const mcp_repo_conf_t *rc)
{
    int64_t  ms = rc->pool.connection_timeout / 4;

    return (uint64_t) (ms < 5 ? 5 : ms > 250 ? 250 : ms);
}


/*
 * writer_affinity: loop: pin the calling thread, the loop, to its CPU
 * before any repository thread starts; each then places itself with the
 * loop (writers) or away from it (readers, the checkpointer).  Without
 * pooling there is no hand-off to save.  Not done is not an error: the
 * reason is in repository_stats and the log.
 */
static void
mcp_repo_place_loop(mcp_repo_t *repo)
{
    repo->loop_cpu = -1;
    if (repo->conf.pool.writer_affinity != MCP_REPO_AFFINITY_LOOP) {
        return;
    }
    if (!repo->conf.pool.enable_pooling) {
        snprintf(repo->affinity_note, sizeof(repo->affinity_note),
                 "enable_pooling is false: no writer thread to place");
        return;
    }
    repo->loop_cpu = mcp_cpu_pin_loop(repo->affinity_note,
                                      sizeof(repo->affinity_note));
}


static void
mcp_repo_unplace_loop(mcp_repo_t *repo)
{
    if (repo->loop_cpu >= 0) {
        mcp_cpu_unpin_loop();
        repo->loop_cpu = -1;
    }
}


mcp_repo_t *
mcp_repo_open(uv_loop_t *loop, const mcp_repo_conf_t *rc,
    const mcp_persist_conf_t *pc, mcp_err_t *err)
{
    mcp_repo_t  *repo;
    char         msg[512];
    int          readers, writers, batch;

    mcp_db_configure();
    if (rc->path == NULL || rc->path[0] == '\0') {
        mcp_repo_err(err, NULL, "repository: path is empty");
        return NULL;
    }
    repo = calloc(1, sizeof(*repo));
    if (repo == NULL) {
        mcp_repo_err(err, NULL, "repository: out of memory");
        return NULL;
    }
    repo->loop = loop;
    repo->conf = *rc;
    repo->conf.path = strdup(rc->path);
    repo->persist = *pc;
    repo->opened_ms = mcp_repo_now_ms();
    pthread_mutex_init(&repo->done_mu, NULL);

    if (repo->conf.path == NULL || mcp_repo_prepare_file(repo, err) != 0) {
        goto failed;
    }
    mcp_repo_place_loop(repo);

    if (mcp_ckpt_start(&repo->ckpt, &repo->conf, rc->pool.enable_pooling,
                       msg, sizeof(msg)) != 0)
    {
        mcp_repo_err(err, NULL, "%s", msg);
        mcp_repo_unplace_loop(repo);
        goto failed;
    }
    readers = rc->pool.enable_pooling ? (int) rc->pool.max_readers : 0;
    writers = rc->pool.enable_pooling ? (int) rc->pool.max_writers : 1;
    batch = rc->pool.enable_pooling ? (int) rc->pool.max_batch : 1;
    if (mcp_pool_start(&repo->readers, repo, "readers", 0, readers, 1, msg,
                       sizeof(msg)) != 0
        || mcp_pool_start(&repo->writers, repo, "writers", 1, writers, batch,
                          msg, sizeof(msg)) != 0)
    {
        mcp_repo_err(err, NULL, "%s", msg);
        mcp_pool_stop(&repo->readers);
        mcp_pool_stop(&repo->writers);
        mcp_pool_free(&repo->readers);
        mcp_pool_free(&repo->writers);
        mcp_ckpt_stop(&repo->ckpt);
        mcp_repo_unplace_loop(repo);
        goto failed;
    }
    /* walks for the writer: at most half the readers (mcp_repo_warm.c) */
    repo->reqsets.walkers = readers > 1 ? readers / 2 : readers;

    uv_async_init(loop, &repo->async, mcp_repo_async_cb);
    uv_unref((uv_handle_t *) &repo->async);
    uv_timer_init(loop, &repo->sweep);
    uv_timer_start(&repo->sweep, mcp_repo_sweep_cb,
                   mcp_repo_sweep_interval(rc), mcp_repo_sweep_interval(rc));
    uv_unref((uv_handle_t *) &repo->sweep);
    uv_timer_init(loop, &repo->retention);
    if (pc->enabled && pc->retention_policy != MCP_RETAIN_UNLIMITED
        && pc->retention_interval > 0)
    {
        uv_timer_start(&repo->retention, mcp_repo_retention_cb,
                       (uint64_t) pc->retention_interval,
                       (uint64_t) pc->retention_interval);
    }
    uv_unref((uv_handle_t *) &repo->retention);
    repo->async.data = repo;
    repo->sweep.data = repo;
    repo->retention.data = repo;
    repo->handles_open = 3;
    return repo;

failed:
    pthread_mutex_destroy(&repo->done_mu);
    free(repo->conf.path);
    free(repo);
    return NULL;
}


/* ------------------------------------------------------------ completion */

/* Any thread: hand n finished requests to the loop, one lock, one wakeup. */
void
mcp_repo_complete_many(mcp_repo_t *repo, mcp_repo_req_t **rs, size_t n)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        rs[i]->next = i + 1 < n ? rs[i + 1] : NULL;
    }
    pthread_mutex_lock(&repo->done_mu);
    if (repo->done_tail) {
        repo->done_tail->next = rs[0];
    } else {
        repo->done_head = rs[0];
    }
    repo->done_tail = rs[n - 1];
    pthread_mutex_unlock(&repo->done_mu);
    uv_async_send(&repo->async);
}


void
mcp_repo_complete(mcp_repo_t *repo, mcp_repo_req_t *r)
{
    mcp_repo_complete_many(repo, &r, 1);
}


void
mcp_repo_refuse(mcp_repo_t *repo, mcp_repo_req_t *chain)
{
    mcp_repo_req_t  *r, *next;

    for (r = chain; r; r = next) {
        next = r->next;
        mcp_req_fail(r, MCP_REPO_ECLOSED, 0, "repository: shutting down");
        mcp_repo_complete(repo, r);
    }
}


static void
mcp_repo_retention_done(mcp_repo_t *repo, mcp_repo_req_t *r)
{
    repo->retention_queued = 0;
    repo->retention_runs++;
    repo->retention_deleted += (uint64_t) r->res.count;
    repo->last_retention_ms = mcp_repo_now_ms();
    if (repo->log == NULL) {
        return;
    }
    if (r->res.status != MCP_REPO_OK) {
        mcp_log_error(repo->log, "repo", "retention failed: %s",
                      r->res.error);
    } else if (r->res.count > 0) {
        mcp_log_info(repo->log, "repo", "retention (%s) deleted %lld "
                     "messages", mcp_policy_names[repo->persist
                     .retention_policy], (long long) r->res.count);
    }
}


/* a write's outcome: a storage fault stays in status until a write works */
static void
mcp_repo_note_write(mcp_repo_t *repo, const mcp_repo_req_t *r)
{
    switch (r->res.status) {
    case MCP_REPO_OK:
        repo->write_fault = 0;
        break;
    case MCP_REPO_EFULL:
    case MCP_REPO_EREADONLY:
    case MCP_REPO_ECORRUPT:
    case MCP_REPO_EIO:
        repo->write_fault = r->res.status;
        snprintf(repo->write_fault_text, sizeof(repo->write_fault_text),
                 "%s", r->res.error ? r->res.error : "?");
        break;
    default:
        break;      /* the caller's (not found, invalid) or transient */
    }
}


const char *
mcp_repo_write_fault(mcp_repo_t *repo)
{
    return repo->write_fault ? repo->write_fault_text : NULL;
}


static void
mcp_repo_deliver(mcp_repo_t *repo)
{
    mcp_repo_req_t  *r, *next;

    pthread_mutex_lock(&repo->done_mu);
    r = repo->done_head;
    repo->done_head = repo->done_tail = NULL;
    pthread_mutex_unlock(&repo->done_mu);

    repo->delivering++;
    for ( /* void */ ; r; r = next) {
        next = r->next;
        if (MCP_OP_IS_WALK(r->op)) {
            mcp_warm_returned(repo, r);     /* no caller: internal */
            continue;
        }
        if (r->op == MCP_OP_RETENTION) {
            mcp_repo_retention_done(repo, r);
        }
        if (MCP_OP_IS_WRITE(r->op) && r->op != MCP_OP_HOLD_WRITE) {
            mcp_repo_note_write(repo, r);
        }
        if (r->cb) {
            r->cb(&r->res, r->data);
        }
        mcp_req_free(r);
        repo->pending--;
    }
    if (--repo->delivering == 0 && !repo->closing) {
        mcp_repo_flush_stage(repo);
        mcp_pool_delivered(&repo->writers);
    }
    if (repo->pending == 0 && !repo->closing) {
        uv_unref((uv_handle_t *) &repo->async);
    }
}


static void
mcp_repo_async_cb(uv_async_t *h)
{
    mcp_repo_deliver(h->data);
}


static void
mcp_repo_sweep_cb(uv_timer_t *t)
{
    mcp_repo_t  *repo = t->data;
    uint64_t     timeout = (uint64_t) repo->conf.pool.connection_timeout;

    mcp_pool_sweep(&repo->readers, timeout);
    mcp_pool_sweep(&repo->writers, timeout);
}


/* ------------------------------------------------------------ submit */

mcp_repo_req_t *
mcp_req_new(mcp_op_e op, mcp_repo_cb_pt cb, void *data)
{
    mcp_repo_req_t  *r = calloc(1, sizeof(*r));

    if (r) {
        r->op = op;
        r->cb = cb;
        r->data = data;
    }
    return r;
}


static char *
mcp_dup(const char *s)
{
    return s ? strdup(s) : NULL;
}


int
mcp_repo_submit(mcp_repo_t *repo, mcp_repo_req_t *r)
{
    int  w;

    if (repo->closing) {
        mcp_req_free(r);
        return -1;
    }
    r->repo = repo;
    if (repo->pending++ == 0) {
        uv_ref((uv_handle_t *) &repo->async);
    }
    if (!repo->persist.enabled
        && (r->op == MCP_OP_APPEND || r->op == MCP_OP_REQ_END
            || r->op == MCP_OP_HISTORY || r->op == MCP_OP_LOOKUP))
    {
        /* persistence off: writes succeed without storing, reads are empty */
        mcp_repo_complete(repo, r);
        return 0;
    }
    w = MCP_OP_IS_WRITE(r->op) || repo->readers.nworkers == 0;
    if (!repo->delivering) {
        mcp_pool_push(w ? &repo->writers : &repo->readers, r);
        return 0;
    }
    r->next = NULL;
    if (repo->stage[w].tail) {
        repo->stage[w].tail->next = r;
    } else {
        repo->stage[w].head = r;
    }
    repo->stage[w].tail = r;
    repo->stage[w].n++;
    return 0;
}


static void
mcp_repo_flush_stage(mcp_repo_t *repo)
{
    int  w;

    for (w = 0; w < 2; w++) {
        if (repo->stage[w].n) {
            mcp_pool_push_chain(w ? &repo->writers : &repo->readers,
                                repo->stage[w].head, repo->stage[w].tail,
                                repo->stage[w].n);
            repo->stage[w].head = repo->stage[w].tail = NULL;
            repo->stage[w].n = 0;
        }
    }
}


/* an argument error still answers through the callback, asynchronously */
int
mcp_repo_reject(mcp_repo_t *repo, mcp_repo_req_t *r, const char *why)
{
    mcp_req_fail(r, MCP_REPO_EINVAL, 0, "repository: %s", why);
    if (repo->closing) {
        mcp_req_free(r);
        return -1;
    }
    r->repo = repo;
    if (repo->pending++ == 0) {
        uv_ref((uv_handle_t *) &repo->async);
    }
    mcp_repo_complete(repo, r);
    return 0;
}


int
mcp_repo_conversation_open(mcp_repo_t *repo, const char *principal,
    const char *id, const char *title, mcp_repo_cb_pt cb, void *data)
{
    mcp_repo_req_t  *r = mcp_req_new(MCP_OP_CONV_OPEN, cb, data);

    if (r == NULL) {
        return -1;
    }
    r->principal = strdup(principal ? principal : "");
    r->msg.conversation_id = mcp_dup(id);
    r->title = mcp_dup(title);
    return mcp_repo_submit(repo, r);
}


static int
mcp_msg_copy(mcp_repo_msg_t *dst, const mcp_repo_msg_t *src)
{
    *dst = *src;
    dst->conversation_id = mcp_dup(src->conversation_id);
    dst->content = malloc(src->content_len + 1);
    if (dst->content) {
        memcpy(dst->content, src->content, src->content_len);
        dst->content[src->content_len] = '\0';
    }
    dst->tool_calls = mcp_dup(src->tool_calls);
    dst->tool_call_id = mcp_dup(src->tool_call_id);
    dst->name = mcp_dup(src->name);
    dst->model = mcp_dup(src->model);
    dst->usage = mcp_dup(src->usage);
    dst->request_id = mcp_dup(src->request_id);
    return dst->content ? 0 : -1;
}


int
mcp_repo_append(mcp_repo_t *repo, const mcp_repo_append_t *a,
    mcp_repo_cb_pt cb, void *data)
{
    mcp_repo_req_t  *r = mcp_req_new(MCP_OP_APPEND, cb, data);
    const char      *why = NULL;

    if (r == NULL) {
        return -1;
    }
    if (a->msg.conversation_id == NULL || a->msg.content == NULL) {
        why = "append needs a conversation id and content";
    } else if (a->msg.type < MCP_MSG_USER || a->msg.type > MCP_MSG_TOOL_RESULT) {
        why = "append: unknown message type";
    } else if (a->msg.token_count < 0) {
        why = "append: negative token count";
    } else if (a->msg.content_len > 0x7fffffff) {
        why = "append: content too large";
    }
    if (why) {
        return mcp_repo_reject(repo, r, why);
    }
    if (mcp_msg_copy(&r->msg, &a->msg) != 0) {
        mcp_req_free(r);
        return -1;
    }
    r->msg.id = 0;
    r->final = a->final;
    return mcp_repo_submit(repo, r);
}


static int
mcp_repo_conv_req(mcp_repo_t *repo, mcp_op_e op, const char *principal,
    const char *conv, const char *rid, mcp_repo_cb_pt cb, void *data)
{
    mcp_repo_req_t  *r = mcp_req_new(op, cb, data);

    if (r == NULL) {
        return -1;
    }
    if (conv == NULL) {
        return mcp_repo_reject(repo, r, "a conversation id is required");
    }
    r->principal = strdup(principal ? principal : "");
    r->msg.conversation_id = strdup(conv);
    r->msg.request_id = mcp_dup(rid);
    return mcp_repo_submit(repo, r);
}


int
mcp_repo_request_end(mcp_repo_t *repo, const char *conversation_id,
    const char *request_id, mcp_repo_cb_pt cb, void *data)
{
    if (request_id == NULL) {
        return mcp_repo_conv_req(repo, MCP_OP_REQ_END, NULL, NULL, NULL, cb,
                                 data);
    }
    return mcp_repo_conv_req(repo, MCP_OP_REQ_END, NULL, conversation_id,
                             request_id, cb, data);
}


int
mcp_repo_history(mcp_repo_t *repo, const char *conversation_id,
    int64_t token_budget, int64_t max_rows, mcp_repo_cb_pt cb, void *data)
{
    mcp_repo_req_t  *r = mcp_req_new(MCP_OP_HISTORY, cb, data);

    if (r == NULL) {
        return -1;
    }
    if (conversation_id == NULL) {
        return mcp_repo_reject(repo, r, "a conversation id is required");
    }
    r->msg.conversation_id = strdup(conversation_id);
    r->budget = token_budget;
    r->limit = max_rows;
    return mcp_repo_submit(repo, r);
}


int
mcp_repo_lookup_request(mcp_repo_t *repo, const char *conversation_id,
    const char *request_id, mcp_repo_cb_pt cb, void *data)
{
    if (request_id == NULL) {
        conversation_id = NULL;
    }
    return mcp_repo_conv_req(repo, MCP_OP_LOOKUP, NULL, conversation_id,
                             request_id, cb, data);
}


int
mcp_repo_list(mcp_repo_t *repo, const char *principal, int64_t limit,
    mcp_repo_cb_pt cb, void *data)
{
    mcp_repo_req_t  *r = mcp_req_new(MCP_OP_LIST, cb, data);

    if (r == NULL) {
        return -1;
    }
    r->principal = strdup(principal ? principal : "");
    r->limit = limit;
    return mcp_repo_submit(repo, r);
}


int
mcp_repo_delete(mcp_repo_t *repo, const char *principal,
    const char *conversation_id, mcp_repo_cb_pt cb, void *data)
{
    return mcp_repo_conv_req(repo, MCP_OP_DELETE, principal, conversation_id,
                             NULL, cb, data);
}


int
mcp_repo_export(mcp_repo_t *repo, const char *principal,
    const char *conversation_id, mcp_repo_cb_pt cb, void *data)
{
    return mcp_repo_conv_req(repo, MCP_OP_EXPORT, principal, conversation_id,
                             NULL, cb, data);
}


int
mcp_repo_retention_run(mcp_repo_t *repo, mcp_repo_cb_pt cb, void *data)
{
    mcp_repo_req_t  *r = mcp_req_new(MCP_OP_RETENTION, cb, data);

    if (r == NULL) {
        return -1;
    }
    repo->retention_queued = 1;
    return mcp_repo_submit(repo, r);
}


static void
mcp_repo_retention_cb(uv_timer_t *t)
{
    mcp_repo_t  *repo = t->data;

    /* one sweep at a time: a slow one is not stacked up behind itself */
    if (!repo->retention_queued) {
        mcp_repo_retention_run(repo, NULL, NULL);
    }
}


int
mcp_repo_debug_hold(mcp_repo_t *repo, int write, int64_t ms,
    mcp_repo_cb_pt cb, void *data)
{
    mcp_repo_req_t  *r;

    r = mcp_req_new(write ? MCP_OP_HOLD_WRITE : MCP_OP_HOLD_READ, cb, data);
    if (r == NULL) {
        return -1;
    }
    r->limit = ms;
    return mcp_repo_submit(repo, r);
}


void
mcp_repo_set_log(mcp_repo_t *repo, const mcp_log_t *log)
{
    repo->log = log;
}


void
mcp_repo_debug_break(mcp_repo_t *repo)
{
    __atomic_add_fetch(&repo->debug_break, 1, __ATOMIC_RELEASE);
}


/* ------------------------------------------------------------ close, stats */

static void
mcp_repo_handle_closed(uv_handle_t *h)
{
    mcp_repo_t  *repo = h->data;

    if (--repo->handles_open == 0) {
        pthread_mutex_destroy(&repo->done_mu);
        free(repo->conf.path);
        free(repo);
    }
}


/* closing inside a completion callback: what was staged is not run */
static void
mcp_repo_fail_stage(mcp_repo_t *repo)
{
    int  w;

    for (w = 0; w < 2; w++) {
        mcp_repo_refuse(repo, repo->stage[w].head);
        repo->stage[w].head = repo->stage[w].tail = NULL;
        repo->stage[w].n = 0;
    }
}


void
mcp_repo_close(mcp_repo_t *repo)
{
    if (repo == NULL || repo->closing) {
        return;
    }
    repo->closing = 1;
    mcp_repo_fail_stage(repo);
    mcp_pool_stop(&repo->readers);
    mcp_pool_stop(&repo->writers);
    mcp_pool_free(&repo->readers);      /* both stopped: no more hand-offs */
    mcp_pool_free(&repo->writers);
    mcp_ckpt_stop(&repo->ckpt);
    mcp_repo_unplace_loop(repo);        /* no thread left to hand off to */
    mcp_warm_fail_all(repo);            /* the writers are gone */
    mcp_reqsets_free(&repo->reqsets);
    mcp_repo_deliver(repo);     /* the last completions, ECLOSED included */
    uv_close((uv_handle_t *) &repo->async, mcp_repo_handle_closed);
    uv_close((uv_handle_t *) &repo->sweep, mcp_repo_handle_closed);
    uv_close((uv_handle_t *) &repo->retention, mcp_repo_handle_closed);
}


static json_t *
mcp_repo_affinity_stats(mcp_repo_t *repo)
{
    int      loop = repo->conf.pool.writer_affinity == MCP_REPO_AFFINITY_LOOP;
    json_t  *o = json_pack("{s:s}", "mode", loop ? "loop" : "none");

    if (loop) {
        json_object_set_new(o, "loop_cpu", json_integer(repo->loop_cpu));
        if (repo->loop_cpu < 0) {
            json_object_set_new(o, "not_done",
                                json_string(repo->affinity_note));
        }
    }
    return o;
}


json_t *
mcp_repo_stats(mcp_repo_t *repo)
{
    json_t  *o = json_object(), *rd, *wr, *ret;

    rd = mcp_pool_stats(&repo->readers);
    wr = mcp_pool_stats(&repo->writers);
    json_object_set_new(o, "path", json_string(repo->conf.path));
    json_object_set_new(o, "schema_version",
                        json_integer(mcp_repo_schema_version()));
    json_object_set_new(o, "synchronous", json_string(
        repo->conf.synchronous == MCP_REPO_SYNC_FULL ? "full" : "normal"));
    json_object_set_new(o, "pooling",
                        json_boolean(repo->conf.pool.enable_pooling));
    json_object_set_new(o, "persistence",
                        json_boolean(repo->persist.enabled));
    json_object_set_new(o, "busy_errors", json_integer(
        json_integer_value(json_object_get(rd, "busy_errors"))
        + json_integer_value(json_object_get(wr, "busy_errors"))));
    json_object_set_new(o, "readers", rd);
    json_object_set_new(o, "writers", wr);
    json_object_set_new(o, "writer_affinity", mcp_repo_affinity_stats(repo));
    json_object_set_new(o, "checkpoint", mcp_ckpt_stats(&repo->ckpt));
    json_object_set_new(o, "request_sets", mcp_reqsets_stats(&repo->reqsets));

    ret = json_object();
    json_object_set_new(ret, "policy", json_string(
        mcp_policy_names[repo->persist.retention_policy]));
    json_object_set_new(ret, "runs",
                        json_integer((json_int_t) repo->retention_runs));
    json_object_set_new(ret, "deleted",
                        json_integer((json_int_t) repo->retention_deleted));
    json_object_set_new(ret, "last_run_ms",
                        json_integer((json_int_t) repo->last_retention_ms));
    json_object_set_new(o, "retention", ret);
    return o;
}


json_t *
mcp_repo_stats_fn(void *repo)
{
    return mcp_repo_stats(repo);
}
