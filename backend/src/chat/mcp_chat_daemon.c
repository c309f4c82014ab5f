/*
 * The chat service as an mcpd subsystem: built from chat.service, the
 * repository (repo/ starts first) and a provider; registers the actions,
 * "chat_stats", the session-close hook (a client that goes away cancels
 * its requests) and the stop hook.
 */

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat/mcp_chat_int.h"
#include "chat/mcp_chat_llm.h"
#include "chat/mcp_chat_offline.h"
#include "chat/mcp_chat_mcp.h"
#include "llm/mcp_llm_daemon.h"
#include "mcp/mcp_host_daemon.h"
#include "repo/mcp_repo_daemon.h"

#define MCP_CHAT_SWEEP_MS  60000

static const char *const  mcp_chat_err_codes[MCP_CHAT_E__COUNT] = {
    "invalid_request", "rate_limited", "provider_unavailable",
    "provider_error", "tool_limit_reached", "conversation_busy",
    "conversation_not_found", "cancelled", "internal"
};


/* ------------------------------------------------------------ status */


static json_t *
mcp_chat_cache_stats(mcp_chat_t *c)
{
    mcp_lru_stats_t  st;
    double           rate;

    if (c->contexts == NULL) {
        return json_pack("{s:b}", "enabled", 0);
    }
    mcp_lru_stats(c->contexts, &st);
    rate = st.hits + st.misses ? (double) st.hits / (st.hits + st.misses)
                               : 0.0;
    return json_pack("{s:b, s:I, s:I, s:I, s:I, s:f, s:I}",
                     "enabled", 1,
                     "entries", (json_int_t) st.size,
                     "max_entries", (json_int_t) st.capacity,
                     "hits", (json_int_t) st.hits,
                     "misses", (json_int_t) st.misses,
                     "hit_rate", rate,
                     "evictions", (json_int_t) st.evictions);
}


static json_t *
mcp_chat_stats(void *ctx)
{
    mcp_chat_t  *c = ctx;
    json_t      *o, *errs, *prov;
    int          i;

    errs = json_object();
    for (i = 0; i < MCP_CHAT_E__COUNT; i++) {
        json_object_set_new(errs, mcp_chat_err_codes[i],
                            json_integer((json_int_t) c->errors[i]));
    }
    prov = c->provider->status ? c->provider->status(c->provider->ctx) : NULL;
    if (prov == NULL) {
        prov = json_pack("{s:s, s:b}", "name", c->provider->name, "offline",
                         c->provider->offline);
    }

    o = json_pack("{s:o, s:{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I},"
                  " s:o,"
                  " s:I, s:{s:I, s:I, s:I, s:I, s:I},"
                  " s:{s:I, s:I, s:I}, s:o, s:{s:s, s:I, s:I},"
                  " s:{s:I, s:I, s:I, s:I}, s:{s:I, s:I}}",
        "provider", prov,
        "requests",
          "active", (json_int_t) c->nreqs,
          "waiting", (json_int_t) mcp_chat_order_waiting(c->order),
          "started", (json_int_t) c->started,
          "completed", (json_int_t) c->completed,
          "replayed", (json_int_t) c->replayed,
          "attached", (json_int_t) c->attached,
          "cancelled", (json_int_t) c->cancelled,
          "disconnected", (json_int_t) c->disconnected,
          "stopped_by_shutdown", (json_int_t) c->shutdown,
        "errors", errs,
        "conversations_active", (json_int_t) mcp_chat_order_active(c->order),
        "tools",
          "running", (json_int_t) c->tools_running,
          "hops", (json_int_t) c->tool_hops,
          "ok", (json_int_t) c->tool_calls[0],
          "error", (json_int_t) c->tool_calls[1],
          "timeout", (json_int_t) c->tool_calls[2],
        "limits",
          "principals", (json_int_t) mcp_chat_limits_principals(c->limits),
          "refused_concurrent",
          (json_int_t) mcp_chat_limits_refused(c->limits,
                                               MCP_LIMIT_CONCURRENT),
          "refused_rate",
          (json_int_t) mcp_chat_limits_refused(c->limits, MCP_LIMIT_RATE),
        "context_cache", mcp_chat_cache_stats(c),
        "context",
          "estimator", mcp_chat_tokens_estimator(),
          "max_tokens", (json_int_t) c->conf->context.max_tokens,
          "reserve_tokens", (json_int_t) c->conf->context.reserve_tokens,
        "latency_ms",
          "ttfc_p50", (json_int_t) mcp_hist_quantile(&c->ttfc, 0.5),
          "ttfc_p99", (json_int_t) mcp_hist_quantile(&c->ttfc, 0.99),
          "duration_p50", (json_int_t) mcp_hist_quantile(&c->duration, 0.5),
          "duration_p99", (json_int_t) mcp_hist_quantile(&c->duration, 0.99),
        "overhead_us",
          "p50", (json_int_t) mcp_hist_quantile(&c->overhead, 0.5),
          "p99", (json_int_t) mcp_hist_quantile(&c->overhead, 0.99));
    json_object_set_new(o, "store_wait_us", json_pack("{s:I, s:I}",
        "p50", (json_int_t) mcp_hist_quantile(&c->store_wait, 0.5),
        "p99", (json_int_t) mcp_hist_quantile(&c->store_wait, 0.99)));
    return o;
}


/* ------------------------------------------------------------ hooks */

/* a client went away: its requests stop (provider call and tools) */
static void
mcp_chat_session_closed(mcp_session_t *s, void *ctx)
{
    mcp_chat_t       *c = ctx;
    mcp_chat_req_t   *r, **mine;
    size_t            n = 0, i, k;

    if (c->nreqs == 0) {
        return;
    }
    mine = malloc(c->nreqs * sizeof(*mine));
    if (mine == NULL) {
        return;
    }
    for (r = c->reqs; r; r = r->next) {
        /* a joined repeat only stops listening */
        for (k = 0; k < r->nlisteners; k++) {
            if (r->listeners[k].s == s) {
                mcp_session_unref(s);
                free(r->listeners[k].rid);
                r->listeners[k--] = r->listeners[--r->nlisteners];
            }
        }
        if (r->s == s && n < c->nreqs) {
            mcp_chat_req_ref(r);
            mine[n++] = r;
        }
    }
    for (i = 0; i < n; i++) {
        mcp_chat_req_cancel(mine[i], MCP_CHAT_STOP_DISCONNECT);
        mcp_chat_req_unref(mine[i]);
    }
    free(mine);
}


static void
mcp_chat_sweep(uv_timer_t *t)
{
    mcp_chat_t  *c = t->data;

    mcp_chat_limits_sweep(c->limits, uv_now(c->d->loop));
}


static void
mcp_chat_free(mcp_chat_t *c)
{
    mcp_lru_destroy(c->contexts);
    mcp_strmap_free(c->running);
    mcp_chat_order_free(c->order);
    mcp_chat_limits_free(c->limits);
    if (c->provider) {
        if (c->provider->close) {
            c->provider->close(c->provider->ctx);
        }
        free(c->provider);
    }
    mcp_chat_sys_free(c);
    free(c->system);
    free(c);
}


static void
mcp_chat_timer_closed(uv_handle_t *h)
{
    mcp_chat_t  *c = h->data;

    if (c->nreqs == 0) {
        mcp_chat_free(c);
    }
    /* else: requests still finishing keep c; it lives until exit */
}


/*
 * The last frame of a request stopped by the drain.  A client that is
 * behind gets it at once, ahead of the frames held for it (dropped: it may
 * not read them before the links close; their text is stored).
 */
static void
mcp_chat_tell_shutdown(mcp_chat_req_t *r)
{
    size_t  dropped = mcp_chat_drop_held(r);
    char    msg[320];

    snprintf(msg, sizeof(msg), "mcpd is shutting down: what was produced is "
             "stored; send the message again as a new request%s",
             dropped ? " (the last frames of this reply were not sent: the "
                       "client was behind; history has their text)"
                     : "");
    r->told = 1;
    mcp_chat_emit(r, "error", json_pack("{s:s, s:s, s:s?}", "error", msg,
                  "code", "backend_unavailable", "conversation_id", r->conv));
}


/*
 * Drain (core runs it while the links are still up): every request in
 * flight gets its last frame, backend_unavailable, now, and stops; what it
 * produced is stored and marked "cancelled" as for a disconnect, and the
 * stop is counted apart (stopped_by_shutdown).  Core waits for
 * mcp_chat_busy() before it closes the links and the repository.
 */
static void
mcp_chat_drain(mcp_daemon_t *d, void *ctx)
{
    mcp_chat_t      *c = ctx;
    mcp_chat_req_t  *r, **all;
    size_t           n = 0, i;

    c->stopping = 1;
    /* collect first: a cancel may end a request and unlink it */
    all = c->nreqs ? malloc(c->nreqs * sizeof(*all)) : NULL;
    for (r = c->reqs; r && all && n < c->nreqs; r = r->next) {
        mcp_chat_req_ref(r);
        all[n++] = r;
    }
    for (i = 0; i < n; i++) {
        if (!all[i]->finished && !all[i]->told) {
            mcp_chat_tell_shutdown(all[i]);
        }
        mcp_chat_req_cancel(all[i], MCP_CHAT_STOP_SHUTDOWN);
        mcp_chat_req_unref(all[i]);
    }
    free(all);
    mcp_chat_end_draining(c);
}


/* requests still storing what they produced */
static int
mcp_chat_busy(mcp_daemon_t *d, void *ctx)
{
    mcp_chat_t  *c = ctx;

    return c->nreqs > 0;
}


static void
mcp_chat_stop(mcp_daemon_t *d, void *ctx)
{
    mcp_chat_t  *c = ctx;

    /* the grace ran out, or no drain came first: end what is left */
    if (!c->stopping || c->nreqs > 0) {
        mcp_chat_drain(d, ctx);
    }
    /* the held ends of finished replies for slow clients: too late */
    mcp_chat_drop_draining(c);
    uv_timer_stop(&c->sys_timer);
    uv_close((uv_handle_t *) &c->sys_timer, NULL);  /* before sweep: its
                                                       close frees c */
    uv_timer_stop(&c->sweep);
    uv_close((uv_handle_t *) &c->sweep, mcp_chat_timer_closed);
}


/* ------------------------------------------------------------ init */

static char *
mcp_chat_system_prompt(const mcp_chat_service_conf_t *sc)
{
    const char  *p = sc->system_prompt ? sc->system_prompt : "";
    size_t       n = strlen(p);
    char        *s;

    while (n > 0 && isspace((unsigned char) p[n - 1])) {
        n--;
    }
    s = malloc(n + 1);
    if (s) {
        memcpy(s, p, n);
        s[n] = '\0';
    }
    return s;
}


/*
 * auto: a provider of the llm section whose API key is set, else the
 * offline demo provider (make run without a key); llm: the provider layer
 * whatever the keys (requests then fail visibly); offline: the demo.
 */
static mcp_chat_provider_t *
mcp_chat_pick_provider(mcp_chat_t *c, mcp_err_t *err)
{
    const mcp_chat_service_conf_t  *sc = c->conf;
    mcp_llm_t                      *llm = mcp_llm_daemon_get(c->d);
    const char                     *name = NULL;
    mcp_chat_provider_t            *p;

    if (sc->provider != MCP_CHAT_PROVIDER_OFFLINE && llm != NULL) {
        name = mcp_chat_llm_pick(&c->d->conf->llm);
        if (name != NULL || sc->provider == MCP_CHAT_PROVIDER_LLM) {
            p = mcp_chat_llm_new(llm, name);
            if (p == NULL) {
                mcp_err_set(err, NULL, "chat: out of memory");
            }
            return p;
        }
    }
    if (sc->provider == MCP_CHAT_PROVIDER_LLM) {
        mcp_err_set(err, NULL, "chat.service.provider is llm but the "
                    "provider layer is not running");
        return NULL;
    }
    p = mcp_chat_offline_new(c->d->loop, sc->offline_delay_ms);
    if (p == NULL) {
        mcp_err_set(err, NULL, "chat: out of memory");
    }
    return p;
}


typedef struct {
    const char      *name;
    mcp_action_pt    fn;
} mcp_chat_action_def_t;

static const mcp_chat_action_def_t  mcp_chat_actions[] = {
    { "chat", mcp_chat_handle_chat },
    { "cancel", mcp_chat_handle_cancel },
    { "history", mcp_chat_handle_history },
    { "list_tools", mcp_chat_handle_list_tools },
    { "list_conversations", mcp_chat_handle_list_conversations },
    { "delete_conversation", mcp_chat_handle_delete },
    { NULL, NULL }
};


/*
 * health: chat on the provider layer (provider: llm) although no provider
 * has its API key: every chat then fails.  (The
 * offline demo that auto picks without a key is a mode, not a fault: it
 * says so in chat_stats.provider.)
 */
static void
mcp_chat_health(mcp_health_t *h, void *ctx)
{
    mcp_chat_t  *c = ctx;

    if (c->provider != NULL && !c->provider->offline
        && mcp_chat_llm_pick(&c->d->conf->llm) == NULL)
    {
        mcp_health_reason(h, "chat.service.provider is llm but no provider "
                          "of the llm section has its API key (api_key_env "
                          "not set): every chat fails");
    }
}


static int
mcp_chat_register(mcp_chat_t *c, mcp_err_t *err)
{
    const mcp_chat_action_def_t  *a;

    for (a = mcp_chat_actions; a->name; a++) {
        if (mcp_daemon_add_action(c->d, a->name, a->fn, c) != 0) {
            mcp_err_set(err, NULL, "chat: cannot register action %s",
                        a->name);
            return -1;
        }
    }
    if (mcp_daemon_add_stats(c->d, "chat_stats", mcp_chat_stats, c) != 0
        || mcp_daemon_add_health(c->d, "chat", mcp_chat_health, c) != 0
        || mcp_daemon_on_session_close(c->d, mcp_chat_session_closed, c) != 0
        || mcp_daemon_on_drain(c->d, mcp_chat_drain, mcp_chat_busy, c) != 0
        || mcp_daemon_on_stop(c->d, mcp_chat_stop, c) != 0)
    {
        mcp_err_set(err, NULL, "chat: cannot register with the daemon");
        return -1;
    }
    return 0;
}


int
mcp_chat_daemon_init(mcp_daemon_t *d, mcp_err_t *err)
{
    const mcp_chat_service_conf_t  *sc = &d->conf->chat.service;
    mcp_chat_t                     *c;

    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        mcp_err_set(err, NULL, "chat: out of memory");
        return -1;
    }
    c->d = d;
    c->conf = sc;
    c->log = &d->log;
    c->persist = d->conf->persistence.enabled;
    c->repo = mcp_repo_daemon_get(d);
    if (c->repo == NULL) {
        mcp_err_set(err, NULL, "chat: the repository is not running (repo "
                    "must start before chat)");
        free(c);
        return -1;
    }

    c->order = mcp_chat_order_new();
    c->limits = mcp_chat_limits_new(sc->limits.concurrent_requests,
                                    sc->limits.requests_per_minute);
    c->running = mcp_strmap_new(NULL, NULL);
    if (sc->context.cache_conversations > 0 && c->persist) {
        c->contexts = mcp_lru_create((size_t) sc->context.cache_conversations,
                                     mcp_chat_conv_evicted);
    }
    c->system = mcp_chat_system_prompt(sc);
    if (c->order == NULL || c->limits == NULL || c->running == NULL
        || c->system == NULL
        || (sc->context.cache_conversations > 0 && c->persist
            && c->contexts == NULL))
    {
        mcp_err_set(err, NULL, "chat: out of memory");
        mcp_chat_free(c);
        return -1;
    }

    if (mcp_host_from_daemon(d) != NULL) {
        mcp_chat_mcp_init(&c->mcp_tools, mcp_host_from_daemon(d));
        c->tools = &c->mcp_tools;
    }
    c->provider = mcp_chat_pick_provider(c, err);
    if (c->provider == NULL) {
        mcp_chat_free(c);
        return -1;
    }

    if (mcp_chat_sys_init(c) != 0) {
        mcp_err_set(err, NULL, "chat: out of memory");
        mcp_chat_free(c);
        return -1;
    }
    uv_timer_init(d->loop, &c->sweep);
    c->sweep.data = c;
    uv_timer_start(&c->sweep, mcp_chat_sweep, MCP_CHAT_SWEEP_MS,
                   MCP_CHAT_SWEEP_MS);
    uv_unref((uv_handle_t *) &c->sweep);

    if (mcp_chat_register(c, err) != 0) {
        uv_close((uv_handle_t *) &c->sys_timer, NULL);
        uv_close((uv_handle_t *) &c->sweep, mcp_chat_timer_closed);
        return -1;
    }

    mcp_log_info(&d->log, "chat", "ready: provider %s%s, %s, max_tool_hops %lld, "
                 "context %lld-%lld tokens (%s), cache %lld conversations",
                 c->provider->name,
                 c->provider->offline ? " (offline demo, no API key)" : "",
                 c->tools ? "MCP tools" : "no MCP host",
                 (long long) sc->max_tool_hops,
                 (long long) sc->context.max_tokens,
                 (long long) sc->context.reserve_tokens,
                 mcp_chat_tokens_estimator(),
                 (long long) (c->contexts ? sc->context.cache_conversations
                                          : 0));
    return 0;
}
