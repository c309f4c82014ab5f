/* Where a conversation's requests run: see mcp_redis_route.h. */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redis/mcp_redis_fwd_codec.h"
#include "redis/mcp_redis_home.h"
#include "redis/mcp_redis_lease.h"
#include "redis/mcp_redis_route.h"
#include "util/mcp_uuid.h"

/* a takeover holds the conversation's lock this long at most */
#define MCP_ROUTE_LEASE_MS        5000

/*
 * KEYS: instances zset, home key, request key ('' unless a conversation-
 * less chat).  ARGV: this instance, conversation, claim (1: a chat may
 * record its home), request ttl ms, home key prefix.
 * Returns {home ('' if none), conversation, home alive (1/0), retry (1/0)}.
 * The request key, when given, wins: a retry goes where the first ran.
 */
static mcp_redis_script_t  mcp_route_script = { .src =
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "local conv, hk, retry = ARGV[2], KEYS[2], 0\n"
    "if KEYS[3] ~= '' then\n"
    "  local prev = redis.call('GET', KEYS[3])\n"
    "  if prev then conv = prev; hk = ARGV[5] .. prev; retry = 1\n"
    "  else redis.call('SET', KEYS[3], conv, 'PX', ARGV[4]) end\n"
    "end\n"
    "local home = redis.call('GET', hk)\n"
    "if not home then\n"
    "  if ARGV[3] ~= '1' then return {'', conv, 0, retry} end\n"
    "  redis.call('SET', hk, ARGV[1])\n"
    "  return {ARGV[1], conv, 1, retry}\n"
    "end\n"
    "if home == ARGV[1] then return {home, conv, 1, retry} end\n"
    "local exp = redis.call('ZSCORE', KEYS[1], home)\n"
    "local alive = 0\n"
    "if exp and tonumber(exp) > now then alive = 1 end\n"
    "return {home, conv, alive, retry}\n"
};

/*
 * KEYS: home key.  ARGV: the dead home, this instance.  Moves the home
 * here if it is still the dead one (or already here): 1, else 0.
 */
static mcp_redis_script_t  mcp_takeover_script = { .src =
    "local h = redis.call('GET', KEYS[1])\n"
    "if h == ARGV[1] or h == ARGV[2] then\n"
    "  redis.call('SET', KEYS[1], ARGV[2])\n"
    "  return 1\n"
    "end\n"
    "return 0\n"
};

/* one message on its way to a decision */
typedef struct mcp_route_op_s  mcp_route_op_t;

struct mcp_route_op_s {
    mcp_route_op_t     *prev, *next_op;  /* rt->pending until settled */
    int                 settled;
    json_t             *cancel;        /* a cancel of it that came early */
    char               *cancel_rid;
    mcp_redis_route_t  *rt;
    mcp_action_next_t  *next;
    mcp_session_t      *s;
    char               *rid;
    json_t             *msg;           /* ours (a copy when rewritten) */
    char               *conv;
    int                 fresh;         /* conversation id made here */
    char               *dead;          /* takeover: the gone home */
    mcp_redis_lease_t  *lease;
};

static void route_settle(mcp_route_op_t *op, const char *home);


/* ------------------------------------------------------------ helpers */

static void
route_op_free(mcp_route_op_t *op)
{
    /* every path ends here: one that did not forward ran (or refused)
       the message here, so an early cancel of it is run here too */
    route_settle(op, NULL);
    json_decref(op->cancel);
    free(op->cancel_rid);
    mcp_session_unref(op->s);
    json_decref(op->msg);
    free(op->rid);
    free(op->conv);
    free(op->dead);
    free(op);
}

/* Run the wrapped action here. */
static void
route_run(mcp_action_next_t *next, mcp_session_t *s, const char *rid,
    json_t *msg)
{
    if (next->handler == NULL) {
        mcp_session_error(s, rid, "unknown_action", "unknown action");
        return;
    }
    next->handler(s, rid, msg, next->ctx);
}

static void
route_unavailable(mcp_route_op_t *op, const char *why)
{
    op->rt->unavailable++;
    mcp_session_reply(op->s, op->rid, "error", json_pack(
        "{s:s, s:s, s:s}", "error", why, "code", "conversation_unavailable",
        "conversation_id", op->conv));
}

/* The payload's conversation_id when it is a usable string, else NULL. */
static const char *
route_conv_of(json_t *msg)
{
    json_t  *v = json_object_get(json_object_get(msg, "payload"),
                                 "conversation_id");
    size_t   n = json_string_length(v);

    if (!json_is_string(v) || n == 0 || n > 128
        || strlen(json_string_value(v)) != n)
    {
        return NULL;
    }
    return json_string_value(v);
}

/* The message with payload.conversation_id set to conv (a new object). */
static json_t *
route_with_conv(json_t *msg, const char *conv)
{
    json_t  *copy = json_deep_copy(msg);

    if (copy != NULL) {
        json_object_set_new(json_object_get(copy, "payload"),
                            "conversation_id", json_string(conv));
    }
    return copy;
}

static void
route_forward(mcp_route_op_t *op, const char *home)
{
    char  *text = json_dumps(op->msg, JSON_COMPACT);

    if (text == NULL) {
        mcp_session_error(op->s, op->rid, "internal", "out of memory");
        return;
    }
    op->rt->forwarded++;
    mcp_redis_fwd_send(op->rt->fwd, op->s, home, op->rid, text,
                       strlen(text));
    free(text);
    route_settle(op, home);
}


/* ------------------------------------------------------------ cancel */

/* A cancel for a request forwarded to home goes there; else it runs here. */
static void
route_cancel_to(mcp_redis_route_t *rt, mcp_session_t *s, const char *rid,
    json_t *msg, const char *home)
{
    char  *text;

    if (home == NULL || (text = json_dumps(msg, JSON_COMPACT)) == NULL) {
        route_run(&rt->cancel, s, rid, msg);
        return;
    }
    rt->forwarded++;
    mcp_redis_fwd_send(rt->fwd, s, home, rid, text, strlen(text));
    free(text);
}

/*
 * The message is where it runs (home: forwarded there; NULL: here): it
 * leaves the pending list, and a cancel that arrived before follows it.
 */
static void
route_settle(mcp_route_op_t *op, const char *home)
{
    mcp_redis_route_t  *rt = op->rt;

    if (op->settled) {
        return;
    }
    op->settled = 1;
    if (op->prev) {
        op->prev->next_op = op->next_op;
    } else if (rt->pending == op) {
        rt->pending = op->next_op;
    }
    if (op->next_op) {
        op->next_op->prev = op->prev;
    }
    if (op->cancel != NULL) {
        route_cancel_to(rt, op->s, op->cancel_rid, op->cancel, home);
    }
}

/* The message still being routed that rid of s names, or NULL. */
static mcp_route_op_t *
route_pending(mcp_redis_route_t *rt, mcp_session_t *s, const char *rid)
{
    mcp_route_op_t  *op;

    for (op = rt->pending; op; op = op->next_op) {
        if (op->s == s && op->cancel == NULL && strcmp(op->rid, rid) == 0) {
            return op;
        }
    }
    return NULL;
}


/* ------------------------------------------------------------ Redis down */

static void
route_local_checked(const mcp_repo_result_t *res, void *data)
{
    mcp_route_op_t  *op = data;

    if (!mcp_session_is_open(op->s)) {
        /* the client left */
    } else if (res->status == MCP_REPO_OK) {
        route_run(op->next, op->s, op->rid, op->msg);
    } else {
        route_unavailable(op, "Redis is not reachable, and this instance "
                          "does not hold the conversation: it may live on "
                          "another one; try again later");
    }
    route_op_free(op);
}

/*
 * Without Redis nobody can say where a conversation lives: a new one
 * starts here (its home is recorded when Redis returns), one this store
 * has runs here, any other may live elsewhere and is not touched.
 */
static void
route_degraded(mcp_route_op_t *op)
{
    mcp_redis_route_t  *rt = op->rt;

    rt->unchecked++;
    mcp_redis_fallback(rt->redis);
    if (op->fresh) {
        if (mcp_strmap_count(rt->unrecorded) >= MCP_ROUTE_UNRECORDED_MAX
            || mcp_strmap_put(rt->unrecorded, op->conv, NULL) != 0)
        {
            mcp_session_error(op->s, op->rid, "backend_unavailable",
                              "Redis has been unreachable for too long to "
                              "start more conversations; try again later");
        } else {
            route_run(op->next, op->s, op->rid, op->msg);
        }
        route_op_free(op);
        return;
    }
    if (rt->repo == NULL
        || mcp_repo_export(rt->repo, mcp_session_attr(op->s, "principal")
                           ? mcp_session_attr(op->s, "principal") : "",
                           op->conv, route_local_checked, op) != 0)
    {
        route_unavailable(op, "Redis is not reachable; try again later");
        route_op_free(op);
    }
}

/* ------------------------------------------------------------ takeover */

/*
 * The home's heartbeat expired, yet this instance's store has the
 * conversation: it is that instance come back under a new name (the
 * default instance_id has the pid in it), on the same file.  Under the
 * conversation's lease (so two takers cannot interleave) the home moves
 * here if it still names the dead one; then the request runs here.  Any
 * other instance answers conversation_unavailable: the history is not
 * in its store.
 */

static void
route_takeover_freed(mcp_redis_lease_t *l)
{
    route_op_free(l->data);
}

static void
route_taken_over(mcp_redis_t *r, redisReply *reply, const char *err,
    void *data)
{
    mcp_route_op_t  *op = data;

    if (!mcp_session_is_open(op->s)) {
        /* the client left */
    } else if (err == NULL && reply->type == REDIS_REPLY_INTEGER
               && reply->integer == 1)
    {
        mcp_log_info(r->log, "redis", "conversation %s: home moves from "
                     "%s (gone) to this instance, whose store has it",
                     op->conv, op->dead);
        op->rt->takeovers++;
        route_run(op->next, op->s, op->rid, op->msg);
    } else {
        route_unavailable(op, "the conversation's home changed meanwhile; "
                          "try again");
    }
    mcp_redis_lease_release(op->lease);         /* frees op */
}

static void
route_lease_got(mcp_redis_lease_t *l, int acquired, void *data)
{
    mcp_route_op_t  *op = data;
    char             khome[300];
    const char      *args[3];

    if (acquired == 1
        && mcp_fwd_home_key(khome, sizeof(khome),
                            op->rt->redis->conf->key_prefix, op->conv) == 0)
    {
        args[0] = khome;
        args[1] = op->dead;
        args[2] = op->rt->redis->instance;
        if (mcp_redis_eval(op->rt->redis, &mcp_takeover_script,
                           route_taken_over, op, 1, 3, args, NULL) == 0)
        {
            return;
        }
    }
    route_unavailable(op, "another instance is taking this conversation "
                      "over; try again");
    mcp_redis_lease_release(l);                 /* frees op */
}

static void
route_takeover_checked(const mcp_repo_result_t *res, void *data)
{
    mcp_route_op_t  *op = data;
    char             key[300];

    if (res->status != MCP_REPO_OK || !mcp_session_is_open(op->s)) {
        route_unavailable(op, "the instance holding this conversation is "
                          "gone (its heartbeat expired); its history stays "
                          "there and is not copied elsewhere");
        route_op_free(op);
        return;
    }
    if (mcp_fwd_lock_key(key, sizeof(key), op->rt->redis->conf->key_prefix,
                         op->conv) != 0
        || (op->lease = mcp_redis_lease_new(op->rt->redis, key,
                                            MCP_ROUTE_LEASE_MS,
                                            route_takeover_freed)) == NULL)
    {
        route_unavailable(op, "out of memory");
        route_op_free(op);
        return;
    }
    op->lease->data = op;
    if (mcp_redis_lease_acquire(op->lease, route_lease_got, op) != 0) {
        route_unavailable(op, "Redis is not reachable; try again later");
        mcp_redis_lease_release(op->lease);     /* frees op */
    }
}

/* 1 when the check runs (it owns op then), 0 when there is no store. */
static int
route_takeover(mcp_route_op_t *op, const char *dead)
{
    const char  *p = mcp_session_attr(op->s, "principal");

    op->dead = strdup(dead);
    return op->dead != NULL && op->rt->repo != NULL
           && mcp_repo_export(op->rt->repo, p ? p : "", op->conv,
                              route_takeover_checked, op) == 0;
}


/* ------------------------------------------------------------ deciding */

static void
route_decided(mcp_redis_t *r, redisReply *reply, const char *err,
    void *data)
{
    mcp_route_op_t  *op = data;
    const char      *home, *conv;
    json_t          *msg;

    if (!mcp_session_is_open(op->s)) {
        route_op_free(op);
        return;
    }
    if (err != NULL || reply->type != REDIS_REPLY_ARRAY
        || reply->elements != 4
        || reply->element[0]->type != REDIS_REPLY_STRING
        || reply->element[1]->type != REDIS_REPLY_STRING
        || reply->element[2]->type != REDIS_REPLY_INTEGER
        || reply->element[3]->type != REDIS_REPLY_INTEGER)
    {
        route_degraded(op);
        return;
    }
    home = reply->element[0]->str;
    conv = reply->element[1]->str;
    if (reply->element[3]->integer == 1) {
        op->rt->retries++;
    }
    if (strcmp(conv, op->conv) != 0) {
        /* a retry: it belongs to the conversation its first attempt made */
        msg = route_with_conv(op->msg, conv);
        json_decref(op->msg);
        op->msg = msg;
        free(op->conv);
        op->conv = strdup(conv);
        if (msg == NULL || op->conv == NULL) {
            mcp_session_error(op->s, op->rid, "internal", "out of memory");
            route_op_free(op);
            return;
        }
    }

    if (home[0] == '\0' || strcmp(home, r->instance) == 0) {
        op->rt->local++;
        route_run(op->next, op->s, op->rid, op->msg);
    } else if (reply->element[2]->integer == 1) {
        route_forward(op, home);
    } else if (route_takeover(op, home)) {
        return;
    } else {
        route_unavailable(op, "the instance holding this conversation is "
                          "gone (its heartbeat expired); its history stays "
                          "there and is not copied elsewhere");
    }
    route_op_free(op);
}

static void
route_decide(mcp_route_op_t *op, int chat)
{
    mcp_redis_route_t  *rt = op->rt;
    const char         *pfx = rt->redis->conf->key_prefix;
    const char         *p = mcp_session_attr(op->s, "principal");
    char                kset[300], khome[300], kreq[600], ttl[24];
    char                hpfx[300];
    const char         *args[8];

    mcp_redis_key(rt->redis, kset, sizeof(kset), "instances");
    kreq[0] = '\0';
    if (mcp_fwd_home_key(khome, sizeof(khome), pfx, op->conv) != 0
        || mcp_fwd_home_key(hpfx, sizeof(hpfx), pfx, "") != 0
        || (op->fresh && mcp_fwd_request_key(kreq, sizeof(kreq), pfx,
                                             p ? p : "", op->rid) != 0))
    {
        mcp_session_error(op->s, op->rid, "internal", "id too long");
        route_op_free(op);
        return;
    }
    snprintf(ttl, sizeof(ttl), "%lld", (long long) rt->redis->conf
             ->dedupe_ttl_ms);
    args[0] = kset;
    args[1] = khome;
    args[2] = kreq;
    args[3] = rt->redis->instance;
    args[4] = op->conv;
    args[5] = chat ? "1" : "0";
    args[6] = ttl;
    args[7] = hpfx;
    if (mcp_redis_eval(rt->redis, &mcp_route_script, route_decided, op, 3, 8,
                       args, NULL) != 0)
    {
        route_degraded(op);
    }
}

/*
 * Route one message about a conversation.  conv NULL: a chat that starts
 * a conversation (fresh id made here).
 */
static void
route_message(mcp_redis_route_t *rt, mcp_action_next_t *next,
    mcp_session_t *s, const char *rid, json_t *msg, const char *conv,
    int chat)
{
    mcp_route_op_t  *op;
    char             id[MCP_UUID_LEN + 1];

    op = calloc(1, sizeof(*op));
    if (op == NULL) {
        mcp_session_error(s, rid, "internal", "out of memory");
        return;
    }
    op->rt = rt;
    op->next = next;
    op->s = s;
    mcp_session_ref(s);
    op->rid = strdup(rid);
    if (conv == NULL) {
        mcp_uuid4(id);
        op->fresh = 1;
        op->msg = route_with_conv(msg, id);
        conv = id;
    } else {
        op->msg = json_incref(msg);
    }
    op->conv = strdup(conv);
    op->next_op = rt->pending;
    if (rt->pending) {
        rt->pending->prev = op;
    }
    rt->pending = op;
    if (op->rid == NULL || op->msg == NULL || op->conv == NULL) {
        mcp_session_error(s, rid, "internal", "out of memory");
        route_op_free(op);
        return;
    }
    if (!mcp_redis_up(rt->redis)) {
        route_degraded(op);
        return;
    }
    route_decide(op, chat);
}


/* ------------------------------------------------------------ actions */

static void
route_chat(mcp_session_t *s, const char *rid, json_t *msg, void *ctx)
{
    mcp_redis_route_t  *rt = ctx;
    json_t             *p = json_object_get(msg, "payload");
    json_t             *cv = json_object_get(p, "conversation_id");
    const char         *conv = route_conv_of(msg);

    /* run here: requests forwarded to us, and anything chat refuses
       anyway (it answers invalid_request with its own words) */
    if (mcp_session_is_remote(s) || !json_is_object(p)
        || !json_is_string(json_object_get(p, "text"))
        || (conv == NULL && cv != NULL && !json_is_null(cv)))
    {
        route_run(&rt->chat, s, rid, msg);
        return;
    }
    route_message(rt, &rt->chat, s, rid, msg, conv, 1);
}

static void
route_by_conv(mcp_redis_route_t *rt, mcp_action_next_t *next,
    mcp_session_t *s, const char *rid, json_t *msg)
{
    const char  *conv = route_conv_of(msg);

    if (mcp_session_is_remote(s) || conv == NULL) {
        route_run(next, s, rid, msg);
        return;
    }
    route_message(rt, next, s, rid, msg, conv, 0);
}

static void
route_history(mcp_session_t *s, const char *rid, json_t *msg, void *ctx)
{
    mcp_redis_route_t  *rt = ctx;

    route_by_conv(rt, &rt->history, s, rid, msg);
}

static void
route_delete(mcp_session_t *s, const char *rid, json_t *msg, void *ctx)
{
    mcp_redis_route_t  *rt = ctx;

    route_by_conv(rt, &rt->del, s, rid, msg);
}

/*
 * A cancel follows its target: to the home running it, or, while the
 * target is still being routed, after it.
 */
static void
route_cancel(mcp_session_t *s, const char *rid, json_t *msg, void *ctx)
{
    mcp_redis_route_t  *rt = ctx;
    mcp_route_op_t     *op;
    json_t             *target;
    const char         *home = NULL;

    target = json_object_get(json_object_get(msg, "payload"), "target");
    if (mcp_session_is_remote(s) || !json_is_string(target)) {
        route_run(&rt->cancel, s, rid, msg);
        return;
    }
    op = route_pending(rt, s, json_string_value(target));
    if (op != NULL && (op->cancel_rid = strdup(rid)) != NULL) {
        op->cancel = json_incref(msg);
        return;
    }
    home = mcp_redis_fwd_home_of(rt->fwd, s, json_string_value(target));
    route_cancel_to(rt, s, rid, msg, home);
}


/* ------------------------------------------------------------ lifecycle */

int
mcp_redis_route_init(mcp_redis_route_t *rt, mcp_daemon_t *d,
    mcp_redis_t *redis, mcp_redis_fwd_t *fwd, mcp_repo_t *repo)
{
    memset(rt, 0, sizeof(*rt));
    rt->d = d;
    rt->redis = redis;
    rt->fwd = fwd;
    rt->repo = repo;
    rt->unrecorded = mcp_strmap_new(NULL, NULL);
    if (rt->unrecorded == NULL
        || mcp_redis_add_script(redis, &mcp_route_script) != 0
        || mcp_redis_add_script(redis, &mcp_takeover_script) != 0
        || mcp_redis_home_init(rt) != 0
        || mcp_redis_lease_register(redis) != 0
        || mcp_daemon_wrap_action(d, "chat", route_chat, rt, &rt->chat) != 0
        || mcp_daemon_wrap_action(d, "history", route_history, rt,
                                  &rt->history) != 0
        || mcp_daemon_wrap_action(d, "delete_conversation", route_delete, rt,
                                  &rt->del) != 0
        || mcp_daemon_wrap_action(d, "cancel", route_cancel, rt,
                                  &rt->cancel) != 0)
    {
        return -1;
    }
    return 0;
}

void
mcp_redis_route_free(mcp_redis_route_t *rt)
{
    if (rt->unrecorded != NULL) {
        mcp_strmap_free(rt->unrecorded);
        rt->unrecorded = NULL;
    }
    if (rt->unreleased != NULL) {
        mcp_strmap_free(rt->unreleased);
        rt->unreleased = NULL;
    }
}

void
mcp_redis_route_stats(mcp_redis_route_t *rt, json_t *o)
{
    json_object_set_new(o, "routing", json_pack(
        "{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
        "takeovers", (json_int_t) rt->takeovers,
        "local", (json_int_t) rt->local,
        "forwarded", (json_int_t) rt->forwarded,
        "retries", (json_int_t) rt->retries,
        "unavailable", (json_int_t) rt->unavailable,
        "unchecked", (json_int_t) rt->unchecked,
        "unrecorded_homes", (json_int_t) mcp_strmap_count(rt->unrecorded),
        "homes_released", (json_int_t) rt->homes_released,
        "unreleased_homes", (json_int_t) mcp_strmap_count(rt->unreleased)));
}
