/*
 * Forwarding between instances, inside redis/: the routes (asking side)
 * and remote sessions (home side) that mcp_redis_fwd.c keeps, shared with
 * their flow control in mcp_redis_fwd_flow.c.
 */

#ifndef MCP_REDIS_FWD_INT_H
#define MCP_REDIS_FWD_INT_H

#include "link/mcp_link_server.h"
#include "redis/mcp_redis_fwd.h"
#include "redis/mcp_redis_fwd_codec.h"

/* the asking side: one client session's requests on one home */
struct mcp_fwd_route_s {
    mcp_redis_fwd_t    *f;
    mcp_fwd_route_t    *prev, *next;
    mcp_session_t      *s;
    char               *home;
    uint64_t            sid;
    char                key[24];        /* by_sid */
    uint64_t            next_seq;
    uint64_t            heard_ms;       /* last frame or alive */
    json_t             *inflight;       /* rid -> true */
    int                 paused;         /* the FLOW state the home has */
    int                 flow_echo;      /* say it again at the next sweep */
    uint64_t            received;       /* frame bytes passed on */
    uint64_t            acked;          /* ... and told to the home */
    uint64_t            ack_step;       /* a quarter of the window */
};

/* the home side: a remote session for (from, sid) */
typedef struct {
    mcp_redis_fwd_t    *f;
    mcp_session_t      *s;
    char               *from;
    uint64_t            sid;
    uint64_t            seq;
    char               *key;
    uint64_t            sent;           /* frame bytes published */
    uint64_t            acked;          /* ... and passed on by the asker */
    uint64_t            window;         /* mcp_fwd_window(); 0: none */
    int                 client_paused;  /* the asker's client's FLOW */
    int                 window_full;
} mcp_fwd_remote_t;

/* what a PUBLISH's reply is for (mcp_redis_fwd.c) */
typedef struct mcp_fwd_pub_s  mcp_fwd_pub_t;

/* mcp_redis_fwd.c */
int mcp_fwd_publish(mcp_redis_fwd_t *f, const char *to,
    const mcp_fwd_msg_t *m, mcp_fwd_pub_t *pub);
mcp_fwd_remote_t *mcp_fwd_remote_find(mcp_redis_fwd_t *f,
    const mcp_fwd_msg_t *m);

/*
 * mcp_redis_fwd_flow.c: flow control across instances.  Asking side: the
 * client's FLOW state and acknowledgements of what went on to it.  Home
 * side: the remote session paused while the client is, or while a window
 * of frame bytes is unacknowledged.
 */
void mcp_fwd_route_tell_flow(mcp_fwd_route_t *rt, int again);
void mcp_fwd_route_received(mcp_fwd_route_t *rt, size_t len);
void mcp_fwd_route_sweep(mcp_fwd_route_t *rt);
void mcp_fwd_session_flow(mcp_session_t *s, void *ctx);
void mcp_fwd_remote_sent(mcp_fwd_remote_t *rm, size_t len);
void mcp_fwd_on_flow(mcp_redis_fwd_t *f, const mcp_fwd_msg_t *m);
void mcp_fwd_on_ack(mcp_redis_fwd_t *f, const mcp_fwd_msg_t *m);

#endif /* MCP_REDIS_FWD_INT_H */
