/* list_conversations across homes: see mcp_redis_list.h. */

#include <stdlib.h>
#include <string.h>

#include "redis/mcp_redis_list.h"

#define MCP_LIST_DEFAULT  50

/* KEYS: instances zset.  The instances whose heartbeat is alive. */
static mcp_redis_script_t  mcp_list_live = { .src =
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "return redis.call('ZRANGEBYSCORE', KEYS[1], now, '+inf')\n"
};

/* one fan-out: the parts' answers arrive at a collecting session */
typedef struct {
    mcp_redis_list_t   *l;
    mcp_session_t      *client;
    mcp_session_t      *collect;       /* remote session, sink: us */
    char               *rid;
    json_t             *msg;
    json_t             *convs;
    json_t             *error;         /* the first part's error chunk */
    size_t              answered;      /* parts that listed */
    int64_t             limit;
    size_t              waiting;       /* parts not answered yet */
    int                 partial;
    int                 more;
    int                 done;
} mcp_list_op_t;


static void
list_op_free(mcp_list_op_t *op)
{
    mcp_session_unref(op->client);
    json_decref(op->msg);
    json_decref(op->convs);
    json_decref(op->error);
    free(op->rid);
    free(op);
}

/* the stores' order: updated_at, then id, both descending */
static int
list_by_newest(const void *a, const void *b)
{
    json_t      *ca = *(json_t **) a, *cb = *(json_t **) b;
    json_int_t   x = json_integer_value(json_object_get(ca, "updated_at"));
    json_int_t   y = json_integer_value(json_object_get(cb, "updated_at"));
    const char  *ia = json_string_value(json_object_get(ca,
                                                        "conversation_id"));
    const char  *ib = json_string_value(json_object_get(cb,
                                                        "conversation_id"));

    if (x != y) {
        return x < y ? 1 : -1;
    }
    return -strcmp(ia ? ia : "", ib ? ib : "");
}

/* Every part answered (or failed): one page, newest first. */
static void
list_answer(mcp_list_op_t *op)
{
    size_t   n = json_array_size(op->convs), i;
    json_t **all, *page, *md, *last;

    all = calloc(n + 1, sizeof(*all));
    page = json_array();
    for (i = 0; all != NULL && i < n; i++) {
        all[i] = json_array_get(op->convs, i);
    }
    if (all != NULL) {
        qsort(all, n, sizeof(*all), list_by_newest);
    }
    for (i = 0; all != NULL && i < n && i < (size_t) op->limit; i++) {
        json_array_append(page, all[i]);
    }
    md = json_pack("{s:o}", "conversations", page);
    last = json_array_get(page, json_array_size(page) - 1);
    if ((n > (size_t) op->limit || op->more) && last != NULL) {
        /* the stores' cursor: each home pages on from the same point */
        json_object_set_new(md, "next_before", json_sprintf("%lld:%s",
            (long long) json_integer_value(json_object_get(last,
                                                           "updated_at")),
            json_string_value(json_object_get(last, "conversation_id"))));
    }
    if (op->partial) {
        json_object_set_new(md, "partial", json_true());
        op->l->partial++;
    }
    free(all);
    mcp_session_reply(op->client, op->rid, "complete",
                      json_pack("{s:o}", "metadata", md));
}

static int
list_sink_send(void *ctx, const char *text, size_t len)
{
    mcp_list_op_t  *op = ctx;
    json_t         *f = json_loadb(text, len, 0, NULL), *md;
    const char     *st = json_string_value(json_object_get(f, "status"));

    if (st == NULL || (strcmp(st, "complete") != 0
                       && strcmp(st, "error") != 0) || op->done)
    {
        json_decref(f);
        return 0;
    }
    md = json_object_get(json_object_get(f, "chunk"), "metadata");
    if (strcmp(st, "complete") == 0) {
        op->answered++;
        json_array_extend(op->convs, json_object_get(md, "conversations"));
        if (json_object_get(md, "next_before") != NULL) {
            op->more = 1;
        }
    } else {
        op->partial = 1;
        if (op->error == NULL) {
            op->error = json_incref(json_object_get(f, "chunk"));
        }
    }
    json_decref(f);
    if (--op->waiting == 0) {
        /* the last part: answer (every part refused it, e.g. a bad
           cursor: that refusal); the collecting session ends (a closed
           session never calls its sink again), and the op with it */
        op->done = 1;
        if (op->answered == 0 && op->error != NULL) {
            mcp_session_reply(op->client, op->rid, "error",
                              json_incref(op->error));
        } else {
            list_answer(op);
        }
        mcp_session_end_remote(op->collect);
        list_op_free(op);
    }
    return 0;
}

static void
list_sink_closed(void *ctx, uint16_t code, const char *reason)
{
}

static const mcp_session_sink_t  mcp_list_sink = {
    list_sink_send, list_sink_closed
};

/* The live instances are known: ask each of them, and this store. */
static void
list_fan_out(mcp_redis_t *r, redisReply *reply, const char *err,
    void *data)
{
    mcp_list_op_t      *op = data;
    mcp_action_next_t   local = op->l->list;
    mcp_session_t      *collect;
    const char         *attrs[3] = { NULL, NULL, NULL };
    char               *text, *rid;
    json_t             *msg;
    size_t              i;
    int                 live = err == NULL && reply->type == REDIS_REPLY_ARRAY;

    if (mcp_session_attr(op->client, "principal") != NULL) {
        attrs[0] = "principal";
        attrs[1] = mcp_session_attr(op->client, "principal");
    }
    collect = mcp_session_new_remote(op->l->d, 0, attrs, &mcp_list_sink, op);
    text = json_dumps(op->msg, JSON_COMPACT);
    if (collect == NULL || text == NULL || local.handler == NULL
        || !mcp_session_is_open(op->client))
    {
        if (collect != NULL) {
            mcp_session_end_remote(collect);
        }
        list_op_free(op);
        free(text);
        return;
    }
    op->collect = collect;
    op->partial = !live;
    /* every part answers exactly once (a forward ends with a final frame,
       the home's or one made here): count them all before any runs */
    op->waiting = 1;
    for (i = 0; live && i < reply->elements; i++) {
        if (reply->element[i]->type == REDIS_REPLY_STRING
            && strcmp(reply->element[i]->str, r->instance) != 0)
        {
            op->waiting++;
        }
    }
    op->l->fanouts++;
    for (i = 0; live && i < reply->elements; i++) {
        if (reply->element[i]->type == REDIS_REPLY_STRING
            && strcmp(reply->element[i]->str, r->instance) != 0)
        {
            mcp_redis_fwd_send(op->l->fwd, collect, reply->element[i]->str,
                               op->rid, text, strlen(text));
        }
    }
    free(text);
    /* the local part is the last one counted: op may end inside it */
    rid = strdup(op->rid);
    msg = json_incref(op->msg);
    mcp_session_ref(collect);
    if (rid != NULL) {
        local.handler(collect, rid, msg, local.ctx);
    }
    mcp_session_unref(collect);
    json_decref(msg);
    free(rid);
}


static void
list_conversations(mcp_session_t *s, const char *rid, json_t *msg,
    void *ctx)
{
    mcp_redis_list_t  *l = ctx;
    mcp_list_op_t     *op;
    json_t            *p = json_object_get(msg, "payload");
    json_t            *lim = json_object_get(p, "limit");
    char               kset[300];
    const char        *args[1];

    /* requests from other instances, bad payloads (the action answers
       them), and no Redis: this store only */
    if (mcp_session_is_remote(s) || (p != NULL && !json_is_object(p))
        || (lim != NULL && !json_is_integer(lim) && !json_is_null(lim))
        || !mcp_redis_up(l->redis) || (op = calloc(1, sizeof(*op))) == NULL)
    {
        if (!mcp_redis_up(l->redis) && !mcp_session_is_remote(s)) {
            mcp_redis_fallback(l->redis);
        }
        if (l->list.handler != NULL) {
            l->list.handler(s, rid, msg, l->list.ctx);
        }
        return;
    }
    op->l = l;
    op->client = s;
    mcp_session_ref(s);
    op->rid = strdup(rid);
    op->msg = json_incref(msg);
    op->convs = json_array();
    op->limit = json_is_integer(lim) ? json_integer_value(lim)
                                     : MCP_LIST_DEFAULT;
    mcp_redis_key(l->redis, kset, sizeof(kset), "instances");
    args[0] = kset;
    if (op->rid == NULL || op->convs == NULL
        || mcp_redis_eval(l->redis, &mcp_list_live, list_fan_out, op, 1, 1,
                          args, NULL) != 0)
    {
        list_op_free(op);
        if (l->list.handler != NULL) {
            l->list.handler(s, rid, msg, l->list.ctx);
        }
    }
}

int
mcp_redis_list_init(mcp_redis_list_t *l, mcp_daemon_t *d,
    mcp_redis_t *redis, mcp_redis_fwd_t *fwd)
{
    memset(l, 0, sizeof(*l));
    l->d = d;
    l->redis = redis;
    l->fwd = fwd;
    if (mcp_redis_add_script(redis, &mcp_list_live) != 0
        || mcp_daemon_wrap_action(d, "list_conversations",
                                  list_conversations, l, &l->list) != 0)
    {
        return -1;
    }
    return 0;
}

void
mcp_redis_list_stats(mcp_redis_list_t *l, json_t *o)
{
    json_object_set_new(o, "list_conversations", json_pack("{s:I, s:I}",
        "fan_outs", (json_int_t) l->fanouts,
        "partial", (json_int_t) l->partial));
}
