"""/health's verdict (docs/operations.md, "Reading the status"): the
top-level `status` is "degraded" with one reason per thing wrong, from
whichever part it is, and "ok" with `reasons: []` once it is over; the
Prometheus form says the same as numbers.

Real nginx + module + mcpd, a real redis-server (killed and started again
on its port), the LLM mock failing on demand (the breaker), a real npm MCP
server (server-everything, killed under mcpd; and a server that cannot
start), mcpd itself killed.  One stack serves the recoveries, each test
starting and ending with the stack healthy.  Every wait is bounded."""

import json
import os
import signal
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from chat_client import ChatClient, run  # noqa: E402
from cluster import Redis, instance_yaml, needs_redis  # noqa: E402
from linkclient import F_REPLY, HELLO, STATS, frame  # noqa: E402
from stack import ROOT, Stack, wait_until  # noqa: E402
from test_llm_util import Mock  # noqa: E402
from test_store_faults import tmpfs  # noqa: E402
from test_ws_link import FakeMcpd  # noqa: E402

EVERYTHING = os.path.join(ROOT, "t", "node_modules", "@modelcontextprotocol",
                          "server-everything", "dist", "index.js")

pytestmark = [needs_redis, pytest.mark.skipif(
    not os.path.exists(EVERYTHING), reason="npm packages not installed")]

COMPONENTS = ("backend", "repository", "llm", "mcp", "chat", "redis")
COOLDOWN_S = 1.0


def prom_verdict(stack):
    """{component: 0|1} and the overall mcp_health_degraded."""
    parts, overall = {}, None
    for line in stack.health_text("?format=prometheus").splitlines():
        if line.startswith("mcp_health_component_degraded{component=\""):
            name = line.split('"')[1]
            assert name not in parts, "one sample per component: " + line
            parts[name] = int(line.rsplit(" ", 1)[1])
        elif line.startswith("mcp_health_degraded "):
            overall = int(line.rsplit(" ", 1)[1])
    return overall, parts


def reasons_of(h, component):
    return [r["reason"] for r in h["reasons"] if r["component"] == component]


def wait_verdict(stack, status, component=None, timeout=15,
                 what=None):
    """Poll /health until its status is `status` (and, degraded, a reason
    of `component` is there); the document."""
    def check():
        h = stack.health()
        if h["status"] != status:
            return None
        if component and not reasons_of(h, component):
            return None
        return h
    return wait_until(check, timeout, interval=0.05,
                      what=what or "status %s (%s)" % (status, component))


def assert_ok(stack):
    h = wait_verdict(stack, "ok", what="the stack healthy again")
    assert h["reasons"] == []
    overall, parts = prom_verdict(stack)
    assert overall == 0 and set(parts.values()) == {0}, parts
    return h


def assert_only(stack, h, component):
    """Degraded because of component alone; Prometheus agrees."""
    assert h["status"] == "degraded"
    assert {r["component"] for r in h["reasons"]} == {component}, h["reasons"]
    for r in h["reasons"]:
        assert set(r) == {"component", "reason"} and r["reason"]
    overall, parts = prom_verdict(stack)
    assert overall == 1
    assert parts[component] == 1, parts
    assert all(v == 0 for k, v in parts.items() if k != component), parts


@pytest.fixture(scope="module")
def mock():
    m = Mock()
    yield m
    m.stop()


@pytest.fixture(scope="module")
def redis(tmp_path_factory):
    r = Redis(tmp_path_factory.mktemp("health_redis")).start()
    yield r
    r.kill()


@pytest.fixture(scope="module")
def stack(tmp_path_factory, mock, redis):
    d = tmp_path_factory.mktemp("health")
    servers = d / "servers.json"
    servers.write_text(json.dumps({"mcpServers": {"everything": {
        "command": "node", "args": [EVERYTHING, "stdio"]}}}))
    yaml = instance_yaml("h", redis.address)
    yaml.update({
        "llm": {"active": "mock", "providers": {"mock": {
            "base_url": mock.base_url, "model": "mock-text",
            "api_key_env": "",
            "http_client": {"http2": False, "max_retries": 0,
                            "breaker_failures": 1,
                            "breaker_cooldown": "%dms" % (COOLDOWN_S * 1000),
                            "connect_timeout": 2, "read_timeout": 10,
                            "write_timeout": 2}}}},
        "mcp": {"config_file": str(servers),
                "connection": {"initial_reconnect_delay": "1s"}},
        "chat": {"service": {"provider": "llm"}}})
    s = Stack(d, mcpd_yaml=yaml)
    s.start()
    yield s
    s.stop()


def chat(stack, text="hello"):
    async def go():
        async with ChatClient(stack.ws_url) as c:
            return await c.chat(text, streaming=False)
    return run(go())[-1]


def test_healthy_stack_says_ok_with_no_reasons(stack):
    h = assert_ok(stack)
    assert h["redis"]["state"] == "up"
    assert h["mcp_stats"]["servers"]["everything"]["state"] == "ready"
    assert "health" not in h                # folded, not spliced
    overall, parts = prom_verdict(stack)
    assert set(parts) == set(COMPONENTS), parts
    assert chat(stack)["status"] == "complete"
    assert_ok(stack)


def test_redis_killed_then_back(stack, redis):
    assert_ok(stack)
    redis.kill()
    h = wait_verdict(stack, "degraded", "redis")
    assert_only(stack, h, "redis")
    why = reasons_of(h, "redis")[0]
    assert why == h["redis"]["reason"], (why, h["redis"])
    assert "local limits" in why
    # chats still answered meanwhile (local fallback): degraded, not down
    assert chat(stack)["status"] == "complete"
    redis.start()
    assert_ok(stack)


def test_provider_breaker_open_names_the_provider(stack, mock):
    assert_ok(stack)
    mock.reset()
    mock.queue({"scenario": "status", "status": 503})
    end = chat(stack)
    assert end["chunk"]["code"] == "provider_unavailable", end
    h = wait_verdict(stack, "degraded", "llm")
    assert_only(stack, h, "llm")
    why = reasons_of(h, "llm")[0]
    state = h["llm_client_stats"]["providers"]["mock"]["breaker"]["state"]
    # open, or already half-open on a slow machine: the reason says which
    assert state in ("open", "half_open"), state
    assert "provider 'mock': circuit breaker " + (
        "open" if state == "open" else "half-open") in why, why
    # after the cooldown: half-open, still degraded until a probe succeeds
    h = wait_until(lambda: (lambda h: "half-open" in " ".join(
        reasons_of(h, "llm")) and h)(stack.health()), COOLDOWN_S + 5,
        what="the breaker half-open")
    assert h["status"] == "degraded"
    assert chat(stack)["status"] == "complete"      # the probe
    assert_ok(stack)


def test_mcp_server_dies_names_the_server(stack):
    h = assert_ok(stack)
    pid = h["mcp_stats"]["servers"]["everything"]["pid"]
    assert pid > 0
    os.kill(pid, signal.SIGKILL)
    h = wait_verdict(stack, "degraded", "mcp")
    assert_only(stack, h, "mcp")
    why = reasons_of(h, "mcp")[0]
    assert "MCP server 'everything'" in why, why
    # it is restarted by itself (initial_reconnect_delay) and ok again
    assert_ok(stack)
    assert h["mcp_stats"]["servers"]["everything"]["state"] != "ready"


def test_mcpd_killed_is_a_backend_reason(stack):
    assert_ok(stack)
    stack.kill_mcpd(signal.SIGKILL)
    h = wait_verdict(stack, "degraded", "backend")
    assert_only(stack, h, "backend")
    assert "no link to mcpd" in reasons_of(h, "backend")[0]
    assert "mcpd" not in h
    stack.start_mcpd()
    wait_verdict(stack, "ok", timeout=30, what="ok after mcpd restarted")
    assert_ok(stack)


def test_another_workers_missing_link_is_a_backend_reason(make_stack):
    """mcpd takes one link (daemon.max_links: 1) of nginx's two workers:
    the worker left without one answers its clients backend_unavailable,
    so the verdict is degraded whichever worker answers /health.  The
    linked worker names the other in the backend reason."""
    s = make_stack(mcpd_yaml={"daemon": {"max_links": 1}})
    s.start_mcpd()
    s.start_nginx(all_links=False)      # both links: never, by design
    other = "another nginx worker has no link to mcpd"
    seen = []

    def from_the_linked_worker():
        h = s.health()
        seen.append(h["status"])
        # both workers started (the other one's slot taken: it has tried)
        return ("mcpd" in h and len(h["backend"]["workers"]) == 2) and h
    h = wait_until(from_the_linked_worker, 15, interval=0.05,
                   what="/health answered by the worker with the link")
    assert set(seen) == {"degraded"}, seen      # from either worker
    assert_only(s, h, "backend")
    assert len(h["reasons"]) == 1 and other in h["reasons"][0]["reason"]
    links = sorted(w["link"] for w in h["backend"]["workers"])
    assert links[-1] == "up" and links[0] != "up", links
    assert "max_links reached" in s.mcpd.log()


def test_mcp_server_that_cannot_start(make_stack, tmp_path):
    servers = tmp_path / "servers.json"
    servers.write_text(json.dumps({"mcpServers": {"broken": {
        "command": str(tmp_path / "no-such-server")}}}))
    s = make_stack(mcpd_yaml={"mcp": {"config_file": str(servers)}})
    s.start()
    h = wait_verdict(s, "degraded", "mcp")
    assert_only(s, h, "mcp")
    why = reasons_of(h, "mcp")[0]
    assert "MCP server 'broken'" in why, why
    assert "no-such-server" in why, why      # its last error


def fill(path):
    """Write a file until the file system is full; its name."""
    name = os.path.join(path, "filler")
    with open(name, "wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError:
            pass
    return name


def test_store_on_a_full_disk_then_freed(make_stack, tmp_path):
    with tmpfs(str(tmp_path / "disk"), "4m") as mnt:
        s = make_stack(mcpd_yaml={"chat": {"service": {
            "provider": "offline", "offline_delay": "0ms",
            "repository": {"path": os.path.join(mnt, "events.db")}}}})
        s.start()
        assert chat(s)["status"] == "complete"
        assert_ok(s)
        filler = fill(mnt)
        chat(s, "this will not fit " * 200)
        h = wait_verdict(s, "degraded", "repository")
        assert_only(s, h, "repository")
        why = reasons_of(h, "repository")[0]
        assert "full" in why, why
        os.unlink(filler)
        assert chat(s)["status"] == "complete"
        assert_ok(s)
        s.stop()


def test_chat_on_the_provider_layer_without_any_key(make_stack):
    """provider: llm, but the only provider's api_key_env is not set: every
    chat fails, and the verdict says why (the offline demo that `auto`
    picks without a key is a mode, not a fault: test_healthy_... above
    and test_mcpd_e2e)."""
    env = "MCP_TEST_HEALTH_NO_SUCH_KEY"
    assert env not in os.environ
    s = make_stack(mcpd_yaml={
        "llm": {"active": "absent", "providers": {"absent": {
            "base_url": "http://127.0.0.1:9/v1", "model": "m",
            "api_key_env": env}}},
        "chat": {"service": {"provider": "llm"}}})
    s.start()
    h = wait_verdict(s, "degraded", "chat")
    assert_only(s, h, "chat")
    assert "API key" in reasons_of(h, "chat")[0]
    end = chat(s)
    # the app developer's answer: the provider can't be used, and why
    assert end["status"] == "error", end
    assert end["chunk"]["code"] == "provider_unavailable", end
    assert env in end["chunk"]["error"], end


def test_store_file_destroyed_under_mcpd(make_stack):
    """The database file overwritten while mcpd runs: the connections'
    health checks fail and cannot reopen it; the verdict names the pools,
    and mcpd stays up."""
    s = make_stack(mcpd_yaml={"chat": {"service": {
        "provider": "offline", "offline_delay": "0ms",
        "repository": {"connection_pool": {
            "health_check_interval": "200ms"}}}}})
    s.start()
    assert chat(s)["status"] == "complete"
    h = assert_ok(s)
    with open(h["repository_stats"]["path"], "r+b") as f:
        f.write(b"not a database " * 4096)
    h = wait_verdict(s, "degraded", "repository")
    assert_only(s, h, "repository")
    why = " ".join(reasons_of(h, "repository"))
    assert "reader connections are not open" in why, why
    assert s.mcpd.proc.poll() is None


# ------------------------------------------------------------ the fold

class StatsMcpd(FakeMcpd):
    """A stand-in mcpd whose STATS reply is whatever the test says (None:
    no reply at all)."""

    reply = b"{}"

    def answer(self, c, t, fl, sid, p):
        if t == STATS:
            if self.reply is not None:
                c.sendall(frame(STATS, sid, self.reply, F_REPLY))
        else:
            super().answer(c, t, fl, sid, p)


@pytest.fixture
def stand_in(tmp_path):
    s = Stack(tmp_path, workers=1)
    os.makedirs(os.path.dirname(s.socket), exist_ok=True)
    f = StatsMcpd(s.socket)
    s.start_nginx()
    wait_until(lambda: f.of_type(HELLO), 10, what="HELLO from the module")
    yield s, f
    s.stop()
    f.close()


def test_reasons_folded_wherever_health_is(stand_in):
    """The module takes mcpd's health member out of the splice wherever it
    is, keeps the members around it, and its reasons become the
    document's, in order."""
    s, f = stand_in
    f.reply = (b'{"a": {"x": 1}, "health": {"status": "degraded", "reasons":'
               b' [{"component": "redis", "reason": "down [1]"},'
               b' {"component": "mcp", "reason": "quote \\" and }"}]},'
               b' "b": [1, 2]}')
    h = s.health()
    assert h["status"] == "degraded"
    assert h["reasons"] == [
        {"component": "redis", "reason": "down [1]"},
        {"component": "mcp", "reason": 'quote " and }'}]
    assert h["a"] == {"x": 1} and h["b"] == [1, 2] and "health" not in h
    f.reply = b'{"health": {"status": "ok", "reasons": []}, "a": 2}'
    h = s.health()
    assert (h["status"], h["reasons"], h["a"]) == ("ok", [], 2)


def test_a_reply_that_is_not_json_is_a_backend_reason(stand_in):
    s, f = stand_in
    f.reply = b'{"a": 1, "health": {"reasons": [}'
    h = s.health()
    assert h["status"] == "degraded"
    assert reasons_of(h, "backend") == ["mcpd's status reply is not a "
                                        "JSON object"]
    assert "a" not in h


def test_mcpd_that_does_not_answer_is_a_backend_reason(stand_in):
    s, f = stand_in
    f.reply = None
    h = s.health()                          # after the module's 1 s
    assert h["status"] == "degraded"
    assert "did not answer" in reasons_of(h, "backend")[0]
    overall, parts = prom_verdict(s)
    assert overall == 1 and parts == {"backend": 1}
