"""Servers that misbehave: mcpd stays up, says what happened, and the
other servers never notice.  Also servers.json validation."""

import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "mcp"))

from mcphost import HostConfig, Shell, bad, everything, run_cli  # noqa: E402


def test_bad_servers_do_not_hurt_the_good_one(tmp_path):
    cfg = HostConfig(tmp_path, servers={
        "garbage": bad("garbage"),
        "noinit": bad("noinit"),
        "dies": bad("exit"),
        "big": bad("big"),
        "missing": {"command": "/nonexistent/server"},
        "good": everything(),
    }, mcp={"max_result_size": "64k",
            "connection": {"connection_timeout": "5s",
                           "max_reconnect_attempts": 2,
                           "initial_reconnect_delay": "100ms",
                           "max_reconnect_delay": "300ms"}})
    with Shell(cfg) as sh:
        sh.wait_ready("good")
        # garbage on stdout is logged and skipped; the server works
        st = sh.wait_ready("garbage")
        r = sh.call("garbage", "echo", {"text": "still here"})
        assert r["isError"] is False and r["text"] == "still here"
        assert "garbage: not JSON-RPC on stdout" in sh.log()

        # a 10 MB result reaches the model capped, head and tail kept
        r = sh.call("big", "big", timeout=60)
        assert r["isError"] is False
        assert r["truncated"] is True
        assert r["full_len"] >= 10 * 1024 * 1024
        assert len(r["text"].encode()) <= 64 * 1024
        assert r["text"].startswith("HEAD") and r["text"].endswith("TAIL")
        assert "bytes truncated by mcpd" in r["text"]

        # never answers initialize: retried with backoff, then given up
        st = sh.wait_state("noinit", lambda s: s["state"] == "failed",
                           timeout=30, what="failed")
        assert "initialize timed out" in st["last_error"]
        assert st["failed_starts"] == 2

        # exits at once: the exit status and its stderr are in the log
        st = sh.wait_state("dies", lambda s: s["state"] == "failed",
                           timeout=20, what="failed")
        assert "exited with status 3" in st["last_error"]
        assert "dies: stderr: fatal: cannot open database" in sh.log()

        # a command that does not exist is a config error: no retries
        st = sh.server("missing")
        assert st["state"] == "failed"
        assert "no such file or directory" in st["last_error"]
        assert st["failed_starts"] == 1

        # a call to a failed server fails at once, clearly
        r = sh.call("dies", "echo")
        assert r["isError"] is True and "server is failed" in r["text"]

        # and through all of it the good server never noticed
        st = sh.server("good")
        assert st["state"] == "ready" and st["restarts"] == 0
        assert sh.call("good", "get-sum", {"a": 1, "b": 1})["isError"] is False
    assert sh.rc == 0


def test_hung_server_is_restarted_by_ping(tmp_path):
    cfg = HostConfig(tmp_path, servers={"hang": bad("hang")},
                     mcp={"call_timeout": "500ms",
                          "connection": {"ping_interval": "300ms",
                                         "ping_timeout": "300ms",
                                         "max_reconnect_attempts": 0}})
    with Shell(cfg) as sh:
        st = sh.wait_state("hang", lambda s: s["restarts"] >= 1,
                           timeout=20, what="restarted")
        assert "no answer to ping" in sh.log()
        # calls time out, one at a time, without taking the server down
        r = sh.call("hang", "echo")
        assert r["isError"] is True


def bad_config(tmp_path, text):
    cfg = HostConfig(tmp_path, raw_servers=text)
    rc, doc, err = run_cli(cfg, "list")
    assert rc == 1 and doc is None
    return err.strip()


def test_servers_json_errors_are_clear(tmp_path):
    err = bad_config(tmp_path, '{"mcpServers": {"a": {"command": "x",}}}')
    assert "servers.json:1:" in err
    err = bad_config(tmp_path, '{"mcpServers": {"a": {"comand": "x"}}}')
    assert "mcpServers.a: unknown key 'comand'" in err
    err = bad_config(tmp_path, '{"mcpServers": {"a": {"command": "x", '
                               '"args": "-v"}}}')
    assert "mcpServers.a.args must be an array of strings" in err
    err = bad_config(tmp_path, '{"mcpServers": {"a": {"command": "x", '
                               '"url": "http://h/mcp"}}}')
    assert "either 'command' (stdio) or 'url' (HTTP), not both" in err
    err = bad_config(tmp_path, '{"mcpServers": {"a": {"url": "ftp://h"}}}')
    assert "url must start with http:// or https://" in err
    err = bad_config(tmp_path, '{"mcpServers": {"a": {"command": "x", '
                               '"env": {"A": 1}}}}')
    assert "mcpServers.a.env.A must be a string" in err
    err = bad_config(tmp_path, '{"servers": {}}')
    assert "unknown top-level key 'servers'" in err
    err = bad_config(tmp_path, '{"mcpServers": {"a": {"enabled": "yes", '
                               '"command": "x"}}}')
    assert "enabled must be true or false" in err


def test_disabled_and_comments(tmp_path):
    cfg = HostConfig(tmp_path, raw_servers=json.dumps({
        "_comment": "ignored",
        "mcpServers": {"off": {"enabled": False, "command": "/nonexistent",
                               "_note": "also ignored"}}}))
    rc, doc, err = run_cli(cfg, "list")
    assert rc == 0, err
    assert doc["servers"] == [] and doc["openai_tools"] == []


def test_pagination_and_odd_names(tmp_path):
    cfg = HostConfig(tmp_path, servers={"paged": bad("paged")})
    rc, doc, err = run_cli(cfg, "list")
    assert rc == 0, err
    s = doc["servers"][0]
    names = [t["name"] for t in s["tools"]]
    # every page was read, in order
    assert names == ["t0", "t1", "t2", "t3", "t4", "files.read", "x" * 100]
    m = {e["tool"]: e["exposed"] for e in doc["tool_names"]}
    assert m["files.read"] == "files_read"
    assert len(m["x" * 100]) == 64 and m["x" * 100].startswith("x" * 55)
