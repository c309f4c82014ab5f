/*
 * mcpd's side of the link: a unix-socket listener that accepts one link per
 * nginx worker, reads frames with the shared codec, keeps each link's
 * session table and writes replies with a bounded output queue.
 * docs/protocol.md is the specification.
 *
 * This header is internal to link/ and core/: producers use mcp_session.h.
 */

#ifndef MCP_LINK_SERVER_H
#define MCP_LINK_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <uv.h>

#include "core/mcp_config.h"
#include "link/mcp_session.h"

struct mcp_daemon_s;
typedef struct mcp_link_s         mcp_link_t;
typedef struct mcp_link_server_s  mcp_link_server_t;

struct mcp_link_s {
    uv_pipe_t            pipe;          /* first: handle->data is unused */
    mcp_link_server_t   *srv;
    mcp_link_t          *next;
    mcp_link_t          *prev;
    uint64_t             id;            /* for logs: link #3 */

    unsigned             hello_done:1;
    unsigned             closing:1;
    unsigned             flow_paused:1; /* module sent FLOW pause on sid 0 */
    unsigned             congested:1;   /* out_bytes above the buffer size */

    uint16_t             version;
    uint32_t             peer_pid;
    uint32_t             peer_worker;

    uint8_t             *rbuf;
    size_t               rlen;
    size_t               rcap;

    size_t               out_bytes;     /* queued in uv_write, not yet sent */
    struct mcp_link_wreq_s *pend;       /* frames of this loop iteration,
                                           written together before it
                                           sleeps (one write, not one a
                                           frame) */
    mcp_link_t          *flush_next;    /* srv->dirty */
    unsigned             flush_queued:1;

    /* the session table: sid -> session, chained, power-of-two buckets */
    mcp_session_t      **buckets;
    size_t               nbuckets;
    size_t               nsessions;

    uv_shutdown_t        shutdown;
};

struct mcp_link_server_s {
    struct mcp_daemon_s *d;
    uv_pipe_t            listener;
    char                *path;
    unsigned             listening:1;
    unsigned             stopping:1;

    mcp_link_t          *links;
    size_t               nlinks;
    uint64_t             next_id;

    uint32_t             max_payload;   /* daemon.max_frame_size */
    size_t               buf_limit;     /* daemon.link_buffer_size */

    uv_prepare_t         flusher;       /* writes the links' pend */
    mcp_link_t          *dirty;         /* links with pend to write */
};

/* Bind and listen (removing a stale socket file, refusing a live one). */
int mcp_link_server_start(mcp_link_server_t *srv, struct mcp_daemon_s *d,
    const char *path, mcp_err_t *err);
/* Stop accepting links (the socket file goes); the links stay up. */
void mcp_link_server_close_listener(mcp_link_server_t *srv);
/* Graceful stop: stop accepting, say goodbye on every link, flush, close. */
void mcp_link_server_stop(mcp_link_server_t *srv);
/* Close whatever is still open now (the stop timeout passed). */
void mcp_link_server_abort(mcp_link_server_t *srv);
void mcp_link_server_free(mcp_link_server_t *srv);

/* Queue one frame; 0, or -1 when the link is closing or out of memory.
   The frames of one loop iteration leave in one write, before the loop
   waits again. */
int mcp_link_send(mcp_link_t *l, uint8_t type, uint8_t flags, uint64_t sid,
    const void *payload, size_t len);
/* Drop a link (protocol error, peer gone); its sessions close. */
void mcp_link_drop(mcp_link_t *l, const char *why);

/* ------------------------------------------- sessions (mcp_session.c) */

mcp_session_t *mcp_session_find(mcp_link_t *l, uint64_t sid);
/* OPEN: a new session, or the live one with its attributes replaced. */
mcp_session_t *mcp_session_open(mcp_link_t *l, uint64_t sid, int replay,
    const uint8_t *kv, size_t len, mcp_err_t *err);
/* The module closed it, or its link went away: close hooks, no CLOSE. */
void mcp_session_detach(mcp_session_t *s);
void mcp_session_set_flow(mcp_session_t *s, int paused);
/* Call resume callbacks of sessions that may produce again. */
void mcp_link_sessions_resume(mcp_link_t *l);
void mcp_link_sessions_detach_all(mcp_link_t *l);

/* core/mcp_dispatch.c: one MESSAGE from the module. */
void mcp_dispatch_message(mcp_session_t *s, const char *text, size_t len);
/* the built-in action `ping` */
void mcp_dispatch_ping(mcp_session_t *s, const char *request_id, json_t *msg,
    void *ctx);

#endif /* MCP_LINK_SERVER_H */
