"""Chaos at the edge: clients doing, all at once and in any order, what
clients do (open, chat and stream, ping, stop reading, send broken or half
frames, give up in the admission queue or mid-handshake, reset) while mcpd
is killed and restarted, an nginx worker is killed and nginx reloads.
Whatever the interleaving, the module keeps its books: afterwards no slot,
queue ticket or mcpd session is left, no other worker died, and a new
client chats normally.

`make test` runs this file twice more: against nginx and the module built
with ASan/UBSan (`make integration-nginx-asan`) and against mcpd built with
them (`make integration-asan`), where a use after free or an overrun on
any of these paths fails the run."""

import os
import random
import re
import select
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))

from stack import free_port, wait_until  # noqa: E402
from test_llm_util import tool_bin  # noqa: E402
from wsclient import (OP_CONT, OP_TEXT, WSClient,  # noqa: E402
                      build_frame)

CLIENTS = 10            # threads, each one client after the other
CHAOS_S = 6.0           # how long they run
OP_TIMEOUT = 3.0        # every client-side wait


@pytest.fixture
def long_answers():
    """llm_mock answering every chat with 3000 streamed words."""
    p = subprocess.Popen([tool_bin("llm_mock"), "--words", "3000"],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    r, _, _ = select.select([p.stdout], [], [], 10)
    line = p.stdout.readline().decode() if r else ""
    assert line.startswith("PORT "), "llm_mock did not start: %r" % line
    yield "http://127.0.0.1:%d/v1" % int(line.split()[1])
    p.kill()
    p.wait(5)


@pytest.fixture
def chaos_stack(make_stack, long_answers):
    port = free_port("127.0.0.1")
    s = make_stack(
        port=port,
        # a small socket buffer: a client that stops reading fills the
        # module's send queue, which pauses mcpd (FLOW) or closes 1008
        nginx_server={"listen": "127.0.0.1:%d sndbuf=8k" % port},
        nginx_location={
            "mcp_max_connections": "5",
            "mcp_connection_queue_size": "3",
            "mcp_connection_queue_timeout": "1s",
            "mcp_send_buffer_size": "512k",
            "mcp_max_message_size": "16k",
            "mcp_ping_interval": "1s",
            "mcp_ping_timeout": "1s",
            "mcp_idle_timeout": "3s"},
        mcpd_yaml={
            "llm": {"active": "mock", "providers": {"mock": {
                "base_url": long_answers, "model": "mock-text",
                "api_key_env": "",
                "http_client": {"http2": False, "max_retries": 0}}}},
            "chat": {"service": {"provider": "llm"}},
            "daemon": {"link_buffer_size": "64k"}})
    s.start()
    return s


def chat_msg(rid, text="tell me"):
    return {"action": "chat", "request_id": rid, "payload": {"text": text}}


# ------------------------------------------------------------ what clients do

def do_ping(port, rnd):
    with WSClient.connect(port, timeout=OP_TIMEOUT) as c:
        c.request({"action": "ping", "request_id": "p"}, timeout=OP_TIMEOUT)
        c.close()
        c.expect_close(timeout=OP_TIMEOUT)


def do_chat_then_reset(port, rnd):
    c = WSClient.connect(port, timeout=OP_TIMEOUT)
    c.send_json(chat_msg("c%d" % rnd.randrange(1 << 30)))
    for _ in range(rnd.randrange(0, 40)):
        c.recv_frame(timeout=OP_TIMEOUT)
    c.abort()


def do_chat_without_reading(port, rnd):
    """A streamed answer to a client that reads nothing: the send queue
    fills, mcpd is paused, pings go unanswered."""
    c = WSClient.connect(port, timeout=OP_TIMEOUT, rcvbuf=4096)
    c.send_json(chat_msg("s%d" % rnd.randrange(1 << 30)))
    time.sleep(rnd.uniform(0.2, 2.5))
    if rnd.random() < 0.5:
        c.abort()
    else:
        c.shutdown()


def do_garbage(port, rnd):
    c = WSClient.connect(port, timeout=OP_TIMEOUT)
    c.send_raw(bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 64))))
    c.wait_eof(timeout=rnd.uniform(0, 0.5))
    c.abort()


def do_half_frame(port, rnd):
    c = WSClient.connect(port, timeout=OP_TIMEOUT)
    frame = build_frame(OP_TEXT, b"x" * rnd.randrange(1, 40000))
    c.send_raw(frame[:rnd.randrange(1, len(frame))])
    time.sleep(rnd.uniform(0, 0.3))
    c.abort()


def do_fragments(port, rnd):
    with WSClient.connect(port, timeout=OP_TIMEOUT) as c:
        text = '{"action": "ping", "request_id": "frag"}'
        cut = sorted(rnd.sample(range(1, len(text)), 2))
        c.send_frame(OP_TEXT, text[:cut[0]], fin=False, chunk=3)
        c.send_frame(OP_CONT, text[cut[0]:cut[1]], fin=False)
        c.send_frame(OP_CONT, text[cut[1]:])
        c.recv_json(timeout=OP_TIMEOUT)


def do_handshake_abort(port, rnd):
    req, _ = WSClient.handshake_request()
    with socket.create_connection(("127.0.0.1", port), OP_TIMEOUT) as s:
        s.sendall(req[:rnd.randrange(1, len(req))])
        time.sleep(rnd.uniform(0, 0.2))


def do_give_up_waiting(port, rnd):
    """Open, maybe wait in the queue, leave before the answer."""
    req, _ = WSClient.handshake_request()
    with socket.create_connection(("127.0.0.1", port), OP_TIMEOUT) as s:
        s.sendall(req)
        time.sleep(rnd.uniform(0, 1.2))


def do_close_unread(port, rnd):
    c = WSClient.connect(port, timeout=OP_TIMEOUT)
    c.send_json(chat_msg("u%d" % rnd.randrange(1 << 30)))
    c.close()
    c.abort()


ACTIONS = [do_ping, do_chat_then_reset, do_chat_without_reading, do_garbage,
           do_half_frame, do_fragments, do_handshake_abort,
           do_give_up_waiting, do_close_unread]


def client_loop(port, seed, until, outcomes, lock):
    rnd = random.Random(seed)
    while time.monotonic() < until:
        act = rnd.choice(ACTIONS)
        try:
            act(port, rnd)
            what = "ok"
        except Exception as e:      # a refusal, a reset, a close: all fine
            what = type(e).__name__
        with lock:
            key = (act.__name__, what)
            outcomes[key] = outcomes.get(key, 0) + 1


# ------------------------------------------------------------ the test

def test_module_keeps_its_books_through_chaos(chaos_stack):
    s = chaos_stack
    outcomes, lock = {}, threading.Lock()
    until = time.monotonic() + CHAOS_S
    threads = [threading.Thread(target=client_loop,
                                args=(s.port, 1000 + i, until, outcomes,
                                      lock), daemon=True)
               for i in range(CLIENTS)]
    for t in threads:
        t.start()

    # meanwhile: mcpd killed and back twice, an nginx worker killed (the
    # master starts another in its slot), then nginx reloads
    for _ in range(2):
        time.sleep(1.0)
        s.kill_mcpd(signal.SIGKILL)
        time.sleep(0.3)
        s.start_mcpd()
    time.sleep(0.5)
    killed = min(s._worker_pids())
    os.kill(killed, signal.SIGKILL)
    time.sleep(0.5)
    s.reload_nginx()

    for t in threads:
        t.join(CHAOS_S + 30)
        assert not t.is_alive(), "a client thread is stuck"

    done = sum(n for (_, what), n in outcomes.items() if what == "ok")
    assert done >= 30, outcomes         # the chaos did reach the server

    def books_closed():
        h = s.health()
        ws = h["websocket_stats"]
        return (ws["active"] == 0 and ws["queued"] == 0
                and h.get("mcpd", {}).get("sessions") == 0) or None
    wait_until(books_closed, 15,
               what="no slot, queue ticket or session left: %r"
               % (s.health().get("websocket_stats"),))

    # no worker died but the one killed (a crash, a sanitizer's abort)
    died = re.findall(r"worker process \d+ exited on signal \d+"
                      r"|worker process \d+ exited with (?:fatal )?code [1-9]",
                      s.error_log())
    assert died == ["worker process %d exited on signal 9" % killed], died

    # and the edge works as before
    wait_until(lambda: s.health()["status"] == "ok", 10,
               what="/health ok again")
    with WSClient.connect(s.port, timeout=5) as c:
        c.send_json(chat_msg("after"))
        while True:
            m = c.recv_json(timeout=10)
            if m.get("status") in ("complete", "error"):
                break
        assert m["status"] == "complete", m
