"""The MCP host inside the running daemon: servers start in the
background at boot, mcp_stats answers through the link's STATS request
(what /health splices in), and a stop takes the children down."""

import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "mcp"))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))

from linkclient import Link  # noqa: E402
from mcphost import bad, everything  # noqa: E402
from stack import wait_until  # noqa: E402


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is gone for our purpose
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split()[2] != "Z"
    except OSError:
        return False


def test_daemon_runs_servers_and_reports_mcp_stats(tmp_path, make_mcpd):
    servers = tmp_path / "servers.json"
    servers.write_text(json.dumps({"mcpServers": {
        "everything": everything(),
        "dies": bad("exit"),
    }}))
    m = make_mcpd({"mcp": {
        "config_file": str(servers),
        "connection": {"initial_reconnect_delay": "5s"}}})
    t0 = time.monotonic()
    m.start()
    # the link is up before any MCP server is: boot never waits for them
    with Link(m.socket) as link:
        link.hello()
        first = link.stats()["mcp_stats"]
        assert first["servers_total"] == 2
        assert time.monotonic() - t0 < 5

        def ready():
            st = link.stats()["mcp_stats"]
            e = st["servers"]["everything"]
            return st if e["state"] == "ready" and e["tools"] > 0 else None

        st = wait_until(ready, timeout=30, what="everything ready")
        e = st["servers"]["everything"]
        assert e["transport"] == "stdio"
        assert e["protocol_version"] == "2025-11-25"
        assert e["prompts"] == 4 and e["resources"] >= 7
        assert set(e["latency_ms"]) == {"p50", "p99"}
        assert st["tools"] >= 10
        pid = e["pid"]

        h = wait_until(lambda: link.stats()["mcp_stats"]["servers"]["dies"]
                       if link.stats()["mcp_stats"]["servers"]["dies"]
                       ["failed_starts"] >= 1 else None,
                       timeout=15, what="dies to fail its first start")
        assert h["state"] in ("backoff", "starting")
        assert "exited with status 3" in h["last_error"]

    assert m.stop() == 0
    assert "everything: ready" in m.log()
    # the children went with it
    wait_until(lambda: not pid_alive(pid), timeout=10,
               what="server process %d to exit" % pid)


def test_health_shows_mcp_stats(tmp_path, make_stack):
    servers = tmp_path / "servers.json"
    servers.write_text(json.dumps({"mcpServers": {
        "everything": everything()}}))
    s = make_stack(mcpd_yaml={"mcp": {"config_file": str(servers)}})
    s.start()

    def ready():
        h = s.health()
        st = h.get("mcp_stats", {})
        return h if st.get("servers_ready") == 1 and st["tools"] else None

    h = wait_until(ready, timeout=30, what="mcp_stats in /health")
    e = h["mcp_stats"]["servers"]["everything"]
    assert e["state"] == "ready" and e["tools"] >= 10
    assert e["restarts"] == 0 and e["calls"] == 0
