/* Fleet-wide provider rate limits and heartbeats: see mcp_redis_limit.h. */

#include <stdio.h>
#include <string.h>

#include "redis/mcp_redis_limit.h"

/*
 * KEYS: requests zset, tokens zset.  ARGV: rpm, tpm, tokens, member,
 * window ms.  Members of the token set are "<member>|<tokens>".
 * Returns {1, tokens charged} or {0, ms to wait}.
 */
static mcp_redis_script_t  mcp_rl_acquire = { .src =
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "local rpm, tpm = tonumber(ARGV[1]), tonumber(ARGV[2])\n"
    "local tok, win = tonumber(ARGV[3]), tonumber(ARGV[5])\n"
    "local wait = 0\n"
    "if rpm > 0 then\n"
    "  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - win)\n"
    "  if redis.call('ZCARD', KEYS[1]) >= rpm then\n"
    "    local o = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')\n"
    "    wait = tonumber(o[2]) + win - now\n"
    "  end\n"
    "end\n"
    "if tpm > 0 then\n"
    "  if tok > tpm then tok = tpm end\n"
    "  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - win)\n"
    "  local all = redis.call('ZRANGE', KEYS[2], 0, -1, 'WITHSCORES')\n"
    "  local used = 0\n"
    "  for i = 1, #all, 2 do\n"
    "    used = used + tonumber(string.match(all[i], '|(-?%d+)$'))\n"
    "  end\n"
    "  if used + tok > tpm then\n"
    "    local need = used + tok - tpm\n"
    "    local w = win\n"
    "    for i = 1, #all, 2 do\n"
    "      need = need - tonumber(string.match(all[i], '|(-?%d+)$'))\n"
    "      if need <= 0 then w = tonumber(all[i + 1]) + win - now break end\n"
    "    end\n"
    "    if w > wait then wait = w end\n"
    "  end\n"
    "end\n"
    "if wait > 0 then return {0, math.max(1, math.floor(wait))} end\n"
    "if rpm > 0 then\n"
    "  redis.call('ZADD', KEYS[1], now, ARGV[4])\n"
    "  redis.call('PEXPIRE', KEYS[1], win)\n"
    "end\n"
    "if tpm > 0 then\n"
    "  redis.call('ZADD', KEYS[2], now, ARGV[4] .. '|' .. tok)\n"
    "  redis.call('PEXPIRE', KEYS[2], win)\n"
    "end\n"
    "return {1, tok}\n"
};

/*
 * KEYS: tokens zset.  ARGV: member, tokens used.  Replaces the member's
 * reservation by its real use at the reservation's own time, so the
 * correction leaves the window together with what it corrects (an entry
 * of its own, stamped later, would outlive it and let extra tokens in).
 * A reservation already out of the window is left alone.  Returns the
 * tokens freed (negative: used more than reserved).
 */
static mcp_redis_script_t  mcp_rl_settle = { .src =
    "local head = ARGV[1] .. '|'\n"
    "local all = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')\n"
    "for i = 1, #all, 2 do\n"
    "  if string.sub(all[i], 1, #head) == head then\n"
    "    redis.call('ZREM', KEYS[1], all[i])\n"
    "    redis.call('ZADD', KEYS[1], all[i + 1], head .. ARGV[2])\n"
    "    return tonumber(string.sub(all[i], #head + 1)) - tonumber(ARGV[2])\n"
    "  end\n"
    "end\n"
    "return 0\n"
};

/* KEYS: instances zset, instance key.  ARGV: id, ttl ms, info. */
static mcp_redis_script_t  mcp_heartbeat = { .src =
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])\n"
    "redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)\n"
    "redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[2])\n"
    "return redis.call('ZCARD', KEYS[1])\n"
};


/* ------------------------------------------------------------ the gate */

static mcp_redis_rl_provider_t *
rl_provider(mcp_redis_limit_t *lim, const char *name)
{
    mcp_redis_rl_provider_t  *p;
    size_t                    i;

    for (i = 0; i < lim->nprovs; i++) {
        if (strcmp(lim->provs[i].name, name) == 0) {
            return &lim->provs[i];
        }
    }
    if (lim->nprovs == MCP_REDIS_LIMIT_MAX_PROVIDERS) {
        return NULL;
    }
    p = &lim->provs[lim->nprovs++];
    memset(p, 0, sizeof(*p));
    p->lim = lim;
    snprintf(p->name, sizeof(p->name), "%s", name);
    return p;
}

/* Redis answered the script with an error: local limits for a while. */
static void
rl_refused(mcp_redis_rl_provider_t *p, mcp_redis_t *r, const char *err)
{
    const mcp_redis_conf_t  *conf = r->conf;
    char                     why[200];

    p->refused_ms = p->refused_ms == 0 ? conf->reconnect_min_ms
                                       : p->refused_ms * 2;
    if (p->refused_ms > conf->reconnect_max_ms) {
        p->refused_ms = conf->reconnect_max_ms;
    }
    p->local_until = uv_now(r->loop) + (uint64_t) p->refused_ms;
    snprintf(why, sizeof(why), "rate limit script for %s: %s", p->name, err);
    mcp_redis_refused(r, why, p->refused_ms);
}

/* The window member of ask number seq: "<instance>:<seq>". */
static const char *
rl_member(mcp_redis_limit_t *lim, char *buf, size_t size, uint64_t seq)
{
    snprintf(buf, size, "%s:%llu", lim->redis->instance,
             (unsigned long long) seq);
    return buf;
}

static void
rl_acquired(mcp_redis_t *r, redisReply *reply, const char *err, void *data)
{
    mcp_redis_rl_provider_t  *p = data;
    mcp_redis_limit_t        *lim = p->lim;

    p->pending = 0;
    if (err != NULL && reply != NULL) {
        rl_refused(p, r, err);
    }
    if (err == NULL && reply->type == REDIS_REPLY_ARRAY
        && reply->elements == 2
        && reply->element[0]->type == REDIS_REPLY_INTEGER
        && reply->element[1]->type == REDIS_REPLY_INTEGER)
    {
        p->refused_ms = 0;
        if (reply->element[0]->integer == 1) {
            p->granted++;
            p->grant_seq = p->ask_seq;
        } else {
            p->shared_waits++;
            p->retry_at = uv_now(r->loop)
                          + (uint64_t) reply->element[1]->integer;
        }
    }
    /* on a timeout the next ask finds Redis down; on an error reply it
       finds local_until ahead: either way the local limiter decides */
    if (!lim->closing && lim->llm != NULL) {
        mcp_llm_kick(lim->llm, p->name);
    }
}

static int64_t
rl_gate_acquire(void *ctx, const char *provider, int64_t rpm, int64_t tpm,
    int64_t tokens, uint64_t *ticket)
{
    mcp_redis_limit_t        *lim = ctx;
    mcp_redis_t              *r = lim->redis;
    mcp_redis_rl_provider_t  *p;
    uint64_t                  now = uv_now(r->loop);
    char                      kreq[256], ktok[256], member[128];
    char                      a_rpm[24], a_tpm[24], a_tok[24], a_win[24];
    const char               *args[7];

    if (rpm <= 0 && tpm <= 0) {
        return -1;                          /* nothing to share */
    }
    p = rl_provider(lim, provider);
    if (p == NULL) {
        return -1;
    }
    if (!mcp_redis_up(r) || now < p->local_until) {
        p->local_admits++;
        mcp_redis_fallback(r);
        return -1;
    }
    if (p->granted > 0) {
        p->granted--;
        p->shared_admits++;
        *ticket = p->grant_seq;
        return 0;
    }
    if (p->pending) {
        return r->conf->command_timeout_ms + 1;
    }
    if (now < p->retry_at) {
        return (int64_t) (p->retry_at - now);
    }

    mcp_redis_key(r, kreq, sizeof(kreq), "{rl:%s}:req", provider);
    mcp_redis_key(r, ktok, sizeof(ktok), "{rl:%s}:tok", provider);
    p->ask_seq = ++lim->seq;
    rl_member(lim, member, sizeof(member), p->ask_seq);
    snprintf(a_rpm, sizeof(a_rpm), "%lld", (long long) rpm);
    snprintf(a_tpm, sizeof(a_tpm), "%lld", (long long) tpm);
    snprintf(a_tok, sizeof(a_tok), "%lld", (long long) tokens);
    snprintf(a_win, sizeof(a_win), "%lld", (long long) lim->window_ms);
    args[0] = kreq;
    args[1] = ktok;
    args[2] = a_rpm;
    args[3] = a_tpm;
    args[4] = a_tok;
    args[5] = member;
    args[6] = a_win;
    if (mcp_redis_eval(r, &mcp_rl_acquire, rl_acquired, p, 2, 7, args, NULL)
        != 0)
    {
        p->local_admits++;
        mcp_redis_fallback(r);
        return -1;
    }
    p->pending = 1;
    /* the reply kicks the queue; this is only the latest it may come */
    return r->conf->command_timeout_ms + 1;
}

static void
rl_settled(mcp_redis_t *r, redisReply *reply, const char *err, void *data)
{
    mcp_redis_rl_provider_t  *p = data;
    mcp_redis_limit_t        *lim = p->lim;

    if (err != NULL || reply->type != REDIS_REPLY_INTEGER
        || reply->integer <= 0)
    {
        return;
    }
    /* tokens came back to the window: whoever waits for them may fit now,
       not only when the oldest entry leaves */
    p->retry_at = 0;
    if (!lim->closing && lim->llm != NULL) {
        mcp_llm_kick(lim->llm, p->name);
    }
}

static void
rl_gate_settle(void *ctx, const char *provider, int64_t tpm, uint64_t ticket,
    int64_t reserved, int64_t used)
{
    mcp_redis_limit_t        *lim = ctx;
    mcp_redis_t              *r = lim->redis;
    mcp_redis_rl_provider_t  *p;
    char                      ktok[256], member[128], a_used[24];
    const char               *args[3];

    /* always: the window holds what the script charged, which the
       caller's reserved need not equal */
    if (tpm <= 0 || ticket == 0 || !mcp_redis_up(r)) {
        return;
    }
    p = rl_provider(lim, provider);
    if (p == NULL) {
        return;
    }
    mcp_redis_key(r, ktok, sizeof(ktok), "{rl:%s}:tok", provider);
    snprintf(a_used, sizeof(a_used), "%lld", (long long) used);
    args[0] = ktok;
    args[1] = rl_member(lim, member, sizeof(member), ticket);
    args[2] = a_used;
    (void) mcp_redis_eval(r, &mcp_rl_settle, rl_settled, p, 1, 3, args, NULL);
}


/* ------------------------------------------------------------ heartbeat */

static void
hb_reply(mcp_redis_t *r, redisReply *reply, const char *err, void *data)
{
    mcp_redis_limit_t  *lim = data;

    if (err == NULL && reply->type == REDIS_REPLY_INTEGER) {
        lim->live_instances = reply->integer;
    }
}

static void
hb_beat(mcp_redis_limit_t *lim)
{
    mcp_redis_t  *r = lim->redis;
    char          kset[256], kme[256], ttl[24], info[128];
    const char   *args[5];

    if (!mcp_redis_up(r)) {
        return;
    }
    mcp_redis_key(r, kset, sizeof(kset), "instances");
    mcp_redis_key(r, kme, sizeof(kme), "instance:%s", r->instance);
    snprintf(ttl, sizeof(ttl), "%lld", (long long) r->conf->heartbeat_ttl_ms);
    snprintf(info, sizeof(info), "{\"pid\":%ld}", (long) uv_os_getpid());
    args[0] = kset;
    args[1] = kme;
    args[2] = r->instance;
    args[3] = ttl;
    args[4] = info;
    (void) mcp_redis_eval(r, &mcp_heartbeat, hb_reply, lim, 2, 5, args, NULL);
}

static void
hb_timer_fired(uv_timer_t *t)
{
    hb_beat(t->data);
}

static void
hb_on_up(mcp_redis_t *r, void *data)
{
    mcp_redis_limit_t  *lim = data;
    size_t              i;

    hb_beat(lim);
    /*
     * Queues waiting on a full local bucket may now use the shared one.
     * A refusal's backoff ends too: the new connection (after a failover,
     * or with the ACL mended) is asked at once, not reconnect_max later.
     */
    for (i = 0; i < lim->nprovs; i++) {
        lim->provs[i].retry_at = 0;
        lim->provs[i].local_until = 0;
        lim->provs[i].refused_ms = 0;
        if (lim->llm != NULL) {
            mcp_llm_kick(lim->llm, lim->provs[i].name);
        }
    }
}


/* ------------------------------------------------------------ lifecycle */

int
mcp_redis_limit_init(mcp_redis_limit_t *lim, mcp_redis_t *redis,
    mcp_llm_t *llm)
{
    mcp_llm_gate_t  gate;

    memset(lim, 0, sizeof(*lim));
    lim->redis = redis;
    lim->llm = llm;
    lim->live_instances = -1;
    lim->window_ms = MCP_REDIS_LIMIT_WINDOW_MS;
    if (mcp_redis_add_script(redis, &mcp_rl_acquire) != 0
        || mcp_redis_add_script(redis, &mcp_rl_settle) != 0
        || mcp_redis_add_script(redis, &mcp_heartbeat) != 0
        || mcp_redis_on_up(redis, hb_on_up, lim) != 0)
    {
        return -1;
    }
    uv_timer_init(redis->loop, &lim->heartbeat);
    lim->heartbeat.data = lim;
    uv_timer_start(&lim->heartbeat, hb_timer_fired,
                   (uint64_t) redis->conf->heartbeat_interval_ms,
                   (uint64_t) redis->conf->heartbeat_interval_ms);
    if (llm != NULL) {
        mcp_redis_limit_gate(lim, &gate);
        mcp_llm_set_gate(llm, &gate);
    }
    return 0;
}

void
mcp_redis_limit_gate(mcp_redis_limit_t *lim, mcp_llm_gate_t *gate)
{
    gate->acquire = rl_gate_acquire;
    gate->settle = rl_gate_settle;
    gate->ctx = lim;
}

void
mcp_redis_limit_close(mcp_redis_limit_t *lim, uv_close_cb close_cb)
{
    lim->closing = 1;
    if (lim->llm != NULL) {
        mcp_llm_set_gate(lim->llm, NULL);
    }
    uv_timer_stop(&lim->heartbeat);
    uv_close((uv_handle_t *) &lim->heartbeat, close_cb);
}

void
mcp_redis_limit_stats(mcp_redis_limit_t *lim, json_t *o)
{
    json_t  *provs = json_object();
    size_t   i;

    for (i = 0; provs != NULL && i < lim->nprovs; i++) {
        mcp_redis_rl_provider_t  *p = &lim->provs[i];

        json_object_set_new(provs, p->name, json_pack(
            "{s:I, s:I, s:I, s:I}",
            "shared_admits", (json_int_t) p->shared_admits,
            "shared_waits", (json_int_t) p->shared_waits,
            "local_admits", (json_int_t) p->local_admits,
            "granted", (json_int_t) p->granted));
    }
    json_object_set_new(o, "rate_limits", provs);
    json_object_set_new(o, "instances_alive", json_integer(
        (json_int_t) lim->live_instances));
}
