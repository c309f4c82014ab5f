"""The chat API end to end (nginx + module + mcpd, offline provider):
every bad input and its error code, conversations scoped to principals,
history / list / delete, idempotent replays and joins, per-conversation
order, per-principal limits, conversation_busy, cancel, disconnect,
non-streaming.  docs/websocket-api.md is the contract."""

import asyncio
import json
import os
import sqlite3
import sys
import time

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from chat_client import ChatClient, conv_of, text_of  # noqa: E402
from stack import Stack, wait_until  # noqa: E402

FAST = {"chat": {"service": {"offline_delay": "0ms"}}}


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    """One stack for the tests that do not change its config; clients are
    told apart by the X-User header (mcp_principal $http_x_user)."""
    s = Stack(tmp_path_factory.mktemp("chat_api"),
              nginx_location={"mcp_principal": "$http_x_user"},
              mcpd_yaml=FAST)
    s.start()
    yield s
    s.stop()


def client(stack, user=None, **kw):
    return ChatClient(stack.ws_url,
                      headers={"X-User": user} if user else None, **kw)


def run(coro):
    return asyncio.run(coro)


def code_of(frame):
    assert frame["status"] == "error", frame
    return frame["chunk"]["code"]


# ------------------------------------------------------------ bad input

BAD_CHAT = [
    ({"action": "chat", "request_id": "b1"}, "payload is required"),
    ({"action": "chat", "request_id": "b2", "payload": "hi"}, "object"),
    ({"action": "chat", "request_id": "b3", "payload": {}}, "text"),
    ({"action": "chat", "request_id": "b4", "payload": {"text": 5}}, "text"),
    ({"action": "chat", "request_id": "b5",
      "payload": {"text": "x", "conversation_id": 7}}, "conversation_id"),
    ({"action": "chat", "request_id": "b6",
      "payload": {"text": "x", "conversation_id": ""}}, "conversation_id"),
    ({"action": "chat", "request_id": "b7",
      "payload": {"text": "x", "conversation_id": "c" * 129}},
     "conversation_id"),
    ({"action": "chat", "request_id": "b8",
      "payload": {"text": "x", "streaming": "yes"}}, "streaming"),
    ({"action": "chat", "request_id": "b9",
      "payload": {"text": "x", "metadata": [1]}}, "metadata"),
    ({"action": "history", "request_id": "b10", "payload": {}},
     "conversation_id"),
    ({"action": "history", "request_id": "b11",
      "payload": {"conversation_id": "c", "limit": 0}}, "limit"),
    ({"action": "history", "request_id": "b12",
      "payload": {"conversation_id": "c", "before": "x"}}, "before"),
    ({"action": "list_conversations", "request_id": "b13",
      "payload": {"limit": "many"}}, "limit"),
    ({"action": "delete_conversation", "request_id": "b14",
      "payload": {"conversation_id": ["c"]}}, "conversation_id"),
    ({"action": "cancel", "request_id": "b15", "payload": {}}, "target"),
    ({"action": "cancel", "request_id": "b16", "payload": {"target": 3}},
     "target"),
    ({"action": "list_tools", "request_id": "b17", "payload": 3}, "object"),
]


def test_each_bad_input_gets_invalid_request_and_socket_stays(shared):
    async def main():
        async with client(shared, "bad") as c:
            for msg, word in BAD_CHAT:
                f = await c.call(msg["action"], msg.get("payload"),
                                 rid=msg["request_id"]) \
                    if "payload" in msg else \
                    await c.call(msg["action"], rid=msg["request_id"])
                assert code_of(f) == "invalid_request", msg
                assert word in f["chunk"]["error"], (msg, f)
            # envelope errors are core's, but the same socket keeps working
            await c.send("not json")
            f = await c.recv()
            assert f["request_id"] is None and code_of(f) == "invalid_json"
            await c.send({"action": "nope", "request_id": "u1"})
            assert code_of(await c.recv()) == "unknown_action"
            frames = await c.chat("still here")
            assert frames[-1]["status"] == "complete"
    run(main())


# ------------------------------------------------------------ conversations

def test_new_and_continued_conversation_and_history(shared):
    async def main():
        async with client(shared, "alice") as c:
            f1 = await c.chat("first message")
            assert f1[0]["status"] == "processing"
            conv = conv_of(f1)
            assert f1[-1]["chunk"]["metadata"]["conversation_id"] == conv
            assert "offline demo provider" in text_of(f1)
            f2 = await c.chat("second message", conv=conv)
            assert conv_of(f2) == conv
            h = await c.call("history", {"conversation_id": conv})
            msgs = h["chunk"]["metadata"]["messages"]
            assert [m["role"] for m in msgs] == ["user", "assistant"] * 2
            assert msgs[0]["content"] == "first message"
            assert msgs[1]["content"] == text_of(f1)   # stored once
            assert msgs[3]["content"] == text_of(f2)
            assert msgs[1]["model"] and msgs[1]["usage"]["total_tokens"] > 0
            assert "next_before" not in h["chunk"]["metadata"]
            # pagination, oldest first within a page
            p1 = await c.call("history", {"conversation_id": conv,
                                          "limit": 3})
            m1 = p1["chunk"]["metadata"]
            assert [m["content"] for m in m1["messages"]] == \
                [m["content"] for m in msgs[1:]]
            p2 = await c.call("history", {"conversation_id": conv,
                                          "before": m1["next_before"]})
            assert [m["seq"] for m in p2["chunk"]["metadata"]["messages"]] \
                == [msgs[0]["seq"]]
            # the context carries the history: the model saw 2 turns
            assert f2[-1]["chunk"]["metadata"]["usage"]["prompt_tokens"] > \
                f1[-1]["chunk"]["metadata"]["usage"]["prompt_tokens"]
    run(main())


def test_client_chosen_conversation_id_and_principal_isolation(shared):
    async def main():
        async with client(shared, "alice") as a, client(shared, "bob") as b:
            fa = await a.chat("alice's secret", conv="shared-name")
            assert conv_of(fa) == "shared-name"
            # bob cannot write, read, list or delete alice's conversation
            fb = await b.chat("let me in", conv="shared-name")
            assert code_of(fb[-1]) == "conversation_not_found"
            h = await b.call("history", {"conversation_id": "shared-name"})
            assert code_of(h) == "conversation_not_found"
            d = await b.call("delete_conversation",
                             {"conversation_id": "shared-name"})
            assert code_of(d) == "conversation_not_found"
            lb = await b.call("list_conversations")
            assert all(x["conversation_id"] != "shared-name"
                       for x in lb["chunk"]["metadata"]["conversations"])
            # ... and alice still has it intact
            h = await a.call("history", {"conversation_id": "shared-name"})
            assert h["chunk"]["metadata"]["messages"][0]["content"] == \
                "alice's secret"
            la = await a.call("list_conversations")
            assert "shared-name" in [
                x["conversation_id"]
                for x in la["chunk"]["metadata"]["conversations"]]
    run(main())


def test_list_pagination_and_delete(shared):
    async def main():
        async with client(shared, "lister") as c:
            convs = []
            for i in range(3):
                convs.append(conv_of(await c.chat("n%d" % i)))
                await asyncio.sleep(0.01)
            l1 = (await c.call("list_conversations", {"limit": 2})
                  )["chunk"]["metadata"]
            assert [x["conversation_id"] for x in l1["conversations"]] == \
                convs[::-1][:2]
            assert l1["conversations"][0]["messages"] == 2
            l2 = (await c.call("list_conversations",
                               {"limit": 2, "before": l1["next_before"]})
                  )["chunk"]["metadata"]
            assert [x["conversation_id"] for x in l2["conversations"]] == \
                [convs[0]]
            assert "next_before" not in l2
            d = await c.call("delete_conversation",
                             {"conversation_id": convs[1]})
            assert d["chunk"]["metadata"]["deleted"] is True
            d = await c.call("delete_conversation",
                             {"conversation_id": convs[1]})
            assert code_of(d) == "conversation_not_found"
            left = (await c.call("list_conversations"))["chunk"]["metadata"]
            assert convs[1] not in [x["conversation_id"]
                                    for x in left["conversations"]]
    run(main())


# ------------------------------------------------------------ keyset pages

def seed(stack, sql, rows):
    """Rows written straight into mcpd's database (WAL: mcpd keeps
    running): tens of thousands of rows in a second, where chatting them
    in would take minutes."""
    db = sqlite3.connect(os.path.join(stack.mcpd_dir, "events.db"),
                         timeout=10)
    with db:
        db.executemany(sql, rows)
    db.close()


def seed_messages(stack, conv, rows):
    """Messages (type, content) appended straight into the database the
    way mcpd appends them (docs/storage.md): each row links to the
    conversation's newest, which it then becomes."""
    db = sqlite3.connect(os.path.join(stack.mcpd_dir, "events.db"),
                         timeout=10)
    with db:
        for typ, content in rows:
            cur = db.execute(
                "INSERT INTO messages(conversation_id, type, content,"
                " token_count, created_at, prev_id) VALUES (?, ?, ?, 1, 1,"
                " (SELECT last_id FROM conversations WHERE id = ?))",
                (conv, typ, content, conv))
            db.execute("UPDATE conversations SET last_id = ?,"
                       " message_count = message_count + 1 WHERE id = ?",
                       (cur.lastrowid, conv))
    db.close()


def test_history_pages_every_message_once_while_appending(shared):
    async def main():
        async with client(shared, "hpager") as c, \
                client(shared, "hother") as o:
            conv = conv_of(await c.chat("the first"))
            seed_messages(shared, conv,
                          [(1 + i % 2, "seeded %d" % i) for i in range(1200)])
            whole = []
            before, pages = None, 0
            while True:
                pl = {"conversation_id": conv, "limit": 100}
                if before is not None:
                    pl["before"] = before
                md = (await c.call("history", pl))["chunk"]["metadata"]
                seqs = [m["seq"] for m in md["messages"]]
                assert seqs == sorted(seqs)       # oldest first in a page
                whole = md["messages"] + whole
                pages += 1
                if "next_before" not in md:
                    break
                assert md["next_before"] == seqs[0]
                before = md["next_before"]
                # new turns mid-walk land above the cursor: never seen
                await c.chat("appended %d" % pages, conv=conv)
                # someone else's conversation is not theirs to page
                h = await o.call("history", {"conversation_id": conv,
                                             "before": before})
                assert code_of(h) == "conversation_not_found"
            assert pages == 13
            assert [m["content"] for m in whole] == \
                ["the first", whole[1]["content"]] + \
                ["seeded %d" % i for i in range(1200)]
            assert whole[1]["role"] == "assistant"
            assert len({m["seq"] for m in whole}) == len(whole)
            for bad in ("x", 0, -3, 1.5, True, [1]):
                h = await c.call("history", {"conversation_id": conv,
                                             "before": bad})
                assert code_of(h) == "invalid_request", bad
    run(main())


def test_list_pages_over_10k_conversations(shared):
    n = 10050

    async def main():
        async with client(shared, "lpager") as c:
            mine = conv_of(await c.chat("a real one"))
            # 10,050 conversations on 7 timestamps: long runs of ties that
            # only the id tells apart; someone else's interleaved
            seed(shared, "INSERT INTO conversations(id, principal,"
                 " created_at, updated_at) VALUES (?, ?, 1, ?)",
                 [("lp-%05d" % i, "lpager", 1000 + i % 7) for i in range(n)]
                 + [("lx-%05d" % i, "lintruder", 1000 + i % 7)
                    for i in range(300)])
            seen, cursor, pages = [], None, 0
            while True:
                pl = {"limit": 500}
                if cursor is not None:
                    pl["before"] = cursor
                md = (await c.call("list_conversations", pl)
                      )["chunk"]["metadata"]
                seen += [(x["updated_at"], x["conversation_id"])
                         for x in md["conversations"]]
                pages += 1
                if "next_before" not in md:
                    break
                cursor = md["next_before"]
                assert isinstance(cursor, str)
                # a new conversation and a new message in a seen one both
                # move above the cursor: nothing repeats, nothing shifts
                await c.chat("new %d" % pages)
                await c.chat("again %d" % pages, conv=mine)
            assert pages == 21
            ids = [i for _, i in seen]
            assert ids[0] == mine
            assert sorted(ids[1:]) == ["lp-%05d" % i for i in range(n)]
            assert seen == sorted(seen, reverse=True)
            assert not [i for i in ids if i.startswith("lx-")]
            # the first form of the cursor, an updated_at: strictly older
            md = (await c.call("list_conversations", {"before": 1001,
                                                      "limit": 500})
                  )["chunk"]["metadata"]
            assert {x["updated_at"] for x in md["conversations"]} == {1000}
            assert md["conversations"][0]["conversation_id"] == \
                "lp-%05d" % (n - 1 - (n - 1) % 7)
            for bad in ("x", "12", ":lp-1", "12:", "-5:lp-1", "1x:lp-1",
                        "9:" + "a" * 129, 0, -1, 2.5, False, {"a": 1}):
                f = await c.call("list_conversations", {"before": bad})
                assert code_of(f) == "invalid_request", bad
                assert "before" in f["chunk"]["error"]
    run(main())


def test_non_streaming_sends_one_chunk(shared):
    async def main():
        async with client(shared, "ns") as c:
            f = await c.chat("whole please", streaming=False)
            chunks = [x for x in f if x["status"] == "chunk"]
            assert len(chunks) == 1 and chunks[0]["chunk"]["metadata"] == {}
            assert "whole please" in chunks[0]["chunk"]["data"]
            assert f[-1]["status"] == "complete"
    run(main())


# ------------------------------------------------------------ idempotency

def test_repeated_request_id_replays_without_a_model_call(shared):
    async def main():
        async with client(shared, "idem") as c:
            f1 = await c.chat("remember me", rid="same")
            conv = conv_of(f1)
            calls = shared.health()["chat_stats"]["provider"]["calls"]
            f2 = await c.chat("remember me", conv=conv, rid="same")
            assert [x["status"] for x in f2] == ["processing", "chunk",
                                                 "complete"]
            assert f2[1]["chunk"]["metadata"] == {"cached": True}
            assert f2[1]["chunk"]["data"] == text_of(f1)
            assert f2[2]["chunk"]["metadata"]["cached"] is True
            assert shared.health()["chat_stats"]["provider"]["calls"] == calls
            # on another socket too (the original lost this on reconnect)
            async with client(shared, "idem") as c2:
                f3 = await c2.chat("remember me", conv=conv, rid="same")
                assert f3[1]["chunk"]["data"] == text_of(f1)
            h = await c.call("history", {"conversation_id": conv})
            assert len(h["chunk"]["metadata"]["messages"]) == 2
    run(main())


def test_repeat_of_a_running_request_attaches(shared):
    async def main():
        async with client(shared, "att") as a, client(shared, "att") as b:
            conv = conv_of(await a.chat("hi"))
            rid = await a.start_chat("offline:slow long", conv=conv)
            await a.first(rid)                              # processing
            await asyncio.sleep(0.3)
            fb = await b.chat("offline:slow long", conv=conv, rid=rid,
                              timeout=30)
            fa = await a.until_end(rid, timeout=30)
            assert fa[-1]["status"] == "complete"
            assert fb[-1]["status"] == "complete"
            assert fb[0]["status"] == "processing"
            # b joined midway: its text is the tail of a's
            assert text_of(fa).endswith(text_of(fb)) and text_of(fb)
            h = await a.call("history", {"conversation_id": conv})
            assert len(h["chunk"]["metadata"]["messages"]) == 4
    run(main())


# ------------------------------------------------------------ order

def test_requests_in_one_conversation_run_in_order(shared):
    async def main():
        async with client(shared, "order") as c:
            conv = conv_of(await c.chat("start"))
            rids = [await c.start_chat("m%d" % i, conv=conv)
                    for i in range(4)]
            other = await c.start_chat("other conversation")
            done = []
            ends = {}
            while len(ends) < 5:
                f = await c.recv(timeout=10)
                if f["status"] in ("complete", "error"):
                    ends[f["request_id"]] = f
                    done.append(f["request_id"])
            assert all(ends[r]["status"] == "complete" for r in ends)
            assert [r for r in done if r in rids] == rids
            assert other in done
            h = await c.call("history", {"conversation_id": conv})
            users = [m["content"] for m in h["chunk"]["metadata"]["messages"]
                     if m["role"] == "user"]
            assert users == ["start", "m0", "m1", "m2", "m3"]
            st = shared.health()["chat_stats"]
            assert st["requests"]["active"] == 0
            assert st["conversations_active"] == 0      # entries freed
    run(main())


# ------------------------------------------------------------ cancel

def test_cancel_stops_and_keeps_the_partial_reply(shared):
    async def main():
        async with client(shared, "cancel") as c:
            conv = conv_of(await c.chat("hi"))
            rid = await c.start_chat("offline:slow tell me a story",
                                     conv=conv)
            first = []
            while len(first) < 3:
                f = await c.first(rid)
                if f["status"] == "chunk":
                    first.append(f)
            t0 = time.monotonic()
            x = await c.call("cancel", {"target": rid})
            assert x["status"] == "complete"
            assert x["chunk"]["metadata"]["cancelled"] is True
            rest = await c.until_end(rid, timeout=5)
            assert time.monotonic() - t0 < 1.0
            assert code_of(rest[-1]) == "cancelled"
            sent = text_of(first + rest)
            h = await c.call("history", {"conversation_id": conv})
            last = h["chunk"]["metadata"]["messages"][-1]
            assert last["role"] == "assistant"
            assert last["finish_reason"] == "cancelled"
            assert last["content"] == sent
            # cancelling something finished (or unknown) says so
            x = await c.call("cancel", {"target": rid})
            assert x["chunk"]["metadata"]["cancelled"] is False
            # the conversation goes on
            f = await c.chat("after", conv=conv)
            assert f[-1]["status"] == "complete"
    run(main())


def test_disconnect_cancels_upstream_work(shared):
    async def main():
        c = client(shared, "gone")
        await c.__aenter__()
        conv = conv_of(await c.chat("hi"))
        rid = await c.start_chat("offline:slow a long answer", conv=conv)
        while (await c.first(rid))["status"] != "chunk":
            pass
        await c.abort()
        wait_until(lambda: shared.health()["chat_stats"]["provider"]
                   ["active"] == 0, timeout=1.0, what="provider call stop")
        async with client(shared, "gone") as c2:
            # the partial reply is stored after the provider call stops:
            # give its commit a moment
            for _ in range(40):
                h = await c2.call("history", {"conversation_id": conv})
                last = h["chunk"]["metadata"]["messages"][-1]
                if last["role"] == "assistant":
                    break
                await asyncio.sleep(0.05)
            assert last["finish_reason"] == "cancelled"
            assert last["content"]
    before = shared.health()["chat_stats"]["requests"]["disconnected"]
    run(main())
    assert shared.health()["chat_stats"]["requests"]["disconnected"] > before


# ------------------------------------------------------------ limits

def test_per_principal_limits_and_conversation_busy(make_stack):
    s = make_stack(nginx_location={"mcp_principal": "$http_x_user"},
                   mcpd_yaml={"chat": {"service": {
                       "offline_delay": "0ms",
                       "limits": {"concurrent_requests": 3,
                                  "requests_per_minute": 5,
                                  "conversation_queue": 1}}}})
    s.start()

    async def main():
        async with client(s, "greedy") as g, client(s, "calm") as k:
            conv = conv_of(await g.chat("offline:slow one"))     # 1
            r2 = await g.start_chat("offline:slow two", conv=conv)  # 2 runs
            await g.first(r2)
            r3 = await g.start_chat("three", conv=conv)          # 3 waits
            await g.first(r3)
            f4 = await g.chat("four", conv=conv)     # queue of 1 is full
            assert code_of(f4[-1]) == "conversation_busy"
            r5 = await g.start_chat("offline:slow five")   # 3 in flight
            await g.first(r5)
            f6 = await g.chat("six")
            assert code_of(f6[-1]) == "rate_limited"
            assert f6[-1]["chunk"]["retry_after_ms"] > 0
            # another principal is not affected
            assert (await k.chat("fine"))[-1]["status"] == "complete"
            for r in (r2, r3, r5):
                await g.until_end(r, timeout=30)
            # 5 started this minute: the bucket is (nearly: it refills at
            # one per 12 s) empty
            for i in range(3):
                f7 = await g.chat("seven")
                if f7[-1]["status"] == "error":
                    break
            assert code_of(f7[-1]) == "rate_limited"
            assert 0 < f7[-1]["chunk"]["retry_after_ms"] <= 12000
            st = s.health()["chat_stats"]
            assert st["limits"]["refused_rate"] >= 1
            assert st["limits"]["refused_concurrent"] >= 1
            assert st["errors"]["conversation_busy"] == 1
    run(main())


def test_status_names_provider_cache_and_estimator(shared):
    async def main():
        async with client(shared, "st") as c:
            conv = conv_of(await c.chat("a"))
            await c.chat("b", conv=conv)
    run(main())
    st = shared.health()["chat_stats"]
    assert st["provider"]["offline"] is True
    assert "not a language model" in st["provider"]["note"]
    assert st["context"]["estimator"]
    cc = st["context_cache"]
    assert cc["hits"] >= 1 and 0 < cc["hit_rate"] <= 1
    assert cc["entries"] >= 1


# ------------------------------------------------------------ prometheus

def prom_samples(text):
    """{(name, labels): value} of a Prometheus text exposition."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name_labels, value = line.rsplit(" ", 1)
        name, _, labels = name_labels.partition("{")
        out[(name, labels.rstrip("}"))] = float(value)
    return out


def test_prometheus_carries_the_chat_figures(shared):
    async def main():
        async with client(shared, "prom") as c:
            await c.chat("count me")
            f = await c.call("history", {"conversation_id": 5})
            assert code_of(f) == "invalid_request"
    run(main())
    js = shared.health()
    prom = prom_samples(shared.health_text("?format=prometheus"))
    chat = js["chat_stats"]

    def same(name, value, labels=""):
        assert prom[(name, labels)] == float(value), name

    # every figure of the JSON, under its path (the status is idle: the
    # two reads see the same numbers)
    for k in ("started", "completed", "replayed", "cancelled", "active"):
        same("mcp_chat_requests_" + k, chat["requests"][k])
    assert prom[("mcp_chat_requests_completed", "")] >= 1
    for code, n in chat["errors"].items():
        same("mcp_chat_errors", n, 'code="%s"' % code)
    assert prom[("mcp_chat_errors", 'code="invalid_request"')] >= 1
    for k in ("ok", "error", "timeout", "running"):
        same("mcp_chat_tools_" + k, chat["tools"][k])
    for k in ("hits", "misses", "entries"):
        same("mcp_chat_context_cache_" + k, chat["context_cache"][k])
    same("mcp_chat_latency_ms_ttfc_p99", chat["latency_ms"]["ttfc_p99"])
    same("mcp_chat_context_max_tokens", chat["context"]["max_tokens"])
    same("mcp_chat_provider_offline", 1)
    # mcpd's own object too, and the module's figures still lead
    same("mcpd_links", js["mcpd"]["links"])
    assert ("mcp_websocket_active", "") in prom
    # no user or conversation ids as labels
    assert "prom" not in "".join(l for _, l in prom)
