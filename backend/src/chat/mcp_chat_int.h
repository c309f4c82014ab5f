/*
 * The chat service's internals, shared by its files:
 *   mcp_chat.c          requests: validation, conversations, idempotency,
 *                       ordering, limits, cancel, finish
 *   mcp_chat_frames.c   frames, held in order while the client is slow
 *   mcp_chat_turn.c     the tool loop: context, model turns, tools, storage
 *   mcp_chat_delta.c    streamed text deltas written straight to the client
 *   mcp_chat_actions.c  history, list_conversations, delete_conversation,
 *                       list_tools, cancel
 *   mcp_chat_daemon.c   registration with core, status, hooks
 */

#ifndef MCP_CHAT_INT_H
#define MCP_CHAT_INT_H

#include <stdint.h>

#include <jansson.h>
#include <uv.h>

#include "chat/mcp_chat.h"
#include "chat/mcp_chat_ctx.h"
#include "chat/mcp_chat_limits.h"
#include "chat/mcp_chat_order.h"
#include "chat/mcp_chat_provider.h"
#include "core/mcp_daemon.h"
#include "repo/mcp_repo.h"
#include "util/mcp_hist.h"
#include "util/mcp_json_str.h"
#include "util/mcp_lru.h"
#include "util/mcp_strmap.h"

#define MCP_CHAT_ID_MAX  128

/* Bytes of a tool result sent live in its tool_result chunk (preview). */
#define MCP_CHAT_PREVIEW_MAX  2048

typedef struct mcp_chat_req_s  mcp_chat_req_t;

/* an MCP prompt or resource whose text joins the system prompt */
typedef struct {
    struct mcp_chat_s  *chat;
    int                 prompt;     /* 1: prompts/get, 0: resources/read */
    char               *server;     /* prompt: its server */
    char               *name;       /* prompt name or resource URI */
    int                 asked;      /* this round's request was sent */
    int                 done;       /* ... and answered (or failed) */
    int                 gaveup;     /* its server never came: not waited for */
    int                 again;      /* changed while a read was in flight */
    void               *req;
    struct mcp_server_s *from;      /* the server it was last read from */
    uint64_t            sub_at;     /* resources/subscribe sent to the server
                                       instance ready at this time */
    char               *text;       /* NULL: not (yet) available */
} mcp_chat_sys_item_t;

enum {
    MCP_CHAT_E_INVALID = 0, MCP_CHAT_E_RATE, MCP_CHAT_E_UNAVAILABLE,
    MCP_CHAT_E_PROVIDER, MCP_CHAT_E_TOOL_LIMIT, MCP_CHAT_E_BUSY,
    MCP_CHAT_E_NOTFOUND, MCP_CHAT_E_CANCELLED, MCP_CHAT_E_INTERNAL,
    MCP_CHAT_E__COUNT
};

struct mcp_chat_s {
    mcp_daemon_t                   *d;
    const mcp_chat_service_conf_t  *conf;
    const mcp_log_t                *log;
    mcp_repo_t                     *repo;
    int                             persist;    /* persistence.enabled */

    mcp_chat_order_t               *order;
    mcp_chat_limits_t              *limits;
    mcp_lru_t                      *contexts;   /* conv id -> hist_t */
    mcp_strmap_t                   *running;    /* mcp_chat_key -> req */
    mcp_chat_req_t                 *reqs;       /* every live request */
    size_t                          nreqs;
    mcp_chat_req_t                 *draining;   /* finished, frames held */

    mcp_chat_provider_t            *provider;
    const mcp_chat_tools_t         *tools;      /* NULL: no MCP host */
    mcp_chat_tools_t                mcp_tools;
    char                           *system;     /* the built prompt */
    char                           *sys_base;   /* before MCP items */
    mcp_chat_sys_item_t            *sys;
    size_t                          nsys;
    uint64_t                        sys_since;
    uv_timer_t                      sys_timer;

    uv_timer_t                      sweep;
    int                             stopping;

    /* status */
    uint64_t                        started, completed, replayed, attached;
    uint64_t                        cancelled, disconnected, shutdown;
    uint64_t                        tool_hops;
    uint64_t                        tool_calls[3];  /* ok, error, timeout */
    uint64_t                        tools_running;
    uint64_t                        errors[MCP_CHAT_E__COUNT];
    mcp_hist_t                      ttfc;       /* first chunk, ms */
    mcp_hist_t                      duration;   /* whole request, ms */
    mcp_hist_t                      overhead;   /* minus model and tools,
                                                   microseconds */
    mcp_hist_t                      store_wait; /* of that, waiting for the
                                                   repository (completed
                                                   requests), microseconds */
};

/* a conversation's assembled history, shared by the LRU and the request
   using it (either may drop it first) */
typedef struct {
    int               refs;
    int               cached;     /* the LRU holds it (reset on eviction) */
    char             *principal;  /* whose conversation it is */
    mcp_chat_hist_t   h;
} mcp_chat_conv_t;

mcp_chat_conv_t *mcp_chat_conv_new(void);
void mcp_chat_conv_unref(mcp_chat_conv_t *cv);
void mcp_chat_conv_evicted(void *cv);     /* the LRU let it go */

/* one tool call of the current turn */
typedef struct {
    mcp_chat_req_t  *req;
    char      *id;
    char      *name;
    char      *arguments;
    void      *call;            /* running handle, or NULL */
    int        done;
    json_t    *result;          /* {"role":"tool",...} once done */
} mcp_chat_tcall_t;

/* one stored row waiting its turn: a request's rows are written in order */
typedef struct mcp_chat_wq_s {
    struct mcp_chat_wq_s  *next;
    mcp_repo_append_t      a;
} mcp_chat_wq_t;

/* a session that receives a request's frames */
typedef struct {
    mcp_session_t  *s;
    char           *rid;
} mcp_chat_listener_t;

/* why a request was stopped (req->cancel) */
enum {
    MCP_CHAT_STOP_CANCEL = 1,       /* the client's cancel action */
    MCP_CHAT_STOP_DISCONNECT,       /* its client went away */
    MCP_CHAT_STOP_SHUTDOWN          /* mcpd is stopping (drain) */
};

enum {
    MCP_REQ_S_OPENING = 0,      /* conversation_open in flight */
    MCP_REQ_S_WAITING,          /* behind another request of its conv */
    MCP_REQ_S_STORING_USER,
    MCP_REQ_S_LOADING,          /* history read */
    MCP_REQ_S_MODEL,            /* a model turn runs */
    MCP_REQ_S_TOOLS,            /* a turn's tools run */
    MCP_REQ_S_FINISHING,        /* last rows being written */
    MCP_REQ_S_DONE
};

struct mcp_chat_req_s {
    mcp_chat_t            *chat;
    mcp_chat_req_t        *prev, *next;     /* chat->reqs or ->draining */
    int                    refs;            /* async ops + the request */
    int                    state;

    mcp_session_t         *s;               /* who asked */
    char                  *rid;
    char                  *principal;
    char                  *conv;            /* NULL until opened */
    char                  *key;             /* principal conv rid: running */
    char                  *lane;            /* principal conv: order lane */
    int                    opened;          /* conversation checked */
    int                    fresh;           /* created for this request */
    char                  *text;
    int                    stream;

    mcp_chat_listener_t   *listeners;       /* attached repeats */
    size_t                 nlisteners;

    json_t                *out;             /* frames held while paused */
    int                    paused;

    /* the loop */
    json_t                *cur;             /* this request's messages */
    json_t                *tools;           /* OpenAI tools or NULL */
    mcp_chat_conv_t       *ctx;             /* history for the context */
    int                    hop;
    void                  *call;            /* model turn in flight */
    char                  *turn_text;       /* this turn's text */
    size_t                 turn_len, turn_cap;
    char                  *reply;           /* all turns' text */
    size_t                 reply_len, reply_cap;
    mcp_chat_tcall_t      *tcalls;
    size_t                 ntcalls;
    size_t                 tools_pending;
    int64_t                prompt_tokens, completion_tokens;
    int                    usage_present;
    char                  *model;
    char                  *finish_reason;

    /* storage, in order */
    mcp_chat_wq_t         *wq_head, *wq_tail;
    int                    writing;
    int                    store_failed;
    void                 (*drained)(mcp_chat_req_t *r);

    /* ending */
    int                    cancel;          /* MCP_CHAT_STOP_*, 0: not */
    int                    held_limit;
    int                    held_order;
    int                    finished;
    int                    told;            /* its last frame is sent */
    int                    err_kind;        /* failure once stored */
    const char            *err_code;
    char                  *err_msg;
    int64_t                err_retry;

    /* timing (uv_hrtime ns) */
    uint64_t               t_start, t_first, t_wait;    /* t_wait: time in
                                                           model and tools */
    uint64_t               t_mark;
    uint64_t               t_store, t_store_mark;  /* waiting for the
                                                      repository */
};

/* mcp_chat.c (mcp_chat_emit_delta: mcp_chat_delta.c; frames:
   mcp_chat_frames.c) */
void mcp_chat_req_ref(mcp_chat_req_t *r);
void mcp_chat_req_unref(mcp_chat_req_t *r);
void mcp_chat_req_unlink(mcp_chat_req_t **head, mcp_chat_req_t *r);
void mcp_chat_draining_add(mcp_chat_t *c, mcp_chat_req_t *r);
void mcp_chat_emit(mcp_chat_req_t *r, const char *status, json_t *chunk);
void mcp_chat_emit_delta(mcp_chat_req_t *r, const char *text, size_t len);
/* room for a delta frame of a request id of rid_len and len bytes of text */
#define MCP_CHAT_DELTA_MAX(rid_len, len)                                     \
    (MCP_JSON_STR_MAX(rid_len) + MCP_JSON_STR_MAX(len) + 128)
size_t mcp_chat_delta_frame(char *out, const char *rid, const char *text,
    size_t len, int hop);
void mcp_chat_fail(mcp_chat_req_t *r, int kind, const char *code,
    int64_t retry_after_ms, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
void mcp_chat_finish(mcp_chat_req_t *r);
void mcp_chat_req_cancel(mcp_chat_req_t *r, int why);
void mcp_chat_cancel_done(mcp_chat_req_t *r);
void mcp_chat_flush_paused(mcp_chat_t *c, mcp_session_t *s);
size_t mcp_chat_drop_held(mcp_chat_req_t *r);
void mcp_chat_end_draining(mcp_chat_t *c);
void mcp_chat_drop_draining(mcp_chat_t *c);
mcp_chat_req_t *mcp_chat_find(mcp_chat_t *c, mcp_session_t *s,
    const char *rid);
const char *mcp_chat_principal(mcp_session_t *s);
char *mcp_chat_key(const char *principal, const char *conv, const char *rid);
int mcp_chat_valid_id(json_t *v);
void mcp_chat_handle_chat(mcp_session_t *s, const char *rid, json_t *msg,
    void *ctx);

/* mcp_chat_turn.c */
void mcp_chat_turn_begin(mcp_chat_req_t *r);        /* its turn came */
void mcp_chat_turn_stop(mcp_chat_req_t *r);         /* cancel upstream */
void mcp_chat_store(mcp_chat_req_t *r, const mcp_repo_msg_t *m, int final);
void mcp_chat_store_then(mcp_chat_req_t *r, void (*fn)(mcp_chat_req_t *r));
void mcp_chat_turn_keep_partial(mcp_chat_req_t *r);

/* mcp_chat_store.c */
void mcp_chat_drop_context(mcp_chat_t *c, const char *conv);
void mcp_chat_forget_context(mcp_chat_req_t *r);
void mcp_chat_tell(mcp_chat_t *c, const char *conv, mcp_conv_event_e ev);
void mcp_chat_tell_created(mcp_chat_t *c, const mcp_repo_result_t *res,
    const char *conv);
int mcp_chat_buf_add(char **buf, size_t *len, size_t *cap, const char *s,
    size_t n);
json_t *mcp_chat_text_json(const char *s, size_t n);
void mcp_chat_store_json(mcp_chat_req_t *r, mcp_msg_type_e type, json_t *msg,
    const char *content, size_t len, int64_t part, const char *call_id,
    const char *name, const char *usage, int final);
char *mcp_chat_usage_json(mcp_chat_req_t *r, const char *finish);
void mcp_chat_store_final(mcp_chat_req_t *r, const char *finish);
void mcp_chat_replay(mcp_chat_req_t *r, const mcp_repo_result_t *res);

/* mcp_chat_sysprompt.c */
int mcp_chat_sys_init(mcp_chat_t *c);
void mcp_chat_sys_free(mcp_chat_t *c);

/* mcp_chat_actions.c */
void mcp_chat_handle_cancel(mcp_session_t *s, const char *rid, json_t *msg,
    void *ctx);
void mcp_chat_handle_history(mcp_session_t *s, const char *rid, json_t *msg,
    void *ctx);
void mcp_chat_handle_list_tools(mcp_session_t *s, const char *rid,
    json_t *msg, void *ctx);
void mcp_chat_handle_list_conversations(mcp_session_t *s, const char *rid,
    json_t *msg, void *ctx);
void mcp_chat_handle_delete(mcp_session_t *s, const char *rid, json_t *msg,
    void *ctx);

#endif /* MCP_CHAT_INT_H */
