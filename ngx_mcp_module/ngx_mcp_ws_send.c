/*
 * The send queue of an upgraded connection: frames for the client, each
 * malloc'ed and freed as soon as the socket took it, written from the
 * connection's write event.  Bounded by mcp_send_buffer_size, with FLOW
 * to mcpd so that a slow client slows its producer (see ngx_mcp_ws.c for
 * the rest of the connection).
 */

#include "ngx_mcp_module.h"

#define ngx_mcp_sh()  (ngx_mcp_main_conf()->sh)


/*
 * A message from mcpd.  The send queue is bounded by mcp_send_buffer_size:
 * past half of it mcpd is asked to pause this session (FLOW); a message
 * that does not fit while older ones are still queued means the client is
 * not reading at all, and it is closed with 1008.  A single message larger
 * than the buffer is still sent when the queue is empty.
 */
ngx_int_t
ngx_mcp_ws_send_text(ngx_mcp_conn_t *ctx, u_char *data, size_t len)
{
    ngx_mcp_sh_t  *sh;

    if (ctx->close_sent || ctx->finalizing) {
        return NGX_OK;
    }

    sh = ngx_mcp_sh();

    if (ctx->out_bytes && ctx->out_bytes + len > ctx->conf->send_buffer_size)
    {
        (void) ngx_atomic_fetch_add(&sh->backpressure_close, 1);
        ngx_log_error(NGX_LOG_INFO, ctx->request->connection->log, 0,
                      "WebSocket send buffer full (%uz bytes queued)",
                      ctx->out_bytes);
        ngx_mcp_ws_close(ctx, MCP_WS_CLOSE_POLICY,
                         "send buffer overflow: the client is not reading");
        return NGX_OK;
    }

    if (ngx_mcp_ws_queue(ctx, MCP_WS_OP_TEXT, data, len) != NGX_OK) {
        ngx_mcp_ws_close(ctx, MCP_WS_CLOSE_INTERNAL, "out of memory");
        return NGX_OK;
    }

    (void) ngx_atomic_fetch_add(&sh->messages_out, 1);
    ctx->last_active = ngx_current_msec;

    if (!ctx->flow_paused && ctx->out_bytes > ctx->conf->send_buffer_size / 2)
    {
        ctx->flow_paused = 1;
        (void) ngx_atomic_fetch_add(&sh->backpressure_pause, 1);
        ngx_mcp_link_flow(ctx, MCP_LINK_FLOW_PAUSE);
    }

    (void) ngx_mcp_ws_flush(ctx);

    return NGX_OK;
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

    if (ctx->out_last) {
        ctx->out_last->next = o;
    } else {
        ctx->out = o;
    }

    ctx->out_last = o;
    ctx->out_bytes += o->len;

    return NGX_OK;
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
        ctx->out = o->next;
        if (ctx->out == NULL) {
            ctx->out_last = NULL;
        }
        ctx->out_bytes -= o->len;
        ngx_free(o);
    }

    if (ctx->flow_paused && !ctx->close_sent) {
        ctx->flow_paused = 0;
        ngx_mcp_link_flow(ctx, MCP_LINK_FLOW_RESUME);
    }

    if (ctx->close_sent && (ctx->close_rcvd || ctx->failed)) {
        /* both closes exchanged and ours is out: the server closes TCP */
        ngx_mcp_ws_destroy(ctx);
        return NGX_DONE;
    }

    return NGX_OK;

again:

    if (ngx_handle_write_event(c->write, 0) != NGX_OK) {
        ngx_mcp_ws_destroy(ctx);
        return NGX_DONE;
    }

    return NGX_OK;
}


/* the session is over: whatever the client did not take is dropped */
void
ngx_mcp_ws_free_queue(ngx_mcp_conn_t *ctx)
{
    ngx_mcp_out_t  *o;

    while (ctx->out) {
        o = ctx->out;
        ctx->out = o->next;
        ngx_free(o);
    }

    ctx->out_last = NULL;
    ctx->out_bytes = 0;
}
