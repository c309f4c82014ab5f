/*
 * Per-principal limits (see mcp_chat_limits.h).  Buckets count in
 * milli-requests so refill needs no floating point.
 */

#include <stdlib.h>

#include "chat/mcp_chat_limits.h"
#include "util/mcp_strmap.h"

/* what to tell a client refused for concurrency: slots free when its own
   requests end, which we cannot predict; a short wait is the honest hint */
#define MCP_LIMIT_CONCURRENT_RETRY_MS  500

typedef struct {
    int64_t    inflight;
    int64_t    milli;           /* bucket content, 1000 per request */
    uint64_t   at_ms;           /* when milli was last brought up to date */
} mcp_chat_principal_t;

struct mcp_chat_limits_s {
    mcp_strmap_t  *principals;
    int64_t     concurrent;
    int64_t     per_minute;
    uint64_t    refused[MCP_LIMIT_NOMEM + 1];
};


static void
mcp_chat_principal_free(void *v, void *ctx)
{
    free(v);
}


mcp_chat_limits_t *
mcp_chat_limits_new(int64_t concurrent, int64_t per_minute)
{
    mcp_chat_limits_t  *l = calloc(1, sizeof(*l));

    if (l == NULL) {
        return NULL;
    }
    l->principals = mcp_strmap_new(mcp_chat_principal_free, NULL);
    if (l->principals == NULL) {
        free(l);
        return NULL;
    }
    l->concurrent = concurrent;
    l->per_minute = per_minute;
    return l;
}


void
mcp_chat_limits_free(mcp_chat_limits_t *l)
{
    if (l) {
        mcp_strmap_free(l->principals);
        free(l);
    }
}


static void
mcp_chat_refill(const mcp_chat_limits_t *l, mcp_chat_principal_t *p,
    uint64_t now_ms)
{
    int64_t  cap = l->per_minute * 1000;

    if (now_ms > p->at_ms) {
        /* per_minute requests per 60000 ms = per_minute milli per ms / 60 */
        p->milli += (int64_t) (now_ms - p->at_ms) * l->per_minute / 60;
        if (p->milli > cap) {
            p->milli = cap;
        }
    }
    p->at_ms = now_ms;
}


int
mcp_chat_limits_acquire(mcp_chat_limits_t *l, const char *principal,
    uint64_t now_ms, int64_t *retry_after_ms)
{
    mcp_chat_principal_t  *p = mcp_strmap_get(l->principals, principal);

    if (p == NULL) {
        p = calloc(1, sizeof(*p));
        if (p == NULL || mcp_strmap_put(l->principals, principal, p) != 0) {
            l->refused[MCP_LIMIT_NOMEM]++;
            return MCP_LIMIT_NOMEM;
        }
        p->milli = l->per_minute * 1000;
        p->at_ms = now_ms;
    }

    if (p->inflight >= l->concurrent) {
        *retry_after_ms = MCP_LIMIT_CONCURRENT_RETRY_MS;
        l->refused[MCP_LIMIT_CONCURRENT]++;
        return MCP_LIMIT_CONCURRENT;
    }

    if (l->per_minute > 0) {
        mcp_chat_refill(l, p, now_ms);
        if (p->milli < 1000) {
            /* time until the bucket holds one whole request */
            *retry_after_ms = ((1000 - p->milli) * 60 + l->per_minute - 1)
                              / l->per_minute;
            if (*retry_after_ms < 1) {
                *retry_after_ms = 1;
            }
            l->refused[MCP_LIMIT_RATE]++;
            return MCP_LIMIT_RATE;
        }
        p->milli -= 1000;
    }

    p->inflight++;
    return MCP_LIMIT_OK;
}


void
mcp_chat_limits_release(mcp_chat_limits_t *l, const char *principal)
{
    mcp_chat_principal_t  *p = mcp_strmap_get(l->principals, principal);

    if (p && p->inflight > 0) {
        p->inflight--;
    }
}


typedef struct {
    mcp_chat_limits_t  *l;
    uint64_t            now_ms;
} mcp_chat_sweep_t;


static int
mcp_chat_idle(const char *key, void *v, void *ctx)
{
    mcp_chat_sweep_t      *sw = ctx;
    mcp_chat_principal_t  *p = v;

    if (p->inflight > 0) {
        return 0;
    }
    if (sw->l->per_minute > 0) {
        mcp_chat_refill(sw->l, p, sw->now_ms);
        return p->milli >= sw->l->per_minute * 1000;
    }
    return 1;
}


void
mcp_chat_limits_sweep(mcp_chat_limits_t *l, uint64_t now_ms)
{
    mcp_chat_sweep_t  sw = { l, now_ms };

    mcp_strmap_sweep(l->principals, mcp_chat_idle, &sw);
}


size_t
mcp_chat_limits_principals(const mcp_chat_limits_t *l)
{
    return mcp_strmap_count(l->principals);
}


uint64_t
mcp_chat_limits_refused(const mcp_chat_limits_t *l, int kind)
{
    return kind >= 0 && kind <= MCP_LIMIT_NOMEM ? l->refused[kind] : 0;
}
