"""A long conversation after an mcpd restart, through nginx and the chat
service: its first request's idempotency keys are read on a reader
(request_sets.warmed in the status), the turn completes with the whole
history in order, and an old request id is still answered from the store
(docs/storage.md, "Warming on a reader")."""

import asyncio
import os
import signal
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from chat_client import ChatClient, conv_of, text_of  # noqa: E402
from stack import Stack, wait_until  # noqa: E402

TURNS = 70          # 140 messages: past the 128 read in place


def request_sets(stack):
    return stack.health()["repository_stats"]["request_sets"]


def test_long_conversation_after_a_restart(tmp_path):
    s = Stack(tmp_path, mcpd_yaml={
        "chat": {"service": {"provider": "offline", "offline_delay": "0ms"}},
        "persistence": {"retention_policy": "unlimited"}})
    s.start()
    try:
        async def main():
            async with ChatClient(s.ws_url) as c:
                f = await c.chat("turn 0", rid="old-0")
                assert f[-1]["status"] == "complete"
                conv = conv_of(f)
                first_answer = text_of(f)
                for i in range(1, TURNS):
                    f = await c.chat("turn %d" % i, conv=conv, rid="old-%d" % i)
                    assert f[-1]["status"] == "complete"

                s.kill_mcpd(signal.SIGTERM)
                s.start_mcpd()
                wait_until(lambda: s.health()["status"] == "ok", 15,
                           what="mcpd back with every link")
                assert request_sets(s)["warmed"] == 0

                # the same socket: nginx kept it through the restart
                f = await c.chat("after the restart", conv=conv, rid="new-1")
                assert f[-1]["status"] == "complete"
                rs = request_sets(s)
                assert rs["warmed"] == 1
                assert rs["parked"] == 0 and rs["walks_waiting"] == 0

                # the oldest request's answer, from the store, not the model
                f = await c.chat("turn 0", conv=conv, rid="old-0")
                assert f[-1]["status"] == "complete"
                assert text_of(f) == first_answer
                assert s.health()["chat_stats"]["requests"]["replayed"] == 1

                h = await c.call("history", {"conversation_id": conv,
                                             "limit": 200})
                assert h["status"] == "complete"
                msgs = h["chunk"]["metadata"]["messages"]
                users = [m["content"] for m in msgs if m["role"] == "user"]
                assert users == ["turn %d" % i for i in range(TURNS)] + [
                    "after the restart"]
                assert len(msgs) == 2 * TURNS + 2
        asyncio.run(main())
    finally:
        s.stop()
