"""RFC 6455 framing against the real nginx + module + mcpd, case by case in
the spirit of Autobahn|Testsuite sections 1-7, 9 and 10 (numbers in the
case names).  "alive" means a JSON ping makes the round trip module ->
mcpd -> module afterwards; "close N" means the server sends close code N and
then closes TCP.  The server is not an echo server, so data cases check the
round trip of a JSON ping carried in the frames under test.
"""

import json
import os
import sys
import time

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))

from stack import Stack  # noqa: E402
from wsclient import (OP_BINARY, OP_CLOSE, OP_CONT, OP_PING,  # noqa: E402
                      OP_PONG, OP_TEXT, WSClient, build_frame,
                      close_payload)

MAX_MESSAGE = 256 * 1024


@pytest.fixture(scope="module")
def edge(tmp_path_factory):
    s = Stack(tmp_path_factory.mktemp("frames"),
              nginx_location={"mcp_max_message_size": "256k"})
    s.start()
    yield s
    s.stop()
    log = s.error_log()
    assert "[alert]" not in log and "[emerg]" not in log, log
    assert "exited on signal" not in log, log


def ping_msg(rid, pad=0):
    m = {"action": "ping", "request_id": rid}
    if pad:
        m["payload"] = {"pad": "a" * pad}
    return json.dumps(m).encode()


def assert_pong(c, rid, timeout=5.0):
    r = c.recv_json(timeout)
    assert r["request_id"] == rid, r
    assert r["status"] == "complete" and r["chunk"]["type"] == "pong", r


def assert_alive(c):
    c.send_text(ping_msg("alive"))
    assert_pong(c, "alive")


def assert_closed_with(c, code, timeout=5.0):
    got, reason = c.expect_close(timeout)
    assert got == code, (got, reason)
    assert c.wait_eof(5.0), "server did not close TCP after the close"
    return reason


def conn(edge):
    return WSClient.connect(edge.port)


# -- 1: framing ---------------------------------------------------------------

@pytest.mark.parametrize("size", [0, 125, 126, 127, 65535, 65536, 200000])
def test_1_1_text_sizes(edge, size):
    """1.1.x: text messages of every length encoding reach mcpd."""
    with conn(edge) as c:
        pad = max(0, size - len(ping_msg("t", 1)))
        msg = ping_msg("t", pad) if size else b""
        if size == 0:
            c.send_frame(OP_TEXT, b"")
            r = c.recv_json()
            assert r["status"] == "error", r   # mcpd: empty is not JSON
            return
        c.send_frame(OP_TEXT, msg)
        assert_pong(c, "t")


def test_1_1_chopped_writes(edge):
    """1.1.7/9.5 style: a frame written in 1-byte pieces."""
    with conn(edge) as c:
        c.send_frame(OP_TEXT, ping_msg("chop", 300), chunk=1)
        assert_pong(c, "chop")


def test_1_2_binary_is_refused(edge):
    """1.2.x: binary messages get close 1003 (documented answer)."""
    with conn(edge) as c:
        c.send_frame(OP_BINARY, b"\x00\x01\x02")
        reason = assert_closed_with(c, 1003)
        assert "binary" in reason


# -- 2: ping / pong -------------------------------------------------------------

@pytest.mark.parametrize("payload", [b"", b"hello", bytes(range(125)),
                                     b"\xff\xfe\x00binary"])
def test_2_ping_echo(edge, payload):
    """2.1-2.3: a ping is answered by a pong with the same payload."""
    with conn(edge) as c:
        c.send_frame(OP_PING, payload)
        fin, op, got = c.recv_frame()
        assert (fin, op, got) == (True, OP_PONG, payload)
        assert_alive(c)


def test_2_4_ping_125_split(edge):
    with conn(edge) as c:
        c.send_frame(OP_PING, b"x" * 125, chunk=1)
        assert c.recv_frame() == (True, OP_PONG, b"x" * 125)


def test_2_5_ping_too_long(edge):
    """2.5: a control frame over 125 bytes is a protocol error."""
    with conn(edge) as c:
        c.send_frame(OP_PING, b"x" * 126)
        assert_closed_with(c, 1002)


def test_2_6_unsolicited_pong(edge):
    """2.6/2.7: unsolicited pongs are ignored."""
    with conn(edge) as c:
        c.send_frame(OP_PONG, b"unasked")
        c.send_frame(OP_PONG, b"")
        assert_alive(c)


def test_2_10_many_pings(edge):
    """2.10/2.11: ten pings in a row, ten pongs in order."""
    with conn(edge) as c:
        c.send_raw(b"".join(build_frame(OP_PING, b"p%d" % i)
                            for i in range(10)))
        for i in range(10):
            assert c.recv_frame() == (True, OP_PONG, b"p%d" % i)


# -- 3: reserved bits -------------------------------------------------------------

@pytest.mark.parametrize("rsv", range(1, 8))
def test_3_rsv_on_text(edge, rsv):
    with conn(edge) as c:
        c.send_frame(OP_TEXT, ping_msg("r"), rsv=rsv)
        assert_closed_with(c, 1002)


def test_3_rsv_after_valid_message(edge):
    """3.2: a working connection fails at the first bad frame."""
    with conn(edge) as c:
        c.send_frame(OP_TEXT, ping_msg("first"))
        assert_pong(c, "first")
        c.send_raw(build_frame(OP_TEXT, b"x", rsv=2)
                   + build_frame(OP_PING, b"after"))
        assert_closed_with(c, 1002)


@pytest.mark.parametrize("op", [OP_PING, OP_PONG, OP_CLOSE])
def test_3_rsv_on_control(edge, op):
    with conn(edge) as c:
        c.send_frame(op, b"", rsv=4)
        assert_closed_with(c, 1002)


# -- 4: opcodes -----------------------------------------------------------------

@pytest.mark.parametrize("op", [3, 4, 5, 6, 7, 11, 12, 13, 14, 15])
def test_4_reserved_opcodes(edge, op):
    with conn(edge) as c:
        c.send_frame(op, b"reserved")
        assert_closed_with(c, 1002)


# -- 5: fragmentation -------------------------------------------------------------

def test_5_1_fragmented_ping(edge):
    with conn(edge) as c:
        c.send_frame(OP_PING, b"frag", fin=False)
        assert_closed_with(c, 1002)


def test_5_3_two_fragments(edge):
    msg = ping_msg("frag2")
    with conn(edge) as c:
        c.send_frame(OP_TEXT, msg[:10], fin=False)
        c.send_frame(OP_CONT, msg[10:])
        assert_pong(c, "frag2")


def test_5_6_ping_between_fragments(edge):
    msg = ping_msg("between")
    with conn(edge) as c:
        c.send_frame(OP_TEXT, msg[:5], fin=False)
        c.send_frame(OP_PING, b"mid")
        assert c.recv_frame() == (True, OP_PONG, b"mid")
        c.send_frame(OP_CONT, msg[5:12], fin=False)
        c.send_frame(OP_PONG, b"unsolicited")
        c.send_frame(OP_CONT, msg[12:])
        assert_pong(c, "between")


def test_5_many_tiny_fragments_chopped(edge):
    """5.16-5.20 style: many 1-byte fragments, each written byte by byte."""
    msg = ping_msg("tiny")
    data = build_frame(OP_TEXT, msg[:1], fin=False)
    for i in range(1, len(msg) - 1):
        data += build_frame(OP_CONT, msg[i:i + 1], fin=False)
    data += build_frame(OP_CONT, msg[-1:])
    with conn(edge) as c:
        c.send_raw(data, chunk=3)
        assert_pong(c, "tiny")


def test_5_empty_fragments(edge):
    """6.1.x: empty fragments are fine."""
    msg = ping_msg("empty")
    with conn(edge) as c:
        c.send_frame(OP_TEXT, b"", fin=False)
        c.send_frame(OP_CONT, msg, fin=False)
        c.send_frame(OP_CONT, b"")
        assert_pong(c, "empty")


def test_5_9_continuation_without_start(edge):
    with conn(edge) as c:
        c.send_frame(OP_CONT, b"orphan")
        assert_closed_with(c, 1002)


def test_5_continuation_not_final_without_start(edge):
    with conn(edge) as c:
        c.send_frame(OP_CONT, b"orphan", fin=False)
        assert_closed_with(c, 1002)


def test_5_new_message_inside_fragmented(edge):
    with conn(edge) as c:
        c.send_frame(OP_TEXT, b"{", fin=False)
        c.send_frame(OP_TEXT, b"}")
        assert_closed_with(c, 1002)


def test_unmasked_client_frame(edge):
    """RFC 6455 5.1: a server must close on an unmasked client frame."""
    with conn(edge) as c:
        c.send_frame(OP_TEXT, ping_msg("u"), mask=False)
        assert_closed_with(c, 1002)


# -- 6: UTF-8 ---------------------------------------------------------------------

GREEK = "\u03ba\u1f79\u03c3\u03bc\u03b5"     # "kosme", Autobahn's sample


@pytest.mark.parametrize("split", [1, 2, 3, 4, 5, 6, 7])
def test_6_valid_utf8_split_anywhere(edge, split):
    """6.2.x: valid UTF-8 fragmented inside code points is accepted."""
    rid = "r-" + GREEK + "-\U0001f600"
    msg = ping_msg(rid)
    cut = msg.index(b"r-") + 2 + split
    with conn(edge) as c:
        c.send_frame(OP_TEXT, msg[:cut], fin=False)
        c.send_frame(OP_CONT, msg[cut:])
        r = c.recv_json()
        assert r["request_id"] == rid, r


BAD_UTF8 = [
    b"\x80",                      # 6.3: lone continuation
    b"\xc0\xaf",                  # overlong '/'
    b"\xe0\x80\xaf",              # overlong 3-byte
    b"\xed\xa0\x80",              # UTF-16 surrogate
    b"\xf4\x90\x80\x80",          # beyond U+10FFFF
    b"\xf8\x88\x80\x80\x80",      # 5-byte form
    b"\xfe",
    b"\xce",                      # truncated at the end of the message
]


@pytest.mark.parametrize("bad", BAD_UTF8)
def test_6_invalid_utf8(edge, bad):
    with conn(edge) as c:
        c.send_frame(OP_TEXT, b'{"a":"' + bad)
        assert_closed_with(c, 1007)


@pytest.mark.parametrize("bad", BAD_UTF8[:-1])
def test_6_invalid_utf8_in_fragments(edge, bad):
    with conn(edge) as c:
        c.send_frame(OP_TEXT, b'{"a":"' + bad[:1], fin=False)
        c.send_frame(OP_CONT, bad[1:] + b'"}')
        assert_closed_with(c, 1007)


def test_6_4_fail_fast(edge):
    """6.4.x: the close comes at the first bad byte, before the message
    (whose final fragment is never sent) could end."""
    with conn(edge) as c:
        c.send_frame(OP_TEXT, GREEK.encode() + b"\xf4\x90\x80\x80",
                     fin=False)
        assert_closed_with(c, 1007, timeout=3.0)


def test_6_4_fail_fast_inside_frame(edge):
    """6.4.3/6.4.4: a frame whose payload is still arriving fails as soon
    as its bad byte arrives."""
    payload = GREEK.encode() + b"\xf4\x90\x80\x80" + b"edited" * 10
    frame = build_frame(OP_TEXT, payload)
    bad_at = len(frame) - len(payload) + len(GREEK.encode()) + 2
    with conn(edge) as c:
        c.send_raw(frame[:bad_at])
        assert_closed_with(c, 1007, timeout=3.0)


# -- 7: close handling -----------------------------------------------------------

def test_7_1_close_empty(edge):
    with conn(edge) as c:
        c.send_frame(OP_CLOSE, b"")
        code, reason = c.expect_close(echo=False)
        assert code is None and reason == ""
        assert c.wait_eof()


def test_7_1_close_then_data_ignored(edge):
    """7.1.3-7.1.5: after the client's close, nothing more is answered."""
    with conn(edge) as c:
        c.send_raw(build_frame(OP_CLOSE, close_payload(1000))
                   + build_frame(OP_TEXT, ping_msg("late"))
                   + build_frame(OP_PING, b"late"))
        fin, op, payload = c.recv_frame()
        assert op == OP_CLOSE and payload[:2] == b"\x03\xe8", (op, payload)
        assert c.wait_eof()


def test_7_3_close_one_byte(edge):
    with conn(edge) as c:
        c.send_frame(OP_CLOSE, b"\x03")
        assert_closed_with(c, 1002)


def test_7_3_close_max_reason(edge):
    with conn(edge) as c:
        c.send_frame(OP_CLOSE, close_payload(1000, b"r" * 123))
        code, _ = c.expect_close(echo=False)
        assert code == 1000


def test_7_3_close_too_long(edge):
    with conn(edge) as c:
        c.send_frame(OP_CLOSE, close_payload(1000, b"r" * 124))
        assert_closed_with(c, 1002)


def test_7_5_close_reason_bad_utf8(edge):
    with conn(edge) as c:
        c.send_frame(OP_CLOSE, close_payload(1000, b"\xce\xba\xe1\xbd"))
        assert_closed_with(c, 1007)


@pytest.mark.parametrize("code", [1000, 1001, 1002, 1003, 1007, 1008, 1009,
                                  1010, 1011, 3000, 3999, 4000, 4999])
def test_7_7_valid_codes_echoed(edge, code):
    with conn(edge) as c:
        c.close(code, b"bye")
        got, _ = c.expect_close(echo=False)
        assert got == code
        assert c.wait_eof()


@pytest.mark.parametrize("code", [0, 999, 1004, 1005, 1006, 1015, 1016,
                                  1100, 2000, 2999, 5000, 65535])
def test_7_9_invalid_codes(edge, code):
    with conn(edge) as c:
        c.close(code)
        assert_closed_with(c, 1002)


def test_7_closing_handshake_on_error_waits_for_client(edge):
    """After the server's close the client may still echo it: the server
    reads the echo and then closes TCP."""
    with conn(edge) as c:
        c.send_frame(OP_CONT, b"x")
        code, _ = c.expect_close(echo=True)
        assert code == 1002
        assert c.wait_eof(3.0)


# -- 9: limits --------------------------------------------------------------------

def test_9_large_message_accepted(edge):
    with conn(edge) as c:
        c.send_frame(OP_TEXT, ping_msg("big", MAX_MESSAGE - 100))
        assert_pong(c, "big", timeout=10)


def test_9_large_message_in_pieces(edge):
    """9.3/9.5 style: a big message fragmented and chopped."""
    msg = ping_msg("pieces", 100000)
    frames = b""
    step = 4096
    for i in range(0, len(msg), step):
        last = i + step >= len(msg)
        frames += build_frame(OP_TEXT if i == 0 else OP_CONT,
                              msg[i:i + step], fin=last)
    with conn(edge) as c:
        c.send_raw(frames, chunk=997)
        assert_pong(c, "pieces", timeout=10)


def test_9_too_big_declared_length(edge):
    """1009 from the frame header alone: no payload is ever sent."""
    with conn(edge) as c:
        c.send_raw(build_frame(OP_TEXT, b"", length=MAX_MESSAGE + 1))
        assert_closed_with(c, 1009, timeout=3.0)


def test_9_too_big_64bit_length(edge):
    with conn(edge) as c:
        c.send_raw(build_frame(OP_BINARY, b"", length=1 << 40))
        assert_closed_with(c, 1009, timeout=3.0)


def test_9_too_big_over_fragments(edge):
    with conn(edge) as c:
        c.send_frame(OP_TEXT, b"a" * (MAX_MESSAGE // 2), fin=False)
        c.send_frame(OP_CONT, b"a" * (MAX_MESSAGE // 2 + 1))
        assert_closed_with(c, 1009)


# -- 10: misc -------------------------------------------------------------------

def test_10_pipelined_with_handshake(edge):
    """Frames sent in the same packet as the handshake are not lost."""
    c = WSClient.connect(edge.port, extra=build_frame(OP_TEXT,
                                                      ping_msg("piped")))
    with c:
        assert_pong(c, "piped")


def test_10_many_messages_one_write(edge):
    with conn(edge) as c:
        c.send_raw(b"".join(build_frame(OP_TEXT, ping_msg("m%d" % i))
                            for i in range(50)))
        for i in range(50):
            assert_pong(c, "m%d" % i)


def test_10_server_frames_are_valid(edge):
    """Server frames: unmasked, no RSV, text replies valid UTF-8 JSON
    (recv_frame asserts the first two)."""
    with conn(edge) as c:
        c.send_text(ping_msg("v"))
        fin, op, payload = c.recv_frame()
        assert fin and op == OP_TEXT
        json.loads(payload.decode("utf-8"))


def test_abort_counts_1006(edge):
    """A client that vanishes without a close is counted as 1006."""
    before = edge.health()["websocket_stats"]["closed"]["1006"]
    c = conn(edge)
    assert_alive(c)
    c.abort()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if edge.health()["websocket_stats"]["closed"]["1006"] > before:
            break
        time.sleep(0.05)
    assert edge.health()["websocket_stats"]["closed"]["1006"] > before


def test_9_multi_megabyte_through_the_link(make_stack):
    """9.1 style: messages of several MB go through the link (whose buffers
    grow for them and shrink afterwards) and the connection goes on."""
    s = make_stack()
    s.start()
    with WSClient.connect(s.port) as c:
        for n in (2_000_000, 5_000_000, 10):
            c.send_frame(OP_TEXT, ping_msg("mb%d" % n, n))
            assert_pong(c, "mb%d" % n, timeout=20)
