"""history of a conversation with big messages (~100 KB each) to a client
that is behind on another reply: the module has paused its session with
FLOW, and takes at most mcp_send_buffer_size more before it closes the
client with 1008.  mcpd caps a page at a quarter of that buffer (the
module tells it in OPEN) and gives the rest through the cursor, so the
client gets an answer, not a close, and paging gives every message once,
byte-exact, in order.  Real nginx + module + mcpd, the LLM mock, the
default mcp_send_buffer_size; nginx's socket buffer is capped (listen
sndbuf) so that the module's queue, not the kernel, holds the backlog."""

import json
import os
import sys
import time

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from stack import Stack, free_port, wait_until  # noqa: E402
from test_llm_util import Mock, provider  # noqa: E402
from wsclient import OP_CLOSE, OP_TEXT, WSClient  # noqa: E402

BIG = 100 * 1000            # bytes of each stored message
TURNS = 6                   # 12 messages, ~1.2 MB: more than the buffer
SEND_BUFFER = 1024 * 1024   # mcp_send_buffer_size's default


@pytest.fixture(scope="module")
def mock():
    m = Mock()
    yield m
    m.stop()


@pytest.fixture(scope="module")
def stack(tmp_path_factory, mock):
    mock_provider = provider(mock.base_url, max_retries=0, read_timeout=10)
    mock_provider["api_key_env"] = ""
    port = free_port()
    s = Stack(tmp_path_factory.mktemp("history_pages"), port=port,
              nginx_server={"listen": "127.0.0.1:%d sndbuf=16k" % port},
              mcpd_yaml={"llm": {"active": "mock",
                                 "providers": {"mock": mock_provider}},
                         "chat": {"service": {"provider": "llm"}}})
    s.start()
    yield s
    s.stop()


def big_text(tag):
    return tag + "y" * (BIG - len(tag))


def frames_of(c, rid, timeout=30):
    """Frames of rid up to its last one; other requests' frames are read
    and skipped (the client keeps reading its other reply meanwhile)."""
    out = []
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        assert left > 0, "no answer to %s: %r" % (rid, out[-1:])
        op, payload = c.recv_message(timeout=min(left, 10))
        assert op != OP_CLOSE, "closed: %r" % payload
        assert op == OP_TEXT, (op, payload[:200])
        f = json.loads(payload)
        if f.get("request_id") == rid:
            out.append(f)
            if f["status"] in ("complete", "error"):
                return out, len(payload)


def build_conversation(stack, mock):
    """TURNS user messages and replies of BIG bytes each; their texts."""
    want, conv = [], None
    with WSClient.connect(stack.port) as c:
        for i in range(TURNS):
            user, reply = big_text("<u%02d>" % i), big_text("<a%02d>" % i)
            mock.queue({"scenario": "text", "text": reply})
            payload = {"text": user, "streaming": False}
            if conv:
                payload["conversation_id"] = conv
            c.send_json({"action": "chat", "request_id": "t%d" % i,
                         "payload": payload})
            frames, _ = frames_of(c, "t%d" % i)
            assert frames[-1]["status"] == "complete", frames[-1]
            conv = frames[-1]["chunk"]["metadata"]["conversation_id"]
            want += [("user", user), ("assistant", reply)]
    return conv, want


def backpressure(stack):
    return stack.health()["websocket_stats"]["backpressure"]


def pause_with_a_big_reply(stack, mock, c):
    """Another reply the client c does not read: the module pauses its
    session.  The backpressure figures from before."""
    before = backpressure(stack)
    mock.queue({"scenario": "bulk", "chunks": 1024, "chunk_bytes": 8192})
    c.send_json({"action": "chat", "request_id": "bulk",
                 "payload": {"text": "everything", "streaming": True}})
    wait_until(lambda: backpressure(stack)["pause"] > before["pause"],
               timeout=20, what="the module pausing the session")
    return before


def test_history_of_big_messages_to_a_paused_client(stack, mock):
    conv, want = build_conversation(stack, mock)
    with WSClient.connect(stack.port, rcvbuf=16384) as c:
        before = pause_with_a_big_reply(stack, mock, c)
        c.send_json({"action": "history", "request_id": "h0",
                     "payload": {"conversation_id": conv, "limit": 50}})
        time.sleep(1.0)     # mcpd answers while the client is not reading

        got, pages, rid, cursor = [], 0, "h0", None
        while True:
            frames, size = frames_of(c, rid)
            f = frames[-1]
            assert f["status"] == "complete", f
            assert size <= SEND_BUFFER // 4, size
            md = f["chunk"]["metadata"]
            assert md["messages"], md
            got = [(m["role"], m["content"]) for m in md["messages"]] + got
            pages += 1
            cursor = md.get("next_before")
            if cursor is None:
                break
            assert cursor == md["messages"][0]["seq"]
            rid = "h%d" % pages
            c.send_json({"action": "history", "request_id": rid,
                         "payload": {"conversation_id": conv, "limit": 50,
                                     "before": cursor}})
        assert got == want
        assert pages >= len(want) // 2
    assert backpressure(stack)["close"] == before["close"]


def test_many_history_requests_from_a_paused_client(stack, mock):
    """A client that is not reading fires eight history requests at once
    (each page is a quarter of the send buffer: twice the buffer in all):
    mcpd holds the answers while the session is paused and sends them as
    the client catches up, so every one is answered and none closes it."""
    conv, want = build_conversation(stack, mock)
    with WSClient.connect(stack.port, rcvbuf=16384) as c:
        before = pause_with_a_big_reply(stack, mock, c)
        for i in range(8):
            c.send_json({"action": "history", "request_id": "p%d" % i,
                         "payload": {"conversation_id": conv}})
        time.sleep(1.0)
        # answers to different requests come in any order (the pages are
        # read in parallel): take them as they come
        answers = {}
        deadline = time.monotonic() + 30
        while len(answers) < 8:
            left = deadline - time.monotonic()
            assert left > 0, "answered: %s" % sorted(answers)
            op, payload = c.recv_message(timeout=min(left, 10))
            assert op != OP_CLOSE, "closed: %r" % payload
            f = json.loads(payload)
            if f.get("request_id", "").startswith("p"):
                answers[f["request_id"]] = f
        for f in answers.values():
            assert f["status"] == "complete", f
            md = f["chunk"]["metadata"]
            got = [(m["role"], m["content"]) for m in md["messages"]]
            assert got and got == want[-len(got):]
            assert md["next_before"] == md["messages"][0]["seq"]
    assert backpressure(stack)["close"] == before["close"]
