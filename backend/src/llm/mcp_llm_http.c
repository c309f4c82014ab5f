/*
 * libcurl's multi-socket API on the libuv loop, one multi handle per
 * provider: curl tells us which sockets to watch (uv_poll) and when to
 * call it back (uv_timer); we tell curl what happened.  Plus one attempt's
 * transfer: the easy handle's options, its upload progress, header and
 * data callbacks, its I/O deadline, and the classification of how it ended.
 *
 * libcurl forbids adding or removing transfers from inside its callbacks;
 * everything here that can run inside one (user callbacks included) defers
 * those to right after curl returns (provider->deferred, the pump timer).
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "llm/mcp_llm_int.h"

#define MCP_LLM_MAX_BODY      (64u << 20)
#define MCP_LLM_MAX_ERR_BODY  8192

static void http_check_done(mcp_llm_provider_t *p);
static void http_sock_watch(mcp_llm_sock_t *s, int events);
static void http_sock_close(mcp_llm_provider_t *p, mcp_llm_sock_t *s);

/* ------------------------------------------------------------ the loop */

static void
http_after_curl(mcp_llm_provider_t *p)
{
    mcp_llm_req_t  *r;

    /* transfers cancelled while curl was running: remove them now */
    while (p->in_curl == 0 && (r = p->deferred) != NULL) {
        p->deferred = r->d_next;
        mcp_llm_http_abort(r);
        mcp_llm_free_req(r);
    }
    if (p->in_curl == 0) {
        http_check_done(p);
    }
}

static void
http_socket_action(mcp_llm_provider_t *p, curl_socket_t fd, int ev)
{
    int  running;

    p->in_curl++;
    curl_multi_socket_action(p->multi, fd, ev, &running);
    p->in_curl--;
    http_after_curl(p);
}

static void
http_on_poll(uv_poll_t *h, int status, int events)
{
    mcp_llm_sock_t  *s = h->data;
    int              ev = 0;

    if (s->idle) {
        /* the peer closed a kept-alive connection, or wrote out of turn:
           curl will find out when it reuses or drops the connection; stop
           watching so a level-triggered event does not spin the loop */
        http_sock_watch(s, 0);
        return;
    }
    if (status < 0) {
        ev = CURL_CSELECT_ERR;
    }
    if (events & UV_READABLE) {
        ev |= CURL_CSELECT_IN;
    }
    if (events & UV_WRITABLE) {
        ev |= CURL_CSELECT_OUT;
    }
    http_socket_action(s->p, s->fd, ev);
}

static void
http_on_curl_timer(uv_timer_t *t)
{
    http_socket_action(t->data, CURL_SOCKET_TIMEOUT, 0);
}

static mcp_llm_sock_t *
http_sock_find(mcp_llm_provider_t *p, curl_socket_t fd)
{
    return fd >= 0 && (size_t) fd < p->nsocks ? p->socks[fd] : NULL;
}

static mcp_llm_sock_t *
http_sock_open(mcp_llm_provider_t *p, curl_socket_t fd, unsigned owned)
{
    mcp_llm_sock_t   *s, **a;
    size_t            n;

    if (fd < 0) {
        return NULL;
    }
    if ((size_t) fd >= p->nsocks) {
        n = p->nsocks ? p->nsocks : 64;
        while (n <= (size_t) fd) {
            n *= 2;
        }
        a = realloc(p->socks, n * sizeof(*a));
        if (a == NULL) {
            return NULL;
        }
        memset(a + p->nsocks, 0, (n - p->nsocks) * sizeof(*a));
        p->socks = a;
        p->nsocks = n;
    }

    if (p->socks[fd]) {
        /* a watcher left from an fd closed behind our back: libuv allows
           one per fd, and this number is a new socket now */
        http_sock_close(p, p->socks[fd]);
    }

    s = calloc(1, sizeof(*s));
    if (s == NULL) {
        return NULL;
    }
    if (uv_poll_init_socket(p->llm->loop, &s->poll, fd) != 0) {
        free(s);
        return NULL;
    }
    s->poll.data = s;
    s->fd = fd;
    s->p = p;
    s->owned = owned;
    p->socks[fd] = s;
    return s;
}

/* uv_close stops the watcher; the fd stays open (curl closes it) */
static void
http_sock_close(mcp_llm_provider_t *p, mcp_llm_sock_t *s)
{
    p->socks[s->fd] = NULL;
    p->llm->pending_closes++;
    uv_close((uv_handle_t *) &s->poll, mcp_llm_handle_closed);
}

static void
http_sock_watch(mcp_llm_sock_t *s, int events)
{
    /* every uv_poll_start/stop costs epoll_ctl calls: only on a change */
    if (events == s->events) {
        return;
    }
    s->events = events;
    if (events) {
        uv_poll_start(&s->poll, events, http_on_poll);
    } else {
        uv_poll_stop(&s->poll);
    }
}

static int
http_socket_cb(CURL *easy, curl_socket_t fd, int what, void *userp,
    void *sockp)
{
    mcp_llm_provider_t  *p = userp;
    mcp_llm_sock_t      *s = sockp;
    mcp_llm_req_t       *r = NULL;
    int                  events = 0;

    if (s == NULL) {
        /* curl forgets its assignment at CURL_POLL_REMOVE: a reused
           keep-alive socket comes back unassigned, its watcher kept */
        s = http_sock_find(p, fd);
    }

    if (what == CURL_POLL_REMOVE) {
        if (s && s->owned) {
            /* the end of a transfer on a kept-alive connection: leave the
               watcher armed (re-arming costs epoll_ctl calls, the next
               request on it mostly wants the same events); unref'd, an
               idle connection does not keep the loop running */
            s->idle = 1;
            uv_unref((uv_handle_t *) &s->poll);
        } else if (s) {
            http_sock_close(p, s);
        }
        return 0;
    }

    if (s == NULL) {
        /* a socket curl did not open through http_open_socket */
        s = http_sock_open(p, fd, 0);
        if (s == NULL) {
            return -1;
        }
    }
    curl_multi_assign(p->multi, fd, s);
    if (s->idle) {
        s->idle = 0;
        uv_ref((uv_handle_t *) &s->poll);
    }

    if (curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **) &r) == CURLE_OK
        && r != NULL)
    {
        r->fd = fd;              /* for a resume after FLOW pause */
    }
    if (what & CURL_POLL_IN) {
        events |= UV_READABLE;
    }
    if (what & CURL_POLL_OUT) {
        events |= UV_WRITABLE;
    }
    http_sock_watch(s, events);
    return 0;
}

static int
http_timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
    mcp_llm_provider_t  *p = userp;

    if (timeout_ms < 0) {
        uv_timer_stop(&p->curl_timer);
    } else {
        uv_timer_start(&p->curl_timer, http_on_curl_timer,
                       (uint64_t) timeout_ms, 0);
    }
    return 0;
}

/*
 * curl opens and closes its connections through these: connection counting
 * for status, and the socket's watcher, which lives as long as the socket
 * (whoever decides to close it: the provider, an error, curl's cache).
 */
static curl_socket_t
http_open_socket(void *clientp, curlsocktype purpose,
    struct curl_sockaddr *addr)
{
    mcp_llm_provider_t  *p = clientp;
    curl_socket_t        fd;

    fd = socket(addr->family, addr->socktype | SOCK_CLOEXEC, addr->protocol);
    if (fd != CURL_SOCKET_BAD) {
        p->conns_open++;
        p->conns_opened++;
        /* without memory for it, http_socket_cb watches it per cycle */
        (void) http_sock_open(p, fd, 1);
    }
    return fd;
}

static int
http_close_socket(void *clientp, curl_socket_t fd)
{
    mcp_llm_provider_t  *p = clientp;
    mcp_llm_sock_t      *s = http_sock_find(p, fd);

    if (s) {
        http_sock_close(p, s);         /* before the fd number is reused */
    }
    p->conns_open--;
    return close(fd);
}

static int
http_set_headers(mcp_llm_provider_t *p, mcp_err_t *err)
{
    const mcp_llm_provider_conf_t  *c = p->conf;
    const char                     *key = NULL;
    char                            line[1024];
    struct curl_slist              *h = NULL, *t;

#define ADD(s)                                                               \
    do {                                                                     \
        t = curl_slist_append(h, s);                                         \
        if (t == NULL) {                                                     \
            goto nomem;                                                      \
        }                                                                    \
        h = t;                                                               \
    } while (0)

    ADD("Content-Type: application/json");
    ADD("User-Agent: " MCP_LLM_USER_AGENT);
    ADD("Expect:");

    p->key_state = 0;
    if (c->api_key_env && c->api_key_env[0]) {
        key = getenv(c->api_key_env);
        p->key_state = key && key[0] ? 1 : -1;
    }
    if (p->key_state == 1) {
        /* the slist is the only copy of the key; it is never logged */
        snprintf(line, sizeof(line), "Authorization: Bearer %s", key);
        ADD(line);
        memset(line, 0, sizeof(line));
    }
    if (c->http_referer && c->http_referer[0]) {
        snprintf(line, sizeof(line), "HTTP-Referer: %s", c->http_referer);
        ADD(line);
    }
    if (c->x_title && c->x_title[0]) {
        snprintf(line, sizeof(line), "X-Title: %s", c->x_title);
        ADD(line);
    }
    if (c->openai_beta && c->openai_beta[0]) {
        snprintf(line, sizeof(line), "OpenAI-Beta: %s", c->openai_beta);
        ADD(line);
    }
#undef ADD

    p->headers = h;
    return 0;

nomem:
    curl_slist_free_all(h);
    mcp_err_set(err, NULL, "llm: out of memory building headers");
    return -1;
}

int
mcp_llm_http_init(mcp_llm_provider_t *p, mcp_err_t *err)
{
    const mcp_llm_http_conf_t  *h = &p->conf->http_client;
    size_t                      n;

    n = strlen(p->conf->base_url);
    while (n && p->conf->base_url[n - 1] == '/') {
        n--;
    }
    p->url = malloc(n + sizeof("/chat/completions"));
    if (p->url == NULL) {
        mcp_err_set(err, NULL, "llm: out of memory");
        return -1;
    }
    memcpy(p->url, p->conf->base_url, n);
    memcpy(p->url + n, "/chat/completions", sizeof("/chat/completions"));

    if (http_set_headers(p, err) != 0) {
        return -1;
    }

    p->multi = curl_multi_init();
    if (p->multi == NULL) {
        mcp_err_set(err, NULL, "llm: curl_multi_init failed");
        return -1;
    }
    curl_multi_setopt(p->multi, CURLMOPT_SOCKETFUNCTION, http_socket_cb);
    curl_multi_setopt(p->multi, CURLMOPT_SOCKETDATA, p);
    curl_multi_setopt(p->multi, CURLMOPT_TIMERFUNCTION, http_timer_cb);
    curl_multi_setopt(p->multi, CURLMOPT_TIMERDATA, p);
    curl_multi_setopt(p->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS,
                      (long) h->max_connections);
    curl_multi_setopt(p->multi, CURLMOPT_MAX_HOST_CONNECTIONS,
                      (long) h->max_connections);
    curl_multi_setopt(p->multi, CURLMOPT_MAXCONNECTS, (long) h->max_keepalive);
    curl_multi_setopt(p->multi, CURLMOPT_PIPELINING, (long) CURLPIPE_MULTIPLEX);
    return 0;
}

void
mcp_llm_http_close(mcp_llm_provider_t *p)
{
    size_t  i;

    if (p->multi) {
        p->in_curl++;
        curl_multi_cleanup(p->multi);
        p->in_curl--;
        p->multi = NULL;
    }
    for (i = 0; i < p->nsocks; i++) {
        if (p->socks[i]) {
            http_sock_close(p, p->socks[i]);
        }
    }
    free(p->socks);
    p->socks = NULL;
    p->nsocks = 0;
    for (i = 0; i < p->neasy_free; i++) {
        curl_easy_cleanup(p->easy_free[i]);
    }
    p->neasy_free = 0;
    free(p->easy_free);
    p->easy_free = NULL;
    curl_slist_free_all(p->headers);
    p->headers = NULL;
    free(p->url);
    p->url = NULL;
}

/* ------------------------------------------------------------ transfer */

static void
http_on_io_timer(uv_timer_t *t)
{
    mcp_llm_req_t               *r = t->data;
    const mcp_llm_http_conf_t   *h = &r->p->conf->http_client;
    uint64_t                     now = uv_now(r->llm->loop), limit, deadline;

    if (r->recv_paused) {
        return;          /* our client is slow, not the provider: no limit */
    }
    limit = r->body_sent ? (uint64_t) h->read_timeout_ms
                         : (uint64_t) (h->connect_timeout_ms
                                       + h->write_timeout_ms);
    deadline = r->last_io_ms + limit;
    if (now < deadline) {
        /* activity since the timer was set: sleep the rest of the gap */
        uv_timer_start(&r->timer, http_on_io_timer, deadline - now, 0);
        return;
    }

    snprintf(r->errmsg, sizeof(r->errmsg), "%s: no data from %s for %llu ms",
             r->body_sent ? "read_timeout" : "connect/write timeout",
             r->p->name, (unsigned long long) limit);
    mcp_llm_http_abort(r);
    mcp_llm_attempt_done(r, MCP_LLM_E_TIMEOUT);
}

/*
 * The body goes out with the headers (CURLOPT_POSTFIELDS: one send for a
 * request that fits curl's buffer); curl's upload counter tells us when it
 * is all written.  From then on the limit is read_timeout: re-arm, the
 * timer may still be set for the longer connect + write phase.
 */
static int
http_on_progress(void *userp, curl_off_t dltotal, curl_off_t dlnow,
    curl_off_t ultotal, curl_off_t ulnow)
{
    mcp_llm_req_t  *r = userp;

    if (!r->body_sent && ulnow >= (curl_off_t) r->body_len) {
        r->body_sent = 1;
        r->last_io_ms = uv_now(r->llm->loop);
        uv_timer_start(&r->timer, http_on_io_timer,
                       (uint64_t) r->p->conf->http_client.read_timeout_ms, 0);
    }
    return 0;
}

static size_t
http_on_data(char *buf, size_t size, size_t nitems, void *userp)
{
    mcp_llm_req_t  *r = userp;
    size_t          n = size * nitems;

    if (r->cancelled) {
        return 0;                      /* aborts the transfer at once */
    }
    r->last_io_ms = uv_now(r->llm->loop);

    if (r->status == 0) {
        curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &r->status);
    }

    if (r->status != 200 || !r->stream) {
        size_t  cap = r->status == 200 ? MCP_LLM_MAX_BODY
                                       : MCP_LLM_MAX_ERR_BODY;

        if (r->body_in.len + n > cap) {
            if (r->status == 200) {
                snprintf(r->errmsg, sizeof(r->errmsg),
                         "response body exceeds %zu bytes", cap);
                return 0;
            }
            n = cap - r->body_in.len;      /* keep the head of an error */
        }
        if (mcp_llm_buf_append(&r->body_in, buf, n) != 0) {
            return 0;
        }
        return size * nitems;
    }

    if (mcp_llm_stream_feed(&r->st, buf, n) != 0) {
        return 0;                      /* r->st.err says why */
    }
    return r->cancelled ? 0 : n;
}

/* what every transfer of this provider shares: set once per easy handle */
/*
 * libcurl compares a cached connection's idle time with CURLOPT_MAXAGE_CONN
 * in whole seconds, truncated, and drops it only when strictly older: with
 * 1 it still reuses a connection idle for 1.9 s.  One second less makes
 * "idle longer than keepalive_expiry is never reused" hold (a connection
 * may be dropped up to a second early, which costs one connect).
 */
static long
http_maxage_conn(const mcp_llm_http_conf_t *h)
{
    return (long) (h->keepalive_expiry_ms / 1000) - 1;
}

static void
http_setup_provider(mcp_llm_provider_t *p, CURL *e)
{
    const mcp_llm_http_conf_t  *h = &p->conf->http_client;

    curl_easy_setopt(e, CURLOPT_URL, p->url);
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(e, CURLOPT_XFERINFOFUNCTION, http_on_progress);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, p->headers);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, http_on_data);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, mcp_llm_http_on_header);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long) h->connect_timeout_ms);
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION,
                     h->http2 ? (long) CURL_HTTP_VERSION_2TLS
                              : (long) CURL_HTTP_VERSION_1_1);
    curl_easy_setopt(e, CURLOPT_MAXAGE_CONN, http_maxage_conn(h));
    curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, http_open_socket);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, p);
    curl_easy_setopt(e, CURLOPT_CLOSESOCKETFUNCTION, http_close_socket);
    curl_easy_setopt(e, CURLOPT_CLOSESOCKETDATA, p);
}

/* what is this request's own; the rest stays from http_setup_provider */
static void
http_setup_request(mcp_llm_req_t *r, CURL *e)
{
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) r->body_len);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->body);    /* not copied */
    curl_easy_setopt(e, CURLOPT_XFERINFODATA, r);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(e, CURLOPT_PRIVATE, r);
}

int
mcp_llm_http_send(mcp_llm_req_t *r)
{
    mcp_llm_provider_t  *p = r->p;
    CURL                *e;
    uint64_t             limit;

    if (p->neasy_free) {
        /* a handle of this provider: its shared options are still set */
        e = p->easy_free[--p->neasy_free];
    } else {
        e = curl_easy_init();
        if (e == NULL) {
            return -1;
        }
        http_setup_provider(p, e);
    }

    r->easy = e;
    r->body_sent = 0;
    r->recv_paused = 0;
    r->fd = CURL_SOCKET_BAD;
    r->status = 0;
    r->retry_after_ms = -1;
    r->rl_rem_req = r->rl_reset_req = r->rl_rem_tok = r->rl_reset_tok = -1;
    r->last_io_ms = uv_now(r->llm->loop);
    r->errmsg[0] = '\0';
    mcp_llm_buf_clear(&r->body_in);
    http_setup_request(r, e);

    if (curl_multi_add_handle(p->multi, e) != CURLM_OK) {
        curl_easy_cleanup(e);
        r->easy = NULL;
        return -1;
    }

    limit = (uint64_t) (p->conf->http_client.connect_timeout_ms
                        + p->conf->http_client.write_timeout_ms);
    uv_timer_start(&r->timer, http_on_io_timer, limit, 0);
    mcp_llm_http_flow(r);        /* a retry of a paused request */
    return 0;
}

void
mcp_llm_http_abort(mcp_llm_req_t *r)
{
    mcp_llm_provider_t  *p = r->p;
    CURL               **a;

    uv_timer_stop(&r->timer);
    if (r->easy == NULL) {
        return;
    }

    curl_multi_remove_handle(p->multi, r->easy);

    /* keep a few easy handles: setting one up again is cheaper; not one
       left paused, it keeps its options but not a clean transfer state */
    if (p->neasy_free < 64 && !r->recv_paused) {
        a = realloc(p->easy_free, (p->neasy_free + 1) * sizeof(*a));
        if (a) {
            p->easy_free = a;
            p->easy_free[p->neasy_free++] = r->easy;
            r->easy = NULL;
        }
    }
    if (r->easy) {
        curl_easy_cleanup(r->easy);
        r->easy = NULL;
    }
}

/*
 * Apply r->paused to the transfer, on its own loop turn: never inside a
 * caller's callback or curl (r->timer is free then: the I/O deadline is
 * re-armed here, and does not run while paused).
 */
static void
http_on_flow_timer(uv_timer_t *t)
{
    mcp_llm_req_t       *r = t->data;
    mcp_llm_provider_t  *p = r->p;
    int                  running;

    if (r->easy == NULL || r->cancelled) {
        return;
    }
    if (r->paused == r->recv_paused) {
        if (!r->paused) {
            uv_timer_start(&r->timer, http_on_io_timer, 0, 0);
        }
        return;
    }

    r->recv_paused = r->paused;
    r->last_io_ms = uv_now(r->llm->loop);
    if (!r->paused) {
        uv_timer_start(&r->timer, http_on_io_timer,
                       (uint64_t) p->conf->http_client.read_timeout_ms, 0);
    }
    /* unpausing, curl may deliver data from inside the call: our
       callbacks run, and may pause or cancel r again */
    p->in_curl++;
    curl_easy_pause(r->easy, r->paused ? CURLPAUSE_RECV : CURLPAUSE_CONT);
    if (!r->paused && !r->cancelled && r->fd != CURL_SOCKET_BAD) {
        /* what the provider sent meanwhile is already in the socket: no
           new readiness may come for it, so have curl read it now */
        curl_multi_socket_action(p->multi, r->fd, CURL_CSELECT_IN, &running);
    }
    p->in_curl--;
    http_after_curl(p);
}

void
mcp_llm_http_flow(mcp_llm_req_t *r)
{
    if (r->easy && r->paused != r->recv_paused) {
        uv_timer_start(&r->timer, http_on_flow_timer, 0, 0);
    }
}

/* How a finished transfer went, in our terms. */
static mcp_llm_err_e
http_classify(mcp_llm_req_t *r, CURLcode rc)
{
    if (r->st.err) {
        return r->st.err;                 /* parser or provider error */
    }
    if (r->errmsg[0] && rc == CURLE_WRITE_ERROR) {
        return MCP_LLM_E_BAD_RESPONSE;    /* body too large */
    }

    if (rc != CURLE_OK) {
        snprintf(r->errmsg, sizeof(r->errmsg), "%s: %s", r->p->name,
                 curl_easy_strerror(rc));
        switch (rc) {
        case CURLE_COULDNT_CONNECT:
        case CURLE_COULDNT_RESOLVE_HOST:
        case CURLE_COULDNT_RESOLVE_PROXY:
            return MCP_LLM_E_CONNECT;
        case CURLE_OPERATION_TIMEDOUT:
            return MCP_LLM_E_TIMEOUT;
        default:
            return MCP_LLM_E_NETWORK;
        }
    }

    if (r->status == 0) {
        curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &r->status);
    }
    if (r->status != 200) {
        snprintf(r->errmsg, sizeof(r->errmsg), "%s answered HTTP %ld: %.200s",
                 r->p->name, r->status, mcp_llm_buf_cstr(&r->body_in));
        if (r->status == 429) {
            return MCP_LLM_E_RATE_LIMITED;
        }
        return r->status >= 500 ? MCP_LLM_E_SERVER : MCP_LLM_E_HTTP;
    }

    if (r->stream) {
        mcp_llm_stream_end(&r->st);
    } else {
        mcp_llm_stream_body(&r->st, r->body_in.data ? r->body_in.data : "",
                            r->body_in.len);
    }
    return r->st.err;
}

static void
http_check_done(mcp_llm_provider_t *p)
{
    CURLMsg         *m;
    int              left;
    mcp_llm_req_t   *r;
    mcp_llm_err_e    e;

    while ((m = curl_multi_info_read(p->multi, &left)) != NULL) {
        if (m->msg != CURLMSG_DONE) {
            continue;
        }
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **) &r);
        if (r->cancelled) {
            continue;             /* on the deferred list; freed there */
        }
        e = http_classify(r, m->data.result);
        if (r->cancelled) {
            /* the caller cancelled from a callback run by the classification
               (a non-streaming body, the last event): already released */
            continue;
        }
        mcp_llm_http_abort(r);
        mcp_llm_attempt_done(r, e);
    }
}
