"""The MCP host against the real npm reference servers over stdio, driven
through `mcpd -c CONFIG mcp ...` (the same host code the daemon runs)."""

import json
import os
import re
import signal
import sys
import time

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "mcp"))

from mcphost import (HostConfig, Shell, bad, everything, filesystem,  # noqa: E402
                     memory, run_cli)

NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


@pytest.fixture
def three(tmp_path):
    files = tmp_path / "files"
    files.mkdir()
    (files / "hello.txt").write_text("hello from the filesystem server\n")
    return HostConfig(tmp_path, servers={
        "everything": everything(),
        "fs": filesystem(files),
        "memory": memory(tmp_path / "memory.jsonl"),
    }), files


def test_list_all_three_servers(three):
    cfg, _ = three
    rc, doc, err = run_cli(cfg, "list")
    assert rc == 0, err
    by = {s["name"]: s for s in doc["servers"]}
    for name in ("everything", "fs", "memory"):
        assert by[name]["state"] == "ready", by[name]
        assert by[name]["protocol_version"] == "2025-11-25"
        assert by[name]["transport"] == "stdio"
    assert len(by["everything"]["tools"]) >= 10
    assert len(by["everything"]["prompts"]) == 4
    assert len(by["everything"]["resources"]) >= 7
    assert len(by["fs"]["tools"]) >= 10
    assert len(by["memory"]["tools"]) == 9

    tools = doc["openai_tools"]
    names = [t["function"]["name"] for t in tools]
    assert len(names) == len(set(names))
    assert all(NAME_RE.match(n) for n in names)
    for t in tools:
        # only what a provider accepts goes to the model
        assert set(t) == {"type", "function"}
        assert set(t["function"]) == {"name", "description", "parameters"}
        assert "$schema" not in t["function"]["parameters"]
    # the map goes both ways, to the original names
    m = {e["exposed"]: (e["server"], e["tool"]) for e in doc["tool_names"]}
    assert m["get-sum"] == ("everything", "get-sum")
    assert m["read_graph"] == ("memory", "read_graph")
    # the daemon log names each server
    assert "fs: stderr: Secure MCP Filesystem Server" in err


def test_name_collisions_get_server_prefix(tmp_path):
    # two copies of the same server: every tool name collides
    cfg = HostConfig(tmp_path, servers={"a": everything(),
                                        "b.two": everything()})
    rc, doc, err = run_cli(cfg, "list")
    assert rc == 0, err
    m = {e["exposed"]: (e["server"], e["tool"]) for e in doc["tool_names"]}
    assert m["a__get-sum"] == ("a", "get-sum")
    assert m["b_two__get-sum"] == ("b.two", "get-sum")
    assert "get-sum" not in m
    names = [t["function"]["name"] for t in doc["openai_tools"]]
    assert sorted(names) == sorted(m)


def test_call_prompt_read(three):
    cfg, files = three
    rc, doc, err = run_cli(cfg, "call", "everything", "get-sum",
                           '{"a": 2, "b": 40}')
    assert rc == 0, err
    assert doc["isError"] is False
    assert "42" in doc["text"]

    rc, doc, err = run_cli(cfg, "call", "fs", "read_text_file",
                           json.dumps({"path": str(files / "hello.txt")}))
    assert rc == 0, err
    assert "hello from the filesystem server" in doc["text"]

    # a tool error is a result with isError, and the exit status says so
    rc, doc, err = run_cli(cfg, "call", "fs", "read_text_file",
                           '{"path": "/etc/passwd"}')
    assert rc == 1
    assert doc["isError"] is True
    assert "Access denied" in doc["text"]

    rc, doc, err = run_cli(cfg, "prompt", "everything", "args-prompt",
                           '{"city": "Paris", "state": "Texas"}')
    assert rc == 0, err
    text = json.dumps(doc["result"]["messages"])
    assert "Paris" in text

    rc, doc, err = run_cli(cfg, "read", "everything",
                           "demo://resource/static/document/architecture.md")
    assert rc == 0, err
    assert doc["result"]["contents"][0]["text"].startswith("#")

    # media stays out of the model's text
    rc, doc, err = run_cli(cfg, "call", "everything", "get-tiny-image")
    assert rc == 0, err
    assert "[image: image/png" in doc["text"]
    assert "iVBOR" not in doc["text"]


def test_shell_memory_and_pagination_free_lists(three):
    cfg, _ = three
    with Shell(cfg) as sh:
        sh.wait_ready("memory")
        r = sh.call("memory", "create_entities", {"entities": [
            {"name": "mcpd", "entityType": "daemon",
             "observations": ["speaks MCP"]}]})
        assert r["isError"] is False, r
        r = sh.call("memory", "read_graph")
        assert "speaks MCP" in r["text"]
        r = sh.ask(op="read", server="memory", uri="memory://knowledge-graph")
        # whichever URI the server uses, the answer is a result or a
        # JSON-RPC error, never a hang
        assert "result" in r or "error" in r


def test_progress_extends_deadline_and_timeout_fails_only_the_call(tmp_path):
    cfg = HostConfig(tmp_path, servers={"everything": everything()},
                     mcp={"call_timeout": "1500ms"})
    with Shell(cfg) as sh:
        sh.wait_ready("everything")
        # 3 s of work with progress every 0.5 s: longer than the timeout,
        # but every progress notification restarts the clock
        r = sh.call("everything", "trigger-long-running-operation",
                    {"duration": 3, "steps": 6})
        assert r["isError"] is False, r
        assert "completed" in r["text"]

        # 8 s in one step: no progress in time, so the call times out
        # (long before the work would have ended) ...
        t0 = time.monotonic()
        r = sh.call("everything", "trigger-long-running-operation",
                    {"duration": 8, "steps": 1})
        assert r["isError"] is True
        assert "timed out" in r["text"]
        assert time.monotonic() - t0 < 7
        # ... and only the call: the server stays up and answers
        r = sh.call("everything", "get-sum", {"a": 1, "b": 2})
        assert r["isError"] is False and "3" in r["text"]
        st = sh.server("everything")
        assert st["state"] == "ready"
        assert st["timeouts"] == 1
        assert st["restarts"] == 0
        assert st["calls"] == 3


def test_server_requests_answered(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    cfg = HostConfig(tmp_path, servers={"everything": everything()},
                     mcp={"roots": [str(root)]})
    with Shell(cfg) as sh:
        sh.wait_ready("everything")
        # the server asks mcpd for its roots (roots/list) inside the call
        r = sh.call("everything", "get-roots-list")
        assert r["isError"] is False, r
        assert "file://" + str(root) in r["text"]
        # sampling is declined with a JSON-RPC error, the call still ends
        r = sh.call("everything", "trigger-sampling-request",
                    {"prompt": "hi"}, timeout=20)
        assert r["isError"] is True
        assert r.get("text")
        # the server is fine afterwards
        assert sh.call("everything", "get-sum",
                       {"a": 1, "b": 1})["isError"] is False


def test_kill_server_mid_call_then_restart(tmp_path):
    cfg = HostConfig(tmp_path, servers={"everything": everything()})
    with Shell(cfg) as sh:
        st = sh.wait_ready("everything")
        pid = st["pid"]
        assert pid > 0
        rid = sh.send(op="call", server="everything",
                      tool="trigger-long-running-operation",
                      args={"duration": 10, "steps": 10})
        time.sleep(0.5)
        os.kill(pid, signal.SIGKILL)
        r = sh.wait(rid, timeout=10)
        assert r["isError"] is True
        assert "went away" in r["text"] and "signal 9" in r["text"], r
        st = sh.wait_state("everything", lambda s: s["state"] == "ready"
                           and s["pid"] not in (0, pid), what="restarted")
        assert st["restarts"] == 1
        r = sh.call("everything", "get-sum", {"a": 20, "b": 22})
        assert r["isError"] is False and "42" in r["text"]
        assert "lost (process %d killed by signal 9" % pid in sh.log()


def test_unknown_server_and_tool(three):
    cfg, _ = three
    rc, doc, err = run_cli(cfg, "call", "nope", "x")
    assert rc == 1
    assert "no server named 'nope'" in err
    with Shell(cfg) as sh:
        r = sh.ask(op="call", name="no_such_tool", args={})
        assert r["isError"] is True and "no such tool" in r["text"]


def test_call_waits_for_a_server_that_is_starting(tmp_path):
    """A call made while its server is still starting waits for it to be
    ready (within the call's timeout) instead of failing at once."""
    cfg = HostConfig(tmp_path, servers={"everything": everything()})
    with Shell(cfg) as sh:
        r = sh.call("everything", "get-sum", {"a": 40, "b": 2})
        assert r["isError"] is False, r
        assert "42" in r["text"]


def test_call_right_after_a_kill_waits_for_the_restart(tmp_path):
    """Killed between two calls, the server is restarting (backoff, then
    starting) when the next call comes: that call goes out once the new
    process is ready, and succeeds."""
    cfg = HostConfig(tmp_path, servers={"everything": everything()})
    with Shell(cfg) as sh:
        pid = sh.wait_ready("everything")["pid"]
        os.kill(pid, signal.SIGKILL)
        sh.wait_state("everything", lambda s: s["state"] != "ready",
                      what="the loss noticed")
        r = sh.call("everything", "get-sum", {"a": 20, "b": 22})
        assert r["isError"] is False, r
        assert "42" in r["text"]
        st = sh.server("everything")
        assert st["restarts"] == 1 and st["pid"] not in (0, pid)


def test_call_to_a_server_that_never_comes_up(tmp_path):
    """A server that keeps failing to start: a call waits at most its
    timeout, then fails with the server's state and last error, as a call
    to a server that is down always did; if the server is given up for
    good while a call waits, the call fails then."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    cfg = HostConfig(tmp_path / "a", servers={
        "dies": dict(bad("exit"), timeout=1500)},
        mcp={"connection": {"max_reconnect_attempts": 0}})
    with Shell(cfg) as sh:
        t0 = time.monotonic()
        r = sh.call("dies", "echo", timeout=20)
        waited = time.monotonic() - t0
        assert r["isError"] is True, r
        assert re.search(r"dies: server is (starting|backoff)", r["text"]), r
        assert "exited with status 3" in r["text"], r
        assert waited >= 1.4, waited
    cfg = HostConfig(tmp_path / "b", servers={
        "gives_up": dict(bad("exit"), timeout=60000)},
        mcp={"connection": {"max_reconnect_attempts": 3}})
    with Shell(cfg) as sh:
        r = sh.call("gives_up", "echo", timeout=20)
        assert r["isError"] is True, r
        assert "gives_up: server is failed: gave up after 3" in r["text"], r
