"""The `redis:` block's ways to reach a real redis-server (docs/
configuration.md): a unix socket, a password from the environment, a
database, an ACL user confined to the fleet's key prefix; and a wrong
password: degraded with a reason, chats still answered, nothing hangs."""

import os
import sys
import time

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from chat_client import ChatClient, run  # noqa: E402
from cluster import Redis, instance_yaml, needs_redis  # noqa: E402
from stack import wait_until  # noqa: E402

pytestmark = needs_redis

PASSWORD_ENV = "MCP_TEST_REDIS_PASSWORD"


def one_instance(make_stack, llm_mock, address, **redis):
    yaml = instance_yaml("a", address, llm_mock.base_url, redis=redis,
                         http_client={"requests_per_minute": 1000,
                                      "queue_timeout": "2s"})
    return make_stack(mcpd_yaml=yaml, workers=1).start()


def redis_of(st):
    return st.health()["redis"]


def chat(st, timeout=10):
    async def go():
        async with ChatClient(st.ws_url, timeout=timeout) as c:
            return await c.chat("hello redis", streaming=False)
    return run(go())[-1]


def test_unix_socket_password_from_env_and_database(tmp_path, make_stack,
                                                    llm_mock, monkeypatch):
    """unix:PATH, the password in an environment variable (never in the
    file), database 3: the instance is up and shared, and its keys are in
    database 3, not 0."""
    r = Redis(tmp_path / "redis", password="s3cret pw",
              unixsocket=True).start()
    try:
        monkeypatch.setenv(PASSWORD_ENV, "s3cret pw")
        st = one_instance(make_stack, llm_mock, "unix:" + r.socket,
                          password_env=PASSWORD_ENV, database=3)
        assert "s3cret" not in open(st.mcpd.conf_path).read()
        wait_until(lambda: redis_of(st)["state"] == "up", 5,
                   what="up over the unix socket")
        assert r.socket in redis_of(st)["address"]
        assert chat(st)["status"] == "complete"
        assert redis_of(st)["rate_limits"]["mock"]["shared_admits"] == 1
        assert r.command("EXISTS", "t:instances", db=3) == 1
        assert r.command("DBSIZE", db=0) == 0
    finally:
        r.kill()


@pytest.fixture
def guarded_redis(tmp_path):
    """A redis-server that wants a password ("admin pw") and knows ACLs."""
    r = Redis(tmp_path / "redis", password="admin pw").start()
    yield r
    r.kill()


def as_acl_user(r, keys, make_stack, llm_mock, monkeypatch, **redis):
    """Instance a as ACL user "edge", which may touch the keys matching
    `keys` and every pub/sub channel."""
    assert r.command("ACL", "SETUSER", "edge", "on", ">edge pw",
                     "~" + keys, "&*", "+@all") == b"OK"
    monkeypatch.setenv(PASSWORD_ENV, "edge pw")
    return one_instance(make_stack, llm_mock, r.address, username="edge",
                        password_env=PASSWORD_ENV, **redis)


def test_acl_user_confined_to_the_key_prefix(guarded_redis, make_stack,
                                             llm_mock, monkeypatch):
    """An ACL user that may touch only keys under the fleet's prefix (and
    pub/sub): everything the instance does stays within it; no command of
    its fails."""
    st = as_acl_user(guarded_redis, "t:*", make_stack, llm_mock,
                     monkeypatch, cluster_max_connections=100)
    wait_until(lambda: redis_of(st)["state"] == "up", 5,
               what="up as the ACL user")
    assert chat(st)["status"] == "complete"
    wait_until(lambda: redis_of(st)["commands"] >= 10, 5, what="heartbeats")
    st_redis = redis_of(st)
    assert st_redis["errors"] == 0, st_redis
    assert st_redis["state"] == "up"
    assert st_redis["rate_limits"]["mock"]["shared_admits"] == 1


def test_wrong_password_degrades_with_a_reason(guarded_redis, make_stack,
                                               llm_mock, monkeypatch):
    monkeypatch.setenv(PASSWORD_ENV, "wrong")
    st = one_instance(make_stack, llm_mock, guarded_redis.address,
                      password_env=PASSWORD_ENV)
    wait_until(lambda: redis_of(st)["state"] == "degraded", 5,
               what="degraded on a refused AUTH")
    # the refused password itself, not what the commands queued behind
    # the AUTH said afterwards ("NOAUTH Authentication required")
    reason = redis_of(st)["reason"]
    assert "WRONGPASS" in reason, reason
    assert "NOAUTH" not in reason, reason
    end = chat(st)                       # local limits: still answered
    assert end["status"] == "complete", end
    assert redis_of(st)["rate_limits"]["mock"]["local_admits"] >= 1


def test_redis_refusing_the_fleet_keys_falls_back_without_hanging(
        guarded_redis, make_stack, llm_mock, monkeypatch):
    """An ACL that denies the fleet's keys (a misconfiguration): Redis
    answers every script with an error.  Chats are still answered, on
    local limits, and none waits much longer than the command timeout."""
    st = as_acl_user(guarded_redis, "other:*", make_stack, llm_mock,
                     monkeypatch)
    t0 = time.monotonic()
    end = chat(st, timeout=5)
    took = time.monotonic() - t0
    assert end["status"] == "complete", end
    assert took < 1.5, took
    st_redis = redis_of(st)
    assert "NOPERM" in st_redis["last_error"]
    assert st_redis["rate_limits"]["mock"]["local_admits"] >= 1, st_redis
    assert st_redis["fallbacks"] >= 1, st_redis
    # asked again only after a backoff, never in a loop
    assert st_redis["commands"] < 100, st_redis


def test_mended_acl_is_used_from_the_next_connection(guarded_redis,
                                                     make_stack, llm_mock,
                                                     monkeypatch):
    """Refusals back off (reconnect_min doubling up to reconnect_max);
    once the ACL is mended, the next connection is asked at once instead
    of at the end of a backoff that has grown to seconds."""
    st = as_acl_user(guarded_redis, "other:*", make_stack, llm_mock,
                     monkeypatch, reconnect_min="50ms", reconnect_max="20s")
    for k in range(7):                      # 50 ms doubled six times: 3.2 s
        time.sleep(0.06 * 2 ** (k - 1) if k else 0)
        assert chat(st, timeout=5)["status"] == "complete"
    r = redis_of(st)
    assert r["state"] == "degraded" and "NOPERM" in r["reason"], r
    assert r["rate_limits"]["mock"]["shared_admits"] == 0, r

    assert guarded_redis.command("ACL", "SETUSER", "edge", "resetkeys",
                                 "~t:*") == b"OK"
    connects = r["connects"]
    guarded_redis.command("CLIENT", "KILL", "USER", "edge")
    wait_until(lambda: redis_of(st)["connects"] > connects, 5,
               what="a new connection")
    # at once: the backoff had 3 s to go (reconnecting takes ~50 ms)
    r = redis_of(st)
    assert r["state"] == "up", r
    assert chat(st, timeout=5)["status"] == "complete"
    r = redis_of(st)
    assert r["rate_limits"]["mock"]["shared_admits"] == 1, r
