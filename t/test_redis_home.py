"""Conversation homes across instances (backend/src/redis/mcp_redis_route.c
and mcp_redis_fwd.c), through the real topology of t/lib/cluster.py: a
redis-server, two nginx+mcpd instances, a balancing nginx.  A conversation
lives in its home instance's SQLite file only; any socket on any instance
can use it (the request is forwarded through Redis and its frames come
back in order); a retry of a request id on the other instance replays or
attaches instead of running twice; a home that died answers
conversation_unavailable, never a silent fork."""

import asyncio
import os
import sqlite3
import sys
import time

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from chat_client import conv_of, run, text_of  # noqa: E402
from cluster import needs_redis  # noqa: E402

pytestmark = needs_redis

A, B = 0, 1
TTL = 2.0               # heartbeat_ttl in cluster.instance_yaml


def chats(mock):
    return [r for r in mock.requests()
            if r.get("path", "").endswith("/chat/completions")]


def stored(cluster, i, conv):
    """(role, request_id, content) of every row instance i's store has for
    conv, in order."""
    db = sqlite3.connect(cluster.db_path(i), timeout=5)
    try:
        rows = db.execute(
            "SELECT type, request_id, content FROM messages "
            "WHERE conversation_id = ? ORDER BY id", (conv,)).fetchall()
    except sqlite3.OperationalError:
        rows = []
    finally:
        db.close()
    return rows


def fwd(cluster, i):
    return cluster.redis_status(i)["forwarding"]


def test_conversation_from_a_used_on_b(make_cluster, llm_mock):
    """Created on A, continued from a socket on B: B streams the answer
    back, history (asked on B) holds every message once and in order, and
    only A's store has the conversation."""
    c = make_cluster()

    async def go():
        async with c.client(instance=A) as wa:
            first = await wa.chat("one", rid="h-1")
        assert first[-1]["status"] == "complete", first
        conv = conv_of(first)
        llm_mock.queue({"scenario": "trickle", "text": "two three four",
                        "delay_ms": 30})
        async with c.client(instance=B) as wb:
            second = await wb.chat("two", conv=conv, rid="h-2",
                                   streaming=True)
            assert second[-1]["status"] == "complete", second
            assert second[0]["status"] == "processing"
            assert conv_of(second) == conv
            deltas = [f for f in second if f["status"] == "chunk"]
            assert len(deltas) >= 2             # streamed, not one block
            assert text_of(second).split() == ["two", "three", "four"]
            h = await wb.call("history", {"conversation_id": conv})
        return conv, h

    conv, h = run(go())
    assert h["status"] == "complete", h
    msgs = h["chunk"]["metadata"]["messages"]
    assert [(m["role"], m["request_id"]) for m in msgs] == [
        ("user", "h-1"), ("assistant", "h-1"),
        ("user", "h-2"), ("assistant", "h-2")]
    assert [m["seq"] for m in msgs] == sorted(m["seq"] for m in msgs)
    assert [r[1] for r in stored(c, A, conv)] == ["h-1", "h-1", "h-2",
                                                  "h-2"]
    assert stored(c, B, conv) == []
    assert fwd(c, B)["forwarded"] == 2          # the chat and the history
    assert fwd(c, A)["served"] == 2
    assert c.redis_status(B)["routing"]["forwarded"] == 2


def test_retry_on_b_attaches_to_the_run_on_a(make_cluster, llm_mock):
    """The same request id sent to B while A is still answering it joins
    A's run (frames to both sockets) and the model is called once; once
    done, a third attempt on B replays it (metadata.cached)."""
    c = make_cluster()

    async def go():
        async with c.client(instance=A) as wa:
            first = await wa.chat("hello", rid="seed")
            conv = conv_of(first)
            llm_mock.queue({"scenario": "trickle",
                            "text": "a slow answer to attach to",
                            "delay_ms": 150})
            await wa.start_chat("slow", conv=conv, rid="dup",
                                streaming=True)
            assert (await wa.first("dup"))["status"] == "processing"
            async with c.client(instance=B) as wb:
                await wb.start_chat("slow", conv=conv, rid="dup",
                                    streaming=True)
                on_b = await wb.until_end("dup", timeout=15)
                on_a = await wa.until_end("dup", timeout=15)
                again = await wb.chat("slow", conv=conv, rid="dup")
        return on_a, on_b, again

    on_a, on_b, again = run(go())
    assert on_a[-1]["status"] == "complete", on_a
    assert on_b[-1]["status"] == "complete", on_b
    assert text_of(on_b).endswith("attach to")
    assert again[-1]["status"] == "complete"
    assert again[-1]["chunk"]["metadata"].get("cached") is True
    assert text_of(again) == "a slow answer to attach to"
    assert len(chats(llm_mock)) == 2            # seed and dup, once each


def test_home_killed_gives_conversation_unavailable(make_cluster, llm_mock):
    """A's mcpd dies while B's client waits for an answer from it, and
    later B is asked again: both get conversation_unavailable, within the
    heartbeat TTL plus a bounded margin; nothing is started on B."""
    c = make_cluster()

    async def go():
        async with c.client(instance=A) as wa:
            conv = conv_of(await wa.chat("mine", rid="k-1"))
        llm_mock.queue({"scenario": "stall", "stall_ms": 30000})
        async with c.client(instance=B) as wb:
            rid = await wb.start_chat("stuck", conv=conv, rid="k-2")
            assert (await wb.first(rid))["status"] == "processing"
            t0 = time.monotonic()
            c.kill_mcpd(A)
            inflight = await wb.until_end(rid, timeout=TTL + 8)
            waited = time.monotonic() - t0
            later = await wb.chat("again", conv=conv, rid="k-3",
                                  timeout=TTL + 8)
        return conv, inflight, waited, later

    conv, inflight, waited, later = run(go())
    assert inflight[-1]["status"] == "error"
    assert inflight[-1]["chunk"]["code"] == "conversation_unavailable"
    assert waited < TTL + 5, waited
    assert later[-1]["status"] == "error", later
    assert later[-1]["chunk"]["code"] == "conversation_unavailable"
    assert stored(c, B, conv) == []             # no fork on B


def test_routing_by_conversation_saves_the_hop(make_cluster, llm_mock):
    """With `hash $arg_conversation_id consistent` in the balancer, a
    socket opened with ?conversation_id=ID always lands where ID lives:
    nothing is forwarded."""
    c = make_cluster(routing="conversation")
    convs = ["conv-%d" % i for i in range(6)]

    async def go():
        for conv in convs:
            for n in range(2):
                async with c.client(query="conversation_id=" + conv) as ws:
                    f = await ws.chat("turn %d" % n, conv=conv,
                                      rid="%s-%d" % (conv, n))
                    assert f[-1]["status"] == "complete", f
                    assert conv_of(f) == conv

    run(go())
    for i in (A, B):
        assert fwd(c, i)["forwarded"] == 0
    homes = [sum(1 for conv in convs if stored(c, i, conv)) for i in (A, B)]
    assert sum(homes) == len(convs)
    for conv in convs:
        assert sum(1 for i in (A, B) if stored(c, i, conv)) == 1


def test_new_conversation_on_both_instances_agrees_on_one_home(
        make_cluster, llm_mock):
    """Two sockets, one per instance, start the same client-chosen id at
    once: one home wins (SET NX), both answers land in its store."""
    c = make_cluster()

    async def one(i, rid):
        async with c.client(instance=i) as ws:
            return await ws.chat("race", conv="raced", rid=rid)

    async def go():
        return await asyncio.gather(one(A, "race-a"), one(B, "race-b"))

    fa, fb = run(go())
    assert fa[-1]["status"] == "complete" and fb[-1]["status"] == "complete"
    where = [i for i in (A, B) if stored(c, i, "raced")]
    assert len(where) == 1
    assert sorted(set(r[1] for r in stored(c, where[0], "raced"))) == [
        "race-a", "race-b"]
