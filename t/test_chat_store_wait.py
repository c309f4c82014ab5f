"""chat_stats.store_wait_us: the part of a request's overhead spent waiting
for the repository (the user message's commit before the model is called,
the reply's commit before `complete`), next to overhead_us, so that an
operator can tell a slow store from the rest of the platform
(docs/operations.md)."""

import asyncio
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from chat_client import ChatClient, conv_of  # noqa: E402
from stack import Stack  # noqa: E402


def turns(stack, n):
    async def main():
        async with ChatClient(stack.ws_url) as c:
            f = await c.chat("hello")
            assert f[-1]["status"] == "complete"
            conv = conv_of(f)
            for _ in range(n - 1):
                f = await c.chat("again", conv=conv)
                assert f[-1]["status"] == "complete"
    asyncio.run(main())


def offline_stack(tmp_path, persist):
    s = Stack(tmp_path, mcpd_yaml={
        "chat": {"service": {"provider": "offline", "offline_delay": "0ms"}},
        "persistence": {"enabled": persist}})
    s.start()
    return s


def test_store_wait_is_part_of_the_overhead(tmp_path):
    s = offline_stack(tmp_path, True)
    try:
        turns(s, 5)
        st = s.health()["chat_stats"]
    finally:
        s.stop()
    sw, ov = st["store_wait_us"], st["overhead_us"]
    assert isinstance(sw["p50"], int) and isinstance(sw["p99"], int)
    # two commits a turn were waited for: never nothing
    assert 0 < sw["p50"] <= sw["p99"]
    # a request's store wait is within its overhead
    assert sw["p50"] <= ov["p50"] and sw["p99"] <= ov["p99"]
    assert st["requests"]["completed"] == 5


def test_store_wait_without_persistence(tmp_path):
    s = offline_stack(tmp_path / "off", False)
    try:
        turns(s, 3)
        st = s.health()["chat_stats"]
    finally:
        s.stop()
    # nothing is stored, but the figure is there (the hand-offs remain)
    assert st["store_wait_us"]["p99"] <= st["overhead_us"]["p99"]
    assert st["requests"]["completed"] == 3
