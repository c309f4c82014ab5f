/*
 * Streamable HTTP transport, the streams (see mcp_http.c): a POST's SSE
 * stream that ended before its result resumes with a GET carrying
 * Last-Event-ID after the server's "retry" delay (SEP-1699), and the
 * standalone GET stream for server messages is opened, and reopened after
 * a failure up to a bounded number of times in a row.
 */

#include "mcp/mcp_http_int.h"

#include <stdio.h>
#include <string.h>

#define MCP_HTTP_DEFAULT_RETRY_MS  1000
#define MCP_HTTP_MAX_RESUMES       5


/* ------------------------------------------------------------ streams */

static void
mcp_http_resume_fire(uv_timer_t *t)
{
    mcp_http_t      *h = t->data;
    mcp_http_req_t  *r;

    while ((r = h->resume) != NULL) {
        h->resume = r->next;
        r->next = NULL;
        if (h->closing || h->dead) {
            mcp_http_req_free(r);
            continue;
        }
        mcp_http_enqueue(h, r);
    }
}


/* the POST's stream ended without its result: GET it with Last-Event-ID */
int
mcp_http_schedule_resume(mcp_http_t *h, mcp_http_req_t *done)
{
    mcp_http_req_t  *r;
    int64_t          delay = done->sse.retry_ms >= 0 ? done->sse.retry_ms
                                                     : MCP_HTTP_DEFAULT_RETRY_MS;

    if (done->resumes >= MCP_HTTP_MAX_RESUMES || !done->sse.last_id[0]) {
        return -1;
    }
    r = mcp_http_req_new(h, MCP_HTTP_GET, NULL, done->id, done->sse.last_id);
    if (r == NULL) {
        return -1;
    }
    r->resumes = done->resumes + 1;
    r->sse.retry_ms = done->sse.retry_ms;
    snprintf(r->sse.last_id, sizeof(r->sse.last_id), "%s", done->sse.last_id);
    r->next = h->resume;
    h->resume = r;
    mcp_log_info(h->env.log, "mcp", "%s: stream ended before the reply to "
                 "request %lld; resuming in %lld ms (Last-Event-ID %s)",
                 h->name, (long long) done->id, (long long) delay,
                 done->sse.last_id);
    uv_timer_start(&h->resume_timer, mcp_http_resume_fire, (uint64_t) delay,
                   0);
    return 0;
}


int
mcp_http_session_gone(mcp_http_req_t *r)
{
    if (r->h->session[0] == '\0') {
        return 0;
    }
    if (r->status == 404) {
        return 1;
    }
    /* some servers answer an unknown session with 400 "No valid session" */
    return r->status == 400 && r->buf && r->len
           && (memmem(r->buf, r->len, "ession", 6) != NULL);
}


/* open (or reopen after delay_ms) the standalone GET stream */
void
mcp_http_open_stream(mcp_http_t *h, const char *last_id, int64_t delay_ms)
{
    mcp_http_req_t  *r = mcp_http_req_new(h, MCP_HTTP_GET, NULL, -1, last_id);

    if (r == NULL) {
        return;
    }
    r->standalone = 1;
    if (last_id) {
        snprintf(r->sse.last_id, sizeof(r->sse.last_id), "%s", last_id);
    }
    if (delay_ms <= 0) {
        mcp_http_enqueue(h, r);
        return;
    }
    r->next = h->resume;
    h->resume = r;
    uv_timer_start(&h->resume_timer, mcp_http_resume_fire, (uint64_t) delay_ms,
                   0);
}


void
mcp_http_stream_done(mcp_http_t *h, mcp_http_req_t *r, CURLcode rc)
{
    int64_t  delay = r->sse.retry_ms >= 0 ? r->sse.retry_ms
                                          : MCP_HTTP_DEFAULT_RETRY_MS;

    if (rc == CURLE_OK && mcp_http_session_gone(r)) {
        mcp_http_report(h, "session expired (GET stream)");
        return;
    }
    if (rc == CURLE_OK && (r->status == 405 || r->status / 100 == 4)) {
        /* optional in the spec: list changes then come with requests */
        mcp_log_info(h->env.log, "mcp", "%s: no server-message stream "
                     "(HTTP %ld)", h->name, r->status);
        return;
    }
    if (rc == CURLE_OK && r->status / 100 == 2 && r->is_sse) {
        h->stream_failures = 0;
    } else if (++h->stream_failures > MCP_HTTP_MAX_RESUMES) {
        mcp_log_warn(h->env.log, "mcp", "%s: server-message stream keeps "
                     "failing; not reopening it", h->name);
        return;
    }
    mcp_http_open_stream(h, r->sse.last_id[0] ? r->sse.last_id : NULL,
                         delay * (1 + h->stream_failures));
}
