"""A client for the nginx <-> mcpd link (docs/protocol.md), speaking the
frame format directly over the unix socket, as an nginx worker would.

Used by the t/test_mcpd_*.py tests to drive mcpd without nginx."""

import json
import socket
import struct
import time

HDR = struct.Struct(">IBBHQ")
HDR_LEN = 16

HELLO, OPEN, MESSAGE, CLOSE, FLOW, STATS = 1, 2, 3, 4, 5, 6
F_REQUEST, F_REPLY, F_REPLAY = 0x01, 0x02, 0x04
FLOW_RESUME, FLOW_PAUSE = 0, 1
VERSION = 1


def frame(ftype, sid=0, payload=b"", flags=0):
    return HDR.pack(len(payload), ftype, flags, 0, sid) + payload


def hello_payload(vmin=1, vmax=1, pid=4242, worker=0):
    return struct.pack(">HHII", vmin, vmax, pid, worker)


def kv_payload(pairs):
    out = b""
    for k, v in pairs.items():
        k = k.encode() if isinstance(k, str) else k
        v = v.encode() if isinstance(v, str) else v
        out += struct.pack(">H", len(k)) + k + struct.pack(">I", len(v)) + v
    return out


def close_payload(code, reason=b""):
    return struct.pack(">H", code) + reason


class LinkClosed(Exception):
    pass


class Link:
    """One link.  Frames read but not yet asked for are kept in order."""

    def __init__(self, path, timeout=5.0):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.buf = b""
        self.pending = []
        self.timeout = timeout

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()

    def send(self, ftype, sid=0, payload=b"", flags=0):
        self.sock.sendall(frame(ftype, sid, payload, flags))

    def send_raw(self, data):
        self.sock.sendall(data)

    def _read_frame(self, deadline):
        while True:
            if len(self.buf) >= HDR_LEN:
                ln, ftype, flags, rsv, sid = HDR.unpack_from(self.buf)
                if len(self.buf) >= HDR_LEN + ln:
                    payload = self.buf[HDR_LEN:HDR_LEN + ln]
                    self.buf = self.buf[HDR_LEN + ln:]
                    return (ftype, flags, sid, payload)
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no frame from mcpd")
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                raise TimeoutError("no frame from mcpd")
            except ConnectionResetError:
                data = b""
            if not data:
                raise LinkClosed()
            self.buf += data

    def recv(self, want=None, sid=None, timeout=None):
        """The next frame (type, flags, sid, payload), optionally the next
        one of a type and/or sid; others are kept for later calls."""
        deadline = time.monotonic() + (timeout or self.timeout)
        for i, f in enumerate(self.pending):
            if (want is None or f[0] == want) and (sid is None or f[2] == sid):
                return self.pending.pop(i)
        while True:
            f = self._read_frame(deadline)
            if (want is None or f[0] == want) and (sid is None or f[2] == sid):
                return f
            self.pending.append(f)

    def expect_closed(self, timeout=None):
        """Read until mcpd closes the link; return the frames seen."""
        deadline = time.monotonic() + (timeout or self.timeout)
        seen = list(self.pending)
        self.pending = []
        try:
            while True:
                seen.append(self._read_frame(deadline))
        except LinkClosed:
            return seen

    # -- the conversation an nginx worker has

    def hello(self, vmin=1, vmax=1, worker=0):
        self.send(HELLO, 0, hello_payload(vmin, vmax, worker=worker))
        f = self.recv()
        assert f[0] == HELLO, f
        return struct.unpack(">HHII", f[3])

    def open(self, sid, attrs=None, replay=False):
        attrs = attrs if attrs is not None else {
            "addr": "127.0.0.1", "uri": "/ws/chat"}
        self.send(OPEN, sid, kv_payload(attrs), F_REPLAY if replay else 0)

    def message(self, sid, obj):
        data = obj if isinstance(obj, (bytes, str)) else json.dumps(obj)
        if isinstance(data, str):
            data = data.encode()
        self.send(MESSAGE, sid, data)

    def reply(self, sid, timeout=None):
        f = self.recv(MESSAGE, sid, timeout)
        return json.loads(f[3])

    def request(self, sid, obj, timeout=None):
        self.message(sid, obj)
        return self.reply(sid, timeout)

    def close_session(self, sid, code=1000, reason=b""):
        self.send(CLOSE, sid, close_payload(code, reason))

    def flow(self, sid, pause):
        self.send(FLOW, sid, bytes([FLOW_PAUSE if pause else FLOW_RESUME]))

    def stats(self, tag=7, timeout=None):
        self.send(STATS, tag, b"", F_REQUEST)
        f = self.recv(STATS, tag, timeout)
        assert f[1] & F_REPLY
        return json.loads(f[3])
