/*
 * The link server and the session API as a producer sees them, in process:
 * a real libuv loop and unix socket, with the test playing the nginx worker
 * on a plain non-blocking socket.  Covers what the Python tests cannot see
 * from outside: pause/resume reaching a producer (FLOW and link congestion),
 * close hooks, a replayed OPEN keeping the same session, a session that
 * outlives its link, and the registries.
 */

#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "unit.h"
#include "core/mcp_daemon.h"
#include "link/mcp_link_codec.h"
#include "link/mcp_link_server.h"

typedef struct {
    uv_loop_t           loop;
    mcp_conf_t          conf;
    mcp_daemon_t        d;
    mcp_link_server_t   srv;
    char                path[108];
    int                 fd;
    uint8_t            *in;
    size_t              inlen;
    size_t              incap;

    /* the test producer */
    mcp_session_t      *prod;
    int                 target;
    int                 sent;
    int                 resumes;
    int                 closes;
    mcp_session_t      *last;
} t_env_t;


/* ------------------------------------------------------------ the worker */

static void
t_send(t_env_t *e, uint8_t type, uint8_t flags, uint64_t sid, const void *p,
    size_t len)
{
    uint8_t  hdr[MCP_LINK_HDR_LEN];

    mcp_link_hdr_write(hdr, type, flags, sid, (uint32_t) len);
    CHECK(write(e->fd, hdr, sizeof(hdr)) == (ssize_t) sizeof(hdr));
    if (len) {
        CHECK(write(e->fd, p, len) == (ssize_t) len);
    }
}

static void
t_read(t_env_t *e)
{
    ssize_t  n;

    for ( ;; ) {
        if (e->incap - e->inlen < 65536) {
            e->incap = e->incap ? e->incap * 2 : 1 << 20;
            e->in = realloc(e->in, e->incap);
        }
        n = read(e->fd, e->in + e->inlen, e->incap - e->inlen);
        if (n <= 0) {
            return;
        }
        e->inlen += (size_t) n;
    }
}

/* Run the loop a little; read what mcpd wrote when asked to. */
static void
t_pump(t_env_t *e, int rounds, int read_too)
{
    int  i;

    for (i = 0; i < rounds; i++) {
        uv_run(&e->loop, UV_RUN_NOWAIT);
        if (read_too) {
            t_read(e);
        }
        usleep(200);
    }
}

/* Take the next whole frame from what was read; 1 or 0. */
static int
t_frame(t_env_t *e, mcp_link_frame_t *f, char *copy, size_t cap)
{
    size_t  need;
    long    rc;

    rc = mcp_link_frame_parse(e->in, e->inlen, MCP_LINK_MAX_PAYLOAD, f,
                              &need);
    if (rc <= 0) {
        return 0;
    }
    if (copy) {
        snprintf(copy, cap, "%.*s", (int) f->len, (const char *) f->payload);
    }
    memmove(e->in, e->in + rc, e->inlen - (size_t) rc);
    e->inlen -= (size_t) rc;
    return 1;
}

/* Pump until a frame arrives; 1 or 0 after a bounded wait. */
static int
t_next(t_env_t *e, mcp_link_frame_t *f, char *copy, size_t cap)
{
    int  i;

    for (i = 0; i < 2000; i++) {
        if (t_frame(e, f, copy, cap)) {
            return 1;
        }
        t_pump(e, 1, 1);
    }
    return 0;
}

static int
t_count_messages(t_env_t *e, uint64_t sid)
{
    mcp_link_frame_t  f;
    int               n = 0;

    while (t_frame(e, &f, NULL, 0)) {
        if (f.type == MCP_LINK_MESSAGE && f.sid == sid) {
            n++;
        }
    }
    return n;
}

static void
t_open(t_env_t *e, uint64_t sid, const char *addr, uint8_t flags)
{
    uint8_t  kv[256];
    size_t   pos = 0;

    CHECK(mcp_link_kv_put(kv, sizeof(kv), &pos, "addr", 4, addr,
                          strlen(addr)) == 0);
    t_send(e, MCP_LINK_OPEN, flags, sid, kv, pos);
}

static void
t_msg(t_env_t *e, uint64_t sid, const char *text)
{
    t_send(e, MCP_LINK_MESSAGE, 0, sid, text, strlen(text));
}

static void
t_flow(t_env_t *e, uint64_t sid, int pause)
{
    uint8_t  b = pause ? MCP_LINK_FLOW_PAUSE : MCP_LINK_FLOW_RESUME;

    t_send(e, MCP_LINK_FLOW, 0, sid, &b, 1);
}


/* ------------------------------------------------------------ producer */

static void t_produce(mcp_session_t *s, void *ctx);

static void
t_on_resume(mcp_session_t *s, void *ctx)
{
    t_env_t  *e = ctx;

    e->resumes++;
    t_produce(s, ctx);
}

static void
t_produce(mcp_session_t *s, void *ctx)
{
    t_env_t  *e = ctx;
    char      buf[1100];

    memset(buf, 'x', sizeof(buf) - 1);
    buf[sizeof(buf) - 1] = '\0';

    while (e->sent < e->target) {
        if (mcp_session_paused(s)) {
            mcp_session_on_resume(s, t_on_resume, e);
            return;
        }
        if (mcp_session_send_text(s, buf, strlen(buf)) != 0) {
            return;
        }
        e->sent++;
    }
}

static void
t_action_stream(mcp_session_t *s, const char *rid, json_t *msg, void *ctx)
{
    t_env_t  *e = ctx;

    if (e->prod == NULL) {
        mcp_session_ref(s);
        e->prod = s;
    }
    t_produce(s, ctx);
}

static void
t_action_whoami(mcp_session_t *s, const char *rid, json_t *msg, void *ctx)
{
    t_env_t     *e = ctx;
    const char  *a = mcp_session_attr(s, "addr");

    e->last = s;
    mcp_session_reply(s, rid, "complete", json_pack("{s:s}", "addr",
                                                    a ? a : ""));
}

/* an action with a possibly large answer: held while paused */
static void
t_action_answer(mcp_session_t *s, const char *rid, json_t *msg, void *ctx)
{
    t_env_t  *e = ctx;

    mcp_session_answer(s, rid, "complete", json_pack("{s:i}", "n",
                                                     ++e->sent));
}

static void
t_on_close(mcp_session_t *s, void *ctx)
{
    ((t_env_t *) ctx)->closes++;
}

static json_t *
t_stats(void *ctx)
{
    return json_pack("{s:i}", "answer", 42);
}


/* ------------------------------------------------------------ setup */

static t_env_t *
t_setup(int64_t link_buffer)
{
    t_env_t             *e = calloc(1, sizeof(*e));
    mcp_err_t            err;
    struct sockaddr_un   sa;
    mcp_link_hello_t     h = { 1, 1, 99, 0 };
    uint8_t              hb[MCP_LINK_HELLO_LEN];
    mcp_link_frame_t     f;

    /* as mcpd's main does: a vanished peer is EPIPE, not a death */
    signal(SIGPIPE, SIG_IGN);
    uv_loop_init(&e->loop);
    CHECK(mcp_cfg_bind(NULL, mcp_conf_fields, &e->conf, &err) == 0);
    e->conf.daemon.link_buffer_size = link_buffer;
    CHECK(mcp_daemon_init(&e->d, &e->loop, &e->conf, NULL, "t") == 0);
    e->d.log.level = MCP_LOG_ERROR;
    CHECK(mcp_daemon_add_action(&e->d, "stream", t_action_stream, e) == 0);
    CHECK(mcp_daemon_add_action(&e->d, "whoami", t_action_whoami, e) == 0);
    CHECK(mcp_daemon_add_action(&e->d, "answer", t_action_answer, e) == 0);
    CHECK(mcp_daemon_on_session_close(&e->d, t_on_close, e) == 0);

    snprintf(e->path, sizeof(e->path), "/tmp/mcp-test-link-%d.sock",
             (int) getpid());
    CHECK(mcp_link_server_start(&e->srv, &e->d, e->path, &err) == 0);

    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    strcpy(sa.sun_path, e->path);
    e->fd = socket(AF_UNIX, SOCK_STREAM, 0);
    CHECK(connect(e->fd, (struct sockaddr *) &sa, sizeof(sa)) == 0);
    fcntl(e->fd, F_SETFL, O_NONBLOCK);

    mcp_link_hello_write(hb, &h);
    t_send(e, MCP_LINK_HELLO, 0, 0, hb, sizeof(hb));
    CHECK(t_next(e, &f, NULL, 0) && f.type == MCP_LINK_HELLO);
    return e;
}

static void
t_teardown(t_env_t *e)
{
    if (e->prod) {
        mcp_session_unref(e->prod);
    }
    if (e->fd >= 0) {
        close(e->fd);
    }
    mcp_link_server_stop(&e->srv);
    t_pump(e, 20, 0);
    mcp_link_server_abort(&e->srv);
    t_pump(e, 5, 0);
    mcp_link_server_free(&e->srv);
    CHECK_EQ_INT(uv_loop_close(&e->loop), 0);
    mcp_daemon_cleanup(&e->d);
    mcp_cfg_unbind(mcp_conf_fields, &e->conf);
    free(e->in);
    free(e);
}


/* ------------------------------------------------------------ tests */

static void
test_ping(void)
{
    t_env_t           *e = t_setup(4 << 20);
    mcp_link_frame_t   f;
    char               text[256];

    t_open(e, 1, "1.2.3.4", 0);
    t_msg(e, 1, "{\"action\":\"ping\",\"request_id\":\"a\"}");
    CHECK(t_next(e, &f, text, sizeof(text)));
    CHECK_EQ_INT(f.type, MCP_LINK_MESSAGE);
    CHECK_EQ_STR(text, "{\"request_id\":\"a\",\"status\":\"complete\","
                 "\"chunk\":{\"type\":\"pong\"}}");
    t_teardown(e);
}

static void
test_flow_pause_stops_producer(void)
{
    t_env_t  *e = t_setup(4 << 20);

    e->target = 5;
    t_open(e, 1, "a", 0);
    t_flow(e, 1, 1);
    t_msg(e, 1, "{\"action\":\"stream\",\"request_id\":\"s\"}");
    t_pump(e, 20, 1);
    CHECK(e->prod != NULL);
    CHECK_EQ_INT(e->sent, 0);
    CHECK(e->prod && mcp_session_paused(e->prod));
    CHECK_EQ_INT(e->d.nsessions_paused, 1);

    t_flow(e, 1, 0);
    t_pump(e, 20, 1);
    CHECK_EQ_INT(e->resumes, 1);
    CHECK_EQ_INT(e->sent, 5);
    CHECK_EQ_INT(t_count_messages(e, 1), 5);

    /* the link-wide pause (sid 0) pauses every session */
    t_flow(e, 0, 1);
    t_pump(e, 10, 1);
    CHECK(e->prod && mcp_session_paused(e->prod));
    e->target = 8;
    t_produce(e->prod, e);
    CHECK_EQ_INT(e->sent, 5);
    t_flow(e, 0, 0);
    t_pump(e, 20, 1);
    CHECK_EQ_INT(e->sent, 8);
    t_teardown(e);
}

static void
test_congested_link_pauses_then_resumes(void)
{
    t_env_t  *e = t_setup(64 * 1024);
    int       got = 0, i;

    e->target = 3000;   /* ~3 MB, far beyond the socket and the 64k limit */
    t_open(e, 1, "a", 0);
    t_msg(e, 1, "{\"action\":\"stream\",\"request_id\":\"s\"}");
    t_pump(e, 20, 0);   /* the worker reads nothing */

    CHECK(e->sent < e->target);
    CHECK(e->prod && mcp_session_paused(e->prod));
    /* congested: above the limit, or draining and not yet below half */
    CHECK(e->srv.links && e->srv.links->congested);
    CHECK(e->srv.links && e->srv.links->out_bytes > 32 * 1024);
    /* bounded: the producer stopped near the limit, not at 4x */
    CHECK(e->srv.links && e->srv.links->out_bytes < 4 * 64 * 1024);

    for (i = 0; i < 3000 && got < e->target; i++) {
        t_pump(e, 1, 1);
        got += t_count_messages(e, 1);
    }
    CHECK_EQ_INT(e->sent, 3000);
    CHECK_EQ_INT(got, 3000);
    CHECK(e->resumes >= 1);
    t_teardown(e);
}

static void
test_replayed_open_keeps_session(void)
{
    t_env_t            *e = t_setup(4 << 20);
    mcp_link_frame_t    f;
    char                text[256];
    mcp_session_t      *first;

    t_open(e, 7, "10.0.0.1", 0);
    t_msg(e, 7, "{\"action\":\"whoami\",\"request_id\":\"1\"}");
    CHECK(t_next(e, &f, text, sizeof(text)));
    CHECK(strstr(text, "\"addr\":\"10.0.0.1\"") != NULL);
    first = e->last;

    t_open(e, 7, "10.0.0.2", MCP_LINK_F_REPLAY);
    t_msg(e, 7, "{\"action\":\"whoami\",\"request_id\":\"2\"}");
    CHECK(t_next(e, &f, text, sizeof(text)));
    CHECK(strstr(text, "\"addr\":\"10.0.0.2\"") != NULL);
    CHECK(e->last == first);
    CHECK_EQ_INT(e->d.nsessions, 1);
    CHECK_EQ_INT(e->closes, 0);
    t_teardown(e);
}

static void
test_close_hooks_and_session_outliving_link(void)
{
    t_env_t  *e = t_setup(4 << 20);
    uint8_t   cb[8];
    size_t    n;

    t_open(e, 1, "a", 0);
    t_open(e, 2, "b", 0);
    t_open(e, 3, "c", 0);
    e->target = 0;
    t_msg(e, 3, "{\"action\":\"stream\",\"request_id\":\"s\"}");
    t_pump(e, 10, 1);
    CHECK_EQ_INT(e->d.nsessions, 3);

    n = mcp_link_close_write(cb, 1000, "", 0);
    t_send(e, MCP_LINK_CLOSE, 0, 1, cb, n);
    t_pump(e, 10, 1);
    CHECK_EQ_INT(e->closes, 1);
    CHECK_EQ_INT(e->d.nsessions, 2);

    /* the worker goes away: every session closes, hooks run once each */
    close(e->fd);
    e->fd = -1;
    t_pump(e, 20, 0);
    CHECK_EQ_INT(e->closes, 3);
    CHECK_EQ_INT(e->d.nsessions, 0);
    CHECK_EQ_INT(e->d.nlinks, 0);

    /* the producer still holds session 3: a closed shell */
    CHECK(e->prod != NULL);
    if (e->prod) {
        CHECK(!mcp_session_is_open(e->prod));
        CHECK(mcp_session_paused(e->prod));
        CHECK_EQ_INT(mcp_session_send_text(e->prod, "x", 1), -1);
        CHECK_EQ_INT(mcp_session_reply(e->prod, "r", "complete", NULL), -1);
        CHECK_EQ_INT(mcp_session_id(e->prod), 3);
    }
    t_teardown(e);
}

static void
test_registries_and_stats(void)
{
    t_env_t           *e = t_setup(4 << 20);
    json_t            *o;
    mcp_link_frame_t   f;
    char               text[1024];

    CHECK_EQ_INT(mcp_daemon_add_stats(&e->d, "x_stats", t_stats, NULL), 0);
    CHECK_EQ_INT(mcp_daemon_add_stats(&e->d, "x_stats", t_stats, NULL), -1);
    CHECK_EQ_INT(mcp_daemon_add_stats(&e->d, "mcpd", t_stats, NULL), -1);
    CHECK_EQ_INT(mcp_daemon_add_action(&e->d, "ping", t_action_whoami, e),
                 -1);
    CHECK_EQ_INT(mcp_daemon_add_action(&e->d, "", t_action_whoami, e), -1);
    CHECK(mcp_daemon_find_action(&e->d, "whoami") != NULL);
    CHECK(mcp_daemon_find_action(&e->d, "nope") == NULL);

    o = mcp_daemon_stats_json(&e->d);
    CHECK(json_integer_value(json_object_get(json_object_get(o, "x_stats"),
                                             "answer")) == 42);
    CHECK(json_integer_value(json_object_get(json_object_get(o, "mcpd"),
                                             "links")) == 1);
    json_decref(o);

    t_send(e, MCP_LINK_STATS, MCP_LINK_F_REQUEST, 77, NULL, 0);
    CHECK(t_next(e, &f, text, sizeof(text)));
    CHECK_EQ_INT(f.type, MCP_LINK_STATS);
    CHECK_EQ_INT(f.flags, MCP_LINK_F_REPLY);
    CHECK(f.sid == 77);
    CHECK(strstr(text, "\"x_stats\":{\"answer\":42}") != NULL);
    t_teardown(e);
}

static void
test_stats_prometheus(void)
{
    t_env_t           *e = t_setup(4 << 20);
    mcp_link_frame_t   f;
    char               text[2048];

    CHECK_EQ_INT(mcp_daemon_add_stats(&e->d, "x_stats", t_stats, NULL), 0);
    CHECK_EQ_INT(mcp_daemon_add_prometheus(&e->d, "y_stats", "y", NULL), -1);
    CHECK_EQ_INT(mcp_daemon_add_prometheus(&e->d, "x_stats", "mcp_x", NULL),
                 0);
    t_send(e, MCP_LINK_STATS, MCP_LINK_F_REQUEST, 78,
           MCP_LINK_STATS_PROMETHEUS, sizeof(MCP_LINK_STATS_PROMETHEUS) - 1);
    CHECK(t_next(e, &f, text, sizeof(text)));
    CHECK_EQ_INT(f.type, MCP_LINK_STATS);
    CHECK(f.sid == 78);
    CHECK(strstr(text, "mcp_x_answer 42\n") != NULL);
    CHECK(strstr(text, "mcpd_links 1\n") != NULL);
    CHECK(strstr(text, "{") == NULL);       /* not the JSON reply */
    t_teardown(e);
}


/* ------------------------------------------------------------ stop order */

static int      t_busy_polls;
static char     t_order[16];

static void
t_drain_start(mcp_daemon_t *d, void *ctx)
{
    t_env_t  *e = ctx;

    strcat(t_order, "D");
    /* a last frame while the link is still up */
    CHECK_EQ_INT(mcp_session_error(e->last, "r9", "backend_unavailable",
                                   "bye"), 0);
}

static int
t_drain_busy(mcp_daemon_t *d, void *ctx)
{
    return ++t_busy_polls < 3;
}

static void
t_stop_hook(mcp_daemon_t *d, void *ctx)
{
    strcat(t_order, "S");
}

static void
test_stop_drains_before_the_links_close(void)
{
    t_env_t           *e = t_setup(4 << 20);
    mcp_link_frame_t   f;
    char               text[512];
    int                got_error = 0, got_bye = 0;

    CHECK_EQ_INT(mcp_daemon_on_drain(&e->d, t_drain_start, t_drain_busy, e),
                 0);
    CHECK_EQ_INT(mcp_daemon_on_stop(&e->d, t_stop_hook, e), 0);
    t_open(e, 5, "a", 0);
    t_msg(e, 5, "{\"action\":\"whoami\",\"request_id\":\"1\"}");
    CHECK(t_next(e, &f, text, sizeof(text)));

    mcp_daemon_stop(&e->d);
    /* drain ran, the stop hooks wait for it to be done */
    CHECK_EQ_STR(t_order, "D");
    CHECK_EQ_INT(e->closes, 0);
    while (!got_bye && t_next(e, &f, text, sizeof(text))) {
        if (f.type == MCP_LINK_MESSAGE && f.sid == 5) {
            got_error = strstr(text, "backend_unavailable") != NULL;
        } else if (f.type == MCP_LINK_CLOSE && f.sid == 0) {
            got_bye = 1;
            CHECK(got_error);       /* the last frame came first */
        }
    }
    CHECK(got_error && got_bye);
    CHECK(t_busy_polls >= 3);
    CHECK_EQ_STR(t_order, "DS");
    CHECK_EQ_INT(e->closes, 1);

    uv_close((uv_handle_t *) &e->d.stop_timer, NULL);
    t_teardown(e);
}

static void
t_stop_a(mcp_daemon_t *d, void *ctx)
{
    strcat(t_order, "a");
}

static void
t_stop_b(mcp_daemon_t *d, void *ctx)
{
    strcat(t_order, "b");
}

static void
test_stop_hooks_run_last_registered_first(void)
{
    t_env_t  *e = t_setup(4 << 20);

    /* registered in start order: a (say llm), b (say redis, which holds
       llm's gate); b must stop while a is still whole */
    t_order[0] = '\0';
    CHECK_EQ_INT(mcp_daemon_on_stop(&e->d, t_stop_a, e), 0);
    CHECK_EQ_INT(mcp_daemon_on_stop(&e->d, t_stop_b, e), 0);
    CHECK_EQ_INT(mcp_daemon_on_stop(&e->d, t_stop_hook, e), 0);
    mcp_daemon_stop(&e->d);
    CHECK_EQ_STR(t_order, "Sba");

    uv_close((uv_handle_t *) &e->d.stop_timer, NULL);
    t_teardown(e);
}

/* answers are held while the session is paused, sent in order when it
   resumes; a client that never reads and keeps asking is closed (1008) */
static void
test_answers_held_while_paused(void)
{
    t_env_t           *e = t_setup(4 << 20);
    mcp_link_frame_t   f;
    char               text[256], want[32];
    uint16_t           code = 0;
    const uint8_t     *reason;
    size_t             rlen, i;
    int                n;

    t_open(e, 1, "a", 0);
    t_msg(e, 1, "{\"action\":\"answer\",\"request_id\":\"a0\"}");
    CHECK(t_next(e, &f, text, sizeof(text)));      /* not paused: at once */
    CHECK(strstr(text, "\"n\":1") != NULL);

    t_flow(e, 1, 1);
    for (i = 0; i < 3; i++) {
        t_msg(e, 1, "{\"action\":\"answer\",\"request_id\":\"a\"}");
    }
    t_pump(e, 20, 1);
    CHECK_EQ_INT(e->sent, 4);
    CHECK_EQ_INT(t_count_messages(e, 1), 0);

    t_flow(e, 1, 0);
    for (n = 2; n <= 4; n++) {
        CHECK(t_next(e, &f, text, sizeof(text)));
        CHECK_EQ_INT(f.type, MCP_LINK_MESSAGE);
        snprintf(want, sizeof(want), "\"n\":%d}", n);
        CHECK(strstr(text, want) != NULL);
    }

    t_flow(e, 1, 1);
    for (i = 0; i < 65; i++) {
        t_msg(e, 1, "{\"action\":\"answer\",\"request_id\":\"b\"}");
    }
    CHECK(t_next(e, &f, NULL, 0));
    CHECK_EQ_INT(f.type, MCP_LINK_CLOSE);
    CHECK_EQ_INT((int) f.sid, 1);
    CHECK(mcp_link_close_read(f.payload, f.len, &code, &reason, &rlen) == 0);
    CHECK_EQ_INT(code, 1008);
    CHECK_EQ_INT(e->closes, 1);
    t_teardown(e);
}

UNIT_MAIN("core_link",
    UNIT_TEST(test_ping),
    UNIT_TEST(test_flow_pause_stops_producer),
    UNIT_TEST(test_congested_link_pauses_then_resumes),
    UNIT_TEST(test_replayed_open_keeps_session),
    UNIT_TEST(test_close_hooks_and_session_outliving_link),
    UNIT_TEST(test_registries_and_stats),
    UNIT_TEST(test_stats_prometheus),
    UNIT_TEST(test_stop_drains_before_the_links_close),
    UNIT_TEST(test_stop_hooks_run_last_registered_first),
    UNIT_TEST(test_answers_held_while_paused))
