/*
 * The upgraded connection.  After the 101 the module owns the socket: it
 * replaces the connection's read and write handlers (as nginx's upgraded
 * proxy does through the request's handlers), keeps the request and its
 * pool only for logging and cleanup, and holds per connection just the
 * parser state, a send queue of malloc'ed frames that is freed as it
 * drains (ngx_mcp_ws_send.c), and one timer.  Reads go through one per-worker buffer: the
 * parser is resumable, so nothing of a read outlives it except a message
 * still being reassembled.
 *
 * The connection is marked idle so that a graceful stop or reload
 * (ngx_close_idle_connections) reaches the read handler with c->close set:
 * that becomes a close 1001 and a closing handshake bounded by
 * NGX_MCP_CLOSE_TIMEOUT, whose timer is the only non-cancelable one.
 */

#include "ngx_mcp_module.h"
#include "mcp_reqid.h"

static void ngx_mcp_ws_read_handler(ngx_event_t *rev);
static void ngx_mcp_ws_timer_handler(ngx_event_t *ev);
static ngx_int_t ngx_mcp_ws_process(ngx_mcp_conn_t *ctx, u_char *buf,
    size_t len);
static ngx_int_t ngx_mcp_ws_data(ngx_mcp_conn_t *ctx, mcp_ws_event_t *ev);
static void ngx_mcp_ws_deliver(ngx_mcp_conn_t *ctx, u_char *p, size_t len);
static void ngx_mcp_ws_control(ngx_mcp_conn_t *ctx, mcp_ws_event_t *ev);
static void ngx_mcp_ws_arm_timer(ngx_mcp_conn_t *ctx);
static void ngx_mcp_ws_destroy_handler(ngx_event_t *ev);
static void ngx_mcp_ws_rtt(ngx_mcp_sh_t *sh, ngx_msec_t ms, uint64_t us);
static ngx_uint_t ngx_mcp_ws_client_reading(ngx_mcp_conn_t *ctx);

#define ngx_mcp_sh()  (ngx_mcp_main_conf()->sh)


void
ngx_mcp_ws_start(ngx_http_request_t *r, ngx_mcp_conn_t *ctx)
{
    size_t                     n;
    ngx_connection_t          *c;
    ngx_mcp_main_conf_t       *mmcf;
    ngx_http_core_loc_conf_t  *clcf;

    c = r->connection;
    mmcf = ngx_mcp_main_conf();

    (void) ngx_atomic_fetch_add(&mmcf->sh->accepted, 1);

    c->log->action = "in WebSocket";
    ctx->upgraded = 1;
    ctx->sid = ((uint64_t) ngx_pid << 32) | (++mmcf->worker.next_sid
                                             & 0xffffffff);
    ctx->node.key = (ngx_rbtree_key_t) ctx->sid;
    ngx_rbtree_insert(&mmcf->worker.sessions, &ctx->node);
    ngx_queue_insert_tail(&mmcf->worker.live, &ctx->queue);

    mcp_ws_parser_init(&ctx->parser, ctx->conf->max_message_size, 1);

    c->read->handler = ngx_mcp_ws_read_handler;
    c->write->handler = ngx_mcp_ws_write_handler;
    c->idle = 1;

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);
    if (clcf->tcp_nodelay && ngx_tcp_nodelay(c) != NGX_OK) {
        ngx_mcp_ws_destroy(ctx);
        return;
    }

    if (c->read->timer_set) {
        ngx_del_timer(c->read);
    }

    ctx->timer.handler = ngx_mcp_ws_timer_handler;
    ctx->last_active = ngx_current_msec;
    ctx->next_ping = ngx_current_msec + ctx->conf->ping_interval;
    ngx_mcp_ws_arm_timer(ctx);

    if (ngx_mcp_link_open(ctx) != NGX_OK) {
        ngx_mcp_ws_destroy(ctx);
        return;
    }

    /* bytes the client pipelined after its handshake */
    if (r->header_in->pos < r->header_in->last) {
        n = r->header_in->last - r->header_in->pos;
        if (ngx_mcp_ws_process(ctx, r->header_in->pos, n) != NGX_OK) {
            return;
        }
        r->header_in->pos = r->header_in->last;
    }

    if (r->out || c->buffered) {
        ngx_mcp_ws_write_handler(c->write);
        return;
    }

    ngx_mcp_ws_read_handler(c->read);
}


static void
ngx_mcp_ws_read_handler(ngx_event_t *rev)
{
    ssize_t               n;
    ngx_connection_t     *c;
    ngx_mcp_conn_t       *ctx;
    ngx_http_request_t   *r;
    ngx_mcp_main_conf_t  *mmcf;

    c = rev->data;
    r = c->data;
    ctx = ngx_http_get_module_ctx(r, ngx_mcp_module);
    mmcf = ngx_mcp_main_conf();

    if (c->close) {
        /* graceful stop or reload */
        c->close = 0;
        ngx_mcp_ws_close(ctx, MCP_WS_CLOSE_GOING_AWAY,
                         "server is restarting");
        if (ctx->finalizing) {
            return;
        }
    }

    while (!ctx->read_paused && !ctx->finalizing) {
        n = c->recv(c, mmcf->worker.rbuf, mmcf->worker.rbuf_size);

        if (n == NGX_AGAIN) {
            break;
        }

        if (n == 0 || n == NGX_ERROR) {
            /* gone without (finishing) a closing handshake */
            if (!ctx->close_rcvd) {
                ctx->close_code = MCP_WS_CLOSE_ABNORMAL;
            }
            ngx_mcp_ws_destroy(ctx);
            return;
        }

        (void) ngx_atomic_fetch_add(&mmcf->sh->bytes_in, n);

        if (ngx_mcp_ws_process(ctx, mmcf->worker.rbuf, n) != NGX_OK) {
            return;
        }
    }

    if (!ctx->finalizing && ngx_handle_read_event(rev, 0) != NGX_OK) {
        ngx_mcp_ws_destroy(ctx);
    }
}


/* NGX_OK, or NGX_DONE when the connection was destroyed */
static ngx_int_t
ngx_mcp_ws_process(ngx_mcp_conn_t *ctx, u_char *buf, size_t len)
{
    int             rc;
    size_t          used;
    mcp_ws_event_t  ev;

    while (len && !ctx->finalizing) {
        rc = mcp_ws_parse(&ctx->parser, buf, len, &used, &ev);
        buf += used;
        len -= used;

        if (rc == MCP_WS_ERROR) {
            ngx_log_error(NGX_LOG_INFO, ctx->request->connection->log, 0,
                          "WebSocket client error: %s", ctx->parser.error);
            /* _Fail the WebSocket Connection_: the parser cannot read an
             * echo any more, so TCP closes once our close is out */
            ctx->failed = 1;
            ngx_mcp_ws_close(ctx, ctx->parser.close_code, ctx->parser.error);
            break;
        }

        if (rc == MCP_WS_AGAIN) {
            break;
        }

        if (ev.opcode == MCP_WS_OP_TEXT || ev.opcode == MCP_WS_OP_BINARY) {
            if (ngx_mcp_ws_data(ctx, &ev) != NGX_OK) {
                break;
            }
            continue;
        }

        (void) ngx_atomic_fetch_add(&ngx_mcp_sh()->frames_in, 1);
        ngx_mcp_ws_control(ctx, &ev);
    }

    return ctx->finalizing ? NGX_DONE : NGX_OK;
}


static ngx_int_t
ngx_mcp_ws_data(ngx_mcp_conn_t *ctx, mcp_ws_event_t *ev)
{
    u_char  *p;
    size_t   cap;

    if (ev->frame_end) {
        (void) ngx_atomic_fetch_add(&ngx_mcp_sh()->frames_in, 1);
    }

    if (ctx->close_sent) {
        return NGX_OK;      /* closing: data is read and dropped */
    }

    if (ev->opcode == MCP_WS_OP_BINARY) {
        ngx_mcp_ws_close(ctx, MCP_WS_CLOSE_UNSUPPORTED,
                         "binary messages are not supported, send JSON text");
        return NGX_ERROR;
    }

    if (ev->first && ev->last) {
        /* the common case: one frame, delivered from the read buffer */
        ngx_mcp_ws_deliver(ctx, (u_char *) ev->data, ev->len);
        return NGX_OK;
    }

    if (ev->first) {
        ctx->msg_len = 0;
    }

    if (ctx->msg_len + ev->len > ctx->msg_cap) {
        /* grow to what the headers declared so far, at least double */
        cap = ngx_max((size_t) ev->msg_size, ctx->msg_cap * 2);
        cap = ngx_min(cap, ctx->conf->max_message_size);
        cap = ngx_max(cap, ctx->msg_len + ev->len);

        p = ngx_alloc(cap, ctx->request->connection->log);
        if (p == NULL) {
            ngx_mcp_ws_close(ctx, MCP_WS_CLOSE_INTERNAL, "out of memory");
            return NGX_ERROR;
        }

        if (ctx->msg) {
            ngx_memcpy(p, ctx->msg, ctx->msg_len);
            ngx_free(ctx->msg);
        }

        ctx->msg = p;
        ctx->msg_cap = cap;
    }

    ngx_memcpy(ctx->msg + ctx->msg_len, ev->data, ev->len);
    ctx->msg_len += ev->len;

    if (ev->last) {
        ngx_mcp_ws_deliver(ctx, ctx->msg, ctx->msg_len);

        /* an idle connection keeps no message buffer */
        ngx_free(ctx->msg);
        ctx->msg = NULL;
        ctx->msg_cap = 0;
        ctx->msg_len = 0;
    }

    return NGX_OK;
}


/* a whole text message from the client */
static void
ngx_mcp_ws_deliver(ngx_mcp_conn_t *ctx, u_char *p, size_t len)
{
    static const char  err[] =
        ",\"status\":\"error\",\"chunk\":{\"error\":\"backend unavailable: "
        "the chat service is not reachable right now, retry shortly\","
        "\"code\":\"backend_unavailable\"}}";

    u_char          *reply, *q;
    size_t           n;
    const uint8_t   *tok;
    ngx_mcp_sh_t    *sh;

    sh = ngx_mcp_sh();
    (void) ngx_atomic_fetch_add(&sh->messages_in, 1);
    ctx->last_active = ngx_current_msec;

    if (ngx_mcp_link_up() && ngx_mcp_link_message(ctx, p, len) == NGX_OK) {
        return;
    }

    (void) ngx_atomic_fetch_add(&sh->backend_unavailable, 1);

    n = mcp_json_request_id(p, len, &tok);

    reply = ngx_alloc(sizeof("{\"request_id\":") + sizeof(err) + 4 + n,
                      ctx->request->connection->log);
    if (reply == NULL) {
        return;
    }

    q = ngx_cpymem(reply, "{\"request_id\":", sizeof("{\"request_id\":") - 1);
    q = n ? ngx_cpymem(q, tok, n) : ngx_cpymem(q, "null", 4);
    q = ngx_cpymem(q, err, sizeof(err) - 1);

    (void) ngx_mcp_ws_send_text(ctx, reply, q - reply);
    ngx_free(reply);
}


static void
ngx_mcp_ws_control(ngx_mcp_conn_t *ctx, mcp_ws_event_t *ev)
{
    uint64_t       stamp;
    ngx_msec_t     ms;
    struct timeval tv;

    switch (ev->opcode) {

    case MCP_WS_OP_PING:
        if (!ctx->close_sent) {
            (void) ngx_mcp_ws_queue(ctx, MCP_WS_OP_PONG, (u_char *) ev->data,
                                    ev->len);
            (void) ngx_mcp_ws_flush(ctx);
        }
        return;

    case MCP_WS_OP_PONG:
        /* unsolicited pongs are fine; only the answer to ours counts */
        if (ctx->ping_sent && ev->len == sizeof(uint64_t)) {
            ngx_memcpy(&stamp, ev->data, sizeof(uint64_t));
            if (stamp == ctx->ping_stamp) {
                ngx_gettimeofday(&tv);
                ms = ngx_current_msec - ctx->ping_sent;
                ngx_mcp_ws_rtt(ngx_mcp_sh(), ms,
                               (uint64_t) tv.tv_sec * 1000000 + tv.tv_usec
                               - stamp);
                ctx->ping_sent = 0;
                ngx_mcp_ws_arm_timer(ctx);
            }
        }
        return;

    default: /* MCP_WS_OP_CLOSE */
        ctx->close_rcvd = 1;

        if (ctx->close_sent) {
            /* our close was answered: the handshake is complete */
            ngx_mcp_ws_destroy(ctx);
            return;
        }

        ctx->close_code = ev->close_code;
        ngx_mcp_ws_close(ctx, ev->close_code, NULL);
        return;
    }
}


static void
ngx_mcp_ws_rtt(ngx_mcp_sh_t *sh, ngx_msec_t ms, uint64_t us)
{
    ngx_uint_t  b = 0;

    if (us > 3600ULL * 1000000) {
        us = (uint64_t) ms * 1000;     /* the wall clock jumped */
    }

    while (b < NGX_MCP_RTT_BUCKETS - 1 && (1ULL << b) < us) {
        b++;
    }

    (void) ngx_atomic_fetch_add(&sh->rtt[b], 1);
    (void) ngx_atomic_fetch_add(&sh->rtt_count, 1);
    (void) ngx_atomic_fetch_add(&sh->rtt_sum_us, us);
}


/*
 * Start the closing handshake with code (1005: a close with no payload,
 * the echo of an empty close).  The session is over for mcpd at once.
 */
void
ngx_mcp_ws_close(ngx_mcp_conn_t *ctx, uint16_t code, const char *reason)
{
    u_char  payload[MCP_WS_CONTROL_MAX];
    size_t  n = 0;

    if (ctx->close_sent || ctx->finalizing) {
        return;
    }

    if (code != MCP_WS_CLOSE_NO_STATUS) {
        n = mcp_ws_close_payload(payload, code, reason,
                                 reason ? ngx_strlen(reason) : 0);
    }

    if (!ctx->close_rcvd) {
        ctx->close_code = code;
    }

    ngx_mcp_link_close(ctx, code, reason, reason ? ngx_strlen(reason) : 0);

    if (ngx_mcp_ws_queue(ctx, MCP_WS_OP_CLOSE, payload, n) != NGX_OK) {
        ngx_mcp_ws_destroy(ctx);
        return;
    }

    ctx->close_sent = 1;
    ctx->read_paused = 0;
    ctx->close_deadline = ngx_current_msec + NGX_MCP_CLOSE_TIMEOUT;
    ngx_mcp_ws_arm_timer(ctx);

    (void) ngx_mcp_ws_flush(ctx);
}


/* mcpd asked to pause (or resume) reading this client */
void
ngx_mcp_ws_pause_read(ngx_mcp_conn_t *ctx, ngx_uint_t pause)
{
    ngx_connection_t  *c = ctx->request->connection;

    if (ctx->close_sent) {
        return;
    }

    ctx->read_paused = pause ? 1 : 0;

    if (!pause && !c->read->posted) {
        ngx_post_event(c->read, &ngx_posted_events);
    }
}




static void
ngx_mcp_ws_timer_handler(ngx_event_t *ev)
{
    uint64_t         stamp;
    ngx_msec_t       now;
    struct timeval   tv;
    ngx_mcp_conn_t  *ctx = ev->data;
    ngx_mcp_sh_t    *sh;

    now = ngx_current_msec;
    sh = ngx_mcp_sh();

    if (ctx->close_sent) {
        if ((ngx_msec_int_t) (now - ctx->close_deadline) >= 0) {
            /* the client never answered our close */
            ngx_mcp_ws_destroy(ctx);
            return;
        }

        ngx_mcp_ws_arm_timer(ctx);
        return;
    }

    if (ctx->ping_sent && ctx->conf->ping_timeout
        && (ngx_msec_int_t) (now - ctx->ping_due) >= 0)
    {
        if (!ngx_mcp_ws_client_reading(ctx)) {
            (void) ngx_atomic_fetch_add(&sh->ping_timeouts, 1);
            ngx_mcp_ws_close(ctx, MCP_WS_CLOSE_GOING_AWAY, "ping timeout");
            return;
        }

        /* our ping is still behind data the client is reading */
        ctx->ping_due = now + ctx->conf->ping_timeout;
    }

    if (ctx->conf->idle_timeout
        && (ngx_msec_int_t) (now - ctx->last_active - ctx->conf->idle_timeout)
           >= 0)
    {
        (void) ngx_atomic_fetch_add(&sh->idle_timeouts, 1);
        ngx_mcp_ws_close(ctx, MCP_WS_CLOSE_GOING_AWAY, "idle timeout");
        return;
    }

    if (ctx->conf->ping_interval && !ctx->ping_sent
        && (ngx_msec_int_t) (now - ctx->next_ping) >= 0)
    {
        /* the payload is the send time, so the pong carries the RTT */
        ngx_gettimeofday(&tv);
        stamp = (uint64_t) tv.tv_sec * 1000000 + tv.tv_usec;
        ctx->ping_stamp = stamp;
        ctx->ping_sent = now ? now : 1;
        ctx->ping_due = now + ctx->conf->ping_timeout;
        ctx->client_took = ngx_mcp_ws_client_took(ctx);
        ctx->next_ping = now + ctx->conf->ping_interval;
        (void) ngx_atomic_fetch_add(&sh->pings_sent, 1);

        if (ngx_mcp_ws_queue(ctx, MCP_WS_OP_PING, (u_char *) &stamp,
                             sizeof(stamp)) != NGX_OK)
        {
            ngx_mcp_ws_destroy(ctx);
            return;
        }

        if (ngx_mcp_ws_flush(ctx) != NGX_OK) {
            return;
        }
    }

    ngx_mcp_ws_arm_timer(ctx);
}


/*
 * A client that took bytes of its backlog since the last look is alive even
 * though our ping has not reached it: it still sits behind data in the
 * kernel's buffer (megabytes, autotuned) or in our queue.
 */
static ngx_uint_t
ngx_mcp_ws_client_reading(ngx_mcp_conn_t *ctx)
{
    off_t  took;

    took = ngx_mcp_ws_client_took(ctx);

    if (took == ctx->client_took) {
        return 0;
    }

    ctx->client_took = took;

    return 1;
}


static void
ngx_mcp_ws_arm_timer(ngx_mcp_conn_t *ctx)
{
    ngx_msec_t          now, next;
    ngx_msec_int_t      d, best;
    ngx_mcp_loc_conf_t  *conf = ctx->conf;

    now = ngx_current_msec;

    if (ctx->finalizing) {
        return;
    }

    if (ctx->close_sent) {
        /* the only timer that holds an exiting worker back */
        ctx->timer.cancelable = 0;
        next = ctx->close_deadline;
        best = (ngx_msec_int_t) (next - now);

    } else {
        ctx->timer.cancelable = 1;
        best = NGX_MAX_INT32_VALUE;

        if (conf->idle_timeout) {
            d = (ngx_msec_int_t) (ctx->last_active + conf->idle_timeout - now);
            best = ngx_min(best, d);
        }

        if (ctx->ping_sent && conf->ping_timeout) {
            d = (ngx_msec_int_t) (ctx->ping_due - now);
            best = ngx_min(best, d);

        } else if (conf->ping_interval) {
            d = (ngx_msec_int_t) (ctx->next_ping - now);
            best = ngx_min(best, d);
        }

        if (best == NGX_MAX_INT32_VALUE) {
            if (ctx->timer.timer_set) {
                ngx_del_timer(&ctx->timer);
            }
            return;
        }
    }

    if (best < 1) {
        best = 1;
    }

    ngx_add_timer(&ctx->timer, (ngx_msec_t) best);
}


/* release everything the session holds; called from the pool cleanup */
void
ngx_mcp_ws_teardown(ngx_mcp_conn_t *ctx)
{
    ngx_mcp_main_conf_t  *mmcf;

    if (ctx->timer.timer_set) {
        ngx_del_timer(&ctx->timer);
    }

    if (ctx->timer.posted) {
        ngx_delete_posted_event(&ctx->timer);
    }

    if (!ctx->upgraded) {
        return;
    }

    ctx->upgraded = 0;
    mmcf = ngx_mcp_main_conf();

    ngx_mcp_link_close(ctx, ctx->close_code, NULL, 0);
    ngx_mcp_ws_free_queue(ctx);

    if (ctx->msg) {
        ngx_free(ctx->msg);
        ctx->msg = NULL;
    }

    ngx_rbtree_delete(&mmcf->worker.sessions, &ctx->node);
    ngx_queue_remove(&ctx->queue);
    ngx_queue_init(&ctx->queue);

    ngx_mcp_count_close(mmcf->sh, ctx->close_code);
}


/*
 * Close the TCP connection.  Deferred to a posted event so that no caller
 * up the stack touches freed memory: the request is freed there (access
 * log, pool cleanups, which tear the session down and give the slot back).
 */
void
ngx_mcp_ws_destroy(ngx_mcp_conn_t *ctx)
{
    if (ctx->finalizing) {
        return;
    }

    ctx->finalizing = 1;

    if (ctx->timer.timer_set) {
        ngx_del_timer(&ctx->timer);
    }

    ctx->timer.handler = ngx_mcp_ws_destroy_handler;
    ngx_post_event(&ctx->timer, &ngx_posted_events);
}


static void
ngx_mcp_ws_destroy_handler(ngx_event_t *ev)
{
    ngx_mcp_conn_t      *ctx = ev->data;
    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    r = ctx->request;
    c = r->connection;

    ngx_http_free_request(r, 0);
    ngx_http_close_connection(c);
}
