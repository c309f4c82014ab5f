/*
 * The provider layer's internals, shared by mcp_llm.c (requests, queue),
 * mcp_llm_retry.c (retries, fallback), mcp_llm_http.c (libcurl on libuv)
 * and mcp_llm_stats.c.  Not for other subsystems: use mcp_llm.h.
 */

#ifndef MCP_LLM_INT_H
#define MCP_LLM_INT_H

#include <curl/curl.h>

#include "llm/mcp_llm.h"
#include "llm/mcp_llm_buf.h"
#include "llm/mcp_llm_policy.h"
#include "llm/mcp_llm_ratelimit.h"
#include "llm/mcp_llm_stream.h"
#include "util/mcp_hist.h"

typedef enum {
    MCP_LLM_REQ_QUEUED,
    MCP_LLM_REQ_RETRY_WAIT,
    MCP_LLM_REQ_INFLIGHT,
    MCP_LLM_REQ_DONE
} mcp_llm_req_state_e;

typedef struct mcp_llm_sock_s  mcp_llm_sock_t;

/*
 * The watcher of one socket curl uses.  A socket curl opened through us
 * (owned) keeps its watcher for its whole life, across the keep-alive
 * requests it carries: curl's CURL_POLL_REMOVE at the end of a transfer
 * only makes it idle, and it is closed when curl closes the socket.  Any other
 * socket curl asks us to watch gets a watcher for one CURL_POLL_* cycle.
 */
struct mcp_llm_sock_s {
    uv_poll_t            poll;
    curl_socket_t        fd;
    mcp_llm_provider_t  *p;
    int                  events;     /* UV_READABLE|UV_WRITABLE watched */
    unsigned             owned:1;
    unsigned             idle:1;     /* curl does not watch it now */
};

struct mcp_llm_provider_s {
    mcp_llm_t                      *llm;
    const mcp_llm_provider_conf_t  *conf;
    const char                     *name;

    CURLM                          *multi;
    uv_timer_t                      curl_timer;
    uv_timer_t                      pump_timer;
    int                             in_curl;     /* inside libcurl calls */
    struct curl_slist              *headers;
    char                           *url;
    int                             key_state;   /* 0 none, 1 set, -1 missing */
    char                            key_msg[160];
    mcp_llm_sock_t                **socks;       /* indexed by fd */
    size_t                          nsocks;

    CURL                          **easy_free;   /* reusable easy handles */
    size_t                          neasy_free;

    mcp_llm_req_t                  *q_head;
    mcp_llm_req_t                  *q_tail;
    size_t                          queued;
    size_t                          inflight;
    mcp_llm_req_t                  *deferred;    /* cancelled inside curl */

    mcp_llm_ratelimit_t             rl;
    mcp_llm_breaker_t               breaker;

    /* stats */
    int64_t                         conns_open;
    uint64_t                        conns_opened;
    uint64_t                        requests;
    uint64_t                        completed;
    uint64_t                        retries;
    uint64_t                        fallbacks;
    uint64_t                        errors[MCP_LLM_E__COUNT];
    int64_t                         tokens_in;
    int64_t                         tokens_out;
    uint64_t                        chunks;         /* streamed JSON events */
    uint64_t                        chunks_plain;   /*   read without a tree */
    mcp_hist_t                      latency_us;
    mcp_hist_t                      ttft_us;
};

struct mcp_llm_s {
    uv_loop_t                *loop;
    const mcp_llm_conf_t     *conf;
    const mcp_log_t          *log;
    mcp_llm_provider_t       *providers;
    size_t                    nproviders;
    mcp_llm_provider_t       *active;
    mcp_llm_provider_t       *fallback;
    uint64_t                  rng;
    int                       closing;
    size_t                    pending_closes;   /* uv handles being closed */
    void                    (*closed)(void *ctx);
    void                     *closed_ctx;
    mcp_llm_req_t            *live;             /* every live request */
    mcp_llm_gate_t            gate;             /* fleet-wide (redis/) */
};

struct mcp_llm_req_s {
    mcp_llm_t                *llm;
    mcp_llm_provider_t       *p;
    mcp_llm_callbacks_t       cb;
    void                     *data;

    json_t                   *messages;
    char                     *messages_json;    /* the caller's dump, else
                                                   llm_build_body's */
    size_t                    messages_len;
    json_t                   *tools;
    int                       stream;
    int64_t                   max_tokens;
    char                     *body;
    size_t                    body_len;
    int64_t                   est_tokens;
    int64_t                   reserved;
    int                       gated;            /* admitted by the gate */
    uint64_t                  gate_ticket;      /* the gate's, for settle */

    mcp_llm_req_state_e       state;
    mcp_llm_req_t            *q_prev;           /* provider queue */
    mcp_llm_req_t            *q_next;
    mcp_llm_req_t            *l_prev;           /* llm->live */
    mcp_llm_req_t            *l_next;
    mcp_llm_req_t            *d_next;           /* provider->deferred */
    uint64_t                  enq_ms;

    CURL                     *easy;
    uv_timer_t                timer;            /* I/O deadline or backoff */
    int                       body_sent;
    uint64_t                  last_io_ms;

    uint64_t                  start_ms;
    uint64_t                  first_out_ms;
    unsigned                  attempts;         /* on this provider */
    unsigned                  total_attempts;
    int64_t                   waited_ms;        /* between retries */
    int                       delivered;        /* output reached the caller */
    int                       cancelled;
    int                       fell_back;
    int                       paused;           /* the caller asked (FLOW) */
    int                       recv_paused;      /* curl holds our transfer */
    curl_socket_t             fd;               /* its socket, as curl said */

    long                      status;
    mcp_llm_stream_t          st;
    mcp_llm_buf_t             body_in;          /* non-stream or error body */
    int64_t                   retry_after_ms;   /* -1: none */
    int64_t                   rl_rem_req, rl_reset_req;
    int64_t                   rl_rem_tok, rl_reset_tok;
    char                      errmsg[300];
};

/* mcp_llm_http.c */
int mcp_llm_http_init(mcp_llm_provider_t *p, mcp_err_t *err);
void mcp_llm_http_close(mcp_llm_provider_t *p);
int mcp_llm_http_send(mcp_llm_req_t *r);
void mcp_llm_http_abort(mcp_llm_req_t *r);   /* remove the transfer now */
void mcp_llm_http_flow(mcp_llm_req_t *r);    /* r->paused changed */

/* mcp_llm_http_headers.c: curl's CURLOPT_HEADERFUNCTION, userp the req */
size_t mcp_llm_http_on_header(char *buf, size_t size, size_t nitems,
    void *userp);

/* mcp_llm_retry.c: an attempt ended (err MCP_LLM_OK or why it failed) */
void mcp_llm_attempt_done(mcp_llm_req_t *r, mcp_llm_err_e err);

/* mcp_llm.c, shared with mcp_llm_retry.c */
#define LLM_SUB  "llm"

double llm_random(mcp_llm_t *llm);
void llm_enqueue(mcp_llm_provider_t *p, mcp_llm_req_t *r);
void llm_finish(mcp_llm_req_t *r, mcp_llm_err_e err, const char *msg);
/* r->body (and its token estimate) for r->p: 0, or -1 out of memory */
int llm_build_body(mcp_llm_req_t *r);
mcp_llm_err_e llm_admit(mcp_llm_req_t *r, mcp_llm_provider_t *p,
    const char **msg);

/* mcp_llm.c */
void mcp_llm_pump(mcp_llm_provider_t *p);
void mcp_llm_schedule_pump(mcp_llm_provider_t *p, uint64_t delay_ms);
void mcp_llm_handle_closed(uv_handle_t *h);
void mcp_llm_free_req(mcp_llm_req_t *r);

#endif /* MCP_LLM_INT_H */
