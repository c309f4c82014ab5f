/*
 * Sessions: one per WebSocket client, keyed by (link, sid), created by OPEN.
 * The link's table holds one reference; producers take more for async work.
 * A session outlives its link only as a closed shell: sends fail, paused is
 * true, and the memory goes with the last reference.
 */

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mcp_daemon.h"
#include "link/mcp_link_codec.h"
#include "link/mcp_link_server.h"

/* a producer that ignores pause gets its session closed at this multiple of
   daemon.link_buffer_size, so one session can never grow memory unbounded */
#define MCP_SESSION_HARD_FACTOR  4

/* answers held for a paused session (mcp_session_answer); a client that
   keeps asking without reading gets closed past this many */
#define MCP_SESSION_HELD_MAX     64

typedef struct mcp_session_held_s  mcp_session_held_t;

struct mcp_session_held_s {
    mcp_session_held_t     *next;
    size_t                  len;
    char                    text[];
};

struct mcp_session_s {
    mcp_link_t             *link;       /* NULL once closed */
    mcp_daemon_t           *d;
    uint64_t                sid;
    int                     refs;
    unsigned                open:1;
    unsigned                flow_paused:1;

    mcp_session_resume_pt   resume_cb;
    void                   *resume_ctx;

    mcp_session_held_t     *held;       /* answers, oldest first */
    mcp_session_held_t     *held_last;
    size_t                  nheld;

    const mcp_session_sink_t *sink;     /* remote: no link */
    void                   *sink_ctx;

    size_t                  nattrs;
    char                  **attrs;      /* key0, value0, key1, value1, ... */

    mcp_session_t          *hnext;      /* bucket chain */
};


static size_t
mcp_session_bucket(const mcp_link_t *l, uint64_t sid)
{
    /* sids are small counters in practice: mix so that they spread */
    sid ^= sid >> 33;
    sid *= 0xff51afd7ed558ccdULL;
    sid ^= sid >> 33;
    return (size_t) sid & (l->nbuckets - 1);
}


mcp_session_t *
mcp_session_find(mcp_link_t *l, uint64_t sid)
{
    mcp_session_t  *s;

    if (l->nbuckets == 0) {
        return NULL;
    }

    for (s = l->buckets[mcp_session_bucket(l, sid)]; s; s = s->hnext) {
        if (s->sid == sid) {
            return s;
        }
    }
    return NULL;
}


static int
mcp_session_table_grow(mcp_link_t *l)
{
    mcp_session_t  **old = l->buckets, **nb, *s, *next;
    size_t           oldn = l->nbuckets, i, b;

    nb = calloc(oldn ? oldn * 2 : 64, sizeof(*nb));
    if (nb == NULL) {
        return -1;
    }

    l->buckets = nb;
    l->nbuckets = oldn ? oldn * 2 : 64;

    for (i = 0; i < oldn; i++) {
        for (s = old[i]; s; s = next) {
            next = s->hnext;
            b = mcp_session_bucket(l, s->sid);
            s->hnext = nb[b];
            nb[b] = s;
        }
    }

    free(old);
    return 0;
}


static void
mcp_session_free_attrs(mcp_session_t *s)
{
    size_t  i;

    for (i = 0; i < 2 * s->nattrs; i++) {
        free(s->attrs[i]);
    }
    free(s->attrs);
    s->attrs = NULL;
    s->nattrs = 0;
}


/* Copy OPEN's key/value pairs; -1 with err on a malformed list. */
static int
mcp_session_read_attrs(mcp_session_t *s, const uint8_t *kv, size_t len,
    mcp_err_t *err)
{
    size_t          pos = 0, n = 0, kl, vl, i;
    const uint8_t  *k, *v;
    int             rc;
    char          **a;

    while ((rc = mcp_link_kv_next(kv, len, &pos, &k, &kl, &v, &vl)) == 1) {
        n++;
    }
    if (rc < 0) {
        mcp_err_set(err, NULL, "malformed OPEN for session %llu",
                    (unsigned long long) s->sid);
        return -1;
    }

    a = calloc(2 * n + 1, sizeof(char *));
    if (a == NULL) {
        mcp_err_set(err, NULL, "out of memory");
        return -1;
    }

    pos = 0;
    for (i = 0; i < n; i++) {
        (void) mcp_link_kv_next(kv, len, &pos, &k, &kl, &v, &vl);
        a[2 * i] = strndup((const char *) k, kl);
        a[2 * i + 1] = malloc(vl + 1);
        if (a[2 * i] == NULL || a[2 * i + 1] == NULL) {
            s->attrs = a;
            s->nattrs = i + 1;
            mcp_session_free_attrs(s);
            mcp_err_set(err, NULL, "out of memory");
            return -1;
        }
        memcpy(a[2 * i + 1], v, vl);
        a[2 * i + 1][vl] = '\0';
    }

    mcp_session_free_attrs(s);
    s->attrs = a;
    s->nattrs = n;
    return 0;
}


mcp_session_t *
mcp_session_open(mcp_link_t *l, uint64_t sid, int replay, const uint8_t *kv,
    size_t len, mcp_err_t *err)
{
    mcp_session_t  *s;
    mcp_daemon_t   *d = l->srv->d;
    size_t          b;

    s = mcp_session_find(l, sid);
    if (s != NULL) {
        /* a repeated OPEN of a live sid (a replay racing the original, or
           a module bug): keep the session and its producers, take the new
           attributes */
        mcp_log_debug(&d->log, "link", "session %llu re-opened%s",
                      (unsigned long long) sid, replay ? " (replay)" : "");
        return mcp_session_read_attrs(s, kv, len, err) == 0 ? s : NULL;
    }

    if (l->nsessions >= l->nbuckets && mcp_session_table_grow(l) != 0) {
        mcp_err_set(err, NULL, "out of memory");
        return NULL;
    }

    s = calloc(1, sizeof(*s));
    if (s == NULL) {
        mcp_err_set(err, NULL, "out of memory");
        return NULL;
    }

    s->sid = sid;
    s->d = d;
    s->refs = 1;
    if (mcp_session_read_attrs(s, kv, len, err) != 0) {
        free(s);
        return NULL;
    }

    s->link = l;
    s->open = 1;
    b = mcp_session_bucket(l, sid);
    s->hnext = l->buckets[b];
    l->buckets[b] = s;
    l->nsessions++;
    d->nsessions++;

    mcp_log_debug(&d->log, "link", "session %llu opened%s from %s",
                  (unsigned long long) sid, replay ? " (replay)" : "",
                  mcp_session_attr(s, "addr") ? mcp_session_attr(s, "addr")
                                              : "?");
    return s;
}


static void
mcp_session_drop_held(mcp_session_t *s)
{
    mcp_session_held_t  *h;

    while ((h = s->held) != NULL) {
        s->held = h->next;
        free(h);
    }
    s->held_last = NULL;
    s->nheld = 0;
}


/* the held answers go while the session takes them */
static void
mcp_session_send_held(mcp_session_t *s)
{
    mcp_session_held_t  *h;

    while ((h = s->held) != NULL && !mcp_session_paused(s)) {
        s->held = h->next;
        if (s->held == NULL) {
            s->held_last = NULL;
        }
        s->nheld--;
        (void) mcp_session_send_text(s, h->text, h->len);
        free(h);
    }
}


/* the session may produce again: its held answers first, then the
   producer waiting for it */
static void
mcp_session_resume(mcp_session_t *s)
{
    mcp_session_resume_pt  cb;

    mcp_session_ref(s);
    mcp_session_send_held(s);
    if (s->resume_cb && !mcp_session_paused(s)) {
        cb = s->resume_cb;
        s->resume_cb = NULL;
        cb(s, s->resume_ctx);
    }
    mcp_session_unref(s);
}


void
mcp_session_detach(mcp_session_t *s)
{
    mcp_link_t      *l = s->link;
    mcp_session_t  **pp;
    mcp_daemon_t    *d = s->d;
    size_t           i;

    if (!s->open) {
        return;
    }

    for (pp = l ? &l->buckets[mcp_session_bucket(l, s->sid)] : NULL;
         pp != NULL && *pp != NULL; pp = &(*pp)->hnext)
    {
        if (*pp == s) {
            *pp = s->hnext;         /* a remote session is in no table */
            break;
        }
    }

    if (s->flow_paused) {
        d->nsessions_paused--;
        s->flow_paused = 0;
    }
    s->open = 0;
    s->link = NULL;
    s->resume_cb = NULL;
    mcp_session_drop_held(s);
    if (l != NULL) {
        l->nsessions--;
        d->nsessions--;
    }

    /* producers stop here: cancel upstream work for this client */
    mcp_session_ref(s);
    for (i = 0; i < d->non_close; i++) {
        ((mcp_session_hook_pt) d->on_close[i].fn)(s, d->on_close[i].ctx);
    }
    mcp_session_unref(s);

    mcp_session_unref(s);   /* the table's reference */
}


void
mcp_link_sessions_detach_all(mcp_link_t *l)
{
    size_t  i;

    for (i = 0; i < l->nbuckets; i++) {
        while (l->buckets[i] != NULL) {
            mcp_session_detach(l->buckets[i]);
        }
    }
}


void
mcp_session_set_flow(mcp_session_t *s, int paused)
{
    mcp_daemon_t  *d = s->d;
    size_t         i;
    int            changed = s->flow_paused != (paused ? 1 : 0);

    s->flow_paused = paused ? 1 : 0;

    if (changed) {
        d->nsessions_paused += paused ? 1 : -1;
        /* producers elsewhere (a forwarded request's home) follow it */
        mcp_session_ref(s);
        for (i = 0; i < d->non_flow; i++) {
            ((mcp_session_hook_pt) d->on_flow[i].fn)(s, d->on_flow[i].ctx);
        }
        mcp_session_unref(s);
    }
    if (!paused) {
        mcp_session_resume(s);
    }
}


int
mcp_session_flow_paused(const mcp_session_t *s)
{
    return s->flow_paused;
}


void
mcp_link_sessions_resume(mcp_link_t *l)
{
    mcp_session_t         **ready, *s;
    size_t                  i, n = 0;

    if (l->nsessions == 0 || l->flow_paused || l->congested) {
        return;
    }

    /* collect first: a callback may open, close or send, changing the
       table under us */
    ready = malloc(l->nsessions * sizeof(*ready));
    if (ready == NULL) {
        return;
    }

    for (i = 0; i < l->nbuckets; i++) {
        for (s = l->buckets[i]; s; s = s->hnext) {
            if ((s->resume_cb || s->held) && !s->flow_paused
                && n < l->nsessions)
            {
                mcp_session_ref(s);
                ready[n++] = s;
            }
        }
    }

    for (i = 0; i < n; i++) {
        s = ready[i];
        mcp_session_resume(s);
        mcp_session_unref(s);
    }

    free(ready);
}


/* ------------------------------------------------------------ public API */

uint64_t
mcp_session_id(const mcp_session_t *s)
{
    return s->sid;
}


struct mcp_daemon_s *
mcp_session_daemon(const mcp_session_t *s)
{
    return s->d;
}


const char *
mcp_session_attr(const mcp_session_t *s, const char *key)
{
    size_t  i;

    for (i = 0; i < s->nattrs; i++) {
        if (strcmp(s->attrs[2 * i], key) == 0) {
            return s->attrs[2 * i + 1];
        }
    }
    return NULL;
}


int
mcp_session_is_open(const mcp_session_t *s)
{
    return s->open;
}


void
mcp_session_ref(mcp_session_t *s)
{
    s->refs++;
}


void
mcp_session_unref(mcp_session_t *s)
{
    if (--s->refs > 0) {
        return;
    }
    mcp_session_free_attrs(s);
    free(s);
}


int
mcp_session_paused(const mcp_session_t *s)
{
    return !s->open || s->flow_paused
           || (s->link != NULL && (s->link->flow_paused
                                   || s->link->congested));
}


void
mcp_session_on_resume(mcp_session_t *s, mcp_session_resume_pt cb, void *ctx)
{
    if (!s->open) {
        return;
    }

    if (!mcp_session_paused(s)) {
        cb(s, ctx);
        return;
    }

    s->resume_cb = cb;
    s->resume_ctx = ctx;
}


/*
 * bounded: the caller bounds what it sends this way itself (a request's
 * last frame: small, one per request), so it goes even past the limit
 * that closes a producer ignoring pause.
 */
static int
mcp_session_send(mcp_session_t *s, const char *text, size_t len, int bounded)
{
    mcp_link_t  *l = s->link;

    if (!s->open) {
        return -1;
    }

    if (s->sink != NULL) {
        s->d->messages_out++;
        return s->sink->send(s->sink_ctx, text, len);
    }

    if (!bounded
        && l->out_bytes > l->srv->buf_limit * MCP_SESSION_HARD_FACTOR)
    {
        mcp_log_warn(&s->d->log, "link", "session %llu: producer ignored "
                     "pause, closing it", (unsigned long long) s->sid);
        mcp_session_close(s, 1008, "mcpd output overflow");
        return -1;
    }

    if (mcp_link_send(l, MCP_LINK_MESSAGE, 0, s->sid, text, len) != 0) {
        return -1;
    }

    s->d->messages_out++;
    return 0;
}


int
mcp_session_send_text(mcp_session_t *s, const char *text, size_t len)
{
    return mcp_session_send(s, text, len, 0);
}


int
mcp_session_send_json(mcp_session_t *s, json_t *obj)
{
    char  *text;
    int    rc;

    if (!s->open) {
        return -1;
    }

    text = json_dumps(obj, JSON_COMPACT | JSON_ENCODE_ANY);
    if (text == NULL) {
        return -1;
    }

    rc = mcp_session_send_text(s, text, strlen(text));
    free(text);
    return rc;
}


/* {"request_id", "status", "chunk"} as text (chunk stolen), or NULL */
static char *
mcp_session_reply_text(const char *request_id, const char *status,
    json_t *chunk)
{
    json_t  *o;
    char    *text;

    if (chunk == NULL) {
        chunk = json_object();
    }

    o = json_pack("{s:s?, s:s, s:o}", "request_id", request_id,
                  "status", status, "chunk", chunk);
    if (o == NULL) {
        return NULL;
    }

    text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return text;
}


static int
mcp_session_reply_as(mcp_session_t *s, const char *request_id,
    const char *status, json_t *chunk, int bounded)
{
    char  *text;
    int    rc;

    if (!s->open) {
        json_decref(chunk);
        return -1;
    }

    text = mcp_session_reply_text(request_id, status, chunk);
    if (text == NULL) {
        return -1;
    }

    rc = mcp_session_send(s, text, strlen(text), bounded);
    free(text);
    return rc;
}


int
mcp_session_reply(mcp_session_t *s, const char *request_id,
    const char *status, json_t *chunk)
{
    return mcp_session_reply_as(s, request_id, status, chunk, 0);
}


int
mcp_session_reply_last(mcp_session_t *s, const char *request_id,
    const char *status, json_t *chunk)
{
    return mcp_session_reply_as(s, request_id, status, chunk, 1);
}


int
mcp_session_answer(mcp_session_t *s, const char *request_id,
    const char *status, json_t *chunk)
{
    mcp_session_held_t  *h;
    char                *text;
    size_t               len;

    if (s->held == NULL && !mcp_session_paused(s)) {
        return mcp_session_reply(s, request_id, status, chunk);
    }
    if (!s->open) {
        json_decref(chunk);
        return -1;
    }
    if (s->nheld >= MCP_SESSION_HELD_MAX) {
        json_decref(chunk);
        mcp_log_warn(&s->d->log, "link", "session %llu: %d answers held "
                     "and the client is not reading: closing it",
                     (unsigned long long) s->sid, MCP_SESSION_HELD_MAX);
        mcp_session_close(s, 1008, "too many answers held: the client is "
                          "not reading");
        return -1;
    }

    text = mcp_session_reply_text(request_id, status, chunk);
    len = text ? strlen(text) : 0;
    h = text ? malloc(sizeof(*h) + len + 1) : NULL;
    if (h == NULL) {
        free(text);
        return -1;
    }
    h->next = NULL;
    h->len = len;
    memcpy(h->text, text, len + 1);
    free(text);

    if (s->held_last) {
        s->held_last->next = h;
    } else {
        s->held = h;
    }
    s->held_last = h;
    s->nheld++;
    return 0;
}


int
mcp_session_error(mcp_session_t *s, const char *request_id, const char *code,
    const char *fmt, ...)
{
    char     msg[512];
    va_list  ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);

    return mcp_session_reply(s, request_id, "error",
                             json_pack("{s:s, s:s}", "error", msg,
                                       "code", code));
}


void
mcp_session_close(mcp_session_t *s, uint16_t code, const char *reason)
{
    uint8_t  buf[2 + MCP_LINK_CLOSE_REASON_MAX];
    size_t   n, rlen;

    if (!s->open) {
        return;
    }

    if (s->sink != NULL) {
        s->sink->closed(s->sink_ctx, code, reason ? reason : "");
        mcp_session_detach(s);
        return;
    }

    rlen = reason ? strlen(reason) : 0;
    if (rlen > MCP_LINK_CLOSE_REASON_MAX) {
        rlen = MCP_LINK_CLOSE_REASON_MAX;
    }

    n = mcp_link_close_write(buf, code, reason ? reason : "", rlen);
    (void) mcp_link_send(s->link, MCP_LINK_CLOSE, 0, s->sid, buf, n);
    mcp_session_detach(s);
}


/* ------------------------------------------------------------ remote */

mcp_session_t *
mcp_session_new_remote(struct mcp_daemon_s *d, uint64_t sid,
    const char *const *attrs, const mcp_session_sink_t *sink, void *ctx)
{
    mcp_session_t  *s;
    size_t          n = 0, i;

    while (attrs != NULL && attrs[2 * n] != NULL) {
        n++;
    }

    s = calloc(1, sizeof(*s));
    if (s == NULL || (s->attrs = calloc(2 * n + 1, sizeof(char *))) == NULL) {
        free(s);
        return NULL;
    }
    s->d = d;
    s->sid = sid;
    s->refs = 1;
    s->open = 1;
    s->sink = sink;
    s->sink_ctx = ctx;
    for (i = 0; i < 2 * n; i++) {
        s->attrs[i] = strdup(attrs[i] ? attrs[i] : "");
        if (s->attrs[i] == NULL) {
            s->nattrs = (i + 2) / 2;
            mcp_session_unref(s);
            return NULL;
        }
    }
    s->nattrs = n;
    return s;
}


void
mcp_session_end_remote(mcp_session_t *s)
{
    mcp_session_detach(s);      /* close hooks, then the creator's ref */
}


int
mcp_session_is_remote(const mcp_session_t *s)
{
    return s->sink != NULL;
}
