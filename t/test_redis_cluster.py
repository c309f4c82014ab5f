"""Redis-shared state across instances (backend/src/redis/): two real mcpd
sharing one real redis-server and the C LLM mock, driven over the link as
two nginx workers would.  The provider's RPM holds for the fleet, not per
instance; Redis killed and restarted under load: no crash, no lost stored
message, `degraded` with a reason while down, shared limits back within
seconds of its return."""

import json
import os
import sys
import threading
import time

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from cluster import instance_yaml, mock_chats, needs_redis  # noqa: E402
from linkclient import MESSAGE, Link  # noqa: E402
from stack import Mcpd, wait_until  # noqa: E402

pytestmark = needs_redis


class Instance:
    """One mcpd and one link to it (as one nginx worker)."""

    def __init__(self, rundir, yaml):
        self.mcpd = Mcpd(str(rundir), yaml)
        self.link = None
        self.sid = 0
        self.lock = threading.Lock()

    def start(self):
        self.mcpd.start()
        self.link = Link(self.mcpd.socket, timeout=15)
        self.link.hello()
        return self

    def stop(self):
        if self.link:
            self.link.close()
        return self.mcpd.stop()

    def stats(self):
        with self.lock:
            return self.link.stats(timeout=5)

    def redis_stats(self):
        return self.stats()["redis"]

    def open(self):
        with self.lock:
            self.sid += 1
            self.link.open(self.sid)
            return self.sid

    def send(self, sid, action, rid, payload):
        with self.lock:
            self.link.message(sid, {"action": action, "request_id": rid,
                                    "payload": payload})

    def final(self, sid, rid, timeout=20):
        """The frames of rid up to its complete/error."""
        frames = []
        deadline = time.monotonic() + timeout
        while True:
            with self.lock:
                f = self.link.recv(MESSAGE, sid,
                                   max(0.1, deadline - time.monotonic()))
            obj = json.loads(f[3])
            if obj.get("request_id") != rid:
                continue
            frames.append(obj)
            if obj["status"] in ("complete", "error"):
                return frames

    def chat(self, text, rid, conv=None):
        sid = self.open()
        payload = {"text": text, "streaming": False}
        if conv:
            payload["conversation_id"] = conv
        self.send(sid, "chat", rid, payload)
        return self.final(sid, rid)

    def history(self, conv):
        sid = self.open()
        self.send(sid, "history", "h-" + conv, {"conversation_id": conv,
                                                 "limit": 500})
        end = self.final(sid, "h-" + conv)[-1]
        return end["chunk"]["metadata"]["messages"]


@pytest.fixture
def pair(tmp_path, redis_server, llm_mock):
    """Two instances sharing redis and the mock; yields a factory so a
    test can choose the provider's limits."""
    made = []

    def make(**http):
        for name in ("a", "b"):
            inst = Instance(tmp_path / name, instance_yaml(
                name, redis_server.address, llm_mock.base_url,
                http_client=http))
            made.append(inst.start())
        wait_until(lambda: all(i.redis_stats()["state"] == "up"
                               for i in made), 10, what="redis up on both")
        return made
    yield make
    for inst in made:
        inst.stop()


def test_off_by_default_leaves_no_trace(tmp_path, llm_mock):
    """Off (no redis: block): status says "off" in one word (DESIGN lists
    redis's state; it used to be absent) and nothing else of Redis runs:
    no connection attempt, no log line of the redis subsystem, no reason
    in the health verdict."""
    m = Mcpd(str(tmp_path / "plain"), {})
    m.start()
    try:
        with Link(m.socket) as link:
            link.hello()
            st = link.stats()
            assert st["redis"] == {"state": "off"}
            assert st["health"] == {"status": "ok", "reasons": []}
    finally:
        assert m.stop() == 0
    assert "[redis]" not in m.log()


def test_fleet_rpm_holds_across_two_instances(pair, llm_mock):
    """RPM 4 shared by two instances: 10 chats (5 through each) reach the
    provider at most 4 times in the window, not 4 per instance."""
    a, b = pair(requests_per_minute=4, queue_timeout="3s")
    results = {}

    def run(inst, i):
        name = inst.mcpd.conf["redis"]["instance_id"]
        results[(name, i)] = \
            inst.chat("hello %d" % i, "rpm-%s-%d" % (name, i))[-1]

    threads = [threading.Thread(target=run, args=(inst, i))
               for i in range(5) for inst in (a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(results) == 10
    done = [r for r in results.values() if r["status"] == "complete"]
    # the shared window admitted exactly its 4; the rest waited in the
    # queue and failed with a clear error instead of exceeding the limit
    assert len(mock_chats(llm_mock)) == 4
    assert len(done) == 4
    failed = [r for r in results.values() if r["status"] != "complete"]
    assert all(r["status"] == "error" for r in failed)
    rl = [i.redis_stats()["rate_limits"]["mock"] for i in (a, b)]
    assert all(x["shared_waits"] > 0 or x["shared_admits"] > 0 for x in rl)
    admits = sum(x["shared_admits"] for x in rl)
    assert admits == 4
    st = a.redis_stats()
    assert st["instances_alive"] == 2 and st["fallbacks"] == 0


def test_redis_killed_and_restarted_under_load(pair, llm_mock, redis_server):
    """Chats keep flowing through both instances while Redis is down (local
    limits, status degraded with a reason); nothing stored is lost; when it
    returns both go back to the shared window by themselves."""
    a, b = pair(requests_per_minute=100000)
    done = []
    errors = []
    stop = threading.Event()

    def load(inst, tag):
        n = 0
        while not stop.is_set() and n < 200:
            n += 1
            rid = "%s-%d" % (tag, n)
            f = inst.chat("load %s" % rid, rid)
            if f[-1]["status"] == "complete":
                done.append((inst,
                             f[0]["chunk"]["metadata"]["conversation_id"],
                             rid))
            else:
                errors.append(f[-1])
            time.sleep(0.02)

    threads = [threading.Thread(target=load, args=(inst, tag))
               for inst, tag in ((a, "a"), (b, "b"))]
    for t in threads:
        t.start()
    try:
        time.sleep(0.5)
        redis_server.kill()
        for inst in (a, b):
            wait_until(lambda: inst.redis_stats()["state"] == "degraded",
                       5, what="degraded status")
        st = a.redis_stats()
        assert st["shared"] is False and "reason" in st and st["reason"]
        before = len(done)
        wait_until(lambda: len(done) >= before + 4, 10,
                   what="chats to go on while Redis is down")
        fallbacks = a.redis_stats()["fallbacks"]
        assert fallbacks > 0

        redis_server.start()
        for inst in (a, b):
            wait_until(lambda: inst.redis_stats()["state"] == "up", 8,
                       what="back to shared after Redis returned")
        shared = [i.redis_stats()["rate_limits"]["mock"]["shared_admits"]
                  for i in (a, b)]
        wait_until(lambda: all(
            i.redis_stats()["rate_limits"]["mock"]["shared_admits"] > s
            for i, s in zip((a, b), shared)), 8,
            what="shared admissions again")
    finally:
        stop.set()
        for t in threads:
            t.join(30)

    assert not errors, errors[:3]
    assert a.mcpd.alive() and b.mcpd.alive()
    # every answered chat is stored where it ran: its user message and
    # the answer, with the request id
    for inst, conv, rid in done[:: max(1, len(done) // 10)]:
        msgs = inst.history(conv)
        roles = [m["role"] for m in msgs if m.get("request_id") == rid]
        assert roles == ["user", "assistant"], (rid, msgs)
    for inst in (a, b):
        assert inst.stop() == 0


def test_duplicate_request_id_through_both_instances_runs_once(pair, llm_mock):
    """The same request id sent to both instances (a client retrying after
    its first instance seemed gone) reaches the model once: the second
    instance hands the retry to the conversation's home, which replays the
    stored answer (metadata.cached) - with or without the conversation id
    (a new conversation's retry)."""
    a, b = pair()
    first = a.chat("only once please", "dup-1")
    assert first[-1]["status"] == "complete", first
    conv = first[0]["chunk"]["metadata"]["conversation_id"]
    assert len(mock_chats(llm_mock)) == 1

    other = b.chat("only once please", "dup-1", conv=conv)
    assert other[-1]["status"] == "complete", other
    assert other[-1]["chunk"]["metadata"].get("cached") is True
    assert other[0]["chunk"]["metadata"]["conversation_id"] == conv
    # also without the conversation id (a new conversation's retry)
    b2 = b.chat("again", "dup-2")
    assert b2[-1]["status"] == "complete"
    a2 = a.chat("again", "dup-2")
    assert a2[-1]["status"] == "complete", a2
    assert a2[-1]["chunk"]["metadata"].get("cached") is True
    assert a2[0]["chunk"]["metadata"]["conversation_id"] == \
        b2[0]["chunk"]["metadata"]["conversation_id"]

    assert len(mock_chats(llm_mock)) == 2      # dup-1 and dup-2, once each
    assert b.redis_stats()["routing"]["forwarded"] == 1
    assert a.redis_stats()["routing"]["retries"] == 1
    assert a.redis_stats()["forwarding"]["served"] == 1


def test_cluster_cap_holds_across_instances(tmp_path, redis_server, llm_mock):
    """cluster_max_connections 3 over two instances: the 4th socket, on
    either instance, is closed with 1013; one closing makes room again."""
    from linkclient import CLOSE
    made = []
    try:
        for name in ("a", "b"):
            y = instance_yaml(name, redis_server.address, llm_mock.base_url,
                              redis={"cluster_max_connections": 3})
            made.append(Instance(tmp_path / name, y).start())
        a, b = made
        wait_until(lambda: all(i.redis_stats()["instances_alive"] == 2
                               for i in made), 10, what="both heartbeats")
        s1, s2 = a.open(), a.open()
        s3 = b.open()
        wait_until(lambda: a.redis_stats()["connections"]["open_here"] == 2
                   and b.redis_stats()["connections"]["open_here"] == 1, 5,
                   what="counts")
        s4 = b.open()
        with b.lock:
            f = b.link.recv(CLOSE, s4, 5)
        assert int.from_bytes(f[3][:2], "big") == 1013
        assert b"capacity" in f[3][2:]
        assert b.redis_stats()["connections"]["rejected"] == 1
        # the admitted ones still work
        a.send(s2, "chat", "cap-1", {"text": "still here"})
        assert a.final(s2, "cap-1")[-1]["status"] == "complete"
        with a.lock:
            a.link.close_session(s1)
        wait_until(lambda: a.redis_stats()["connections"]["open_here"] == 1,
                   5, what="close counted")
        # the cluster count is eventually consistent: a publishes its new
        # count on its own Redis connection; wait until Redis has it
        wait_until(lambda: redis_server.command(
            "EVAL", "return tonumber(redis.call('GET', KEYS[1]) or '0')",
            1, "t:conns:a") == 1, 5, what="a's count in Redis")
        s5 = b.open()
        time.sleep(0.5)
        with b.lock:
            with pytest.raises(TimeoutError):
                b.link.recv(CLOSE, s5, 0.5)
        assert b.redis_stats()["connections"]["open_here"] == 2
        del s3
    finally:
        for inst in made:
            inst.stop()
