/*
 * Running and stopping the daemon.  A graceful stop (SIGTERM, SIGINT) goes
 * in two steps.  Drain: stop accepting links, let the drain hooks end what
 * is in flight while the links are still up (a chat request's last frame
 * must reach its client through them), and wait, polling, until no hook is
 * busy or daemon.shutdown_grace has passed.  Close: say goodbye on each
 * link (CLOSE on sid 0), let queued output drain, run the subsystems' stop
 * hooks so they close their handles, and let the loop end by itself.  A
 * timer bounds all of it: past daemon.shutdown_timeout the remaining
 * handles are closed and the loop stopped, so a stuck peer can never keep
 * mcpd alive.  A second signal cuts the grace short.
 */

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/mcp_daemon.h"
#include "link/mcp_link_server.h"

/* how often the drain hooks are asked whether they are done */
#define MCP_DRAIN_POLL_MS  10


static void
mcp_daemon_on_stop_timeout(uv_timer_t *t)
{
    mcp_daemon_t  *d = t->data;

    mcp_log_warn(&d->log, "core", "stop took longer than %lld ms: "
                 "closing what is left", (long long)
                 d->conf->daemon.shutdown_timeout_ms);
    if (d->links) {
        mcp_link_server_abort(d->links);
    }
    uv_stop(d->loop);
}


/* the second step: goodbye on the links, then the stop hooks */
static void
mcp_daemon_close(mcp_daemon_t *d)
{
    size_t  i;

    if (d->draining) {
        d->draining = 0;
        uv_close((uv_handle_t *) &d->drain_timer, NULL);
    }

    if (d->links) {
        mcp_link_server_stop(d->links);
    }

    /* last registered first, as destructors: a subsystem stops before
       those it was built on (redis before llm, whose gate it holds; chat
       before the repository it writes to), never after they are gone */
    for (i = d->non_stop; i > 0; i--) {
        ((mcp_daemon_hook_pt) d->on_stop[i - 1].fn)(d,
                                                    d->on_stop[i - 1].ctx);
    }

    if (d->signals_on) {
        d->signals_on = 0;
        uv_close((uv_handle_t *) &d->sigterm, NULL);
        uv_close((uv_handle_t *) &d->sigint, NULL);
    }
}


static int
mcp_daemon_busy(mcp_daemon_t *d)
{
    size_t  i;

    for (i = 0; i < d->non_drain; i++) {
        if (d->on_drain[i].busy(d, d->on_drain[i].ctx)) {
            return 1;
        }
    }
    return 0;
}


/*
 * Polled rather than told: work in flight ends on many paths (a store
 * completing, a provider call cancelled, a tool returning), and asking the
 * hooks keeps every one of those paths free of stop logic.
 */
static void
mcp_daemon_on_drain_poll(uv_timer_t *t)
{
    mcp_daemon_t  *d = t->data;

    if (!mcp_daemon_busy(d)) {
        mcp_daemon_close(d);
    } else if (uv_now(d->loop) >= d->drain_until) {
        mcp_log_warn(&d->log, "core", "in-flight work still running after "
                     "the grace (daemon.shutdown_grace): closing the links");
        mcp_daemon_close(d);
    }
}


void
mcp_daemon_stop(mcp_daemon_t *d)
{
    size_t   i;
    int64_t  grace;

    if (d->stopping) {
        if (d->draining) {
            mcp_log_info(&d->log, "core", "stop asked again: not waiting "
                         "for in-flight work");
            mcp_daemon_close(d);
        }
        return;
    }
    d->stopping = 1;

    mcp_log_info(&d->log, "core", "stopping: %llu links, %llu sessions",
                 (unsigned long long) d->nlinks,
                 (unsigned long long) d->nsessions);

    uv_timer_init(d->loop, &d->stop_timer);
    d->stop_timer.data = d;
    uv_timer_start(&d->stop_timer, mcp_daemon_on_stop_timeout,
                   (uint64_t) d->conf->daemon.shutdown_timeout_ms, 0);
    /* the timer bounds the stop but must not be what keeps the loop up */
    uv_unref((uv_handle_t *) &d->stop_timer);

    if (d->links) {
        mcp_link_server_close_listener(d->links);
    }

    for (i = 0; i < d->non_drain; i++) {
        d->on_drain[i].start(d, d->on_drain[i].ctx);
    }

    /* at most half the stop: the stop hooks (the repository's commit)
       must still run before daemon.shutdown_timeout cuts everything */
    grace = d->conf->daemon.shutdown_grace_ms;
    if (grace > d->conf->daemon.shutdown_timeout_ms / 2) {
        grace = d->conf->daemon.shutdown_timeout_ms / 2;
    }
    if (!mcp_daemon_busy(d) || grace <= 0) {
        mcp_daemon_close(d);
        return;
    }

    d->draining = 1;
    d->drain_until = uv_now(d->loop) + (uint64_t) grace;
    uv_timer_init(d->loop, &d->drain_timer);
    d->drain_timer.data = d;
    uv_timer_start(&d->drain_timer, mcp_daemon_on_drain_poll,
                   MCP_DRAIN_POLL_MS, MCP_DRAIN_POLL_MS);
}


static void
mcp_daemon_on_signal(uv_signal_t *sig, int signum)
{
    mcp_daemon_t  *d = sig->data;

    mcp_log_info(&d->log, "core", "%s received",
                 signum == SIGTERM ? "SIGTERM" : "SIGINT");
    mcp_daemon_stop(d);
}


static void
mcp_daemon_close_walk(uv_handle_t *h, void *arg)
{
    if (!uv_is_closing(h)) {
        uv_close(h, NULL);
    }
}


int
mcp_daemon_listen(mcp_daemon_t *d, const char *socket_path)
{
    mcp_link_server_t  *srv;
    mcp_err_t           err;

    if (socket_path == NULL) {
        socket_path = d->conf->daemon.socket;
    }

    srv = calloc(1, sizeof(*srv));
    if (srv == NULL) {
        mcp_log_error(&d->log, "core", "out of memory");
        return -1;
    }

    if (mcp_link_server_start(srv, d, socket_path, &err) != 0) {
        mcp_log_error(&d->log, "core", "%s", err.msg);
        free(srv);
        return -1;
    }

    return 0;
}


int
mcp_daemon_run(mcp_daemon_t *d)
{
    uv_signal_init(d->loop, &d->sigterm);
    uv_signal_init(d->loop, &d->sigint);
    d->sigterm.data = d;
    d->sigint.data = d;
    uv_signal_start(&d->sigterm, mcp_daemon_on_signal, SIGTERM);
    uv_signal_start(&d->sigint, mcp_daemon_on_signal, SIGINT);
    d->signals_on = 1;

    mcp_log_info(&d->log, "core", "mcpd %s ready (pid %d)", MCPD_VERSION,
                 (int) getpid());

    uv_run(d->loop, UV_RUN_DEFAULT);

    mcp_daemon_close_all(d);
    mcp_log_info(&d->log, "core", "stopped");
    return d->exit_code;
}


void
mcp_daemon_close_all(mcp_daemon_t *d)
{
    /* the stop timer, and after a timeout whatever is left open: close
       every handle so the loop can be closed and memory checkers stay
       quiet */
    if (d->links != NULL && !d->links->stopping) {
        mcp_link_server_stop(d->links);
    }
    uv_walk(d->loop, mcp_daemon_close_walk, NULL);
    uv_run(d->loop, UV_RUN_DEFAULT);

    if (d->links != NULL) {
        mcp_link_server_free(d->links);
        free(d->links);
        d->links = NULL;
    }
}
