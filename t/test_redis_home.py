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
from cluster import blocking, needs_redis  # noqa: E402
from stack import wait_until  # noqa: E402

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


def test_list_conversations_shows_every_home(make_cluster, llm_mock):
    """list_conversations on either instance shows the principal's
    conversations of both homes, newest first, and pages across them."""
    c = make_cluster()

    async def go():
        made = []
        for i, rid in ((A, "l-1"), (B, "l-2"), (A, "l-3")):
            async with c.client(instance=i) as ws:
                made.append(conv_of(await ws.chat("hi", rid=rid)))
            await asyncio.sleep(0.01)       # distinct updated_at
        lists = []
        for i in (A, B):
            async with c.client(instance=i) as ws:
                lists.append(await ws.call("list_conversations", {}))
                page = await ws.call("list_conversations", {"limit": 2})
                rest = await ws.call("list_conversations", {
                    "limit": 2,
                    "before": page["chunk"]["metadata"]["next_before"]})
                bad = await ws.call("list_conversations", {"before": "x"})
        return made, lists, page, rest, bad

    made, lists, page, rest, bad = run(go())
    assert bad["status"] == "error"
    assert bad["chunk"]["code"] == "invalid_request"
    for r in lists:
        assert r["status"] == "complete", r
        md = r["chunk"]["metadata"]
        assert [x["conversation_id"] for x in md["conversations"]] == \
            list(reversed(made))
        assert "partial" not in md
    md = page["chunk"]["metadata"]
    assert [x["conversation_id"] for x in md["conversations"]] == \
        [made[2], made[1]]
    last = md["conversations"][-1]
    assert md["next_before"] == "%d:%s" % (last["updated_at"],
                                           last["conversation_id"])
    md = rest["chunk"]["metadata"]
    assert [x["conversation_id"] for x in md["conversations"]] == [made[0]]
    assert "next_before" not in md


def test_cancel_and_disconnect_on_b_reach_the_home(make_cluster, llm_mock):
    """A `cancel` sent on B for a request running on A stops it on A (the
    partial answer is stored there as cancelled); a client on B that
    disconnects stops its request on A as a local disconnect would."""
    c = make_cluster()

    async def streaming(ws, conv, rid):
        """A long streamed answer on A for ws, once its text flows."""
        llm_mock.queue({"scenario": "trickle",
                        "text": " ".join(["word"] * 100), "delay_ms": 50})
        await ws.start_chat("long", conv=conv, rid=rid, streaming=True)
        while (await ws.first(rid))["status"] != "chunk":
            pass

    async def go():
        async with c.client(instance=A) as wa:
            conv = conv_of(await wa.chat("seed", rid="c-0"))
        async with c.client(instance=B) as wb:
            await streaming(wb, conv, "c-1")
            ack = await wb.call("cancel", {"target": "c-1"})
            end = await wb.until_end("c-1")
        async with c.client(instance=B) as wb:
            await streaming(wb, conv, "c-2")
            await wb.abort()
        return conv, ack, end

    conv, ack, end = run(go())
    assert ack["status"] == "complete", ack
    assert ack["chunk"]["metadata"]["cancelled"] is True
    assert end[-1]["status"] == "error"
    assert end[-1]["chunk"]["code"] == "cancelled"

    def stopped():
        req = c.instance_health(A)["chat_stats"]["requests"]
        return req["cancelled"] >= 1 and req["disconnected"] >= 1
    wait_until(stopped, 10, what="A to stop both requests")
    wait_until(lambda: fwd(c, A)["remote_sessions"] == 0
               and fwd(c, B)["routes"] == 0, 10, what="routes to end")
    rows = stored(c, A, conv)
    assert [r[1] for r in rows].count("c-1") == 2   # user + partial answer
    assert stored(c, B, conv) == []


def test_redis_down_keeps_local_conversations_only(make_cluster, llm_mock):
    """Redis killed: a conversation A holds keeps working on A, one that
    lives on B is conversation_unavailable on A (never started afresh
    there), a new conversation starts on A; when Redis is back its home
    is recorded, so B forwards to it."""
    c = make_cluster()

    async def start(i, rid):
        async with c.client(instance=i) as ws:
            return conv_of(await ws.chat("seed", rid=rid))

    async def on(i, conv, rid):
        async with c.client(instance=i) as ws:
            return await ws.chat("more", conv=conv, rid=rid)

    conv_a = run(start(A, "d-1"))
    conv_b = run(start(B, "d-2"))
    c.redis.kill()
    wait_until(lambda: c.redis_status(A)["state"] == "degraded", 10,
               what="A degraded")
    mine = run(on(A, conv_a, "d-3"))
    theirs = run(on(A, conv_b, "d-4"))
    new = run(start(A, "d-5"))
    assert mine[-1]["status"] == "complete", mine
    assert theirs[-1]["status"] == "error"
    assert theirs[-1]["chunk"]["code"] == "conversation_unavailable"
    assert stored(c, A, conv_b) == []
    assert c.redis_status(A)["routing"]["unrecorded_homes"] == 1

    c.redis.start()
    wait_until(lambda: c.redis_status(A)["state"] == "up"
               and c.redis_status(B)["state"] == "up"
               and c.redis_status(A)["routing"]["unrecorded_homes"] == 0,
               15, what="Redis back, the new home recorded")
    # both heartbeats, and both subscriptions (a second connection, which
    # reconnects on its own backoff: until then A is not reachable and a
    # forward answers conversation_unavailable at once)
    wait_until(lambda: c.redis_status(B)["instances_alive"] == 2
               and all(fwd(c, i)["subscriber"] == "up" for i in (A, B)), 10,
               what="both heartbeats and subscriptions back")
    assert c.redis.command("GET", "t:home:" + new) == b"a"
    # B was idle but for heartbeats during the outage: it must have noticed
    # that its connection died (mcp_redis_uv.c), not keep it "up" and fail
    # this request on a command timeout (about 1 run in 10 did before)
    later = run(on(B, new, "d-6"))
    assert later[-1]["status"] == "complete", later
    assert [r[1] for r in stored(c, A, new)] == ["d-5", "d-5", "d-6", "d-6"]


def test_restarted_home_under_a_new_name_takes_its_conversations_back(
        make_cluster, llm_mock):
    """A's mcpd comes back as "a2" on the same SQLite file: once "a" is
    gone, a request for one of its conversations on a2 moves the home to
    a2 (under the conversation's lease) and runs; B then forwards there.
    B itself, without the history, only ever answers unavailable."""
    c = make_cluster()

    async def on(i, conv, rid):
        async with c.client(instance=i) as ws:
            return await ws.chat("again", conv=conv, rid=rid)

    async def start():
        async with c.client(instance=A) as ws:
            return conv_of(await ws.chat("seed", rid="n-1"))

    conv = run(start())
    c.kill_mcpd(A)
    c.instances[A].mcpd.conf["redis"]["instance_id"] = "a2"
    c.start_mcpd(A)
    wait_until(lambda: c.redis_status(A).get("state") == "up", 10,
               what="a2 up")
    time.sleep(TTL + 0.5)                   # "a"'s heartbeat expires
    on_b = run(on(B, conv, "n-2"))
    assert on_b[-1]["chunk"].get("code") == "conversation_unavailable"
    on_a = run(on(A, conv, "n-3"))
    assert on_a[-1]["status"] == "complete", on_a
    assert c.redis_status(A)["routing"]["takeovers"] == 1
    assert c.redis.command("GET", "t:home:" + conv) == b"a2"
    assert c.redis.command("EXISTS", "t:lock:" + conv) == 0   # released
    on_b = run(on(B, conv, "n-4"))
    assert on_b[-1]["status"] == "complete", on_b
    assert [r[1] for r in stored(c, A, conv)] == [
        "n-1", "n-1", "n-3", "n-3", "n-4", "n-4"]
    assert stored(c, B, conv) == []


def test_cancel_right_behind_its_chat_follows_it(make_cluster, llm_mock):
    """A cancel sent right behind its chat follows it to A, whether it
    reaches mcpd while the chat is still being routed (held until the
    chat's route is known) or after: the request is cancelled, not missed.
    (Which of the two happens depends on timing; both must hold.)"""
    c = make_cluster()

    async def go():
        async with c.client(instance=A) as wa:
            conv = conv_of(await wa.chat("seed", rid="e-0"))
        llm_mock.queue({"scenario": "trickle",
                        "text": " ".join(["word"] * 100), "delay_ms": 50})
        async with c.client(instance=B) as wb:
            await wb.send({"action": "chat", "request_id": "e-1",
                           "payload": {"text": "long",
                                       "conversation_id": conv}})
            await wb.send({"action": "cancel", "request_id": "e-x",
                           "payload": {"target": "e-1"}})
            ack = (await wb.until_end("e-x"))[-1]
            end = await wb.until_end("e-1")
        return ack, end

    ack, end = run(go())
    assert ack["status"] == "complete", ack
    assert ack["chunk"]["metadata"]["cancelled"] is True
    assert end[-1]["status"] == "error"
    assert end[-1]["chunk"]["code"] == "cancelled"


def test_history_from_b_is_paged_for_b_clients_buffer(make_cluster, llm_mock):
    """A history page is capped at a quarter of the asking client's
    mcp_send_buffer_size (docs/websocket-api.md).  Asked on B for a
    conversation whose home is A, the page is built on A: it must be sized
    for the B client's buffer, not for the 1m default, so B's client pages
    exactly as a client of A does."""
    c = make_cluster(nginx_location={"mcp_send_buffer_size": "128k"})
    big = "z" * 40000               # each user message alone > 32 KiB

    async def pages(ws, conv):
        out, before = [], None
        for _ in range(20):                     # bounded: 6 messages
            payload = {"conversation_id": conv}
            if before is not None:
                payload["before"] = before
            h = await ws.call("history", payload)
            assert h["status"] == "complete", h
            meta = h["chunk"]["metadata"]
            out.append([m["seq"] for m in meta["messages"]])
            before = meta.get("next_before")
            if before is None:
                return out
        raise AssertionError("history did not end: %r" % out)

    async def go():
        async with c.client(instance=A) as wa:
            first = await wa.chat(big + "1", rid="p-1")
            conv = conv_of(first)
            for i in (2, 3):
                end = await wa.chat(big + str(i), conv=conv, rid="p-%d" % i)
                assert end[-1]["status"] == "complete", end
            on_a = await pages(wa, conv)
        async with c.client(instance=B) as wb:
            on_b = await pages(wb, conv)
        return on_a, on_b

    on_a, on_b = run(go())
    assert sum(len(p) for p in on_a) == 6, on_a
    assert len(on_a) > 1, on_a          # capped: not one page of 120 KB
    assert on_b == on_a
    assert fwd(c, B)["forwarded"] >= len(on_b)


def home_of(cluster, conv):
    return cluster.redis.command("GET", "t:home:" + conv)


def test_delete_releases_the_home_and_the_id_starts_afresh(make_cluster,
                                                           llm_mock):
    """delete_conversation from B reaches the home A, which deletes the
    conversation and then its home record; the same client-chosen id then
    starts afresh on B (its home now), with nothing of the old one.  A
    delete of a conversation that does not exist leaves other homes
    alone."""
    c = make_cluster()

    async def go():
        async with c.client(instance=A) as wa:
            first = await wa.chat("old", conv="reused", rid="r-1")
        assert first[-1]["status"] == "complete", first
        assert home_of(c, "reused") == b"a"
        async with c.client(instance=B) as wb:
            gone = await wb.call("delete_conversation",
                                 {"conversation_id": "reused"})
            missing = await wb.call("delete_conversation",
                                    {"conversation_id": "never-was"})
        return gone, missing

    gone, missing = run(go())
    assert gone["status"] == "complete", gone
    assert gone["chunk"]["metadata"]["deleted"] is True
    assert missing["status"] == "error", missing
    assert stored(c, A, "reused") == []
    wait_until(lambda: home_of(c, "reused") is None, 5,
               what="the home record released")
    assert c.redis_status(A)["routing"]["homes_released"] == 1
    assert c.redis_status(B)["routing"]["homes_released"] == 0

    async def again():
        async with c.client(instance=B) as wb:
            return await wb.chat("new", conv="reused", rid="r-2")

    second = run(again())
    assert second[-1]["status"] == "complete", second
    assert home_of(c, "reused") == b"b"
    assert [r[1] for r in stored(c, B, "reused")] == ["r-2", "r-2"]
    assert stored(c, A, "reused") == []


def test_delete_while_redis_hangs_releases_the_home_when_it_answers(
        make_cluster, llm_mock):
    """Redis stops answering: a delete on the home still works (its store
    holds the conversation) and the release waits in unreleased_homes;
    once Redis answers again the record is deleted.  A record that names
    another instance is never deleted by this one."""
    c = make_cluster()

    async def chat(i, conv, rid):
        async with c.client(instance=i) as ws:
            return await ws.chat("seed", conv=conv, rid=rid)

    async def delete(i, conv):
        async with c.client(instance=i) as ws:
            return await ws.call("delete_conversation",
                                 {"conversation_id": conv})

    assert run(chat(A, "hung-del", "u-1"))[-1]["status"] == "complete"
    assert home_of(c, "hung-del") == b"a"
    c.redis.freeze()
    try:
        wait_until(lambda: c.redis_status(A)["state"] == "degraded", 10,
                   what="A degraded")
        gone = run(delete(A, "hung-del"))
        assert gone["status"] == "complete", gone
        assert c.redis_status(A)["routing"]["unreleased_homes"] == 1
    finally:
        c.redis.thaw()
    wait_until(lambda: c.redis_status(A)["state"] == "up"
               and c.redis_status(A)["routing"]["unreleased_homes"] == 0
               and home_of(c, "hung-del") is None, 15,
               what="Redis back, the home released")
    assert c.redis_status(A)["routing"]["homes_released"] == 1

    # a record naming B (as after a takeover) stays when A deletes its copy
    assert run(chat(A, "moved", "u-2"))[-1]["status"] == "complete"
    c.redis.command("SET", "t:home:moved", "b")
    # A's own socket now forwards to B, whose store lacks it: not found
    missing = run(delete(A, "moved"))
    assert missing["status"] == "error", missing
    assert home_of(c, "moved") == b"b"
    assert c.redis_status(A)["routing"]["homes_released"] == 1


def test_chat_queued_behind_a_delete_records_its_home_again(make_cluster,
                                                            llm_mock):
    """A chat from B waits on A behind A's running turn of the same
    conversation; meanwhile a delete on A removes the conversation and
    releases its home.  When the queued chat runs it creates the
    conversation afresh on A, and A records itself as its home again:
    never a store holding a conversation that no home record names (which
    would let another instance start a second copy)."""
    c = make_cluster()

    async def go():
        async with c.client(instance=A) as wa:
            first = await wa.chat("seed", conv="behind", rid="q-1")
            assert first[-1]["status"] == "complete", first
            llm_mock.queue({"scenario": "trickle",
                            "text": " ".join(["slow"] * 20),
                            "delay_ms": 60})
            await wa.start_chat("running", conv="behind", rid="q-2",
                                streaming=True)
            assert (await wa.first("q-2"))["status"] == "processing"
            served = fwd(c, A)["served"]
            async with c.client(instance=B) as wb:
                await wb.start_chat("queued", conv="behind", rid="q-3")
                await blocking(wait_until,
                               lambda: fwd(c, A)["served"] > served, 5,
                               what="the chat from B reached A")
                gone = await wa.call("delete_conversation",
                                     {"conversation_id": "behind"})
                # released while q-2 still runs (20 words, 60 ms apart)
                await blocking(wait_until,
                               lambda: home_of(c, "behind") is None, 1,
                               what="the home released by the delete")
                running = await wa.until_end("q-2", timeout=15)
                queued = await wb.until_end("q-3", timeout=15)
        return gone, running, queued

    gone, running, queued = run(go())
    assert gone["status"] == "complete", gone
    assert running[-1]["status"] in ("complete", "error"), running
    assert queued[-1]["status"] == "complete", queued
    wait_until(lambda: home_of(c, "behind") == b"a", 5,
               what="A recorded as the home again")
    assert [r[1] for r in stored(c, A, "behind")][-2:] == ["q-3", "q-3"]
    assert stored(c, B, "behind") == []
