"""A slow client's FLOW crosses instances (mcp_redis_fwd.c, the `flow`
message).  A client on B stops reading while A, the conversation's home,
streams a long answer to it.  A stops reading the model: the transfer
stalls at the mock, and no read timeout fires meanwhile.  Once the client
reads again, it gets the whole answer, in order, ending with complete.
Without the pause crossing over, A streams at loopback speed and B's nginx
closes the client with 1008 once its send buffer is full.

An instance of an older build, which never acknowledges, gets the whole
answer without a window (a rolling upgrade).

The buffers are small, as in test_chat_flow.py: the mock's SO_SNDBUF, the
client's SO_RCVBUF and mcpd's link buffer.  A few MB are then enough to
fill them."""

import asyncio
import json
import signal
import os
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from chat_client import conv_of, run, text_of  # noqa: E402
from cluster import RespReader, needs_redis, resp_encode  # noqa: E402
from stack import wait_until  # noqa: E402

pytestmark = needs_redis

A, B = 0, 1
CHUNKS = 1500
CHUNK_BYTES = 8192
READ_TIMEOUT_S = 2


def fwd(cluster, i):
    return cluster.redis_status(i)["forwarding"]


async def long_answer_from_a_on_b(c, mock, wb, tag):
    """A conversation started on A; then, from B's socket wb, a chat whose
    answer (the mock's bulk reply) A streams.  Its request id and first
    frame, and the whole text expected."""
    async with c.client(instance=A) as wa:
        conv = conv_of(await wa.chat("seed", rid=tag + "-1"))
    expected = mock.queue_bulk(CHUNKS, CHUNK_BYTES)
    rid = await wb.start_chat("tell me everything", conv=conv,
                              rid=tag + "-2", streaming=True)
    first = await wb.first(rid)
    assert first["status"] == "processing", first
    return rid, first, expected


def test_slow_client_on_b_stalls_the_model_on_a(make_cluster, llm_mock):
    c = make_cluster(
        http_client={"read_timeout": READ_TIMEOUT_S},
        mcpd_yaml={"daemon": {"link_buffer_size": "64k"}},
        nginx_location={"mcp_send_buffer_size": "4m"})
    home = c.instances[A]

    async def go():
        async with c.client(instance=B, timeout=60) as wb:
            wb.ws.transport.get_extra_info("socket").setsockopt(
                socket.SOL_SOCKET, socket.SO_RCVBUF, 256 * 1024)
            rid, first, expected = await long_answer_from_a_on_b(
                c, llm_mock, wb, "f")

            # stop reading: what was already on its way from A still
            # arrives at B (the kernel's and nginx's buffers take some
            # megabytes before nginx asks for the pause), then nothing more
            arrived = [fwd(c, B)["frames_in"]]
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and not (
                    len(arrived) > 4 and arrived[-5:] == [arrived[-1]] * 5):
                await asyncio.sleep(0.25)
                arrived.append(fwd(c, B)["frames_in"])
            assert arrived[-5:] == [arrived[-1]] * 5, arrived
            assert arrived[-1] < CHUNKS // 2, arrived
            # and it stays so past the provider's read timeout: A paused
            # its read of the model, it did not time out
            await asyncio.sleep(READ_TIMEOUT_S + 0.5)
            assert fwd(c, B)["frames_in"] == arrived[-1]
            assert llm_mock.unsent() > 0         # the model's side waits
            h = home.health()
            assert h["llm_client_stats"]["providers"]["mock"][
                "in_flight"] == 1                   # paused, not timed out
            assert h["mcpd"]["sessions_paused"] >= 1    # the remote one
            assert fwd(c, B)["flows_out"] >= 1
            assert fwd(c, A)["flows_in"] >= 1
            # B repeats the pause at its heartbeats (200 ms here) while it
            # lasts: a pause lost on the way (pub/sub keeps nothing for a
            # subscriber that reconnects) is repaired within one
            told = fwd(c, B)["flows_out"], fwd(c, A)["flows_in"]
            await asyncio.sleep(1.0)
            assert fwd(c, B)["flows_out"] >= told[0] + 2, told
            assert fwd(c, A)["flows_in"] >= told[1] + 2, told

            frames = [first] + await wb.until_end(rid, timeout=60)
            return frames, expected

    frames, expected = run(go())
    assert frames[-1]["status"] == "complete", frames[-1]
    statuses = [f["status"] for f in frames]
    assert statuses.count("complete") == 1 and "error" not in statuses
    assert text_of(frames) == expected
    # resumed: the pause and the resume crossed, and the mock emptied
    assert fwd(c, B)["flows_out"] >= 2 and fwd(c, A)["flows_in"] >= 2
    wait_until(lambda: llm_mock.unsent() == 0, 10, what="the mock to empty")
    assert home.health()["mcpd"]["sessions_paused"] == 0


def test_home_keeps_one_window_on_its_way_to_a_stalled_asker(make_cluster,
                                                             llm_mock):
    """B's mcpd stops reading (SIGSTOP) while A streams to B's client: A
    publishes one window of frames (a quarter of the client's 1m
    mcp_send_buffer_size) past what B acknowledged, then holds the rest and
    stops reading the model, instead of piling the whole answer into
    Redis's buffer for B.  Once B runs again it acknowledges, A goes on,
    and the client gets everything."""
    c = make_cluster(http_client={"read_timeout": 10})
    b_mcpd = c.instances[B].mcpd.proc.pid
    window_frames = (1024 * 1024 // 4) // CHUNK_BYTES

    async def go():
        async with c.client(instance=B, timeout=60) as wb:
            rid, first, expected = await long_answer_from_a_on_b(
                c, llm_mock, wb, "w")
            os.kill(b_mcpd, signal.SIGSTOP)
            try:
                sent = []
                for _ in range(6):
                    await asyncio.sleep(0.15)
                    sent.append(fwd(c, A)["frames_out"])
            finally:
                os.kill(b_mcpd, signal.SIGCONT)
            got_b = fwd(c, B)["frames_in"]
            frames = [first] + await wb.until_end(rid, timeout=60)
            return sent, got_b, frames, expected

    sent, got_b, frames, expected = run(go())
    # A stopped publishing, one window (plus the frame that crossed it)
    # beyond what B had taken in when it stopped
    assert sent[-3:] == [sent[-1]] * 3, sent
    assert sent[-1] - got_b <= window_frames + 2, (sent, got_b)
    assert sent[-1] < CHUNKS // 2, sent
    assert fwd(c, A)["window_stalls"] >= 1
    assert frames[-1]["status"] == "complete", frames[-1]
    assert text_of(frames) == expected
    wait_until(lambda: llm_mock.unsent() == 0, 10, what="the mock to empty")


class OlderAsker:
    """An instance of the build before acknowledgements, in a rolling
    upgrade, played on raw Redis connections: subscribed to its channel
    (t:fwd:<name>), it publishes a req without "a" (nor "b") to a home's
    channel and reads the frames the home publishes back.  It never
    acknowledges, as that build could not."""

    def __init__(self, redis, name):
        self.redis = redis
        self.name = name
        self.sock = socket.create_connection(("127.0.0.1", redis.port), 5)
        self.reader = RespReader(self.sock)
        self.sock.sendall(resp_encode(["SUBSCRIBE", "t:fwd:" + name]))
        assert self.reader.reply()[0] == b"subscribe"

    def ask(self, home, sid, message):
        req = {"k": "req", "from": self.name, "sid": sid, "p": "",
               "t": json.dumps(message)}
        listeners = self.redis.command("PUBLISH", "t:fwd:" + home,
                                       json.dumps(req))
        assert listeners == 1, listeners

    def frames_until_end(self, rid, timeout):
        """The frames of rid in the order published (by seq), up to its
        complete or error; the home's "alive" messages are skipped."""
        frames, deadline = [], time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.sock.settimeout(max(0.1, deadline - time.monotonic()))
            kind, _, body = self.reader.reply()
            assert kind == b"message", kind
            m = json.loads(body)
            if m["k"] != "frame":
                continue
            assert m["seq"] == len(frames), (m["seq"], len(frames))
            frame = json.loads(m["t"])
            if frame.get("request_id") != rid:
                continue
            frames.append(frame)
            if frame["status"] in ("complete", "error"):
                return frames
        raise TimeoutError("%d frames, no end" % len(frames))

    def close(self):
        self.sock.close()


def test_an_asker_of_an_older_build_gets_no_window(make_cluster, llm_mock):
    """A req without "a" comes from a build that never acknowledges: A
    streams it the whole answer, many windows' worth, and never holds it
    back waiting for acknowledgements that cannot come (with a window it
    would stop after the first quarter megabyte)."""
    c = make_cluster(http_client={"read_timeout": 10})
    chunks = 200                            # 1.6 MB, six windows
    window_frames = (1024 * 1024 // 4) // CHUNK_BYTES

    async def seed():
        async with c.client(instance=A) as wa:
            return conv_of(await wa.chat("seed", rid="o-1"))

    conv = run(seed())
    expected = llm_mock.queue_bulk(chunks, CHUNK_BYTES)
    old = OlderAsker(c.redis, "older")
    try:
        old.ask("a", 7, {"action": "chat", "request_id": "o-2",
                         "payload": {"text": "tell me everything",
                                     "conversation_id": conv,
                                     "streaming": True}})
        frames = old.frames_until_end("o-2", 30)
    finally:
        old.close()
    assert frames[-1]["status"] == "complete", frames[-1]
    assert text_of(frames) == expected
    assert len(frames) > 5 * window_frames
    assert fwd(c, A)["window_stalls"] == 0
    assert fwd(c, A)["served"] == 1
