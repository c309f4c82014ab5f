/*
 * The provider layer's request life: admission (breaker, concurrency
 * slots, rate budget, the bounded wait queue), attempts, and the one
 * on_done.  Retries and the move to the fallback provider are in
 * mcp_llm_retry.c; transfers themselves are in mcp_llm_http.c.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llm/mcp_llm_int.h"

static void llm_stream_text(void *ctx, const char *text, size_t len);
static void llm_stream_tool(void *ctx, const mcp_llm_tool_call_t *call);
static void llm_stream_usage(void *ctx, const mcp_llm_usage_t *usage);

static const mcp_llm_stream_cb_t  llm_stream_cbs = {
    llm_stream_text, llm_stream_tool, llm_stream_usage
};

double
llm_random(mcp_llm_t *llm)
{
    uint64_t  x = llm->rng;

    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    llm->rng = x;
    return (double) (x >> 11) / 9007199254740992.0;
}

/* ------------------------------------------------------------ handles */

static void
llm_maybe_closed(mcp_llm_t *llm)
{
    size_t  i;

    if (!llm->closing || llm->pending_closes || llm->live) {
        return;
    }
    for (i = 0; i < llm->nproviders; i++) {
        free(llm->providers[i].easy_free);
    }
    free(llm->providers);
    if (llm->closed) {
        llm->closed(llm->closed_ctx);
    }
    free(llm);
}

/* a socket watcher closed (mcp_llm_http.c) */
void
mcp_llm_handle_closed(uv_handle_t *h)
{
    mcp_llm_sock_t  *s = h->data;
    mcp_llm_t       *llm = s->p->llm;

    free(s);
    llm->pending_closes--;
    llm_maybe_closed(llm);
}

static void
llm_provider_timer_closed(uv_handle_t *h)
{
    mcp_llm_provider_t  *p = h->data;
    mcp_llm_t           *llm = p->llm;

    llm->pending_closes--;
    llm_maybe_closed(llm);
}

static void
llm_req_closed(uv_handle_t *h)
{
    mcp_llm_req_t  *r = h->data;
    mcp_llm_t      *llm = r->llm;

    mcp_llm_stream_free(&r->st);
    mcp_llm_buf_free(&r->body_in);
    free(r->body);
    free(r);
    llm->pending_closes--;
    llm_maybe_closed(llm);
}

/*
 * Takes a request off llm->live; a second call does nothing.  llm_finish
 * unlinks before on_done so that a caller closing the layer from on_done
 * does not finish the same request again.
 */
static void
llm_unlink_live(mcp_llm_req_t *r)
{
    mcp_llm_t  *llm = r->llm;

    if (r->l_prev == NULL && llm->live != r) {
        return;
    }
    if (r->l_prev) {
        r->l_prev->l_next = r->l_next;
    } else {
        llm->live = r->l_next;
    }
    if (r->l_next) {
        r->l_next->l_prev = r->l_prev;
    }
    r->l_prev = r->l_next = NULL;
}

void
mcp_llm_free_req(mcp_llm_req_t *r)
{
    mcp_llm_t  *llm = r->llm;

    r->state = MCP_LLM_REQ_DONE;
    llm_unlink_live(r);
    json_decref(r->messages);
    json_decref(r->tools);
    r->messages = r->tools = NULL;
    free(r->messages_json);
    r->messages_json = NULL;

    llm->pending_closes++;
    uv_close((uv_handle_t *) &r->timer, llm_req_closed);
}

/* ------------------------------------------------------------ queue */

void
llm_enqueue(mcp_llm_provider_t *p, mcp_llm_req_t *r)
{
    r->state = MCP_LLM_REQ_QUEUED;
    r->enq_ms = uv_now(p->llm->loop);
    r->q_next = NULL;
    r->q_prev = p->q_tail;
    if (p->q_tail) {
        p->q_tail->q_next = r;
    } else {
        p->q_head = r;
    }
    p->q_tail = r;
    p->queued++;
}

static void
llm_dequeue(mcp_llm_provider_t *p, mcp_llm_req_t *r)
{
    if (r->q_prev) {
        r->q_prev->q_next = r->q_next;
    } else {
        p->q_head = r->q_next;
    }
    if (r->q_next) {
        r->q_next->q_prev = r->q_prev;
    } else {
        p->q_tail = r->q_prev;
    }
    r->q_prev = r->q_next = NULL;
    p->queued--;
}

/* ------------------------------------------------------------ the end */

void
llm_finish(mcp_llm_req_t *r, mcp_llm_err_e err, const char *msg)
{
    mcp_llm_provider_t  *p = r->p;
    mcp_llm_result_t     res;
    uint64_t             now = uv_now(r->llm->loop);

    memset(&res, 0, sizeof(res));
    res.err = err;
    res.message = err ? (msg && msg[0] ? msg : mcp_llm_err_name(err)) : "";
    res.finish_reason = r->st.finish_reason;
    res.provider = p->name;
    res.model = r->st.model[0] ? r->st.model : p->conf->model;
    res.http_status = r->status;
    res.attempts = r->total_attempts;
    res.fell_back = r->fell_back;
    res.usage = r->st.usage;
    res.latency_ms = now - r->start_ms;
    res.ttft_ms = r->first_out_ms ? r->first_out_ms - r->start_ms : 0;

    if (err == MCP_LLM_OK) {
        p->completed++;
        mcp_hist_record(&p->latency_us, res.latency_ms * 1000);
    } else {
        p->errors[err]++;
        mcp_log_info(r->llm->log, LLM_SUB, "%s: request failed after %u "
                     "attempt(s): %s: %s", p->name, r->total_attempts,
                     mcp_llm_err_name(err), res.message);
    }

    r->state = MCP_LLM_REQ_DONE;
    llm_unlink_live(r);
    if (r->cb.on_done && !r->cancelled) {
        r->cb.on_done(r, r->data, &res);
    }
    mcp_llm_free_req(r);
}

/* ------------------------------------------------------------ sending */

static void
llm_send(mcp_llm_req_t *r)
{
    mcp_llm_provider_t  *p = r->p;

    r->state = MCP_LLM_REQ_INFLIGHT;
    r->attempts++;
    r->total_attempts++;
    p->inflight++;

    mcp_llm_stream_free(&r->st);
    mcp_llm_stream_init(&r->st, &llm_stream_cbs, r);

    if (mcp_llm_http_send(r) != 0) {
        snprintf(r->errmsg, sizeof(r->errmsg), "could not start a transfer");
        mcp_llm_attempt_done(r, MCP_LLM_E_INTERNAL);
    }
}

static void
llm_on_pump_timer(uv_timer_t *t)
{
    mcp_llm_pump(t->data);
}

void
mcp_llm_schedule_pump(mcp_llm_provider_t *p, uint64_t delay_ms)
{
    uint64_t  due = uv_now(p->llm->loop) + delay_ms;

    if (uv_is_active((uv_handle_t *) &p->pump_timer)
        && uv_timer_get_due_in(&p->pump_timer) + uv_now(p->llm->loop) <= due)
    {
        return;
    }
    uv_timer_start(&p->pump_timer, llm_on_pump_timer, delay_ms, 0);
}

/* Fail queued requests that waited too long; returns 1 if one failed. */
static int
llm_expire_one(mcp_llm_provider_t *p, uint64_t now)
{
    const mcp_llm_http_conf_t  *h = &p->conf->http_client;
    mcp_llm_req_t              *r = p->q_head;
    int                         slots_full;
    char                        msg[200];

    if (r == NULL) {
        return 0;
    }
    slots_full = p->inflight >= (size_t) h->concurrent_requests;

    if (now - r->enq_ms >= (uint64_t) h->queue_timeout_ms) {
        snprintf(msg, sizeof(msg), "%s: waited %llu ms in the queue "
                 "(queue_timeout)", p->name,
                 (unsigned long long) (now - r->enq_ms));
    } else if (slots_full && now - r->enq_ms >= (uint64_t) h->pool_timeout_ms) {
        snprintf(msg, sizeof(msg), "%s: no free slot of %lld within "
                 "pool_timeout (%lld ms)", p->name,
                 (long long) h->concurrent_requests,
                 (long long) h->pool_timeout_ms);
    } else {
        return 0;
    }

    llm_dequeue(p, r);
    llm_finish(r, MCP_LLM_E_QUEUE_TIMEOUT, msg);
    return 1;
}

/* The fleet-wide gate after the local limiter admitted r: the wait in ms
   (local reservation given back), or 0 to send. */
static int64_t
llm_gate_acquire(mcp_llm_provider_t *p, mcp_llm_req_t *r, int64_t now)
{
    const mcp_llm_http_conf_t  *h = &p->conf->http_client;
    mcp_llm_gate_t             *g = &p->llm->gate;
    int64_t                     wait;

    r->gated = 0;
    if (g->acquire == NULL) {
        return 0;
    }
    wait = g->acquire(g->ctx, p->name, h->requests_per_minute,
                      h->tokens_per_minute, r->reserved, &r->gate_ticket);
    if (wait > 0) {
        mcp_llm_ratelimit_settle(&p->rl, now, r->reserved, 0, 1);
        r->reserved = 0;
        return wait;
    }
    r->gated = wait == 0;
    return 0;
}

void
mcp_llm_set_gate(mcp_llm_t *llm, const mcp_llm_gate_t *gate)
{
    if (gate != NULL) {
        llm->gate = *gate;
    } else {
        memset(&llm->gate, 0, sizeof(llm->gate));
    }
}

void
mcp_llm_kick(mcp_llm_t *llm, const char *provider)
{
    size_t  i;

    if (llm->closing) {
        return;
    }
    for (i = 0; i < llm->nproviders; i++) {
        if (strcmp(llm->providers[i].name, provider) == 0) {
            mcp_llm_schedule_pump(&llm->providers[i], 0);
        }
    }
}

void
mcp_llm_pump(mcp_llm_provider_t *p)
{
    const mcp_llm_http_conf_t  *h = &p->conf->http_client;
    mcp_llm_req_t              *r;
    uint64_t                    now, next;
    int64_t                     wait = 0;

    if (p->in_curl || p->llm->closing) {
        if (p->in_curl) {
            mcp_llm_schedule_pump(p, 0);
        }
        return;
    }

    now = uv_now(p->llm->loop);
    while (llm_expire_one(p, now)) {
        /* user callbacks ran: re-read the head */
    }

    while ((r = p->q_head) != NULL
           && p->inflight < (size_t) h->concurrent_requests)
    {
        wait = mcp_llm_ratelimit_acquire(&p->rl, (int64_t) now, r->est_tokens,
                                         &r->reserved);
        if (wait > 0) {
            break;
        }
        wait = llm_gate_acquire(p, r, (int64_t) now);
        if (wait > 0) {
            break;
        }
        wait = 0;
        llm_dequeue(p, r);
        llm_send(r);
        now = uv_now(p->llm->loop);
    }

    if (p->q_head == NULL) {
        return;
    }

    /* wake for the rate budget, or for the head's deadline */
    r = p->q_head;
    next = r->enq_ms + (uint64_t) h->queue_timeout_ms;
    if (p->inflight >= (size_t) h->concurrent_requests
        && r->enq_ms + (uint64_t) h->pool_timeout_ms < next)
    {
        next = r->enq_ms + (uint64_t) h->pool_timeout_ms;
    }
    if (wait > 0 && now + (uint64_t) wait < next) {
        next = now + (uint64_t) wait;
    }
    mcp_llm_schedule_pump(p, next > now ? next - now : 0);
}

/* ------------------------------------------------------------ start */

static mcp_llm_provider_t *
llm_provider(mcp_llm_t *llm, const char *name)
{
    size_t  i;

    if (name == NULL) {
        return llm->active;
    }
    for (i = 0; i < llm->nproviders; i++) {
        if (strcmp(llm->providers[i].name, name) == 0) {
            return &llm->providers[i];
        }
    }
    return NULL;
}

/* Admit r to provider p: queue (and send now if possible), or refuse. */
mcp_llm_err_e
llm_admit(mcp_llm_req_t *r, mcp_llm_provider_t *p, const char **msg)
{
    const mcp_llm_http_conf_t  *h = &p->conf->http_client;
    uint64_t                    now = uv_now(r->llm->loop);

    if (p->key_state < 0) {
        *msg = p->key_msg;
        return MCP_LLM_E_CONFIG;
    }
    if (!mcp_llm_breaker_allow(&p->breaker, (int64_t) now)) {
        *msg = "the provider's circuit breaker is open";
        return MCP_LLM_E_CIRCUIT_OPEN;
    }
    if (p->queued >= (size_t) h->queue_size
        && (p->inflight >= (size_t) h->concurrent_requests || p->queued))
    {
        mcp_llm_breaker_record(&p->breaker, (int64_t) now, -1);
        *msg = "the provider's wait queue is full";
        return MCP_LLM_E_QUEUE_FULL;
    }

    r->p = p;
    r->attempts = 0;
    r->waited_ms = 0;
    if (llm_build_body(r) != 0) {
        mcp_llm_breaker_record(&p->breaker, (int64_t) now, -1);
        *msg = "out of memory building the request";
        return MCP_LLM_E_INTERNAL;
    }

    p->requests++;
    llm_enqueue(p, r);
    mcp_llm_pump(p);
    return MCP_LLM_OK;
}

mcp_llm_req_t *
mcp_llm_start(mcp_llm_t *llm, const mcp_llm_call_t *call,
    const mcp_llm_callbacks_t *cb, void *data, mcp_llm_err_e *err,
    const char **msg)
{
    mcp_llm_provider_t  *p;
    mcp_llm_req_t       *r;
    mcp_llm_err_e        e;

    *err = MCP_LLM_OK;
    *msg = "";

    if (llm->closing) {
        *err = MCP_LLM_E_CANCELLED;
        *msg = "the provider layer is stopping";
        return NULL;
    }
    p = llm_provider(llm, call->provider);
    if (p == NULL) {
        *err = MCP_LLM_E_CONFIG;
        *msg = "no such provider in llm.providers";
        return NULL;
    }
    if (!json_is_array(call->messages)) {
        *err = MCP_LLM_E_INTERNAL;
        *msg = "messages must be a JSON array";
        return NULL;
    }

    r = calloc(1, sizeof(*r));
    if (r == NULL) {
        *err = MCP_LLM_E_INTERNAL;
        *msg = "out of memory";
        return NULL;
    }
    r->llm = llm;
    r->cb = *cb;
    r->data = data;
    r->messages = json_incref(call->messages);
    if (call->messages_json != NULL) {
        /* kept: a retry on the fallback provider builds its body again */
        r->messages_json = malloc(call->messages_len + 1);
        if (r->messages_json != NULL) {
            memcpy(r->messages_json, call->messages_json, call->messages_len);
            r->messages_json[call->messages_len] = '\0';
            r->messages_len = call->messages_len;
        }
    }
    r->tools = json_incref(call->tools);
    r->stream = call->stream;
    r->max_tokens = call->max_tokens;
    r->start_ms = uv_now(llm->loop);
    uv_timer_init(llm->loop, &r->timer);
    r->timer.data = r;
    mcp_llm_stream_init(&r->st, &llm_stream_cbs, r);

    r->l_next = llm->live;
    if (llm->live) {
        llm->live->l_prev = r;
    }
    llm->live = r;

    e = llm_admit(r, p, msg);
    if ((e == MCP_LLM_E_CIRCUIT_OPEN || e == MCP_LLM_E_QUEUE_FULL)
        && llm->fallback && llm->fallback != p)
    {
        p->fallbacks++;
        r->fell_back = 1;
        e = llm_admit(r, llm->fallback, msg);
    }
    if (e != MCP_LLM_OK) {
        r->p = p;
        p->errors[e]++;
        *err = e;
        r->cancelled = 1;
        mcp_llm_free_req(r);
        return NULL;
    }
    return r;
}

/* ------------------------------------------------------------ cancel */

void
mcp_llm_pause(mcp_llm_req_t *r, int paused)
{
    if (r == NULL || r->cancelled || r->state == MCP_LLM_REQ_DONE) {
        return;
    }
    /* applied to the transfer on the next loop turn (a retry's new
       transfer is paused when it starts) */
    r->paused = paused != 0;
    if (r->state == MCP_LLM_REQ_INFLIGHT) {
        mcp_llm_http_flow(r);
    }
}


void
mcp_llm_cancel(mcp_llm_req_t *r)
{
    mcp_llm_provider_t  *p;
    uint64_t             now;

    if (r == NULL || r->cancelled || r->state == MCP_LLM_REQ_DONE) {
        return;
    }
    p = r->p;
    r->cancelled = 1;
    p->errors[MCP_LLM_E_CANCELLED]++;
    now = uv_now(r->llm->loop);

    switch (r->state) {
    case MCP_LLM_REQ_QUEUED:
        llm_dequeue(p, r);
        mcp_llm_breaker_record(&p->breaker, (int64_t) now, -1);
        mcp_llm_free_req(r);
        return;

    case MCP_LLM_REQ_RETRY_WAIT:
        uv_timer_stop(&r->timer);
        mcp_llm_breaker_record(&p->breaker, (int64_t) now, -1);
        mcp_llm_free_req(r);
        return;

    case MCP_LLM_REQ_INFLIGHT:
        p->inflight--;
        mcp_llm_breaker_record(&p->breaker, (int64_t) now, -1);
        mcp_llm_ratelimit_settle(&p->rl, (int64_t) now, r->reserved,
                                 r->reserved, 0);
        if (p->in_curl) {
            /* curl is running: it stops at our next callback or right
               after it returns (http_after_curl) */
            uv_timer_stop(&r->timer);
            r->d_next = p->deferred;
            p->deferred = r;
        } else {
            mcp_llm_http_abort(r);
            mcp_llm_free_req(r);
        }
        mcp_llm_schedule_pump(p, 0);
        return;

    default:
        return;
    }
}

/* ------------------------------------------------------------ stream */

static void
llm_first_output(mcp_llm_req_t *r)
{
    if (!r->delivered) {
        r->delivered = 1;
        r->first_out_ms = uv_now(r->llm->loop);
        mcp_hist_record(&r->p->ttft_us, (r->first_out_ms - r->start_ms) * 1000);
    }
}

static void
llm_stream_text(void *ctx, const char *text, size_t len)
{
    mcp_llm_req_t  *r = ctx;

    llm_first_output(r);
    if (r->cb.on_text && !r->cancelled) {
        r->cb.on_text(r, r->data, text, len);
    }
}

static void
llm_stream_tool(void *ctx, const mcp_llm_tool_call_t *call)
{
    mcp_llm_req_t  *r = ctx;

    llm_first_output(r);
    if (r->cb.on_tool_call && !r->cancelled) {
        r->cb.on_tool_call(r, r->data, call);
    }
}

static void
llm_stream_usage(void *ctx, const mcp_llm_usage_t *usage)
{
    mcp_llm_req_t  *r = ctx;

    if (r->cb.on_usage && !r->cancelled) {
        r->cb.on_usage(r, r->data, usage);
    }
}

/* ------------------------------------------------------------ init */

static int
llm_provider_init(mcp_llm_t *llm, mcp_llm_provider_t *p,
    const mcp_llm_provider_conf_t *c, mcp_err_t *err)
{
    const mcp_llm_http_conf_t  *h = &c->http_client;
    uint64_t                    now = uv_now(llm->loop);

    p->llm = llm;
    p->conf = c;
    p->name = c->name;
    mcp_llm_ratelimit_init(&p->rl, h->requests_per_minute,
                           h->tokens_per_minute, (int64_t) now);
    mcp_llm_breaker_init(&p->breaker, (unsigned) h->breaker_failures,
                         h->breaker_cooldown_ms);
    mcp_hist_reset(&p->latency_us);
    mcp_hist_reset(&p->ttft_us);
    uv_timer_init(llm->loop, &p->pump_timer);
    p->pump_timer.data = p;
    uv_timer_init(llm->loop, &p->curl_timer);
    p->curl_timer.data = p;

    if (mcp_llm_http_init(p, err) != 0) {
        return -1;
    }
    snprintf(p->key_msg, sizeof(p->key_msg), "%s: environment variable %s "
             "(api_key_env) is not set", p->name, c->api_key_env);
    if (p->key_state < 0) {
        mcp_log_warn(llm->log, LLM_SUB, "%s: environment variable %s is not "
                     "set; requests to this provider will fail", p->name,
                     c->api_key_env);
    }
    return 0;
}

int
mcp_llm_init(mcp_llm_t **out, uv_loop_t *loop, const mcp_llm_conf_t *conf,
    const mcp_log_t *log, mcp_err_t *err)
{
    mcp_llm_t  *llm;
    size_t      i;

    *out = NULL;
    if (mcp_llm_conf_check(conf, NULL, err) != 0) {
        return -1;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        mcp_err_set(err, NULL, "llm: curl_global_init failed");
        return -1;
    }

    llm = calloc(1, sizeof(*llm));
    if (llm == NULL) {
        mcp_err_set(err, NULL, "llm: out of memory");
        return -1;
    }
    llm->loop = loop;
    llm->conf = conf;
    llm->log = log;
    llm->rng = (uv_hrtime() | 1) ^ (uint64_t) (uintptr_t) llm;
    llm->providers = calloc(conf->providers.n ? conf->providers.n : 1,
                            sizeof(*llm->providers));
    if (llm->providers == NULL) {
        free(llm);
        mcp_err_set(err, NULL, "llm: out of memory");
        return -1;
    }

    for (i = 0; i < conf->providers.n; i++) {
        llm->nproviders++;
        if (llm_provider_init(llm, &llm->providers[i],
                              &conf->providers.items[i], err) != 0)
        {
            mcp_llm_close(llm, NULL, NULL);
            return -1;
        }
    }

    llm->active = llm_provider(llm, conf->active);
    llm->fallback = conf->fallback && conf->fallback[0]
                    ? llm_provider(llm, conf->fallback) : NULL;
    *out = llm;
    return 0;
}

void
mcp_llm_close(mcp_llm_t *llm, void (*closed)(void *ctx), void *ctx)
{
    mcp_llm_provider_t  *p;
    mcp_llm_req_t       *r;
    size_t               i;

    llm->closed = closed;
    llm->closed_ctx = ctx;
    llm->closing = 1;

    /* every live request ends with cancelled */
    while ((r = llm->live) != NULL) {
        p = r->p;
        if (r->cancelled) {
            mcp_llm_http_abort(r);      /* was deferred: curl is not running */
            mcp_llm_free_req(r);
            continue;
        }
        if (r->state == MCP_LLM_REQ_QUEUED) {
            llm_dequeue(p, r);
        } else if (r->state == MCP_LLM_REQ_INFLIGHT) {
            mcp_llm_http_abort(r);
            p->inflight--;
        } else {
            uv_timer_stop(&r->timer);
        }
        llm_finish(r, MCP_LLM_E_CANCELLED, "mcpd is stopping");
    }

    for (i = 0; i < llm->nproviders; i++) {
        p = &llm->providers[i];
        p->deferred = NULL;
        mcp_llm_http_close(p);
        llm->pending_closes += 2;
        uv_close((uv_handle_t *) &p->pump_timer, llm_provider_timer_closed);
        uv_close((uv_handle_t *) &p->curl_timer, llm_provider_timer_closed);
    }
    llm->nproviders = i;
    llm_maybe_closed(llm);
}
