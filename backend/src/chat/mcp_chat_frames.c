/*
 * A chat request's frames: sent to its client and to the repeats attached
 * to it, held in order while the client is slow (FLOW pause or a congested
 * link) with the provider paused meanwhile, sent when the session resumes;
 * the ends of finished replies held for slow clients (c->draining); and
 * what shutdown does with held frames.
 */

#include <string.h>

#include "chat/mcp_chat_int.h"


static void
mcp_chat_on_resume(mcp_session_t *s, void *ctx)
{
    mcp_chat_flush_paused(ctx, s);
}


static void
mcp_chat_hold(mcp_chat_req_t *r, const char *status, json_t *chunk)
{
    if (r->out == NULL) {
        r->out = json_array();
    }
    json_array_append_new(r->out, json_pack("{s:s, s:o}", "status", status,
                                            "chunk", chunk));
    if (!r->paused) {
        r->paused = 1;
        if (r->call && r->chat->provider->pause) {
            r->chat->provider->pause(r->call, 1);
        }
    }
    mcp_session_on_resume(r->s, mcp_chat_on_resume, r->chat);
}


/* "complete" or "error": the one frame that ends a request */
static int
mcp_chat_status_ends(const char *status)
{
    return strcmp(status, "complete") == 0 || strcmp(status, "error") == 0;
}


/* Send a frame to everyone waiting for this request; chunk is stolen. */
void
mcp_chat_emit(mcp_chat_req_t *r, const char *status, json_t *chunk)
{
    size_t  i;

    if (chunk == NULL) {
        chunk = json_object();
    }
    for (i = 0; i < r->nlisteners; i++) {
        mcp_session_reply(r->listeners[i].s, r->listeners[i].rid, status,
                          json_incref(chunk));
    }

    if (!mcp_session_is_open(r->s)) {
        json_decref(chunk);
        return;
    }
    /* a slow client: hold frames (in order) until the module resumes it;
       but a request's last frame, small and one per request, goes through
       a pause when nothing of it is held (the module takes up to
       mcp_send_buffer_size after it asked for a pause), so that a client
       slowed by another reply still learns at once that this one ended */
    if (json_array_size(r->out) > 0
        || (mcp_session_paused(r->s) && !mcp_chat_status_ends(status)))
    {
        mcp_chat_hold(r, status, chunk);
        return;
    }
    mcp_session_reply(r->s, r->rid, status, chunk);
}


/* the oldest held frame of r goes to s */
static void
mcp_chat_send_head(mcp_session_t *s, mcp_chat_req_t *r)
{
    json_t  *f = json_array_get(r->out, 0);

    mcp_session_reply(s, r->rid,
                      json_string_value(json_object_get(f, "status")),
                      json_incref(json_object_get(f, "chunk")));
    json_array_remove(r->out, 0);
}


/*
 * At shutdown: the frames still held for r's paused client will never
 * reach it (the links close within the grace, and the client may not read
 * again before that): drop them so that the last frame can go now.  What
 * they carried is stored.  Held only behind a congested link, the module
 * has room for them: they go first, in order.  Returns how many were
 * dropped.
 */
size_t
mcp_chat_drop_held(mcp_chat_req_t *r)
{
    size_t  n = json_array_size(r->out);

    if (n == 0 || !mcp_session_is_open(r->s)) {
        return 0;
    }
    if (!mcp_session_client_paused(r->s)) {
        while (json_array_size(r->out) > 0) {
            mcp_chat_send_head(r->s, r);
        }
        return 0;
    }
    json_array_clear(r->out);
    return n;
}


/* send r's held frames while s takes them; 0 when some are left */
static int
mcp_chat_send_held(mcp_chat_t *c, mcp_session_t *s, mcp_chat_req_t *r)
{
    while (json_array_size(r->out) > 0 && !mcp_session_paused(s)) {
        mcp_chat_send_head(s, r);
    }
    if (json_array_size(r->out) > 0) {
        mcp_session_on_resume(s, mcp_chat_on_resume, c);
        return 0;
    }
    return 1;
}


/* take r out of the list at *head (c->reqs or c->draining) */
void
mcp_chat_req_unlink(mcp_chat_req_t **head, mcp_chat_req_t *r)
{
    if (r->prev) {
        r->prev->next = r->next;
    } else {
        *head = r->next;
    }
    if (r->next) {
        r->next->prev = r->prev;
    }
    r->prev = r->next = NULL;
}


static void
mcp_chat_draining_unlink(mcp_chat_t *c, mcp_chat_req_t *r)
{
    mcp_chat_req_unlink(&c->draining, r);
    mcp_chat_req_unref(r);
}


/*
 * Finished requests whose last frames (complete or error among them) are
 * still held for a slow client go once they are out, or when their
 * session has closed (nobody can take them any more), or at stop (all).
 */
static void
mcp_chat_draining_sweep(mcp_chat_t *c, int all)
{
    mcp_chat_req_t  *r, *next;

    for (r = c->draining; r; r = next) {
        next = r->next;
        if (all || !mcp_session_is_open(r->s)) {
            mcp_chat_draining_unlink(c, r);
        }
    }
}


/* r finished with frames still held for its client: they wait here; the
   sweep of closed sessions rides along */
void
mcp_chat_draining_add(mcp_chat_t *c, mcp_chat_req_t *r)
{
    mcp_chat_draining_sweep(c, 0);
    r->next = c->draining;
    if (c->draining) {
        c->draining->prev = r;
    }
    c->draining = r;
}


void
mcp_chat_drop_draining(mcp_chat_t *c)
{
    mcp_chat_draining_sweep(c, 1);
}


/*
 * At shutdown, finished requests whose ends are held for paused clients:
 * those frames would be dropped with the links, and the client would never
 * learn that its request ended.  Each gets one last frame now instead.
 */
void
mcp_chat_end_draining(mcp_chat_t *c)
{
    mcp_chat_req_t  *r, *next;
    size_t           n;

    for (r = c->draining; r; r = next) {
        next = r->next;
        n = mcp_chat_drop_held(r);
        if (n > 0) {
            mcp_session_reply(r->s, r->rid, "error", json_pack(
                "{s:s, s:s, s:s?}", "error", "mcpd is shutting down before "
                "the end of this request reached the client (it was not "
                "reading: its last frames are dropped); the request ended "
                "and is stored: send the same request_id again to have its "
                "answer replayed", "code", "backend_unavailable",
                "conversation_id", r->conv));
        }
        mcp_chat_draining_unlink(c, r);
    }
}


void
mcp_chat_flush_paused(mcp_chat_t *c, mcp_session_t *s)
{
    mcp_chat_req_t  *r, *next;

    /* the tails of finished replies go first: they are older */
    mcp_chat_draining_sweep(c, 0);
    for (r = c->draining; r; r = next) {
        next = r->next;
        if (r->s == s && mcp_chat_send_held(c, s, r)) {
            mcp_chat_draining_unlink(c, r);
        }
    }

    for (r = c->reqs; r; r = next) {
        next = r->next;
        if (r->s != s || r->out == NULL) {
            continue;
        }
        if (!mcp_chat_send_held(c, s, r)) {
            continue;
        }
        if (r->paused) {
            r->paused = 0;
            if (r->call && c->provider->pause) {
                c->provider->pause(r->call, 0);
            }
        }
    }
}
