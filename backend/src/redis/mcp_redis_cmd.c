/*
 * Commands on mcpd's Redis connection (see mcp_redis.h): each one copied,
 * pipelined to hiredis, given its own deadline (command_timeout), and
 * answered exactly once; scripts go by EVALSHA with one EVAL retry on
 * NOSCRIPT.  The connection itself is mcp_redis.c.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redis/mcp_redis_int.h"

typedef struct {
    mcp_redis_t          *r;
    mcp_redis_cb_pt       cb;
    void                 *data;
    mcp_redis_script_t   *script;       /* NULL: a plain command */
    int                   nkeys;
    int                   argc;
    char                **argv;         /* the command, or the script args */
    size_t               *lens;
    uv_timer_t            timer;
    uint64_t              start_ns;
    int                   done;         /* cb has run */
    int                   retried;      /* NOSCRIPT -> EVAL once */
    int                   refs;         /* hiredis callback + timer */
} mcp_redis_cmd_t;


static void
redis_cmd_release(mcp_redis_cmd_t *c)
{
    int  i;

    if (--c->refs > 0) {
        return;
    }
    for (i = 0; i < c->argc; i++) {
        free(c->argv[i]);
    }
    free(c->argv);
    free(c->lens);
    free(c);
}

static void
redis_cmd_timer_closed(uv_handle_t *h)
{
    mcp_redis_cmd_t  *c = h->data;
    mcp_redis_t      *r = c->r;

    redis_cmd_release(c);
    mcp_redis_handles_dec(r);
}

/* Run the caller's callback once, and retire the deadline. */
static void
redis_cmd_finish(mcp_redis_cmd_t *c, redisReply *reply, const char *err)
{
    mcp_redis_t  *r = c->r;

    if (c->done) {
        return;
    }
    c->done = 1;
    r->inflight--;
    uv_timer_stop(&c->timer);
    uv_close((uv_handle_t *) &c->timer, redis_cmd_timer_closed);

    if (err != NULL) {
        r->errors++;
        mcp_redis_set_error(r, err);
    } else {
        mcp_hist_record(&r->latency_us, (uv_hrtime() - c->start_ns) / 1000);
    }
    if (c->cb != NULL) {
        c->cb(r, reply, err, c->data);
    }
}

static int redis_cmd_send(mcp_redis_cmd_t *c);

static void
redis_cmd_reply(redisAsyncContext *ac, void *rep, void *privdata)
{
    mcp_redis_cmd_t  *c = privdata;
    redisReply       *reply = rep;
    char              msg[160];

    if (!c->done) {
        if (reply == NULL) {
            redis_cmd_finish(c, NULL, "disconnected");

        } else if (reply->type == REDIS_REPLY_ERROR && c->script != NULL
                   && !c->retried
                   && strncmp(reply->str, "NOSCRIPT", 8) == 0)
        {
            /* Redis restarted or was flushed: send the source this once */
            c->retried = 1;
            c->script->sha[0] = '\0';
            if (redis_cmd_send(c) != 0) {
                redis_cmd_finish(c, NULL, "disconnected");
            }

        } else if (reply->type == REDIS_REPLY_ERROR) {
            snprintf(msg, sizeof(msg), "%.*s", (int) reply->len, reply->str);
            redis_cmd_finish(c, reply, msg);

        } else {
            redis_cmd_finish(c, reply, NULL);
        }
    }
    redis_cmd_release(c);
}

static void
redis_cmd_timeout(uv_timer_t *t)
{
    mcp_redis_cmd_t  *c = t->data;
    mcp_redis_t      *r = c->r;

    r->timeouts++;
    redis_cmd_finish(c, NULL, "timeout");
    /* a Redis that does not answer in time is treated as down: the
       connection is re-made, and meanwhile everyone uses local state */
    mcp_redis_schedule_drop(r, "command timeout");
}

/* Hand c to hiredis (again, for a NOSCRIPT retry). 0 or -1. */
static int
redis_cmd_send(mcp_redis_cmd_t *c)
{
    mcp_redis_t   *r = c->r;
    const char    *argv[64];
    size_t         lens[64];
    char           nkeys[16];
    int            n = 0, i;

    if (r->ac == NULL || c->argc + 3 > 64) {
        return -1;
    }
    if (c->script != NULL) {
        if (c->script->sha[0] != '\0') {
            argv[n] = "EVALSHA";
            lens[n++] = 7;
            argv[n] = c->script->sha;
            lens[n++] = 40;
        } else {
            argv[n] = "EVAL";
            lens[n++] = 4;
            argv[n] = c->script->src;
            lens[n++] = strlen(c->script->src);
        }
        snprintf(nkeys, sizeof(nkeys), "%d", c->nkeys);
        argv[n] = nkeys;
        lens[n++] = strlen(nkeys);
    }
    for (i = 0; i < c->argc; i++) {
        argv[n] = c->argv[i];
        lens[n++] = c->lens[i];
    }
    if (redisAsyncCommandArgv(r->ac, redis_cmd_reply, c, n, argv, lens)
        != REDIS_OK)
    {
        return -1;
    }
    c->refs++;
    return 0;
}

int
mcp_redis_submit(mcp_redis_t *r, mcp_redis_script_t *s, int nkeys,
    mcp_redis_cb_pt cb, void *data, int argc, const char **argv,
    const size_t *lens)
{
    mcp_redis_cmd_t  *c;
    int               i;

    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        return -1;
    }
    c->r = r;
    c->cb = cb;
    c->data = data;
    c->script = s;
    c->nkeys = nkeys;
    c->argc = argc;
    c->argv = calloc((size_t) argc + 1, sizeof(char *));
    c->lens = calloc((size_t) argc + 1, sizeof(size_t));
    if (c->argv == NULL || c->lens == NULL) {
        redis_cmd_release(c);
        return -1;
    }
    for (i = 0; i < argc; i++) {
        c->lens[i] = lens ? lens[i] : strlen(argv[i]);
        c->argv[i] = malloc(c->lens[i] + 1);
        if (c->argv[i] == NULL) {
            c->refs = 0;
            redis_cmd_release(c);
            return -1;
        }
        memcpy(c->argv[i], argv[i], c->lens[i]);
        c->argv[i][c->lens[i]] = '\0';
    }
    if (redis_cmd_send(c) != 0) {
        c->refs = 0;
        redis_cmd_release(c);
        return -1;
    }
    c->refs++;                              /* the timer */
    c->start_ns = uv_hrtime();
    uv_timer_init(r->loop, &c->timer);
    r->open_handles++;
    c->timer.data = c;
    uv_timer_start(&c->timer, redis_cmd_timeout,
                   (uint64_t) r->conf->command_timeout_ms, 0);
    r->inflight++;
    r->commands++;
    return 0;
}

int
mcp_redis_command(mcp_redis_t *r, mcp_redis_cb_pt cb, void *data,
    int argc, const char **argv, const size_t *lens)
{
    if (r->state != MCP_REDIS_UP) {
        return -1;
    }
    return mcp_redis_submit(r, NULL, 0, cb, data, argc, argv, lens);
}

int
mcp_redis_eval(mcp_redis_t *r, mcp_redis_script_t *s, mcp_redis_cb_pt cb,
    void *data, int nkeys, int nargs, const char **args, const size_t *lens)
{
    if (r->state != MCP_REDIS_UP) {
        return -1;
    }
    return mcp_redis_submit(r, s, nkeys, cb, data, nargs, args, lens);
}


/* ------------------------------------------------------------ pub/sub */

static void
redis_sub_reply(redisAsyncContext *ac, void *rep, void *privdata)
{
    mcp_redis_t  *r = privdata;
    redisReply   *reply = rep, *kind, *payload;

    /* NULL: the connection went; the up hook subscribes again */
    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY
        || reply->elements != 3)
    {
        return;
    }
    kind = reply->element[0];
    payload = reply->element[2];
    if (kind->type == REDIS_REPLY_STRING && kind->len == 7
        && memcmp(kind->str, "message", 7) == 0
        && payload->type == REDIS_REPLY_STRING && r->sub_cb != NULL)
    {
        r->sub_messages++;
        r->sub_cb(r, payload->str, payload->len, r->sub_data);
    }
}


int
mcp_redis_subscribe(mcp_redis_t *r, const char *channel, mcp_redis_msg_pt cb,
    void *data)
{
    const char  *argv[2];
    size_t       lens[2];

    if (r->state != MCP_REDIS_UP || r->ac == NULL) {
        return -1;
    }
    r->sub_cb = cb;
    r->sub_data = data;
    argv[0] = "SUBSCRIBE";
    lens[0] = 9;
    argv[1] = channel;
    lens[1] = strlen(channel);
    /* no deadline: the subscription lasts as long as the connection */
    return redisAsyncCommandArgv(r->ac, redis_sub_reply, r, 2, argv, lens)
           == REDIS_OK ? 0 : -1;
}
