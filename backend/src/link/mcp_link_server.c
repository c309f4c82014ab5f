/*
 * The link server: accept links from nginx workers, cut their byte streams
 * into frames, act on each frame, write replies.  See docs/protocol.md.
 *
 * A link that breaks the protocol (a malformed or oversized frame, a frame
 * before HELLO, a session frame on sid 0) is dropped on its own: the other
 * links and mcpd carry on, and the worker reconnects and replays.
 */

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/mcp_daemon.h"
#include "link/mcp_link_codec.h"
#include "link/mcp_link_server.h"

#define MCP_LINK_READ_CHUNK     65536

#define MCP_LINK_PEND_MIN       16384

typedef struct mcp_link_wreq_s {
    uv_write_t    req;
    mcp_link_t   *link;
    size_t        len;
    size_t        cap;
    uint8_t       data[];
} mcp_link_wreq_t;

static void mcp_link_on_close(uv_handle_t *h);


/* ------------------------------------------------------------ output */

static void
mcp_link_on_write(uv_write_t *req, int status)
{
    mcp_link_wreq_t  *w = (mcp_link_wreq_t *) req;
    mcp_link_t       *l = w->link;

    l->out_bytes -= w->len;
    free(w);

    if (status < 0 && status != UV_ECANCELED && !l->closing) {
        mcp_link_drop(l, uv_strerror(status));
        return;
    }

    /* resume producers once the queue has drained well below the limit,
       so that they do not flap around the boundary */
    if (l->congested && l->out_bytes <= l->srv->buf_limit / 2
        && !l->closing)
    {
        l->congested = 0;
        mcp_link_sessions_resume(l);
    }
}


/* room for n more bytes in l->pend */
static int
mcp_link_reserve(mcp_link_t *l, size_t n)
{
    mcp_link_wreq_t  *w = l->pend;
    size_t            cap;

    if (w != NULL && w->len + n <= w->cap) {
        return 0;
    }
    cap = w ? w->cap * 2 : MCP_LINK_PEND_MIN;
    while (cap < (w ? w->len : 0) + n) {
        cap *= 2;
    }
    w = realloc(w, sizeof(*w) + cap);
    if (w == NULL) {
        return -1;
    }
    if (l->pend == NULL) {
        w->link = l;
        w->len = 0;
    }
    w->cap = cap;
    l->pend = w;
    return 0;
}


/* hand l->pend to libuv: one write for every frame queued since the last */
static void
mcp_link_flush(mcp_link_t *l)
{
    mcp_link_wreq_t  *w = l->pend;
    uv_buf_t          buf;
    int               rc;

    if (w == NULL) {
        return;
    }
    l->pend = NULL;
    if (l->closing) {
        l->out_bytes -= w->len;     /* dropped: nobody to write to */
        free(w);
        return;
    }
    buf = uv_buf_init((char *) w->data, (unsigned) w->len);
    rc = uv_write(&w->req, (uv_stream_t *) &l->pipe, &buf, 1,
                  mcp_link_on_write);
    if (rc < 0) {
        l->out_bytes -= w->len;
        free(w);
        mcp_link_drop(l, uv_strerror(rc));
    }
}


/* the loop is about to wait: write what this iteration produced */
static void
mcp_link_on_prepare(uv_prepare_t *h)
{
    mcp_link_server_t  *srv = h->data;
    mcp_link_t         *l, *next;

    l = srv->dirty;
    srv->dirty = NULL;
    for ( ; l; l = next) {
        next = l->flush_next;
        l->flush_next = NULL;
        l->flush_queued = 0;
        mcp_link_flush(l);
    }
    if (srv->dirty == NULL) {
        uv_prepare_stop(h);
    }
}


static void
mcp_link_unqueue(mcp_link_t *l)
{
    mcp_link_t  **p;

    if (!l->flush_queued) {
        return;
    }
    for (p = &l->srv->dirty; *p; p = &(*p)->flush_next) {
        if (*p == l) {
            *p = l->flush_next;
            break;
        }
    }
    l->flush_queued = 0;
    l->flush_next = NULL;
}


int
mcp_link_send(mcp_link_t *l, uint8_t type, uint8_t flags, uint64_t sid,
    const void *payload, size_t len)
{
    mcp_link_server_t  *srv = l->srv;
    mcp_link_wreq_t    *w;
    size_t              n = MCP_LINK_HDR_LEN + len;

    if (l->closing || len > MCP_LINK_MAX_PAYLOAD
        || mcp_link_reserve(l, n) != 0)
    {
        return -1;
    }

    w = l->pend;
    mcp_link_hdr_write(w->data + w->len, type, flags, sid, (uint32_t) len);
    if (len) {
        memcpy(w->data + w->len + MCP_LINK_HDR_LEN, payload, len);
    }
    w->len += n;

    l->out_bytes += n;
    if (l->out_bytes > srv->buf_limit) {
        l->congested = 1;
    }

    if (!l->flush_queued) {
        l->flush_queued = 1;
        l->flush_next = srv->dirty;
        if (srv->dirty == NULL) {
            uv_prepare_start(&srv->flusher, mcp_link_on_prepare);
        }
        srv->dirty = l;
    }
    return 0;
}


/* ------------------------------------------------------------ lifecycle */

void
mcp_link_drop(mcp_link_t *l, const char *why)
{
    mcp_daemon_t  *d = l->srv->d;

    if (l->closing) {
        return;
    }

    l->closing = 1;
    if (l->hello_done) {
        mcp_log_info(&d->log, "link", "link #%llu (worker pid %u) closed: "
                     "%s", (unsigned long long) l->id, (unsigned) l->peer_pid,
                     why);
    } else {
        /* probes (is mcpd up?) connect and leave without a word */
        mcp_log_debug(&d->log, "link", "link #%llu closed before HELLO: %s",
                      (unsigned long long) l->id, why);
    }

    mcp_link_sessions_detach_all(l);
    uv_read_stop((uv_stream_t *) &l->pipe);
    uv_close((uv_handle_t *) &l->pipe, mcp_link_on_close);
}


/* The peer broke the protocol: say so once, loudly, and drop the link. */
static void
mcp_link_protocol_error(mcp_link_t *l, const char *why)
{
    mcp_daemon_t  *d = l->srv->d;

    if (l->closing) {
        return;
    }

    d->links_dropped++;
    mcp_log_warn(&d->log, "link", "link #%llu (worker pid %u): protocol "
                 "error: %s; dropping the link", (unsigned long long) l->id,
                 (unsigned) l->peer_pid, why);
    mcp_link_drop(l, why);
}


static void
mcp_link_on_close(uv_handle_t *h)
{
    mcp_link_t         *l = (mcp_link_t *) h;
    mcp_link_server_t  *srv = l->srv;

    if (l->prev) {
        l->prev->next = l->next;
    } else {
        srv->links = l->next;
    }
    if (l->next) {
        l->next->prev = l->prev;
    }

    srv->nlinks--;
    srv->d->nlinks = srv->nlinks;

    mcp_link_unqueue(l);
    free(l->pend);
    free(l->buckets);
    free(l->rbuf);
    free(l);
}


static void
mcp_link_on_shutdown(uv_shutdown_t *req, int status)
{
    mcp_link_t  *l = req->data;

    if (!uv_is_closing((uv_handle_t *) &l->pipe)) {
        uv_close((uv_handle_t *) &l->pipe, mcp_link_on_close);
    }
}


/*
 * Close after the queued output (a goodbye CLOSE) has been written: a bare
 * uv_close would cancel it.  Sessions are detached now; nothing more is read.
 */
static void
mcp_link_finish(mcp_link_t *l)
{
    mcp_link_flush(l);      /* the goodbye is still in pend */
    mcp_link_unqueue(l);
    mcp_link_sessions_detach_all(l);
    l->closing = 1;
    uv_read_stop((uv_stream_t *) &l->pipe);
    l->shutdown.data = l;
    if (uv_shutdown(&l->shutdown, (uv_stream_t *) &l->pipe,
                    mcp_link_on_shutdown) != 0)
    {
        uv_close((uv_handle_t *) &l->pipe, mcp_link_on_close);
    }
}


/* ------------------------------------------------------------ frames */

static int
mcp_link_on_hello(mcp_link_t *l, const mcp_link_frame_t *f)
{
    mcp_daemon_t      *d = l->srv->d;
    mcp_link_hello_t   h, reply;
    uint8_t            buf[MCP_LINK_HELLO_LEN];
    char               reason[100];
    size_t             n;
    uint8_t            cbuf[2 + sizeof(reason)];

    if (l->hello_done || f->sid != 0) {
        mcp_link_protocol_error(l, "unexpected HELLO");
        return -1;
    }

    if (mcp_link_hello_read(f->payload, f->len, &h) != 0) {
        mcp_link_protocol_error(l, "malformed HELLO");
        return -1;
    }

    l->peer_pid = h.pid;
    l->peer_worker = h.worker;

    if (h.min_version > MCP_LINK_VERSION || h.max_version < 1
        || h.min_version > h.max_version)
    {
        n = (size_t) snprintf(reason, sizeof(reason),
                              "no common link version: mcpd speaks 1..%d",
                              MCP_LINK_VERSION);
        n = mcp_link_close_write(cbuf, 1002, reason, n);
        mcp_link_send(l, MCP_LINK_CLOSE, 0, 0, cbuf, n);
        mcp_log_warn(&d->log, "link", "link #%llu: worker pid %u offers "
                     "versions %u..%u, mcpd speaks 1..%d: refused",
                     (unsigned long long) l->id, (unsigned) h.pid,
                     (unsigned) h.min_version, (unsigned) h.max_version,
                     MCP_LINK_VERSION);
        mcp_link_finish(l);
        return -1;
    }

    l->version = h.max_version < MCP_LINK_VERSION ? h.max_version
                                                  : MCP_LINK_VERSION;
    l->hello_done = 1;

    memset(&reply, 0, sizeof(reply));
    reply.min_version = l->version;
    reply.max_version = l->version;
    reply.pid = (uint32_t) getpid();
    n = mcp_link_hello_write(buf, &reply);

    mcp_log_info(&d->log, "link", "link #%llu: worker pid %u slot %u "
                 "speaks version %u", (unsigned long long) l->id,
                 (unsigned) h.pid, (unsigned) h.worker, (unsigned) l->version);

    return mcp_link_send(l, MCP_LINK_HELLO, 0, 0, buf, n);
}


static int
mcp_link_on_stats(mcp_link_t *l, const mcp_link_frame_t *f)
{
    json_t  *o;
    char    *text;
    int      rc;

    if (f->flags & MCP_LINK_F_REPLY) {
        mcp_link_protocol_error(l, "STATS reply sent to mcpd");
        return -1;
    }

    if (f->len == sizeof(MCP_LINK_STATS_PROMETHEUS) - 1
        && memcmp(f->payload, MCP_LINK_STATS_PROMETHEUS, f->len) == 0)
    {
        text = mcp_daemon_stats_prometheus(l->srv->d);
    } else {
        o = mcp_daemon_stats_json(l->srv->d);
        text = o ? json_dumps(o, JSON_COMPACT) : NULL;
        json_decref(o);
    }
    if (text == NULL) {
        text = strdup("{}");
        if (text == NULL) {
            return 0;
        }
    }

    rc = mcp_link_send(l, MCP_LINK_STATS, MCP_LINK_F_REPLY, f->sid, text,
                       strlen(text));
    free(text);
    return rc;
}


static int
mcp_link_on_open(mcp_link_t *l, const mcp_link_frame_t *f)
{
    mcp_daemon_t   *d = l->srv->d;
    mcp_session_t  *s;
    mcp_err_t       err;
    size_t          i;

    s = mcp_session_open(l, f->sid, (f->flags & MCP_LINK_F_REPLAY) != 0,
                         f->payload, f->len, &err);
    if (s == NULL) {
        mcp_link_protocol_error(l, err.msg);
        return -1;
    }
    for (i = 0; i < d->non_open; i++) {
        ((mcp_session_hook_pt) d->on_open[i].fn)(s, d->on_open[i].ctx);
    }
    return 0;
}


static int
mcp_link_on_session_frame(mcp_link_t *l, const mcp_link_frame_t *f)
{
    mcp_session_t  *s;
    mcp_daemon_t   *d = l->srv->d;
    uint16_t        code;
    const uint8_t  *reason;
    size_t          rlen, n;
    uint8_t         cbuf[64];

    s = mcp_session_find(l, f->sid);

    switch (f->type) {

    case MCP_LINK_MESSAGE:
        if (s == NULL) {
            /* the module believes in a session we do not know (we closed
               it, or missed its OPEN): tell it to close the client */
            n = mcp_link_close_write(cbuf, 1011, "unknown session", 15);
            return mcp_link_send(l, MCP_LINK_CLOSE, 0, f->sid, cbuf, n);
        }
        d->messages_in++;
        mcp_dispatch_message(s, (const char *) f->payload, f->len);
        return 0;

    case MCP_LINK_CLOSE:
        if (mcp_link_close_read(f->payload, f->len, &code, &reason, &rlen)) {
            mcp_link_protocol_error(l, "malformed CLOSE");
            return -1;
        }
        if (s != NULL) {
            mcp_log_debug(&d->log, "link", "session %llu closed by client "
                          "(%u)", (unsigned long long) f->sid,
                          (unsigned) code);
            mcp_session_detach(s);
        }
        return 0;

    case MCP_LINK_FLOW:
        if (f->len != 1 || f->payload[0] > MCP_LINK_FLOW_PAUSE) {
            mcp_link_protocol_error(l, "malformed FLOW");
            return -1;
        }
        if (s != NULL) {
            mcp_session_set_flow(s, f->payload[0] == MCP_LINK_FLOW_PAUSE);
        }
        return 0;
    }

    return 0;
}


/* Act on one frame; -1 when the link was dropped. */
static int
mcp_link_on_frame(mcp_link_t *l, const mcp_link_frame_t *f)
{
    if (f->type == MCP_LINK_HELLO) {
        return mcp_link_on_hello(l, f);
    }

    if (!l->hello_done) {
        mcp_link_protocol_error(l, "frame before HELLO");
        return -1;
    }

    if (f->type == MCP_LINK_STATS) {
        return mcp_link_on_stats(l, f);
    }

    if (f->sid == 0) {
        if (f->type == MCP_LINK_FLOW && f->len == 1
            && f->payload[0] <= MCP_LINK_FLOW_PAUSE)
        {
            /* the whole worker is congested */
            l->flow_paused = f->payload[0] == MCP_LINK_FLOW_PAUSE;
            if (!l->flow_paused) {
                mcp_link_sessions_resume(l);
            }
            return 0;
        }
        mcp_link_protocol_error(l, "session frame on sid 0");
        return -1;
    }

    if (f->type == MCP_LINK_OPEN) {
        return mcp_link_on_open(l, f);
    }

    return mcp_link_on_session_frame(l, f);
}


static void
mcp_link_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    mcp_link_t  *l = (mcp_link_t *) h;
    uint8_t     *p;
    size_t       cap;

    if (l->rcap - l->rlen < MCP_LINK_READ_CHUNK / 4) {
        cap = l->rcap ? l->rcap * 2 : MCP_LINK_READ_CHUNK;
        p = realloc(l->rbuf, cap);
        if (p == NULL) {
            *buf = uv_buf_init(NULL, 0);
            return;
        }
        l->rbuf = p;
        l->rcap = cap;
    }

    *buf = uv_buf_init((char *) l->rbuf + l->rlen,
                       (unsigned) (l->rcap - l->rlen));
}


/* Parse every whole frame in rbuf; keep the rest.  -1: link dropped. */
static int
mcp_link_parse(mcp_link_t *l)
{
    mcp_link_frame_t  f;
    size_t            off = 0, need = 0, cap;
    long              rc;
    uint8_t          *p;

    while (!l->closing) {
        rc = mcp_link_frame_parse(l->rbuf + off, l->rlen - off,
                                  l->srv->max_payload, &f, &need);
        if (rc == MCP_LINK_NEED_MORE) {
            break;
        }
        if (rc < 0) {
            mcp_link_protocol_error(l, mcp_link_strerror(rc));
            return -1;
        }
        if (mcp_link_on_frame(l, &f) != 0 && l->closing) {
            return -1;
        }
        off += (size_t) rc;
    }

    if (l->closing) {
        return -1;
    }

    if (off) {
        memmove(l->rbuf, l->rbuf + off, l->rlen - off);
        l->rlen -= off;
    }

    /* a frame announced larger than the buffer: make room for all of it
       now (its size was checked against the limit from the header) */
    if (need > l->rcap) {
        cap = need + MCP_LINK_READ_CHUNK;
        p = realloc(l->rbuf, cap);
        if (p == NULL) {
            mcp_link_drop(l, "out of memory");
            return -1;
        }
        l->rbuf = p;
        l->rcap = cap;
    }

    return 0;
}


static void
mcp_link_on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    mcp_link_t  *l = (mcp_link_t *) stream;

    if (nread < 0) {
        mcp_link_drop(l, nread == UV_EOF ? "worker disconnected"
                                         : uv_strerror((int) nread));
        return;
    }

    if (nread == 0) {
        if (buf->base == NULL) {
            mcp_link_drop(l, "out of memory");
        }
        return;
    }

    l->rlen += (size_t) nread;
    (void) mcp_link_parse(l);
}


/* ------------------------------------------------------------ listener */

static void
mcp_link_on_connection(uv_stream_t *server, int status)
{
    mcp_link_server_t  *srv = server->data;
    mcp_daemon_t       *d = srv->d;
    mcp_link_t         *l;

    if (status < 0) {
        mcp_log_warn(&d->log, "link", "accept: %s", uv_strerror(status));
        return;
    }

    l = calloc(1, sizeof(*l));
    if (l == NULL || uv_pipe_init(d->loop, &l->pipe, 0) != 0) {
        free(l);
        return;
    }

    if (uv_accept(server, (uv_stream_t *) &l->pipe) != 0) {
        uv_close((uv_handle_t *) &l->pipe, (uv_close_cb) free);
        return;
    }

    l->srv = srv;
    l->id = ++srv->next_id;

    if (srv->stopping || srv->nlinks >= (size_t) d->conf->daemon.max_links) {
        mcp_log_warn(&d->log, "link", "link refused: %s",
                     srv->stopping ? "stopping" : "daemon.max_links reached");
        uv_close((uv_handle_t *) &l->pipe, (uv_close_cb) free);
        return;
    }

    l->next = srv->links;
    if (srv->links) {
        srv->links->prev = l;
    }
    srv->links = l;
    srv->nlinks++;
    d->nlinks = srv->nlinks;

    uv_read_start((uv_stream_t *) &l->pipe, mcp_link_alloc,
                  mcp_link_on_read);
}


/*
 * A socket file already there: if something answers on it, another mcpd is
 * running and we must not steal its path; if nothing does, it is left over
 * from a crash and can go.  A plain connect(2) at startup, before the loop
 * runs, is the simplest honest probe.
 */
static int
mcp_link_check_stale(const char *path, mcp_err_t *err)
{
    struct stat         st;
    struct sockaddr_un  sa;
    int                 fd, rc;

    if (lstat(path, &st) != 0) {
        return 0;
    }

    if (!S_ISSOCK(st.st_mode)) {
        mcp_err_set(err, NULL, "%s exists and is not a socket", path);
        return -1;
    }

    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof(sa.sun_path)) {
        mcp_err_set(err, NULL, "socket path too long: %s", path);
        return -1;
    }
    strcpy(sa.sun_path, path);

    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        mcp_err_set(err, NULL, "socket: %s", strerror(errno));
        return -1;
    }
    rc = connect(fd, (struct sockaddr *) &sa, sizeof(sa));
    close(fd);

    if (rc == 0) {
        mcp_err_set(err, NULL, "another mcpd is listening on %s", path);
        return -1;
    }

    if (unlink(path) != 0 && errno != ENOENT) {
        mcp_err_set(err, NULL, "cannot remove stale socket %s: %s", path,
                    strerror(errno));
        return -1;
    }

    return 0;
}


int
mcp_link_server_start(mcp_link_server_t *srv, mcp_daemon_t *d,
    const char *path, mcp_err_t *err)
{
    int  rc;

    memset(srv, 0, sizeof(*srv));
    srv->d = d;
    srv->max_payload = (uint32_t) d->conf->daemon.max_frame_size;
    srv->buf_limit = (size_t) d->conf->daemon.link_buffer_size;

    if (mcp_link_check_stale(path, err) != 0) {
        return -1;
    }

    srv->path = strdup(path);
    if (srv->path == NULL) {
        mcp_err_set(err, NULL, "out of memory");
        return -1;
    }

    uv_pipe_init(d->loop, &srv->listener, 0);
    srv->listener.data = srv;
    uv_prepare_init(d->loop, &srv->flusher);
    srv->flusher.data = srv;

    rc = uv_pipe_bind(&srv->listener, path);
    if (rc == 0) {
        rc = uv_listen((uv_stream_t *) &srv->listener, 128,
                       mcp_link_on_connection);
    }

    if (rc != 0) {
        mcp_err_set(err, NULL, "listen on %s: %s", path, uv_strerror(rc));
        uv_close((uv_handle_t *) &srv->listener, NULL);
        uv_close((uv_handle_t *) &srv->flusher, NULL);
        return -1;
    }

    /* nginx workers may run as another user than mcpd */
    (void) chmod(path, 0666);

    srv->listening = 1;
    d->links = srv;
    mcp_log_info(&d->log, "link", "listening on %s", path);
    return 0;
}


void
mcp_link_server_close_listener(mcp_link_server_t *srv)
{
    if (srv->listening) {
        srv->listening = 0;
        uv_close((uv_handle_t *) &srv->listener, NULL);
        (void) unlink(srv->path);
    }
}


void
mcp_link_server_stop(mcp_link_server_t *srv)
{
    mcp_link_t  *l;
    uint8_t      cbuf[64];
    size_t       n;

    if (srv->stopping) {
        return;
    }
    srv->stopping = 1;
    mcp_link_server_close_listener(srv);

    /* goodbye on sid 0, then let queued output drain before closing */
    n = mcp_link_close_write(cbuf, 1001, "mcpd shutting down", 18);
    for (l = srv->links; l; l = l->next) {
        if (l->closing) {
            continue;
        }
        mcp_link_send(l, MCP_LINK_CLOSE, 0, 0, cbuf, n);
        mcp_link_finish(l);
    }
    /* every link is closing now: nothing more to flush */
    uv_close((uv_handle_t *) &srv->flusher, NULL);
}


void
mcp_link_server_abort(mcp_link_server_t *srv)
{
    mcp_link_t  *l;

    for (l = srv->links; l; l = l->next) {
        if (!uv_is_closing((uv_handle_t *) &l->pipe)) {
            uv_close((uv_handle_t *) &l->pipe, mcp_link_on_close);
        }
    }
}


void
mcp_link_server_free(mcp_link_server_t *srv)
{
    free(srv->path);
    srv->path = NULL;
}
