"""The balancer of conf/examples/cluster/ in front of two instances
(t/lib/cluster.py): routing by conversation (`hash $arg_conversation_id
consistent`) keeps a conversation's sockets on one instance while new
conversations still spread; a dead instance is routed around, and an
instance whose nginx or mcpd was restarted serves again."""

import os
import sys
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from chat_client import run  # noqa: E402
from cluster import HEARTBEAT_TTL, needs_redis  # noqa: E402
from stack import wait_until  # noqa: E402

pytestmark = needs_redis


async def landing(c, query=""):
    async with c.client(query=query) as ws:
        return ws.instance


def test_routing_by_conversation_keeps_its_sockets_together(make_cluster):
    """Sockets opened as /ws/chat?conversation_id=ID all reach one instance:
    a conversation the client named, chatted from three sockets, has its
    whole history there; sockets without an id (new conversations) and
    different ids still use both instances."""
    c = make_cluster(routing="conversation")
    conv = str(uuid.uuid4())
    query = "conversation_id=" + conv

    async def go():
        homes = []
        for turn in range(3):
            async with c.client(query=query) as ws:
                homes.append(ws.instance)
                frames = await ws.chat("turn %d" % turn, conv=conv,
                                       streaming=False)
                assert frames[-1]["status"] == "complete", frames[-1]
        hist = await c.history(conv)
        fresh = [await landing(c) for _ in range(4)]
        spread = {await landing(c, "conversation_id=%s" % uuid.uuid4())
                  for _ in range(16)}
        return homes, hist, fresh, spread

    homes, hist, fresh, spread = run(go())
    assert len(set(homes)) == 1, homes
    msgs = hist["chunk"]["metadata"]["messages"]
    assert [m["role"] for m in msgs] == ["user", "assistant"] * 3, msgs
    assert set(fresh) == {0, 1}
    assert spread == {0, 1}


def test_dead_instance_is_routed_around_and_restarts_serve(make_cluster):
    """An instance's nginx killed: every new socket through the balancer
    reaches the other one and chats, and /health on the balancer still
    answers; restarted, it serves again.  An instance's mcpd killed: the
    fleet counts one live instance once its heartbeat expires; restarted,
    it serves and counts again."""
    c = make_cluster()
    c.kill_nginx(0)
    ends = [run(c.chat_once("around %d" % n, streaming=False))
            for n in range(4)]
    assert {r["instance"] for r in ends} == {1}
    assert all(r["frames"][-1]["status"] == "complete" for r in ends)
    assert c.health()["redis"]["instance"] == "b"
    c.start_nginx(0)
    r = run(c.chat_once("back", instance=0, streaming=False))
    assert r["frames"][-1]["status"] == "complete", r["frames"][-1]

    c.kill_mcpd(1)
    wait_until(lambda: c.redis_status(0)["instances_alive"] == 1,
               HEARTBEAT_TTL + 3, what="b's heartbeat to expire")
    c.start_mcpd(1)
    r = run(c.chat_once("mcpd back", instance=1, streaming=False))
    assert r["frames"][-1]["status"] == "complete", r["frames"][-1]
    assert c.redis_status(1)["state"] == "up"
    wait_until(lambda: c.redis_status(0)["instances_alive"] == 2, 5,
               what="b's heartbeat again")
