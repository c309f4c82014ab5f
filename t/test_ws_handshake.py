"""The opening handshake (RFC 6455 4.2) and the directives' config checks."""

import os
import socket
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))

from stack import Stack  # noqa: E402
from wsclient import OP_TEXT, WSClient, build_frame  # noqa: E402

ORIGIN_OK = "https://chat.example.com"


@pytest.fixture(scope="module")
def edge(tmp_path_factory):
    s = Stack(tmp_path_factory.mktemp("hs"),
              nginx_location={"mcp_allow_origins":
                              ORIGIN_OK + " http://localhost:3000"})
    s.start()
    yield s
    s.stop()


def hs(edge, **kw):
    return WSClient.raw_handshake(edge.port, **kw)


def test_101_and_accept_key(edge):
    c = WSClient.connect(edge.port)     # asserts the accept key
    c.shutdown()


def test_rfc_sample_key(edge):
    """RFC 6455 1.3's example key gives the RFC's accept value."""
    st, h, _ = hs(edge, key="dGhlIHNhbXBsZSBub25jZQ==")
    assert st == 101
    assert h["sec-websocket-accept"] == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    assert h["connection"].lower() == "upgrade"


def test_connection_token_list(edge):
    st, _, _ = hs(edge, headers={"Connection": "keep-alive, Upgrade"})
    assert st == 101
    st, _, _ = hs(edge, headers={"Upgrade": "WebSocket"})
    assert st == 101


@pytest.mark.parametrize("kw", [
    dict(method="POST"),
    dict(proto="HTTP/1.0"),
    dict(omit=("Upgrade",)),
    dict(headers={"Upgrade": "h2c"}),
    dict(omit=("Connection",)),
    dict(headers={"Connection": "keep-alive"}),
    dict(omit=("Sec-WebSocket-Key",)),
    dict(key="short"),
    dict(key="dGhlIHNhbXBsZSBub25jZQ"),            # 22 chars, no padding
    dict(key="dGhlIHNhbXBsZSBub25jZQ==AAAA"),
    dict(key="!!!!!!!!!!!!!!!!!!!!!!=="),
    dict(key="dGhlIHNhbXBsZSBub25jZSEh"),          # 18 bytes
])
def test_bad_handshake_400(edge, kw):
    st, _, body = hs(edge, **kw)
    assert st == 400, (kw, st, body)


@pytest.mark.parametrize("version", ["8", "12", "14", "", "13, 8"])
def test_wrong_version_426(edge, version):
    st, h, _ = hs(edge, version=version)
    assert st == 426
    assert h["sec-websocket-version"] == "13"


def test_missing_version_426(edge):
    st, h, _ = hs(edge, omit=("Sec-WebSocket-Version",))
    assert st == 426
    assert h["sec-websocket-version"] == "13"


def test_origin_allowed(edge):
    st, _, _ = hs(edge, headers={"Origin": ORIGIN_OK})
    assert st == 101
    st, _, _ = hs(edge, headers={"Origin": "http://LOCALHOST:3000"})
    assert st == 101


def test_origin_refused_403(edge):
    st, _, _ = hs(edge, headers={"Origin": "https://evil.example"})
    assert st == 403
    st, _, _ = hs(edge, headers={"Origin": ORIGIN_OK + ".evil"})
    assert st == 403


def test_no_origin_is_not_a_browser(edge):
    st, _, _ = hs(edge)
    assert st == 101


def test_rejections_counted(edge):
    before = edge.health()["websocket_stats"]["rejected"]
    hs(edge, version="8")
    hs(edge, key="short")
    hs(edge, headers={"Origin": "https://evil.example"})
    after = edge.health()["websocket_stats"]["rejected"]
    assert after["version"] == before["version"] + 1
    assert after["handshake"] == before["handshake"] + 1
    assert after["origin"] == before["origin"] + 1


def test_open_carries_request_attributes(edge):
    """OPEN reaches mcpd (the session count rises) for a URI with args."""
    c = WSClient.connect(edge.port, path="/ws/chat?conversation_id=c%2D1&x")
    with c:
        c.send_frame(OP_TEXT, b'{"action":"ping","request_id":"q"}')
        assert c.recv_json()["request_id"] == "q"
        assert edge.health()["mcpd"]["sessions"] >= 1


def test_garbage_after_handshake_fails_fast(edge):
    c = WSClient.connect(edge.port, extra=b"\xff\xff\xff\xff")
    with c:
        code, _ = c.expect_close()
        assert code == 1002


# -- configuration errors --------------------------------------------------------

@pytest.mark.parametrize("loc,needle", [
    ({"mcp_max_connections": "lots"}, "invalid number"),
    ({"mcp_max_connections": "0"}, "must be between 1 and"),
    ({"mcp_connection_queue_size": "70000"}, "must be between"),
    ({"mcp_ping_interval": "soon"}, "invalid value"),
    ({"mcp_max_message_size": "1x"}, "invalid value"),
    ({"mcp_max_message_size": "100m"}, "must not exceed"),
    ({"mcp_send_buffer_size": "100"}, "at least 4k"),
    ({"mcp_backend": "127.0.0.1:9000"}, "must be \"unix:PATH\""),
    ({"mcp_allow_origins": "example.com"}, "invalid origin"),
    ({"mcp_backend": None}, "requires \"mcp_backend\""),
    ({"mcp_websocket": ["", ""]}, "is duplicate"),
])
def test_nginx_t_errors(tmp_path, loc, needle):
    s = Stack(tmp_path, nginx_location=loc)
    ok, out = s.nginx_test()
    assert not ok, out
    assert needle in out, out


def test_nginx_t_ok_with_every_directive(tmp_path):
    s = Stack(tmp_path, nginx_location={
        "mcp_max_connections": "10", "mcp_connection_queue_size": "5",
        "mcp_connection_queue_timeout": "2s", "mcp_ping_interval": "5s",
        "mcp_ping_timeout": "2s", "mcp_idle_timeout": "1m",
        "mcp_max_message_size": "1m", "mcp_send_buffer_size": "64k",
        "mcp_allow_origins": "any", "mcp_principal": "$remote_addr"})
    ok, out = s.nginx_test()
    assert ok, out


def test_http_level_directives_merge(tmp_path):
    """Values set at http level reach the location (merge)."""
    s = Stack(tmp_path, nginx_http={"mcp_max_connections": "7",
                                    "mcp_connection_queue_size": "3"})
    s.start()
    try:
        ws = s.health()["websocket_stats"]
        assert ws["max"] == 7 and ws["queue_max"] == 3
    finally:
        s.stop()
