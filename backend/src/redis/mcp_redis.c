/*
 * mcpd's Redis connection (see mcp_redis.h): resolve, connect, handshake,
 * backoff, drop and status.  Commands and their deadlines are in
 * mcp_redis_cmd.c.
 */

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "redis/mcp_redis_int.h"
#include "redis/mcp_redis_uv.h"

static void redis_connect(mcp_redis_t *r);
static void redis_go_down(mcp_redis_t *r, const char *why);


/* ------------------------------------------------------------ helpers */

void
mcp_redis_set_error(mcp_redis_t *r, const char *why)
{
    if (why != NULL && why[0] != '\0') {
        snprintf(r->last_error, sizeof(r->last_error), "%s", why);
    }
}

static uint64_t
redis_rand(mcp_redis_t *r)
{
    /* xorshift64*: jitter only, not security */
    r->rng ^= r->rng >> 12;
    r->rng ^= r->rng << 25;
    r->rng ^= r->rng >> 27;
    return r->rng * 2685821657736338717ULL;
}

const char *
mcp_redis_key(const mcp_redis_t *r, char *buf, size_t size,
    const char *fmt, ...)
{
    va_list  ap;
    int      n;

    n = snprintf(buf, size, "%s", r->conf->key_prefix
                 ? r->conf->key_prefix : "");
    if (n < 0 || (size_t) n >= size) {
        return buf;
    }
    va_start(ap, fmt);
    vsnprintf(buf + n, size - (size_t) n, fmt, ap);
    va_end(ap);
    return buf;
}

int
mcp_redis_up(const mcp_redis_t *r)
{
    return r->state == MCP_REDIS_UP;
}

void
mcp_redis_fallback(mcp_redis_t *r)
{
    r->fallbacks++;
}

void
mcp_redis_refused(mcp_redis_t *r, const char *why, int64_t ms)
{
    uint64_t  until = uv_now(r->loop) + (uint64_t) ms;

    snprintf(r->refused, sizeof(r->refused), "%s", why);
    if (until > r->refused_until_ms) {
        r->refused_until_ms = until;
    }
    mcp_log_warn(r->log, "redis", "%s; local limits for %lld ms", why,
                 (long long) ms);
}


/* ------------------------------------------------------------ connection */

void
mcp_redis_handles_dec(mcp_redis_t *r)
{
    if (--r->open_handles == 0 && r->state == MCP_REDIS_CLOSED
        && r->closed != NULL)
    {
        void  (*closed)(void *) = r->closed;

        r->closed = NULL;
        closed(r->closed_ctx);
    }
}

static void
redis_own_handle_closed(uv_handle_t *h)
{
    mcp_redis_handles_dec(h->data);
}

static void
redis_backoff_fired(uv_timer_t *t)
{
    redis_connect(t->data);
}

/* The connection is gone (or never came): retry after a jittered delay. */
static void
redis_go_down(mcp_redis_t *r, const char *why)
{
    uint64_t  delay;

    if (r->state == MCP_REDIS_CLOSED) {
        return;
    }
    mcp_redis_set_error(r, why);
    if (r->state == MCP_REDIS_UP) {
        r->disconnects++;
        r->down_since_ms = uv_now(r->loop);
        mcp_log_warn(r->log, "redis", "down: %s; using local state",
                     r->last_error);
    }
    r->state = MCP_REDIS_DOWN;

    /* full jitter over [min, backoff], backoff doubling up to max */
    delay = (uint64_t) r->conf->reconnect_min_ms
            + redis_rand(r) % (uint64_t) (r->backoff_ms + 1);
    r->backoff_ms *= 2;
    if (r->backoff_ms > r->conf->reconnect_max_ms) {
        r->backoff_ms = r->conf->reconnect_max_ms;
    }
    uv_timer_start(&r->timer, redis_backoff_fired, delay, 0);
}

/* Free the hiredis context now (never from inside a hiredis callback). */
static void
redis_drop_now(mcp_redis_t *r, const char *why)
{
    redisAsyncContext  *ac = r->ac;

    r->ac = NULL;
    if (ac != NULL) {
        /* runs every pending callback with NULL: they finish as
           "disconnected"; our disconnect hook sees r->ac != ac */
        redisAsyncFree(ac);
    }
    redis_go_down(r, why);
}

static void
redis_drop_fired(uv_timer_t *t)
{
    mcp_redis_t  *r = t->data;

    r->drop_pending = 0;
    /* the commands the drop fails meanwhile set their own errors
       ("NOAUTH" after a refused AUTH, "disconnected"): the cause wins */
    redis_drop_now(r, r->drop_why);
}

void
mcp_redis_schedule_drop(mcp_redis_t *r, const char *why)
{
    if (r->drop_pending || r->state == MCP_REDIS_CLOSED) {
        return;                 /* the first reason stands */
    }
    mcp_redis_set_error(r, why);
    snprintf(r->drop_why, sizeof(r->drop_why), "%s", why ? why : "");
    r->drop_pending = 1;
    uv_timer_start(&r->drop_timer, redis_drop_fired, 0, 0);
}

static void
redis_handshake_reply(mcp_redis_t *r, redisReply *reply, const char *err,
    void *data)
{
    mcp_redis_script_t  *s = data;
    char                 msg[200];
    size_t               i;

    if (r->state != MCP_REDIS_CONNECTING) {
        return;
    }
    if (err != NULL) {
        snprintf(msg, sizeof(msg), "handshake: %s", err);
        mcp_redis_schedule_drop(r, msg);
        return;
    }
    if (s != NULL && reply->type == REDIS_REPLY_STRING && reply->len == 40) {
        memcpy(s->sha, reply->str, 40);
        s->sha[40] = '\0';
    }
    if (--r->handshake_left > 0) {
        return;
    }

    uv_timer_stop(&r->timer);
    r->state = MCP_REDIS_UP;
    r->connects++;
    r->backoff_ms = r->conf->reconnect_min_ms;
    r->last_error[0] = '\0';
    r->refused_until_ms = 0;        /* a new connection is asked afresh */
    mcp_log_info(r->log, "redis", "up: %s (instance %s)", r->conf->address,
                 r->instance);
    for (i = 0; i < r->nup_hooks; i++) {
        r->up_hooks[i].fn(r, r->up_hooks[i].data);
    }
}

static int
redis_handshake(mcp_redis_t *r)
{
    const char  *argv[3];
    char         db[24];
    size_t       i;
    int          n;

    r->handshake_left = 0;
    if (r->password != NULL) {
        n = 0;
        argv[n++] = "AUTH";
        if (r->conf->username != NULL) {
            argv[n++] = r->conf->username;
        }
        argv[n++] = r->password;
        if (mcp_redis_submit(r, NULL, 0, redis_handshake_reply, NULL, n, argv,
                         NULL) != 0)
        {
            return -1;
        }
        r->handshake_left++;
    }
    if (r->conf->database != 0) {
        snprintf(db, sizeof(db), "%lld", (long long) r->conf->database);
        argv[0] = "SELECT";
        argv[1] = db;
        if (mcp_redis_submit(r, NULL, 0, redis_handshake_reply, NULL, 2, argv,
                         NULL) != 0)
        {
            return -1;
        }
        r->handshake_left++;
    }
    for (i = 0; i < r->nscripts; i++) {
        argv[0] = "SCRIPT";
        argv[1] = "LOAD";
        argv[2] = r->scripts[i]->src;
        if (mcp_redis_submit(r, NULL, 0, redis_handshake_reply, r->scripts[i], 3,
                         argv, NULL) != 0)
        {
            return -1;
        }
        r->handshake_left++;
    }
    argv[0] = "PING";
    if (mcp_redis_submit(r, NULL, 0, redis_handshake_reply, NULL, 1, argv, NULL)
        != 0)
    {
        return -1;
    }
    r->handshake_left++;
    return 0;
}

static void
redis_on_connect(const redisAsyncContext *ac, int status)
{
    mcp_redis_t  *r = ac->data;
    char          msg[200];

    if (r == NULL || r->ac != ac) {
        return;
    }
    if (status != REDIS_OK) {
        /* hiredis frees ac after this callback */
        snprintf(msg, sizeof(msg), "connect: %s", ac->errstr);
        r->ac = NULL;
        uv_timer_stop(&r->timer);
        redis_go_down(r, msg);
        return;
    }
    if (redis_handshake(r) != 0) {
        mcp_redis_schedule_drop(r, "handshake: cannot send");
    }
}

static void
redis_on_disconnect(const redisAsyncContext *ac, int status)
{
    mcp_redis_t  *r = ac->data;
    char          msg[200];

    if (r == NULL || r->ac != ac) {
        return;                 /* we dropped it ourselves */
    }
    /* hiredis frees ac after this callback */
    r->ac = NULL;
    snprintf(msg, sizeof(msg), "disconnected: %s",
             status == REDIS_OK ? "closed" : ac->errstr);
    uv_timer_stop(&r->timer);
    redis_go_down(r, msg);
}

static void
redis_connect_timeout(uv_timer_t *t)
{
    redis_drop_now(t->data, "connect timeout");
}

static void
redis_attach(mcp_redis_t *r, redisAsyncContext *ac)
{
    char  msg[200];

    if (ac == NULL || ac->err) {
        snprintf(msg, sizeof(msg), "connect: %s",
                 ac ? ac->errstr : "out of memory");
        if (ac != NULL) {
            redisAsyncFree(ac);
        }
        uv_timer_stop(&r->timer);
        redis_go_down(r, msg);
        return;
    }
    ac->data = r;
    r->ac = ac;
    if (mcp_redis_uv_attach(ac, r->loop) != REDIS_OK) {
        r->ac = NULL;
        redisAsyncFree(ac);
        uv_timer_stop(&r->timer);
        redis_go_down(r, "connect: cannot attach to the loop");
        return;
    }
    redisAsyncSetConnectCallback(ac, redis_on_connect);
    redisAsyncSetDisconnectCallback(ac, redis_on_disconnect);
}

/* Split "host:port"; 0, or -1 when it is a unix socket path. */
static int
redis_host_port(const char *addr, char *host, size_t size, char *port,
    size_t psize)
{
    const char  *colon;
    size_t       n;

    if (addr[0] == '/' || strncmp(addr, "unix:", 5) == 0) {
        return -1;
    }
    colon = strrchr(addr, ':');
    n = colon ? (size_t) (colon - addr) : strlen(addr);
    if (n >= size) {
        n = size - 1;
    }
    if (n >= 2 && addr[0] == '[' && addr[n - 1] == ']') {
        memcpy(host, addr + 1, n - 2);       /* [::1]:6379 */
        host[n - 2] = '\0';
    } else {
        memcpy(host, addr, n);
        host[n] = '\0';
    }
    snprintf(port, psize, "%s", colon ? colon + 1 : "6379");
    return 0;
}

static void
redis_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    mcp_redis_t  *r = req->data;
    char          ip[64], host[256], port[16], msg[200];

    r->resolving = 0;
    mcp_redis_handles_dec(r);
    if (r->state != MCP_REDIS_CONNECTING) {
        uv_freeaddrinfo(res);
        return;
    }
    if (status != 0 || res == NULL) {
        snprintf(msg, sizeof(msg), "resolve: %s", uv_strerror(status));
        uv_freeaddrinfo(res);
        uv_timer_stop(&r->timer);
        redis_go_down(r, msg);
        return;
    }
    if (res->ai_family == AF_INET6) {
        uv_ip6_name((struct sockaddr_in6 *) res->ai_addr, ip, sizeof(ip));
    } else {
        uv_ip4_name((struct sockaddr_in *) res->ai_addr, ip, sizeof(ip));
    }
    uv_freeaddrinfo(res);
    redis_host_port(r->conf->address, host, sizeof(host), port, sizeof(port));
    redis_attach(r, redisAsyncConnect(ip, atoi(port)));
}

static void
redis_connect(mcp_redis_t *r)
{
    const char       *addr = r->conf->address;
    char              host[256], port[16];
    struct addrinfo   hints;

    if (r->state == MCP_REDIS_CLOSED) {
        return;
    }
    r->state = MCP_REDIS_CONNECTING;
    uv_timer_start(&r->timer, redis_connect_timeout,
                   (uint64_t) r->conf->connect_timeout_ms, 0);

    if (redis_host_port(addr, host, sizeof(host), port, sizeof(port)) != 0) {
        redis_attach(r, redisAsyncConnectUnix(
                            strncmp(addr, "unix:", 5) == 0 ? addr + 5 : addr));
        return;
    }
    /* resolve off the loop; hiredis then connects to a numeric address */
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    r->resolve.data = r;
    if (uv_getaddrinfo(r->loop, &r->resolve, redis_resolved, host, port,
                       &hints) != 0)
    {
        uv_timer_stop(&r->timer);
        redis_go_down(r, "resolve: cannot start");
        return;
    }
    r->resolving = 1;
    r->open_handles++;
}


/* ------------------------------------------------------------ lifecycle */

int
mcp_redis_init(mcp_redis_t *r, uv_loop_t *loop, const mcp_redis_conf_t *conf,
    const mcp_log_t *log)
{
    char         host[200], id[256];
    const char  *pw;

    memset(r, 0, sizeof(*r));
    r->loop = loop;
    r->conf = conf;
    r->log = log;
    r->state = MCP_REDIS_DOWN;
    r->backoff_ms = conf->reconnect_min_ms;
    r->rng = uv_hrtime() ^ ((uint64_t) getpid() << 32) ^ 0x9e3779b97f4a7c15ULL;
    mcp_hist_reset(&r->latency_us);

    if (conf->instance_id != NULL) {
        snprintf(id, sizeof(id), "%s", conf->instance_id);
    } else {
        if (gethostname(host, sizeof(host)) != 0) {
            snprintf(host, sizeof(host), "mcpd");
        }
        host[sizeof(host) - 1] = '\0';
        snprintf(id, sizeof(id), "%s-%ld", host, (long) getpid());
    }
    r->instance = strdup(id);
    pw = conf->password_env ? getenv(conf->password_env) : NULL;
    if (pw == NULL) {
        pw = conf->password;
    }
    r->password = pw ? strdup(pw) : NULL;
    if (r->instance == NULL || (pw != NULL && r->password == NULL)) {
        free(r->instance);
        free(r->password);
        return -1;
    }
    uv_timer_init(loop, &r->timer);
    uv_timer_init(loop, &r->drop_timer);
    r->timer.data = r;
    r->drop_timer.data = r;
    r->open_handles = 2;
    return 0;
}

int
mcp_redis_add_script(mcp_redis_t *r, mcp_redis_script_t *s)
{
    if (r->nscripts == MCP_REDIS_MAX_SCRIPTS) {
        return -1;
    }
    s->sha[0] = '\0';
    r->scripts[r->nscripts++] = s;
    return 0;
}

int
mcp_redis_on_up(mcp_redis_t *r, mcp_redis_up_pt fn, void *data)
{
    if (r->nup_hooks == MCP_REDIS_MAX_UP_HOOKS) {
        return -1;
    }
    r->up_hooks[r->nup_hooks].fn = fn;
    r->up_hooks[r->nup_hooks].data = data;
    r->nup_hooks++;
    return 0;
}

void
mcp_redis_start(mcp_redis_t *r)
{
    snprintf(r->last_error, sizeof(r->last_error), "not connected yet");
    r->down_since_ms = uv_now(r->loop);
    redis_connect(r);
}

void
mcp_redis_close(mcp_redis_t *r, void (*closed)(void *ctx), void *ctx)
{
    redisAsyncContext  *ac = r->ac;

    if (r->state == MCP_REDIS_CLOSED) {
        return;
    }
    r->state = MCP_REDIS_CLOSED;
    r->closed = closed;
    r->closed_ctx = ctx;
    r->ac = NULL;
    if (ac != NULL) {
        redisAsyncFree(ac);     /* pending callbacks: "disconnected" */
    }
    if (r->resolving) {
        uv_cancel((uv_req_t *) &r->resolve);
    }
    uv_close((uv_handle_t *) &r->timer, redis_own_handle_closed);
    uv_close((uv_handle_t *) &r->drop_timer, redis_own_handle_closed);
}

void
mcp_redis_free(mcp_redis_t *r)
{
    free(r->instance);
    free(r->password);
    r->instance = NULL;
    r->password = NULL;
}


/* ------------------------------------------------------------ status */

static const char *
redis_state_name(const mcp_redis_t *r)
{
    switch (r->state) {
    case MCP_REDIS_UP:          return "up";
    case MCP_REDIS_CONNECTING:  return "connecting";
    case MCP_REDIS_DOWN:        return "down";
    default:                    return "closed";
    }
}

/*
 * What is wrong now, as text for an operator (status and /health's
 * reasons): 1 with why filled in, or 0 when Redis is up and accepting.
 */
int
mcp_redis_trouble(mcp_redis_t *r, char *why, size_t len)
{
    if (r->state != MCP_REDIS_UP) {
        snprintf(why, len, "redis %s (%s): instances use local limits and "
                 "serve only the conversations their own store holds",
                 redis_state_name(r), r->last_error[0] ? r->last_error : "?");
        return 1;
    }
    if (uv_now(r->loop) < r->refused_until_ms) {
        snprintf(why, len, "redis up but refusing (%s): instances use local "
                 "limits until it accepts them again", r->refused);
        return 1;
    }
    return 0;
}

json_t *
mcp_redis_stats(mcp_redis_t *r)
{
    json_t  *o;
    char     why[512];
    int      trouble = mcp_redis_trouble(r, why, sizeof(why));

    o = json_pack("{s:s, s:s, s:s, s:s, s:b}",
                  "state", trouble ? "degraded" : "up",
                  "connection", redis_state_name(r),
                  "address", r->conf->address,
                  "instance", r->instance,
                  "shared", !trouble);
    if (o == NULL) {
        return NULL;
    }
    if (trouble) {
        json_object_set_new(o, "reason", json_string(why));
    }
    if (r->state != MCP_REDIS_UP) {
        json_object_set_new(o, "down_for_ms", json_integer(
            (json_int_t) (uv_now(r->loop) - r->down_since_ms)));
    }
    json_object_set_new(o, "commands", json_integer((json_int_t) r->commands));
    json_object_set_new(o, "inflight", json_integer((json_int_t) r->inflight));
    json_object_set_new(o, "errors", json_integer((json_int_t) r->errors));
    json_object_set_new(o, "timeouts", json_integer((json_int_t) r->timeouts));
    json_object_set_new(o, "fallbacks",
                        json_integer((json_int_t) r->fallbacks));
    json_object_set_new(o, "connects", json_integer((json_int_t) r->connects));
    json_object_set_new(o, "disconnects",
                        json_integer((json_int_t) r->disconnects));
    json_object_set_new(o, "last_error", json_string(r->last_error));
    json_object_set_new(o, "latency_ms", json_pack("{s:f, s:f}",
        "p50", (double) mcp_hist_quantile(&r->latency_us, 0.5) / 1000.0,
        "p99", (double) mcp_hist_quantile(&r->latency_us, 0.99) / 1000.0));
    return o;
}
