"""The link to mcpd seen from clients, reloads and /health.

mcpd killed and restarted while clients stay connected; nginx reloaded
with sockets open (close 1001, the count back to zero); the status
document in JSON and Prometheus text."""

import os
import re
import signal
import sys
import time

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))

from stack import wait_until  # noqa: E402
from wsclient import OP_CLOSE, OP_TEXT, WSClient  # noqa: E402


def ping(c, rid="p", timeout=5):
    return c.request({"action": "ping", "request_id": rid}, timeout)


def ws_stats(s):
    return s.health()["websocket_stats"]


def test_mcpd_restart_keeps_clients(stack):
    clients = [WSClient.connect(stack.port) for _ in range(4)]
    for c in clients:
        assert ping(c)["chunk"]["type"] == "pong"

    stack.kill_mcpd(signal.SIGKILL)

    # still connected; messages get a clear error with their request id
    for i, c in enumerate(clients):
        r = ping(c, "down-%d" % i)
        assert r["request_id"] == "down-%d" % i
        assert r["status"] == "error"
        assert r["chunk"]["code"] == "backend_unavailable"

    c = clients[0]
    c.send_text("not json at all")
    r = c.recv_json()
    assert r["request_id"] is None
    assert r["chunk"]["code"] == "backend_unavailable"

    h = stack.health()
    assert h["status"] == "degraded"
    assert h["websocket_stats"]["backend_unavailable_replies"] >= 5
    assert "mcpd" not in h

    stack.start_mcpd()

    # the link comes back by itself and the sessions are replayed
    def pong_again(c):
        r = ping(c, "back")
        return r["status"] == "complete"

    for c in clients:
        wait_until(lambda: pong_again(c), 15, interval=0.1,
                   what="pong after mcpd restart")

    # ok once every worker has its link again, not only the clients' ones
    h = wait_until(lambda: (lambda h: h["status"] == "ok" and h)(
        stack.health()), 15, what="every worker's link back")
    assert h["backend"]["reconnects"] >= 1
    assert h["mcpd"]["sessions"] >= 4
    for c in clients:
        c.close(1000)
        c.expect_close(echo=False)


def test_mcpd_down_at_upgrade_then_up(make_stack):
    s = make_stack()
    s.start()
    s.kill_mcpd(signal.SIGTERM)
    with WSClient.connect(s.port) as c:
        assert ping(c)["chunk"]["code"] == "backend_unavailable"
        s.start_mcpd()
        wait_until(lambda: ping(c, "up")["status"] == "complete", 15,
                   interval=0.1, what="session opened after reconnect")


def test_reload_closes_1001_and_count_returns_to_zero(stack):
    clients = [WSClient.connect(stack.port) for _ in range(5)]
    for c in clients:
        assert ping(c)["status"] == "complete"
    assert ws_stats(stack)["active"] == 5

    stack.write_nginx_conf()
    stack.nginx.send_signal(signal.SIGHUP)

    for c in clients:
        code, reason = c.expect_close(timeout=10)
        assert code == 1001
        assert c.wait_eof(5)
        c.shutdown()

    wait_until(lambda: ws_stats(stack)["active"] == 0, 15,
               what="active back to 0 after reload")
    # the new workers serve
    with WSClient.connect(stack.port) as c:
        assert ping(c)["status"] == "complete"
    assert ws_stats(stack)["closed"]["1001"] >= 5
    log = stack.error_log()
    assert "[alert]" not in log and "exited on signal" not in log, log


def test_reload_with_silent_clients_still_drains(stack):
    """Clients that never answer the close: the closing timeout ends them,
    the old workers exit, the count returns to zero."""
    clients = [WSClient.connect(stack.port) for _ in range(3)]
    wait_until(lambda: ws_stats(stack)["active"] == 3, 5, what="3 active")
    stack.reload_nginx(timeout=20)
    wait_until(lambda: ws_stats(stack)["active"] == 0, 10, what="drained")
    for c in clients:
        c.shutdown()


def test_worker_crash_gives_slots_back(make_stack):
    s = make_stack(nginx_location={"mcp_max_connections": "3"})
    s.start()
    clients = [WSClient.connect(s.port) for _ in range(3)]
    wait_until(lambda: ws_stats(s)["active"] == 3, 5, what="3 active")
    for pid in s._worker_pids():
        os.kill(pid, signal.SIGKILL)
    # the master respawns; the dead workers' slots are reclaimed
    wait_until(lambda: ws_stats(s)["active"] == 0, 10, what="reclaimed")
    for _ in range(3):
        c = WSClient.connect(s.port)
        clients.append(c)
        assert ping(c)["status"] == "complete"
    for c in clients:
        c.shutdown()


def test_health_document(stack):
    with WSClient.connect(stack.port) as c:
        assert ping(c)["status"] == "complete"
        h = stack.health()
        assert h["status"] == "ok"
        ws = h["websocket_stats"]
        for k in ("active", "max", "queued", "queue_max", "accepted",
                  "rejected", "closed", "frames_in", "frames_out",
                  "bytes_in", "bytes_out", "backpressure", "ping_rtt_ms"):
            assert k in ws, k
        assert ws["active"] == 1 and ws["max"] == 1000
        assert ws["queue_max"] == 1000
        assert ws["frames_in"] >= 1 and ws["bytes_in"] > 0
        assert ws["frames_out"] >= 1 and ws["bytes_out"] > 0
        assert set(ws["rejected"]) >= {"handshake", "version", "origin",
                                       "queue_full", "queue_timeout"}
        b = h["backend"]
        assert b["state"] == "up"
        assert len(b["workers"]) == 2
        assert all(w["link"] == "up" for w in b["workers"])
        assert h["mcpd"]["links"] == 2      # spliced from mcpd's STATS


def test_health_prometheus(stack):
    with WSClient.connect(stack.port) as c:
        assert ping(c)["status"] == "complete"
        text = stack.health_text("?format=prometheus")
    lines = [l for l in text.splitlines() if l and not l.startswith("#")]
    metrics = {}
    for l in lines:
        name, _, value = l.rpartition(" ")
        float(value)
        metrics[name] = float(value)
    assert metrics["mcp_websocket_accepted_total"] >= 1
    assert 'mcp_websocket_frames_total{direction="in"}' in metrics
    assert 'mcp_websocket_rejected_total{reason="queue_full"}' in metrics
    assert any(k.startswith("mcp_backend_link_up{") for k in metrics)
    # no user, session or conversation ids as labels (mcpd's figures
    # follow the module's: a count of principals is fine, a label is not)
    labels = re.findall(r'[{,](\w+)="', text)
    assert labels and not {"principal", "sid", "session", "user",
                           "conversation", "conversation_id"} & set(labels)


def test_graceful_stop_sends_1001(make_stack):
    s = make_stack()
    s.start()
    clients = [WSClient.connect(s.port) for _ in range(3)]
    for c in clients:
        assert ping(c)["status"] == "complete"
    s.nginx.send_signal(signal.SIGQUIT)
    for c in clients:
        code, reason = c.expect_close(timeout=10)
        assert code == 1001 and "restarting" in reason
        assert c.wait_eof(5)
    s.nginx.wait(10)
    assert "[alert]" not in s.error_log()


def test_reload_answers_queued_upgrades_503(make_stack):
    s = make_stack(nginx_location={"mcp_max_connections": "1",
                                   "mcp_connection_queue_timeout": "30s"})
    s.start()
    a = WSClient.connect(s.port)
    req, _ = WSClient.handshake_request()
    import socket as _s
    q = _s.create_connection(("127.0.0.1", s.port), timeout=10)
    q.sendall(req)
    wait_until(lambda: ws_stats(s)["queued"] == 1, 5, what="queued")
    s.write_nginx_conf()
    s.nginx.send_signal(signal.SIGHUP)
    status, headers, _ = WSClient._read_response(q, 10)
    assert status == 503 and "retry-after" in headers
    code, _ = a.expect_close(timeout=10)
    assert code == 1001
    q.close()
    a.shutdown()
    wait_until(lambda: ws_stats(s)["active"] == 0
               and ws_stats(s)["queued"] == 0, 15, what="all released")
    assert ws_stats(s)["rejected"]["shutdown"] == 1
