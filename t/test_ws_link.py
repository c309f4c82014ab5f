"""The module's side of the link, observed from a scripted mcpd stand-in
(a unix-socket server speaking docs/protocol.md): what OPEN carries, the
replay after a reconnect, CLOSE both ways, FLOW from mcpd, STATS."""

import os
import socket
import struct
import sys
import threading
import time

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))

from linkclient import (CLOSE, F_REPLAY, F_REPLY, FLOW, HDR, HDR_LEN,  # noqa
                        HELLO, MESSAGE, OPEN, STATS, frame, hello_payload)
from stack import Stack, wait_until  # noqa: E402
from wsclient import OP_PING, OP_TEXT, WSClient  # noqa: E402


def parse_kv(p):
    out, i = {}, 0
    while i < len(p):
        kl = struct.unpack(">H", p[i:i + 2])[0]
        k = p[i + 2:i + 2 + kl].decode()
        i += 2 + kl
        vl = struct.unpack(">I", p[i:i + 4])[0]
        out[k] = p[i + 4:i + 4 + vl].decode()
        i += 4 + vl
    return out


class FakeMcpd:
    """Accepts links, answers HELLO and STATS, echoes MESSAGEs, records
    every frame.  All waits are bounded."""

    def __init__(self, path):
        self.path = path
        self.frames = []            # (type, flags, sid, payload)
        self.links = []
        self.lock = threading.Lock()
        self.srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.srv.bind(path)
        self.srv.listen(16)
        self.srv.settimeout(0.2)
        self.stop_flag = False
        self.echo = True
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while not self.stop_flag:
            try:
                c, _ = self.srv.accept()
            except (socket.timeout, OSError):
                continue
            with self.lock:
                self.links.append(c)
            threading.Thread(target=self.link, args=(c,), daemon=True).start()

    def link(self, c):
        buf = b""
        c.settimeout(0.2)
        while not self.stop_flag:
            try:
                data = c.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                return
            if not data:
                return
            buf += data
            while len(buf) >= HDR_LEN:
                n, t, fl, _, sid = HDR.unpack(buf[:HDR_LEN])
                if len(buf) < HDR_LEN + n:
                    break
                p = buf[HDR_LEN:HDR_LEN + n]
                buf = buf[HDR_LEN + n:]
                with self.lock:
                    self.frames.append((t, fl, sid, p))
                try:
                    self.answer(c, t, fl, sid, p)
                except OSError:
                    return

    def answer(self, c, t, fl, sid, p):
        if t == HELLO:
            c.sendall(frame(HELLO, 0, hello_payload(1, 1, os.getpid(), 0)))
        elif t == STATS:
            c.sendall(frame(STATS, sid, b'{"fake":{"ok":true}}', F_REPLY))
        elif t == MESSAGE and self.echo:
            c.sendall(frame(MESSAGE, sid, p))

    def send(self, data):
        with self.lock:
            for c in self.links:
                try:
                    c.sendall(data)
                except OSError:
                    pass

    def drop_links(self):
        with self.lock:
            for c in self.links:
                try:
                    c.shutdown(socket.SHUT_RDWR)
                    c.close()
                except OSError:
                    pass
            self.links = []

    def of_type(self, t):
        with self.lock:
            return [f for f in self.frames if f[0] == t]

    def close(self):
        self.stop_flag = True
        self.drop_links()
        self.srv.close()
        self.thread.join(2)


@pytest.fixture
def fake(tmp_path):
    s = Stack(tmp_path, workers=1,
              nginx_location={"mcp_principal": "$http_x_user"})
    os.makedirs(os.path.dirname(s.socket), exist_ok=True)
    f = FakeMcpd(s.socket)
    s.start_nginx()
    wait_until(lambda: f.of_type(HELLO), 10, what="HELLO from the module")
    yield s, f
    s.stop()
    f.close()


def test_hello_then_open_attributes(fake):
    s, f = fake
    hello = f.of_type(HELLO)[0]
    vmin, vmax, pid, worker = struct.unpack(">HHII", hello[3][:12])
    assert (vmin, vmax) == (1, 1) and pid > 0 and hello[2] == 0

    c = WSClient.connect(s.port, path="/ws/chat?conversation_id=c%201&flag",
                         headers={"Origin": "https://app.example",
                                  "User-Agent": "edge-test/1",
                                  "X-User": "alice"})
    with c:
        wait_until(lambda: f.of_type(OPEN), 5, what="OPEN")
        t, fl, sid, p = f.of_type(OPEN)[0]
        assert sid != 0 and fl & F_REPLAY == 0
        kv = parse_kv(p)
        assert kv["addr"] == "127.0.0.1"
        assert kv["principal"] == "alice"
        assert kv["uri"] == "/ws/chat?conversation_id=c%201&flag"
        assert kv["h:origin"] == "https://app.example"
        assert kv["h:user-agent"] == "edge-test/1"
        assert kv["q:conversation_id"] == "c 1"
        assert kv["q:flag"] == ""

        # MESSAGE both ways, same sid
        c.send_text('{"x":1}')
        assert c.recv_message() == (OP_TEXT, b'{"x":1}')
        assert f.of_type(MESSAGE)[0][2] == sid

        # the client's close reaches mcpd as CLOSE with its code
        c.close(1000, b"bye")
        c.expect_close(echo=False)
        wait_until(lambda: f.of_type(CLOSE), 5, what="CLOSE to mcpd")
        t, fl, csid, p = f.of_type(CLOSE)[0]
        assert csid == sid and struct.unpack(">H", p[:2])[0] == 1000


def test_no_principal_when_empty(fake):
    s, f = fake
    with WSClient.connect(s.port):
        wait_until(lambda: f.of_type(OPEN), 5, what="OPEN")
        assert "principal" not in parse_kv(f.of_type(OPEN)[0][3])


def test_replay_after_reconnect(fake):
    s, f = fake
    c = WSClient.connect(s.port)
    with c:
        wait_until(lambda: f.of_type(OPEN), 5, what="OPEN")
        sid = f.of_type(OPEN)[0][2]
        f.drop_links()
        wait_until(lambda: len(f.of_type(HELLO)) >= 2, 10, what="reconnect")
        wait_until(lambda: len(f.of_type(OPEN)) >= 2, 5, what="replay")
        t, fl, rsid, p = f.of_type(OPEN)[1]
        assert rsid == sid and fl & F_REPLAY
        c.send_text('{"again":true}')
        assert c.recv_message() == (OP_TEXT, b'{"again":true}')
        assert s.health()["backend"]["reconnects"] >= 1


def test_close_from_mcpd(fake):
    s, f = fake
    c = WSClient.connect(s.port)
    with c:
        wait_until(lambda: f.of_type(OPEN), 5, what="OPEN")
        sid = f.of_type(OPEN)[0][2]
        f.send(frame(CLOSE, sid, struct.pack(">H", 1008) + b"policy says no"))
        code, reason = c.expect_close()
        assert (code, reason) == (1008, "policy says no")
    time.sleep(0.2)
    # mcpd ended it: no CLOSE is sent back for that sid
    assert not [x for x in f.of_type(CLOSE) if x[2] == sid]


def test_flow_pause_from_mcpd(fake):
    s, f = fake
    c = WSClient.connect(s.port)
    with c:
        wait_until(lambda: f.of_type(OPEN), 5, what="OPEN")
        sid = f.of_type(OPEN)[0][2]
        f.send(frame(FLOW, sid, b"\x01"))
        time.sleep(0.2)
        c.send_text('{"held":1}')
        time.sleep(0.3)
        assert not f.of_type(MESSAGE), "read while paused"
        f.send(frame(FLOW, sid, b"\x00"))
        assert c.recv_message() == (OP_TEXT, b'{"held":1}')


def test_stats_spliced_and_degraded(fake):
    s, f = fake
    h = s.health()
    assert h["status"] == "ok" and h["fake"] == {"ok": True}
    f.close()
    wait_until(lambda: s.health()["status"] == "degraded", 10,
               what="degraded without mcpd")
    assert "fake" not in s.health()
