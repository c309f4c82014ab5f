"""The whole loop with real MCP tools (server-everything from
t/node_modules) and the offline demo provider that `make run` uses without
an API key: a tool call and its result streamed, parallel calls, the
tool-hop limit, list_tools, and the demo being honest about what it is."""

import asyncio
import json
import os
import signal
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from chat_client import ChatClient, conv_of, text_of  # noqa: E402
from stack import ROOT, Stack, wait_until  # noqa: E402

EVERYTHING = os.path.join(ROOT, "t", "node_modules", "@modelcontextprotocol",
                          "server-everything", "dist", "index.js")

pytestmark = pytest.mark.skipif(not os.path.exists(EVERYTHING),
                                reason="npm packages not installed "
                                       "(make npm-deps)")


def run(coro):
    return asyncio.run(coro)


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    d = tmp_path_factory.mktemp("chat_tools")
    servers = d / "servers.json"
    servers.write_text(json.dumps({"mcpServers": {"everything": {
        "command": "node", "args": [EVERYTHING, "stdio"]}}}))
    s = Stack(d, mcpd_yaml={
        "mcp": {"config_file": str(servers)},
        "chat": {"service": {"provider": "offline", "offline_delay": "0ms",
                             "max_tool_hops": 2}}})
    s.start()
    wait_until(lambda: s.health()["chat_stats"] is not None
               and tools_ready(s), timeout=30, what="everything's tools")
    yield s
    s.stop()


def tools_ready(s):
    async def main():
        async with ChatClient(s.ws_url) as c:
            return await c.call("list_tools")
    tools = run(main())["chunk"]["metadata"]["tools"]
    return len(tools) >= 5


def by_type(frames, t):
    return [f["chunk"] for f in frames if f["chunk"].get("type") == t]


def test_list_tools_names_server_and_schema(stack):
    async def main():
        async with ChatClient(stack.ws_url) as c:
            return await c.call("list_tools")
    tools = run(main())["chunk"]["metadata"]["tools"]
    names = {t["name"]: t for t in tools}
    assert "echo" in names
    assert names["echo"]["server"] == "everything"
    assert names["echo"]["description"]
    assert names["echo"]["parameters"]["type"] == "object"


def test_add_two_numbers_calls_get_sum_and_reports_the_result(stack):
    async def main():
        async with ChatClient(stack.ws_url) as c:
            f = await c.chat("please add 2 and 3")
            h = await c.call("history", {"conversation_id": conv_of(f)})
            return f, h
    f, h = run(main())
    assert f[-1]["status"] == "complete", f[-1]
    call = by_type(f, "tool_call")[0]
    assert call["data"]["tool"] in ("get-sum", "add", "everything__get-sum")
    assert call["data"]["arguments"] == {"a": 2, "b": 3}
    res = by_type(f, "tool_result")[0]
    assert res["data"]["status"] == "ok" and res["data"]["size"] > 0
    assert res["data"]["truncated"] is False
    # the result itself arrives live (whole, it is short) and is what
    # history stores
    stored = [m for m in h["chunk"]["metadata"]["messages"]
              if m["role"] == "tool_result"][0]
    assert res["data"]["preview"] == stored["content"]
    assert "5" in res["data"]["preview"]
    assert res["data"]["preview_truncated"] is False
    text = text_of(f)
    assert "offline demo provider" in text          # honest, every reply
    assert "5" in text.split("The tool answered:")[-1]
    assert f[-1]["chunk"]["metadata"]["hops"] == 1
    assert f[-1]["chunk"]["metadata"]["offline"] is True
    roles = [m["role"] for m in h["chunk"]["metadata"]["messages"]]
    assert roles == ["user", "assistant", "tool_call", "tool_result",
                     "assistant"]


def test_a_long_tool_result_arrives_as_a_bounded_preview(stack):
    """A long result's chunk carries its head (at most 2048 bytes, whole
    UTF-8 characters) with preview_truncated; history has all of it."""
    word = "h\u00e9llo "          # 7 bytes in UTF-8: cuts fall inside é

    async def main():
        async with ChatClient(stack.ws_url) as c:
            f = await c.chat("echo " + word * 600)
            h = await c.call("history", {"conversation_id": conv_of(f)})
            return f, h
    f, h = run(main())
    assert f[-1]["status"] == "complete", f[-1]
    res = by_type(f, "tool_result")[0]["data"]
    stored = [m for m in h["chunk"]["metadata"]["messages"]
              if m["role"] == "tool_result"][0]["content"]
    assert res["size"] == len(stored.encode()) > 4000
    assert res["preview_truncated"] is True
    preview = res["preview"].encode()
    assert 2048 - 3 <= len(preview) <= 2048
    assert stored.encode().startswith(preview)


def test_a_turns_tools_run_in_parallel(stack):
    async def main():
        async with ChatClient(stack.ws_url) as c:
            return await c.chat("offline:parallel")
    f = run(main())
    assert f[-1]["status"] == "complete"
    calls = by_type(f, "tool_call")
    results = by_type(f, "tool_result")
    assert len(calls) == 2 and len(results) == 2
    # both calls are announced before either result: they were started
    # together, not one after the other
    kinds = [x["chunk"].get("type") for x in f]
    assert max(i for i, k in enumerate(kinds) if k == "tool_call") < \
        min(i for i, k in enumerate(kinds) if k == "tool_result")
    assert all(r["data"]["status"] == "ok" for r in results)


def test_tool_hop_limit_with_real_tools(stack):
    async def main():
        async with ChatClient(stack.ws_url) as c:
            return await c.chat("offline:loop")
    f = run(main())
    assert f[-1]["status"] == "error"
    assert f[-1]["chunk"]["code"] == "tool_limit_reached"
    assert len(by_type(f, "tool_result")) == 2      # max_tool_hops 2


def test_status_says_offline(stack):
    st = stack.health()["chat_stats"]
    assert st["provider"]["offline"] is True
    assert st["tools"]["ok"] >= 1


def sysprompt_stack(make_stack, mock, servers, system_prompt, context):
    """A stack whose chat asks the LLM mock, with MCP items in its system
    prompt; started, and the prompt built."""
    s = make_stack(mcpd_yaml={
        "mcp": {"config_file": str(servers)},
        "llm": {"active": "mock", "providers": {"mock": {
            "base_url": mock.base_url, "model": "mock-text",
            "api_key_env": "", "http_client": {"http2": False}}}},
        "chat": {"service": {"provider": "llm",
                             "system_prompt": system_prompt,
                             "context": context}}})
    s.start()
    wait_until(lambda: "MCP item" in s.mcpd_log(), timeout=30,
               what="the system prompt to be built")
    return s


def chat_sent(s, mock):
    """Chat once; the request body the model got."""
    async def main():
        async with ChatClient(s.ws_url) as c:
            return await c.chat("hi")
    assert run(main())[-1]["status"] == "complete"
    body = [r for r in mock.requests()
            if r["path"].endswith("/chat/completions")][-1]["body"]
    return json.loads(body) if isinstance(body, str) else body


def test_mcp_prompt_and_resource_join_the_system_prompt(make_stack,
                                                        tmp_path):
    from test_llm_util import Mock
    mock = Mock()
    try:
        servers = tmp_path / "servers.json"
        servers.write_text(json.dumps({"mcpServers": {"everything": {
            "command": "node", "args": [EVERYTHING, "stdio"]}}}))
        uri = "demo://resource/static/document/features.md"
        s = sysprompt_stack(make_stack, mock, servers, "BASE PROMPT", {
            "mcp_prompt": "everything/simple-prompt",
            "mcp_resources": [uri]})
        mock.queue({"scenario": "text", "text": "ok"})
        body = chat_sent(s, mock)
        system = body["messages"][0]
        assert system["role"] == "system"
        assert system["content"].startswith("BASE PROMPT\n\n")
        assert "[resource %s]" % uri in system["content"]
        assert len(system["content"]) > 200
        # the MCP tools are offered to the model
        names = [t["function"]["name"] for t in body.get("tools", [])]
        assert "echo" in names
    finally:
        mock.stop()


def running_tools(s):
    return s.health()["chat_stats"]["tools"]["running"]


def test_cancel_and_disconnect_stop_a_running_tool(stack):
    async def main():
        # cancel: the 30 s operation stops now; the call stays in history
        # without a result, and the conversation goes on
        async with ChatClient(stack.ws_url) as c:
            rid = await c.start_chat("offline:long")
            while (await c.first(rid))["chunk"].get("type") != "tool_call":
                pass
            wait_until(lambda: running_tools(stack) == 1, timeout=5,
                       what="the tool to run")
            x = await c.call("cancel", {"target": rid})
            assert x["chunk"]["metadata"]["cancelled"] is True
            end = await c.until_end(rid, timeout=5)
            assert end[-1]["chunk"]["code"] == "cancelled"
            wait_until(lambda: running_tools(stack) == 0, timeout=1.0,
                       what="the tool call to stop")
            conv = end[-1]["chunk"]["conversation_id"]
            f = await c.chat("echo still here", conv=conv)
            assert f[-1]["status"] == "complete"
        # disconnect: the same within a second of the socket going away
        d = ChatClient(stack.ws_url)
        await d.__aenter__()
        rid = await d.start_chat("offline:long")
        while (await d.first(rid))["chunk"].get("type") != "tool_call":
            pass
        wait_until(lambda: running_tools(stack) == 1, timeout=5,
                   what="the tool to run")
        await d.abort()
        wait_until(lambda: running_tools(stack) == 0, timeout=1.0,
                   what="the tool call to stop after a disconnect")
        assert stack.health()["chat_stats"]["requests"]["active"] == 0
    run(main())


NOTES = os.path.join(ROOT, "t", "mcp", "notes_server.py")


def test_system_prompt_follows_mcp_prompt_and_resource_changes(make_stack,
                                                               tmp_path):
    """The configured MCP prompt and resources are read again when their
    server says they changed (prompts/list_changed, resources/updated for
    a subscribed resource, resources/list_changed otherwise): the next
    turn's system prompt has the new text, never the stale copy."""
    from test_llm_util import Mock
    subs, plain = tmp_path / "subs", tmp_path / "plain"
    subs.mkdir()
    plain.mkdir()
    (subs / "rules.txt").write_text("RULES v1")
    (subs / "memo.txt").write_text("MEMO v1")
    (plain / "todo.txt").write_text("TODO v1")
    servers = tmp_path / "servers.json"
    servers.write_text(json.dumps({"mcpServers": {
        "notes": {"command": sys.executable, "args": [NOTES, str(subs)]},
        "plain": {"command": sys.executable,
                  "args": [NOTES, str(plain), "--no-subscribe"]}}}))
    mock = Mock()
    try:
        s = sysprompt_stack(make_stack, mock, servers, "BASE", {
            "mcp_prompt": "notes/rules",
            "mcp_resources": ["notes://memo", "notes://todo"]})

        def system():
            return chat_sent(s, mock)["messages"][0]["content"]

        def becomes(new, old):
            wait_until(lambda: new in system(), timeout=10,
                       what="%r in the system prompt" % new)
            assert old not in system()

        first = system()
        for text in ("BASE", "RULES v1", "[resource notes://memo]\nMEMO v1",
                     "[resource notes://todo]\nTODO v1"):
            assert text in first
        # prompts/list_changed
        (subs / "rules.txt").write_text("RULES v2")
        becomes("RULES v2", "RULES v1")
        # resources/updated: notes offers subscriptions and mcpd took one
        (subs / "memo.txt").write_text("MEMO v2")
        becomes("MEMO v2", "MEMO v1")
        assert '"resources/subscribe"' in (subs / "requests.log").read_text()
        # resources/list_changed: plain does not offer subscriptions
        (plain / "todo.txt").write_text("TODO v2")
        becomes("TODO v2", "TODO v1")
        assert "subscribe" not in (plain / "requests.log").read_text()
        # a resource no longer listed is left out, not kept stale
        (plain / "todo.txt").unlink()
        wait_until(lambda: "notes://todo" not in system(), timeout=10,
                   what="the vanished resource to leave the prompt")
        assert "MEMO v2" in system() and "RULES v2" in system()
    finally:
        mock.stop()


def test_prometheus_labels_providers_and_servers(make_stack, tmp_path):
    """/health?format=prometheus gives the status objects of every part,
    per provider and per MCP server as labels, with the JSON's values."""
    from test_llm_util import Mock
    from test_chat_api import prom_samples
    mock = Mock()
    try:
        servers = tmp_path / "servers.json"
        servers.write_text(json.dumps({"mcpServers": {"everything": {
            "command": "node", "args": [EVERYTHING, "stdio"]}}}))
        s = make_stack(mcpd_yaml={
            "mcp": {"config_file": str(servers)},
            "llm": {"active": "mock", "providers": {"mock": {
                "base_url": mock.base_url, "model": "mock-text",
                "api_key_env": "", "http_client": {"http2": False}}}},
            "chat": {"service": {"provider": "llm"}}})
        s.start()
        wait_until(lambda: s.health()["mcp_stats"]["servers_ready"] == 1,
                   timeout=30, what="everything to be ready")

        async def main():
            async with ChatClient(s.ws_url) as c:
                return await c.chat("hi")
        assert run(main())[-1]["status"] == "complete"
        js = s.health()
        prom = prom_samples(s.health_text("?format=prometheus"))
        llm = js["llm_client_stats"]["providers"]["mock"]
        srv = js["mcp_stats"]["servers"]["everything"]
        assert llm["completed"] == 1
        assert prom[("mcp_llm_providers_completed",
                     'provider="mock"')] == 1
        assert prom[("mcp_llm_providers_tokens_out", 'provider="mock"')] \
            == llm["tokens"]["out"]
        assert prom[("mcp_host_servers_restarts",
                     'server="everything"')] == srv["restarts"]
        assert prom[("mcp_host_servers_total", "")] == 1
        repo = js["repository_stats"]
        assert prom[("mcp_repository_writers_commits", "")] == \
            repo["writers"]["commits"] >= 1
        assert prom[("mcp_chat_requests_completed", "")] == 1
    finally:
        mock.stop()


def test_tool_call_waits_for_a_restarting_server(make_stack, tmp_path):
    """The MCP server's process is killed; the next chat's tool call
    comes while mcpd is restarting it (backoff): the call waits for the
    new process instead of failing, and the turn completes with the
    tool's real result."""
    servers = tmp_path / "servers.json"
    servers.write_text(json.dumps({"mcpServers": {"everything": {
        "command": "node", "args": [EVERYTHING, "stdio"]}}}))
    s = make_stack(mcpd_yaml={
        "mcp": {"config_file": str(servers),
                "connection": {"initial_reconnect_delay": "500ms"}},
        "chat": {"service": {"provider": "offline",
                             "offline_delay": "0ms"}}})
    s.start()

    def everything():
        return s.health()["mcp_stats"]["servers"]["everything"]
    wait_until(lambda: everything()["state"] == "ready"
               and everything()["tools"] > 0, timeout=30,
               what="everything ready")
    pid = everything()["pid"]
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: everything()["state"] != "ready", timeout=10,
               what="the loss noticed")

    async def main():
        async with ChatClient(s.ws_url) as c:
            return await c.chat("please add 2 and 3")
    f = run(main())
    assert f[-1]["status"] == "complete", f[-1]
    res = by_type(f, "tool_result")[0]["data"]
    assert res["status"] == "ok", res
    assert "5" in res["preview"]
    st = everything()
    assert st["restarts"] == 1 and st["pid"] not in (0, pid)
