"""Slow but live clients get the whole of a big, fast streamed reply, with
the shipped defaults (mcp_send_buffer_size, daemon.link_buffer_size): the
module pauses the producer with FLOW at its high-water mark and resumes it
at the low-water mark, and never closes such a client with 1008; mcpd
sends the held end of a reply once the client resumes; a client that
keeps taking bytes outlives the ping timeout, one that stops does not.

The reply comes from the LLM mock's "bulk" scenario (chunk i starts with
"<i:06>", so order and completeness are checked) through the real mcpd
chat service and the real nginx with the module.  The client is a raw
socket (t/lib/wsclient.py) so the test controls exactly how it reads."""

import json
import os
import sys
import time

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from stack import Stack, free_port, wait_until  # noqa: E402
from test_llm_util import Mock, provider  # noqa: E402
from wsclient import OP_CLOSE, OP_TEXT, WSClient  # noqa: E402

CHUNK_BYTES = 8192


@pytest.fixture(scope="module")
def mock():
    m = Mock()
    yield m
    m.stop()


def mock_yaml(mock):
    # nothing about buffers: the defaults are what is under test
    mock_provider = provider(mock.base_url, max_retries=0, read_timeout=10)
    mock_provider["api_key_env"] = ""
    return {"llm": {"active": "mock", "providers": {"mock": mock_provider}},
            "chat": {"service": {"provider": "llm"}}}


@pytest.fixture(scope="module")
def stack(tmp_path_factory, mock):
    s = Stack(tmp_path_factory.mktemp("ws_slow"), mcpd_yaml=mock_yaml(mock))
    s.start()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def small_sndbuf_stack(tmp_path_factory, mock):
    """nginx's socket buffer capped (listen sndbuf): otherwise the kernel
    autotunes it to megabytes and takes in a whole reply before the
    module's queue sees a slow client at all."""
    port = free_port()
    s = Stack(tmp_path_factory.mktemp("ws_slow_sndbuf"), port=port,
              nginx_server={"listen": "127.0.0.1:%d sndbuf=16k" % port},
              mcpd_yaml=mock_yaml(mock))
    s.start()
    yield s
    s.stop()


def expected_text(chunks):
    out = []
    for i in range(chunks):
        head = "<%06d>" % i
        out.append(head + "x" * (CHUNK_BYTES - len(head)))
    return "".join(out)


def backpressure(stack):
    return stack.health()["websocket_stats"]["backpressure"]


def read_reply(c, rid, deadline, pace=None):
    """Frames of request rid until complete or error; pace() runs after
    each message (a slow reader sleeps there)."""
    frames = []
    while True:
        left = deadline - time.monotonic()
        assert left > 0, "reply not complete in time: %d frames, last %r" % (
            len(frames), frames[-1] if frames else None)
        # a stall shows as a long silence, well before the deadline
        op, payload = c.recv_message(timeout=min(left, 15))
        assert op != OP_CLOSE, "closed: %r after %d frames" % (payload,
                                                                len(frames))
        assert op == OP_TEXT, (op, payload[:200])
        f = json.loads(payload)
        if f.get("request_id") != rid:
            continue
        frames.append(f)
        if f["status"] in ("complete", "error"):
            return frames
        if pace:
            pace()


def text_of(frames):
    return "".join(f["chunk"]["data"] for f in frames
                   if f["status"] == "chunk"
                   and f["chunk"].get("type") == "text")


def chat(c, rid, text="tell me everything"):
    c.send_json({"action": "chat", "request_id": rid,
                 "payload": {"text": text, "streaming": True}})


def check_whole(frames, chunks):
    statuses = [f["status"] for f in frames]
    assert statuses[-1] == "complete", frames[-1]
    assert "error" not in statuses
    got = text_of(frames)
    assert len(got) == chunks * CHUNK_BYTES
    assert got == expected_text(chunks)


def receive_bulk(stack, mock, rid, chunks, recv_size=65536, pace=None):
    """Stream a bulk reply of chunks * 8 KB to a client with a 16 KB
    SO_RCVBUF (set before connecting: a small TCP window for the whole
    connection) that reads recv_size at a time, pace() after each
    message; check it got all of it, in order, ending with complete."""
    mock.queue({"scenario": "bulk", "chunks": chunks,
                "chunk_bytes": CHUNK_BYTES})
    with WSClient.connect(stack.port, rcvbuf=16384) as c:
        c.recv_size = recv_size
        chat(c, rid)
        frames = read_reply(c, rid, time.monotonic() + 90, pace)
        check_whole(frames, chunks)


def test_slow_reader_gets_a_multi_megabyte_reply(small_sndbuf_stack, mock):
    """Reads 4 KB at a time and sleeps after every message: slower than
    the mock and mcpd produce, so the send queue passes its high-water
    mark again and again; the producer is paused (FLOW) and resumed, and
    the client is never closed with 1008.  The model's stream ends while
    the last frames (complete among them) are still held in mcpd for the
    paused client: they must still come once it resumes (mcpd used to
    drop them with the finished request, and the client waited for
    ever)."""
    stack = small_sndbuf_stack
    before = backpressure(stack)
    receive_bulk(stack, mock, "slow", 512, recv_size=4096,     # 4 MB
                 pace=lambda: time.sleep(0.002))
    after = backpressure(stack)
    assert after["pause"] > before["pause"], (before, after)
    assert after["close"] == before["close"], (before, after)


@pytest.mark.parametrize("which", ["stack", "small_sndbuf_stack"])
def test_small_receive_buffer_reader_gets_8mb(request, mock, which):
    """A 16 KB receive buffer, reading as fast as it can: nginx's writes
    meet a full socket all the time, and the send path must pick up each
    time it drains, across FLOW pauses and resumes (with nginx's socket
    buffer capped as well, the reply outruns the client)."""
    stack = request.getfixturevalue(which)
    before = backpressure(stack)
    receive_bulk(stack, mock, "small", 1024)                   # 8 MB
    after = backpressure(stack)
    assert after["close"] == before["close"], (before, after)


@pytest.fixture(scope="module")
def quick_ping_stack(tmp_path_factory, mock):
    s = Stack(tmp_path_factory.mktemp("ws_slow_ping"),
              nginx_location={"mcp_ping_interval": "300ms",
                              "mcp_ping_timeout": "1s"},
              mcpd_yaml=mock_yaml(mock))
    s.start()
    yield s
    s.stop()


def test_slow_reader_outlives_the_ping_timeout(quick_ping_stack, mock):
    """A client reading a big reply slowly answers our pings late: each
    one waits behind megabytes in the kernel's buffer (autotuned, not
    capped here).  While the client keeps taking bytes it is alive, and
    the ping timeout must not close it."""
    stack = quick_ping_stack
    before = stack.health()["websocket_stats"]
    # about 1.5 MB/s: several seconds, many ping timeouts long
    receive_bulk(stack, mock, "pinged", 640, recv_size=8192,   # 5 MB
                 pace=lambda: time.sleep(0.005))
    after = stack.health()["websocket_stats"]
    assert after["ping_timeouts"] == before["ping_timeouts"], after
    assert after["pings_sent"] > before["pings_sent"], after


def test_reader_that_stops_is_closed_by_the_ping_timeout(quick_ping_stack,
                                                          mock):
    """The other side of the same rule: a client that stops reading in
    the middle of a big reply takes no more bytes, and the ping timeout
    closes it (1001) although its pong is only late, not refused."""
    stack = quick_ping_stack
    before = stack.health()["websocket_stats"]["ping_timeouts"]
    mock.queue({"scenario": "bulk", "chunks": 640,
                "chunk_bytes": CHUNK_BYTES})
    with WSClient.connect(stack.port, rcvbuf=16384) as c:
        chat(c, "stops")
        op, payload = c.recv_message(timeout=10)       # processing
        assert op == OP_TEXT, (op, payload)
        wait_until(lambda: stack.health()["websocket_stats"]
                   ["ping_timeouts"] > before, timeout=20,
                   what="a ping timeout for the stopped reader")
