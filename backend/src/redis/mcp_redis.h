/*
 * mcpd's Redis connection: hiredis' async API on the daemon's libuv loop.
 *
 * One connection, pipelined.  States: connecting (resolve, connect, AUTH,
 * SELECT, SCRIPT LOAD) -> up -> down (backoff with full jitter) ->
 * connecting ...  Every command has a deadline (command_timeout): when it
 * passes, the caller's callback runs with err "timeout" and the connection
 * is dropped and re-made, so a slow or silent Redis can never hold a
 * request longer than that.  While not up, commands are refused at once
 * (mcp_redis_command returns -1) and callers use their local state: that
 * is a "fallback", counted and shown in status as degraded with a reason.
 *
 * Nothing here blocks: the host name is resolved with uv_getaddrinfo and
 * hiredis connects non-blocking to the numeric address.
 */

#ifndef MCP_REDIS_H
#define MCP_REDIS_H

#include <stdint.h>

#include <hiredis/hiredis.h>
#include <hiredis/async.h>
#include <jansson.h>
#include <uv.h>

#include "core/mcp_log.h"
#include "redis/mcp_redis_conf.h"
#include "util/mcp_hist.h"

typedef struct mcp_redis_s  mcp_redis_t;

typedef enum {
    MCP_REDIS_CONNECTING,
    MCP_REDIS_UP,
    MCP_REDIS_DOWN,
    MCP_REDIS_CLOSED
} mcp_redis_state_e;

/*
 * Called exactly once per accepted command: reply (borrowed, valid during
 * the call) or err ("timeout", "disconnected", or Redis' error text when
 * reply is an error reply: then reply is set too).
 */
typedef void (*mcp_redis_cb_pt)(mcp_redis_t *r, redisReply *reply,
    const char *err, void *data);

/* A message on the subscribed channel (payload borrowed). */
typedef void (*mcp_redis_msg_pt)(mcp_redis_t *r, const char *payload,
    size_t len, void *data);

/* Called when the connection comes up (scripts loaded). */
typedef void (*mcp_redis_up_pt)(mcp_redis_t *r, void *data);

/* A Lua script run with EVALSHA, falling back to EVAL on NOSCRIPT. */
typedef struct {
    const char  *src;
    char         sha[41];          /* "" until SCRIPT LOAD answered */
} mcp_redis_script_t;

#define MCP_REDIS_MAX_SCRIPTS  16
#define MCP_REDIS_MAX_UP_HOOKS 4

struct mcp_redis_s {
    uv_loop_t                *loop;
    const mcp_redis_conf_t   *conf;
    const mcp_log_t          *log;
    char                     *instance;      /* instance id */
    char                     *password;      /* resolved from env or conf */

    redisAsyncContext        *ac;
    mcp_redis_state_e         state;
    int                       handshake_left; /* replies before UP */
    uv_getaddrinfo_t          resolve;
    int                       resolving;
    uv_timer_t                timer;          /* connect deadline / backoff */
    uv_timer_t                drop_timer;     /* drop outside hiredis */
    int                       drop_pending;
    char                      drop_why[200];  /* the first reason wins */
    int64_t                   backoff_ms;
    uint64_t                  rng;
    uint64_t                  down_since_ms;

    mcp_redis_script_t       *scripts[MCP_REDIS_MAX_SCRIPTS];
    size_t                    nscripts;
    struct {
        mcp_redis_up_pt       fn;
        void                 *data;
    }                         up_hooks[MCP_REDIS_MAX_UP_HOOKS];
    size_t                    nup_hooks;

    mcp_redis_msg_pt          sub_cb;         /* subscriber connection */
    void                     *sub_data;
    uint64_t                  sub_messages;

    size_t                    inflight;
    int                       open_handles;
    void                    (*closed)(void *ctx);
    void                     *closed_ctx;

    /* status */
    uint64_t                  commands;
    uint64_t                  errors;
    uint64_t                  timeouts;
    uint64_t                  fallbacks;
    uint64_t                  connects;
    uint64_t                  disconnects;
    char                      last_error[200];
    uint64_t                  refused_until_ms;  /* see mcp_redis_refused */
    char                      refused[200];
    mcp_hist_t                latency_us;
};

int mcp_redis_init(mcp_redis_t *r, uv_loop_t *loop,
    const mcp_redis_conf_t *conf, const mcp_log_t *log);
/* Scripts and up hooks: register before mcp_redis_start(). */
int mcp_redis_add_script(mcp_redis_t *r, mcp_redis_script_t *s);
int mcp_redis_on_up(mcp_redis_t *r, mcp_redis_up_pt fn, void *data);
void mcp_redis_start(mcp_redis_t *r);
/* Drop the connection, close handles; closed(ctx) when all are closed. */
void mcp_redis_close(mcp_redis_t *r, void (*closed)(void *ctx), void *ctx);

int mcp_redis_up(const mcp_redis_t *r);
/* A caller used local state because Redis was not up (for status). */
void mcp_redis_fallback(mcp_redis_t *r);
/*
 * Redis is up but answered a shared-state command with an error (an ACL
 * that denies the fleet's keys, a script error): the caller uses local
 * state for `ms` before it asks again, and until then status says
 * degraded with `why` as the reason.
 */
void mcp_redis_refused(mcp_redis_t *r, const char *why, int64_t ms);

/* 0 (cb will run), or -1 when not up (cb will not run). */
int mcp_redis_command(mcp_redis_t *r, mcp_redis_cb_pt cb, void *data,
    int argc, const char **argv, const size_t *lens);
/* args: the nkeys keys, then the script's ARGV; nargs counts them all. */
int mcp_redis_eval(mcp_redis_t *r, mcp_redis_script_t *s, mcp_redis_cb_pt cb,
    void *data, int nkeys, int nargs, const char **args, const size_t *lens);

/*
 * SUBSCRIBE channel: from then on this connection carries nothing else
 * (use a second mcp_redis_t for it).  Call it from an up hook: a new
 * connection must subscribe again.  0, or -1 when not up.
 */
int mcp_redis_subscribe(mcp_redis_t *r, const char *channel,
    mcp_redis_msg_pt cb, void *data);

/* "prefix" + part: into buf (truncated to size). */
const char *mcp_redis_key(const mcp_redis_t *r, char *buf, size_t size,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* After closed() ran: free what init allocated. */
void mcp_redis_free(mcp_redis_t *r);

json_t *mcp_redis_stats(mcp_redis_t *r);
/* Not up, or up but refusing: 1 and why (for status and /health), or 0. */
int mcp_redis_trouble(mcp_redis_t *r, char *why, size_t len);

#endif /* MCP_REDIS_H */
