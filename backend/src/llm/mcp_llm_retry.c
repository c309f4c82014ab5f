/*
 * The provider layer's outcome of an attempt: retries with backoff on the
 * same provider, the circuit breaker's record, and the move to the
 * fallback provider (see mcp_llm_int.h).  Admission and the queue are in
 * mcp_llm.c.
 */

#include <stdio.h>
#include <string.h>

#include "llm/mcp_llm_int.h"


/* ------------------------------------------------------------ outcome */

static int
llm_retryable(mcp_llm_err_e e)
{
    return e == MCP_LLM_E_RATE_LIMITED || e == MCP_LLM_E_SERVER
           || e == MCP_LLM_E_CONNECT || e == MCP_LLM_E_NETWORK
           || e == MCP_LLM_E_TIMEOUT || e == MCP_LLM_E_NO_FINISH;
}

/* failures that say the provider is unwell (not that we asked badly) */
static int
llm_breaker_failure(mcp_llm_err_e e)
{
    return e == MCP_LLM_E_SERVER || e == MCP_LLM_E_CONNECT
           || e == MCP_LLM_E_NETWORK || e == MCP_LLM_E_TIMEOUT;
}

static void
llm_on_retry_timer(uv_timer_t *t)
{
    mcp_llm_req_t       *r = t->data;
    mcp_llm_provider_t  *p = r->p;
    uint64_t             now = uv_now(r->llm->loop);

    if (!mcp_llm_breaker_allow(&p->breaker, (int64_t) now)) {
        if (r->llm->fallback && r->llm->fallback != p && !r->fell_back) {
            const char  *msg;

            p->fallbacks++;
            r->fell_back = 1;
            if (llm_admit(r, r->llm->fallback, &msg) == MCP_LLM_OK) {
                return;
            }
        }
        llm_finish(r, MCP_LLM_E_CIRCUIT_OPEN,
                   "the provider's circuit breaker opened while retrying");
        return;
    }
    p->retries++;
    llm_enqueue(p, r);
    mcp_llm_pump(p);
}

/* Wait and try again on the same provider?  1 if scheduled. */
static int
llm_retry(mcp_llm_req_t *r, mcp_llm_err_e err)
{
    const mcp_llm_http_conf_t  *h = &r->p->conf->http_client;
    int64_t                     delay;

    if (!llm_retryable(err) || r->delivered
        || r->attempts > (unsigned) h->max_retries)
    {
        return 0;
    }

    if (r->retry_after_ms >= 0) {
        delay = r->retry_after_ms;
    } else {
        delay = mcp_llm_backoff_ms(r->attempts - 1, h->backoff_factor,
                                   h->max_backoff_ms, llm_random(r->llm));
    }
    if (r->waited_ms + delay > h->retry_budget_ms) {
        size_t  n = strlen(r->errmsg);

        snprintf(r->errmsg + n, sizeof(r->errmsg) - n,
                 " (retry wait %lld ms exceeds retry_budget)",
                 (long long) delay);
        return 0;
    }

    r->waited_ms += delay;
    r->state = MCP_LLM_REQ_RETRY_WAIT;
    uv_timer_start(&r->timer, llm_on_retry_timer, (uint64_t) delay, 0);
    return 1;
}

static int
llm_fall_back(mcp_llm_req_t *r, mcp_llm_err_e err)
{
    mcp_llm_t           *llm = r->llm;
    mcp_llm_provider_t  *from = r->p;
    const char          *msg;

    if (llm->fallback == NULL || llm->fallback == from || r->fell_back
        || r->delivered || !llm_retryable(err))
    {
        return 0;
    }

    mcp_log_warn(llm->log, LLM_SUB, "%s: %s after %u attempt(s); falling "
                 "back to %s", from->name, mcp_llm_err_name(err),
                 r->attempts, llm->fallback->name);
    from->fallbacks++;
    r->fell_back = 1;
    r->status = 0;
    return llm_admit(r, llm->fallback, &msg) == MCP_LLM_OK;
}

void
mcp_llm_attempt_done(mcp_llm_req_t *r, mcp_llm_err_e err)
{
    mcp_llm_provider_t  *p = r->p;
    uint64_t             now = uv_now(r->llm->loop);
    int64_t              used;
    char                 msg[sizeof(r->errmsg)];

    p->inflight--;
    mcp_llm_schedule_pump(p, 0);

    used = r->st.usage.present ? r->st.usage.total_tokens : r->reserved;
    mcp_llm_ratelimit_settle(&p->rl, (int64_t) now, r->reserved, used, 0);
    if (r->gated && r->llm->gate.settle != NULL) {
        r->llm->gate.settle(r->llm->gate.ctx, p->name,
                            p->conf->http_client.tokens_per_minute,
                            r->gate_ticket, r->reserved, used);
    }
    r->gated = 0;
    r->reserved = 0;
    if (r->st.usage.present) {
        p->tokens_in += r->st.usage.prompt_tokens;
        p->tokens_out += r->st.usage.completion_tokens;
    }
    p->chunks += r->st.chunks;
    p->chunks_plain += r->st.plain;

    if (err == MCP_LLM_OK) {
        mcp_llm_breaker_record(&p->breaker, (int64_t) now, 1);
        llm_finish(r, MCP_LLM_OK, "");
        return;
    }

    mcp_llm_breaker_record(&p->breaker, (int64_t) now,
                           llm_breaker_failure(err) ? 0 : -1);
    if (err == MCP_LLM_E_RATE_LIMITED && r->retry_after_ms > 0) {
        mcp_llm_ratelimit_block(&p->rl, (int64_t) now, r->retry_after_ms);
    }
    if (r->st.err && r->st.errmsg[0]) {
        snprintf(r->errmsg, sizeof(r->errmsg), "%s: %s", p->name,
                 r->st.errmsg);
    }

    if (llm_retry(r, err) || llm_fall_back(r, err)) {
        return;
    }

    snprintf(msg, sizeof(msg), "%s", r->errmsg);
    llm_finish(r, err, msg);
}
