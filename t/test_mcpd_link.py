"""mcpd's side of the link, driven directly over the unix socket as an nginx
worker would (docs/protocol.md), without nginx."""

import json
import os
import signal
import socket
import struct
import time

import pytest

import linkclient as L
from linkclient import Link, LinkClosed
from stack import wait_until


def ping(l, sid, rid="p"):
    return l.request(sid, {"action": "ping", "request_id": rid})


def pong(rid):
    return {"request_id": rid, "status": "complete", "chunk": {"type": "pong"}}


# ------------------------------------------------------------ handshake

def test_hello_negotiates_highest_common_version(mcpd):
    with Link(mcpd.socket) as l:
        vmin, vmax, pid, worker = l.hello(vmin=1, vmax=7, worker=3)
        assert (vmin, vmax) == (1, 1)
        assert pid == mcpd.proc.pid


def test_hello_without_overlap_is_refused_and_closed(mcpd):
    with Link(mcpd.socket) as l:
        l.send(L.HELLO, 0, L.hello_payload(2, 5))
        frames = l.expect_closed()
        assert len(frames) == 1
        ftype, flags, sid, payload = frames[0]
        assert (ftype, sid) == (L.CLOSE, 0)
        code, = struct.unpack(">H", payload[:2])
        assert code == 1002
        assert b"no common link version" in payload[2:]
    assert "refused" in mcpd.log()
    # and mcpd is still there for others
    with Link(mcpd.socket) as l:
        l.hello()


def test_frame_before_hello_drops_link(mcpd):
    with Link(mcpd.socket) as l:
        l.open(1)
        assert l.expect_closed() == []
    assert "frame before HELLO" in mcpd.log()


# ------------------------------------------------------------ messages

def test_open_and_ping(link):
    link.open(1)
    assert ping(link, 1, "x") == pong("x")


BAD_INPUTS = [
    (b"not json", None, "invalid_json"),
    (b"{\"action\": \"ping\", ", None, "invalid_json"),
    (b"", None, "invalid_json"),
    (b"[1, 2]", None, "invalid_request"),
    (b"\"ping\"", None, "invalid_request"),
    (b"42", None, "invalid_request"),
    (b"{\"request_id\": \"r1\"}", "r1", "invalid_request"),
    (b"{\"action\": \"\", \"request_id\": \"r2\"}", "r2", "invalid_request"),
    (b"{\"action\": 5, \"request_id\": \"r3\"}", "r3", "invalid_request"),
    (b"{\"action\": null, \"request_id\": \"r4\"}", "r4", "invalid_request"),
    (b"{\"action\": \"ping\", \"request_id\": 7}", None, "invalid_request"),
    (b"{\"action\": \"ping\"}", None, "invalid_request"),
    (b"{\"action\": \"ping\", \"request_id\": \"\"}", None, "invalid_request"),
    (json.dumps({"action": "ping", "request_id": "x" * 129}).encode(), None,
     "invalid_request"),
    (b"{\"action\": \"fly\", \"request_id\": \"r5\"}", "r5", "unknown_action"),
    (b"{\"action\": \"chat\", \"request_id\": \"r6\"}", "r6", "invalid_request"),  # chat: payload is required
]


@pytest.mark.parametrize("raw,rid,code", BAD_INPUTS)
def test_bad_input_gets_its_error_and_session_stays(link, raw, rid, code):
    link.open(9)
    r = link.request(9, raw)
    assert r["request_id"] == rid
    assert r["status"] == "error"
    assert r["chunk"]["code"] == code
    assert isinstance(r["chunk"]["error"], str) and r["chunk"]["error"]
    assert ping(link, 9, "after") == pong("after")


def test_many_sessions_on_one_link(link):
    for sid in range(1, 201):
        link.open(sid)
    for sid in range(1, 201):
        link.message(sid, {"action": "ping", "request_id": "s%d" % sid})
    for sid in range(1, 201):
        assert link.reply(sid) == pong("s%d" % sid)


def test_message_for_unknown_session_gets_close(link):
    link.message(77, {"action": "ping", "request_id": "x"})
    ftype, flags, sid, payload = link.recv(L.CLOSE, 77)
    assert struct.unpack(">H", payload[:2])[0] == 1011
    assert payload[2:] == b"unknown session"


# ------------------------------------------------------------ OPEN / CLOSE

def test_open_attributes_and_replayed_open(link):
    attrs = {"addr": "10.0.0.1", "principal": "alice", "uri": "/ws/chat?a=1",
             "h:origin": "http://x", "q:a": "1"}
    link.open(5, attrs)
    assert ping(link, 5, "a") == pong("a")
    # the module reconnected elsewhere and replays; on the same link a
    # repeated OPEN of a live sid keeps the session
    link.open(5, attrs, replay=True)
    link.open(5, {"addr": "10.0.0.2"}, replay=True)
    assert ping(link, 5, "b") == pong("b")
    assert link.stats()["mcpd"]["sessions"] == 1


def test_replay_on_new_link_after_reconnect(mcpd):
    with Link(mcpd.socket) as l:
        l.hello()
        l.open(3)
        assert ping(l, 3) == pong("p")
    with Link(mcpd.socket) as l:
        l.hello()
        l.open(3, replay=True)
        assert ping(l, 3, "again") == pong("again")
        wait_until(lambda: l.stats()["mcpd"]["links"] == 1, 5,
                   what="old link to be gone")
        assert l.stats()["mcpd"]["sessions"] == 1


def test_close_forgets_session(link):
    link.open(4)
    assert link.stats()["mcpd"]["sessions"] == 1
    link.close_session(4, 1000, b"bye")
    wait_until(lambda: link.stats()["mcpd"]["sessions"] == 0, 5,
               what="session to close")
    link.message(4, {"action": "ping", "request_id": "x"})
    assert link.recv(L.CLOSE, 4)[0] == L.CLOSE
    # the sid can be opened again
    link.open(4)
    assert ping(link, 4, "again") == pong("again")
    # CLOSE of an unknown sid is ignored
    link.close_session(999)
    assert ping(link, 4, "still") == pong("still")


def test_malformed_close_drops_link(mcpd):
    with Link(mcpd.socket) as l:
        l.hello()
        l.open(1)
        l.send(L.CLOSE, 1, b"\x03")
        assert l.expect_closed() == []
    assert "malformed CLOSE" in mcpd.log()


# ------------------------------------------------------------ FLOW

def test_flow_pause_and_resume_keep_session_working(link):
    link.open(6)
    link.open(7)
    link.flow(6, True)
    assert link.stats()["mcpd"]["sessions_paused"] == 1
    # requests still get their answers: pause throttles producers, it
    # does not swallow messages (ping answers at once)
    assert ping(link, 6, "paused") == pong("paused")
    link.flow(6, False)
    assert link.stats()["mcpd"]["sessions_paused"] == 0
    assert ping(link, 6, "resumed") == pong("resumed")
    # a paused session that closes is no longer counted
    link.flow(7, True)
    link.close_session(7)
    wait_until(lambda: link.stats()["mcpd"]["sessions_paused"] == 0, 5,
               what="paused count to drop")
    link.flow(0, True)
    link.flow(0, False)
    link.flow(12345, True)   # unknown sid: ignored
    assert ping(link, 6, "ok") == pong("ok")


def test_malformed_flow_drops_link(mcpd):
    with Link(mcpd.socket) as l:
        l.hello()
        l.open(1)
        l.send(L.FLOW, 1, b"\x07")
        assert l.expect_closed() == []


# ------------------------------------------------------------ STATS

def test_stats_reply(link):
    link.open(1)
    ping(link, 1)
    m = wait_until(lambda: (lambda m: m["links"] == 1 and m)(
        link.stats(tag=42)["mcpd"]), 5, what="one link")
    assert m["version"]
    assert m["pid"] > 0
    assert m["uptime"] >= 0
    assert m["links"] == 1
    assert m["sessions"] == 1
    assert m["messages_in"] >= 1
    assert m["messages_out"] >= 1
    assert m["sessions_paused"] == 0
    assert m["links_dropped"] == 0


def test_stats_reply_sent_to_mcpd_drops_link(mcpd):
    with Link(mcpd.socket) as l:
        l.hello()
        l.send(L.STATS, 1, b"{}", L.F_REPLY)
        assert l.expect_closed() == []


# ------------------------------------------------------------ robustness

def test_two_links_at_once(mcpd):
    with Link(mcpd.socket) as a, Link(mcpd.socket) as b:
        a.hello(worker=0)
        b.hello(worker=1)
        a.open(1)
        b.open(1)     # same sid on another link: another session
        a.message(1, {"action": "ping", "request_id": "a"})
        b.message(1, {"action": "ping", "request_id": "b"})
        assert b.reply(1) == pong("b")
        assert a.reply(1) == pong("a")
        # (the harness' readiness probe may briefly count as a third)
        st = wait_until(lambda: (lambda m: m["links"] == 2 and m)(
            a.stats()["mcpd"]), 5, what="two links")
        assert st["sessions"] == 2


@pytest.mark.parametrize("garbage", [
    b"\x00\x00\x00\x05\x63\x00\x00\x00" + b"\x00" * 8 + b"hello",   # type 99
    b"\x00\x00\x00\x00\x03\x00\x01\x00" + b"\x00" * 8,              # rsv set
    b"\xff\xff\xff\xff\x03\x00\x00\x00" + b"\x00" * 8,              # too big
    b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
])
def test_garbage_drops_only_that_link(mcpd, garbage):
    with Link(mcpd.socket) as good:
        good.hello()
        good.open(1)
        with Link(mcpd.socket) as bad:
            bad.hello()
            bad.send_raw(garbage)
            bad.expect_closed()
        assert ping(good, 1, "alive") == pong("alive")
        assert good.stats()["mcpd"]["links_dropped"] == 1
    assert mcpd.alive()
    assert "protocol error" in mcpd.log()


def test_oversized_message_drops_link(make_mcpd):
    m = make_mcpd({"daemon": {"max_frame_size": "64k"}}).start()
    with Link(m.socket) as good, Link(m.socket) as bad:
        good.hello()
        good.open(1)
        bad.hello()
        bad.open(1)
        bad.message(1, b"x" * (64 * 1024 + 1))
        bad.expect_closed()
        # just under the limit is fine, and split across many writes
        data = json.dumps({"action": "ping", "request_id": "big",
                           "pad": "y" * (60 * 1024)}).encode()
        frame = L.frame(L.MESSAGE, 1, data)
        for i in range(0, len(frame), 1000):
            good.send_raw(frame[i:i + 1000])
        assert good.reply(1) == pong("big")
    assert "frame payload exceeds the limit" in m.log()


def test_peer_vanishing_mid_frame(mcpd):
    with Link(mcpd.socket) as l:
        l.hello()
        l.open(1)
        l.send_raw(L.frame(L.MESSAGE, 1, b"x" * 100)[:50])
    with Link(mcpd.socket) as l:
        l.hello()
        l.open(1)
        assert ping(l, 1) == pong("p")


# ------------------------------------------------------------ socket file

def test_stale_socket_is_replaced(make_mcpd):
    m = make_mcpd()
    os.makedirs(os.path.dirname(m.socket), exist_ok=True)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(m.socket)       # bound, never listening: a stale file
    s.close()
    m.start()
    with Link(m.socket) as l:
        l.hello()


def test_refuses_socket_of_live_mcpd(make_mcpd, mcpd):
    other = make_mcpd({"daemon": {"socket": mcpd.socket}})
    other.write_conf()
    import subprocess
    r = subprocess.run([other.bin, "-c", other.conf_path],
                       capture_output=True, text=True, timeout=10,
                       cwd=other.dir)
    assert r.returncode == 1
    assert "another mcpd is listening on %s" % mcpd.socket in r.stderr
    # refused before any subsystem started: it touched none of its files
    assert os.listdir(other.dir) == ["mcpd.yaml"]
    with Link(mcpd.socket) as l:
        l.hello()


def test_socket_flag_overrides_config(make_mcpd, tmp_path):
    path = str(tmp_path / "other.sock")
    m = make_mcpd(extra_args=["--socket", path])
    m.socket = path
    m.start()
    with Link(path) as l:
        l.hello()


# ------------------------------------------------------------ stopping

@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_stops_gracefully_with_links_open(mcpd, sig):
    links = [Link(mcpd.socket) for _ in range(3)]
    try:
        for i, l in enumerate(links):
            l.hello(worker=i)
            l.open(1)
            assert ping(l, 1) == pong("p")
        t0 = time.monotonic()
        mcpd.send_signal(sig)
        assert mcpd.wait(5) == 0
        assert time.monotonic() - t0 < 5
        for l in links:
            frames = l.expect_closed()
            # each link is told why before it closes
            assert (L.CLOSE, 0) in [(f[0], f[2]) for f in frames]
    finally:
        for l in links:
            l.close()
    assert not os.path.exists(mcpd.socket)
    assert "stopped" in mcpd.log()


def test_stop_is_bounded_when_a_worker_never_reads(make_mcpd):
    m = make_mcpd({"daemon": {"shutdown_timeout": "1s",
                              "link_buffer_size": "64k"}}).start()
    with Link(m.socket) as l:
        l.hello()
        l.open(1)
        l.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        # queue far more answers than the socket buffers hold, read none
        req = L.frame(L.MESSAGE, 1, json.dumps(
            {"action": "fly", "request_id": "r" * 128}).encode())
        l.send_raw(req * 20000)
        time.sleep(0.5)
        t0 = time.monotonic()
        m.send_signal(signal.SIGTERM)
        assert m.wait(10) == 0
        assert time.monotonic() - t0 < 5


def test_json_log_format(make_mcpd):
    m = make_mcpd({"logging": {"format": "json", "level": "debug"}}).start()
    with Link(m.socket) as l:
        l.hello()
        l.open(1, {"addr": "1.2.3.4", "h:authorization": "Bearer SECRET"})
        assert ping(l, 1) == pong("p")
    m.stop()
    lines = [json.loads(x) for x in m.log().splitlines() if x.strip()]
    assert lines and all({"ts", "level", "sub", "msg"} <= set(x)
                         for x in lines)
    assert any(x["sub"] == "link" for x in lines)
    assert "SECRET" not in m.log()


def test_subsystem_failure_at_start_exits_1_and_cleans_up(make_mcpd):
    import subprocess
    m = make_mcpd({"chat": {"service": {"repository": {
        "path": "/nonexistent-dir/x/events.db"}}}})
    m.write_conf()
    r = subprocess.run([m.bin, "-c", m.conf_path], capture_output=True,
                       text=True, timeout=20, cwd=m.dir)
    assert r.returncode == 1
    assert "[core] repository: " in r.stderr
    assert not os.path.exists(m.socket)


def test_max_links_refuses_the_extra_link(make_mcpd):
    m = make_mcpd({"daemon": {"max_links": 2}}).start()
    with Link(m.socket) as a:
        a.hello()
        # the harness' readiness probe may still be counted: let it go
        wait_until(lambda: a.stats()["mcpd"]["links"] == 1, 5,
                   what="probe link to close")
        b = Link(m.socket)
        b.hello()
        with Link(m.socket) as c:
            with pytest.raises((LinkClosed, OSError)):
                c.hello()
        a.open(1)
        assert ping(a, 1) == pong("p")
        b.close()
    assert "daemon.max_links reached" in m.log()


def test_request_id_of_128_bytes_is_accepted(link):
    link.open(1)
    rid = "r" * 128
    assert ping(link, 1, rid) == pong(rid)
