/*
 * llm_mock: a scripted, OpenAI-compatible chat-completions server on
 * loopback for the tests and benchmarks.  Real HTTP/1.1 (keep-alive,
 * chunked), real SSE, one libuv loop, fast enough never to be the
 * bottleneck of a benchmark.
 *
 *   llm_mock [--port N] [--no-log] [--words N]
 *                                   prints "PORT <n>" once listening;
 *                                   --no-log keeps no request log (bench);
 *                                   --words N: the default text answer is
 *                                   N words (one chunk each), not four
 *
 * POST /.../chat/completions  answers according to a scenario, taken from
 *   1. the next reply queued with POST /_mock/queue (FIFO), else
 *   2. the X-Mock-Scenario header, else
 *   3. the model name "mock-<scenario>", else "text".
 * A queued reply is {"scenario": "...", ...parameters}.  Scenarios:
 *   text          streamed (or not) text, finish "stop", usage when asked
 *                 [text, delay_ms, first_byte_ms]
 *   tools         two tool calls in a provider's chunking style
 *                 [style: first (id only in first chunk) | every (vLLM) |
 *                  index0 (Ollama/Grok: all calls at index 0)]
 *   status        an error status [status, retry_after, retry_after_ms,
 *                 headers{}]
 *   reset_before  connection reset before any byte of the response
 *   reset_after   headers and one text chunk, then a reset
 *   stall         one chunk, then silence for stall_ms (default 60000)
 *   no_finish     text, then [DONE] without any finish_reason
 *   trickle       text one word every delay_ms (default 200)
 *   malformed     a chunk of broken JSON after some text
 *   error_event   OpenRouter-style {"error":...} + finish_reason "error"
 *   vllm_error    vLLM's {"object":"error",...} event
 *   ratelimit     text with x-ratelimit-* headers [headers{}]
 *   bulk          a long reply at full speed [chunks, chunk_bytes]
 * Any queued reply may set "sndbuf" (bytes): the socket's SO_SNDBUF, so a
 * client that stops reading stalls the reply soon (flow-control tests);
 * and "idle_close_ms": once the reply is sent, the connection is closed
 * (FIN, no "Connection: close" header) if no request came within that
 * time, as providers and their load balancers close idle keep-alives.
 * Every logged request carries "conn", the serial number of the TCP
 * connection it came on, so tests can see connection reuse.
 * Control: GET /_mock/requests (what was received, when, with which
 * headers), POST /_mock/reset, GET /_mock/health, GET /_mock/stats
 * (unsent_bytes: written by the scripts, not yet taken by the kernel;
 * chat_requests and service_us_mean/max: the mock's own time per chat
 * request, from parsed to its reply queued, for a scenario without delays).
 * The scenarios' scripts are in llm_mock_scenarios.h.
 */

#include <ctype.h>
#include <signal.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <uv.h>

#include "llm_mock_scenarios.h"

#define MOCK_MAX_REQ   (8u << 20)
#define MOCK_MAX_LOG   10000

typedef struct {
    uv_tcp_t      tcp;
    uv_timer_t    timer;
    char         *buf;
    size_t        len;
    size_t        cap;
    mock_step_t  *steps;
    size_t        nsteps;
    size_t        next;
    int           busy;          /* a response is being played */
    int           closing;
    int           close_after;
    int           idle_close_ms; /* after the reply: close if idle */
    unsigned      serial;        /* which accepted connection */
    int           handles;       /* open libuv handles: free at 0 */
} mock_conn_t;

typedef struct {
    uv_write_t  w;
    uv_buf_t    b;
} mock_write_t;

static uv_loop_t  *loop;
static json_t     *queue;        /* replies queued by the tests */
static json_t     *reqlog;
static uint64_t    t0;
static int         no_log;       /* --no-log: for benchmarks */
static unsigned    conns;        /* connections accepted */
static uint64_t    unsent;       /* bytes queued in uv_write, not written */
static uint64_t    served;       /* chat requests answered */
static uint64_t    served_ns;    /* their own time: parsed -> reply queued */
static uint64_t    served_max_ns;

/* rendered answers of the default scenario, by model/stream/usage: a
   benchmark must measure the client, not our JSON encoding */
typedef struct {
    char    *key;
    char    *data;
    size_t   len;
} mock_cached_t;

static mock_cached_t  cache[16];
static size_t         ncache;

/* ------------------------------------------------------------ output */

static void
mock_on_written(uv_write_t *w, int status)
{
    mock_write_t  *mw = (mock_write_t *) w;

    unsent -= mw->b.len;
    free(mw->b.base);
    free(mw);
}

static void
mock_write(mock_conn_t *c, char *data, size_t len)
{
    mock_write_t  *mw;

    if (c->closing) {
        free(data);
        return;
    }
    mw = malloc(sizeof(*mw));
    mw->b = uv_buf_init(data, (unsigned) len);
    if (uv_write(&mw->w, (uv_stream_t *) &c->tcp, &mw->b, 1,
                 mock_on_written) != 0)
    {
        free(data);
        free(mw);
        return;
    }
    unsent += len;
}

static void
mock_closed(uv_handle_t *h)
{
    mock_conn_t  *c = h->data;

    if (--c->handles > 0) {
        return;
    }
    free(c->buf);
    free(c);
}

static void
mock_free_steps(mock_conn_t *c)
{
    size_t  i;

    for (i = c->next; i < c->nsteps; i++) {
        free(c->steps[i].data);
    }
    free(c->steps);
    c->steps = NULL;
    c->nsteps = c->next = 0;
}

static void
mock_close(mock_conn_t *c, int reset)
{
    if (c->closing) {
        return;
    }
    c->closing = 1;
    mock_free_steps(c);
    uv_timer_stop(&c->timer);
    if (reset) {
        uv_tcp_close_reset(&c->tcp, mock_closed);
    } else {
        uv_close((uv_handle_t *) &c->tcp, mock_closed);
    }
    uv_close((uv_handle_t *) &c->timer, mock_closed);
}

/* ------------------------------------------------------------ requests */

static void mock_play(mock_conn_t *c);

/* idle_close_ms elapsed with no new request: a provider's idle close */
static void
mock_on_idle(uv_timer_t *t)
{
    mock_conn_t  *c = t->data;

    if (!c->busy && c->len == 0) {
        mock_close(c, 0);
    }
}

static void
mock_on_timer(uv_timer_t *t)
{
    mock_conn_t  *c = t->data;

    c->steps[c->next].delay_ms = 0;
    mock_play(c);
}

static void mock_parse(mock_conn_t *c);

static void
mock_play(mock_conn_t *c)
{
    mock_step_t  *st;
    char         *batch = NULL;
    size_t        blen = 0;

    while (!c->closing && c->next < c->nsteps) {
        st = &c->steps[c->next];
        if (st->delay_ms) {
            break;
        }
        if (st->data) {
            batch = realloc(batch, blen + st->len);
            memcpy(batch + blen, st->data, st->len);
            blen += st->len;
            free(st->data);
            st->data = NULL;
        }
        c->next++;
        if (st->action == 1) {
            if (batch) {
                mock_write(c, batch, blen);
            }
            mock_close(c, 1);
            return;
        }
    }
    if (batch) {
        mock_write(c, batch, blen);
    }
    if (c->closing) {
        return;
    }
    if (c->next < c->nsteps) {
        uv_timer_start(&c->timer, mock_on_timer, c->steps[c->next].delay_ms,
                       0);
        return;
    }
    mock_free_steps(c);
    c->busy = 0;
    if (c->close_after) {
        mock_close(c, 0);
        return;
    }
    if (c->idle_close_ms > 0) {
        uv_timer_start(&c->timer, mock_on_idle, (uint64_t) c->idle_close_ms,
                       0);
        c->idle_close_ms = 0;
    }
    mock_parse(c);              /* a request that arrived meanwhile */
}

static void
mock_reply_json(mock_conn_t *c, int status, json_t *body)
{
    script_t  s = { 0 };

    script_plain(&s, status, body, NULL);
    c->steps = s.steps;
    c->nsteps = s.n;
    c->next = 0;
    c->busy = 1;
    mock_play(c);
}

static json_t *
mock_headers(const char *h, const char *end)
{
    json_t      *o = json_object();
    const char  *line = h, *eol, *colon;
    char         name[128];
    size_t       i, n;

    while (line < end) {
        eol = memchr(line, '\n', (size_t) (end - line));
        if (eol == NULL) {
            eol = end;
        }
        colon = memchr(line, ':', (size_t) (eol - line));
        if (colon && (size_t) (colon - line) < sizeof(name)) {
            n = (size_t) (colon - line);
            for (i = 0; i < n; i++) {
                name[i] = (char) tolower((unsigned char) line[i]);
            }
            name[n] = '\0';
            colon++;
            while (colon < eol && *colon == ' ') {
                colon++;
            }
            n = (size_t) (eol - colon);
            if (n && colon[n - 1] == '\r') {
                n--;
            }
            json_object_set_new(o, name, json_stringn(colon, n));
        }
        line = eol + 1;
    }
    return o;
}

/* Play the default text answer from the cache (filling it on first use). */
static int
mock_cached(mock_conn_t *c, const char *model, int stream, int usage)
{
    char       key[300];
    script_t   s = { 0 };
    size_t     i, len = 0;
    char      *all;

    if (strcmp(model, "mock-text") != 0 && strncmp(model, "mock-", 5) == 0) {
        return 0;
    }
    snprintf(key, sizeof(key), "%s|%d|%d", model, stream, usage);
    for (i = 0; i < ncache; i++) {
        if (strcmp(cache[i].key, key) == 0) {
            break;
        }
    }
    if (i == ncache) {
        if (ncache == sizeof(cache) / sizeof(cache[0])) {
            return 0;
        }
        script_text(&s, NULL, model, stream, usage);
        for (i = 0; i < s.n; i++) {
            len += s.steps[i].len;
        }
        all = malloc(len);
        len = 0;
        for (i = 0; i < s.n; i++) {
            memcpy(all + len, s.steps[i].data, s.steps[i].len);
            len += s.steps[i].len;
            free(s.steps[i].data);
        }
        free(s.steps);
        cache[ncache].key = strdup(key);
        cache[ncache].data = all;
        cache[ncache].len = len;
        i = ncache++;
    }

    all = malloc(cache[i].len);
    memcpy(all, cache[i].data, cache[i].len);
    mock_write(c, all, cache[i].len);
    return 1;
}

static void
mock_chat(mock_conn_t *c, json_t *headers, json_t *body)
{
    const char  *model = json_string_value(json_object_get(body, "model"));
    const char  *sc = NULL;
    json_t      *params = NULL;
    int          stream = json_is_true(json_object_get(body, "stream"));
    int          usage = json_is_true(json_object_get(
                     json_object_get(body, "stream_options"), "include_usage"));
    script_t     s = { 0 };

    if (model == NULL) {
        model = "mock";
    }
    if (json_array_size(queue) == 0
        && json_object_get(headers, "x-mock-scenario") == NULL
        && mock_cached(c, model, stream, usage))
    {
        return;
    }
    if (json_array_size(queue) > 0) {
        params = json_incref(json_array_get(queue, 0));
        json_array_remove(queue, 0);
        sc = param_str(params, "scenario", "text");
        if (param_int(params, "sndbuf", 0) > 0) {
            int  sb = param_int(params, "sndbuf", 0);

            uv_send_buffer_size((uv_handle_t *) &c->tcp, &sb);
        }
        c->idle_close_ms = param_int(params, "idle_close_ms", 0);
    } else if (json_object_get(headers, "x-mock-scenario")) {
        sc = json_string_value(json_object_get(headers, "x-mock-scenario"));
    } else if (strncmp(model, "mock-", 5) == 0) {
        sc = model + 5;
    } else {
        sc = "text";
    }

    script_build(&s, sc, params, model, stream, usage);
    json_decref(params);
    c->steps = s.steps;
    c->nsteps = s.n;
    c->next = 0;
    c->busy = 1;
    mock_play(c);
}

static void
mock_log(mock_conn_t *c, const char *method, const char *path,
    json_t *headers, json_t *body)
{
    if (no_log || json_array_size(reqlog) >= MOCK_MAX_LOG) {
        return;
    }
    json_array_append_new(reqlog, json_pack("{s:s, s:s, s:I, s:I, s:O, s:O?}",
        "method", method, "path", path, "conn", (json_int_t) c->serial,
        "t_ms", (json_int_t) (uv_now(loop) - t0), "headers", headers,
        "body", body));
}

static void
mock_route(mock_conn_t *c, const char *method, const char *path,
    json_t *headers, const char *body, size_t blen)
{
    json_t  *jb = blen ? json_loadb(body, blen, 0, NULL) : NULL;
    json_t  *v;
    size_t   i;

    if (strcmp(path, "/_mock/requests") == 0) {
        mock_reply_json(c, 200, json_incref(reqlog));
    } else if (strcmp(path, "/_mock/reset") == 0) {
        json_array_clear(queue);
        json_array_clear(reqlog);
        mock_reply_json(c, 200, json_pack("{s:b}", "ok", 1));
    } else if (strcmp(path, "/_mock/health") == 0) {
        mock_reply_json(c, 200, json_pack("{s:b}", "ok", 1));
    } else if (strcmp(path, "/_mock/stats") == 0) {
        mock_reply_json(c, 200, json_pack("{s:I, s:I, s:f, s:f}",
                        "unsent_bytes", (json_int_t) unsent,
                        "chat_requests", (json_int_t) served,
                        "service_us_mean", served
                        ? (double) served_ns / (double) served / 1e3 : 0.0,
                        "service_us_max", (double) served_max_ns / 1e3));
    } else if (strcmp(path, "/_mock/queue") == 0) {
        if (json_is_array(jb)) {
            json_array_foreach(jb, i, v) {
                json_array_append(queue, v);
            }
        } else if (json_is_object(jb)) {
            json_array_append(queue, jb);
        }
        mock_reply_json(c, 200, json_pack("{s:I}", "queued",
                        (json_int_t) json_array_size(queue)));
    } else if (strcmp(method, "POST") == 0
               && strstr(path, "/chat/completions"))
    {
        uint64_t  t = uv_hrtime();

        mock_log(c, method, path, headers, jb);
        if (!json_is_object(jb)) {
            mock_reply_json(c, 400, json_pack("{s:{s:s}}", "error", "message",
                            "body is not a JSON object"));
        } else {
            mock_chat(c, headers, jb);
        }
        /* the mock's own time for a reply it plays at once (benchmarks
           subtract it from a turn to get the platform's share) */
        t = uv_hrtime() - t;
        served++;
        served_ns += t;
        if (t > served_max_ns) {
            served_max_ns = t;
        }
    } else {
        mock_reply_json(c, 404, json_pack("{s:{s:s}}", "error", "message",
                        "not found"));
    }
    json_decref(jb);
}

/* Handle every complete request in the buffer (one at a time). */
static void
mock_parse(mock_conn_t *c)
{
    char        *hend, *sp1, *sp2;
    char         method[16], path[1024];
    size_t       hlen, clen = 0, total;
    json_t      *headers, *v;
    char        *body;

    while (!c->busy && !c->closing && c->len) {
        hend = memmem(c->buf, c->len, "\r\n\r\n", 4);
        if (hend == NULL) {
            return;
        }
        hlen = (size_t) (hend - c->buf) + 4;
        sp1 = memchr(c->buf, ' ', hlen);
        sp2 = sp1 ? memchr(sp1 + 1, ' ', hlen - (size_t) (sp1 + 1 - c->buf))
                  : NULL;
        if (sp2 == NULL || (size_t) (sp1 - c->buf) >= sizeof(method)
            || (size_t) (sp2 - sp1 - 1) >= sizeof(path))
        {
            mock_close(c, 0);
            return;
        }
        memcpy(method, c->buf, (size_t) (sp1 - c->buf));
        method[sp1 - c->buf] = '\0';
        memcpy(path, sp1 + 1, (size_t) (sp2 - sp1 - 1));
        path[sp2 - sp1 - 1] = '\0';

        headers = mock_headers(memchr(c->buf, '\n', hlen) + 1, hend + 2);
        v = json_object_get(headers, "content-length");
        if (v) {
            clen = strtoul(json_string_value(v), NULL, 10);
        }
        if (clen > MOCK_MAX_REQ) {
            json_decref(headers);
            mock_close(c, 0);
            return;
        }
        total = hlen + clen;
        if (c->len < total) {
            json_decref(headers);
            return;
        }
        v = json_object_get(headers, "connection");
        c->close_after = v && strcasecmp(json_string_value(v), "close") == 0;

        /* consume the request before answering: the answer may finish
           at once and parse the next one */
        body = malloc(clen + 1);
        memcpy(body, c->buf + hlen, clen);
        memmove(c->buf, c->buf + total, c->len - total);
        c->len -= total;

        mock_route(c, method, path, headers, body, clen);
        free(body);
        json_decref(headers);
    }
}

static void
mock_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
    mock_conn_t  *c = h->data;

    if (c->cap - c->len < 65536) {
        c->cap = c->cap ? c->cap * 2 : 131072;
        c->buf = realloc(c->buf, c->cap);
    }
    *b = uv_buf_init(c->buf + c->len, (unsigned) (c->cap - c->len));
}

static void
mock_on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    mock_conn_t  *c = s->data;

    if (n < 0) {
        mock_close(c, 0);
        return;
    }
    if (!c->busy) {
        uv_timer_stop(&c->timer);   /* only the idle close runs now */
    }
    c->len += (size_t) n;
    if (c->len > MOCK_MAX_REQ + 65536) {
        mock_close(c, 0);
        return;
    }
    mock_parse(c);
}

static void
mock_on_conn(uv_stream_t *server, int status)
{
    mock_conn_t  *c;

    if (status < 0) {
        return;
    }
    c = calloc(1, sizeof(*c));
    uv_tcp_init(loop, &c->tcp);
    uv_timer_init(loop, &c->timer);
    c->tcp.data = c;
    c->timer.data = c;
    c->handles = 2;
    c->serial = ++conns;
    if (uv_accept(server, (uv_stream_t *) &c->tcp) != 0) {
        mock_close(c, 0);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    uv_read_start((uv_stream_t *) &c->tcp, mock_alloc, mock_on_read);
}

/*
 * An answer of n words for --words, as a model writes: words of a few
 * letters, a comma or a full stop now and then, a paragraph break every
 * 40 words (each word is its own chunk, as a token would be).
 */
static const char *
mock_words_text(int n)
{
    static const char *const  words[] = {
        "Hello", "from", "the", "mock,", "which", "answers", "at", "length",
        "so", "that", "every", "part", "of", "the", "stream", "is", "read.",
        "Tokens", "arrive", "one", "by", "one"
    };
    size_t  cap = (size_t) (n > 0 ? n : 1) * 16 + 1, len = 0;
    char   *text = malloc(cap);
    int     i;

    if (n <= 0 || text == NULL) {
        free(text);
        return mock_default_text;
    }
    for (i = 0; i < n; i++) {
        len += (size_t) snprintf(text + len, cap - len, "%s%s",
                                 i == 0 ? "" : (i % 40 == 0 ? "\n\n" : " "),
                                 words[i % (sizeof(words) / sizeof(words[0]))]);
    }
    return text;
}

int
main(int argc, char **argv)
{
    uv_tcp_t            server;
    struct sockaddr_in  addr;
    struct sockaddr_in  bound;
    int                 port = 0, i, len = sizeof(bound);

    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--port") == 0 && i + 1 < argc) {
            port = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--no-log") == 0) {
            no_log = 1;
        } else if (strcmp(argv[i], "--words") == 0 && i + 1 < argc) {
            mock_default_text = mock_words_text(atoi(argv[++i]));
        } else {
            fprintf(stderr, "usage: llm_mock [--port N] [--no-log] "
                    "[--words N]\n");
            return 2;
        }
    }

    signal(SIGPIPE, SIG_IGN);   /* a client gone mid-write is normal */
    loop = uv_default_loop();
    t0 = uv_now(loop);
    queue = json_array();
    reqlog = json_array();

    uv_tcp_init(loop, &server);
    uv_ip4_addr("127.0.0.1", port, &addr);
    if (uv_tcp_bind(&server, (const struct sockaddr *) &addr, 0) != 0
        || uv_listen((uv_stream_t *) &server, 1024, mock_on_conn) != 0)
    {
        fprintf(stderr, "llm_mock: cannot listen on 127.0.0.1:%d\n", port);
        return 1;
    }
    uv_tcp_getsockname(&server, (struct sockaddr *) &bound, &len);
    printf("PORT %d\n", ntohs(bound.sin_port));
    fflush(stdout);

    return uv_run(loop, UV_RUN_DEFAULT);
}
