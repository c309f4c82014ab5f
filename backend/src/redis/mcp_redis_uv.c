/*
 * hiredis on libuv.
 *
 * hiredis 0.14's adapter returns early when libuv reports an error on the
 * socket.  libuv does that (status < 0, and it stops the handle) when
 * epoll says EPOLLERR, which is what a connection whose peer went away
 * shows once something was written to it: Redis killed between two of
 * our commands.  hiredis was then never told, the context stayed "up"
 * with its commands unanswered, and mcpd noticed only when a command
 * timed out (a Redis restart failed the first requests after it).  Here
 * an error hands hiredis every event it watches: its read or write fails
 * at once and it disconnects, so the reconnect starts right away.
 */

#include "redis/mcp_redis_uv.h"

#include <stdlib.h>


typedef struct {
    uv_poll_t           poll;
    redisAsyncContext  *ac;         /* NULL once hiredis let go of it */
    int                 events;     /* UV_READABLE / UV_WRITABLE asked */
} mcp_redis_uv_t;


static void
redis_uv_ready(uv_poll_t *poll, int status, int events)
{
    mcp_redis_uv_t  *w = poll->data;

    if (status < 0) {
        events = w->events;
    }
    /* a read may end the context (w->ac becomes NULL): check again */
    if (w->ac != NULL && (events & UV_READABLE)) {
        redisAsyncHandleRead(w->ac);
    }
    if (w->ac != NULL && (events & UV_WRITABLE)) {
        redisAsyncHandleWrite(w->ac);
    }
}


static void
redis_uv_watch(mcp_redis_uv_t *w, int events)
{
    w->events = events;
    if (events) {
        uv_poll_start(&w->poll, events, redis_uv_ready);
    } else {
        uv_poll_stop(&w->poll);
    }
}


static void
redis_uv_add_read(void *data)
{
    mcp_redis_uv_t  *w = data;

    redis_uv_watch(w, w->events | UV_READABLE);
}


static void
redis_uv_del_read(void *data)
{
    mcp_redis_uv_t  *w = data;

    redis_uv_watch(w, w->events & ~UV_READABLE);
}


static void
redis_uv_add_write(void *data)
{
    mcp_redis_uv_t  *w = data;

    redis_uv_watch(w, w->events | UV_WRITABLE);
}


static void
redis_uv_del_write(void *data)
{
    mcp_redis_uv_t  *w = data;

    redis_uv_watch(w, w->events & ~UV_WRITABLE);
}


static void
redis_uv_closed(uv_handle_t *h)
{
    free(h->data);
}


/* hiredis frees the context: the poll goes too, on the loop's time */
static void
redis_uv_cleanup(void *data)
{
    mcp_redis_uv_t  *w = data;

    w->ac = NULL;
    uv_close((uv_handle_t *) &w->poll, redis_uv_closed);
}


int
mcp_redis_uv_attach(redisAsyncContext *ac, uv_loop_t *loop)
{
    mcp_redis_uv_t  *w;

    if (ac->ev.data != NULL) {
        return REDIS_ERR;
    }
    w = calloc(1, sizeof(*w));
    if (w == NULL) {
        return REDIS_ERR;
    }
    if (uv_poll_init(loop, &w->poll, ac->c.fd) != 0) {
        free(w);
        return REDIS_ERR;
    }
    w->poll.data = w;
    w->ac = ac;

    ac->ev.data = w;
    ac->ev.addRead = redis_uv_add_read;
    ac->ev.delRead = redis_uv_del_read;
    ac->ev.addWrite = redis_uv_add_write;
    ac->ev.delWrite = redis_uv_del_write;
    ac->ev.cleanup = redis_uv_cleanup;
    return REDIS_OK;
}
