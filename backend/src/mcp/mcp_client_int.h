/*
 * mcp_client's internals, shared by mcp_client.c (lifecycle, requests in
 * flight) and mcp_client_lists.c (tools/prompts/resources lists).  Not for
 * other subsystems: use mcp_client.h.
 */

#ifndef MCP_CLIENT_INT_H
#define MCP_CLIENT_INT_H

#include "mcp/mcp_client.h"

typedef struct {
    mcp_server_t  *srv;
    int            kind;       /* 0 tools, 1 prompts, 2 resources */
    json_t        *acc;
    unsigned       pages;
} mcp_list_ctx_t;

/* the request may go out in STARTING (initialize) or READY */
mcp_req_t *mcp_server_request_any(mcp_server_t *srv, const char *method,
    json_t *params, int64_t timeout_ms, mcp_req_done_pt done, void *ctx,
    int lifecycle);

/* mcp_client_req.c: the requests of a server */
void mcp_server_send(mcp_server_t *srv, json_t *msg);      /* msg stolen */
mcp_req_t *mcp_req_find(mcp_server_t *srv, int64_t id);
void mcp_req_finish(mcp_req_t *r, json_t *result, json_t *error,
    const char *failure);
/* a reply to request id: 0, or -1 when no request waits for it */
int mcp_req_answer(mcp_server_t *srv, int64_t id, json_t *result,
    json_t *error);
void mcp_req_send_failed(mcp_server_t *srv, int64_t id, const char *why);
void mcp_req_progress(mcp_server_t *srv, int64_t token);
/* fail the requests sent (why), and with waiting_too those still waiting
   for the server to be ready (with its state: it is not coming back) */
void mcp_server_fail_reqs(mcp_server_t *srv, const char *why,
    int waiting_too);
/* the server is ready: send what waited for it, oldest first */
void mcp_server_send_waiting(mcp_server_t *srv);

/* the first lists are in (or failed): tell the owner once */
void mcp_server_settle(mcp_server_t *srv);

/* fetch one list (kind 0 tools, 1 prompts, 2 resources), all its pages */
void mcp_server_list(mcp_server_t *srv, int kind, mcp_list_ctx_t *lc,
    const char *cursor);

/* fetch every list the server's capabilities announce */
void mcp_server_list_all(mcp_server_t *srv);

#endif /* MCP_CLIENT_INT_H */
