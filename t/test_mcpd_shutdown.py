"""SIGTERM with chat requests in flight, through nginx: each gets a last
`error` frame with code backend_unavailable before mcpd exits (the links
are still up while the chat service winds down), what each produced is
stored and marked, and the clients' sockets survive to see it once mcpd is
back.  The LLM is the scripted mock, answering slowly."""

import asyncio
import json
import os
import signal
import sqlite3
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from chat_client import ChatClient, conv_of, text_of  # noqa: E402
from stack import Stack, free_port, wait_until  # noqa: E402
from test_llm_util import Mock  # noqa: E402
from wsclient import OP_TEXT, WSClient  # noqa: E402


def mock_yaml(mock):
    return {
        "daemon": {"shutdown_grace": "3s", "shutdown_timeout": "8s"},
        "llm": {"active": "mock", "providers": {"mock": {
            "base_url": mock.base_url, "model": "mock-text",
            "api_key_env": "",
            "http_client": {"http2": False, "max_retries": 0,
                            "connect_timeout": 2, "read_timeout": 30,
                            "write_timeout": 2}}}},
        "chat": {"service": {"provider": "llm"}},
    }


def code_of(frame):
    assert frame["status"] == "error", frame
    return frame["chunk"]["code"]


def test_sigterm_ends_inflight_requests_with_backend_unavailable(tmp_path):
    mock = Mock()
    s = Stack(tmp_path, mcpd_yaml=mock_yaml(mock))
    try:
        s.start()
        mock.queue({"scenario": "trickle", "delay_ms": 100,
                    "text": " ".join("w%d" % i for i in range(200))},
                   {"scenario": "stall", "stall_ms": 30000})
        asyncio.run(scenario(s, mock))
    finally:
        s.stop()
        mock.stop()


async def scenario(s, mock):
    async with ChatClient(s.ws_url) as a, ChatClient(s.ws_url) as b:
        # a: a reply trickling in, and a second request waiting behind it
        # in the same conversation; b: a reply stalled after one chunk
        ra = await a.start_chat("talk slowly")
        head = [await a.first(ra)]
        conv_a = conv_of(head)
        ra2 = await a.start_chat("and then this", conv=conv_a)
        rb = await b.start_chat("stall please")
        head_b = [await b.first(rb)]
        while not [f for f in head if f["status"] == "chunk"]:
            head.append(await a.first(ra))
        while not [f for f in head_b if f["status"] == "chunk"]:
            head_b.append(await b.first(rb))

        s.mcpd.send_signal(signal.SIGTERM)
        end_a = head + await a.until_end(ra, timeout=10)
        end_a2 = await a.until_end(ra2, timeout=10)
        end_b = head_b + await b.until_end(rb, timeout=10)
        for frames in (end_a, end_a2, end_b):
            assert code_of(frames[-1]) == "backend_unavailable"
            assert "shutting down" in frames[-1]["chunk"]["error"]
        assert end_a2[-1]["chunk"]["conversation_id"] == conv_a
        assert s.mcpd.wait(10) == 0
        assert "closing what is left" not in s.mcpd.log()

        # nothing more for those requests; the sockets are still open
        await asyncio.sleep(0.3)
        assert not [f for f in a.pending + b.pending
                    if f.get("request_id") in (ra, ra2, rb)]

        s.start_mcpd()
        # what each produced was stored, marked as a partial answer
        for c, frames in ((a, end_a), (b, end_b)):
            conv = conv_of(frames)
            h = await retry(c, {"conversation_id": conv})
            msgs = h["chunk"]["metadata"]["messages"]
            last = msgs[-1]
            assert last["role"] == "assistant", msgs
            assert last["finish_reason"] == "cancelled"
            assert last["content"] == text_of(frames)
            assert last["content"]
        # the waiting one had not started: its message is kept, no reply
        h = await retry(a, {"conversation_id": conv_a})
        assert "and then this" not in [
            m["content"] for m in h["chunk"]["metadata"]["messages"]
            if m["role"] == "assistant"]


async def retry(c, payload):
    """history once the module has its link back (until then it answers
    backend_unavailable itself)."""
    for _ in range(50):
        f = await c.call("history", payload)
        if f["status"] == "complete":
            return f
        assert code_of(f) == "backend_unavailable"
        await asyncio.sleep(0.1)
    return f


def test_requests_stopped_by_shutdown_are_counted_apart(tmp_path):
    """A request ended by the drain is counted in chat_stats as
    stopped_by_shutdown, not as a client that went away, and its partial
    reply is stored marked "cancelled" like any other stopped request.
    Another process holds the database's write lock, so storing that
    partial reply waits and mcpd is still draining (answering STATS)
    while the test reads /health."""
    mock = Mock()
    s = Stack(tmp_path, mcpd_yaml=mock_yaml(mock))
    try:
        s.start()
        mock.queue({"scenario": "stall", "stall_ms": 30000})
        asyncio.run(stopped_by_shutdown(s, tmp_path))
    finally:
        s.stop()
        mock.stop()


async def stopped_by_shutdown(s, tmp_path):
    async with ChatClient(s.ws_url) as a:
        ra = await a.start_chat("stall please")
        head = [await a.first(ra)]
        while not [f for f in head if f["status"] == "chunk"]:
            head.append(await a.first(ra))
        before = s.health()["chat_stats"]["requests"]

        db = sqlite3.connect(s.mcpd.conf["chat"]["service"]["repository"]["path"],
                             isolation_level=None, timeout=5)
        db.execute("BEGIN IMMEDIATE")
        try:
            s.mcpd.send_signal(signal.SIGTERM)
            end = head + await a.until_end(ra, timeout=10)
            assert code_of(end[-1]) == "backend_unavailable"
            # mcpd waits on the lock to store the partial reply
            now = s.health()["chat_stats"]["requests"]
        finally:
            db.execute("ROLLBACK")
            db.close()
        assert "stopped_by_shutdown" in now, (before, now)
        assert now["stopped_by_shutdown"] == before["stopped_by_shutdown"] + 1
        assert now["disconnected"] == before["disconnected"]
        assert now["cancelled"] == before["cancelled"]
        assert s.mcpd.wait(10) == 0

        s.start_mcpd()
        h = await retry(a, {"conversation_id": conv_of(end)})
        last = h["chunk"]["metadata"]["messages"][-1]
        assert last["role"] == "assistant"
        assert last["finish_reason"] == "cancelled"
        assert last["content"] == text_of(end)


CHUNK_BYTES = 8192


def read_until_end(c, rid, timeout=20):
    """Frames of request rid from a raw client, until its last one."""
    frames = []
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        assert left > 0, "no last frame: %d frames, last %r" % (
            len(frames), frames[-1] if frames else None)
        op, payload = c.recv_message(timeout=min(left, 10))
        assert op == OP_TEXT, (op, payload[:200])
        f = json.loads(payload)
        if f.get("request_id") == rid:
            frames.append(f)
            if f["status"] in ("complete", "error"):
                return frames


def test_paused_client_gets_its_last_frame_at_sigterm(tmp_path):
    """A client that stopped reading in the middle of a big streamed
    reply (the module paused its session with FLOW) and does not read
    again until mcpd is gone still finds the request's last frame,
    backend_unavailable, after the chunks it had not read: the last frame
    goes through the pause instead of being held (and dropped with the
    links when the grace runs out).  The text it did get is in order, and
    the stored partial reply holds all of it."""
    mock = Mock()
    port = free_port()
    s = Stack(tmp_path, port=port,
              nginx_server={"listen": "127.0.0.1:%d sndbuf=16k" % port},
              mcpd_yaml=mock_yaml(mock))
    try:
        s.start()
        mock.queue({"scenario": "bulk", "chunks": 1024,
                    "chunk_bytes": CHUNK_BYTES})
        pauses = s.health()["websocket_stats"]["backpressure"]["pause"]
        with WSClient.connect(s.port, rcvbuf=16384) as c:
            c.send_json({"action": "chat", "request_id": "big",
                         "payload": {"text": "everything",
                                     "streaming": True}})
            op, payload = c.recv_message(timeout=10)
            assert json.loads(payload)["status"] == "processing"
            wait_until(lambda: s.health()["websocket_stats"]["backpressure"]
                       ["pause"] > pauses, timeout=20,
                       what="the module pausing the stopped reader")
            s.mcpd.send_signal(signal.SIGTERM)
            assert s.mcpd.wait(10) == 0

            frames = read_until_end(c, "big")
            last = frames[-1]
            assert code_of(last) == "backend_unavailable", last
            assert "shutting down" in last["chunk"]["error"]
            got = "".join(f["chunk"]["data"] for f in frames
                          if f["status"] == "chunk")
            assert got and got == bulk_text(1024)[:len(got)]
            conv = last["chunk"]["conversation_id"]

            s.start_mcpd()
            h = history_raw(c, conv)
            msgs = h["chunk"]["metadata"]["messages"]
            assert msgs[-1]["role"] == "assistant", msgs[-1]
            assert msgs[-1]["finish_reason"] == "cancelled"
            assert msgs[-1]["content"].startswith(got)
    finally:
        s.stop()
        mock.stop()


def bulk_text(chunks):
    out = []
    for i in range(chunks):
        head = "<%06d>" % i
        out.append(head + "x" * (CHUNK_BYTES - len(head)))
    return "".join(out)


def history_raw(c, conv):
    """history once the module has its link back (until then it answers
    backend_unavailable itself)."""
    for i in range(50):
        c.send_json({"action": "history", "request_id": "h%d" % i,
                     "payload": {"conversation_id": conv}})
        f = read_until_end(c, "h%d" % i)[-1]
        if f["status"] == "complete":
            return f
        assert code_of(f) == "backend_unavailable"
        time.sleep(0.1)
    return f
