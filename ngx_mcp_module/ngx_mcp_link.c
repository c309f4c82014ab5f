/*
 * The link: one persistent unix-socket connection per worker to mcpd,
 * multiplexing every WebSocket of the worker by session id (framing in
 * backend/src/link/mcp_link_codec.h, specified in docs/protocol.md).
 *
 * The socket is an ordinary nginx connection (ngx_event_connect_peer), so
 * it lives on the worker's event loop like any upstream.  Outgoing frames
 * are appended to one bounded buffer and written from a posted event, so
 * all frames produced in one loop iteration leave in one send().  When
 * mcpd goes away the WebSockets stay open; the link reconnects with
 * exponential backoff and jitter and, after mcpd's HELLO, re-OPENs every
 * live session (MCP_LINK_F_REPLAY for those mcpd had already seen).
 */

#include <sys/socket.h>

#include "ngx_mcp_module.h"

#define NGX_MCP_BACKOFF_MIN     100
#define NGX_MCP_BACKOFF_MAX     5000
#define NGX_MCP_CONNECT_TIMEOUT 2000
/* link buffers above this are freed once empty */
#define NGX_MCP_LINK_KEEP       (1024 * 1024)

static void ngx_mcp_link_connect(ngx_mcp_worker_t *wk);
static void ngx_mcp_link_reconnect_handler(ngx_event_t *ev);
static void ngx_mcp_link_read_handler(ngx_event_t *rev);
static void ngx_mcp_link_write_handler(ngx_event_t *wev);
static ngx_int_t ngx_mcp_link_send_out(ngx_mcp_worker_t *wk);
static void ngx_mcp_link_connected(ngx_mcp_worker_t *wk);
static void ngx_mcp_link_down(ngx_mcp_worker_t *wk, const char *why);
static ngx_int_t ngx_mcp_link_frame(ngx_mcp_worker_t *wk, mcp_link_frame_t *f);
static void ngx_mcp_link_replay(ngx_mcp_worker_t *wk);
static u_char *ngx_mcp_link_reserve(ngx_mcp_worker_t *wk, size_t size);
static ngx_int_t ngx_mcp_link_put(ngx_mcp_worker_t *wk, uint8_t type,
    uint8_t flags, uint64_t sid, u_char *p, size_t len);
static ngx_mcp_conn_t *ngx_mcp_link_session(ngx_mcp_worker_t *wk,
    uint64_t sid);
static void ngx_mcp_link_set_state(ngx_mcp_worker_t *wk, ngx_uint_t state);


static ngx_mcp_worker_t *
ngx_mcp_worker(void)
{
    return &ngx_mcp_main_conf()->worker;
}


ngx_int_t
ngx_mcp_link_init_worker(ngx_cycle_t *cycle)
{
    ngx_mcp_worker_t     *wk;
    ngx_mcp_main_conf_t  *mmcf;

    mmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_mcp_module);
    wk = &mmcf->worker;

    ngx_rbtree_init(&wk->sessions, &wk->sentinel, ngx_rbtree_insert_value);
    ngx_queue_init(&wk->live);
    ngx_queue_init(&wk->waiting);
    ngx_queue_init(&wk->status);

    wk->rbuf_size = 64 * 1024;
    wk->rbuf = ngx_alloc(wk->rbuf_size, cycle->log);
    if (wk->rbuf == NULL) {
        return NGX_ERROR;
    }

    wk->poll.handler = ngx_mcp_admission_poll;
    wk->poll.data = wk;
    wk->poll.log = cycle->log;

    wk->reconnect.handler = ngx_mcp_link_reconnect_handler;
    wk->reconnect.data = wk;
    wk->reconnect.log = cycle->log;
    wk->reconnect.cancelable = 1;

    wk->backoff = NGX_MCP_BACKOFF_MIN;

    if (mmcf->backend != NULL) {
        ngx_mcp_link_connect(wk);
    }

    return NGX_OK;
}


void
ngx_mcp_link_exit_worker(void)
{
    ngx_mcp_worker_t  *wk = ngx_mcp_worker();

    if (wk->conn) {
        ngx_close_connection(wk->conn);
        wk->conn = NULL;
    }

    ngx_free(wk->in);
    ngx_free(wk->out);
    ngx_free(wk->rbuf);
    wk->in = wk->out = wk->rbuf = NULL;
}


ngx_uint_t
ngx_mcp_link_up(void)
{
    return ngx_mcp_worker()->state == NGX_MCP_LINK_UP;
}


static void
ngx_mcp_link_set_state(ngx_mcp_worker_t *wk, ngx_uint_t state)
{
    wk->state = state;
    ngx_mcp_main_conf()->sh->workers[ngx_process_slot].link_state = state;
}


static void
ngx_mcp_link_connect(ngx_mcp_worker_t *wk)
{
    ngx_int_t             rc;
    ngx_url_t            *u;
    ngx_connection_t     *c;
    ngx_mcp_main_conf_t  *mmcf;

    mmcf = ngx_mcp_main_conf();
    u = mmcf->backend;

    ngx_memzero(&wk->peer, sizeof(ngx_peer_connection_t));
    wk->peer.sockaddr = u->addrs[0].sockaddr;
    wk->peer.socklen = u->addrs[0].socklen;
    wk->peer.name = &u->url;
    wk->peer.get = ngx_event_get_peer;
    wk->peer.log = ngx_cycle->log;
    wk->peer.log_error = NGX_ERROR_ERR;

    rc = ngx_event_connect_peer(&wk->peer);

    if (rc == NGX_ERROR || rc == NGX_BUSY || rc == NGX_DECLINED) {
        if (wk->peer.connection) {
            ngx_close_connection(wk->peer.connection);
        }
        ngx_mcp_link_down(wk, "connect failed");
        return;
    }

    c = wk->peer.connection;
    c->data = wk;
    c->read->handler = ngx_mcp_link_read_handler;
    c->write->handler = ngx_mcp_link_write_handler;
    wk->conn = c;

    if (rc == NGX_AGAIN) {
        ngx_mcp_link_set_state(wk, NGX_MCP_LINK_CONNECTING);
        ngx_add_timer(c->write, NGX_MCP_CONNECT_TIMEOUT);
        return;
    }

    ngx_mcp_link_connected(wk);
}


static void
ngx_mcp_link_connected(ngx_mcp_worker_t *wk)
{
    u_char            hello[MCP_LINK_HELLO_LEN];
    mcp_link_hello_t  h;

    if (wk->conn->write->timer_set) {
        ngx_del_timer(wk->conn->write);
    }

    ngx_mcp_link_set_state(wk, NGX_MCP_LINK_HELLO);

    h.min_version = MCP_LINK_VERSION;
    h.max_version = MCP_LINK_VERSION;
    h.pid = (uint32_t) ngx_pid;
    h.worker = (uint32_t) ngx_worker;

    mcp_link_hello_write(hello, &h);

    if (ngx_mcp_link_put(wk, MCP_LINK_HELLO, 0, 0, hello, sizeof(hello))
        != NGX_OK)
    {
        ngx_mcp_link_down(wk, "no memory");
    }
}


static void
ngx_mcp_link_down(ngx_mcp_worker_t *wk, const char *why)
{
    ngx_msec_t            delay;
    ngx_mcp_main_conf_t  *mmcf;

    mmcf = ngx_mcp_main_conf();

    if (wk->conn) {
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "mcp link to \"%V\" lost: %s", &mmcf->backend->url,
                      why);
        ngx_close_connection(wk->conn);
        wk->conn = NULL;
    }

    ngx_mcp_link_set_state(wk, NGX_MCP_LINK_DOWN);
    wk->in_len = 0;
    wk->out_pos = wk->out_len = 0;
    mmcf->sh->workers[ngx_process_slot].link_out_bytes = 0;

    ngx_mcp_status_link_down();

    if (ngx_exiting || ngx_terminate || ngx_quit) {
        return;
    }

    /* full jitter on the upper half: workers do not reconnect in step */
    delay = wk->backoff / 2 + (ngx_msec_t) ngx_random() % (wk->backoff / 2 + 1);
    wk->backoff = ngx_min(wk->backoff * 2, NGX_MCP_BACKOFF_MAX);

    if (!wk->reconnect.timer_set) {
        ngx_add_timer(&wk->reconnect, delay);
    }
}


static void
ngx_mcp_link_reconnect_handler(ngx_event_t *ev)
{
    ngx_mcp_worker_t  *wk = ev->data;

    wk->reconnects++;
    (void) ngx_atomic_fetch_add(
        &ngx_mcp_main_conf()->sh->workers[ngx_process_slot].link_reconnects,
        1);

    ngx_mcp_link_connect(wk);
}


static void
ngx_mcp_link_write_handler(ngx_event_t *wev)
{
    int                err = 0;
    socklen_t          len;
    ngx_connection_t  *c = wev->data;
    ngx_mcp_worker_t  *wk = c->data;

    if (wk->state == NGX_MCP_LINK_CONNECTING) {
        if (wev->timedout) {
            ngx_mcp_link_down(wk, "connect timed out");
            return;
        }

        len = sizeof(int);
        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, (void *) &err, &len) == -1
            || err != 0)
        {
            ngx_mcp_link_down(wk, "connect refused");
            return;
        }

        ngx_mcp_link_connected(wk);
        return;
    }

    if (ngx_mcp_link_send_out(wk) != NGX_OK) {
        ngx_mcp_link_down(wk, "send failed");
        return;
    }

    if (ngx_handle_write_event(wev, 0) != NGX_OK) {
        ngx_mcp_link_down(wk, "event error");
    }
}


/* write what the output buffer holds, as far as the socket takes it */
static ngx_int_t
ngx_mcp_link_send_out(ngx_mcp_worker_t *wk)
{
    ssize_t            n;
    ngx_connection_t  *c = wk->conn;

    while (wk->out_pos < wk->out_len) {
        n = c->send(c, wk->out + wk->out_pos, wk->out_len - wk->out_pos);

        if (n == NGX_AGAIN) {
            break;
        }

        if (n == NGX_ERROR) {
            return NGX_ERROR;
        }

        wk->out_pos += n;
    }

    if (wk->out_pos == wk->out_len) {
        wk->out_pos = wk->out_len = 0;

        if (wk->out_cap > NGX_MCP_LINK_KEEP) {
            ngx_free(wk->out);
            wk->out = NULL;
            wk->out_cap = 0;
        }
    }

    ngx_mcp_main_conf()->sh->workers[ngx_process_slot].link_out_bytes =
        wk->out_len - wk->out_pos;

    return NGX_OK;
}


static void
ngx_mcp_link_read_handler(ngx_event_t *rev)
{
    long               rc;
    size_t             need, off;
    ssize_t            n;
    u_char            *p;
    mcp_link_frame_t   f;
    ngx_connection_t  *c = rev->data;
    ngx_mcp_worker_t  *wk = c->data;

    for ( ;; ) {
        if (wk->in_cap - wk->in_len < 16384) {
            need = ngx_max(wk->in_cap * 2, (size_t) 65536);
            p = ngx_alloc(need, ngx_cycle->log);
            if (p == NULL) {
                ngx_mcp_link_down(wk, "no memory");
                return;
            }
            if (wk->in) {
                ngx_memcpy(p, wk->in, wk->in_len);
                ngx_free(wk->in);
            }
            wk->in = p;
            wk->in_cap = need;
        }

        n = c->recv(c, wk->in + wk->in_len, wk->in_cap - wk->in_len);

        if (n == NGX_AGAIN) {
            break;
        }

        if (n == 0 || n == NGX_ERROR) {
            ngx_mcp_link_down(wk, n == 0 ? "mcpd closed the link"
                                         : "recv failed");
            return;
        }

        wk->in_len += n;
        off = 0;

        for ( ;; ) {
            rc = mcp_link_frame_parse(wk->in + off, wk->in_len - off,
                                      MCP_LINK_MAX_PAYLOAD, &f, &need);
            if (rc == MCP_LINK_NEED_MORE) {
                break;
            }

            if (rc < 0) {
                ngx_mcp_link_down(wk, mcp_link_strerror(rc));
                return;
            }

            if (ngx_mcp_link_frame(wk, &f) != NGX_OK) {
                ngx_mcp_link_down(wk, "protocol error");
                return;
            }

            if (wk->conn == NULL) {
                return;
            }

            off += rc;
        }

        if (off) {
            ngx_memmove(wk->in, wk->in + off, wk->in_len - off);
            wk->in_len -= off;
        }

        /* a big frame passed: do not keep its buffer for ever */
        if (wk->in_len == 0 && wk->in_cap > NGX_MCP_LINK_KEEP) {
            ngx_free(wk->in);
            wk->in = NULL;
            wk->in_cap = 0;
            need = 0;
            continue;
        }

        /* make room for a frame bigger than the buffer */
        if (need > wk->in_cap - 16384) {
            p = ngx_alloc(need + 16384, ngx_cycle->log);
            if (p == NULL) {
                ngx_mcp_link_down(wk, "no memory");
                return;
            }
            ngx_memcpy(p, wk->in, wk->in_len);
            ngx_free(wk->in);
            wk->in = p;
            wk->in_cap = need + 16384;
        }
    }

    if (ngx_handle_read_event(rev, 0) != NGX_OK) {
        ngx_mcp_link_down(wk, "event error");
    }
}


static ngx_int_t
ngx_mcp_link_frame(ngx_mcp_worker_t *wk, mcp_link_frame_t *f)
{
    u_char            reason[MCP_LINK_CLOSE_REASON_MAX + 1];
    uint16_t          code;
    const uint8_t    *rp;
    size_t            rlen;
    ngx_mcp_conn_t   *ctx;
    mcp_link_hello_t  h;

    switch (f->type) {

    case MCP_LINK_HELLO:
        if (mcp_link_hello_read(f->payload, f->len, &h) != 0
            || h.min_version > MCP_LINK_VERSION
            || h.max_version < MCP_LINK_VERSION)
        {
            ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                          "mcp link: mcpd speaks no link version we know");
            return NGX_ERROR;
        }

        if (wk->state == NGX_MCP_LINK_HELLO) {
            ngx_mcp_link_set_state(wk, NGX_MCP_LINK_UP);
            wk->backoff = NGX_MCP_BACKOFF_MIN;
            ngx_log_error(NGX_LOG_INFO, ngx_cycle->log, 0,
                          "mcp link up");
            ngx_mcp_link_replay(wk);
        }
        return NGX_OK;

    case MCP_LINK_MESSAGE:
        ctx = ngx_mcp_link_session(wk, f->sid);
        if (ctx) {
            (void) ngx_mcp_ws_send_text(ctx, (u_char *) f->payload, f->len);
        }
        return NGX_OK;

    case MCP_LINK_CLOSE:
        if (f->sid == 0) {
            /* mcpd is going away (or refused our version): reconnect */
            return NGX_ERROR;
        }

        ctx = ngx_mcp_link_session(wk, f->sid);
        if (ctx == NULL) {
            return NGX_OK;
        }

        code = MCP_WS_CLOSE_NORMAL;
        rlen = 0;
        if (mcp_link_close_read(f->payload, f->len, &code, &rp, &rlen) != 0) {
            rlen = 0;
        }

        if (!mcp_ws_close_code_valid(code)) {
            code = MCP_WS_CLOSE_INTERNAL;
        }

        ngx_memcpy(reason, rp, rlen);
        reason[rlen] = '\0';

        ctx->opened = 0;    /* mcpd ended it: no CLOSE back */
        ngx_mcp_ws_close(ctx, code, rlen ? (char *) reason : NULL);
        return NGX_OK;

    case MCP_LINK_FLOW:
        ctx = ngx_mcp_link_session(wk, f->sid);
        if (ctx && f->len >= 1) {
            ngx_mcp_ws_pause_read(ctx,
                                  f->payload[0] == MCP_LINK_FLOW_PAUSE);
        }
        return NGX_OK;

    case MCP_LINK_STATS:
        if (f->flags & MCP_LINK_F_REPLY) {
            ngx_mcp_status_reply(f->sid, (u_char *) f->payload, f->len);
        }
        return NGX_OK;

    default:
        /* OPEN goes one way only; ignore rather than drop everyone */
        return NGX_OK;
    }
}


static ngx_mcp_conn_t *
ngx_mcp_link_session(ngx_mcp_worker_t *wk, uint64_t sid)
{
    ngx_rbtree_key_t    key = (ngx_rbtree_key_t) sid;
    ngx_rbtree_node_t  *node, *sentinel;

    node = wk->sessions.root;
    sentinel = wk->sessions.sentinel;

    while (node != sentinel) {
        if (key < node->key) {
            node = node->left;
        } else if (key > node->key) {
            node = node->right;
        } else {
            return (ngx_mcp_conn_t *) node;
        }
    }

    return NULL;
}


static void
ngx_mcp_link_replay(ngx_mcp_worker_t *wk)
{
    u_char           pause = MCP_LINK_FLOW_PAUSE;
    ngx_queue_t     *q;
    ngx_mcp_conn_t  *ctx;
    uint8_t          flags;

    for (q = ngx_queue_head(&wk->live);
         q != ngx_queue_sentinel(&wk->live);
         q = ngx_queue_next(q))
    {
        ctx = ngx_queue_data(q, ngx_mcp_conn_t, queue);

        if (ctx->close_sent || ctx->finalizing) {
            continue;
        }

        flags = ctx->opened ? MCP_LINK_F_REPLAY : 0;

        if (ngx_mcp_link_put(wk, MCP_LINK_OPEN, flags, ctx->sid, ctx->open,
                             ctx->open_len) != NGX_OK)
        {
            return;
        }

        ctx->opened = 1;

        /* a new mcpd starts the session unpaused; the client did not
           catch up meanwhile */
        if (ctx->flow_paused
            && ngx_mcp_link_put(wk, MCP_LINK_FLOW, 0, ctx->sid, &pause, 1)
               != NGX_OK)
        {
            return;
        }
    }
}


/* room for size more bytes at the end of the output buffer, or NULL */
static u_char *
ngx_mcp_link_reserve(ngx_mcp_worker_t *wk, size_t size)
{
    u_char  *p;
    size_t   pending, cap;

    pending = wk->out_len - wk->out_pos;

    if (pending + size > NGX_MCP_LINK_OUT_MAX && pending > 0) {
        return NULL;
    }

    if (wk->out_pos && wk->out_len + size > wk->out_cap) {
        ngx_memmove(wk->out, wk->out + wk->out_pos, pending);
        wk->out_pos = 0;
        wk->out_len = pending;
    }

    if (wk->out_len + size > wk->out_cap) {
        cap = ngx_max(wk->out_cap * 2, wk->out_len + size);
        cap = ngx_max(cap, (size_t) 65536);

        p = ngx_alloc(cap, ngx_cycle->log);
        if (p == NULL) {
            return NULL;
        }

        if (wk->out) {
            ngx_memcpy(p, wk->out, wk->out_len);
            ngx_free(wk->out);
        }

        wk->out = p;
        wk->out_cap = cap;
    }

    return wk->out + wk->out_len;
}


static ngx_int_t
ngx_mcp_link_put(ngx_mcp_worker_t *wk, uint8_t type, uint8_t flags,
    uint64_t sid, u_char *p, size_t len)
{
    u_char  *dst;

    if (wk->conn == NULL) {
        return NGX_DECLINED;
    }

    dst = ngx_mcp_link_reserve(wk, MCP_LINK_HDR_LEN + len);
    if (dst == NULL) {
        return NGX_DECLINED;
    }

    mcp_link_hdr_write(dst, type, flags, sid, (uint32_t) len);
    if (len) {
        ngx_memcpy(dst + MCP_LINK_HDR_LEN, p, len);
    }

    wk->out_len += MCP_LINK_HDR_LEN + len;

    /* one send() for everything queued in this loop iteration */
    if (!wk->conn->write->posted && wk->state != NGX_MCP_LINK_CONNECTING) {
        ngx_post_event(wk->conn->write, &ngx_posted_events);
    }

    return NGX_OK;
}


ngx_int_t
ngx_mcp_link_open(ngx_mcp_conn_t *ctx)
{
    ngx_mcp_worker_t  *wk = ngx_mcp_worker();

    if (ngx_mcp_link_build_open(ctx) != NGX_OK) {
        return NGX_ERROR;
    }

    if (wk->state == NGX_MCP_LINK_UP
        && ngx_mcp_link_put(wk, MCP_LINK_OPEN, 0, ctx->sid, ctx->open,
                            ctx->open_len) == NGX_OK)
    {
        ctx->opened = 1;
    }

    return NGX_OK;
}


ngx_int_t
ngx_mcp_link_message(ngx_mcp_conn_t *ctx, u_char *p, size_t len)
{
    ngx_mcp_worker_t  *wk = ngx_mcp_worker();

    if (wk->state != NGX_MCP_LINK_UP || !ctx->opened) {
        return NGX_DECLINED;
    }

    return ngx_mcp_link_put(wk, MCP_LINK_MESSAGE, 0, ctx->sid, p, len);
}


void
ngx_mcp_link_close(ngx_mcp_conn_t *ctx, uint16_t code, const char *reason,
    size_t reason_len)
{
    u_char             payload[2 + MCP_LINK_CLOSE_REASON_MAX];
    size_t             n;
    ngx_mcp_worker_t  *wk = ngx_mcp_worker();

    if (!ctx->opened) {
        return;
    }

    ctx->opened = 0;

    if (wk->state != NGX_MCP_LINK_UP) {
        return;     /* not replayed after reconnecting: mcpd forgets it */
    }

    if (reason_len > MCP_LINK_CLOSE_REASON_MAX) {
        reason_len = MCP_LINK_CLOSE_REASON_MAX;
    }

    n = mcp_link_close_write(payload, code, reason, reason_len);

    (void) ngx_mcp_link_put(wk, MCP_LINK_CLOSE, 0, ctx->sid, payload, n);
}


/*
 * FLOW leaves at once rather than with the loop's other frames: a pause
 * is usually decided inside the link's read loop, and every message mcpd
 * produces before it sees the pause still lands in this client's queue.
 */
void
ngx_mcp_link_flow(ngx_mcp_conn_t *ctx, ngx_uint_t pause)
{
    u_char             b = (u_char) pause;
    ngx_mcp_worker_t  *wk = ngx_mcp_worker();

    if (wk->state != NGX_MCP_LINK_UP || !ctx->opened) {
        return;
    }

    if (ngx_mcp_link_put(wk, MCP_LINK_FLOW, 0, ctx->sid, &b, 1) != NGX_OK) {
        return;
    }

    /* an error is met again by the write event ngx_mcp_link_put posted,
       which takes the link down there, not under the read loop */
    (void) ngx_mcp_link_send_out(wk);
}


ngx_int_t
ngx_mcp_link_stats_request(uint64_t *tag, ngx_uint_t prometheus)
{
    ngx_mcp_worker_t  *wk = ngx_mcp_worker();

    if (wk->state != NGX_MCP_LINK_UP) {
        return NGX_DECLINED;
    }

    *tag = ++wk->next_tag;

    if (prometheus) {
        return ngx_mcp_link_put(wk, MCP_LINK_STATS, MCP_LINK_F_REQUEST, *tag,
                                (u_char *) MCP_LINK_STATS_PROMETHEUS,
                                sizeof(MCP_LINK_STATS_PROMETHEUS) - 1);
    }

    return ngx_mcp_link_put(wk, MCP_LINK_STATS, MCP_LINK_F_REQUEST, *tag,
                            NULL, 0);
}
