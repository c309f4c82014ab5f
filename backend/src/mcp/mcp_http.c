/*
 * Streamable HTTP transport (MCP 2025-03-26 and later), on libcurl's
 * multi-socket API driven by the daemon's libuv loop: no thread, no
 * blocking call.
 *
 *  - every message is a POST; the answer is JSON or an SSE stream that
 *    carries the request's notifications, server requests and its result;
 *  - Mcp-Session-Id from the initialize answer goes on every later request
 *    (with MCP-Protocol-Version); a 404 (or the 400 "no valid session" some
 *    servers send) means the session expired: the transport reports itself
 *    closed and the server object initializes a new one;
 *  - an SSE stream that ends before the result resumes with a GET carrying
 *    Last-Event-ID after the server's "retry" delay (SEP-1699); that and
 *    the standalone GET stream are in mcp_http_stream.c;
 *  - close() sends DELETE for the session and frees everything once curl
 *    is done with it.
 *
 * curl is never re-entered from its own callbacks: sends and teardown are
 * queued and run from a zero-delay libuv timer.
 */

#include "mcp/mcp_http_int.h"
#include "mcp/mcp_jsonrpc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MCP_HTTP_DELETE_TIMEOUT_MS 2000

static void mcp_http_kick(mcp_http_t *h);


/* ------------------------------------------------------------ plumbing */

static void
mcp_http_free(mcp_http_t *h)
{
    curl_slist_free_all(h->extra);
    free(h->url);
    free(h);
}


static void
mcp_http_handle_closed(uv_handle_t *hd)
{
    mcp_http_t  *h = hd->data;

    if (--h->handles == 0) {
        mcp_http_free(h);
    }
}


static void
mcp_http_sock_closed(uv_handle_t *hd)
{
    mcp_http_sock_t  *s = (mcp_http_sock_t *) hd;
    mcp_http_t       *h = s->h;

    free(s);
    if (--h->handles == 0) {
        mcp_http_free(h);
    }
}


void
mcp_http_report(mcp_http_t *h, const char *why)
{
    if (h->dead || h->closing) {
        return;
    }
    h->dead = 1;
    mcp_log_warn(h->env.log, "mcp", "%s: %s", h->name, why);
    h->env.cb.closed(h->env.cb.ctx, why, 0);
    mcp_http_kick(h);    /* tear down: nobody will call close() */
}


void
mcp_http_req_free(mcp_http_req_t *r)
{
    if (r->easy) {
        curl_easy_cleanup(r->easy);
    }
    curl_slist_free_all(r->hdrs);
    mcp_sse_free(&r->sse);
    free(r->body);
    free(r->buf);
    free(r);
}


static void
mcp_http_deliver(mcp_http_t *h, const char *text, size_t len)
{
    json_t  *msg, *item;
    size_t   i;
    char     err[160];

    if (h->closing || h->dead) {
        return;
    }
    msg = mcp_rpc_parse(text, len, err, sizeof(err));
    if (msg == NULL) {
        mcp_log_warn(h->env.log, "mcp", "%s: not JSON from the server (%s)",
                     h->name, err);
        return;
    }
    if (json_is_array(msg)) {
        /* 2025-03-26 servers may batch */
        json_array_foreach(msg, i, item) {
            if (!h->closing && !h->dead) {
                h->env.cb.message(h->env.cb.ctx, item);
            }
        }
    } else {
        h->env.cb.message(h->env.cb.ctx, msg);
    }
    json_decref(msg);
}


static void
mcp_http_on_sse(void *ctx, const char *event, const char *data, size_t len)
{
    mcp_http_req_t  *r = ctx;
    json_t          *msg;
    int64_t          id;

    if (len == 0 || strcmp(event, "message") != 0) {
        return;    /* priming event, or something we do not speak */
    }
    msg = json_loadb(data, len, 0, NULL);
    if (msg && r->id >= 0 && mcp_rpc_id_int(json_object_get(msg, "id"), &id)
        == 0 && id == r->id && json_object_get(msg, "method") == NULL)
    {
        r->answered = 1;
    }
    json_decref(msg);
    mcp_http_deliver(r->h, data, len);
}


static size_t
mcp_http_write(char *ptr, size_t size, size_t n, void *ud)
{
    mcp_http_req_t  *r = ud;
    size_t           total = size * n;
    char            *ct = NULL, *nb;

    if (!r->sniffed) {
        r->sniffed = 1;
        curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &r->status);
        curl_easy_getinfo(r->easy, CURLINFO_CONTENT_TYPE, &ct);
        r->is_sse = ct && strncasecmp(ct, "text/event-stream", 17) == 0
                    && r->status / 100 == 2;
    }
    if (r->is_sse) {
        if (mcp_sse_feed(&r->sse, ptr, total) != 0) {
            return 0;
        }
        return total;
    }
    if (r->len + total > r->h->env.max_message) {
        return 0;    /* too large: curl fails the transfer */
    }
    if (r->len + total + 1 > r->cap) {
        size_t  cap = r->cap ? r->cap * 2 : 4096;
        while (cap < r->len + total + 1) {
            cap *= 2;
        }
        nb = realloc(r->buf, cap);
        if (nb == NULL) {
            return 0;
        }
        r->buf = nb;
        r->cap = cap;
    }
    memcpy(r->buf + r->len, ptr, total);
    r->len += total;
    return total;
}


static size_t
mcp_http_header(char *line, size_t size, size_t n, void *ud)
{
    mcp_http_req_t  *r = ud;
    size_t           len = size * n, v;
    static const char  name[] = "mcp-session-id:";

    if (len > sizeof(name) && strncasecmp(line, name, sizeof(name) - 1) == 0)
    {
        v = sizeof(name) - 1;
        while (v < len && (line[v] == ' ' || line[v] == '\t')) {
            v++;
        }
        while (len > v && (line[len - 1] == '\r' || line[len - 1] == '\n'
                           || line[len - 1] == ' '))
        {
            len--;
        }
        if (len - v > 0 && len - v < sizeof(r->h->session)) {
            memcpy(r->h->session, line + v, len - v);
            r->h->session[len - v] = '\0';
        }
    }
    return size * n;
}


mcp_http_req_t *
mcp_http_req_new(mcp_http_t *h, int kind, char *body, int64_t id,
    const char *last_event_id)
{
    mcp_http_req_t     *r = calloc(1, sizeof(*r));
    char                hdr[512];
    struct curl_slist  *e;

    if (r == NULL || (r->easy = curl_easy_init()) == NULL) {
        free(r);
        free(body);
        return NULL;
    }
    r->h = h;
    r->kind = kind;
    r->body = body;
    r->id = id;
    mcp_sse_init(&r->sse, h->env.max_message, mcp_http_on_sse, r);

    r->hdrs = curl_slist_append(r->hdrs, "Accept: application/json, "
                                         "text/event-stream");
    if (kind == MCP_HTTP_POST) {
        r->hdrs = curl_slist_append(r->hdrs, "Content-Type: application/json");
    }
    if (h->session[0]) {
        snprintf(hdr, sizeof(hdr), "Mcp-Session-Id: %s", h->session);
        r->hdrs = curl_slist_append(r->hdrs, hdr);
    }
    if (h->protocol[0]) {
        snprintf(hdr, sizeof(hdr), "MCP-Protocol-Version: %s", h->protocol);
        r->hdrs = curl_slist_append(r->hdrs, hdr);
    }
    if (last_event_id && *last_event_id) {
        snprintf(hdr, sizeof(hdr), "Last-Event-ID: %s", last_event_id);
        r->hdrs = curl_slist_append(r->hdrs, hdr);
    }
    for (e = h->extra; e; e = e->next) {
        r->hdrs = curl_slist_append(r->hdrs, e->data);
    }

    curl_easy_setopt(r->easy, CURLOPT_URL, h->url);
    curl_easy_setopt(r->easy, CURLOPT_HTTPHEADER, r->hdrs);
    curl_easy_setopt(r->easy, CURLOPT_WRITEFUNCTION, mcp_http_write);
    curl_easy_setopt(r->easy, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(r->easy, CURLOPT_HEADERFUNCTION, mcp_http_header);
    curl_easy_setopt(r->easy, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(r->easy, CURLOPT_PRIVATE, r);
    curl_easy_setopt(r->easy, CURLOPT_ERRORBUFFER, r->err);
    curl_easy_setopt(r->easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(r->easy, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
    curl_easy_setopt(r->easy, CURLOPT_USERAGENT, "mcpd/0.1.0");
    if (kind == MCP_HTTP_POST) {
        curl_easy_setopt(r->easy, CURLOPT_POSTFIELDS, r->body);
        curl_easy_setopt(r->easy, CURLOPT_POSTFIELDSIZE, (long) strlen(body));
    } else if (kind == MCP_HTTP_DELETE) {
        curl_easy_setopt(r->easy, CURLOPT_CUSTOMREQUEST, "DELETE");
        curl_easy_setopt(r->easy, CURLOPT_TIMEOUT_MS,
                         (long) MCP_HTTP_DELETE_TIMEOUT_MS);
    }
    return r;
}


void
mcp_http_enqueue(mcp_http_t *h, mcp_http_req_t *r)
{
    mcp_http_req_t  **pp = &h->queued;

    while (*pp) {
        pp = &(*pp)->next;    /* keep order: initialized after initialize */
    }
    r->next = NULL;
    *pp = r;
    mcp_http_kick(h);
}


/* unlink r from list *head */
static void
mcp_http_unlink(mcp_http_req_t **head, mcp_http_req_t *r)
{
    while (*head && *head != r) {
        head = &(*head)->next;
    }
    if (*head) {
        *head = r->next;
    }
    r->next = NULL;
}


/* ------------------------------------------------------------ curl <-> uv */

static void mcp_http_check(mcp_http_t *h);

static void
mcp_http_on_poll(uv_poll_t *p, int status, int events)
{
    mcp_http_sock_t  *s = (mcp_http_sock_t *) p;
    mcp_http_t       *h = s->h;
    int               flags = 0, running;

    if (status < 0) {
        flags = CURL_CSELECT_ERR;
    } else {
        flags |= (events & UV_READABLE) ? CURL_CSELECT_IN : 0;
        flags |= (events & UV_WRITABLE) ? CURL_CSELECT_OUT : 0;
    }
    curl_multi_socket_action(h->multi, s->fd, flags, &running);
    mcp_http_check(h);
}


static int
mcp_http_on_socket(CURL *e, curl_socket_t fd, int what, void *up, void *sp)
{
    mcp_http_t       *h = up;
    mcp_http_sock_t  *s = sp;
    int               events = 0;

    if (what == CURL_POLL_REMOVE) {
        if (s) {
            mcp_http_sock_t  **pp = &h->socks;
            while (*pp && *pp != s) {
                pp = &(*pp)->next;
            }
            if (*pp) {
                *pp = s->next;
            }
            uv_poll_stop(&s->poll);
            curl_multi_assign(h->multi, fd, NULL);
            uv_close((uv_handle_t *) &s->poll, mcp_http_sock_closed);
        }
        return 0;
    }
    if (s == NULL) {
        s = calloc(1, sizeof(*s));
        if (s == NULL || uv_poll_init_socket(h->env.loop, &s->poll, fd) != 0) {
            free(s);
            return -1;
        }
        s->h = h;
        s->fd = fd;
        s->poll.data = h;
        s->next = h->socks;
        h->socks = s;
        h->handles++;
        curl_multi_assign(h->multi, fd, s);
    }
    events |= (what & CURL_POLL_IN) ? UV_READABLE : 0;
    events |= (what & CURL_POLL_OUT) ? UV_WRITABLE : 0;
    uv_poll_start(&s->poll, events, mcp_http_on_poll);
    return 0;
}


static void
mcp_http_on_timer(uv_timer_t *t)
{
    mcp_http_t  *h = t->data;
    int          running;

    curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    mcp_http_check(h);
}


static int
mcp_http_on_timeout(CURLM *m, long ms, void *up)
{
    mcp_http_t  *h = up;

    if (ms < 0) {
        uv_timer_stop(&h->timer);
    } else {
        uv_timer_start(&h->timer, mcp_http_on_timer, (uint64_t) ms, 0);
    }
    return 0;
}


/* ------------------------------------------------------------ outcomes */

static void
mcp_http_done(mcp_http_t *h, mcp_http_req_t *r, CURLcode rc)
{
    char  why[320];

    if (h->closing || h->dead || r->kind == MCP_HTTP_DELETE) {
        return;
    }
    if (r->standalone) {
        if (r->buf) {
            r->buf[r->len] = '\0';
        }
        mcp_http_stream_done(h, r, rc);
        return;
    }
    if (rc != CURLE_OK) {
        snprintf(why, sizeof(why), "HTTP request failed: %s",
                 r->err[0] ? r->err : curl_easy_strerror(rc));
        if (rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST) {
            mcp_http_report(h, why);
            return;
        }
        if (r->is_sse && r->id >= 0 && !r->answered
            && mcp_http_schedule_resume(h, r) == 0)
        {
            return;
        }
        if (r->id >= 0 && !r->answered) {
            h->env.cb.send_failed(h->env.cb.ctx, r->id, why);
        }
        return;
    }
    if (r->buf) {
        r->buf[r->len] = '\0';
    }
    if (mcp_http_session_gone(r)) {
        snprintf(why, sizeof(why), "session expired (HTTP %ld)", r->status);
        mcp_http_report(h, why);
        return;
    }
    if (r->status / 100 != 2) {
        snprintf(why, sizeof(why), "HTTP %ld%s%.200s", r->status,
                 r->len ? ": " : "", r->buf ? r->buf : "");
        if (r->id >= 0) {
            h->env.cb.send_failed(h->env.cb.ctx, r->id, why);
        } else {
            mcp_log_warn(h->env.log, "mcp", "%s: %s", h->name, why);
        }
        return;
    }
    if (!r->is_sse && r->len > 0) {
        mcp_http_deliver(h, r->buf, r->len);
        return;
    }
    if (r->is_sse && r->id >= 0 && !r->answered
        && mcp_http_schedule_resume(h, r) != 0)
    {
        snprintf(why, sizeof(why), "the server closed the stream without "
                 "a reply and cannot resume it");
        h->env.cb.send_failed(h->env.cb.ctx, r->id, why);
    }
}


static void
mcp_http_check(mcp_http_t *h)
{
    CURLMsg         *m;
    int              left;
    mcp_http_req_t  *r;

    while ((m = curl_multi_info_read(h->multi, &left)) != NULL) {
        if (m->msg != CURLMSG_DONE) {
            continue;
        }
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **) &r);
        if (r->status == 0) {
            curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &r->status);
        }
        curl_multi_remove_handle(h->multi, r->easy);
        mcp_http_unlink(&h->active, r);
        mcp_http_done(h, r, m->data.result);
        mcp_http_req_free(r);
    }
    if (h->closing) {
        mcp_http_kick(h);    /* maybe everything is done now */
    }
}


/* ------------------------------------------------------------ deferred */

static void
mcp_http_teardown(mcp_http_t *h)
{
    mcp_http_req_t   *r;
    mcp_http_sock_t  *s;

    h->torn_down = 1;
    curl_multi_cleanup(h->multi);
    h->multi = NULL;
    while ((s = h->socks) != NULL) {
        h->socks = s->next;
        uv_poll_stop(&s->poll);
        uv_close((uv_handle_t *) &s->poll, mcp_http_sock_closed);
    }
    while ((r = h->resume) != NULL) {
        h->resume = r->next;
        mcp_http_req_free(r);
    }
    uv_close((uv_handle_t *) &h->timer, mcp_http_handle_closed);
    uv_close((uv_handle_t *) &h->resume_timer, mcp_http_handle_closed);
    uv_close((uv_handle_t *) &h->kick, mcp_http_handle_closed);
}


static void
mcp_http_abort_all(mcp_http_t *h)
{
    mcp_http_req_t  *r, *next;

    for (r = h->queued; r; r = next) {
        next = r->next;
        mcp_http_req_free(r);
    }
    h->queued = NULL;
    for (r = h->active; r; r = next) {
        next = r->next;
        if (r->kind == MCP_HTTP_DELETE) {
            continue;    /* let the goodbye finish (it has a timeout) */
        }
        mcp_http_unlink(&h->active, r);
        curl_multi_remove_handle(h->multi, r->easy);
        mcp_http_req_free(r);
    }
}


static void
mcp_http_on_kick(uv_timer_t *t)
{
    mcp_http_t      *h = t->data;
    mcp_http_req_t  *r;
    int              running;

    if (h->torn_down) {
        return;
    }
    if (h->closing || h->dead) {
        mcp_http_abort_all(h);
        if (h->closing && !h->dead && h->session[0]) {
            r = mcp_http_req_new(h, MCP_HTTP_DELETE, NULL, -1, NULL);
            h->session[0] = '\0';    /* one DELETE only */
            if (r != NULL) {
                r->next = h->active;
                h->active = r;
                curl_multi_add_handle(h->multi, r->easy);
            }
        }
        if (h->active == NULL) {
            mcp_http_teardown(h);
        }
        return;
    }
    while ((r = h->queued) != NULL) {
        h->queued = r->next;
        r->next = h->active;
        h->active = r;
        curl_multi_add_handle(h->multi, r->easy);
    }
    curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    mcp_http_check(h);
}


static void
mcp_http_kick(mcp_http_t *h)
{
    if (!h->torn_down) {
        uv_timer_start(&h->kick, mcp_http_on_kick, 0, 0);
    }
}


/* ------------------------------------------------------------ interface */

static int
mcp_http_send(mcp_transport_t *t, const json_t *msg)
{
    mcp_http_t      *h = (mcp_http_t *) t;
    mcp_http_req_t  *r;
    char            *body;
    int64_t          id = -1;

    if (h->closing || h->dead) {
        return -1;
    }
    body = json_dumps(msg, JSON_COMPACT);
    if (body == NULL) {
        return -1;
    }
    /* only our requests await a reply: answers and notifications do not */
    if (json_object_get(msg, "method") != NULL) {
        (void) mcp_rpc_id_int(json_object_get(msg, "id"), &id);
    }
    r = mcp_http_req_new(h, MCP_HTTP_POST, body, id, NULL);
    if (r == NULL) {
        return -1;
    }
    mcp_http_enqueue(h, r);
    return 0;
}


static void
mcp_http_set_protocol(mcp_transport_t *t, const char *version)
{
    mcp_http_t  *h = (mcp_http_t *) t;

    snprintf(h->protocol, sizeof(h->protocol), "%s", version);
    if (h->session[0] && !h->closing && !h->dead) {
        /* a session: the server may talk on its own (list_changed, ...) */
        mcp_http_open_stream(h, NULL, 0);
    }
}


static void
mcp_http_close(mcp_transport_t *t)
{
    mcp_http_t  *h = (mcp_http_t *) t;

    h->closing = 1;
    mcp_http_kick(h);
}


mcp_transport_t *
mcp_http_start(const mcp_transport_env_t *env, char *err, size_t err_size,
    int *config_error)
{
    mcp_http_t  *h;
    size_t       i;

    *config_error = 0;
    if (env->conf->transport == MCP_TRANSPORT_SSE) {
        snprintf(err, err_size, "the legacy HTTP+SSE transport is not "
                 "supported; use a Streamable HTTP endpoint");
        *config_error = 1;
        return NULL;
    }
    h = calloc(1, sizeof(*h));
    if (h == NULL || (h->multi = curl_multi_init()) == NULL) {
        free(h);
        snprintf(err, err_size, "out of memory");
        return NULL;
    }
    h->env = *env;
    snprintf(h->name, sizeof(h->name), "%.128s", env->conf->name);
    h->url = strdup(env->conf->url);
    for (i = 0; i < env->conf->nheaders; i++) {
        h->extra = curl_slist_append(h->extra, env->conf->headers[i]);
    }
    h->env.conf = NULL;    /* the copies above are all we use later */
    h->t.kind = "streamable-http";
    h->t.send = mcp_http_send;
    h->t.set_protocol = mcp_http_set_protocol;
    h->t.close = mcp_http_close;

    uv_timer_init(env->loop, &h->timer);
    uv_timer_init(env->loop, &h->kick);
    uv_timer_init(env->loop, &h->resume_timer);
    h->timer.data = h->kick.data = h->resume_timer.data = h;
    h->handles = 3;

    curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, mcp_http_on_socket);
    curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h);
    curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, mcp_http_on_timeout);
    curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h);
    mcp_log_info(env->log, "mcp", "%s: connecting to %s", h->name, h->url);
    return &h->t;
}
