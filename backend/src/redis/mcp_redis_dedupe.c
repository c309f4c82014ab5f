/* Request-id dedupe across instances: see mcp_redis_dedupe.h. */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redis/mcp_redis_dedupe.h"

typedef struct {
    mcp_redis_dedupe_t  *dd;
    mcp_session_t       *s;
    char                *rid;
    json_t              *msg;
} mcp_dd_claim_t;

static const char *
dd_principal(mcp_session_t *s)
{
    const char  *p = mcp_session_attr(s, "principal");

    return p ? p : "";
}

/* the chat action itself */
static void
dd_run(mcp_redis_dedupe_t *dd, mcp_session_t *s, const char *rid, json_t *msg)
{
    if (dd->next.handler == NULL) {
        mcp_session_error(s, rid, "unknown_action", "unknown action 'chat'");
        return;
    }
    dd->next.handler(s, rid, msg, dd->next.ctx);
}

static void
dd_claimed(mcp_redis_t *r, redisReply *reply, const char *err, void *data)
{
    mcp_dd_claim_t      *cl = data;
    mcp_redis_dedupe_t  *dd = cl->dd;
    char                 mine[300];

    snprintf(mine, sizeof(mine), "run:%s", r->instance);
    if (!mcp_session_is_open(cl->s)) {
        /* the client left meanwhile: nothing to run for it */

    } else if (err != NULL || reply->type == REDIS_REPLY_NIL) {
        if (err != NULL) {
            dd->unchecked++;
            mcp_redis_fallback(r);
        } else {
            dd->claimed++;
        }
        dd_run(dd, cl->s, cl->rid, cl->msg);

    } else if (reply->type == REDIS_REPLY_STRING
               && strcmp(reply->str, mine) == 0)
    {
        dd->repeats++;
        dd_run(dd, cl->s, cl->rid, cl->msg);

    } else {
        dd->duplicates++;
        mcp_session_reply(cl->s, cl->rid, "error", json_pack(
            "{s:s, s:s, s:{s:s}}",
            "error", "this request_id was already sent to another instance "
                     "of the cluster; it runs (or ran) there only once",
            "code", "duplicate_request",
            "metadata", "instance",
            reply->type == REDIS_REPLY_STRING
            && strncmp(reply->str, "run:", 4) == 0 ? reply->str + 4 : "?"));
    }
    mcp_session_unref(cl->s);
    json_decref(cl->msg);
    free(cl->rid);
    free(cl);
}

static void
dd_chat(mcp_session_t *s, const char *rid, json_t *msg, void *ctx)
{
    mcp_redis_dedupe_t  *dd = ctx;
    mcp_redis_t         *r = dd->redis;
    mcp_dd_claim_t      *cl;
    char                 key[700], val[300], ttl[24];
    const char          *argv[7];

    cl = mcp_redis_up(r) ? calloc(1, sizeof(*cl)) : NULL;
    if (cl == NULL || (cl->rid = strdup(rid)) == NULL) {
        free(cl);
        dd->unchecked++;
        mcp_redis_fallback(r);
        dd_run(dd, s, rid, msg);
        return;
    }
    /* by principal and request id only: a retry of a first message may
       carry the conversation id that the first attempt created */
    mcp_redis_key(r, key, sizeof(key), "req:%zu:%s:%s",
                  strlen(dd_principal(s)), dd_principal(s), rid);
    snprintf(val, sizeof(val), "run:%s", r->instance);
    snprintf(ttl, sizeof(ttl), "%lld", (long long) r->conf->dedupe_ttl_ms);
    argv[0] = "SET";
    argv[1] = key;
    argv[2] = val;
    argv[3] = "NX";
    argv[4] = "GET";
    argv[5] = "PX";
    argv[6] = ttl;
    cl->dd = dd;
    cl->s = s;
    cl->msg = json_incref(msg);
    mcp_session_ref(s);
    if (mcp_redis_command(r, dd_claimed, cl, 7, argv, NULL) != 0) {
        mcp_session_unref(s);
        json_decref(msg);
        free(cl->rid);
        free(cl);
        dd->unchecked++;
        mcp_redis_fallback(r);
        dd_run(dd, s, rid, msg);
    }
}

int
mcp_redis_dedupe_init(mcp_redis_dedupe_t *dd, mcp_daemon_t *d,
    mcp_redis_t *redis)
{
    memset(dd, 0, sizeof(*dd));
    dd->redis = redis;
    return mcp_daemon_wrap_action(d, "chat", dd_chat, dd, &dd->next);
}


void
mcp_redis_dedupe_stats(mcp_redis_dedupe_t *dd, json_t *o)
{
    json_object_set_new(o, "dedupe", json_pack("{s:I, s:I, s:I, s:I}",
        "claimed", (json_int_t) dd->claimed,
        "repeats", (json_int_t) dd->repeats,
        "duplicates", (json_int_t) dd->duplicates,
        "unchecked", (json_int_t) dd->unchecked));
}
