/*
 * Forwarding between instances, what is pure: the messages (round trip,
 * every malformed shape refused), the final-frame test the asker ends a
 * request on, the key and channel names, conversation ids; and core's
 * action-wrapping hook redis/ relies on, in both start orders, and the
 * remote sessions (link/mcp_session.h) forwarded requests run on.
 */

#include <stdio.h>
#include <string.h>

#include "unit.h"
#include "core/mcp_daemon.h"
#include "link/mcp_link_server.h"
#include "redis/mcp_redis_fwd_codec.h"
#include "util/mcp_uuid.h"


static void
test_roundtrip(void)
{
    mcp_fwd_msg_t  m = { .kind = MCP_FWD_REQ }, d;
    const char     text[] = "{\"action\":\"chat\",\"x\":\"\\u00e9\\n\"}";
    char          *enc;
    size_t         len;

    m.from = "edge-1";
    m.sid = 42;
    m.principal = "alice";
    m.text = text;
    m.len = sizeof(text) - 1;
    enc = mcp_fwd_encode(&m, &len);
    CHECK(enc != NULL && len == strlen(enc));
    CHECK(mcp_fwd_decode(enc, len, &d) == 0);
    CHECK(d.kind == MCP_FWD_REQ);
    CHECK_EQ_STR(d.from, "edge-1");
    CHECK(d.sid == 42);
    CHECK_EQ_STR(d.principal, "alice");
    CHECK(d.send_buffer == NULL);           /* not sent when unknown */
    CHECK(d.acks == 0);
    CHECK(d.len == m.len && memcmp(d.text, text, d.len) == 0);
    mcp_fwd_msg_clear(&d);
    free(enc);

    /* the asking client's send buffer size travels with its request, and
       that the asker acknowledges frames */
    m.send_buffer = "262144";
    m.acks = 1;
    enc = mcp_fwd_encode(&m, &len);
    CHECK(mcp_fwd_decode(enc, len, &d) == 0);
    CHECK_EQ_STR(d.send_buffer, "262144");
    CHECK(d.acks == 1);
    mcp_fwd_msg_clear(&d);
    free(enc);

    /* a frame keeps its number and its bytes, NUL included */
    memset(&m, 0, sizeof(m));
    m.kind = MCP_FWD_FRAME;
    m.from = "b";
    m.sid = 7;
    m.seq = 123456789012ULL;
    m.text = "a\0b";
    m.len = 3;
    enc = mcp_fwd_encode(&m, &len);
    CHECK(mcp_fwd_decode(enc, len, &d) == 0);
    CHECK(d.kind == MCP_FWD_FRAME && d.seq == 123456789012ULL);
    CHECK(d.len == 3 && memcmp(d.text, "a\0b", 3) == 0);
    mcp_fwd_msg_clear(&d);
    free(enc);

    /* control messages carry no text */
    m.kind = MCP_FWD_CLOSE;
    enc = mcp_fwd_encode(&m, &len);
    CHECK(mcp_fwd_decode(enc, len, &d) == 0);
    CHECK(d.kind == MCP_FWD_CLOSE && d.sid == 7 && d.text == NULL);
    mcp_fwd_msg_clear(&d);
    free(enc);

    /* a client's FLOW: pause and resume */
    m.kind = MCP_FWD_FLOW;
    m.paused = 1;
    enc = mcp_fwd_encode(&m, &len);
    CHECK(mcp_fwd_decode(enc, len, &d) == 0);
    CHECK(d.kind == MCP_FWD_FLOW && d.sid == 7 && d.paused == 1);
    CHECK(d.text == NULL);
    mcp_fwd_msg_clear(&d);
    free(enc);
    m.paused = 0;
    enc = mcp_fwd_encode(&m, &len);
    CHECK(mcp_fwd_decode(enc, len, &d) == 0);
    CHECK(d.kind == MCP_FWD_FLOW && d.paused == 0);
    mcp_fwd_msg_clear(&d);
    free(enc);

    /* an ack: the frame bytes passed on so far */
    m.kind = MCP_FWD_ACK;
    m.bytes = 5000000000ULL;
    enc = mcp_fwd_encode(&m, &len);
    CHECK(mcp_fwd_decode(enc, len, &d) == 0);
    CHECK(d.kind == MCP_FWD_ACK && d.sid == 7 && d.bytes == 5000000000ULL);
    mcp_fwd_msg_clear(&d);
    free(enc);

    m.kind = 0;
    CHECK(mcp_fwd_encode(&m, &len) == NULL);
    m.kind = MCP_FWD_ACK + 1;
    CHECK(mcp_fwd_encode(&m, &len) == NULL);
}


static void
test_malformed(void)
{
    static const char  *bad[] = {
        "", "[]", "nope", "{}",
        "{\"k\":\"zap\",\"from\":\"a\",\"sid\":1}",
        "{\"k\":\"close\",\"sid\":1}",
        "{\"k\":\"close\",\"from\":\"a\",\"sid\":-1}",
        "{\"k\":\"close\",\"from\":\"a\",\"sid\":\"1\"}",
        "{\"k\":\"frame\",\"from\":\"a\",\"sid\":1,\"t\":\"x\"}",
        "{\"k\":\"frame\",\"from\":\"a\",\"sid\":1,\"seq\":0}",
        "{\"k\":\"req\",\"from\":\"a\",\"sid\":1,\"t\":\"x\"}",
        "{\"k\":\"req\",\"from\":\"a\",\"sid\":1,\"p\":1,\"t\":\"x\"}",
        "{\"k\":\"flow\",\"from\":\"a\",\"sid\":1}",
        "{\"k\":\"flow\",\"from\":\"a\",\"sid\":1,\"z\":1}",
        "{\"k\":\"ack\",\"from\":\"a\",\"sid\":1}",
        "{\"k\":\"ack\",\"from\":\"a\",\"sid\":1,\"n\":-5}",
        "{\"k\":\"ack\",\"from\":\"a\",\"sid\":1,\"n\":\"5\"}",
        NULL
    };
    mcp_fwd_msg_t  d;
    size_t         i;

    for (i = 0; bad[i] != NULL; i++) {
        CHECK(mcp_fwd_decode(bad[i], strlen(bad[i]), &d) == -1);
        mcp_fwd_msg_clear(&d);
    }
}


static void
test_window(void)
{
    /* a quarter of the asking client's send buffer, at least 64 KiB */
    CHECK(mcp_fwd_window(NULL) == 256 * 1024);          /* 1m default */
    CHECK(mcp_fwd_window("4194304") == 1024 * 1024);
    CHECK(mcp_fwd_window("262144") == 64 * 1024);
    CHECK(mcp_fwd_window("100") == 64 * 1024);
    CHECK(mcp_fwd_window("0") == 256 * 1024);
    CHECK(mcp_fwd_window("12k") == 256 * 1024);          /* not a number */
    CHECK(mcp_fwd_window("") == 256 * 1024);
}


static void
test_final_frame(void)
{
    char         rid[16];
    const char  *f;

    f = "{\"request_id\":\"r1\",\"status\":\"chunk\",\"chunk\":{}}";
    CHECK(mcp_fwd_frame_final(f, strlen(f), rid, sizeof(rid)) == 0);
    CHECK_EQ_STR(rid, "r1");
    f = "{\"request_id\":\"r1\",\"status\":\"complete\"}";
    CHECK(mcp_fwd_frame_final(f, strlen(f), rid, sizeof(rid)) == 1);
    f = "{\"request_id\":\"r2\",\"status\":\"error\"}";
    CHECK(mcp_fwd_frame_final(f, strlen(f), rid, sizeof(rid)) == 1);
    CHECK_EQ_STR(rid, "r2");
    f = "{\"status\":\"processing\"}";
    CHECK(mcp_fwd_frame_final(f, strlen(f), rid, sizeof(rid)) == 0);
    CHECK_EQ_STR(rid, "");
    CHECK(mcp_fwd_frame_final("x", 1, rid, sizeof(rid)) == -1);
}


static void
test_names(void)
{
    char  buf[64];

    CHECK(mcp_fwd_channel(buf, sizeof(buf), "mcp:", "edge-1") == 0);
    CHECK_EQ_STR(buf, "mcp:fwd:edge-1");
    CHECK(mcp_fwd_home_key(buf, sizeof(buf), "t:", "c-1") == 0);
    CHECK_EQ_STR(buf, "t:home:c-1");
    CHECK(mcp_fwd_home_key(buf, sizeof(buf), NULL, "") == 0);
    CHECK_EQ_STR(buf, "home:");
    CHECK(mcp_fwd_lock_key(buf, sizeof(buf), "t:", "c-1") == 0);
    CHECK_EQ_STR(buf, "t:lock:c-1");
    /* the principal's length keeps "a:b"+"c" and "a"+"b:c" apart */
    CHECK(mcp_fwd_request_key(buf, sizeof(buf), "t:", "a:b", "c") == 0);
    CHECK_EQ_STR(buf, "t:req:3:a:b:c");
    CHECK(mcp_fwd_request_key(buf, sizeof(buf), "t:", "a", "b:c") == 0);
    CHECK_EQ_STR(buf, "t:req:1:a:b:c");
    CHECK(mcp_fwd_channel(buf, 8, "mcp:", "edge-1") == -1);
}


static void
test_uuid(void)
{
    char  a[MCP_UUID_LEN + 1], b[MCP_UUID_LEN + 1];

    mcp_uuid4(a);
    mcp_uuid4(b);
    CHECK(strlen(a) == MCP_UUID_LEN && strcmp(a, b) != 0);
    CHECK(a[8] == '-' && a[13] == '-' && a[18] == '-' && a[23] == '-');
    CHECK(a[14] == '4');
    CHECK(strchr("89ab", a[19]) != NULL);
}


/* ------------------------------------------------ core's wrapping hook */

static int  t_calls[3];

static void
t_action(mcp_session_t *s, const char *rid, json_t *msg, void *ctx)
{
    t_calls[0]++;
}

static void
t_wrap(mcp_session_t *s, const char *rid, json_t *msg, void *ctx)
{
    mcp_action_next_t  *next = ctx;

    t_calls[1]++;
    if (next->handler != NULL) {
        next->handler(s, rid, msg, next->ctx);
    }
}

static void
t_wrap_outer(mcp_session_t *s, const char *rid, json_t *msg, void *ctx)
{
    mcp_action_next_t  *next = ctx;

    t_calls[2]++;
    next->handler(s, rid, msg, next->ctx);
}


static void
test_wrap_either_order(void)
{
    mcp_daemon_t               d;
    mcp_conf_t                 conf;
    uv_loop_t                  loop;
    mcp_action_next_t          n1, n2;
    const mcp_daemon_action_t *a;

    memset(&conf, 0, sizeof(conf));
    uv_loop_init(&loop);

    /* wrapped before the action exists: unknown until it is registered */
    CHECK(mcp_daemon_init(&d, &loop, &conf, NULL, "t") == 0);
    CHECK(mcp_daemon_wrap_action(&d, "chat", t_wrap, &n1, &n1) == 0);
    CHECK(mcp_daemon_find_action(&d, "chat") == NULL);
    CHECK(mcp_daemon_wrap_action(&d, "chat", t_wrap_outer, &n2, &n2) == 0);
    CHECK(mcp_daemon_add_action(&d, "chat", t_action, NULL) == 0);
    CHECK(mcp_daemon_add_action(&d, "chat", t_action, NULL) == -1);
    a = mcp_daemon_find_action(&d, "chat");
    CHECK(a != NULL);
    memset(t_calls, 0, sizeof(t_calls));
    a->handler(NULL, "r", NULL, a->ctx);
    CHECK(t_calls[0] == 1 && t_calls[1] == 1 && t_calls[2] == 1);
    mcp_daemon_cleanup(&d);

    /* wrapped after: the same chain */
    CHECK(mcp_daemon_init(&d, &loop, &conf, NULL, "t") == 0);
    CHECK(mcp_daemon_add_action(&d, "chat", t_action, NULL) == 0);
    CHECK(mcp_daemon_wrap_action(&d, "chat", t_wrap, &n1, &n1) == 0);
    a = mcp_daemon_find_action(&d, "chat");
    memset(t_calls, 0, sizeof(t_calls));
    a->handler(NULL, "r", NULL, a->ctx);
    CHECK(t_calls[0] == 1 && t_calls[1] == 1);
    mcp_daemon_cleanup(&d);
    uv_loop_close(&loop);
}


/* ------------------------------------------------ remote sessions */

static char  t_sent[256];
static int   t_closed_code, t_hook_calls;

static int
t_sink_send(void *ctx, const char *text, size_t len)
{
    snprintf(t_sent, sizeof(t_sent), "%.*s", (int) len, text);
    return 0;
}

static void
t_sink_closed(void *ctx, uint16_t code, const char *reason)
{
    t_closed_code = code;
}

static const mcp_session_sink_t  t_sink = { t_sink_send, t_sink_closed };

static void
t_close_hook(mcp_session_t *s, void *ctx)
{
    t_hook_calls++;
}

static int  t_flow_calls, t_flow_last;

static void
t_flow_hook(mcp_session_t *s, void *ctx)
{
    t_flow_calls++;
    t_flow_last = mcp_session_flow_paused(s);
}


static void
test_remote_session(void)
{
    mcp_daemon_t    d;
    mcp_conf_t      conf;
    uv_loop_t       loop;
    mcp_session_t  *s;
    const char     *attrs[] = { "principal", "alice", "redis_from", "b",
                                NULL };

    memset(&conf, 0, sizeof(conf));
    uv_loop_init(&loop);
    CHECK(mcp_daemon_init(&d, &loop, &conf, NULL, "t") == 0);
    CHECK(mcp_daemon_on_session_close(&d, t_close_hook, NULL) == 0);
    CHECK(mcp_daemon_on_session_flow(&d, t_flow_hook, NULL) == 0);

    /* what producers send goes to the sink; never paused */
    s = mcp_session_new_remote(&d, 9, attrs, &t_sink, NULL);
    CHECK(s != NULL && mcp_session_is_remote(s) && mcp_session_is_open(s));
    CHECK_EQ_STR(mcp_session_attr(s, "principal"), "alice");
    CHECK_EQ_STR(mcp_session_attr(s, "redis_from"), "b");
    CHECK(mcp_session_attr(s, "uri") == NULL);
    CHECK(!mcp_session_paused(s));
    CHECK(mcp_session_reply(s, "r1", "complete", NULL) == 0);
    CHECK(strstr(t_sent, "\"request_id\":\"r1\"") != NULL);

    /* paused by its client's FLOW (forwarded): producers see it; the flow
       hooks run on each change only; an answer waits for the resume */
    mcp_session_set_flow(s, 1);
    CHECK(mcp_session_paused(s) && mcp_session_flow_paused(s));
    CHECK(t_flow_calls == 1 && t_flow_last == 1);
    CHECK(d.nsessions_paused == 1);
    mcp_session_set_flow(s, 1);
    CHECK(t_flow_calls == 1);
    t_sent[0] = '\0';
    CHECK(mcp_session_answer(s, "r3", "complete", NULL) == 0);
    CHECK(t_sent[0] == '\0');
    mcp_session_set_flow(s, 0);
    CHECK(!mcp_session_paused(s) && t_flow_calls == 2 && t_flow_last == 0);
    CHECK(d.nsessions_paused == 0);
    CHECK(strstr(t_sent, "\"request_id\":\"r3\"") != NULL);

    /* the client went: close hooks run once, sends fail from then on */
    t_hook_calls = 0;
    mcp_session_ref(s);
    mcp_session_end_remote(s);
    CHECK(t_hook_calls == 1 && !mcp_session_is_open(s));
    mcp_session_end_remote(s);
    CHECK(t_hook_calls == 1);
    CHECK(mcp_session_reply(s, "r2", "complete", NULL) == -1);
    mcp_session_unref(s);

    /* mcpd ends it: the sink hears the close, hooks run */
    s = mcp_session_new_remote(&d, 10, NULL, &t_sink, NULL);
    CHECK(s != NULL && mcp_session_attr(s, "principal") == NULL);
    t_closed_code = 0;
    mcp_session_close(s, 1013, "busy");
    CHECK(t_closed_code == 1013 && t_hook_calls == 2);

    mcp_daemon_cleanup(&d);
    uv_loop_close(&loop);
}


UNIT_MAIN("redis_fwd",
    UNIT_TEST(test_roundtrip),
    UNIT_TEST(test_malformed),
    UNIT_TEST(test_window),
    UNIT_TEST(test_final_frame),
    UNIT_TEST(test_names),
    UNIT_TEST(test_uuid),
    UNIT_TEST(test_wrap_either_order),
    UNIT_TEST(test_remote_session))
