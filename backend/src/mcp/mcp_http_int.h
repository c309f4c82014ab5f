/*
 * The Streamable HTTP transport's internals, shared by mcp_http.c (requests,
 * curl on libuv, outcomes, the interface) and mcp_http_stream.c (resumed
 * POST streams, the standalone GET stream).  Not for other files: use
 * mcp_transport.h.
 */

#ifndef MCP_HTTP_INT_H
#define MCP_HTTP_INT_H

#include <curl/curl.h>

#include "mcp/mcp_sse.h"
#include "mcp/mcp_transport.h"

typedef struct mcp_http_s      mcp_http_t;
typedef struct mcp_http_req_s  mcp_http_req_t;

typedef enum { MCP_HTTP_POST, MCP_HTTP_GET, MCP_HTTP_DELETE } mcp_http_kind_e;

struct mcp_http_req_s {
    mcp_http_req_t     *next;
    mcp_http_t         *h;
    int                 kind;
    CURL               *easy;
    struct curl_slist  *hdrs;
    char               *body;
    int64_t             id;          /* JSON-RPC id carried, or -1 */
    int                 answered;    /* its response arrived */
    int                 is_sse;
    int                 sniffed;
    long                status;
    mcp_sse_t           sse;
    char               *buf;         /* JSON body */
    size_t              len, cap;
    unsigned            resumes;
    int                 standalone;  /* the GET stream for server messages */
    char                err[CURL_ERROR_SIZE];
};

typedef struct mcp_http_sock_s  mcp_http_sock_t;

struct mcp_http_sock_s {
    uv_poll_t         poll;
    mcp_http_t       *h;
    curl_socket_t     fd;
    mcp_http_sock_t  *next;
};

struct mcp_http_s {
    mcp_transport_t      t;
    mcp_transport_env_t  env;
    CURLM               *multi;
    uv_timer_t           timer;      /* curl's timeout */
    uv_timer_t           kick;       /* deferred work, outside curl */
    mcp_http_req_t      *queued;     /* to add to the multi */
    mcp_http_req_t      *active;
    mcp_http_req_t      *resume;     /* waiting for their retry delay */
    uv_timer_t           resume_timer;
    char                 session[256];
    char                 protocol[32];
    int                  handles;    /* open uv handles */
    mcp_http_sock_t     *socks;      /* polled sockets */
    int                  closing;
    int                  dead;
    int                  torn_down;
    unsigned             stream_failures;
    char                 name[132];  /* copies: the owner's conf may go */
    char                *url;
    struct curl_slist   *extra;      /* configured headers */
};

/* mcp_http.c */
void mcp_http_report(mcp_http_t *h, const char *why);
void mcp_http_req_free(mcp_http_req_t *r);
mcp_http_req_t *mcp_http_req_new(mcp_http_t *h, int kind, char *body,
    int64_t id, const char *last_event_id);
void mcp_http_enqueue(mcp_http_t *h, mcp_http_req_t *r);

/* mcp_http_stream.c */
int mcp_http_schedule_resume(mcp_http_t *h, mcp_http_req_t *done);
int mcp_http_session_gone(mcp_http_req_t *r);
void mcp_http_open_stream(mcp_http_t *h, const char *last_id,
    int64_t delay_ms);
void mcp_http_stream_done(mcp_http_t *h, mcp_http_req_t *r, CURLcode rc);

#endif /* MCP_HTTP_INT_H */
