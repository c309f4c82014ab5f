/*
 * llm_client_stats: one object per provider with its pool, queue, rate
 * budget, retries, errors by code, breaker, latency and time-to-first-token
 * percentiles and token counts.  Never the key: only whether it is set.
 */

#include <stdio.h>
#include <string.h>

#include "llm/mcp_llm_int.h"

static json_t *
stats_ms(const mcp_hist_t *h)
{
    return json_pack("{s:f, s:f, s:f, s:I}",
        "p50", (double) mcp_hist_quantile(h, 0.50) / 1000.0,
        "p99", (double) mcp_hist_quantile(h, 0.99) / 1000.0,
        "max", (double) h->max / 1000.0,
        "count", (json_int_t) h->count);
}

static json_t *
stats_errors(const mcp_llm_provider_t *p)
{
    json_t  *o = json_object();
    int      i;

    for (i = 1; o && i < MCP_LLM_E__COUNT; i++) {
        if (p->errors[i]) {
            json_object_set_new(o, mcp_llm_err_name((mcp_llm_err_e) i),
                                json_integer((json_int_t) p->errors[i]));
        }
    }
    return o;
}

static json_t *
stats_provider(mcp_llm_provider_t *p)
{
    const mcp_llm_http_conf_t  *h = &p->conf->http_client;
    int64_t                     now = (int64_t) uv_now(p->llm->loop);
    int64_t                     idle;
    static const char *const    key_states[] = { "missing", "none", "set" };

    idle = p->conns_open - (int64_t) p->inflight;
    if (idle < 0) {
        idle = 0;
    }

    return json_pack(
        "{s:s, s:s, s:s, s:s,"
        " s:{s:I, s:I, s:I, s:I, s:I},"
        " s:I, s:I, s:I, s:I,"
        " s:{s:I, s:I, s:I, s:I},"
        " s:I, s:I, s:I, s:I, s:o,"
        " s:{s:s, s:I, s:I},"
        " s:o, s:o, s:{s:I, s:I}, s:{s:I, s:I}}",
        "base_url", p->conf->base_url,
        "model", p->conf->model,
        "api_key", key_states[p->key_state + 1],
        "http", h->http2 ? "2" : "1.1",
        "connections",
        "open", (json_int_t) p->conns_open,
        "idle", (json_int_t) idle,
        "opened", (json_int_t) p->conns_opened,
        "max", (json_int_t) h->max_connections,
        "max_keepalive", (json_int_t) h->max_keepalive,
        "in_flight", (json_int_t) p->inflight,
        "concurrent_max", (json_int_t) h->concurrent_requests,
        "queued", (json_int_t) p->queued,
        "queue_max", (json_int_t) h->queue_size,
        "rate_limit",
        "requests_per_minute", (json_int_t) h->requests_per_minute,
        "requests_left", (json_int_t) mcp_llm_ratelimit_left_requests(&p->rl, now),
        "tokens_per_minute", (json_int_t) h->tokens_per_minute,
        "tokens_left", (json_int_t) mcp_llm_ratelimit_left_tokens(&p->rl, now),
        "requests", (json_int_t) p->requests,
        "completed", (json_int_t) p->completed,
        "retries", (json_int_t) p->retries,
        "fallbacks", (json_int_t) p->fallbacks,
        "errors", stats_errors(p),
        "breaker",
        "state", mcp_llm_breaker_state(&p->breaker, now),
        "opens", (json_int_t) p->breaker.opens,
        "failures", (json_int_t) p->breaker.failures,
        "latency_ms", stats_ms(&p->latency_us),
        "ttft_ms", stats_ms(&p->ttft_us),
        "tokens",
        "in", (json_int_t) p->tokens_in,
        "out", (json_int_t) p->tokens_out,
        "chunks",
        "total", (json_int_t) p->chunks,
        "plain", (json_int_t) p->chunks_plain);
}

json_t *
mcp_llm_stats(void *ctx)
{
    mcp_llm_t  *llm = ctx;
    json_t     *o, *ps;
    size_t      i;

    ps = json_object();
    for (i = 0; ps && i < llm->nproviders; i++) {
        json_object_set_new(ps, llm->providers[i].name,
                            stats_provider(&llm->providers[i]));
    }

    o = json_pack("{s:s?, s:s?, s:o}",
                  "active", llm->active ? llm->active->name : NULL,
                  "fallback", llm->fallback ? llm->fallback->name : NULL,
                  "providers", ps);
    return o;
}

/* what an open breaker means for the requests meant for p */
static const char *
health_instead(const mcp_llm_provider_t *p, char *buf, size_t len)
{
    const mcp_llm_provider_t  *fb = p->llm->fallback;

    if (fb != NULL && fb != p) {
        snprintf(buf, len, "go to the fallback '%s'", fb->name);
    } else {
        snprintf(buf, len, "fail with provider_unavailable");
    }
    return buf;
}

/* health: a provider whose circuit breaker is not closed */
void
mcp_llm_health(mcp_health_t *h, void *ctx)
{
    mcp_llm_t           *llm = ctx;
    mcp_llm_provider_t  *p;
    int64_t              now = (int64_t) uv_now(llm->loop), left;
    const char          *state;
    char                 instead[96];
    size_t               i;

    for (i = 0; i < llm->nproviders; i++) {
        p = &llm->providers[i];
        state = mcp_llm_breaker_state(&p->breaker, now);

        if (strcmp(state, "open") == 0) {
            left = p->breaker.cooldown_ms - (now - p->breaker.opened_at);
            mcp_health_reason(h, "provider '%s': circuit breaker open after "
                "%u consecutive failures; for %.1f s more its requests %s, "
                "then one probe is let through", p->name,
                p->breaker.threshold, (double) (left > 0 ? left : 0) / 1000.0,
                health_instead(p, instead, sizeof(instead)));

        } else if (strcmp(state, "half_open") == 0) {
            mcp_health_reason(h, "provider '%s': circuit breaker half-open: "
                "one probe request decides whether it closes; meanwhile "
                "its requests %s", p->name,
                health_instead(p, instead, sizeof(instead)));
        }
    }
}
