/*
 * Unit tests for mcp_llm_pause (flow control): a request streaming from a
 * real loopback HTTP server on a real libuv loop.  While paused, nothing
 * more reaches the caller even though the server has sent it, and no read
 * timeout fires; resumed, the rest arrives in order and the request ends
 * normally.  A pause before the transfer starts holds from its start.
 *
 * The server is a plain blocking thread (it stands for the provider, not
 * for anything on mcpd's loop): it answers one request with a text/event-
 * stream whose first part it sends at once and the rest when the test
 * says so.
 */

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "unit.h"
#include "llm/mcp_llm.h"

#define WORDS          5
#define PAUSE_MS       400     /* twice the provider's read_timeout */
#define SERVER_WAIT_MS 5000    /* every wait of the server is bounded */

/* ------------------------------------------------------------ the server */

typedef struct {
    int        listen_fd;
    int        port;
    int        go[2];          /* a byte here: send the rest */
    int        first;          /* events sent before waiting for go */
    pthread_t  thread;
} server_t;

static const char  *words[WORDS] = { "one ", "two ", "three ", "four ",
                                     "five" };

static int
send_all(int fd, const char *buf, size_t len)
{
    ssize_t  n;

    while (len > 0) {
        n = send(fd, buf, len, MSG_NOSIGNAL);
        if (n <= 0) {
            return -1;
        }
        buf += n;
        len -= (size_t) n;
    }
    return 0;
}

static int
send_event(int fd, const char *word, const char *finish)
{
    char  buf[512];
    int   n;

    if (finish) {
        n = snprintf(buf, sizeof(buf), "data: {\"id\":\"c1\",\"model\":\"m\","
                     "\"choices\":[{\"index\":0,\"delta\":{},"
                     "\"finish_reason\":\"%s\"}]}\n\ndata: [DONE]\n\n",
                     finish);
    } else {
        n = snprintf(buf, sizeof(buf), "data: {\"id\":\"c1\",\"model\":\"m\","
                     "\"choices\":[{\"index\":0,\"delta\":{\"content\":"
                     "\"%s\"},\"finish_reason\":null}]}\n\n", word);
    }
    return send_all(fd, buf, (size_t) n);
}

/* reads until the blank line after the headers and the body after it */
static int
read_request(int fd)
{
    char         buf[16384];
    size_t       have = 0;
    ssize_t      n;
    const char  *end, *cl;
    size_t       body;
    struct pollfd  p = { .fd = fd, .events = POLLIN };

    for ( ;; ) {
        if (poll(&p, 1, SERVER_WAIT_MS) != 1) {
            return -1;
        }
        n = recv(fd, buf + have, sizeof(buf) - 1 - have, 0);
        if (n <= 0) {
            return -1;
        }
        have += (size_t) n;
        buf[have] = '\0';
        end = strstr(buf, "\r\n\r\n");
        if (end == NULL) {
            continue;
        }
        cl = strcasestr(buf, "content-length:");
        body = cl ? (size_t) strtoul(cl + 15, NULL, 10) : 0;
        if (have >= (size_t) (end + 4 - buf) + body) {
            return 0;
        }
    }
}

static void *
server_main(void *arg)
{
    server_t       *s = arg;
    struct pollfd   p = { .fd = s->listen_fd, .events = POLLIN };
    static const char  head[] = "HTTP/1.1 200 OK\r\n"
                                "Content-Type: text/event-stream\r\n"
                                "Connection: close\r\n\r\n";
    int             fd, i;
    char            c;

    if (poll(&p, 1, SERVER_WAIT_MS) != 1) {
        return NULL;
    }
    fd = accept(s->listen_fd, NULL, NULL);
    if (fd < 0) {
        return NULL;
    }
    if (read_request(fd) != 0 || send_all(fd, head, sizeof(head) - 1) != 0) {
        close(fd);
        return NULL;
    }
    for (i = 0; i < s->first; i++) {
        send_event(fd, words[i], NULL);
    }
    p.fd = s->go[0];
    if (poll(&p, 1, SERVER_WAIT_MS) == 1 && read(s->go[0], &c, 1) == 1) {
        for (i = s->first; i < WORDS; i++) {
            send_event(fd, words[i], NULL);
        }
        send_event(fd, NULL, "stop");
    }
    /* Connection: close, no length: the body ends with the connection
       (the client reads what is buffered before it sees the end) */
    close(fd);
    return NULL;
}

static int
server_start(server_t *s, int first)
{
    struct sockaddr_in  a;
    socklen_t           len = sizeof(a);

    memset(s, 0, sizeof(*s));
    s->first = first;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    s->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    if (s->listen_fd < 0
        || bind(s->listen_fd, (struct sockaddr *) &a, sizeof(a)) != 0
        || listen(s->listen_fd, 4) != 0
        || getsockname(s->listen_fd, (struct sockaddr *) &a, &len) != 0
        || pipe(s->go) != 0)
    {
        return -1;
    }
    s->port = ntohs(a.sin_port);
    return pthread_create(&s->thread, NULL, server_main, s);
}

static void
server_go(server_t *s)
{
    CHECK_EQ_INT(write(s->go[1], "g", 1), 1);
}

static void
server_stop(server_t *s)
{
    pthread_join(s->thread, NULL);
    close(s->listen_fd);
    close(s->go[0]);
    close(s->go[1]);
}

/* ------------------------------------------------------------ the client */

typedef struct {
    uv_loop_t       loop;
    mcp_llm_conf_t  conf;
    mcp_log_t       log;
    mcp_llm_t      *llm;
    mcp_llm_req_t  *req;
    server_t        server;
    uv_timer_t      go_timer;       /* server sends the rest */
    uv_timer_t      resume_timer;   /* the caller reads again */
    uv_timer_t      close_timer;    /* the layer closes after on_done */
    int             pause_on_first; /* pause at the first delta */
    char            text[256];
    int             deltas;
    int             deltas_paused;  /* deltas seen while paused */
    int             paused;
    int             done;
    int             done_calls;
    int             close_in_done;  /* close the layer from on_done */
    mcp_llm_err_e   err;
    char            finish[32];
} fixture_t;

static void
go_timer_cb(uv_timer_t *t)
{
    fixture_t  *f = t->loop->data;

    server_go(&f->server);
}

static void
resume_timer_cb(uv_timer_t *t)
{
    fixture_t  *f = t->loop->data;

    /* everything was sent long ago and the read timeout is far behind:
       still nothing delivered, still running */
    CHECK_EQ_INT(f->deltas_paused, 0);
    CHECK(!f->done);
    f->paused = 0;
    mcp_llm_pause(f->req, 0);
}

static void
on_text(mcp_llm_req_t *r, void *data, const char *text, size_t len)
{
    fixture_t  *f = data;
    size_t      room;

    if (f->paused) {
        f->deltas_paused++;
    }
    f->deltas++;
    room = sizeof(f->text) - strlen(f->text) - 1;
    strncat(f->text, text, len < room ? len : room);
    if (f->pause_on_first && f->deltas == 1) {
        /* the caller's client stops reading: from a callback, as FLOW
           arrives in mcpd while a stream runs */
        mcp_llm_pause(r, 1);
        f->paused = 1;
        uv_timer_start(&f->go_timer, go_timer_cb, 50, 0);
        uv_timer_start(&f->resume_timer, resume_timer_cb, 50 + PAUSE_MS, 0);
    }
}

static void
on_tool_call(mcp_llm_req_t *r, void *data, const mcp_llm_tool_call_t *call)
{
}

static void
on_usage(mcp_llm_req_t *r, void *data, const mcp_llm_usage_t *usage)
{
}

static void
on_llm_closed(void *ctx)
{
}

static void
close_timer_cb(uv_timer_t *t)
{
    fixture_t  *f = t->loop->data;

    uv_close((uv_handle_t *) t, NULL);
    mcp_llm_close(f->llm, on_llm_closed, NULL);
}

static void
on_done(mcp_llm_req_t *r, void *data, const mcp_llm_result_t *res)
{
    fixture_t  *f = data;

    f->done = 1;
    f->req = NULL;
    f->err = res->err;
    snprintf(f->finish, sizeof(f->finish), "%s",
             res->finish_reason ? res->finish_reason : "");
    uv_timer_stop(&f->go_timer);
    uv_timer_stop(&f->resume_timer);
    uv_close((uv_handle_t *) &f->go_timer, NULL);
    uv_close((uv_handle_t *) &f->resume_timer, NULL);
    /* closing the layer from on_done is allowed and must not finish
       this request a second time */
    CHECK_EQ_INT(++f->done_calls, 1);
    if (f->close_in_done) {
        uv_close((uv_handle_t *) &f->close_timer, NULL);
        mcp_llm_close(f->llm, on_llm_closed, NULL);
        return;
    }
    uv_timer_start(&f->close_timer, close_timer_cb, 0, 0);
}

static const mcp_llm_callbacks_t  cbs = { on_text, on_tool_call, on_usage,
                                          on_done };

static int
fixture_start(fixture_t *f, int first)
{
    char       yaml[1024];
    mcp_cfg_node_t  *root;
    mcp_err_t  err;
    int        rc;

    if (server_start(&f->server, first) != 0) {
        return -1;
    }
    snprintf(yaml, sizeof(yaml),
             "llm:\n  active: mock\n  providers:\n    mock:\n"
             "      base_url: http://127.0.0.1:%d/v1\n"
             "      model: m\n      api_key_env: ''\n"
             "      http_client:\n        read_timeout: 200ms\n"
             "        max_retries: 0\n        http2: false\n",
             f->server.port);
    root = mcp_cfg_parse_string("t.yaml", yaml, strlen(yaml), &err);
    if (root == NULL) {
        fprintf(stderr, "  %s\n", err.msg);
        return -1;
    }
    rc = mcp_llm_conf_bind(mcp_cfg_child(root, "llm"), &f->conf, &err);
    mcp_cfg_free(root);
    if (rc != 0) {
        fprintf(stderr, "  %s\n", err.msg);
        return -1;
    }
    mcp_log_init(&f->log, MCP_LOG_ERROR, MCP_LOG_TEXT);
    uv_loop_init(&f->loop);
    f->loop.data = f;
    uv_timer_init(&f->loop, &f->go_timer);
    uv_timer_init(&f->loop, &f->resume_timer);
    uv_timer_init(&f->loop, &f->close_timer);
    if (mcp_llm_init(&f->llm, &f->loop, &f->conf, &f->log, &err) != 0) {
        fprintf(stderr, "  %s\n", err.msg);
        return -1;
    }
    return 0;
}

/* a server that sends `first` events at once, the layer, a loop */
static fixture_t *
fixture_new(int first)
{
    fixture_t  *f = calloc(1, sizeof(*f));

    if (f == NULL || fixture_start(f, first) != 0) {
        CHECK(!"fixture");
        free(f);
        return NULL;
    }
    return f;
}

static void
fixture_request(fixture_t *f)
{
    json_t          *msgs = json_pack("[{s:s, s:s}]", "role", "user",
                                      "content", "count to five");
    mcp_llm_call_t   call = { NULL, msgs, NULL, 1, 0, NULL, 0 };
    mcp_llm_err_e    e;
    const char      *msg;

    f->req = mcp_llm_start(f->llm, &call, &cbs, f, &e, &msg);
    CHECK(f->req != NULL);
    json_decref(msgs);
}

static void
fixture_finish(fixture_t *f)
{
    uv_run(&f->loop, UV_RUN_DEFAULT);
    CHECK_EQ_INT(uv_loop_close(&f->loop), 0);
    server_stop(&f->server);
    mcp_llm_conf_unbind(&f->conf);
}

/* ------------------------------------------------------------ tests */

static void
test_pause_while_streaming_holds_then_resumes(void)
{
    fixture_t  *f = fixture_new(1);

    if (f == NULL) {
        return;
    }
    f->pause_on_first = 1;
    fixture_request(f);
    fixture_finish(f);

    CHECK(f->done);
    CHECK_EQ_INT(f->err, MCP_LLM_OK);
    CHECK_EQ_STR(f->finish, "stop");
    CHECK_EQ_INT(f->deltas_paused, 0);
    CHECK_EQ_STR(f->text, "one two three four five");
    free(f);
}

static void
pause_before_start_cb(uv_timer_t *t)
{
    fixture_t  *f = t->loop->data;

    /* the whole answer has been sent; a paused request took none of it */
    CHECK_EQ_INT(f->deltas, 0);
    CHECK(!f->done);
    f->paused = 0;
    mcp_llm_pause(f->req, 0);
}

static void
test_pause_before_the_transfer_starts(void)
{
    fixture_t  *f = fixture_new(0);

    if (f == NULL) {
        return;
    }
    fixture_request(f);
    /* paused while queued, before any connection: it holds from the
       transfer's start */
    mcp_llm_pause(f->req, 1);
    f->paused = 1;
    server_go(&f->server);
    uv_timer_start(&f->resume_timer, pause_before_start_cb, PAUSE_MS, 0);
    fixture_finish(f);

    CHECK(f->done);
    CHECK_EQ_INT(f->err, MCP_LLM_OK);
    CHECK_EQ_INT(f->deltas_paused, 0);
    CHECK_EQ_INT(f->deltas, WORDS);
    CHECK_EQ_STR(f->text, "one two three four five");
    free(f);
}

static void
test_pause_of_nothing_is_harmless(void)
{
    /* the caller may hold a request that already ended (NULL here) */
    mcp_llm_pause(NULL, 1);
    mcp_llm_pause(NULL, 0);
}

static void
test_close_from_on_done_finishes_once(void)
{
    fixture_t  *f = fixture_new(0);

    if (f == NULL) {
        return;
    }
    /* a caller that shuts the layer down when its last request ends
       (mcpd stopping): the request must not be finished twice */
    f->close_in_done = 1;
    fixture_request(f);
    server_go(&f->server);
    fixture_finish(f);

    CHECK_EQ_INT(f->done_calls, 1);
    CHECK_EQ_INT(f->err, MCP_LLM_OK);
    CHECK_EQ_STR(f->text, "one two three four five");
    free(f);
}

UNIT_MAIN("llm_pause",
          UNIT_TEST(test_pause_while_streaming_holds_then_resumes),
          UNIT_TEST(test_pause_before_the_transfer_starts),
          UNIT_TEST(test_pause_of_nothing_is_harmless),
          UNIT_TEST(test_close_from_on_done_finishes_once))
