"""writer_affinity (docs/storage.md, "CPU placement"): with `loop`, mcpd's
event loop and the repository's writers share one CPU, the readers and the
checkpointer get the others, and the processes mcpd starts (MCP servers)
keep every CPU mcpd had.  The default leaves placement to the kernel.  A
process allowed one CPU runs as before and says why nothing was placed."""

import asyncio
import json
import os
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "mcp"))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from chat_client import ChatClient, conv_of  # noqa: E402
from linkclient import Link  # noqa: E402
from mcphost import everything  # noqa: E402
from stack import MCPD_BIN, Stack, wait_until  # noqa: E402

ALL = set(os.sched_getaffinity(0))

pytestmark = pytest.mark.skipif(len(ALL) < 2, reason="needs two CPUs")


def cpus_of(status_path):
    """Cpus_allowed_list of /proc/.../status as a set of CPU numbers."""
    with open(status_path) as f:
        for line in f:
            if line.startswith("Cpus_allowed_list:"):
                out = set()
                for part in line.split(":", 1)[1].strip().split(","):
                    lo, _, hi = part.partition("-")
                    out.update(range(int(lo), int(hi or lo) + 1))
                return out
    raise AssertionError("no Cpus_allowed_list in " + status_path)


def threads(pid):
    """[(name, cpus)] of every thread of pid."""
    out = []
    for tid in os.listdir("/proc/%d/task" % pid):
        base = "/proc/%d/task/%s/" % (pid, tid)
        with open(base + "comm") as f:
            name = f.read().strip()
        out.append((int(tid), name, cpus_of(base + "status")))
    return out


def of(ts, name):
    return [c for _, n, c in ts if n == name]


def affinity_stack(tmp_path, mode, **pool):
    servers = tmp_path / "servers.json"
    servers.write_text(json.dumps({"mcpServers": {
        "everything": everything()}}))
    s = Stack(tmp_path, mcpd_yaml={
        "chat": {"service": {
            "provider": "offline", "offline_delay": "0ms",
            "repository": {"connection_pool": dict(
                {"writer_affinity": mode, "max_readers": 3,
                 "max_writers": 2}, **pool)}}},
        "mcp": {"config_file": str(servers)}})
    s.start()
    return s


def chat_and_read_back(stack):
    async def main():
        async with ChatClient(stack.ws_url) as c:
            f = await c.chat("placed")
            assert f[-1]["status"] == "complete"
            conv = conv_of(f)
            h = await c.call("history", {"conversation_id": conv})
            assert h["status"] == "complete", h
            return [m["content"] for m in h["chunk"]["metadata"]["messages"]]
    return asyncio.run(main())


def server_pid(stack):
    with Link(stack.mcpd.socket) as link:
        link.hello()

        def ready():
            e = link.stats()["mcp_stats"]["servers"]["everything"]
            return e["pid"] if e["state"] == "ready" else None
        return wait_until(ready, timeout=30, what="everything ready")


def repo_stats(stack):
    with Link(stack.mcpd.socket) as link:
        link.hello()
        return link.stats()["repository_stats"]


def test_loop_and_writers_share_a_cpu_the_rest_do_not(tmp_path):
    s = affinity_stack(tmp_path, "loop")
    try:
        aff = repo_stats(s)["writer_affinity"]
        assert aff["mode"] == "loop"
        cpu = aff["loop_cpu"]
        assert cpu in ALL
        mcpd = s.mcpd.proc.pid
        ts = threads(mcpd)
        loop = [c for tid, _, c in ts if tid == mcpd]
        assert loop == [{cpu}]
        assert of(ts, "repo-writer") == [{cpu}] * 2
        assert of(ts, "repo-reader") == [ALL - {cpu}] * 3
        assert of(ts, "repo-ckpt") == [ALL - {cpu}]
        # an MCP server started by the pinned loop has all of mcpd's CPUs,
        # and so has every thread it started
        pid = server_pid(s)
        assert {frozenset(c) for _, _, c in threads(pid)} == {frozenset(ALL)}
        # the store works as before: the turn and its reply read back
        assert chat_and_read_back(s)[0] == "placed"
        assert ("writer_affinity loop: the event loop and the writers on "
                "CPU %d" % cpu) in s.mcpd.log()
    finally:
        s.stop()


def test_default_leaves_placement_to_the_kernel(tmp_path):
    s = affinity_stack(tmp_path, "none")
    try:
        assert repo_stats(s)["writer_affinity"] == {"mode": "none"}
        ts = threads(s.mcpd.proc.pid)
        assert {frozenset(c) for _, _, c in ts} == {frozenset(ALL)}
        assert chat_and_read_back(s)[0] == "placed"
    finally:
        s.stop()


def test_one_cpu_allowed_places_nothing_and_says_why(tmp_path):
    """Started on one CPU (taskset, a cpuset): nothing to separate."""
    one = min(ALL)
    os.sched_setaffinity(0, {one})      # mcpd inherits it
    try:
        s = affinity_stack(tmp_path, "loop")
    finally:
        os.sched_setaffinity(0, ALL)
    try:
        aff = repo_stats(s)["writer_affinity"]
        assert aff["mode"] == "loop" and aff["loop_cpu"] == -1
        assert "one CPU only" in aff["not_done"]
        assert "writer_affinity loop not applied" in s.mcpd.log()
        assert chat_and_read_back(s)[0] == "placed"
    finally:
        s.stop()


def test_bad_value_is_a_config_error_with_its_place(tmp_path):
    conf = tmp_path / "mcpd.yaml"
    conf.write_text("chat:\n  service:\n    repository:\n"
                    "      connection_pool:\n        writer_affinity: cpu0\n")
    p = subprocess.run([MCPD_BIN, "-c", str(conf), "--check-config"],
                       capture_output=True, text=True, timeout=10)
    out = p.stdout + p.stderr
    assert p.returncode == 1
    assert "mcpd.yaml:5:26" in out, out
    assert "none" in out and "loop" in out, out
