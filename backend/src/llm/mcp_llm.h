/*
 * The provider layer: chat-completion requests to OpenAI-compatible
 * providers over per-provider libcurl multi handles driven on mcpd's libuv
 * loop (multi-socket API: no threads, nothing blocks).
 *
 * A request is started with its messages (and tools) and four callbacks;
 * it may wait in the provider's queue (concurrency slots, rate budget),
 * is retried on 429/5xx/network errors while nothing has reached the
 * caller, may move once to the fallback provider, and ends with exactly one
 * on_done call, unless the caller cancels it first: after
 * mcp_llm_cancel() no callback runs and the transfer has stopped.
 *
 * Callbacks run on the loop thread.  on_text/on_tool_call/on_usage run
 * inside libcurl's I/O; they may call mcp_llm_start() and mcp_llm_cancel()
 * (also on their own request).  on_done runs outside, after which the
 * request is gone.  mcp_llm_start() itself never calls a callback.
 */

#ifndef MCP_LLM_H
#define MCP_LLM_H

#include <jansson.h>
#include <stddef.h>
#include <uv.h>

#include "core/mcp_daemon.h"
#include "core/mcp_log.h"
#include "llm/mcp_llm_conf.h"
#include "llm/mcp_llm_toolcall.h"
#include "llm/mcp_llm_types.h"

#define MCP_LLM_USER_AGENT  "mcp-edge/" MCPD_VERSION

typedef struct mcp_llm_s           mcp_llm_t;
typedef struct mcp_llm_provider_s  mcp_llm_provider_t;
typedef struct mcp_llm_req_s       mcp_llm_req_t;

typedef struct {
    mcp_llm_err_e     err;            /* MCP_LLM_OK on success */
    const char       *message;        /* human-readable; "" on success */
    const char       *finish_reason;  /* "stop", "tool_calls", "length"... */
    const char       *provider;       /* the one that answered (or failed) */
    const char       *model;          /* as reported by the provider */
    long              http_status;    /* last HTTP status, 0: none */
    unsigned          attempts;       /* HTTP attempts, all providers */
    int               fell_back;      /* the fallback provider answered */
    mcp_llm_usage_t   usage;
    uint64_t          latency_ms;     /* start to done */
    uint64_t          ttft_ms;        /* start to first output; 0: none */
} mcp_llm_result_t;

typedef struct {
    /* len bytes of UTF-8, not NUL-terminated */
    void  (*on_text)(mcp_llm_req_t *r, void *data, const char *text,
                     size_t len);
    void  (*on_tool_call)(mcp_llm_req_t *r, void *data,
                          const mcp_llm_tool_call_t *call);
    void  (*on_usage)(mcp_llm_req_t *r, void *data,
                      const mcp_llm_usage_t *usage);
    void  (*on_done)(mcp_llm_req_t *r, void *data,
                     const mcp_llm_result_t *res);
} mcp_llm_callbacks_t;

typedef struct {
    const char    *provider;     /* NULL: llm.active */
    json_t        *messages;     /* array; referenced, not copied */
    json_t        *tools;        /* OpenAI tools array or NULL */
    int            stream;
    int64_t        max_tokens;   /* 0: the provider's max_tokens */
    const char    *messages_json; /* or NULL: messages as compact JSON,
                                     sent as is (not dumped again); read
                                     only during mcp_llm_start */
    size_t         messages_len;
} mcp_llm_call_t;

/* conf and log must outlive the layer. */
int mcp_llm_init(mcp_llm_t **llm, uv_loop_t *loop, const mcp_llm_conf_t *conf,
    const mcp_log_t *log, mcp_err_t *err);

/*
 * Stop: every live request ends with on_done(cancelled), handles close;
 * closed(ctx) runs once all are closed (the loop may then end) and the
 * layer is freed.
 */
void mcp_llm_close(mcp_llm_t *llm, void (*closed)(void *ctx), void *ctx);

/*
 * Start a request.  NULL when it cannot even be queued: *err and *msg say
 * why (config_error, circuit_open without fallback, queue_full).
 */
mcp_llm_req_t *mcp_llm_start(mcp_llm_t *llm, const mcp_llm_call_t *call,
    const mcp_llm_callbacks_t *cb, void *data, mcp_llm_err_e *err,
    const char **msg);

/* Abort at any point; the transfer stops now and no callback follows. */
void mcp_llm_cancel(mcp_llm_req_t *r);

/*
 * Flow control (the caller's client is not reading): while paused the
 * transfer stops reading from the provider's socket, so TCP pushes back on
 * the provider and nothing more is buffered here; no read timeout runs
 * meanwhile.  Safe from callbacks and at any state; it holds across
 * retries and fallback.  Applied on the next loop turn, never inside this
 * call (unpausing may deliver data: callbacks then run as usual).
 */
void mcp_llm_pause(mcp_llm_req_t *r, int paused);

/*
 * Optional fleet-wide admission (redis/ installs one; hook added for it).
 * acquire() is asked after the local limiter admitted the head of a
 * provider's queue: 0 admitted by the shared window; > 0 wait that many ms
 * (the local reservation is given back; the gate calls mcp_llm_kick()
 * when it knows more); < 0 no shared state: the local limiter decides.
 * On 0 it sets *ticket, which names that admission to settle(): settle()
 * reports a gate-admitted request's real token use.
 */
typedef struct {
    int64_t  (*acquire)(void *ctx, const char *provider, int64_t rpm,
                        int64_t tpm, int64_t tokens, uint64_t *ticket);
    void     (*settle)(void *ctx, const char *provider, int64_t tpm,
                       uint64_t ticket, int64_t reserved, int64_t used);
    void      *ctx;
} mcp_llm_gate_t;

/* Install (or with NULL remove) the gate. */
void mcp_llm_set_gate(mcp_llm_t *llm, const mcp_llm_gate_t *gate);
/* Re-run admission for a provider's queue now (from the gate). */
void mcp_llm_kick(mcp_llm_t *llm, const char *provider);

/* llm_client_stats (new reference); ctx is the mcp_llm_t. */
json_t *mcp_llm_stats(void *llm);
/* For mcp_daemon_add_health(): a provider whose breaker is not closed. */
void mcp_llm_health(mcp_health_t *h, void *llm);

#endif /* MCP_LLM_H */
