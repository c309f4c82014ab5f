"""A raw-socket WebSocket client for tests: it can send anything, including
what a correct client never would (unmasked, malformed, split byte by byte,
fragmented, reserved bits and opcodes), and it reads the server's frames one
by one so a test sees exactly what went over the wire.

    c = WSClient.connect(port)                # handshake done, 101 checked
    c.send_text('{"action":"ping","request_id":"x"}')
    op, payload = c.recv_message()
    c.send_frame(OP_TEXT, b"he", fin=False); c.send_frame(OP_CONT, b"llo")
    code, reason = c.expect_close()           # reads until a close frame
    status, headers, body = WSClient.raw_handshake(port, headers={...})

Every read has a timeout; nothing here can hang a test.
"""

import base64
import hashlib
import json
import os
import socket
import struct
import time

OP_CONT, OP_TEXT, OP_BINARY = 0x0, 0x1, 0x2
OP_CLOSE, OP_PING, OP_PONG = 0x8, 0x9, 0xA

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class ConnectionClosed(Exception):
    """The server closed the TCP connection."""


def build_frame(opcode, payload=b"", fin=True, mask=True, rsv=0,
                mask_key=None, length=None):
    """Bytes of one client frame; length overrides the encoded length."""
    if isinstance(payload, str):
        payload = payload.encode()
    n = len(payload) if length is None else length
    b0 = (0x80 if fin else 0) | ((rsv & 7) << 4) | (opcode & 0xF)
    mbit = 0x80 if mask else 0
    if n < 126:
        head = struct.pack("!BB", b0, mbit | n)
    elif n < 65536:
        head = struct.pack("!BBH", b0, mbit | 126, n)
    else:
        head = struct.pack("!BBQ", b0, mbit | 127, n)
    if not mask:
        return head + payload
    key = mask_key if mask_key is not None else os.urandom(4)
    masked = bytes(c ^ key[i & 3] for i, c in enumerate(payload))
    return head + key + masked


def close_payload(code=None, reason=b""):
    if code is None:
        return b""
    if isinstance(reason, str):
        reason = reason.encode()
    return struct.pack("!H", code) + reason


class WSClient:
    def __init__(self, sock, leftover=b""):
        self.sock = sock
        self.buf = bytearray(leftover)
        self.recv_size = 65536      # bytes asked of the kernel per read

    # -- connecting

    @staticmethod
    def handshake_request(path="/ws/chat", host="127.0.0.1", key=None,
                          headers=None, version="13", method="GET",
                          proto="HTTP/1.1", omit=()):
        key = key if key is not None else \
            base64.b64encode(os.urandom(16)).decode()
        h = {"Host": host, "Upgrade": "websocket", "Connection": "Upgrade",
             "Sec-WebSocket-Key": key, "Sec-WebSocket-Version": version}
        for k in omit:
            h.pop(k, None)
        h.update(headers or {})
        lines = ["%s %s %s" % (method, path, proto)]
        lines += ["%s: %s" % kv for kv in h.items()]
        return ("\r\n".join(lines) + "\r\n\r\n").encode(), key

    @staticmethod
    def _read_response(sock, timeout):
        sock.settimeout(timeout)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1]) if lines and lines[0] else 0
        headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        return status, headers, rest

    @classmethod
    def raw_handshake(cls, port, host="127.0.0.1", timeout=5.0,
                      read_body=True, **kw):
        """Send a handshake, return (status, headers, body) and close."""
        req, _ = cls.handshake_request(**kw)
        with socket.create_connection((host, port), timeout=timeout) as s:
            s.sendall(req)
            status, headers, rest = cls._read_response(s, timeout)
            body = rest
            if read_body and status != 101:
                n = int(headers.get("content-length", "0") or 0)
                s.settimeout(timeout)
                while len(body) < n:
                    chunk = s.recv(4096)
                    if not chunk:
                        break
                    body += chunk
            return status, headers, body

    @classmethod
    def connect(cls, port, host="127.0.0.1", path="/ws/chat", timeout=5.0,
                headers=None, extra=b"", source=None, rcvbuf=None):
        """Connect and complete the handshake (asserting 101 and the accept
        key); extra bytes are sent right behind the handshake (pipelined).
        rcvbuf sets SO_RCVBUF before connecting, so the TCP window is
        negotiated small (set later, autotuning has already grown it)."""
        req, key = cls.handshake_request(path=path, host=host,
                                         headers=headers)
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            if rcvbuf is not None:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            if source is not None:
                s.bind(source)
            s.settimeout(timeout)
            s.connect((host, port))
        except OSError:
            s.close()
            raise
        s.sendall(req + extra)
        status, hdrs, rest = cls._read_response(s, timeout)
        if status != 101:
            s.close()
            raise AssertionError("handshake answered %d" % status)
        want = base64.b64encode(hashlib.sha1(key.encode() + GUID)
                                .digest()).decode()
        assert hdrs.get("sec-websocket-accept") == want, hdrs
        assert hdrs.get("upgrade", "").lower() == "websocket", hdrs
        return cls(s, rest)

    # -- sending

    def send_raw(self, data, chunk=None, delay=0.0):
        """Send bytes, optionally chunk bytes at a time (with a pause)."""
        if not chunk:
            self.sock.sendall(data)
            return
        for i in range(0, len(data), chunk):
            self.sock.sendall(data[i:i + chunk])
            if delay:
                time.sleep(delay)

    def send_frame(self, opcode, payload=b"", chunk=None, delay=0.0, **kw):
        self.send_raw(build_frame(opcode, payload, **kw), chunk, delay)

    def send_text(self, text, **kw):
        self.send_frame(OP_TEXT, text, **kw)

    def send_json(self, obj):
        self.send_text(json.dumps(obj))

    def close(self, code=1000, reason=b""):
        self.send_frame(OP_CLOSE, close_payload(code, reason))

    # -- receiving

    def _fill(self, n, deadline):
        while len(self.buf) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise socket.timeout("timed out reading a frame")
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(self.recv_size)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                raise ConnectionClosed()
            self.buf += chunk

    def recv_frame(self, timeout=5.0):
        """One server frame: (fin, opcode, payload).  Server frames must
        not be masked and must not use RSV bits: asserted here."""
        deadline = time.monotonic() + timeout
        self._fill(2, deadline)
        b0, b1 = self.buf[0], self.buf[1]
        assert b0 & 0x70 == 0, "server frame with RSV bits"
        assert b1 & 0x80 == 0, "server frame is masked"
        n, off = b1 & 0x7F, 2
        if n == 126:
            self._fill(4, deadline)
            n, off = struct.unpack("!H", bytes(self.buf[2:4]))[0], 4
        elif n == 127:
            self._fill(10, deadline)
            n, off = struct.unpack("!Q", bytes(self.buf[2:10]))[0], 10
        self._fill(off + n, deadline)
        payload = bytes(self.buf[off:off + n])
        del self.buf[:off + n]
        return bool(b0 & 0x80), b0 & 0xF, payload

    def recv_message(self, timeout=5.0, skip_ping=True):
        """One whole data message (or a close/pong frame): (opcode,
        payload).  Server pings are answered and skipped."""
        deadline = time.monotonic() + timeout
        parts, first = [], None
        while True:
            fin, op, payload = self.recv_frame(max(0.01, deadline
                                                   - time.monotonic()))
            if op == OP_PING and skip_ping:
                self.send_frame(OP_PONG, payload)
                continue
            if op in (OP_CLOSE, OP_PONG, OP_PING):
                return op, payload
            if first is None:
                first = op
            parts.append(payload)
            if fin:
                return first, b"".join(parts)

    def recv_json(self, timeout=5.0):
        op, payload = self.recv_message(timeout)
        assert op == OP_TEXT, (op, payload)
        return json.loads(payload)

    def request(self, obj, timeout=5.0):
        self.send_json(obj)
        return self.recv_json(timeout)

    def expect_close(self, timeout=5.0, echo=True):
        """Read until a close frame; returns (code, reason).  code is None
        for a close without payload.  Echoes the close unless echo=False."""
        deadline = time.monotonic() + timeout
        while True:
            fin, op, payload = self.recv_frame(max(0.01, deadline
                                                   - time.monotonic()))
            if op != OP_CLOSE:
                continue
            code = struct.unpack("!H", payload[:2])[0] \
                if len(payload) >= 2 else None
            if echo:
                try:
                    self.send_frame(OP_CLOSE, payload[:2])
                except OSError:
                    pass
            return code, payload[2:].decode("utf-8")

    def wait_eof(self, timeout=5.0):
        """True when the server closed TCP within timeout (data before the
        close is discarded)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                return False
            except (ConnectionResetError, OSError):
                return True
            if not chunk:
                return True
        return False

    def abort(self):
        """Drop the TCP connection without a closing handshake."""
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                 struct.pack("ii", 1, 0))
        except OSError:
            pass
        self.sock.close()

    def shutdown(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.shutdown()
