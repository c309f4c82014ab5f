/*
 * The requests of one MCP server (see mcp_client.h): ids, deadlines that
 * progress notifications extend, cancel, and the requests that wait for
 * the server to be ready.  A request made while its server is starting or
 * restarting (backoff after a crash or a failed start) is not failed at
 * once: it waits, its deadline running, and goes out when the server is
 * ready; it fails as before ("server is starting: ...") if its deadline
 * comes first or the server gives up for good.
 */

#include "mcp/mcp_client_int.h"
#include "mcp/mcp_jsonrpc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct mcp_req_s {
    mcp_req_t        *next;
    mcp_req_t        *prev;
    mcp_server_t     *srv;
    int64_t           id;
    char              method[48];
    uv_timer_t        timer;
    uint64_t          started;
    uint64_t          hard_deadline;
    int64_t           timeout_ms;
    mcp_req_done_pt   done;
    void             *ctx;
    int               sent;
    int               is_call;
    int               waiting;      /* for the server to be ready */
    json_t           *params;       /* ... with these params (owned) */
    char              failure[256];
};


static void
mcp_req_free(uv_handle_t *h)
{
    mcp_req_t  *r = h->data;

    json_decref(r->params);
    free(r);
}


static void
mcp_req_unlink(mcp_req_t *r)
{
    mcp_server_t  *srv = r->srv;

    if (r->prev) {
        r->prev->next = r->next;
    } else if (srv->reqs == r) {
        srv->reqs = r->next;
    }
    if (r->next) {
        r->next->prev = r->prev;
    }
    r->next = r->prev = NULL;
}


void
mcp_req_finish(mcp_req_t *r, json_t *result, json_t *error,
    const char *failure)
{
    mcp_server_t     *srv = r->srv;
    mcp_req_done_pt   done = r->done;
    uint64_t          ms = uv_now(srv->loop) - r->started;

    mcp_req_unlink(r);
    uv_timer_stop(&r->timer);
    uv_close((uv_handle_t *) &r->timer, mcp_req_free);

    if (r->is_call) {
        mcp_hist_record(&srv->stats.latency_ms, ms);
        if (error || failure
            || json_is_true(json_object_get(result, "isError")))
        {
            srv->stats.errors++;
        }
    }
    if (done) {
        done(r->ctx, result, error, failure);
    }
}


mcp_req_t *
mcp_req_find(mcp_server_t *srv, int64_t id)
{
    mcp_req_t  *r;

    for (r = srv->reqs; r; r = r->next) {
        if (r->id == id) {
            return r;
        }
    }
    return NULL;
}


void
mcp_server_send(mcp_server_t *srv, json_t *msg)
{
    if (srv->tr == NULL || srv->tr->send(srv->tr, msg) != 0) {
        mcp_log_debug(srv->log, "mcp", "%s: could not send a message",
                      srv->sconf->name);
    }
    json_decref(msg);
}


static void
mcp_req_send_cancel(mcp_req_t *r, const char *reason)
{
    mcp_server_t  *srv = r->srv;

    if (r->sent && srv->tr && srv->state == MCP_SRV_READY) {
        mcp_server_send(srv, mcp_rpc_notification("notifications/cancelled",
            json_pack("{s:I,s:s}", "requestId", (json_int_t) r->id,
                      "reason", reason)));
    }
}


/* why a request cannot go out: its server's state (and last error) */
static void
mcp_req_not_ready(mcp_req_t *r)
{
    mcp_server_t  *srv = r->srv;

    snprintf(r->failure, sizeof(r->failure), "%s: server is %s%s%.180s",
             srv->sconf->name, mcp_server_state_name(srv->state),
             srv->last_error[0] ? ": " : "", srv->last_error);
}


static void
mcp_req_timer(uv_timer_t *t)
{
    mcp_req_t     *r = t->data;
    mcp_server_t  *srv = r->srv;
    char           why[256];

    if (r->waiting) {
        /* the server did not come up in time: as if it was asked now */
        mcp_req_not_ready(r);
    }
    if (r->failure[0]) {
        snprintf(why, sizeof(why), "%s", r->failure);
        mcp_req_finish(r, NULL, NULL, why);
        return;
    }
    snprintf(why, sizeof(why), "%s: %s timed out after %.1fs",
             srv->sconf->name, r->method,
             (double) (uv_now(srv->loop) - r->started) / 1000.0);
    if (r->is_call) {
        srv->stats.timeouts++;
    }
    mcp_log_warn(srv->log, "mcp", "%s", why);
    mcp_req_send_cancel(r, "timed out");
    mcp_req_finish(r, NULL, NULL, why);
}


static int64_t
mcp_req_next_wait(const mcp_req_t *r)
{
    uint64_t  now = uv_now(r->srv->loop);
    uint64_t  left = r->hard_deadline > now ? r->hard_deadline - now : 0;

    return (int64_t) left < r->timeout_ms ? (int64_t) left : r->timeout_ms;
}


static mcp_req_t *
mcp_req_new(mcp_server_t *srv, const char *method, int64_t timeout_ms,
    mcp_req_done_pt done, void *ctx)
{
    mcp_req_t  *r = calloc(1, sizeof(*r));

    if (r == NULL) {
        return NULL;
    }
    r->srv = srv;
    r->id = ++srv->next_id;
    snprintf(r->method, sizeof(r->method), "%s", method);
    r->done = done;
    r->ctx = ctx;
    r->started = uv_now(srv->loop);
    r->timeout_ms = timeout_ms > 0 ? timeout_ms
                    : srv->sconf->timeout_ms > 0 ? srv->sconf->timeout_ms
                    : srv->conf->call_timeout_ms;
    r->hard_deadline = r->started
                       + (uint64_t) (srv->conf->max_call_duration_ms
                                     > r->timeout_ms
                                     ? srv->conf->max_call_duration_ms
                                     : r->timeout_ms);
    r->is_call = strcmp(method, "tools/call") == 0;
    uv_timer_init(srv->loop, &r->timer);
    r->timer.data = r;

    r->next = srv->reqs;
    if (srv->reqs) {
        srv->reqs->prev = r;
    }
    srv->reqs = r;
    if (r->is_call) {
        srv->stats.calls++;
    }
    return r;
}


/* a server that is on its way to ready: a request can wait for it */
static int
mcp_server_coming(const mcp_server_t *srv)
{
    return !srv->stopped && (srv->state == MCP_SRV_STARTING
                             || srv->state == MCP_SRV_BACKOFF);
}


/* put r on the wire (params stolen); -1 after setting r's failure */
static int
mcp_req_send(mcp_req_t *r, json_t *params)
{
    mcp_server_t  *srv = r->srv;
    json_t        *msg;
    int            rc;

    if (r->is_call && json_is_object(params)) {
        /* our id doubles as the progress token */
        json_t  *meta = json_object_get(params, "_meta");
        if (!json_is_object(meta)) {
            meta = json_object();
            json_object_set_new(params, "_meta", meta);
        }
        json_object_set_new(meta, "progressToken", json_integer(r->id));
    }
    msg = mcp_rpc_request(r->id, r->method, params);
    rc = srv->tr->send(srv->tr, msg);
    json_decref(msg);
    if (rc != 0) {
        snprintf(r->failure, sizeof(r->failure), "%s: cannot send %s",
                 srv->sconf->name, r->method);
        uv_timer_start(&r->timer, mcp_req_timer, 0, 0);
        return -1;
    }
    r->sent = 1;
    return 0;
}


/* the request may go out in STARTING (initialize) or READY */
mcp_req_t *
mcp_server_request_any(mcp_server_t *srv, const char *method, json_t *params,
    int64_t timeout_ms, mcp_req_done_pt done, void *ctx, int lifecycle)
{
    mcp_req_t  *r = mcp_req_new(srv, method, timeout_ms, done, ctx);

    if (r == NULL) {
        json_decref(params);
        return NULL;
    }
    if (!lifecycle && srv->state != MCP_SRV_READY && mcp_server_coming(srv))
    {
        /* mcp_server_send_waiting() sends it; the deadline runs from now */
        r->waiting = 1;
        r->params = params;
        uv_timer_start(&r->timer, mcp_req_timer,
                       (uint64_t) mcp_req_next_wait(r), 0);
        return r;
    }
    if (srv->tr == NULL
        || (!lifecycle && srv->state != MCP_SRV_READY))
    {
        mcp_req_not_ready(r);
        json_decref(params);
        uv_timer_start(&r->timer, mcp_req_timer, 0, 0);
        return r;
    }
    if (mcp_req_send(r, params) == 0) {
        uv_timer_start(&r->timer, mcp_req_timer,
                       (uint64_t) mcp_req_next_wait(r), 0);
    }
    return r;
}


void
mcp_server_send_waiting(mcp_server_t *srv)
{
    mcp_req_t  *r, *last = NULL;
    json_t     *params;

    /* oldest first: they were added at the head */
    for (r = srv->reqs; r; r = r->next) {
        last = r;
    }
    for (r = last; r; r = r->prev) {
        if (r->waiting && srv->tr != NULL) {
            r->waiting = 0;
            params = r->params;
            r->params = NULL;
            (void) mcp_req_send(r, params);    /* its deadline runs on */
        }
    }
}


mcp_req_t *
mcp_server_request(mcp_server_t *srv, const char *method, json_t *params,
    int64_t timeout_ms, mcp_req_done_pt done, void *ctx)
{
    return mcp_server_request_any(srv, method, params, timeout_ms, done, ctx,
                                  0);
}


void
mcp_req_cancel(mcp_req_t *r, const char *reason)
{
    mcp_req_send_cancel(r, reason ? reason : "cancelled by mcpd");
    r->done = NULL;
    mcp_req_finish(r, NULL, NULL, "cancelled");
}


void
mcp_server_fail_reqs(mcp_server_t *srv, const char *why, int waiting_too)
{
    mcp_req_t  *r;
    char        text[256];

    /* from the head each time: a callback may add or cancel requests */
    for ( ;; ) {
        for (r = srv->reqs; r && r->waiting && !waiting_too; r = r->next) {
            /* it waits on, for the server's next start */
        }
        if (r == NULL) {
            return;
        }
        if (r->waiting) {
            mcp_req_not_ready(r);
            snprintf(text, sizeof(text), "%s", r->failure);
            mcp_req_finish(r, NULL, NULL, text);
        } else {
            mcp_req_finish(r, NULL, NULL, why);
        }
    }
}


/* an answer (result or error) from the server; -1 when nobody waits */
int
mcp_req_answer(mcp_server_t *srv, int64_t id, json_t *result, json_t *error)
{
    mcp_req_t  *r = mcp_req_find(srv, id);

    if (r == NULL || r->failure[0] || !r->sent) {
        return -1;      /* late: it timed out or was cancelled */
    }
    mcp_req_finish(r, result, error, NULL);
    return 0;
}


/* the transport could not deliver request id */
void
mcp_req_send_failed(mcp_server_t *srv, int64_t id, const char *why)
{
    mcp_req_t  *r = mcp_req_find(srv, id);
    char        text[256];

    if (r != NULL && !r->failure[0]) {
        snprintf(text, sizeof(text), "%.60s: %.180s", srv->sconf->name, why);
        mcp_req_finish(r, NULL, NULL, text);
    }
}


/* a progress notification for the request whose id is token */
void
mcp_req_progress(mcp_server_t *srv, int64_t token)
{
    mcp_req_t  *r = mcp_req_find(srv, token);

    if (r == NULL || r->failure[0] || !r->sent) {
        return;
    }
    /* alive and working: the idle deadline starts again (hard cap holds) */
    uv_timer_start(&r->timer, mcp_req_timer, (uint64_t) mcp_req_next_wait(r),
                   0);
}
