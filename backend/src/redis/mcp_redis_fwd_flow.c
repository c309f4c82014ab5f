/* Flow control across instances: see mcp_redis_fwd_int.h. */

#include "redis/mcp_redis_fwd_int.h"


/* ------------------------------------------------------------ asking side */

/*
 * Tell the home the client's FLOW state if it has another: the remote
 * session there is paused or resumed, and the home's producers (a model's
 * stream, answers such as history pages) wait as they would for a client
 * of its own.  Frames already on their way still come, as they do from a
 * local producer after a pause.  A message the home missed (its subscriber
 * was reconnecting) must not leave it paused, or streaming to a paused
 * client: the state is said again at the next sweep, and at every sweep
 * while the client is paused (again: 1).
 */
void
mcp_fwd_route_tell_flow(mcp_fwd_route_t *rt, int again)
{
    mcp_fwd_msg_t  m = { .kind = MCP_FWD_FLOW };
    int            paused = mcp_session_flow_paused(rt->s);

    if (rt->paused == paused && !again) {
        return;
    }
    rt->flow_echo = rt->paused != paused;
    m.from = rt->f->redis->instance;
    m.sid = rt->sid;
    m.paused = paused;
    if (mcp_fwd_publish(rt->f, rt->home, &m, NULL) == 0) {
        rt->paused = paused;
        rt->f->flows_out++;
    }
}

/* Tell the home how many frame bytes went on to the client (cumulative:
   a lost ack is made good by the next, at the latest at the next sweep). */
static void
fwd_route_ack(mcp_fwd_route_t *rt)
{
    mcp_fwd_msg_t  m = { .kind = MCP_FWD_ACK };

    m.from = rt->f->redis->instance;
    m.sid = rt->sid;
    m.bytes = rt->received;
    if (mcp_fwd_publish(rt->f, rt->home, &m, NULL) == 0) {
        rt->acked = rt->received;
    }
}

/* The client's FLOW changed: its routes' homes follow.  A remote session
   (paused here for its own asker) has no routes: nothing to look for. */
void
mcp_fwd_session_flow(mcp_session_t *s, void *ctx)
{
    mcp_redis_fwd_t  *f = ctx;
    mcp_fwd_route_t  *rt;

    if (mcp_session_is_remote(s)) {
        return;
    }
    for (rt = f->routes; rt; rt = rt->next) {
        if (rt->s == s) {
            mcp_fwd_route_tell_flow(rt, 0);
        }
    }
}

/* Frame bytes went on to the client: the home hears of every quarter
   window. */
void
mcp_fwd_route_received(mcp_fwd_route_t *rt, size_t len)
{
    rt->received += len;
    if (rt->received - rt->acked >= rt->ack_step) {
        fwd_route_ack(rt);
    }
}

/* Every heartbeat: what was passed on and not yet told, and the FLOW
   state again when it changed since the last sweep or is a pause. */
void
mcp_fwd_route_sweep(mcp_fwd_route_t *rt)
{
    if (rt->received != rt->acked) {
        fwd_route_ack(rt);
    }
    if (rt->paused || rt->flow_echo) {
        mcp_fwd_route_tell_flow(rt, 1);
    }
}


/* ------------------------------------------------------------ home side */

/*
 * The remote session is paused while its client is (a FLOW from the
 * asker) or while a window of frame bytes is on its way unacknowledged:
 * the home's producers then hold what they make, as for a slow local
 * client, instead of filling Redis's buffer for the asker and the asking
 * nginx's send buffer.
 */
static void
fwd_remote_apply(mcp_fwd_remote_t *rm)
{
    mcp_session_set_flow(rm->s, rm->client_paused || rm->window_full);
}

/* A frame was published: past the window, the producers wait. */
void
mcp_fwd_remote_sent(mcp_fwd_remote_t *rm, size_t len)
{
    rm->sent += len;
    if (rm->window > 0 && !rm->window_full
        && rm->sent - rm->acked > rm->window)
    {
        rm->window_full = 1;
        rm->f->window_stalls++;
        fwd_remote_apply(rm);
    }
}

/* The asking client's FLOW: the remote session follows it. */
void
mcp_fwd_on_flow(mcp_redis_fwd_t *f, const mcp_fwd_msg_t *m)
{
    mcp_fwd_remote_t  *rm = mcp_fwd_remote_find(f, m);

    if (rm != NULL && mcp_session_is_open(rm->s)) {
        f->flows_in++;
        rm->client_paused = m->paused;
        fwd_remote_apply(rm);
    }
}

/* The asker passed frames on: below half the window, the producers go on. */
void
mcp_fwd_on_ack(mcp_redis_fwd_t *f, const mcp_fwd_msg_t *m)
{
    mcp_fwd_remote_t  *rm = mcp_fwd_remote_find(f, m);

    if (rm == NULL || !mcp_session_is_open(rm->s)) {
        return;
    }
    if (m->bytes > rm->acked) {
        rm->acked = m->bytes < rm->sent ? m->bytes : rm->sent;
    }
    if (rm->window_full && rm->sent - rm->acked <= rm->window / 2) {
        rm->window_full = 0;
        fwd_remote_apply(rm);
    }
}
