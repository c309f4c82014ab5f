"""`make run-cluster` (t/lib/run_stack.py --cluster) as an operator uses it:
it comes up on PORT, /health on the balancer answers for the cluster, a
chat through it completes (offline demo provider: no API key), and Ctrl-C
stops every process it started (redis-server, two mcpd with their MCP
servers, three nginx with their workers) within a bounded time."""

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from chat_client import ChatClient, run  # noqa: E402
from cluster import needs_redis  # noqa: E402
from stack import ROOT, Fatal, free_port, wait_until  # noqa: E402

pytestmark = needs_redis

KEY_VARS = ("OPENAI_API_KEY", "GROQ_API_KEY", "OPENROUTER_API_KEY")


def processes():
    """{pid: (parent pid, session id, command line)} of every process
    now."""
    out = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                stat = f.read()
            with open("/proc/%s/cmdline" % d, "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        # the fields after the command name (which may hold spaces)
        fields = stat[stat.rindex(")") + 2:].split()
        if fields[0] == "Z":
            continue                        # exited, not yet reaped
        out[int(d)] = (int(fields[1]), int(fields[3]), cmd)
    return out


def environ(pid):
    """A process's environment, as it was started."""
    with open("/proc/%d/environ" % pid, "rb") as f:
        pairs = f.read().decode(errors="replace").split("\0")
    return dict(p.split("=", 1) for p in pairs if "=" in p)


def children(parent, procs=None):
    """{pid: command line} of parent's children: what run_stack started
    (redis-server, mcpd, the nginx masters), each in a session of its
    own."""
    procs = processes() if procs is None else procs
    return {pid: cmd for pid, (ppid, _, cmd) in procs.items()
            if ppid == parent}


def started_by(parent):
    """Its children and everything in their sessions (nginx workers, the
    MCP servers of each mcpd)."""
    procs = processes()
    lead = children(parent, procs)
    return {pid: cmd for pid, (_, sid, cmd) in procs.items()
            if pid in lead or sid in lead}


def test_run_cluster_starts_serves_and_stops_on_ctrl_c(tmp_path):
    port = free_port()
    rundir = str(tmp_path / "cluster")
    env = {k: v for k, v in os.environ.items() if k not in KEY_VARS}
    env["PORT"] = str(port)
    log = open(str(tmp_path / "run_stack.log"), "wb")
    proc = subprocess.Popen(
        [sys.executable, os.path.join(ROOT, "t", "lib", "run_stack.py"),
         "--cluster", "--dir", rundir], cwd=ROOT, env=env,
        stdin=subprocess.DEVNULL, stdout=log, stderr=log,
        start_new_session=True)
    base = "http://127.0.0.1:%d" % port
    seen = {}
    try:
        def cluster_up():
            if proc.poll() is not None:
                raise Fatal("run_stack exited with %s" % proc.returncode)
            with urllib.request.urlopen(base + "/health", timeout=2) as r:
                h = json.loads(r.read())
            return (h["redis"]["state"] == "up"
                    and h["redis"]["instances_alive"] == 2)
        wait_until(cluster_up, 60, what="the cluster's /health on %s" % base)

        async def chat():
            async with ChatClient("ws://127.0.0.1:%d/ws/chat" % port,
                                  timeout=20) as c:
                return await c.chat("hello cluster")
        frames = run(chat())
        assert frames[-1]["status"] == "complete", frames[-1]
        assert any(f["status"] == "chunk" for f in frames)
        with urllib.request.urlopen(base + "/", timeout=5) as r:
            assert b"<html" in r.read().lower()         # the chat page

        seen = started_by(proc.pid)
        lead = list(children(proc.pid).values())
        assert sum("redis-server" in c for c in lead) == 1, lead
        assert sum("mcpd.yaml" in c for c in lead) == 2, lead
        assert sum("nginx" in c and ".conf" in c for c in lead) == 3, lead
        assert len(seen) >= 6 + 3, seen         # + one worker per nginx

        # each instance's memory server keeps its own knowledge graph
        graphs = sorted(environ(pid).get("MEMORY_FILE_PATH", "")
                        for pid, cmd in seen.items() if "server-memory" in cmd)
        assert graphs == [os.path.join(rundir, "i1", "memory.jsonl"),
                          os.path.join(rundir, "i2", "memory.jsonl")], graphs

        os.killpg(proc.pid, signal.SIGINT)          # what Ctrl-C does
        t0 = time.monotonic()
        assert proc.wait(45) == 0
        left = {}

        def all_gone():
            nonlocal left
            now = processes()
            left = {pid: cmd for pid, cmd in seen.items() if pid in now}
            return not left
        try:
            wait_until(all_gone, 15, what="the cluster's processes to exit")
        except TimeoutError:
            raise AssertionError("still running %.1fs after Ctrl-C: %s"
                                 % (time.monotonic() - t0, left))
    finally:
        stop_leftovers(proc, seen)
        log.close()


def stop_leftovers(proc, seen):
    """After a failure: Ctrl-C once more, then SIGKILL to run_stack and to
    the sessions it started, so that nothing outlives the test."""
    lead = set(children(proc.pid)) if proc.poll() is None else set()
    now = processes()
    lead |= {pid for pid in seen if pid in now and now[pid][1] == pid}
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
    for pid in lead:
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
