/*
 * ngx_mcp_module: terminates WebSockets in nginx and carries their messages
 * to mcpd over one multiplexed unix-socket link per worker.
 *
 *   ngx_mcp_module.c     directives, configuration, shared zone, worker hooks
 *   ngx_mcp_handshake.c  RFC 6455 handshake, Origin check, admission queue
 *   ngx_mcp_ws.c         the upgraded connection: frames, control, timers
 *   ngx_mcp_ws_send.c    its send queue: write path, FLOW marks, 1008
 *   ngx_mcp_link.c       the link to mcpd (HELLO, OPEN, MESSAGE, CLOSE, ...)
 *   ngx_mcp_open.c       the OPEN attributes of a session
 *   ngx_mcp_status.c     the mcp_status handler (JSON and Prometheus)
 *   mcp_ws_frame.[ch], mcp_utf8.[ch], mcp_reqid.[ch]: pure C, unit-tested
 */

#ifndef NGX_MCP_MODULE_H
#define NGX_MCP_MODULE_H

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "mcp_link_codec.h"
#include "mcp_ws_frame.h"

#define NGX_MCP_RING            131072      /* queue tickets in shm */
#define NGX_MCP_QUEUE_MAX       65536       /* mcp_connection_queue_size */
#define NGX_MCP_RTT_BUCKETS     32          /* log2 microseconds */
#define NGX_MCP_CLOSE_TIMEOUT   3000        /* ms for the closing handshake */
#define NGX_MCP_QUEUE_POLL      20          /* ms, cross-worker hand-off */
#define NGX_MCP_LINK_OUT_MAX    (8 * 1024 * 1024)
#define NGX_MCP_STATUS_TIMEOUT  1000        /* ms to wait for mcpd's STATS */

/* rejection reasons, counted in shm and shown in status */
enum {
    NGX_MCP_REJ_HANDSHAKE = 0,  /* 400 */
    NGX_MCP_REJ_VERSION,        /* 426 */
    NGX_MCP_REJ_ORIGIN,         /* 403 */
    NGX_MCP_REJ_QUEUE_FULL,     /* 503 */
    NGX_MCP_REJ_QUEUE_TIMEOUT,  /* 503 */
    NGX_MCP_REJ_SHUTDOWN,       /* 503 while the worker exits */
    NGX_MCP_REJ_MAX
};

/* close codes counted in status; the last entry is "other" */
#define NGX_MCP_CLOSE_KINDS     13

enum {
    NGX_MCP_LINK_DOWN = 0,
    NGX_MCP_LINK_CONNECTING,
    NGX_MCP_LINK_HELLO,         /* connected, waiting for mcpd's HELLO */
    NGX_MCP_LINK_UP
};

typedef struct {
    ngx_atomic_t        pid;
    ngx_atomic_t        gen;
    ngx_atomic_t        active;
    ngx_atomic_t        queued;
    ngx_atomic_t        link_state;
    ngx_atomic_t        link_reconnects;
    ngx_atomic_t        link_out_bytes;
    ngx_atomic_t        unused;
} ngx_mcp_worker_sh_t;

typedef struct {
    /* admission, changed under the zone's mutex */
    ngx_atomic_t        active;
    ngx_atomic_t        queued;
    ngx_atomic_t        max;            /* as configured, for status */
    ngx_atomic_t        queue_max;
    uint64_t            head;           /* oldest ticket maybe waiting */
    uint64_t            tail;           /* next ticket */
    ngx_msec_t          last_reap;

    /* counters, atomic adds */
    ngx_atomic_t        accepted;
    ngx_atomic_t        queued_total;
    ngx_atomic_t        rejected[NGX_MCP_REJ_MAX];
    ngx_atomic_t        closed[NGX_MCP_CLOSE_KINDS];
    ngx_atomic_t        frames_in;
    ngx_atomic_t        frames_out;
    ngx_atomic_t        bytes_in;
    ngx_atomic_t        bytes_out;
    ngx_atomic_t        messages_in;
    ngx_atomic_t        messages_out;
    ngx_atomic_t        backpressure_pause;
    ngx_atomic_t        backpressure_close;
    ngx_atomic_t        backend_unavailable;
    ngx_atomic_t        pings_sent;
    ngx_atomic_t        ping_timeouts;
    ngx_atomic_t        idle_timeouts;
    ngx_atomic_t        rtt_count;
    ngx_atomic_t        rtt_sum_us;
    ngx_atomic_t        rtt[NGX_MCP_RTT_BUCKETS];

    ngx_mcp_worker_sh_t workers[NGX_MAX_PROCESSES];

    /* ticket -> owner: (slot + 1) << 16 | (gen & 0xffff); 0 = gone */
    uint32_t            ring[NGX_MCP_RING];
} ngx_mcp_sh_t;

typedef struct ngx_mcp_conn_s  ngx_mcp_conn_t;
typedef struct ngx_mcp_out_s   ngx_mcp_out_t;

/* one queued outgoing frame, malloc'ed so it is freed as soon as sent */
struct ngx_mcp_out_s {
    ngx_mcp_out_t      *next;
    size_t              len;
    size_t              sent;
    u_char              data[];
};

typedef struct {
    ngx_connection_t   *conn;
    ngx_peer_connection_t  peer;
    ngx_uint_t          state;
    u_char             *in;
    size_t              in_len;
    size_t              in_cap;
    u_char             *out;
    size_t              out_pos;
    size_t              out_len;
    size_t              out_cap;
    ngx_event_t         reconnect;
    ngx_msec_t          backoff;
    ngx_uint_t          reconnects;
    ngx_rbtree_t        sessions;
    ngx_rbtree_node_t   sentinel;
    ngx_queue_t         live;           /* every upgraded connection */
    ngx_queue_t         waiting;        /* queued upgrades, ticket order */
    ngx_queue_t         status;         /* /health requests awaiting STATS */
    ngx_event_t         poll;           /* retries admission of waiting */
    uint64_t            next_sid;
    uint64_t            next_tag;
    u_char             *rbuf;           /* shared read buffer for clients */
    size_t              rbuf_size;
} ngx_mcp_worker_t;

typedef struct {
    ngx_shm_zone_t     *shm_zone;
    ngx_mcp_sh_t       *sh;
    ngx_slab_pool_t    *shpool;
    ngx_url_t          *backend;        /* the one mcp_backend in use */
    ngx_flag_t          enabled;
    ngx_uint_t          max_connections;    /* for status before traffic */
    ngx_uint_t          queue_size;
    ngx_mcp_worker_t    worker;         /* per process after fork */
} ngx_mcp_main_conf_t;

typedef struct {
    ngx_flag_t          websocket;
    ngx_flag_t          status;
    ngx_url_t          *backend;
    ngx_uint_t          max_connections;
    ngx_uint_t          queue_size;
    ngx_msec_t          queue_timeout;
    ngx_msec_t          ping_interval;
    ngx_msec_t          ping_timeout;
    ngx_msec_t          idle_timeout;
    size_t              max_message_size;
    size_t              send_buffer_size;
    ngx_array_t        *allow_origins;  /* ngx_str_t, NULL: any */
    ngx_http_complex_value_t  *principal;
} ngx_mcp_loc_conf_t;

/* per WebSocket (and per queued upgrade): request ctx, in r->pool */
struct ngx_mcp_conn_s {
    ngx_rbtree_node_t   node;           /* key: sid */
    ngx_queue_t         queue;          /* worker->live or worker->waiting */
    ngx_http_request_t *request;
    ngx_mcp_loc_conf_t *conf;
    ngx_event_t         timer;
    uint64_t            sid;
    uint64_t            ticket;

    mcp_ws_parser_t     parser;

    u_char             *msg;            /* reassembly, malloc'ed */
    size_t              msg_len;
    size_t              msg_cap;

    ngx_mcp_out_t      *out;            /* send queue */
    ngx_mcp_out_t      *out_last;
    ngx_mcp_out_t      *out_urgent;     /* last ping/pong queued up front */
    size_t              out_bytes;
    size_t              flow_in;        /* bytes from mcpd since pause */

    u_char             *open;           /* OPEN payload, kept for replay */
    size_t              open_len;

    ngx_msec_t          last_active;
    ngx_msec_t          next_ping;
    ngx_msec_t          ping_sent;      /* 0: no ping outstanding */
    ngx_msec_t          ping_due;       /* its pong is late after this */
    off_t               client_took;    /* ngx_mcp_ws_client_took() then */
    ngx_msec_t          close_deadline;
    uint64_t            ping_stamp;

    uint16_t            close_code;     /* what the session ended with */

    unsigned            waiting:1;      /* in the admission queue */
    unsigned            admitted:1;     /* holds a slot */
    unsigned            upgraded:1;
    unsigned            opened:1;       /* mcpd has seen OPEN */
    unsigned            close_sent:1;
    unsigned            close_rcvd:1;
    unsigned            failed:1;       /* protocol error: no echo awaited */
    unsigned            flow_paused:1;  /* we asked mcpd to pause */
    unsigned            read_paused:1;  /* mcpd asked us to pause */
    unsigned            finalizing:1;
};

extern ngx_module_t  ngx_mcp_module;

/* ngx_mcp_module.c */
ngx_mcp_main_conf_t *ngx_mcp_main_conf(void);
void ngx_mcp_count_close(ngx_mcp_sh_t *sh, unsigned code);

/* ngx_mcp_handshake.c */
ngx_int_t ngx_mcp_ws_handler(ngx_http_request_t *r);
void ngx_mcp_admission_release(ngx_mcp_conn_t *ctx);
void ngx_mcp_admission_poll(ngx_event_t *ev);
void ngx_mcp_admission_shutdown(void);

/* ngx_mcp_ws.c */
void ngx_mcp_ws_start(ngx_http_request_t *r, ngx_mcp_conn_t *ctx);
void ngx_mcp_ws_close(ngx_mcp_conn_t *ctx, uint16_t code, const char *reason);
void ngx_mcp_ws_pause_read(ngx_mcp_conn_t *ctx, ngx_uint_t pause);
void ngx_mcp_ws_teardown(ngx_mcp_conn_t *ctx);
void ngx_mcp_ws_destroy(ngx_mcp_conn_t *ctx);

/* ngx_mcp_ws_send.c */
ngx_int_t ngx_mcp_ws_queue(ngx_mcp_conn_t *ctx, ngx_uint_t opcode,
    u_char *data, size_t len);
ngx_int_t ngx_mcp_ws_flush(ngx_mcp_conn_t *ctx);
ngx_int_t ngx_mcp_ws_send_text(ngx_mcp_conn_t *ctx, u_char *data, size_t len);
void ngx_mcp_ws_write_handler(ngx_event_t *wev);
void ngx_mcp_ws_free_queue(ngx_mcp_conn_t *ctx);
off_t ngx_mcp_ws_client_took(ngx_mcp_conn_t *ctx);

/* ngx_mcp_link.c */
ngx_int_t ngx_mcp_link_init_worker(ngx_cycle_t *cycle);
void ngx_mcp_link_exit_worker(void);
ngx_int_t ngx_mcp_link_open(ngx_mcp_conn_t *ctx);
ngx_int_t ngx_mcp_link_message(ngx_mcp_conn_t *ctx, u_char *p, size_t len);
void ngx_mcp_link_close(ngx_mcp_conn_t *ctx, uint16_t code,
    const char *reason, size_t reason_len);
void ngx_mcp_link_flow(ngx_mcp_conn_t *ctx, ngx_uint_t pause);
/* prometheus: ask for mcpd's figures as Prometheus text, not JSON */
ngx_int_t ngx_mcp_link_stats_request(uint64_t *tag, ngx_uint_t prometheus);

/* ngx_mcp_open.c */
ngx_int_t ngx_mcp_link_build_open(ngx_mcp_conn_t *ctx);
ngx_uint_t ngx_mcp_link_up(void);

/* ngx_mcp_status.c */
ngx_int_t ngx_mcp_status_handler(ngx_http_request_t *r);
void ngx_mcp_status_reply(uint64_t tag, u_char *json, size_t len);
void ngx_mcp_status_link_down(void);

#endif /* NGX_MCP_MODULE_H */
