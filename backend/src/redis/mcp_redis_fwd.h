/*
 * Forwarding requests to a conversation's home instance through Redis
 * pub/sub (docs/operations.md, "Scaling out").
 *
 * Every instance subscribes, on a second Redis connection, to its own
 * channel <prefix>fwd:<instance>.  The asking instance keeps a route per
 * (client session, home): its requests go to the home as `req` messages;
 * the home runs them on a remote session (link/mcp_session.h) whose frames
 * come back as numbered `frame` messages, in order (one publishing
 * connection), and are sent to the client as they are.  The route ends
 * when its last request got its final frame (then `close`), when the
 * client goes (`close`: the home stops the work, as for a disconnect), or
 * when the home is silent for heartbeat_ttl (no frame, no `alive`): the
 * requests still open get `conversation_unavailable`.  A frame missing
 * from the sequence fails them with `backend_unavailable`.  No request
 * waits without a deadline.
 */

#ifndef MCP_REDIS_FWD_H
#define MCP_REDIS_FWD_H

#include "core/mcp_daemon.h"
#include "redis/mcp_redis.h"
#include "util/mcp_strmap.h"

typedef struct mcp_fwd_route_s  mcp_fwd_route_t;

typedef struct {
    mcp_daemon_t       *d;
    mcp_redis_t        *redis;         /* commands: PUBLISH */
    mcp_redis_t         sub;           /* our channel */
    char                channel[300];
    uint64_t            next_sid;

    mcp_fwd_route_t    *routes;        /* asking side, every route */
    mcp_strmap_t       *by_sid;        /* "sid" -> route (not owned) */
    mcp_strmap_t       *remotes;       /* home side: "from sid" -> remote */
    uv_timer_t          sweep;

    /* status */
    uint64_t            forwarded;     /* requests sent to a home */
    uint64_t            served;        /* requests run here for others */
    uint64_t            frames_in, frames_out;
    uint64_t            unavailable;   /* home gone or silent */
    uint64_t            lost;          /* a frame missing */
    uint64_t            bad;           /* malformed messages */
    uint64_t            flows_out;     /* a client's FLOW sent to homes */
    uint64_t            flows_in;      /* FLOW applied to remote sessions */
    uint64_t            window_stalls; /* remote sessions paused: window */
} mcp_redis_fwd_t;

int mcp_redis_fwd_init(mcp_redis_fwd_t *f, mcp_daemon_t *d,
    mcp_redis_t *redis);
void mcp_redis_fwd_start(mcp_redis_fwd_t *f);
/* Close the subscriber connection and the timer; closed() per handle set
   (called twice: connection, timer). */
void mcp_redis_fwd_close(mcp_redis_fwd_t *f, void (*closed)(void *ctx),
    void *ctx);
void mcp_redis_fwd_free(mcp_redis_fwd_t *f);

/*
 * Run one client message (text) of session s on instance home; rid is its
 * request_id.  Its frames reach s; it always ends with a final frame (the
 * home's, or an error made here).
 */
void mcp_redis_fwd_send(mcp_redis_fwd_t *f, mcp_session_t *s,
    const char *home, const char *rid, const char *text, size_t len);

/* The home running request rid of session s, or NULL. */
const char *mcp_redis_fwd_home_of(mcp_redis_fwd_t *f, mcp_session_t *s,
    const char *rid);

void mcp_redis_fwd_stats(mcp_redis_fwd_t *f, json_t *o);

#endif /* MCP_REDIS_FWD_H */
