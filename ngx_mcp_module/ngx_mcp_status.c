/*
 * mcp_status: one JSON document with the module's own figures (read from
 * the shared zone, so every worker answers the same) and, when the link is
 * up, the top-level keys of mcpd's STATS reply spliced in.  mcpd gets
 * NGX_MCP_STATUS_TIMEOUT ms to answer.
 *
 * The verdict comes first: "status" is "degraded" when anything is wrong,
 * and "reasons" says what, one {"component", "reason"} each: the module's
 * own (component "backend": no answer from mcpd) and those of mcpd's
 * subsystems (its "health" member, folded in: mcp_status_fold.c).  The
 * HTTP status is 200 either way: the body is the verdict, and a degraded
 * instance still serves (docs/operations.md).
 *
 * ?format=prometheus gives the same as Prometheus text (no user or session
 * ids as labels): the module's figures, the verdict as mcp_health_degraded
 * and one mcp_health_component_degraded{component} per component, then the
 * text mcpd renders from its own (a STATS request with payload
 * "prometheus").
 */

#include "ngx_mcp_module.h"
#include "mcp_status_fold.h"

typedef struct {
    ngx_queue_t          queue;
    ngx_http_request_t  *request;
    ngx_event_t          timer;
    uint64_t             tag;
    unsigned             done:1;
    unsigned             prometheus:1;
} ngx_mcp_status_ctx_t;

static const char  *ngx_mcp_reject_names[NGX_MCP_REJ_MAX] = {
    "handshake", "version", "origin", "queue_full", "queue_timeout",
    "shutdown"
};

static const char  *ngx_mcp_close_names[NGX_MCP_CLOSE_KINDS] = {
    "1000", "1001", "1002", "1003", "1005", "1006", "1007", "1008", "1009",
    "1011", "1013", "4000", "other"
};

static const char  *ngx_mcp_link_names[] = {
    "down", "connecting", "hello", "up"
};

#define NGX_MCP_STATUS_SIZE  (16 * 1024)

static ngx_int_t ngx_mcp_status_send(ngx_http_request_t *r, u_char *mcpd,
    size_t mcpd_len, ngx_uint_t prometheus, const char *backend_reason);
static u_char *ngx_mcp_status_document(u_char *p, u_char *mcpd,
    size_t mcpd_len, const char *backend_reason);
static u_char *ngx_mcp_status_verdict(u_char *p, mcp_status_fold_t *fold,
    const char *backend_reason);
static u_char *ngx_mcp_status_prom_verdict(u_char *p, u_char *mcpd,
    size_t mcpd_len, const char *backend_reason);
static u_char *ngx_mcp_status_json(u_char *p, ngx_mcp_sh_t *sh);
static u_char *ngx_mcp_status_prometheus(u_char *p, ngx_mcp_sh_t *sh);
static uint64_t ngx_mcp_rtt_quantile(ngx_mcp_sh_t *sh, double q);
static ngx_uint_t ngx_mcp_status_others_linked(ngx_mcp_sh_t *sh);
static void ngx_mcp_status_timeout(ngx_event_t *ev);
static void ngx_mcp_status_cleanup(void *data);
static void ngx_mcp_status_finish(ngx_mcp_status_ctx_t *sctx, u_char *json,
    size_t len, const char *backend_reason);

/* the module's own reasons, component "backend" */
#define NGX_MCP_NO_LINK      "no link to mcpd: WebSocket clients are " \
                             "answered backend_unavailable until it is back"
#define NGX_MCP_NO_ANSWER    "mcpd did not answer the status request " \
                             "within 1 s: it may be overloaded or stuck"
#define NGX_MCP_LINK_LOST    "the link to mcpd went down while asking " \
                             "for status"
#define NGX_MCP_BAD_REPLY    "mcpd's status reply is not a JSON object"
#define NGX_MCP_WORKER_LINK  "another nginx worker has no link to mcpd: " \
                             "its WebSocket clients are answered " \
                             "backend_unavailable (see backend.workers)"



ngx_int_t
ngx_mcp_status_handler(ngx_http_request_t *r)
{
    ngx_int_t              rc;
    ngx_str_t              fmt;
    ngx_uint_t             prometheus;
    ngx_pool_cleanup_t    *cln;
    ngx_mcp_status_ctx_t  *sctx;
    ngx_mcp_main_conf_t   *mmcf;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    prometheus = ngx_http_arg(r, (u_char *) "format", 6, &fmt) == NGX_OK
                 && fmt.len == 10
                 && ngx_strncmp(fmt.data, "prometheus", 10) == 0;

    mmcf = ngx_mcp_main_conf();

    if (mmcf->backend == NULL) {
        return ngx_mcp_status_send(r, NULL, 0, prometheus, NULL);
    }

    sctx = ngx_pcalloc(r->pool, sizeof(ngx_mcp_status_ctx_t));
    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (sctx == NULL || cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_mcp_link_stats_request(&sctx->tag, prometheus) != NGX_OK) {
        return ngx_mcp_status_send(r, NULL, 0, prometheus, NGX_MCP_NO_LINK);
    }

    sctx->prometheus = prometheus;

    sctx->request = r;
    sctx->timer.handler = ngx_mcp_status_timeout;
    sctx->timer.data = sctx;
    sctx->timer.log = r->connection->log;
    ngx_queue_insert_tail(&mmcf->worker.status, &sctx->queue);
    ngx_add_timer(&sctx->timer, NGX_MCP_STATUS_TIMEOUT);

    cln->handler = ngx_mcp_status_cleanup;
    cln->data = sctx;

    r->read_event_handler = ngx_http_test_reading;
    r->main->count++;

    return NGX_DONE;
}


void
ngx_mcp_status_reply(uint64_t tag, u_char *json, size_t len)
{
    ngx_queue_t           *q;
    ngx_mcp_status_ctx_t  *sctx;
    ngx_mcp_main_conf_t   *mmcf;

    mmcf = ngx_mcp_main_conf();

    for (q = ngx_queue_head(&mmcf->worker.status);
         q != ngx_queue_sentinel(&mmcf->worker.status);
         q = ngx_queue_next(q))
    {
        sctx = ngx_queue_data(q, ngx_mcp_status_ctx_t, queue);
        if (sctx->tag == tag) {
            ngx_mcp_status_finish(sctx, json, len, NULL);
            return;
        }
    }
}


void
ngx_mcp_status_link_down(void)
{
    ngx_queue_t           *q;
    ngx_mcp_status_ctx_t  *sctx;
    ngx_mcp_main_conf_t   *mmcf;

    mmcf = ngx_mcp_main_conf();

    while (!ngx_queue_empty(&mmcf->worker.status)) {
        q = ngx_queue_head(&mmcf->worker.status);
        sctx = ngx_queue_data(q, ngx_mcp_status_ctx_t, queue);
        ngx_mcp_status_finish(sctx, NULL, 0, NGX_MCP_LINK_LOST);
    }
}


static void
ngx_mcp_status_timeout(ngx_event_t *ev)
{
    ngx_mcp_status_finish(ev->data, NULL, 0, NGX_MCP_NO_ANSWER);
}


static void
ngx_mcp_status_finish(ngx_mcp_status_ctx_t *sctx, u_char *json, size_t len,
    const char *backend_reason)
{
    ngx_int_t            rc;
    ngx_connection_t    *c;
    ngx_http_request_t  *r = sctx->request;

    ngx_queue_remove(&sctx->queue);
    sctx->done = 1;

    if (sctx->timer.timer_set) {
        ngx_del_timer(&sctx->timer);
    }

    /* this worker's link answered: every other worker's counts too */
    if (backend_reason == NULL
        && !ngx_mcp_status_others_linked(ngx_mcp_main_conf()->sh))
    {
        backend_reason = NGX_MCP_WORKER_LINK;
    }

    c = r->connection;
    rc = ngx_mcp_status_send(r, json, len, sctx->prometheus, backend_reason);
    ngx_http_finalize_request(r, rc);
    ngx_http_run_posted_requests(c);
}


/*
 * Is every other worker's link to mcpd up?  A worker without one answers
 * its clients backend_unavailable, whichever worker was asked for status.
 * A worker that exits clears its slot, and a killed one's slot is taken
 * over by the worker the master starts in its place (ngx_mcp_module.c).
 * A worker the master has started but that has not taken its slot yet
 * (right after a start) has no link either: until worker_processes slots
 * are taken, the answer is no.
 */
static ngx_uint_t
ngx_mcp_status_others_linked(ngx_mcp_sh_t *sh)
{
    ngx_uint_t            i, workers;
    ngx_core_conf_t      *ccf;
    ngx_mcp_worker_sh_t  *w;

    workers = 1;                                /* this one */

    for (i = 0; i < NGX_MAX_PROCESSES; i++) {
        w = &sh->workers[i];
        if (w->pid == 0 || (ngx_int_t) i == ngx_process_slot) {
            continue;
        }
        if (w->link_state != NGX_MCP_LINK_UP) {
            return 0;
        }
        workers++;
    }

    ccf = (ngx_core_conf_t *) ngx_get_conf(ngx_cycle->conf_ctx,
                                           ngx_core_module);

    return ngx_process != NGX_PROCESS_WORKER
           || workers >= (ngx_uint_t) ccf->worker_processes;
}


static void
ngx_mcp_status_cleanup(void *data)
{
    ngx_mcp_status_ctx_t  *sctx = data;

    if (sctx->timer.timer_set) {
        ngx_del_timer(&sctx->timer);
    }

    if (!sctx->done && sctx->request != NULL) {
        ngx_queue_remove(&sctx->queue);
        sctx->done = 1;
    }
}


static ngx_int_t
ngx_mcp_status_send(ngx_http_request_t *r, u_char *mcpd, size_t mcpd_len,
    ngx_uint_t prometheus, const char *backend_reason)
{
    u_char               *p, *start;
    ngx_int_t             rc;
    ngx_buf_t            *b;
    ngx_chain_t           out;

    start = ngx_pnalloc(r->pool, NGX_MCP_STATUS_SIZE + mcpd_len);
    if (start == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (prometheus) {
        p = ngx_mcp_status_prometheus(start, ngx_mcp_main_conf()->sh);
        p = ngx_mcp_status_prom_verdict(p, mcpd, mcpd_len, backend_reason);
        if (mcpd_len) {
            p = ngx_cpymem(p, mcpd, mcpd_len);
        }
        ngx_str_set(&r->headers_out.content_type,
                    "text/plain; version=0.0.4");

    } else {
        p = ngx_mcp_status_document(start, mcpd, mcpd_len, backend_reason);
        ngx_str_set(&r->headers_out.content_type, "application/json");
    }

    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = p - start;

    rc = ngx_http_send_header(r);
    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->pos = start;
    b->last = p;
    b->memory = 1;
    b->last_buf = 1;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


/* the verdict, the module's figures, then mcpd's members but "health" */
static u_char *
ngx_mcp_status_document(u_char *p, u_char *mcpd, size_t mcpd_len,
    const char *backend_reason)
{
    mcp_status_fold_t  fold;

    ngx_memzero(&fold, sizeof(mcp_status_fold_t));

    if (mcpd_len && mcp_status_fold(mcpd, mcpd_len, &fold) != 0) {
        backend_reason = NGX_MCP_BAD_REPLY;     /* and fold stays empty */
    }

    p = ngx_mcp_status_verdict(p, &fold, backend_reason);
    p = ngx_mcp_status_json(p, ngx_mcp_main_conf()->sh);

    if (fold.before_len) {
        *p++ = ',';
        p = ngx_cpymem(p, fold.before, fold.before_len);
    }
    if (fold.after_len) {
        *p++ = ',';
        p = ngx_cpymem(p, fold.after, fold.after_len);
    }

    return ngx_cpymem(p, "}\n", 2);
}


/* {"status":...,"reasons":[the module's, then mcpd's], */
static u_char *
ngx_mcp_status_verdict(u_char *p, mcp_status_fold_t *fold,
    const char *backend_reason)
{
    p = ngx_sprintf(p, "{\"status\":\"%s\",\"reasons\":[",
                    backend_reason || fold->reasons_len ? "degraded" : "ok");

    if (backend_reason) {
        /* our own constant texts: nothing to escape */
        p = ngx_sprintf(p, "{\"component\":\"backend\",\"reason\":\"%s\"}%s",
                        backend_reason, fold->reasons_len ? "," : "");
    }
    if (fold->reasons_len) {
        p = ngx_cpymem(p, fold->reasons, fold->reasons_len);
    }

    return ngx_cpymem(p, "],", 2);
}


/* mcp_health_degraded, then the backend component right before mcpd's */
static u_char *
ngx_mcp_status_prom_verdict(u_char *p, u_char *mcpd, size_t mcpd_len,
    const char *backend_reason)
{
    ngx_uint_t  degraded;

    degraded = backend_reason != NULL
               || mcp_status_prom_degraded(mcpd, mcpd_len);

    return ngx_sprintf(p,
        "# TYPE mcp_health_degraded gauge\n"
        "mcp_health_degraded %ui\n"
        "# TYPE " MCP_HEALTH_PROM_COMPONENT " gauge\n"
        MCP_HEALTH_PROM_COMPONENT "{component=\"backend\"} %d\n",
        degraded, backend_reason != NULL);
}


static u_char *
ngx_mcp_status_json(u_char *p, ngx_mcp_sh_t *sh)
{
    ngx_uint_t            i, first;
    ngx_atomic_uint_t     reconnects = 0;
    ngx_mcp_worker_sh_t  *w;

    p = ngx_sprintf(p, "\"websocket_stats\":{\"active\":%uA,\"max\":%uA,"
                    "\"queued\":%uA,\"queue_max\":%uA,\"accepted\":%uA,"
                    "\"queued_total\":%uA,\"rejected\":{",
                    sh->active, sh->max, sh->queued, sh->queue_max,
                    sh->accepted, sh->queued_total);

    for (i = 0; i < NGX_MCP_REJ_MAX; i++) {
        p = ngx_sprintf(p, "%s\"%s\":%uA", i ? "," : "",
                        ngx_mcp_reject_names[i], sh->rejected[i]);
    }

    p = ngx_sprintf(p, "},\"closed\":{");

    for (i = 0; i < NGX_MCP_CLOSE_KINDS; i++) {
        p = ngx_sprintf(p, "%s\"%s\":%uA", i ? "," : "",
                        ngx_mcp_close_names[i], sh->closed[i]);
    }

    p = ngx_sprintf(p, "},\"frames_in\":%uA,\"frames_out\":%uA,"
                    "\"bytes_in\":%uA,\"bytes_out\":%uA,"
                    "\"messages_in\":%uA,\"messages_out\":%uA,"
                    "\"backpressure\":{\"pause\":%uA,\"close\":%uA},"
                    "\"backend_unavailable_replies\":%uA,"
                    "\"pings_sent\":%uA,\"ping_timeouts\":%uA,"
                    "\"idle_timeouts\":%uA,",
                    sh->frames_in, sh->frames_out, sh->bytes_in,
                    sh->bytes_out, sh->messages_in, sh->messages_out,
                    sh->backpressure_pause, sh->backpressure_close,
                    sh->backend_unavailable, sh->pings_sent,
                    sh->ping_timeouts, sh->idle_timeouts);

    p = ngx_sprintf(p, "\"ping_rtt_ms\":{\"count\":%uA,\"avg\":%.3f,"
                    "\"p50\":%.3f,\"p99\":%.3f}},",
                    sh->rtt_count,
                    sh->rtt_count ? (double) sh->rtt_sum_us / sh->rtt_count
                                    / 1000.0 : 0.0,
                    ngx_mcp_rtt_quantile(sh, 0.5) / 1000.0,
                    ngx_mcp_rtt_quantile(sh, 0.99) / 1000.0);

    p = ngx_sprintf(p, "\"backend\":{\"state\":\"%s\",\"workers\":[",
                    ngx_mcp_link_names[ngx_mcp_main_conf()->worker.state]);

    first = 1;
    for (i = 0; i < NGX_MAX_PROCESSES; i++) {
        w = &sh->workers[i];
        if (w->pid == 0) {
            continue;
        }

        reconnects += w->link_reconnects;
        p = ngx_sprintf(p, "%s{\"pid\":%uA,\"link\":\"%s\","
                        "\"reconnects\":%uA,\"link_out_bytes\":%uA,"
                        "\"active\":%uA,\"queued\":%uA}",
                        first ? "" : ",", w->pid,
                        ngx_mcp_link_names[w->link_state & 3],
                        w->link_reconnects, w->link_out_bytes, w->active,
                        w->queued);
        first = 0;
    }

    p = ngx_sprintf(p, "],\"reconnects\":%uA}", reconnects);

    return p;
}


static uint64_t
ngx_mcp_rtt_quantile(ngx_mcp_sh_t *sh, double q)
{
    ngx_uint_t  i;
    uint64_t    total = 0, seen = 0, want;

    for (i = 0; i < NGX_MCP_RTT_BUCKETS; i++) {
        total += sh->rtt[i];
    }

    if (total == 0) {
        return 0;
    }

    want = (uint64_t) (q * total);
    if (want == 0) {
        want = 1;
    }

    for (i = 0; i < NGX_MCP_RTT_BUCKETS; i++) {
        seen += sh->rtt[i];
        if (seen >= want) {
            return 1ULL << i;       /* the bucket's upper bound, in us */
        }
    }

    return 1ULL << (NGX_MCP_RTT_BUCKETS - 1);
}


static u_char *
ngx_mcp_status_prometheus(u_char *p, ngx_mcp_sh_t *sh)
{
    ngx_uint_t            i;
    ngx_mcp_worker_sh_t  *w;

    p = ngx_sprintf(p,
        "# TYPE mcp_websocket_active gauge\nmcp_websocket_active %uA\n"
        "# TYPE mcp_websocket_max gauge\nmcp_websocket_max %uA\n"
        "# TYPE mcp_websocket_queued gauge\nmcp_websocket_queued %uA\n"
        "# TYPE mcp_websocket_queue_max gauge\n"
        "mcp_websocket_queue_max %uA\n"
        "# TYPE mcp_websocket_accepted_total counter\n"
        "mcp_websocket_accepted_total %uA\n"
        "# TYPE mcp_websocket_queued_total counter\n"
        "mcp_websocket_queued_total %uA\n"
        "# TYPE mcp_websocket_pings_sent_total counter\n"
        "mcp_websocket_pings_sent_total %uA\n"
        "# TYPE mcp_websocket_rejected_total counter\n",
        sh->active, sh->max, sh->queued, sh->queue_max, sh->accepted,
        sh->queued_total, sh->pings_sent);

    for (i = 0; i < NGX_MCP_REJ_MAX; i++) {
        p = ngx_sprintf(p, "mcp_websocket_rejected_total{reason=\"%s\"} %uA\n",
                        ngx_mcp_reject_names[i], sh->rejected[i]);
    }

    p = ngx_sprintf(p, "# TYPE mcp_websocket_closed_total counter\n");

    for (i = 0; i < NGX_MCP_CLOSE_KINDS; i++) {
        p = ngx_sprintf(p, "mcp_websocket_closed_total{code=\"%s\"} %uA\n",
                        ngx_mcp_close_names[i], sh->closed[i]);
    }

    p = ngx_sprintf(p,
        "# TYPE mcp_websocket_frames_total counter\n"
        "mcp_websocket_frames_total{direction=\"in\"} %uA\n"
        "mcp_websocket_frames_total{direction=\"out\"} %uA\n"
        "# TYPE mcp_websocket_bytes_total counter\n"
        "mcp_websocket_bytes_total{direction=\"in\"} %uA\n"
        "mcp_websocket_bytes_total{direction=\"out\"} %uA\n"
        "# TYPE mcp_websocket_messages_total counter\n"
        "mcp_websocket_messages_total{direction=\"in\"} %uA\n"
        "mcp_websocket_messages_total{direction=\"out\"} %uA\n"
        "# TYPE mcp_websocket_backpressure_total counter\n"
        "mcp_websocket_backpressure_total{action=\"pause\"} %uA\n"
        "mcp_websocket_backpressure_total{action=\"close\"} %uA\n"
        "# TYPE mcp_websocket_backend_unavailable_total counter\n"
        "mcp_websocket_backend_unavailable_total %uA\n"
        "# TYPE mcp_websocket_ping_timeouts_total counter\n"
        "mcp_websocket_ping_timeouts_total %uA\n"
        "# TYPE mcp_websocket_idle_timeouts_total counter\n"
        "mcp_websocket_idle_timeouts_total %uA\n"
        "# TYPE mcp_websocket_ping_rtt_seconds summary\n"
        "mcp_websocket_ping_rtt_seconds{quantile=\"0.5\"} %.6f\n"
        "mcp_websocket_ping_rtt_seconds{quantile=\"0.99\"} %.6f\n"
        "mcp_websocket_ping_rtt_seconds_sum %.6f\n"
        "mcp_websocket_ping_rtt_seconds_count %uA\n"
        "# TYPE mcp_backend_link_up gauge\n",
        sh->frames_in, sh->frames_out, sh->bytes_in, sh->bytes_out,
        sh->messages_in, sh->messages_out, sh->backpressure_pause,
        sh->backpressure_close, sh->backend_unavailable, sh->ping_timeouts,
        sh->idle_timeouts, ngx_mcp_rtt_quantile(sh, 0.5) / 1e6,
        ngx_mcp_rtt_quantile(sh, 0.99) / 1e6, sh->rtt_sum_us / 1e6,
        sh->rtt_count);

    for (i = 0; i < NGX_MAX_PROCESSES; i++) {
        w = &sh->workers[i];
        if (w->pid != 0) {
            p = ngx_sprintf(p, "mcp_backend_link_up{worker=\"%ui\"} %d\n", i,
                            w->link_state == NGX_MCP_LINK_UP);
        }
    }

    p = ngx_sprintf(p, "# TYPE mcp_backend_link_reconnects_total counter\n");

    for (i = 0; i < NGX_MAX_PROCESSES; i++) {
        w = &sh->workers[i];
        if (w->pid != 0) {
            p = ngx_sprintf(p, "mcp_backend_link_reconnects_total"
                            "{worker=\"%ui\"} %uA\n", i, w->link_reconnects);
        }
    }

    return p;
}
