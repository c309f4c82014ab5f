/*
 * Per-conversation ordering (see mcp_chat_order.h): a map from
 * conversation id to a FIFO of waiting jobs behind the running one.
 */

#include <stdlib.h>

#include "chat/mcp_chat_order.h"
#include "util/mcp_strmap.h"

typedef struct {
    void    **q;            /* ring of waiting jobs */
    size_t    head;
    size_t    n;
    size_t    cap;
} mcp_chat_lane_t;

struct mcp_chat_order_s {
    mcp_strmap_t  *lanes;
    size_t      waiting;
};


static void
mcp_chat_lane_free(void *v, void *ctx)
{
    mcp_chat_lane_t  *lane = v;

    free(lane->q);
    free(lane);
}


mcp_chat_order_t *
mcp_chat_order_new(void)
{
    mcp_chat_order_t  *o = calloc(1, sizeof(*o));

    if (o == NULL) {
        return NULL;
    }
    o->lanes = mcp_strmap_new(mcp_chat_lane_free, NULL);
    if (o->lanes == NULL) {
        free(o);
        return NULL;
    }
    return o;
}


void
mcp_chat_order_free(mcp_chat_order_t *o)
{
    if (o) {
        mcp_strmap_free(o->lanes);
        free(o);
    }
}


static int
mcp_chat_lane_push(mcp_chat_lane_t *lane, void *job)
{
    void    **q;
    size_t    cap, i;

    if (lane->n == lane->cap) {
        cap = lane->cap ? lane->cap * 2 : 4;
        q = malloc(cap * sizeof(*q));
        if (q == NULL) {
            return -1;
        }
        for (i = 0; i < lane->n; i++) {
            q[i] = lane->q[(lane->head + i) % lane->cap];
        }
        free(lane->q);
        lane->q = q;
        lane->cap = cap;
        lane->head = 0;
    }
    lane->q[(lane->head + lane->n) % lane->cap] = job;
    lane->n++;
    return 0;
}


int
mcp_chat_order_submit(mcp_chat_order_t *o, const char *conv, void *job,
    size_t max_queue)
{
    mcp_chat_lane_t  *lane = mcp_strmap_get(o->lanes, conv);

    if (lane == NULL) {
        lane = calloc(1, sizeof(*lane));
        if (lane == NULL || mcp_strmap_put(o->lanes, conv, lane) != 0) {
            return MCP_ORDER_NOMEM;
        }
        return MCP_ORDER_RUN;
    }
    if (lane->n >= max_queue) {
        return MCP_ORDER_BUSY;
    }
    if (mcp_chat_lane_push(lane, job) != 0) {
        return MCP_ORDER_NOMEM;
    }
    o->waiting++;
    return MCP_ORDER_QUEUED;
}


void *
mcp_chat_order_done(mcp_chat_order_t *o, const char *conv)
{
    mcp_chat_lane_t  *lane = mcp_strmap_get(o->lanes, conv);
    void             *job;

    if (lane == NULL) {
        return NULL;
    }
    if (lane->n == 0) {
        mcp_strmap_remove(o->lanes, conv);
        return NULL;
    }
    job = lane->q[lane->head];
    lane->head = (lane->head + 1) % lane->cap;
    lane->n--;
    o->waiting--;
    return job;
}


int
mcp_chat_order_remove(mcp_chat_order_t *o, const char *conv, void *job)
{
    mcp_chat_lane_t  *lane = mcp_strmap_get(o->lanes, conv);
    size_t            i, j;

    if (lane == NULL) {
        return 0;
    }
    for (i = 0; i < lane->n; i++) {
        if (lane->q[(lane->head + i) % lane->cap] == job) {
            for (j = i; j + 1 < lane->n; j++) {
                lane->q[(lane->head + j) % lane->cap] =
                    lane->q[(lane->head + j + 1) % lane->cap];
            }
            lane->n--;
            o->waiting--;
            return 1;
        }
    }
    return 0;
}


size_t
mcp_chat_order_active(const mcp_chat_order_t *o)
{
    return mcp_strmap_count(o->lanes);
}


size_t
mcp_chat_order_waiting(const mcp_chat_order_t *o)
{
    return o->waiting;
}
