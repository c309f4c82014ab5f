/*
 * The daemon: what every subsystem of mcpd is given.  One libuv loop (never
 * block on it), the bound configuration, the log, and three registries:
 *
 *  - stats:   mcp_daemon_add_stats(d, "llm_client_stats", fn, ctx); a STATS
 *             request from nginx calls every fn and returns one JSON object
 *             { key: fn(ctx), ..., "mcpd": {...} } that /health splices in.
 *  - actions: mcp_daemon_add_action(d, "chat", handler, ctx); a client
 *             message {"action":"chat",...} is dispatched to the handler
 *             after core has checked that it is a JSON object with a
 *             non-empty string action and a string (or absent) request_id.
 *  - hooks:   on session close (cancel upstream work), on drain (end
 *             in-flight work while the links are still up) and on stop
 *             (close your handles so the loop can end).
 *
 *  - health:  mcp_daemon_add_health(d, "redis", fn, ctx); fn adds one
 *             reason per thing wrong now (mcp_health_reason()), none when
 *             all is well.  The STATS reply carries the verdict as its
 *             "health" object (mcp_health.c), which the module folds into
 *             /health's top-level status and reasons.
 *
 * Lifecycle: main() loads the config, mcp_daemon_init(), each subsystem's
 * init registers what it needs, mcp_daemon_run() listens and runs the loop
 * until SIGTERM/SIGINT.  Then, in this order: the listener closes; drain
 * hooks run and core waits (at most daemon.shutdown_grace) until none is
 * busy, so final frames reach the clients and partial work is stored; the
 * links get their goodbye; stop hooks run; the loop drains.  All of it is
 * bounded by daemon.shutdown_timeout.
 */

#ifndef MCP_DAEMON_H
#define MCP_DAEMON_H

#include <stdint.h>

#include <jansson.h>
#include <uv.h>

#include "core/mcp_conf.h"
#include "core/mcp_log.h"
#include "link/mcp_session.h"

#define MCPD_VERSION            "0.1.0"

typedef struct mcp_daemon_s      mcp_daemon_t;
typedef struct mcp_link_server_s mcp_link_server_t;

/* Returns a new reference to a JSON object (or NULL to leave the key out). */
typedef json_t *(*mcp_stats_pt)(void *ctx);

/*
 * Handle one client message.  request_id is the client's (1..128 bytes,
 * never NULL: core answers invalid_request before a handler sees it); msg is the parsed object (borrowed: json_incref it to keep it).  Answer
 * with mcp_session_reply()/mcp_session_error(), now or later; keep the
 * session with mcp_session_ref() across asynchronous work.
 */
typedef void (*mcp_action_pt)(mcp_session_t *s, const char *request_id,
    json_t *msg, void *ctx);

/* What a health fn is given: mcp_health_reason(h, ...) adds one reason of
   the component it was registered for. */
typedef struct mcp_health_s  mcp_health_t;
typedef void (*mcp_health_pt)(mcp_health_t *h, void *ctx);

typedef void (*mcp_daemon_hook_pt)(mcp_daemon_t *d, void *ctx);
typedef void (*mcp_session_hook_pt)(mcp_session_t *s, void *ctx);
/* what happened to a conversation in this instance's store */
typedef enum {
    MCP_CONV_CREATED = 1,
    MCP_CONV_DELETED
} mcp_conv_event_e;
typedef void (*mcp_conv_hook_pt)(const char *conversation,
    mcp_conv_event_e ev, void *ctx);
/* a drain hook's question: still finishing something?  (nonzero: yes) */
typedef int (*mcp_daemon_busy_pt)(mcp_daemon_t *d, void *ctx);

/* an object of a stats object whose keys are the values of one label */
typedef struct {
    const char     *key;        /* e.g. "errors" */
    const char     *label;      /* e.g. "code" */
} mcp_prom_label_t;

typedef struct {
    char                    *key;
    mcp_stats_pt             fn;
    void                    *ctx;
    const char              *prom_prefix;   /* NULL: not in Prometheus */
    const mcp_prom_label_t  *prom_labels;   /* { NULL } terminated */
} mcp_daemon_stats_t;

/* What an action wrapper calls to run the action it wraps. */
typedef struct {
    mcp_action_pt   handler;    /* NULL until the action is registered */
    void           *ctx;
} mcp_action_next_t;

typedef struct {
    char               *name;
    mcp_action_pt       handler;    /* the outermost wrapper, or the action */
    void               *ctx;
    int                 registered; /* add_action ran (wrappers alone: no) */
    mcp_action_next_t  *inner;      /* the first wrapper's next: where the
                                       action goes when it comes later */
} mcp_daemon_action_t;

typedef struct {
    char           *component;  /* "redis", "llm", ...: a reason's source */
    mcp_health_pt   fn;
    void           *ctx;
} mcp_daemon_health_t;

typedef struct {
    void           *fn;     /* mcp_daemon_hook_pt or mcp_session_hook_pt */
    void           *ctx;
} mcp_daemon_hook_t;

typedef struct {
    mcp_daemon_hook_pt   start;
    mcp_daemon_busy_pt   busy;
    void                *ctx;
} mcp_daemon_drain_t;

struct mcp_daemon_s {
    uv_loop_t                *loop;
    const mcp_conf_t         *conf;
    const mcp_cfg_node_t     *conf_root;    /* raw tree, for custom reads */
    const char               *conf_path;
    mcp_log_t                 log;

    uint64_t                  start_ms;     /* uv_now() at init */
    int                       stopping;

    mcp_link_server_t        *links;

    mcp_daemon_stats_t       *stats;
    size_t                    nstats;
    mcp_daemon_health_t      *health;
    size_t                    nhealth;
    mcp_daemon_action_t      *actions;
    size_t                    nactions;
    mcp_daemon_hook_t        *on_stop;
    size_t                    non_stop;
    mcp_daemon_hook_t        *on_close;
    size_t                    non_close;
    mcp_daemon_hook_t        *on_open;      /* added for redis/ */
    size_t                    non_open;
    mcp_daemon_hook_t        *on_conv;      /* added for redis/ */
    size_t                    non_conv;
    mcp_daemon_hook_t        *on_flow;      /* added for redis/ */
    size_t                    non_flow;
    mcp_daemon_drain_t       *on_drain;
    size_t                    non_drain;
    mcp_daemon_hook_t        *on_exit;
    size_t                    non_exit;

    /* counters for the "mcpd" stats object */
    uint64_t                  nlinks;
    uint64_t                  nsessions;
    uint64_t                  nsessions_paused;  /* by FLOW from the module */
    uint64_t                  links_dropped;     /* protocol errors */
    uint64_t                  messages_in;
    uint64_t                  messages_out;

    uv_signal_t               sigterm;
    uv_signal_t               sigint;
    uv_timer_t                stop_timer;
    uv_timer_t                drain_timer;  /* polls the drain hooks */
    uint64_t                  drain_until;  /* uv_now() bound of the grace */
    int                       draining;
    int                       exit_code;
    int                       signals_on;
};

int mcp_daemon_init(mcp_daemon_t *d, uv_loop_t *loop, const mcp_conf_t *conf,
    const mcp_cfg_node_t *root, const char *conf_path);
void mcp_daemon_cleanup(mcp_daemon_t *d);

/* Registration: 0, or -1 (duplicate key/name or out of memory). */
int mcp_daemon_add_stats(mcp_daemon_t *d, const char *key, mcp_stats_pt fn,
    void *ctx);
/*
 * Also give the stats object of key in /health?format=prometheus, each
 * figure named prefix_<path> (mcp_prom.c); labels: the objects keyed by a
 * label's values (NULL: none).  The key must be registered already.
 */
int mcp_daemon_add_prometheus(mcp_daemon_t *d, const char *key,
    const char *prefix, const mcp_prom_label_t *labels);
/*
 * mcp_health.c: fn(h, ctx) is asked, at each STATS request, what is wrong
 * with `component` now.  One fn per component: 0, or -1 (a duplicate
 * component or out of memory).
 */
int mcp_daemon_add_health(mcp_daemon_t *d, const char *component,
    mcp_health_pt fn, void *ctx);
/* One reason, printf-style: what is wrong and what it means for users. */
void mcp_health_reason(mcp_health_t *h, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* {"status": "ok"|"degraded", "reasons": [{"component", "reason"}, ...]}
   from every health fn.  New ref (NULL on ENOMEM). */
json_t *mcp_daemon_health_json(mcp_daemon_t *d);
/* The verdict of health as Prometheus samples, one per component:
   mcp_health_component_degraded{component="redis"} 0|1 (malloc'd). */
char *mcp_daemon_health_prometheus(mcp_daemon_t *d, json_t *health);
void mcp_daemon_health_cleanup(mcp_daemon_t *d);

int mcp_daemon_add_action(mcp_daemon_t *d, const char *name,
    mcp_action_pt handler, void *ctx);
/*
 * Run fn in place of action `name` (added for redis/, which forwards some
 * actions to another instance).  Independent of start order: the action
 * may be registered before or after.  *next (owned by the caller, living as
 * long as the daemon) is filled with what fn must call to run the wrapped
 * action: next->handler(s, rid, msg, next->ctx); it stays NULL, and the
 * action answers unknown_action, until the action itself is registered.
 * Wrappers nest: the last one added runs first.  0, or -1.
 */
int mcp_daemon_wrap_action(mcp_daemon_t *d, const char *name,
    mcp_action_pt fn, void *ctx, mcp_action_next_t *next);
/* Stop hooks run in reverse order of registration (subsystems register
   in start order, so each stops before what it depends on). */
int mcp_daemon_on_stop(mcp_daemon_t *d, mcp_daemon_hook_pt fn, void *ctx);
/*
 * At stop, while the links are still up: start() ends in-flight work (a
 * last frame to each client, what was produced stored); core then waits
 * while busy() says so, at most daemon.shutdown_grace, before the links
 * close and the stop hooks run.
 */
int mcp_daemon_on_drain(mcp_daemon_t *d, mcp_daemon_hook_pt start,
    mcp_daemon_busy_pt busy, void *ctx);
int mcp_daemon_on_session_close(mcp_daemon_t *d, mcp_session_hook_pt fn,
    void *ctx);
/*
 * After the loop has ended, from mcp_daemon_cleanup(), in reverse order of
 * registration: free what the loop's callbacks (a session closing late,
 * say) could reach until the very end.  Nothing runs on the loop then.
 */
int mcp_daemon_on_exit(mcp_daemon_t *d, mcp_daemon_hook_pt fn, void *ctx);
/* added (redis/: cluster-wide connection count): after a session opened */
int mcp_daemon_on_session_open(mcp_daemon_t *d, mcp_session_hook_pt fn,
    void *ctx);
/*
 * added (redis/: a client's FLOW reaches the instance that runs its
 * forwarded requests): fn runs after a session's FLOW state changed
 * (mcp_session_flow_paused() tells which way).
 */
int mcp_daemon_on_session_flow(mcp_daemon_t *d, mcp_session_hook_pt fn,
    void *ctx);
/*
 * added (redis/: a conversation's home record follows its store): fn runs
 * after a chat created a conversation in this instance's store, and after
 * a delete_conversation removed one; chat/ tells with
 * mcp_daemon_conversation_event().
 */
int mcp_daemon_on_conversation(mcp_daemon_t *d, mcp_conv_hook_pt fn,
    void *ctx);
void mcp_daemon_conversation_event(mcp_daemon_t *d, const char *conv,
    mcp_conv_event_e ev);

/* The registered handler for an action, or NULL. */
const mcp_daemon_action_t *mcp_daemon_find_action(const mcp_daemon_t *d,
    const char *name);

/* The STATS reply: "health" first, every registered stats object, then
   "mcpd".  New ref. */
json_t *mcp_daemon_stats_json(mcp_daemon_t *d);
/* The same as Prometheus text, for the objects registered for it (malloc'd,
   NULL on ENOMEM). */
char *mcp_daemon_stats_prometheus(mcp_daemon_t *d);

/* mcp_prom.c: one JSON object as Prometheus samples (malloc'd text) */
char *mcp_prom_render(const char *prefix, json_t *obj,
    const mcp_prom_label_t *labels);

/*
 * Bind the link socket (socket_path NULL: daemon.socket), removing a stale
 * file and refusing one another mcpd answers on.  Done before subsystems
 * start, so a second mcpd never touches the first one's files.  0 or -1
 * (logged).  Nothing is accepted until mcp_daemon_run().
 */
int mcp_daemon_listen(mcp_daemon_t *d, const char *socket_path);
/* Install signal handlers and run the loop until stopped; the exit status
   for main(). */
int mcp_daemon_run(mcp_daemon_t *d);
/* Close the listener (removing the socket file) and every handle left on
   the loop; used at the end of run and when startup fails. */
void mcp_daemon_close_all(mcp_daemon_t *d);

/* Begin a graceful stop (what SIGTERM does). */
void mcp_daemon_stop(mcp_daemon_t *d);

#endif /* MCP_DAEMON_H */
