"""What a fleet behind a load balancer shares through Redis, seen from the
clients' side (t/lib/cluster.py: real redis-server, two nginx + mcpd
instances, a balancing nginx in front): the provider's RPM and TPM hold for
the fleet, not per instance; the cluster's WebSocket cap holds across both
instances and a closed socket gives its slot back; a request id retried on
the other instance reaches the model once."""

import asyncio
import os
import sys

import websockets

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from chat_client import run  # noqa: E402
from cluster import (blocking, max_in_window, mock_chats,  # noqa: E402
                     needs_redis, run_all)
from stack import wait_until  # noqa: E402

pytestmark = needs_redis


def burst(c, n, prefix, streaming=None):
    """n chats at once, each on its own socket through the balancer."""
    return run_all([c.chat_once("%s %d" % (prefix, i), streaming=streaming,
                                timeout=15) for i in range(n)])


def ends(results):
    return [r["frames"][-1] for r in results]


def held_back(end):
    """A chat the provider's limit kept from the provider: it waited its
    queue_timeout (or found the queue full) and says so."""
    return end["status"] == "error" and (
        end["chunk"]["code"] == "rate_limited"
        or "queue_timeout" in end["chunk"].get("error", ""))


def test_fleet_rpm_holds_through_the_balancer(make_cluster, llm_mock):
    """RPM 4 for the provider, two instances: 10 chats at once through the
    balancer (5 on each) reach the provider 4 times in the minute, not 4
    per instance; the others fail with a clear error, none hangs."""
    c = make_cluster(http_client={"requests_per_minute": 4,
                                  "queue_timeout": "2s"})
    results = burst(c, 10, "rpm")
    assert {r["instance"] for r in results} == {0, 1}
    seen = mock_chats(llm_mock)
    assert max_in_window([r["t_ms"] for r in seen]) <= 4
    done = [e for e in ends(results) if e["status"] == "complete"]
    assert len(done) == len(seen) == 4
    failed = [e for e in ends(results) if e["status"] != "complete"]
    assert len(failed) == 6
    assert all(held_back(e) for e in failed), failed
    for i in (0, 1):
        assert c.redis_status(i)["state"] == "up"


def test_fleet_tpm_holds_through_the_balancer(make_cluster, llm_mock):
    """TPM 1400, every request reserving ~580 tokens (its prompt and
    max_tokens 500) and using 510 (the mock's 10 prompt tokens and 500
    words): each instance alone would let 2 through, 4 together (2040
    tokens); the fleet lets through what fits in 1400."""
    tpm = 1400
    c = make_cluster(
        http_client={"tokens_per_minute": tpm, "queue_timeout": "2s"},
        mcpd_yaml={"llm": {"providers": {"mock": {"max_tokens": 500}}}})
    words = " ".join(["w"] * 500)
    llm_mock.queue(*[{"scenario": "text", "text": words}] * 8)
    results = burst(c, 8, "tpm", streaming=True)
    assert {r["instance"] for r in results} == {0, 1}
    done = [e for e in ends(results) if e["status"] == "complete"]
    used = sum(e["chunk"]["metadata"]["usage"]["total_tokens"] for e in done)
    assert done and len(done) == len(mock_chats(llm_mock))
    assert used <= tpm, (len(done), used)
    assert all(e["status"] == "complete" or held_back(e)
               for e in ends(results))


async def admitted(c, instance=None):
    """A socket through the balancer, or None when the cluster refused it
    (close 1013).  mcpd admits a session at once and closes it when Redis
    says the fleet is full: once the instance has no Redis command in
    flight the verdict is in, and a ping is answered or finds the socket
    closed."""
    ws = c.client(instance)
    await ws.__aenter__()
    try:
        await blocking(wait_until, lambda: c.redis_status(
            ws.instance)["inflight"] == 0, 5, what="the cap's verdict")
        r = await ws.call("ping", timeout=5)
        assert r["status"] == "complete", r
        return ws
    except websockets.ConnectionClosed as e:
        assert e.code == 1013, (e.code, e.reason)
        assert "capacity" in e.reason
        await ws.close()
        return None


def test_cluster_cap_holds_through_the_balancer(make_cluster):
    """cluster_max_connections 3 over two instances: three sockets through
    the balancer are served; the next ones, on either instance, are closed
    with 1013; one closing gives its slot back to the fleet."""
    c = make_cluster(redis_yaml={"cluster_max_connections": 3})

    async def go():
        held = [await admitted(c) for _ in range(3)]
        assert None not in held
        assert {ws.instance for ws in held} == {0, 1}
        wait_until(lambda: sum(c.redis_status(i)["connections"]["open_here"]
                               for i in (0, 1)) == 3, 5, what="3 counted")
        refused = []
        for i in (0, 1):           # past the cap on both instances
            ws = await admitted(c, instance=i)
            assert ws is None, "instance %d admitted a 4th socket" % i
            refused.append(i)
        for i in (0, 1):
            assert c.redis_status(i)["connections"]["rejected"] >= 1
        # the admitted ones still chat
        frames = await held[1].chat("still here", timeout=10)
        assert frames[-1]["status"] == "complete"
        await held[0].close()
        # the freed slot reaches the fleet's count within a bounded time;
        # a client told 1013 retries and gets in
        again = None
        for _ in range(20):
            again = await admitted(c)
            if again is not None:
                break
            await asyncio.sleep(0.25)
        assert again is not None, "the closed socket's slot never came back"
        assert await admitted(c) is None        # and the cap still holds
        for ws in held[1:] + [again]:
            await ws.close()
    run(go())


def test_request_id_retried_on_the_other_instance_runs_once(make_cluster,
                                                            llm_mock):
    """A client sends a chat, loses its socket, and retries the same request
    id on a new socket that the balancer gives to the other instance: the
    model is called once, whether the retry arrives while the first runs or
    after it ended; the retry goes to the conversation's home, where it
    joins the running request or replays the stored answer."""
    c = make_cluster()

    async def on_both():
        socks = {}
        for _ in range(6):
            ws = c.client()
            await ws.__aenter__()
            if ws.instance in socks:
                await ws.close()
            else:
                socks[ws.instance] = ws
            if len(socks) == 2:
                return socks[0], socks[1]
        raise AssertionError("the balancer used one instance only")

    async def go():
        a, b = await on_both()
        llm_mock.queue({"scenario": "text", "text": "once only",
                        "first_byte_ms": 1500})
        rid = "retry-1"
        first = asyncio.ensure_future(a.chat("say it once", rid=rid,
                                             streaming=False, timeout=10))
        # a has it, and is still at it (the mock holds its answer)
        await blocking(wait_until, lambda: mock_chats(llm_mock), 5,
                       what="the first try to reach the model")
        during = await b.chat("say it once", rid=rid, streaming=False,
                              timeout=10)
        first = await first
        after = await b.chat("say it once", rid=rid, streaming=False,
                             timeout=10)
        for ws in (a, b):
            await ws.close()
        return first, during, after

    first, during, after = run(go())
    assert first[-1]["status"] == "complete", first
    assert len(mock_chats(llm_mock)) == 1
    for frames in (during, after):
        end = frames[-1]
        assert end["status"] == "complete", end
        assert "once only" in str(frames)
        assert end["chunk"]["metadata"]["conversation_id"] == \
            first[-1]["chunk"]["metadata"]["conversation_id"]
    assert after[-1]["chunk"]["metadata"].get("cached") is True
    assert c.redis_status(1)["routing"]["retries"] >= 2
    assert c.redis_status(1)["forwarding"]["forwarded"] >= 2


def test_balancer_health_answers_for_the_cluster(make_cluster):
    """/health through the balancer is an instance's status whose redis
    section speaks for the fleet: shared, both instances alive."""
    c = make_cluster()
    h = c.health()
    assert h["redis"]["state"] == "up" and h["redis"]["shared"] is True
    assert h["redis"]["instance"] in ("a", "b")
    assert h["redis"]["instances_alive"] == 2
