/*
 * llm_bench: measures the provider layer as mcpd uses it, next to a
 * minimal HTTP client, against the same OpenAI-compatible server.
 *
 *   llm_bench layer CONFIG N C MODE   N chat requests through the provider
 *                                     layer (llm.active in CONFIG), C at a
 *                                     time; MODE stream (SSE) or json
 *   llm_bench raw PORT N C MODE [H: v]...
 *                                     the same request body over a bare
 *                                     keep-alive HTTP/1.1 client to
 *                                     127.0.0.1:PORT/v1/chat/completions
 *                                     (extra headers: e.g. a gateway's)
 *
 * Prints one JSON line: mode, n, c, ok, errors, seconds, rps, p50_ms,
 * p99_ms (latency: request start to the end of the response).
 */

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "core/mcp_conf.h"
#include "llm/mcp_llm.h"
#include "util/mcp_hist.h"

#define BENCH_MESSAGES \
    "[{\"role\":\"user\",\"content\":\"Say hello in five words.\"}]"

typedef struct {
    uv_loop_t    *loop;
    int           stream;
    unsigned      n;
    unsigned      c;
    unsigned      started;
    unsigned      finished;
    unsigned      ok;
    unsigned      errors;
    uint64_t      t0;
    mcp_hist_t    lat_ns;
} bench_t;

static void
bench_report(bench_t *b, const char *mode)
{
    double  secs = (double) (uv_hrtime() - b->t0) / 1e9;

    printf("{\"mode\":\"%s\",\"stream\":%s,\"n\":%u,\"c\":%u,\"ok\":%u,\"errors\":%u,"
           "\"seconds\":%.3f,\"rps\":%.1f,\"p50_ms\":%.4f,\"p99_ms\":%.4f}\n",
           mode, b->stream ? "true" : "false", b->n, b->c, b->ok, b->errors, secs, b->finished / secs,
           mcp_hist_quantile(&b->lat_ns, 0.5) / 1e6,
           mcp_hist_quantile(&b->lat_ns, 0.99) / 1e6);
}

/* ------------------------------------------------------------ layer */

typedef struct {
    bench_t      b;
    mcp_llm_t   *llm;
    json_t      *messages;
    uint64_t    *start;
} layer_t;

static void layer_more(layer_t *l);

typedef struct {
    layer_t   *l;
    uint64_t   t;
} layer_req_t;

static void
layer_done(mcp_llm_req_t *r, void *data, const mcp_llm_result_t *res)
{
    layer_req_t  *q = data;
    layer_t      *l = q->l;

    mcp_hist_record(&l->b.lat_ns, uv_hrtime() - q->t);
    free(q);
    l->b.finished++;
    if (res->err == MCP_LLM_OK) {
        l->b.ok++;
    } else if (++l->b.errors < 5) {
        fprintf(stderr, "llm_bench: %s: %s\n", mcp_llm_err_name(res->err),
                res->message);
    }
    layer_more(l);
    if (l->b.finished == l->b.n) {
        uv_stop(l->b.loop);
    }
}

static const mcp_llm_callbacks_t  layer_cbs = {
    NULL, NULL, NULL, layer_done
};

static void
layer_more(layer_t *l)
{
    mcp_llm_call_t   call = { NULL, l->messages, NULL, l->b.stream, 0, NULL,
                                0 };
    mcp_llm_err_e    err;
    const char      *msg;
    layer_req_t     *q;

    while (l->b.started < l->b.n && l->b.started - l->b.finished < l->b.c) {
        q = malloc(sizeof(*q));
        q->l = l;
        q->t = uv_hrtime();
        l->b.started++;
        if (mcp_llm_start(l->llm, &call, &layer_cbs, q, &err, &msg) == NULL) {
            fprintf(stderr, "llm_bench: start: %s: %s\n",
                    mcp_llm_err_name(err), msg);
            free(q);
            l->b.finished++;
            l->b.errors++;
        }
    }
}

static void
layer_closed(void *ctx)
{
    *(int *) ctx = 1;
}

static int
bench_layer(const char *conf_path, unsigned n, unsigned c, int stream)
{
    layer_t          l;
    mcp_conf_t       conf;
    mcp_cfg_node_t  *root;
    mcp_err_t        err;
    mcp_log_t        log;
    uv_loop_t        loop;
    int              closed = 0;

    if (mcp_conf_load(conf_path, &conf, &root, &err) != 0) {
        fprintf(stderr, "llm_bench: %s\n", err.msg);
        return 2;
    }
    mcp_log_init(&log, MCP_LOG_WARN, MCP_LOG_TEXT);
    uv_loop_init(&loop);
    memset(&l, 0, sizeof(l));
    l.b.loop = &loop;
    l.b.stream = stream;
    l.b.n = n;
    l.b.c = c;
    mcp_hist_reset(&l.b.lat_ns);
    l.messages = json_loads(BENCH_MESSAGES, 0, NULL);
    if (mcp_llm_init(&l.llm, &loop, &conf.llm, &log, &err) != 0) {
        fprintf(stderr, "llm_bench: %s\n", err.msg);
        return 2;
    }

    l.b.t0 = uv_hrtime();
    layer_more(&l);
    uv_run(&loop, UV_RUN_DEFAULT);
    bench_report(&l.b, "layer");

    mcp_llm_close(l.llm, layer_closed, &closed);
    while (!closed) {
        uv_run(&loop, UV_RUN_ONCE);
    }
    uv_loop_close(&loop);
    json_decref(l.messages);
    mcp_conf_free(&conf, root);
    return l.b.errors ? 1 : 0;
}

/* ------------------------------------------------------------ raw */

typedef struct raw_conn_s  raw_conn_t;

typedef struct {
    bench_t             b;
    struct sockaddr_in  addr;
    char               *req;
    size_t              req_len;
} raw_t;

struct raw_conn_s {
    uv_tcp_t     tcp;
    uv_connect_t connect;
    uv_write_t   write;
    raw_t       *raw;
    char         buf[65536];
    size_t       len;
    uint64_t     t;
    int          active;
};

static void raw_send(raw_conn_t *rc);

/* Is the response in buf complete?  Chunked: ends with the last chunk;
 * else Content-Length. */
static int
raw_complete(raw_conn_t *rc)
{
    char        *hend, *cl;
    size_t       hlen, clen;

    hend = memmem(rc->buf, rc->len, "\r\n\r\n", 4);
    if (hend == NULL) {
        return 0;
    }
    hlen = (size_t) (hend - rc->buf) + 4;
    if (memmem(rc->buf, hlen, "chunked", 7)) {
        return rc->len >= 5
               && memcmp(rc->buf + rc->len - 5, "0\r\n\r\n", 5) == 0;
    }
    cl = memmem(rc->buf, hlen, "ontent-Length:", 14);
    if (cl == NULL) {
        cl = memmem(rc->buf, hlen, "ontent-length:", 14);
    }
    clen = cl ? strtoul(cl + 14, NULL, 10) : 0;
    return rc->len >= hlen + clen;
}

/* ACK at once: a server that writes headers and body separately without
 * TCP_NODELAY (Nagle) would otherwise wait for our delayed ACK (~40 ms),
 * and we would be measuring that, not the server */
static void
raw_quickack(raw_conn_t *rc)
{
    uv_os_fd_t  fd;
    int         one = 1;

    if (uv_fileno((uv_handle_t *) &rc->tcp, &fd) == 0) {
        setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof(one));
    }
}

static void
raw_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
    raw_conn_t  *rc = h->data;

    if (rc->len >= sizeof(rc->buf) - 1024) {
        /* keep the tail only: enough to find the end of the response */
        memmove(rc->buf, rc->buf + rc->len - 1024, 1024);
        rc->len = 1024;
    }
    *b = uv_buf_init(rc->buf + rc->len, (unsigned) (sizeof(rc->buf) - rc->len));
}

static void
raw_on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    raw_conn_t  *rc = s->data;
    raw_t       *raw = rc->raw;

    if (n < 0) {
        fprintf(stderr, "llm_bench: connection lost: %s\n", uv_strerror((int) n));
        raw->b.errors++;
        raw->b.finished++;
        uv_close((uv_handle_t *) &rc->tcp, NULL);
        if (raw->b.finished >= raw->b.n) {
            uv_stop(raw->b.loop);
        }
        return;
    }
    rc->len += (size_t) n;
    raw_quickack(rc);
    if (!rc->active || !raw_complete(rc)) {
        return;
    }

    rc->active = 0;
    mcp_hist_record(&raw->b.lat_ns, uv_hrtime() - rc->t);
    if (memcmp(rc->buf, "HTTP/1.1 200", 12) == 0 || rc->len < 12) {
        raw->b.ok++;
    } else {
        raw->b.errors++;
    }
    raw->b.finished++;
    rc->len = 0;
    if (raw->b.finished == raw->b.n) {
        uv_stop(raw->b.loop);
        return;
    }
    raw_send(rc);
}

static void
raw_on_written(uv_write_t *w, int status)
{
}

static void
raw_send(raw_conn_t *rc)
{
    raw_t     *raw = rc->raw;
    uv_buf_t   b;

    if (raw->b.started >= raw->b.n) {
        return;
    }
    raw->b.started++;
    rc->active = 1;
    rc->len = 0;
    rc->t = uv_hrtime();
    b = uv_buf_init(raw->req, (unsigned) raw->req_len);
    uv_write(&rc->write, (uv_stream_t *) &rc->tcp, &b, 1, raw_on_written);
}

static void
raw_on_connect(uv_connect_t *c, int status)
{
    raw_conn_t  *rc = c->data;

    if (status < 0) {
        fprintf(stderr, "llm_bench: connect: %s\n", uv_strerror(status));
        exit(1);
    }
    uv_tcp_nodelay(&rc->tcp, 1);
    uv_read_start((uv_stream_t *) &rc->tcp, raw_alloc, raw_on_read);
    raw_send(rc);
}

static int
bench_raw(int port, unsigned n, unsigned c, int stream, int nh,
    char **headers)
{
    raw_t        raw;
    raw_conn_t  *conns;
    uv_loop_t    loop;
    char         extra[4096] = "";
    const char  *body = stream
        ? "{\"model\":\"mock-text\",\"messages\":" BENCH_MESSAGES
          ",\"temperature\":0.7,\"max_tokens\":4096,\"top_p\":1.0,"
          "\"stream\":true,\"stream_options\":{\"include_usage\":true}}"
        : "{\"model\":\"mock-text\",\"messages\":" BENCH_MESSAGES
          ",\"temperature\":0.7,\"max_tokens\":4096,\"top_p\":1.0}";
    int          i, len;

    for (i = 0; i < nh; i++) {
        strncat(extra, headers[i], sizeof(extra) - strlen(extra) - 3);
        strcat(extra, "\r\n");
    }

    memset(&raw, 0, sizeof(raw));
    uv_loop_init(&loop);
    raw.b.loop = &loop;
    raw.b.stream = stream;
    raw.b.n = n;
    raw.b.c = c;
    mcp_hist_reset(&raw.b.lat_ns);
    uv_ip4_addr("127.0.0.1", port, &raw.addr);
    len = asprintf(&raw.req, "POST /v1/chat/completions HTTP/1.1\r\n"
                   "Host: 127.0.0.1:%d\r\nContent-Type: application/json\r\n"
                   "Authorization: Bearer sk-bench\r\n%s"
                   "Content-Length: %zu\r\n\r\n%s", port, extra, strlen(body),
                   body);
    raw.req_len = (size_t) len;

    conns = calloc(c, sizeof(*conns));
    raw.b.t0 = uv_hrtime();
    for (i = 0; i < (int) c; i++) {
        conns[i].raw = &raw;
        uv_tcp_init(&loop, &conns[i].tcp);
        conns[i].tcp.data = &conns[i];
        conns[i].connect.data = &conns[i];
        uv_tcp_connect(&conns[i].connect, &conns[i].tcp,
                       (const struct sockaddr *) &raw.addr, raw_on_connect);
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    bench_report(&raw.b, "raw");

    for (i = 0; i < (int) c; i++) {
        if (!uv_is_closing((uv_handle_t *) &conns[i].tcp)) {
            uv_close((uv_handle_t *) &conns[i].tcp, NULL);
        }
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    free(conns);
    free(raw.req);
    return raw.b.errors ? 1 : 0;
}

int
main(int argc, char **argv)
{
    if (argc >= 6 && strcmp(argv[1], "layer") == 0) {
        return bench_layer(argv[2], (unsigned) atoi(argv[3]),
                           (unsigned) atoi(argv[4]),
                           strcmp(argv[5], "stream") == 0);
    }
    if (argc >= 6 && strcmp(argv[1], "raw") == 0) {
        return bench_raw(atoi(argv[2]), (unsigned) atoi(argv[3]),
                         (unsigned) atoi(argv[4]),
                         strcmp(argv[5], "stream") == 0, argc - 6, argv + 6);
    }
    fprintf(stderr, "usage: llm_bench layer CONFIG N C stream|json\n"
                    "       llm_bench raw PORT N C stream|json "
                    "[HEADER: value]...\n");
    return 2;
}
