/*
 * The RFC 6455 opening handshake and admission.
 *
 * Admission counts open WebSockets in the shared zone, per worker slot, so
 * a slot's count can be given back when its worker dies (see
 * ngx_mcp_init_process() and ngx_mcp_reap()).  Upgrades beyond
 * mcp_max_connections wait, unanswered, in one FIFO shared by all workers:
 * each waiter holds a ticket; the ring in shm maps tickets to their owner
 * (worker slot and generation) so that tickets of a client that gave up, or
 * of a worker that died, are skipped.  Only the oldest live ticket may take
 * a free slot, and a new upgrade never overtakes a waiter.  A slot freed in
 * this worker is offered to its waiters at once; waiters in the other
 * workers see it within NGX_MCP_QUEUE_POLL ms, from a timer that runs only
 * while a worker has waiters (nginx has no worker-to-worker wakeup a
 * dynamic module can use).
 */

#include <sys/types.h>
#include <signal.h>

#include "ngx_mcp_module.h"
#include <ngx_sha1.h>

#define NGX_MCP_WS_GUID  "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

static ngx_int_t ngx_mcp_check_request(ngx_http_request_t *r,
    ngx_mcp_loc_conf_t *mlcf, ngx_str_t *key, ngx_int_t *rc);
static ngx_table_elt_t *ngx_mcp_find_header(ngx_http_request_t *r,
    const char *name, size_t len, ngx_uint_t *count);
static ngx_int_t ngx_mcp_has_token(ngx_table_elt_t *h, const char *token,
    size_t len);
static ngx_int_t ngx_mcp_header_has_token(ngx_http_request_t *r,
    const char *name, size_t nlen, const char *token, size_t len);
static ngx_int_t ngx_mcp_send_reject(ngx_http_request_t *r,
    ngx_uint_t status, ngx_uint_t reason, const char *body);
static ngx_int_t ngx_mcp_admit(ngx_mcp_conn_t *ctx);
static void ngx_mcp_accept(ngx_mcp_conn_t *ctx);
static void ngx_mcp_queue_timeout(ngx_event_t *ev);
static void ngx_mcp_leave_queue(ngx_mcp_conn_t *ctx);
static void ngx_mcp_conn_cleanup(void *data);
static void ngx_mcp_advance_head(ngx_mcp_sh_t *sh);
static void ngx_mcp_reap(ngx_mcp_sh_t *sh);


ngx_int_t
ngx_mcp_ws_handler(ngx_http_request_t *r)
{
    ngx_int_t             rc;
    ngx_str_t             key;
    ngx_mcp_conn_t       *ctx;
    ngx_pool_cleanup_t   *cln;
    ngx_mcp_loc_conf_t   *mlcf;
    ngx_mcp_main_conf_t  *mmcf;

    if (r != r->main) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    mlcf = ngx_http_get_module_loc_conf(r, ngx_mcp_module);
    mmcf = ngx_mcp_main_conf();

    if (ngx_mcp_check_request(r, mlcf, &key, &rc) != NGX_OK) {
        return rc;
    }

    if (ngx_http_discard_request_body(r) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_mcp_conn_t));
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->request = r;
    ctx->conf = mlcf;
    ctx->close_code = MCP_WS_CLOSE_ABNORMAL;
    ctx->timer.data = ctx;
    ctx->timer.log = r->connection->log;
    ngx_queue_init(&ctx->queue);
    ngx_http_set_ctx(r, ctx, ngx_mcp_module);

    cln->handler = ngx_mcp_conn_cleanup;
    cln->data = ctx;

    mmcf->sh->max = mlcf->max_connections;
    mmcf->sh->queue_max = mlcf->queue_size;

    rc = ngx_mcp_admit(ctx);

    if (rc == NGX_DECLINED) {
        return ngx_mcp_send_reject(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                   NGX_MCP_REJ_QUEUE_FULL,
                                   "too many WebSocket connections\n");
    }

    r->main->count++;

    if (rc == NGX_OK) {
        ngx_mcp_accept(ctx);
        return NGX_DONE;
    }

    /* queued: answer nothing, notice a client that gives up */
    ngx_queue_insert_tail(&mmcf->worker.waiting, &ctx->queue);
    r->read_event_handler = ngx_http_test_reading;
    r->write_event_handler = ngx_http_request_empty_handler;

    ctx->timer.handler = ngx_mcp_queue_timeout;
    ngx_add_timer(&ctx->timer, mlcf->queue_timeout);

    if (!mmcf->worker.poll.timer_set) {
        ngx_add_timer(&mmcf->worker.poll, NGX_MCP_QUEUE_POLL);
    }

    return NGX_DONE;
}


/* NGX_OK, or NGX_DECLINED with the rejection sent and *rc its result */
static ngx_int_t
ngx_mcp_check_request(ngx_http_request_t *r, ngx_mcp_loc_conf_t *mlcf,
    ngx_str_t *key, ngx_int_t *rc)
{
    u_char            buf[32];
    ngx_str_t         decoded, *o;
    ngx_uint_t        n, i;
    ngx_table_elt_t  *h;

    if (r->method != NGX_HTTP_GET || r->http_version != NGX_HTTP_VERSION_11) {
        *rc = ngx_mcp_send_reject(r, NGX_HTTP_BAD_REQUEST,
                                   NGX_MCP_REJ_HANDSHAKE,
                                   "WebSocket handshake needs GET over "
                                   "HTTP/1.1\n");
        return NGX_DECLINED;
    }

    if (!ngx_mcp_header_has_token(r, "Upgrade", 7, "websocket", 9)
        || !ngx_mcp_header_has_token(r, "Connection", 10, "upgrade", 7))
    {
        *rc = ngx_mcp_send_reject(r, NGX_HTTP_BAD_REQUEST,
                                   NGX_MCP_REJ_HANDSHAKE,
                                   "expected \"Upgrade: websocket\" and "
                                   "\"Connection: Upgrade\"\n");
        return NGX_DECLINED;
    }

    h = ngx_mcp_find_header(r, "Sec-WebSocket-Version", 21, &n);
    if (h == NULL || n != 1 || h->value.len != 2
        || ngx_strncmp(h->value.data, "13", 2) != 0)
    {
        *rc = ngx_mcp_send_reject(r, 426, NGX_MCP_REJ_VERSION,
                                   "only WebSocket version 13 is "
                                   "supported\n");
        return NGX_DECLINED;
    }

    /* the key must be base64 of exactly 16 bytes */
    h = ngx_mcp_find_header(r, "Sec-WebSocket-Key", 17, &n);
    decoded.data = buf;

    if (h == NULL || n != 1 || h->value.len != 24
        || h->value.data[22] != '=' || h->value.data[23] != '='
        || ngx_decode_base64(&decoded, &h->value) != NGX_OK
        || decoded.len != 16)
    {
        *rc = ngx_mcp_send_reject(r, NGX_HTTP_BAD_REQUEST,
                                   NGX_MCP_REJ_HANDSHAKE,
                                   "invalid Sec-WebSocket-Key\n");
        return NGX_DECLINED;
    }

    *key = h->value;

    if (mlcf->allow_origins == NULL) {
        return NGX_OK;
    }

    /* clients that send no Origin are not browsers: CSRF cannot apply */
    h = ngx_mcp_find_header(r, "Origin", 6, &n);
    if (h == NULL) {
        return NGX_OK;
    }

    o = mlcf->allow_origins->elts;
    for (i = 0; i < mlcf->allow_origins->nelts; i++) {
        if (o[i].len == h->value.len
            && ngx_strncasecmp(o[i].data, h->value.data, o[i].len) == 0)
        {
            return NGX_OK;
        }
    }

    *rc = ngx_mcp_send_reject(r, NGX_HTTP_FORBIDDEN, NGX_MCP_REJ_ORIGIN,
                               "origin not allowed\n");
        return NGX_DECLINED;
}


static ngx_table_elt_t *
ngx_mcp_find_header(ngx_http_request_t *r, const char *name, size_t len,
    ngx_uint_t *count)
{
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h, *found = NULL;

    *count = 0;
    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }
            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].key.len == len
            && ngx_strncasecmp(h[i].key.data, (u_char *) name, len) == 0)
        {
            found = &h[i];
            (*count)++;
        }
    }

    return found;
}


/* any header called name (they may repeat) lists token */
static ngx_int_t
ngx_mcp_header_has_token(ngx_http_request_t *r, const char *name,
    size_t nlen, const char *token, size_t len)
{
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                return 0;
            }
            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].key.len == nlen
            && ngx_strncasecmp(h[i].key.data, (u_char *) name, nlen) == 0
            && ngx_mcp_has_token(&h[i], token, len))
        {
            return 1;
        }
    }
}


/* a comma-separated token list contains token, case-insensitively */
static ngx_int_t
ngx_mcp_has_token(ngx_table_elt_t *h, const char *token, size_t len)
{
    u_char  *p, *last, *start, *end;

    if (h == NULL) {
        return 0;
    }

    p = h->value.data;
    last = p + h->value.len;

    while (p < last) {
        while (p < last && (*p == ' ' || *p == '\t' || *p == ',')) {
            p++;
        }

        start = p;
        while (p < last && *p != ',') {
            p++;
        }

        end = p;
        while (end > start && (end[-1] == ' ' || end[-1] == '\t')) {
            end--;
        }

        if ((size_t) (end - start) == len
            && ngx_strncasecmp(start, (u_char *) token, len) == 0)
        {
            return 1;
        }
    }

    return 0;
}


static ngx_int_t
ngx_mcp_send_reject(ngx_http_request_t *r, ngx_uint_t status,
    ngx_uint_t reason, const char *body)
{
    size_t                len;
    ngx_int_t             rc;
    ngx_buf_t            *b;
    ngx_chain_t           out;
    ngx_table_elt_t      *h;
    ngx_mcp_main_conf_t  *mmcf;

    mmcf = ngx_mcp_main_conf();
    (void) ngx_atomic_fetch_add(&mmcf->sh->rejected[reason], 1);

    if (status == 426 || status == NGX_HTTP_SERVICE_UNAVAILABLE) {
        h = ngx_list_push(&r->headers_out.headers);
        if (h == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        h->hash = 1;

        if (status == 426) {
            ngx_str_set(&h->key, "Sec-WebSocket-Version");
            ngx_str_set(&h->value, "13");

        } else {
            ngx_str_set(&h->key, "Retry-After");
            ngx_str_set(&h->value, "5");
        }
    }

    len = ngx_strlen(body);

    r->headers_out.status = status;
    r->headers_out.content_length_n = len;
    ngx_str_set(&r->headers_out.content_type, "text/plain");
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->keepalive = 0;

    rc = ngx_http_send_header(r);
    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->pos = (u_char *) body;
    b->last = b->pos + len;
    b->memory = 1;
    b->last_buf = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


/* NGX_OK: slot taken; NGX_AGAIN: queued with a ticket; NGX_DECLINED: full */
static ngx_int_t
ngx_mcp_admit(ngx_mcp_conn_t *ctx)
{
    ngx_int_t             rc;
    ngx_mcp_sh_t         *sh;
    ngx_mcp_worker_sh_t  *w;
    ngx_mcp_main_conf_t  *mmcf;

    mmcf = ngx_mcp_main_conf();
    sh = mmcf->sh;
    w = &sh->workers[ngx_process_slot];

    if (ngx_exiting || ngx_terminate) {
        return NGX_DECLINED;
    }

    ngx_shmtx_lock(&mmcf->shpool->mutex);

    ngx_mcp_advance_head(sh);

    if (sh->active >= ctx->conf->max_connections) {
        ngx_mcp_reap(sh);
    }

    if (sh->head == sh->tail && sh->active < ctx->conf->max_connections) {
        sh->active++;
        w->active++;
        ctx->admitted = 1;
        rc = NGX_OK;

    } else if (sh->queued >= ctx->conf->queue_size
               || sh->tail - sh->head >= NGX_MCP_RING)
    {
        rc = NGX_DECLINED;

    } else {
        ctx->ticket = sh->tail++;
        sh->ring[ctx->ticket % NGX_MCP_RING] =
            (uint32_t) ((ngx_process_slot + 1) << 16) | (w->gen & 0xffff);
        sh->queued++;
        w->queued++;
        ctx->waiting = 1;
        (void) ngx_atomic_fetch_add(&sh->queued_total, 1);
        rc = NGX_AGAIN;
    }

    ngx_shmtx_unlock(&mmcf->shpool->mutex);

    return rc;
}


/* skip tickets of clients that left and of workers that died */
static void
ngx_mcp_advance_head(ngx_mcp_sh_t *sh)
{
    uint32_t              e;
    ngx_mcp_worker_sh_t  *w;

    while (sh->head < sh->tail) {
        e = sh->ring[sh->head % NGX_MCP_RING];

        if (e != 0) {
            w = &sh->workers[(e >> 16) - 1];

            if (w->pid != 0 && (w->gen & 0xffff) == (e & 0xffff)) {
                return;
            }
        }

        sh->head++;
    }
}


/*
 * At the cap, make sure the cap is real: give back the slots of workers
 * that died and were not (yet) replaced.  At most once a second.
 */
static void
ngx_mcp_reap(ngx_mcp_sh_t *sh)
{
    ngx_uint_t            i;
    ngx_mcp_worker_sh_t  *w;

    if (ngx_current_msec - sh->last_reap < 1000) {
        return;
    }

    sh->last_reap = ngx_current_msec;

    for (i = 0; i < NGX_MAX_PROCESSES; i++) {
        w = &sh->workers[i];

        if (w->pid == 0 || (ngx_pid_t) w->pid == ngx_pid) {
            continue;
        }

        if (kill((pid_t) w->pid, 0) == -1 && ngx_errno == NGX_ESRCH) {
            sh->active -= w->active;
            sh->queued -= w->queued;
            w->active = 0;
            w->queued = 0;
            w->pid = 0;
            w->gen++;
        }
    }

    ngx_mcp_advance_head(sh);
}


/* try to admit this worker's oldest waiters; called under no lock */
void
ngx_mcp_admission_poll(ngx_event_t *ev)
{
    ngx_uint_t            admitted;
    ngx_queue_t          *q;
    ngx_mcp_sh_t         *sh;
    ngx_mcp_conn_t       *ctx;
    ngx_connection_t     *c;
    ngx_mcp_worker_sh_t  *w;
    ngx_mcp_main_conf_t  *mmcf;

    mmcf = ngx_mcp_main_conf();
    sh = mmcf->sh;
    w = &sh->workers[ngx_process_slot];

    if (ngx_exiting || ngx_terminate) {
        ngx_mcp_admission_shutdown();
        return;
    }

    while (!ngx_queue_empty(&mmcf->worker.waiting)) {
        q = ngx_queue_head(&mmcf->worker.waiting);
        ctx = ngx_queue_data(q, ngx_mcp_conn_t, queue);
        admitted = 0;

        ngx_shmtx_lock(&mmcf->shpool->mutex);

        ngx_mcp_advance_head(sh);

        if (sh->active >= ctx->conf->max_connections) {
            ngx_mcp_reap(sh);
        }

        if (sh->head == ctx->ticket
            && sh->active < ctx->conf->max_connections)
        {
            sh->ring[ctx->ticket % NGX_MCP_RING] = 0;
            sh->head++;
            sh->queued--;
            w->queued--;
            sh->active++;
            w->active++;
            admitted = 1;
        }

        ngx_shmtx_unlock(&mmcf->shpool->mutex);

        if (!admitted) {
            break;
        }

        ngx_queue_remove(&ctx->queue);
        ngx_queue_init(&ctx->queue);
        ctx->waiting = 0;
        ctx->admitted = 1;

        if (ctx->timer.timer_set) {
            ngx_del_timer(&ctx->timer);
        }

        c = ctx->request->connection;
        ngx_mcp_accept(ctx);
        ngx_http_run_posted_requests(c);
    }

    if (!ngx_queue_empty(&mmcf->worker.waiting) && !ev->timer_set) {
        ngx_add_timer(ev, NGX_MCP_QUEUE_POLL);
    }
}


/* the worker exits: waiters get 503 now instead of hanging on */
void
ngx_mcp_admission_shutdown(void)
{
    ngx_int_t             rc;
    ngx_queue_t          *q;
    ngx_mcp_conn_t       *ctx;
    ngx_connection_t     *c;
    ngx_mcp_main_conf_t  *mmcf;

    mmcf = ngx_mcp_main_conf();

    while (!ngx_queue_empty(&mmcf->worker.waiting)) {
        q = ngx_queue_head(&mmcf->worker.waiting);
        ctx = ngx_queue_data(q, ngx_mcp_conn_t, queue);

        ngx_mcp_leave_queue(ctx);

        c = ctx->request->connection;
        rc = ngx_mcp_send_reject(ctx->request, NGX_HTTP_SERVICE_UNAVAILABLE,
                                 NGX_MCP_REJ_SHUTDOWN,
                                 "server is shutting down\n");
        ngx_http_finalize_request(ctx->request, rc);
        ngx_http_run_posted_requests(c);
    }
}


static void
ngx_mcp_queue_timeout(ngx_event_t *ev)
{
    ngx_int_t            rc;
    ngx_mcp_conn_t      *ctx = ev->data;
    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    r = ctx->request;
    c = r->connection;

    ngx_mcp_leave_queue(ctx);

    rc = ngx_mcp_send_reject(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                             NGX_MCP_REJ_QUEUE_TIMEOUT,
                             "timed out waiting for a WebSocket slot\n");
    ngx_http_finalize_request(r, rc);
    ngx_http_run_posted_requests(c);
}


static void
ngx_mcp_leave_queue(ngx_mcp_conn_t *ctx)
{
    ngx_mcp_sh_t         *sh;
    ngx_mcp_worker_sh_t  *w;
    ngx_mcp_main_conf_t  *mmcf;

    if (!ctx->waiting) {
        return;
    }

    mmcf = ngx_mcp_main_conf();
    sh = mmcf->sh;
    w = &sh->workers[ngx_process_slot];

    ngx_shmtx_lock(&mmcf->shpool->mutex);

    sh->ring[ctx->ticket % NGX_MCP_RING] = 0;
    sh->queued--;
    w->queued--;
    ngx_mcp_advance_head(sh);

    ngx_shmtx_unlock(&mmcf->shpool->mutex);

    ctx->waiting = 0;
    ngx_queue_remove(&ctx->queue);
    ngx_queue_init(&ctx->queue);

    if (ctx->timer.timer_set) {
        ngx_del_timer(&ctx->timer);
    }
}


void
ngx_mcp_admission_release(ngx_mcp_conn_t *ctx)
{
    ngx_mcp_sh_t         *sh;
    ngx_mcp_worker_sh_t  *w;
    ngx_mcp_main_conf_t  *mmcf;

    if (!ctx->admitted) {
        return;
    }

    ctx->admitted = 0;

    mmcf = ngx_mcp_main_conf();
    sh = mmcf->sh;
    w = &sh->workers[ngx_process_slot];

    ngx_shmtx_lock(&mmcf->shpool->mutex);

    if (w->active > 0) {
        sh->active--;
        w->active--;
    }

    ngx_shmtx_unlock(&mmcf->shpool->mutex);

    /* our own waiters need not wait for the poll timer */
    if (!ngx_queue_empty(&mmcf->worker.waiting)
        && !mmcf->worker.poll.posted)
    {
        ngx_post_event(&mmcf->worker.poll, &ngx_posted_events);
    }
}


/* every way a request ends (finalize, abort, timeout) passes here */
static void
ngx_mcp_conn_cleanup(void *data)
{
    ngx_mcp_conn_t  *ctx = data;

    ngx_mcp_leave_queue(ctx);
    ngx_mcp_ws_teardown(ctx);
    ngx_mcp_admission_release(ctx);
}


static void
ngx_mcp_accept(ngx_mcp_conn_t *ctx)
{
    u_char               hash[20], *accept;
    ngx_str_t            src, dst;
    ngx_uint_t           n;
    ngx_sha1_t           sha1;
    ngx_table_elt_t     *h, *key;
    ngx_http_request_t  *r;

    r = ctx->request;

    key = ngx_mcp_find_header(r, "Sec-WebSocket-Key", 17, &n);

    ngx_sha1_init(&sha1);
    ngx_sha1_update(&sha1, key->value.data, key->value.len);
    ngx_sha1_update(&sha1, NGX_MCP_WS_GUID, sizeof(NGX_MCP_WS_GUID) - 1);
    ngx_sha1_final(hash, &sha1);

    accept = ngx_pnalloc(r->pool, ngx_base64_encoded_length(20));
    if (accept == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    src.data = hash;
    src.len = 20;
    dst.data = accept;
    ngx_encode_base64(&dst, &src);

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }
    h->hash = 1;
    ngx_str_set(&h->key, "Upgrade");
    ngx_str_set(&h->value, "websocket");

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }
    h->hash = 1;
    ngx_str_set(&h->key, "Sec-WebSocket-Accept");
    h->value = dst;

    r->headers_out.status = NGX_HTTP_SWITCHING_PROTOCOLS;
    r->headers_out.content_length_n = -1;
    r->header_only = 1;
    r->keepalive = 0;

    if (ngx_http_send_header(r) == NGX_ERROR
        || ngx_http_send_special(r, NGX_HTTP_FLUSH) == NGX_ERROR)
    {
        ngx_http_finalize_request(r, NGX_ERROR);
        return;
    }

    ngx_mcp_ws_start(r, ctx);
}
