"""FLOW pause reaches the provider: a client that stops reading while the
model streams a long reply makes mcpd stop reading the provider (the
transfer stalls at the mock, nothing piles up in mcpd), no read timeout
fires meanwhile, and once the client reads again it gets the whole reply,
in order, ending with complete.

Buffers along the way are kept small (the mock's SO_SNDBUF, the
client's SO_RCVBUF, mcpd's link buffer) so a few MB are enough to fill
them; without the pause mcpd would read all of it at loopback speed."""

import asyncio
import os
import socket
import sys
import time

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from chat_client import ChatClient, text_of  # noqa: E402
from stack import Stack  # noqa: E402
from test_llm_util import Mock  # noqa: E402

CHUNKS = 1500
CHUNK_BYTES = 8192
READ_TIMEOUT_S = 2


@pytest.fixture(scope="module")
def mock():
    m = Mock()
    yield m
    m.stop()


@pytest.fixture(scope="module")
def stack(tmp_path_factory, mock):
    yaml = {
        "llm": {"active": "mock", "providers": {"mock": {
            "base_url": mock.base_url, "model": "mock-text",
            "api_key_env": "",
            "http_client": {"http2": False, "max_retries": 0,
                            "connect_timeout": 2,
                            "read_timeout": READ_TIMEOUT_S,
                            "write_timeout": 2}}}},
        "chat": {"service": {"provider": "llm"}},
        # what mcpd queues towards nginx before pausing its producers
        "daemon": {"link_buffer_size": "64k"},
    }
    s = Stack(tmp_path_factory.mktemp("chat_flow"),
              # FLOW pause at half of it; room for what is already on its
              # way from mcpd when the pause lands (the mock is instant)
              nginx_location={"mcp_send_buffer_size": "4m"},
              mcpd_yaml=yaml)
    s.start()
    yield s
    s.stop()


def in_flight(stack):
    return stack.health()["llm_client_stats"]["providers"]["mock"]["in_flight"]


def test_slow_client_stalls_the_provider_then_gets_everything(stack, mock):
    expected = mock.queue_bulk(CHUNKS, CHUNK_BYTES)

    async def go():
        async with ChatClient(stack.ws_url, timeout=60) as c:
            # cap the client's kernel buffer (autotuning could take in
            # tens of MB before nginx even sees a slow client)
            c.ws.transport.get_extra_info("socket").setsockopt(
                socket.SOL_SOCKET, socket.SO_RCVBUF, 256 * 1024)
            rid = await c.start_chat("tell me everything", streaming=True)
            first = await c.first(rid)
            assert first["status"] == "processing", first

            # stop reading: longer than the provider's read timeout
            stalled = []
            t_end = time.monotonic() + READ_TIMEOUT_S + 1
            while time.monotonic() < t_end:
                await asyncio.sleep(0.25)
                stalled.append(mock.unsent())
            # the mock could not get its reply out the whole time: mcpd
            # stopped reading it instead of buffering megabytes
            assert all(b > 0 for b in stalled[4:]), stalled
            # and the transfer is paused, not timed out
            assert in_flight(stack) == 1

            frames = [first] + await c.until_end(rid, timeout=60)
            return frames

    frames = asyncio.run(go())
    assert frames[-1]["status"] == "complete", frames[-1]
    statuses = [f["status"] for f in frames]
    assert statuses.count("complete") == 1 and "error" not in statuses
    assert text_of(frames) == expected
    deadline = time.monotonic() + 10
    while mock.unsent() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert mock.unsent() == 0
