"""The scaled-out topology of issue 7 for tests: a real redis-server on
loopback, two instances (each a real nginx with our module + a real mcpd,
own directory, own SQLite file, a `redis:` block naming the instance) and a
third, plain nginx balancing WebSockets over the two, generated from
conf/examples/cluster/nginx-balancer.conf (so the shipped example is what
the tests run).

    c = Cluster(tmpdir, mock_url, routing="round_robin",
                mcpd_yaml={...}, redis_yaml={...}, http_client={...})
    c.start()
    async with c.client() as ws:            # through the balancer
        ws.instance                         # 0 or 1: where it landed
        frames = await ws.chat("hi")
    async with c.client(instance=1) as ws:  # straight to instance 1
    r = await c.chat_once("hi")             # own socket: instance, frames,
                                            # seconds
    end = await c.history(conv)             # routed by conv (or instance=)
    run_all([c.chat_once(...) for ...])     # many at once, from sync code
    c.health(), c.instance_health(i), c.redis_status(i)
    c.stored(i)                             # {request_id: rows} in i's SQLite
    mock_chats(llm_mock), max_in_window(times_ms)
    c.kill_mcpd(i) / c.start_mcpd(i), c.kill_nginx(i) / c.start_nginx(i)
    c.redis.kill() / c.redis.start() / c.redis.freeze() / c.redis.thaw()
    c.stop()

routing: "round_robin" (nginx's default), "least_conn" (the example's), or
"conversation" (`hash $arg_conversation_id consistent`: a socket opened as
/ws/chat?conversation_id=ID always reaches the same instance; without
the argument nginx falls back to round robin, so new conversations still
spread; a client may name a new conversation's id itself).  The
balancer adds an X-Mcp-Upstream header (the instance's address) to every
answer, which is how a client learns where it landed.

Fixtures (imported by t/conftest.py): redis_server, llm_mock,
make_cluster(**kw) (started clusters, all stopped after the test).  Every
wait is bounded; every port is a free loopback one; nothing outlives stop().
"""

import asyncio
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import time
import urllib.request

import pytest

from chat_client import ChatClient
from stack import (HEALTH_PATH, NGINX_BIN, ROOT, Fatal, Stack, deep_merge,
                   free_port, stop_session, wait_until)

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
BALANCER_EXAMPLE = os.path.join(ROOT, "conf", "examples", "cluster",
                                "nginx-balancer.conf")
UPSTREAM_HEADER = "X-Mcp-Upstream"
ROUTING = {
    "round_robin": "",
    "least_conn": "least_conn;",
    "conversation": "hash $arg_conversation_id consistent;",
}

# seconds an instance stays alive for the fleet after its last heartbeat
HEARTBEAT_TTL = 2.0

needs_redis = pytest.mark.skipif(not os.path.exists(REDIS_SERVER),
                                 reason="redis-server not installed")


# ------------------------------------------------------------ redis-server

def resp_encode(args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out


class RespReader:
    """One RESP2 reply from a socket: bytes, int, list, None, or a
    RedisError instance for an error reply."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def _more(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("redis closed the connection")
        self.buf += chunk

    def _line(self):
        while b"\r\n" not in self.buf:
            self._more()
        line, _, self.buf = self.buf.partition(b"\r\n")
        return line

    def _exact(self, n):
        while len(self.buf) < n + 2:
            self._more()
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def reply(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest
        if kind == b"-":
            return RedisError(rest.decode(errors="replace"))
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else self._exact(n)
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self.reply() for _ in range(n)]
        raise ValueError("bad RESP line %r" % line)


class RedisError(Exception):
    pass


class Redis:
    """One redis-server on a free loopback port, in its own directory,
    without persistence (a restart loses every key, as a crash of a
    cache-only Redis would).  It can be killed and started again on the
    same port, or frozen (SIGSTOP: connections stay open, nothing answers,
    the "slow Redis" case) and thawed."""

    def __init__(self, rundir, port=None, password=None, unixsocket=False):
        """password: requirepass (the default user's); unixsocket: listen
        on <rundir>/redis.sock too (self.socket)."""
        self.dir = str(rundir)
        os.makedirs(self.dir, exist_ok=True)
        self.port = port or free_port()
        self.password = password
        self.socket = os.path.join(self.dir, "redis.sock") \
            if unixsocket else None
        self.proc = None

    @property
    def address(self):
        return "127.0.0.1:%d" % self.port

    def start(self, timeout=10.0):
        self.proc = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1",
             "--dir", self.dir, "--save", "", "--appendonly", "no",
             "--logfile", os.path.join(self.dir, "redis.log")]
            + (["--requirepass", self.password] if self.password else [])
            + (["--unixsocket", self.socket, "--unixsocketperm", "700"]
               if self.socket else []),
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, start_new_session=True)
        wait_until(self._ready, timeout, what="redis-server to answer PING "
                   "(log: %s)" % os.path.join(self.dir, "redis.log"))
        return self

    def _ready(self):
        if self.proc.poll() is not None:
            raise Fatal("redis-server exited with %s" % self.proc.returncode)
        # ours, not another server on the port: its process id is ours
        info = self.command("INFO", "server").decode()
        return "\r\nprocess_id:%d\r\n" % self.proc.pid in info

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def command(self, *args, db=0, timeout=2.0):
        """One command on a new connection (authenticated, in database
        db); its decoded reply."""
        with socket.create_connection(("127.0.0.1", self.port),
                                      timeout) as s:
            pre = [("AUTH", self.password)] if self.password else []
            pre += [("SELECT", db)] if db else []
            s.sendall(b"".join(resp_encode(c) for c in pre + [args]))
            reader = RespReader(s)
            for c in pre:
                r = reader.reply()
                if isinstance(r, RedisError):
                    return r
            return reader.reply()

    def freeze(self):
        self.proc.send_signal(signal.SIGSTOP)

    def thaw(self):
        self.proc.send_signal(signal.SIGCONT)

    def kill(self, timeout=10.0):
        if self.alive():
            self.proc.send_signal(signal.SIGCONT)    # in case it is frozen
            self.proc.kill()
            self.proc.wait(timeout)

    def stop(self, timeout=10.0):
        """SIGTERM (a clean shutdown), SIGKILL after timeout."""
        if self.alive():
            self.proc.send_signal(signal.SIGCONT)
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()


# ------------------------------------------------------------ mcpd config

def instance_yaml(name, redis_address, mock_url=None, redis=None,
                  http_client=None):
    """mcpd.yaml of one instance: the `redis:` block (fast heartbeats and
    reconnects, so tests see changes within a second), and, with mock_url,
    the LLM mock as the only provider, without retries or breaker so the
    mock sees every request once."""
    conf = {"redis": {
        "address": redis_address, "instance_id": name, "key_prefix": "t:",
        "heartbeat_interval": "200ms",
        "heartbeat_ttl": "%dms" % (HEARTBEAT_TTL * 1000),
        "connect_timeout": "500ms", "command_timeout": "250ms",
        "reconnect_min": "50ms", "reconnect_max": "500ms"}}
    conf["redis"].update(redis or {})
    if mock_url:
        client = {"http2": False, "max_retries": 0, "backoff_factor": 0.05,
                  "connect_timeout": 2, "read_timeout": 10,
                  "write_timeout": 2, "breaker_failures": 0}
        client.update(http_client or {})
        conf["llm"] = {"active": "mock", "providers": {"mock": {
            "base_url": mock_url, "model": "mock-text", "api_key_env": "",
            "http_client": client}}}
        conf["chat"] = {"service": {"provider": "llm"}}
    return conf


# ------------------------------------------------------------ the balancer

def balancer_conf(example_text, port, upstreams, rundir, host="127.0.0.1",
                  routing="least_conn", upstream_header=False):
    """conf/examples/cluster/nginx-balancer.conf made concrete: the listen
    port, the instances' addresses, the routing, paths under rundir.  Each
    substitution must find its anchor: a changed example fails loudly here
    instead of silently running something else."""

    def sub(pattern, repl, text, count=0):
        new, n = re.subn(pattern, repl, text, count=count)
        if n == 0:
            raise ValueError("%s: no match for %r" % (BALANCER_EXAMPLE,
                                                       pattern))
        return new

    text = sub(r"listen 127\.0\.0\.1:8080", "listen %s:%d" % (host, port),
               example_text)
    text = sub(r"(?ms)^([ \t]*)upstream mcp_edge \{\n(.*?)^\1\}",
               lambda m: m.group(0).replace(m.group(2), upstream_body(
                   m.group(2), upstreams, routing)), text, 1)
    text = text.replace("run/cluster/", rundir.rstrip("/") + "/")
    if upstream_header:
        text = sub(r"(?m)^([ \t]*)proxy_pass http://mcp_edge;\n",
                   lambda m: m.group(0) + "%sadd_header %s $upstream_addr "
                   "always;\n" % (m.group(1), UPSTREAM_HEADER), text)
    if os.geteuid() == 0:
        # workers must reach files of a root-owned checkout
        text = sub(r"worker_processes", "user root;\nworker_processes", text,
                   1)
    return text


ROUTING_LINE = re.compile(r"\s*(least_conn|ip_hash|hash|random)\b")
SERVER_LINE = re.compile(r"\s*server\s")


def upstream_body(body, upstreams, routing):
    """The example's upstream block with our routing and one server line
    per instance (keeping the example's server parameters: max_fails...);
    comments stay."""
    lines = body.splitlines(keepends=True)
    servers = [l for l in lines if SERVER_LINE.match(l)]
    if not servers:
        raise ValueError("%s: no server in upstream" % BALANCER_EXAMPLE)
    keep = [l for l in lines
            if not SERVER_LINE.match(l) and not ROUTING_LINE.match(l)]
    pad = servers[0][:len(servers[0]) - len(servers[0].lstrip())]
    route = pad + ROUTING[routing] + "\n" if ROUTING[routing] else ""
    return "".join(keep) + route + "".join(
        re.sub(r"server\s+\S+", lambda m: "server " + u, servers[0], 1)
        for u in upstreams)


class Balancer:
    """The load-balancing nginx (plain: no module) in rundir."""

    def __init__(self, rundir, upstreams, port=None, host="127.0.0.1",
                 routing="round_robin", upstream_header=True):
        self.dir = os.path.abspath(str(rundir))
        self.host = host
        self.port = port or free_port(host)
        self.upstreams = list(upstreams)
        self.routing = routing
        self.upstream_header = upstream_header
        self.proc = None
        self.logf = None

    @property
    def conf_path(self):
        return os.path.join(self.dir, "balancer.conf")

    @property
    def http_url(self):
        return "http://%s:%d" % (self.host, self.port)

    def write_conf(self):
        os.makedirs(os.path.join(self.dir, "tmp"), exist_ok=True)
        with open(BALANCER_EXAMPLE) as f:
            text = balancer_conf(f.read(), self.port, self.upstreams,
                                 self.dir, self.host, self.routing,
                                 self.upstream_header)
        with open(self.conf_path, "w") as f:
            f.write(text)

    def start(self, timeout=15.0):
        self.write_conf()
        self.logf = open(os.path.join(self.dir, "balancer-stderr.log"), "ab")
        self.proc = subprocess.Popen(
            [NGINX_BIN, "-p", self.dir + "/", "-c", self.conf_path,
             "-e", os.path.join(self.dir, "balancer-error.log"),
             "-g", "daemon off;"],
            stdin=subprocess.DEVNULL, stdout=self.logf, stderr=self.logf,
            start_new_session=True)
        wait_until(self._ready, timeout, what="balancer on port %d (log: %s)"
                   % (self.port, os.path.join(self.dir, "balancer-error.log")))
        return self

    def _ready(self):
        if self.proc.poll() is not None:
            raise Fatal("balancer nginx exited with %s"
                        % self.proc.returncode)
        with urllib.request.urlopen(self.http_url + HEALTH_PATH,
                                    timeout=1) as r:
            return r.status == 200

    def stop(self, timeout=10.0):
        if self.proc is None:
            return
        stop_session(self.proc, signal.SIGQUIT, timeout, then=signal.SIGTERM)
        if self.logf:
            self.logf.close()
            self.logf = None


# ------------------------------------------------------------ the cluster

class ClusterClient(ChatClient):
    """A ChatClient that knows which instance it reached (.instance, an
    index into cluster.instances), from the balancer's X-Mcp-Upstream."""

    def __init__(self, cluster, url, instance=None, **kw):
        super().__init__(url, **kw)
        self.cluster = cluster
        self.instance = instance

    async def __aenter__(self):
        await super().__aenter__()
        if self.instance is None:
            up = self.ws.response_headers.get(UPSTREAM_HEADER, "")
            self.instance = self.cluster.instance_of(up)
        return self


class Cluster:
    """Redis, instances "a" and "b" (Stacks: .instances[0], [1]; their
    mcpd configs from instance_yaml, mcpd_yaml merged over it) and the
    balancer.  One nginx worker per instance: two cores shared by many."""

    NAMES = ("a", "b")

    def __init__(self, tmpdir, mock_url=None, routing="round_robin",
                 mcpd_yaml=None, redis_yaml=None, http_client=None,
                 nginx_location=None, workers=1):
        self.dir = os.path.abspath(str(tmpdir))
        self.redis = Redis(os.path.join(self.dir, "redis"))
        self.instances = []
        for name in self.NAMES:
            conf = instance_yaml(name, self.redis.address, mock_url,
                                 redis_yaml, http_client)
            st = Stack(os.path.join(self.dir, name), workers=workers,
                       nginx_location=nginx_location,
                       mcpd_yaml=deep_merge(conf, mcpd_yaml))
            st.name = name
            self.instances.append(st)
        self.balancer = Balancer(
            os.path.join(self.dir, "balancer"),
            ["127.0.0.1:%d" % s.port for s in self.instances],
            routing=routing)

    # -- lifecycle

    def start(self, timeout=15.0):
        try:
            self.redis.start()
            for st in self.instances:
                st.start(timeout)
            self.balancer.start(timeout)
            wait_until(lambda: all(
                self.redis_status(i).get("instances_alive") == 2
                for i in range(len(self.instances))), timeout,
                what="both instances up on Redis with both heartbeats")
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self):
        self.balancer.stop()
        for st in self.instances:
            st.stop()
        self.redis.kill()

    def kill_mcpd(self, i, sig=signal.SIGKILL):
        return self.instances[i].kill_mcpd(sig)

    def start_mcpd(self, i):
        self.instances[i].start_mcpd()
        # its nginx workers reconnect with backoff: ready again when they
        # have, as a client would see it
        wait_until(self.instances[i]._nginx_ready, 15,
                   what="instance %d's links back up" % i)

    def kill_nginx(self, i, sig=signal.SIGKILL):
        self.instances[i].stop_nginx(sig)

    def start_nginx(self, i):
        self.instances[i].start_nginx()

    # -- clients

    @property
    def ws_url(self):
        return "ws://%s:%d/ws/chat" % (self.balancer.host, self.balancer.port)

    def client(self, instance=None, query="", **kw):
        """A ClusterClient through the balancer, or straight to instance
        (an index).  query: "conversation_id=..." for routing."""
        if instance is None:
            url = self.ws_url
        else:
            url = self.instances[instance].ws_url
        if query:
            url += "?" + query
        return ClusterClient(self, url, instance, **kw)

    def instance_of(self, upstream_addr):
        """Index of the instance at an address the balancer reported (the
        last one if it tried several)."""
        last = upstream_addr.split(",")[-1].split(":")[-1].strip()
        for i, st in enumerate(self.instances):
            if last == str(st.port):
                return i
        raise AssertionError("unknown upstream %r" % upstream_addr)

    async def chat_once(self, text, instance=None, query="", **kw):
        """One chat on a socket of its own (through the balancer unless
        instance is given): {"instance", "frames", "seconds"}."""
        t0 = time.monotonic()
        async with self.client(instance, query) as ws:
            frames = await ws.chat(text, **kw)
            return {"instance": ws.instance, "frames": frames,
                    "seconds": time.monotonic() - t0}

    async def history(self, conv, instance=None, limit=500):
        """The messages of conv, read on a socket of its own (through the
        balancer, routed by conv, unless instance is given): the history
        frame's end."""
        async with self.client(instance, "conversation_id=" + conv) as ws:
            return await ws.call("history", {"conversation_id": conv,
                                             "limit": limit})

    # -- observation

    def health(self):
        """/health through the balancer (whichever instance answers)."""
        with urllib.request.urlopen(self.balancer.http_url + HEALTH_PATH,
                                    timeout=5) as r:
            return json.loads(r.read())

    def instance_health(self, i):
        return self.instances[i].health()

    def redis_status(self, i):
        """The `redis` section of instance i's /health ({} if absent)."""
        return self.instance_health(i).get("redis") or {}

    def db_path(self, i):
        st = self.instances[i]
        return st.mcpd.conf["chat"]["service"]["repository"]["path"]

    def stored(self, i):
        """{request_id: number of stored messages} in instance i's SQLite
        file, read beside the running mcpd (WAL: readers never block it)."""
        db = sqlite3.connect("file:%s?mode=ro" % self.db_path(i), uri=True,
                             timeout=5)
        try:
            return dict(db.execute(
                "SELECT request_id, count(*) FROM messages "
                "WHERE request_id IS NOT NULL GROUP BY request_id"))
        finally:
            db.close()


async def blocking(fn, *args, **kw):
    """Run a blocking call (a bounded wait_until on status) in a thread,
    so the clients on the event loop go on meanwhile."""
    return await asyncio.get_running_loop().run_in_executor(
        None, lambda: fn(*args, **kw))


def run_all(coros):
    """Run coroutines at once on a new event loop; their results, in
    order."""
    async def together():
        return await asyncio.gather(*coros)
    return asyncio.run(together())


def mock_chats(mock):
    """The chat requests the LLM mock received (what the provider saw)."""
    return [r for r in mock.requests()
            if r.get("path", "").endswith("/chat/completions")]


def max_in_window(times_ms, window_ms=60000):
    """The most events in any window_ms-long window (sliding)."""
    times = sorted(times_ms)
    best, lo = 0, 0
    for hi, t in enumerate(times):
        while t - times[lo] >= window_ms:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


# ------------------------------------------------------------ fixtures

@pytest.fixture
def redis_server(tmp_path):
    if not os.path.exists(REDIS_SERVER):
        pytest.skip("redis-server not installed")
    r = Redis(tmp_path / "redis").start()
    yield r
    r.kill()


@pytest.fixture
def llm_mock():
    from test_llm_util import Mock
    m = Mock()
    yield m
    m.stop()


@pytest.fixture
def make_cluster(tmp_path, llm_mock):
    """make_cluster(**Cluster kwargs) -> a started Cluster whose provider is
    llm_mock (mock_url=None: the offline demo provider); all are stopped
    after the test."""
    if not os.path.exists(REDIS_SERVER):
        pytest.skip("redis-server not installed")
    made = []

    def make(**kw):
        kw.setdefault("mock_url", llm_mock.base_url)
        c = Cluster(tmp_path / ("cluster%d" % len(made)), **kw)
        made.append(c)
        return c.start()

    yield make
    for c in made:
        c.stop()
