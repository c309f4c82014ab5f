"""The tool loop end to end through nginx + module + mcpd against the
scripted LLM mock (t/mock/llm_mock.c): streamed deltas per hop, tool_call
and tool_result frames, tool failures fed back to the model, the context
the model is sent (system prompt, history with tool calls and results,
the current message last), tool_limit_reached, provider errors and their
codes, cancel and disconnect stopping the provider call.

MCP servers are not wired to the chat service on main yet: the mock's tool
calls name tools nobody serves, which is exactly the failure the model
must be told about (status "error", the request goes on)."""

import asyncio
import json
import os
import sys
import time

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from chat_client import ChatClient, conv_of, text_of  # noqa: E402
from stack import Stack, wait_until  # noqa: E402
from test_llm_util import Mock  # noqa: E402


def run(coro):
    return asyncio.run(coro)


def code_of(frame):
    assert frame["status"] == "error", frame
    return frame["chunk"]["code"]


@pytest.fixture(scope="module")
def mock():
    m = Mock()
    yield m
    m.stop()


def chat_yaml(mock, **service):
    svc = {"system_prompt": "You are the test system prompt.",
           "provider": "llm"}
    svc.update(service)
    return {
        "llm": {"active": "mock", "providers": {"mock": {
            "base_url": mock.base_url, "model": "mock-text",
            "api_key_env": "",
            "http_client": {"http2": False, "max_retries": 1,
                            "backoff_factor": 0.05, "connect_timeout": 2,
                            "read_timeout": 10, "write_timeout": 2}}}},
        "chat": {"service": svc},
    }


@pytest.fixture(scope="module")
def stack(tmp_path_factory, mock):
    s = Stack(tmp_path_factory.mktemp("chat_loop"),
              mcpd_yaml=chat_yaml(mock, max_tool_hops=2))
    s.start()
    yield s
    s.stop()


def chats(mock):
    return [r for r in mock.requests()
            if r.get("path", "").endswith("/chat/completions")]


def body_of(req):
    b = req["body"]
    return json.loads(b) if isinstance(b, str) else b


def inflight(stack):
    p = stack.health()["llm_client_stats"]["providers"]["mock"]
    return p["in_flight"] + p["queued"]


def test_tool_loop_streams_hops_and_feeds_failures_back(stack, mock):
    mock.reset()
    mock.queue({"scenario": "tools"},
               {"scenario": "text", "text": "Paris is sunny at noon."})

    async def main():
        async with ChatClient(stack.ws_url) as c:
            return await c.chat("weather and time in Paris?")
    f = run(main())
    conv = conv_of(f)
    kinds = [(x["status"], x["chunk"].get("type")) for x in f]
    assert kinds[0] == ("processing", None) and kinds[-1][0] == "complete"
    calls = [x["chunk"] for x in f if x["chunk"].get("type") == "tool_call"]
    results = [x["chunk"] for x in f
               if x["chunk"].get("type") == "tool_result"]
    assert [c["data"]["tool"] for c in calls] == ["get_weather", "get_time"]
    assert calls[0]["data"]["arguments"] == {"city": "Paris"}
    assert all(c["metadata"]["hop"] == 0 for c in calls)
    assert sorted(r["data"]["id"] for r in results) == \
        sorted(c["data"]["id"] for c in calls)
    assert all(r["data"]["status"] == "error" for r in results)
    deltas = [x["chunk"] for x in f if x["chunk"].get("type") == "text"]
    assert deltas and all(d["metadata"] == {"type": "delta", "hop": 1}
                          for d in deltas)
    assert text_of(f) == "Paris is sunny at noon."
    md = f[-1]["chunk"]["metadata"]
    assert md["hops"] == 1 and md["conversation_id"] == conv
    assert md["model"] and md["usage"]["total_tokens"] >= 0
    # mcpd's own share of the turn: the model's and the tools' time left out
    assert 0 <= md["overhead_ms"] <= md["duration_ms"] + 1

    # the second model turn saw the calls and their (failed) results
    reqs = chats(mock)
    assert len(reqs) == 2
    msgs = body_of(reqs[1])["messages"]
    assert msgs[0] == {"role": "system",
                       "content": "You are the test system prompt."}
    assert msgs[1]["role"] == "user"
    assert [t["function"]["name"] for t in msgs[2]["tool_calls"]] == \
        ["get_weather", "get_time"]
    assert [m["role"] for m in msgs[3:]] == ["tool", "tool"]
    assert "no such tool" in msgs[3]["content"]

    # everything stored once, in order; the next turn's context has it
    mock.reset()
    mock.queue({"scenario": "text", "text": "ok"})

    async def more():
        async with ChatClient(stack.ws_url) as c:
            h = await c.call("history", {"conversation_id": conv})
            f2 = await c.chat("thanks", conv=conv)
            return h, f2
    h, f2 = run(more())
    roles = [m["role"] for m in h["chunk"]["metadata"]["messages"]]
    assert roles == ["user", "tool_call", "tool_call", "tool_result",
                     "tool_result", "assistant"]
    assert f2[-1]["status"] == "complete"
    msgs = body_of(chats(mock)[0])["messages"]
    assert [m["role"] for m in msgs] == ["system", "user", "assistant",
                                         "tool", "tool", "assistant", "user"]
    assert msgs[-1]["content"] == "thanks"
    assert msgs[-2]["content"] == "Paris is sunny at noon."


def test_tool_limit_reached_keeps_the_partial_answer(stack, mock):
    mock.reset()
    mock.queue({"scenario": "tools"}, {"scenario": "tools"},
               {"scenario": "tools"}, {"scenario": "text", "text": "never"})

    async def main():
        async with ChatClient(stack.ws_url) as c:
            f = await c.chat("loop forever")
            h = await c.call("history", {"conversation_id": conv_of(f)})
            return f, h
    f, h = run(main())
    assert code_of(f[-1]) == "tool_limit_reached"
    assert len(chats(mock)) == 3                # max_tool_hops 2: 3 turns
    hops = {x["chunk"]["metadata"]["hop"] for x in f
            if x["chunk"].get("type") == "tool_call"}
    assert hops == {0, 1}          # the third turn's calls never ran
    last = h["chunk"]["metadata"]["messages"][-1]
    assert last["role"] == "assistant"
    assert last["finish_reason"] == "tool_limit_reached"


@pytest.mark.parametrize("reply,code", [
    ({"scenario": "status", "status": 400}, "provider_error"),
    ({"scenario": "no_finish"}, "provider_error"),
    ({"scenario": "malformed"}, "provider_error"),
    ({"scenario": "status", "status": 503}, "provider_unavailable"),
    ({"scenario": "reset_before"}, "provider_unavailable"),
])
def test_provider_failures_have_their_code_and_can_be_retried(stack, mock,
                                                              reply, code):
    mock.reset()
    mock.queue(*([reply] * 3))

    async def main():
        async with ChatClient(stack.ws_url) as c:
            f = await c.chat("hello", rid="fail-1")
            conv = f[-1]["chunk"].get("conversation_id") or conv_of(f)
            mock.reset()
            mock.queue({"scenario": "text", "text": "second try"})
            # the same request id runs again: nothing was answered
            f2 = await c.chat("hello", conv=conv, rid="fail-1")
            h = await c.call("history", {"conversation_id": conv})
            return f, f2, h
    f, f2, h = run(main())
    assert code_of(f[-1]) == code
    assert f[-1]["chunk"]["error"]
    assert f2[-1]["status"] == "complete"
    assert text_of(f2) == "second try"
    assert "cached" not in f2[-1]["chunk"]["metadata"]
    msgs = h["chunk"]["metadata"]["messages"]
    assert [m["role"] for m in msgs] == ["user", "assistant"]   # user once


def test_non_streaming_through_the_provider(stack, mock):
    mock.reset()
    mock.queue({"scenario": "text", "text": "all at once"})

    async def main():
        async with ChatClient(stack.ws_url) as c:
            return await c.chat("x", streaming=False)
    f = run(main())
    chunks = [x for x in f if x["status"] == "chunk"]
    assert len(chunks) == 1 and chunks[0]["chunk"]["data"] == "all at once"
    assert body_of(chats(mock)[0]).get("stream") in (False, None)


def test_cancel_and_disconnect_stop_the_provider_call(stack, mock):
    mock.reset()
    mock.queue({"scenario": "trickle", "delay_ms": 100,
                "text": " ".join("w%d" % i for i in range(100))},
               {"scenario": "stall", "stall_ms": 30000})

    async def main():
        async with ChatClient(stack.ws_url) as c:
            rid = await c.start_chat("talk slowly")
            while (await c.first(rid))["status"] != "chunk":
                pass
            assert inflight(stack) == 1
            t0 = time.monotonic()
            await c.call("cancel", {"target": rid})
            end = await c.until_end(rid, timeout=5)
            assert code_of(end[-1]) == "cancelled"
            wait_until(lambda: inflight(stack) == 0, timeout=1.0,
                       what="the provider call to stop")
            assert time.monotonic() - t0 < 1.5
        d = ChatClient(stack.ws_url)
        await d.__aenter__()
        rid = await d.start_chat("stall please")
        await d.first(rid)                              # processing
        wait_until(lambda: inflight(stack) == 1, timeout=5,
                   what="the call to start")
        await d.abort()
        t0 = time.monotonic()
        await asyncio.sleep(0)
        wait_until(lambda: inflight(stack) == 0, timeout=1.0,
                   what="the provider call to stop after a disconnect")
        assert time.monotonic() - t0 < 1.0
    run(main())
