/* Forwarding requests to a conversation's home: see mcp_redis_fwd.h. */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redis/mcp_redis_fwd_int.h"

#define MCP_FWD_RID_MAX  129

static const mcp_session_sink_t  mcp_fwd_sink;


/* ------------------------------------------------------------ publishing */

/* what a PUBLISH's reply is for: the route or remote it concerned */
struct mcp_fwd_pub_s {
    mcp_redis_fwd_t    *f;
    int                 asker;          /* key is a route's, else remote's */
    char               *key;
    char               *rid;            /* req: the request it carried */
};

static void fwd_pub_done(mcp_redis_t *r, redisReply *reply, const char *err,
    void *data);

/* PUBLISH m to instance `to`; pub (may be NULL) sees the reply.  0/-1. */
int
mcp_fwd_publish(mcp_redis_fwd_t *f, const char *to, const mcp_fwd_msg_t *m,
    mcp_fwd_pub_t *pub)
{
    char        chan[300], *text;
    const char *argv[3];
    size_t      lens[3], len;
    int         rc;

    if (mcp_fwd_channel(chan, sizeof(chan), f->redis->conf->key_prefix, to)
        != 0 || (text = mcp_fwd_encode(m, &len)) == NULL)
    {
        return -1;
    }
    argv[0] = "PUBLISH";
    lens[0] = 7;
    argv[1] = chan;
    lens[1] = strlen(chan);
    argv[2] = text;
    lens[2] = len;
    rc = mcp_redis_command(f->redis, pub ? fwd_pub_done : NULL, pub, 3, argv,
                           lens);
    free(text);
    return rc;
}

static mcp_fwd_pub_t *
fwd_pub_new(mcp_redis_fwd_t *f, int asker, const char *key, const char *rid)
{
    mcp_fwd_pub_t  *p = calloc(1, sizeof(*p));

    if (p == NULL) {
        return NULL;
    }
    p->f = f;
    p->asker = asker;
    p->key = strdup(key);
    p->rid = rid ? strdup(rid) : NULL;
    if (p->key == NULL || (rid && p->rid == NULL)) {
        free(p->key);
        free(p);
        return NULL;
    }
    return p;
}

static void
fwd_pub_free(mcp_fwd_pub_t *p)
{
    free(p->key);
    free(p->rid);
    free(p);
}


/* ------------------------------------------------------------ asking side */

static void
fwd_route_free(mcp_fwd_route_t *rt)
{
    mcp_redis_fwd_t  *f = rt->f;

    if (rt->prev) {
        rt->prev->next = rt->next;
    } else {
        f->routes = rt->next;
    }
    if (rt->next) {
        rt->next->prev = rt->prev;
    }
    mcp_strmap_remove(f->by_sid, rt->key);
    mcp_session_unref(rt->s);
    json_decref(rt->inflight);
    free(rt->home);
    free(rt);
}

/* The home no longer needs to keep a session for this route. */
static void
fwd_route_close(mcp_fwd_route_t *rt)
{
    mcp_fwd_msg_t  m = { .kind = MCP_FWD_CLOSE };

    m.from = rt->f->redis->instance;
    m.sid = rt->sid;
    (void) mcp_fwd_publish(rt->f, rt->home, &m, NULL);
    fwd_route_free(rt);
}

/* Answer request rid of the route with an error made here. */
static void
fwd_route_fail_one(mcp_fwd_route_t *rt, const char *rid, const char *code,
    const char *why)
{
    json_object_del(rt->inflight, rid);
    (void) mcp_session_error(rt->s, rid, code, "%s", why);
}

/* The same, and the route ends if that was its last request. */
static void
fwd_route_fail_last(mcp_redis_fwd_t *f, const char *key, const char *rid,
    const char *code, const char *why)
{
    mcp_fwd_route_t  *rt = mcp_strmap_get(f->by_sid, key);

    if (rt != NULL) {
        fwd_route_fail_one(rt, rid, code, why);
    }
    rt = mcp_strmap_get(f->by_sid, key);        /* sending may end it */
    if (rt != NULL && json_object_size(rt->inflight) == 0) {
        fwd_route_close(rt);
    }
}

/*
 * Every open request of the route fails; the route ends.  Sending may
 * close the client's session, whose hook ends the route: look it up again
 * after each send.
 */
static void
fwd_route_fail(mcp_fwd_route_t *rt, const char *code, const char *why)
{
    mcp_redis_fwd_t  *f = rt->f;
    const char       *rid;
    json_t           *v, *rids = json_deep_copy(rt->inflight);
    char              key[24];

    memcpy(key, rt->key, sizeof(key));
    json_object_foreach(rids, rid, v) {
        rt = mcp_strmap_get(f->by_sid, key);
        if (rt == NULL) {
            break;
        }
        fwd_route_fail_one(rt, rid, code, why);
    }
    json_decref(rids);
    rt = mcp_strmap_get(f->by_sid, key);
    if (rt != NULL) {
        fwd_route_close(rt);
    }
}

static mcp_fwd_route_t *
fwd_route_get(mcp_redis_fwd_t *f, mcp_session_t *s, const char *home)
{
    mcp_fwd_route_t  *rt;

    for (rt = f->routes; rt; rt = rt->next) {
        if (rt->s == s && strcmp(rt->home, home) == 0) {
            return rt;
        }
    }
    rt = calloc(1, sizeof(*rt));
    if (rt == NULL || (rt->home = strdup(home)) == NULL
        || (rt->inflight = json_object()) == NULL)
    {
        if (rt) {
            free(rt->home);
        }
        free(rt);
        return NULL;
    }
    rt->f = f;
    rt->s = s;
    rt->ack_step = mcp_fwd_window(mcp_session_attr(s, "send_buffer_size")) / 4;
    mcp_session_ref(s);
    rt->sid = ++f->next_sid;
    snprintf(rt->key, sizeof(rt->key), "%llu", (unsigned long long) rt->sid);
    rt->heard_ms = uv_now(f->d->loop);
    rt->next = f->routes;
    if (f->routes) {
        f->routes->prev = rt;
    }
    f->routes = rt;
    if (mcp_strmap_put(f->by_sid, rt->key, rt) != 0) {
        fwd_route_free(rt);
        return NULL;
    }
    return rt;
}

void
mcp_redis_fwd_send(mcp_redis_fwd_t *f, mcp_session_t *s, const char *home,
    const char *rid, const char *text, size_t len)
{
    mcp_fwd_route_t  *rt = fwd_route_get(f, s, home);
    mcp_fwd_msg_t     m = { .kind = MCP_FWD_REQ };
    mcp_fwd_pub_t    *pub;

    if (rt == NULL) {
        mcp_session_error(s, rid, "internal", "out of memory");
        return;
    }
    json_object_set_new(rt->inflight, rid, json_true());
    m.from = f->redis->instance;
    m.sid = rt->sid;
    m.principal = mcp_session_attr(s, "principal");
    m.send_buffer = mcp_session_attr(s, "send_buffer_size");
    m.acks = 1;
    m.text = text;
    m.len = len;
    pub = fwd_pub_new(f, 1, rt->key, rid);
    if (pub == NULL || mcp_fwd_publish(f, home, &m, pub) != 0) {
        if (pub) {
            fwd_pub_free(pub);
        }
        mcp_redis_fallback(f->redis);
        fwd_route_fail_last(f, rt->key, rid, "backend_unavailable",
                            "Redis is not reachable: the request cannot "
                            "reach the instance holding its conversation");
        return;
    }
    rt->heard_ms = uv_now(f->d->loop);
    f->forwarded++;
    mcp_fwd_route_tell_flow(rt, 0); /* a client already paused */
}

const char *
mcp_redis_fwd_home_of(mcp_redis_fwd_t *f, mcp_session_t *s, const char *rid)
{
    mcp_fwd_route_t  *rt;

    for (rt = f->routes; rt; rt = rt->next) {
        if (rt->s == s && json_object_get(rt->inflight, rid) != NULL) {
            return rt->home;
        }
    }
    return NULL;
}

/* A req was published: nobody listening means the home is gone. */
static void
fwd_req_published(mcp_fwd_pub_t *p, redisReply *reply, const char *err)
{
    mcp_fwd_route_t  *rt = mcp_strmap_get(p->f->by_sid, p->key);

    if (rt == NULL || json_object_get(rt->inflight, p->rid) == NULL) {
        return;
    }
    if (err != NULL) {
        fwd_route_fail_last(p->f, p->key, p->rid, "backend_unavailable",
                            "Redis did not pass the request on to the "
                            "instance holding its conversation");
    } else if (reply->type == REDIS_REPLY_INTEGER && reply->integer == 0) {
        p->f->unavailable++;
        fwd_route_fail_last(p->f, p->key, p->rid, "conversation_unavailable",
                            "the instance holding this conversation is not "
                            "reachable; try again later");
    }
}

static void
fwd_on_frame(mcp_redis_fwd_t *f, const mcp_fwd_msg_t *m)
{
    mcp_fwd_route_t  *rt;
    char              key[24], rid[MCP_FWD_RID_MAX];

    snprintf(key, sizeof(key), "%llu", (unsigned long long) m->sid);
    rt = mcp_strmap_get(f->by_sid, key);
    if (rt == NULL || strcmp(rt->home, m->from) != 0) {
        return;                 /* the route ended meanwhile */
    }
    rt->heard_ms = uv_now(f->d->loop);
    if (m->kind == MCP_FWD_ALIVE) {
        return;
    }
    if (m->kind == MCP_FWD_GONE) {
        f->unavailable++;
        fwd_route_fail(rt, "backend_unavailable",
                       "the instance holding this conversation ended the "
                       "request; send it again");
        return;
    }
    if (m->seq != rt->next_seq) {
        f->lost++;
        fwd_route_fail(rt, "backend_unavailable",
                       "frames were lost between instances; send the "
                       "request again (a repeat replays what is stored)");
        return;
    }
    rt->next_seq++;
    f->frames_in++;
    (void) mcp_session_send_text(rt->s, m->text, m->len);
    if ((rt = mcp_strmap_get(f->by_sid, key)) == NULL) {
        return;                 /* sending closed the session */
    }
    mcp_fwd_route_received(rt, m->len);
    if (mcp_fwd_frame_final(m->text, m->len, rid, sizeof(rid)) == 1) {
        json_object_del(rt->inflight, rid);
        if (json_object_size(rt->inflight) == 0) {
            fwd_route_close(rt);
        }
    }
}

/* The client went: its routes end, and the homes stop their work. */
static void
fwd_session_closed(mcp_session_t *s, void *ctx)
{
    mcp_redis_fwd_t  *f = ctx;
    mcp_fwd_route_t  *rt, *next;

    for (rt = f->routes; rt; rt = next) {
        next = rt->next;
        if (rt->s == s) {
            fwd_route_close(rt);
        }
    }
}


/* ------------------------------------------------------------ home side */

static void
fwd_remote_free(void *value, void *ctx)
{
    mcp_fwd_remote_t  *rm = value;

    mcp_session_end_remote(rm->s);      /* no-op once mcpd closed it */
    mcp_session_unref(rm->s);
    free(rm->from);
    free(rm->key);
    free(rm);
}

static int
fwd_sink_send(void *ctx, const char *text, size_t len)
{
    mcp_fwd_remote_t  *rm = ctx;
    mcp_fwd_msg_t      m = { .kind = MCP_FWD_FRAME };
    mcp_fwd_pub_t     *pub;

    m.from = rm->f->redis->instance;
    m.sid = rm->sid;
    m.seq = rm->seq++;
    m.text = text;
    m.len = len;
    pub = fwd_pub_new(rm->f, 0, rm->key, NULL);
    if (pub == NULL || mcp_fwd_publish(rm->f, rm->from, &m, pub) != 0) {
        if (pub) {
            fwd_pub_free(pub);
        }
        /* the asker notices the gap or the silence */
        return -1;
    }
    rm->f->frames_out++;
    mcp_fwd_remote_sent(rm, len);
    return 0;
}

static void
fwd_sink_closed(void *ctx, uint16_t code, const char *reason)
{
    mcp_fwd_remote_t  *rm = ctx;
    mcp_fwd_msg_t      m = { .kind = MCP_FWD_GONE };

    m.from = rm->f->redis->instance;
    m.sid = rm->sid;
    (void) mcp_fwd_publish(rm->f, rm->from, &m, NULL);
}

static const mcp_session_sink_t  mcp_fwd_sink = {
    fwd_sink_send, fwd_sink_closed
};

static void
fwd_remote_key(char *buf, size_t size, const char *from, uint64_t sid)
{
    snprintf(buf, size, "%s %llu", from, (unsigned long long) sid);
}

mcp_fwd_remote_t *
mcp_fwd_remote_find(mcp_redis_fwd_t *f, const mcp_fwd_msg_t *m)
{
    char  key[400];

    fwd_remote_key(key, sizeof(key), m->from, m->sid);
    return mcp_strmap_get(f->remotes, key);
}

static void
fwd_on_req(mcp_redis_fwd_t *f, const mcp_fwd_msg_t *m)
{
    mcp_fwd_remote_t  *rm;
    const char        *attrs[7];
    char               key[400];
    size_t             n = 0;

    fwd_remote_key(key, sizeof(key), m->from, m->sid);
    rm = mcp_strmap_get(f->remotes, key);
    if (rm == NULL) {
        rm = calloc(1, sizeof(*rm));
        if (rm == NULL) {
            return;             /* the asker's deadline answers */
        }
        if (m->principal[0] != '\0') {
            attrs[n++] = "principal";
            attrs[n++] = m->principal;
        }
        if (m->send_buffer != NULL) {
            /* the home sizes its answers (history pages) for the
               asking client's buffer, not for a default */
            attrs[n++] = "send_buffer_size";
            attrs[n++] = m->send_buffer;
        }
        attrs[n++] = "redis_from";
        attrs[n++] = m->from;
        attrs[n] = NULL;
        rm->f = f;
        rm->sid = m->sid;
        /* an asker of an older build never acknowledges: no window */
        rm->window = m->acks ? mcp_fwd_window(m->send_buffer) : 0;
        rm->from = strdup(m->from);
        rm->key = strdup(key);
        rm->s = mcp_session_new_remote(f->d, m->sid, attrs, &mcp_fwd_sink,
                                       rm);
        if (rm->from == NULL || rm->key == NULL || rm->s == NULL) {
            if (rm->s) {
                mcp_session_end_remote(rm->s);
            }
            free(rm->from);
            free(rm->key);
            free(rm);
            return;
        }
        mcp_session_ref(rm->s);
        if (mcp_strmap_put(f->remotes, key, rm) != 0) {
            return;
        }
    }
    f->served++;
    mcp_dispatch_message(rm->s, m->text, m->len);
}

/* A frame found no listener (the asker went): stop the work. */
static void
fwd_frame_published(mcp_fwd_pub_t *p, redisReply *reply, const char *err)
{
    if (err == NULL && reply->type == REDIS_REPLY_INTEGER
        && reply->integer == 0)
    {
        mcp_strmap_remove(p->f->remotes, p->key);
    }
}

static void
fwd_pub_done(mcp_redis_t *r, redisReply *reply, const char *err, void *data)
{
    mcp_fwd_pub_t  *p = data;

    if (p->asker) {
        fwd_req_published(p, reply, err);
    } else {
        fwd_frame_published(p, reply, err);
    }
    fwd_pub_free(p);
}


/* ------------------------------------------------------------ messages */

static void
fwd_on_message(mcp_redis_t *r, const char *payload, size_t len, void *data)
{
    mcp_redis_fwd_t  *f = data;
    mcp_fwd_msg_t     m;
    char              key[400];

    if (mcp_fwd_decode(payload, len, &m) != 0) {
        f->bad++;
        mcp_fwd_msg_clear(&m);
        return;
    }
    switch (m.kind) {
    case MCP_FWD_REQ:
        fwd_on_req(f, &m);
        break;
    case MCP_FWD_CLOSE:
        fwd_remote_key(key, sizeof(key), m.from, m.sid);
        mcp_strmap_remove(f->remotes, key);
        break;
    case MCP_FWD_FLOW:
        mcp_fwd_on_flow(f, &m);
        break;
    case MCP_FWD_ACK:
        mcp_fwd_on_ack(f, &m);
        break;
    default:
        fwd_on_frame(f, &m);
    }
    mcp_fwd_msg_clear(&m);
}

static void
fwd_sub_up(mcp_redis_t *r, void *data)
{
    mcp_redis_fwd_t  *f = data;

    if (mcp_redis_subscribe(r, f->channel, fwd_on_message, f) != 0) {
        mcp_log_warn(f->redis->log, "redis", "cannot subscribe to %s",
                     f->channel);
    }
}


/* ------------------------------------------------------------ deadlines */

static int
fwd_remote_alive(const char *key, void *value, void *ctx)
{
    mcp_fwd_remote_t  *rm = value;
    mcp_fwd_msg_t      m = { .kind = MCP_FWD_ALIVE };
    mcp_fwd_pub_t     *pub;

    m.from = rm->f->redis->instance;
    m.sid = rm->sid;
    pub = fwd_pub_new(rm->f, 0, rm->key, NULL);
    if (pub != NULL && mcp_fwd_publish(rm->f, rm->from, &m, pub) != 0) {
        fwd_pub_free(pub);
    }
    return 0;
}

static void
fwd_sweep(uv_timer_t *t)
{
    mcp_redis_fwd_t  *f = t->data;
    mcp_fwd_route_t  *rt, *next;
    uint64_t          now = uv_now(f->d->loop);
    uint64_t          ttl = (uint64_t) f->redis->conf->heartbeat_ttl_ms;

    /* home side: tell askers we still hold their sessions (an asker that
       is gone shows as 0 receivers and its session ends) */
    mcp_strmap_sweep(f->remotes, fwd_remote_alive, NULL);

    /* asking side: a home silent for heartbeat_ttl is gone; the others
       hear of every byte passed on (a home whose window is full waits
       for that) */
    for (rt = f->routes; rt; rt = next) {
        next = rt->next;
        mcp_fwd_route_sweep(rt);
        if (now - rt->heard_ms > ttl) {
            f->unavailable++;
            fwd_route_fail(rt, "conversation_unavailable",
                           "the instance holding this conversation stopped "
                           "answering; try again later");
        }
    }
}


/* ------------------------------------------------------------ lifecycle */

int
mcp_redis_fwd_init(mcp_redis_fwd_t *f, mcp_daemon_t *d, mcp_redis_t *redis)
{
    memset(f, 0, sizeof(*f));
    f->d = d;
    f->redis = redis;
    if (mcp_fwd_channel(f->channel, sizeof(f->channel),
                        redis->conf->key_prefix, redis->instance) != 0
        || mcp_redis_init(&f->sub, d->loop, redis->conf, &d->log) != 0)
    {
        return -1;
    }
    f->by_sid = mcp_strmap_new(NULL, NULL);
    f->remotes = mcp_strmap_new(fwd_remote_free, NULL);
    if (f->by_sid == NULL || f->remotes == NULL
        || mcp_redis_on_up(&f->sub, fwd_sub_up, f) != 0
        || mcp_daemon_on_session_close(d, fwd_session_closed, f) != 0
        || mcp_daemon_on_session_flow(d, mcp_fwd_session_flow, f) != 0)
    {
        return -1;
    }
    uv_timer_init(d->loop, &f->sweep);
    f->sweep.data = f;
    return 0;
}

void
mcp_redis_fwd_start(mcp_redis_fwd_t *f)
{
    uint64_t  every = (uint64_t) f->redis->conf->heartbeat_interval_ms;

    mcp_redis_start(&f->sub);
    uv_timer_start(&f->sweep, fwd_sweep, every, every);
}

static int
fwd_drop_all(const char *key, void *value, void *ctx)
{
    return 1;
}

void
mcp_redis_fwd_close(mcp_redis_fwd_t *f, void (*closed)(void *ctx),
    void *ctx)
{
    mcp_fwd_route_t  *rt;

    while ((rt = f->routes) != NULL) {
        fwd_route_fail(rt, "backend_unavailable",
                       "mcpd is shutting down; send the request again");
    }
    mcp_strmap_sweep(f->remotes, fwd_drop_all, NULL);
    mcp_redis_close(&f->sub, closed, ctx);
    uv_timer_stop(&f->sweep);
    uv_close((uv_handle_t *) &f->sweep, NULL);
}

void
mcp_redis_fwd_free(mcp_redis_fwd_t *f)
{
    mcp_strmap_free(f->remotes);
    mcp_strmap_free(f->by_sid);
    mcp_redis_free(&f->sub);
}

void
mcp_redis_fwd_stats(mcp_redis_fwd_t *f, json_t *o)
{
    json_object_set_new(o, "forwarding", json_pack(
        "{s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, "
        "s:I}",
        "channel", f->channel,
        "subscriber", mcp_redis_up(&f->sub) ? "up" : "down",
        "routes", (json_int_t) mcp_strmap_count(f->by_sid),
        "remote_sessions", (json_int_t) mcp_strmap_count(f->remotes),
        "forwarded", (json_int_t) f->forwarded,
        "served", (json_int_t) f->served,
        "frames_in", (json_int_t) f->frames_in,
        "frames_out", (json_int_t) f->frames_out,
        "unavailable", (json_int_t) f->unavailable,
        "lost", (json_int_t) f->lost,
        "bad", (json_int_t) f->bad,
        "flows_out", (json_int_t) f->flows_out,
        "flows_in", (json_int_t) f->flows_in,
        "window_stalls", (json_int_t) f->window_stalls));
}
