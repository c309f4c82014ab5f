"""Redis gone or hung under load, seen from the clients of a fleet behind
the balancer (t/lib/cluster.py): chats go on through both instances on
local limits, nothing stored is lost, no request waits on Redis longer than
its timeout, no instance crashes, and the fleet shares its limits again by
itself within seconds of Redis' return."""

import asyncio
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from chat_client import conv_of, run  # noqa: E402
from cluster import blocking, mock_chats, needs_redis, run_all  # noqa: E402
from stack import wait_until  # noqa: E402

pytestmark = needs_redis

RPM = 40
COMMAND_TIMEOUT = 0.3


def fleet(make_cluster, **http):
    http.setdefault("queue_timeout", "2s")
    return make_cluster(
        http_client=http,
        redis_yaml={"cluster_max_connections": 1000,
                    "command_timeout": "%dms" % (COMMAND_TIMEOUT * 1000)})


def assert_none_hung(results, normal):
    """Each chat waited on Redis at most a few command timeouts (the OPEN's
    count, the request id, the shared window, each bounded), never until
    Redis answered; normal: a chat's time with Redis up, slack: a noisy
    machine."""
    bound = 4 * COMMAND_TIMEOUT + 1.5 + normal
    slowest = max(r["seconds"] for r in results)
    assert slowest < bound, (slowest, bound)


def wait_state(c, state, timeout, what):
    wait_until(lambda: all(c.redis_status(i)["state"] == state
                           for i in (0, 1)), timeout, what=what)


class Load:
    """Clients chatting through the balancer, each chat on a new socket
    (so OPEN, the cluster count, request ids and the provider's window are
    all exercised), at most `most` chats per client."""

    def __init__(self, c, clients=2, most=10, pause=0.1):
        self.c = c
        self.results = []
        self.phase = "up"
        self.stop = asyncio.Event()
        self.tasks = [asyncio.ensure_future(self.client(k, most, pause))
                      for k in range(clients)]

    async def client(self, k, most, pause):
        for n in range(most):
            if self.stop.is_set():
                return
            phase = self.phase
            r = await self.c.chat_once("load %d-%d" % (k, n),
                                       rid="load-%d-%d" % (k, n),
                                       streaming=False, timeout=10)
            r["phase"] = phase
            self.results.append(r)
            await asyncio.sleep(pause)

    def done_in(self, phase):
        return [r for r in self.results if r["phase"] == phase]

    async def finish(self):
        self.stop.set()
        await asyncio.gather(*self.tasks)


def served(results):
    """{instance: [request ids completed there]}"""
    out = {0: [], 1: []}
    for r in results:
        if r["frames"][-1]["status"] == "complete":
            out[r["instance"]].append(r["frames"][-1]["request_id"])
    return out


def test_redis_killed_and_restarted_under_load(make_cluster, llm_mock):
    """Two clients chat through the balancer while Redis is killed and
    started again: every chat completes, none waits past the Redis
    timeout, both instances say degraded with a reason while it is gone
    and up again within seconds of its return, after which a burst past
    the RPM is held to it at the provider; every answered chat is stored
    once, on the instance that ran it; both mcpd exit cleanly."""
    c = fleet(make_cluster, requests_per_minute=RPM)

    async def go():
        load = Load(c)
        await asyncio.sleep(0.3)
        c.redis.kill()
        load.phase = "down"
        await blocking(wait_state, c, "degraded", 5, "degraded on both")
        for i in (0, 1):
            st = c.redis_status(i)
            assert st["shared"] is False and st["reason"], st
        await blocking(wait_until, lambda: len(load.done_in("down")) >= 4,
                       10, what="chats to go on while Redis is down")
        fallbacks = [c.redis_status(i)["fallbacks"] for i in (0, 1)]
        c.redis.start()
        load.phase = "back"
        # back to shared by itself, within seconds (reconnect_max 500ms)
        await blocking(wait_state, c, "up", 5, "up again on both")
        await load.finish()
        return load.results, fallbacks

    results, fallbacks = run(go())
    assert all(f > 0 for f in fallbacks), fallbacks
    assert {r["instance"] for r in results if r["phase"] == "down"} == {0, 1}
    ends = [r["frames"][-1] for r in results]
    assert all(e["status"] == "complete" for e in ends), \
        [e for e in ends if e["status"] != "complete"][:3]
    up = sorted(r["seconds"] for r in results if r["phase"] == "up")
    assert_none_hung(results, up[len(up) // 2])

    # Limits shared again: the restarted Redis has an empty window; the
    # local buckets still hold what the load left (RPM - used each, more
    # than RPM together), so only the shared window keeps a burst of
    # RPM + 5 to RPM at the provider.
    used = len(results)
    assert used < RPM, "the load must leave the local buckets > RPM together"
    admits = [c.redis_status(i)["rate_limits"]["mock"]["shared_admits"]
              for i in (0, 1)]
    llm_mock.reset()
    burst = run_all([
        c.chat_once("burst %d" % n, rid="burst-%d" % n, streaming=False,
                    timeout=15) for n in range(RPM + 5)])
    assert len(mock_chats(llm_mock)) <= RPM
    assert {r["instance"] for r in burst} == {0, 1}
    for i in (0, 1):
        st = c.redis_status(i)
        assert st["state"] == "up" and st["shared"] is True
        assert st["rate_limits"]["mock"]["shared_admits"] > admits[i]

    # nothing stored was lost: every answered chat has its question and
    # answer in the SQLite file of the instance that ran it, none in the
    # other; and the history a client reads says the same
    done = served(results + burst)
    sample = [r for r in results if r["phase"] == "down"][:2]
    hist = run_all([c.history(conv_of(r["frames"]), r["instance"])
                    for r in sample])
    for r, end in zip(sample, hist):
        msgs = end["chunk"]["metadata"]["messages"]
        rid = r["frames"][-1]["request_id"]
        assert [m["role"] for m in msgs if m.get("request_id") == rid] \
            == ["user", "assistant"], msgs
    for i in (0, 1):
        assert c.instances[i].mcpd.alive()
        assert c.instances[i].stop() == 0       # no crash, clean exit
    for i in (0, 1):
        rows = c.stored(i)
        assert all(rows.get(rid) == 2 for rid in done[i]), \
            [(rid, rows.get(rid)) for rid in done[i] if rows.get(rid) != 2]
        assert not set(done[1 - i]) & set(rows)


def test_hung_redis_holds_no_request_past_its_timeout(make_cluster,
                                                       llm_mock):
    """Redis stops answering (SIGSTOP: its connections stay open, nothing
    comes back): new sockets, request-id claims and the shared window all
    give up after command_timeout; chats go on; Redis answering again
    brings the fleet back to shared."""
    c = fleet(make_cluster, requests_per_minute=1000)
    warm = run(c.chat_once("warm", streaming=False))
    assert warm["frames"][-1]["status"] == "complete"
    normal = warm["seconds"]
    c.redis.freeze()
    try:
        hung = run_all([
            c.chat_once("hung %d" % n, streaming=False, timeout=10)
            for n in range(6)])
        wait_state(c, "degraded", 5, "degraded on both")
        after = [run(c.chat_once("after %d" % n, streaming=False, timeout=10))
                 for n in range(4)]
    finally:
        c.redis.thaw()
    for r in hung + after:
        assert r["frames"][-1]["status"] == "complete", r["frames"][-1]
    assert_none_hung(hung + after, normal)
    for i in (0, 1):
        st = c.redis_status(i)
        assert st["timeouts"] > 0 or st["errors"] > 0, st
    wait_state(c, "up", 5, "up again after Redis answers")
    r = run(c.chat_once("shared again", streaming=False))
    assert r["frames"][-1]["status"] == "complete"
