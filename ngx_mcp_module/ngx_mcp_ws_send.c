/*
 * The send queue of an upgraded connection: frames for the client, each
 * malloc'ed and freed as soon as the socket took it, written from the
 * connection's write event.  Bounded by mcp_send_buffer_size, with FLOW
 * to mcpd so that a slow client slows its producer (see ngx_mcp_ws.c for
 * the rest of the connection).
 */

#include "ngx_mcp_module.h"

#if (NGX_LINUX)
#include <linux/sockios.h>
#endif

#define ngx_mcp_sh()  (ngx_mcp_main_conf()->sh)

/*
 * FLOW marks, as parts of mcp_send_buffer_size: pause early, so that the
 * socket and a short queue keep a fast client busy while mcpd stops, and
 * resume well below the pause so that the two do not flap on every
 * message.
 */
#define NGX_MCP_FLOW_HIGH(limit)  ((limit) / 4)
#define NGX_MCP_FLOW_LOW(limit)   ((limit) / 16)

static void ngx_mcp_ws_flow_resume(ngx_mcp_conn_t *ctx);
static void ngx_mcp_ws_queue_urgent(ngx_mcp_conn_t *ctx, ngx_mcp_out_t *o);
static void ngx_mcp_ws_dequeue(ngx_mcp_conn_t *ctx);


/*
 * A message from mcpd.  Past the high-water mark of the send queue mcpd
 * is asked to pause this session (FLOW), and to resume once the queue is
 * down to the low-water mark.  What mcpd had already sent when the pause
 * reached it still arrives: its link buffer (daemon.link_buffer_size) and
 * the socket's, a few times over while its loop is busy.  Up to
 * mcp_send_buffer_size of it is taken; more than that after a pause is a
 * producer that ignores it (or a client that stopped reading while its
 * requests keep being answered): closed with 1008.  So the queue holds at
 * most the high-water mark plus mcp_send_buffer_size, plus the one message
 * that crossed the mark, however large.
 */
ngx_int_t
ngx_mcp_ws_send_text(ngx_mcp_conn_t *ctx, u_char *data, size_t len)
{
    ngx_mcp_sh_t  *sh;

    if (ctx->close_sent || ctx->finalizing) {
        return NGX_OK;
    }

    sh = ngx_mcp_sh();

    if (ctx->flow_paused) {
        if (ctx->flow_in + len > ctx->conf->send_buffer_size) {
            (void) ngx_atomic_fetch_add(&sh->backpressure_close, 1);
            ngx_log_error(NGX_LOG_INFO, ctx->request->connection->log, 0,
                          "WebSocket send buffer full: %uz bytes queued, "
                          "%uz more arrived after FLOW pause",
                          ctx->out_bytes, ctx->flow_in + len);
            ngx_mcp_ws_close(ctx, MCP_WS_CLOSE_POLICY,
                             "send buffer overflow: the client is not "
                             "reading");
            return NGX_OK;
        }

        ctx->flow_in += len;
    }

    if (ngx_mcp_ws_queue(ctx, MCP_WS_OP_TEXT, data, len) != NGX_OK) {
        ngx_mcp_ws_close(ctx, MCP_WS_CLOSE_INTERNAL, "out of memory");
        return NGX_OK;
    }

    (void) ngx_atomic_fetch_add(&sh->messages_out, 1);
    ctx->last_active = ngx_current_msec;

    /* what the socket takes at once never counts towards a pause */
    if (ngx_mcp_ws_flush(ctx) != NGX_OK) {
        return NGX_OK;
    }

    if (!ctx->flow_paused
        && ctx->out_bytes > NGX_MCP_FLOW_HIGH(ctx->conf->send_buffer_size))
    {
        ctx->flow_paused = 1;
        ctx->flow_in = 0;
        (void) ngx_atomic_fetch_add(&sh->backpressure_pause, 1);
        ngx_mcp_link_flow(ctx, MCP_LINK_FLOW_PAUSE);
    }

    return NGX_OK;
}


/* the client caught up: let mcpd produce again */
static void
ngx_mcp_ws_flow_resume(ngx_mcp_conn_t *ctx)
{
    if (ctx->flow_paused && !ctx->close_sent
        && ctx->out_bytes <= NGX_MCP_FLOW_LOW(ctx->conf->send_buffer_size))
    {
        ctx->flow_paused = 0;
        ngx_mcp_link_flow(ctx, MCP_LINK_FLOW_RESUME);
    }
}


ngx_int_t
ngx_mcp_ws_queue(ngx_mcp_conn_t *ctx, ngx_uint_t opcode, u_char *data,
    size_t len)
{
    size_t          hlen;
    ngx_mcp_out_t  *o;

    o = ngx_alloc(sizeof(ngx_mcp_out_t) + MCP_WS_SRV_HDR_MAX + len,
                  ctx->request->connection->log);
    if (o == NULL) {
        return NGX_ERROR;
    }

    hlen = mcp_ws_frame_header(o->data, 1, opcode, len);
    if (len) {
        ngx_memcpy(o->data + hlen, data, len);
    }

    o->next = NULL;
    o->len = hlen + len;
    o->sent = 0;

    if (opcode == MCP_WS_OP_PING || opcode == MCP_WS_OP_PONG) {
        ngx_mcp_ws_queue_urgent(ctx, o);

    } else {
        if (ctx->out_last) {
            ctx->out_last->next = o;
        } else {
            ctx->out = o;
        }

        ctx->out_last = o;
    }

    ctx->out_bytes += o->len;

    return NGX_OK;
}


/*
 * Pings and pongs go ahead of the queued messages (control frames may come
 * between any two frames, RFC 6455 5.4): behind a megabyte for a slow but
 * live client our ping would time out, and the client's own keepalive
 * would miss its pong.  They keep their order among themselves, and a
 * frame partly written stays first.
 */
static void
ngx_mcp_ws_queue_urgent(ngx_mcp_conn_t *ctx, ngx_mcp_out_t *o)
{
    ngx_mcp_out_t  **pp;

    if (ctx->out_urgent) {
        pp = &ctx->out_urgent->next;

    } else if (ctx->out && ctx->out->sent) {
        pp = &ctx->out->next;

    } else {
        pp = &ctx->out;
    }

    o->next = *pp;
    *pp = o;

    if (o->next == NULL) {
        ctx->out_last = o;
    }

    ctx->out_urgent = o;
}


void
ngx_mcp_ws_write_handler(ngx_event_t *wev)
{
    ngx_connection_t    *c;
    ngx_mcp_conn_t      *ctx;
    ngx_http_request_t  *r;

    c = wev->data;
    r = c->data;
    ctx = ngx_http_get_module_ctx(r, ngx_mcp_module);

    if (wev->timedout) {
        wev->timedout = 0;
    }

    if (!ctx->finalizing) {
        (void) ngx_mcp_ws_flush(ctx);
    }
}


/* NGX_OK, or NGX_DONE when the connection was destroyed */
ngx_int_t
ngx_mcp_ws_flush(ngx_mcp_conn_t *ctx)
{
    ssize_t              n;
    ngx_mcp_sh_t        *sh;
    ngx_mcp_out_t       *o;
    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    r = ctx->request;
    c = r->connection;
    sh = ngx_mcp_sh();

    if (r->out || c->buffered) {
        /* the rest of the 101 response goes first */
        if (ngx_http_output_filter(r, NULL) == NGX_ERROR) {
            ngx_mcp_ws_destroy(ctx);
            return NGX_DONE;
        }

        if (r->out || c->buffered) {
            goto again;
        }
    }

    while (ctx->out) {
        o = ctx->out;

        if (!c->write->ready) {
            goto again;
        }

        n = c->send(c, o->data + o->sent, o->len - o->sent);

        if (n == NGX_ERROR) {
            if (!ctx->close_rcvd) {
                ctx->close_code = MCP_WS_CLOSE_ABNORMAL;
            }
            ngx_mcp_ws_destroy(ctx);
            return NGX_DONE;
        }

        if (n == NGX_AGAIN) {
            goto again;
        }

        (void) ngx_atomic_fetch_add(&sh->bytes_out, n);
        o->sent += n;

        if (o->sent < o->len) {
            continue;
        }

        (void) ngx_atomic_fetch_add(&sh->frames_out, 1);
        ngx_mcp_ws_dequeue(ctx);
    }

    ngx_mcp_ws_flow_resume(ctx);

    if (ctx->close_sent && (ctx->close_rcvd || ctx->failed)) {
        /* both closes exchanged and ours is out: the server closes TCP */
        ngx_mcp_ws_destroy(ctx);
        return NGX_DONE;
    }

    return NGX_OK;

again:

    /* the socket is full, the queue may be down to its low-water mark */
    ngx_mcp_ws_flow_resume(ctx);

    if (ngx_handle_write_event(c->write, 0) != NGX_OK) {
        ngx_mcp_ws_destroy(ctx);
        return NGX_DONE;
    }

    return NGX_OK;
}


/* the head frame is out (or dropped): free it */
static void
ngx_mcp_ws_dequeue(ngx_mcp_conn_t *ctx)
{
    ngx_mcp_out_t  *o = ctx->out;

    ctx->out = o->next;
    if (ctx->out == NULL) {
        ctx->out_last = NULL;
    }

    if (ctx->out_urgent == o) {
        ctx->out_urgent = NULL;
    }

    ctx->out_bytes -= o->len;
    ngx_free(o);
}


/* the session is over: whatever the client did not take is dropped */
void
ngx_mcp_ws_free_queue(ngx_mcp_conn_t *ctx)
{
    while (ctx->out) {
        ngx_mcp_ws_dequeue(ctx);
    }
}


/*
 * Bytes of ours the client has taken so far: what was written to the
 * socket less what the kernel still holds unacknowledged (Linux tells;
 * elsewhere what was written is the best we know).
 */
off_t
ngx_mcp_ws_client_took(ngx_mcp_conn_t *ctx)
{
    ngx_connection_t  *c = ctx->request->connection;

#if (NGX_LINUX)
    int  unacked;

    if (ioctl(c->fd, SIOCOUTQ, &unacked) == 0) {
        return c->sent - unacked;
    }
#endif

    return c->sent;
}
