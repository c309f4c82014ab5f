#!/usr/bin/env python3
"""bench/chat.sh's driver: nginx + module + mcpd with the LLM mock answering
instantly as the provider, and build/tools/chat_load with 1,000 WebSocket
clients, one conversation each.  For persistence on, then off:

  1. saturation: a closed loop (every client sends its next turn as soon as
     the previous one is complete) gives the maximum turns/s.  Its
     latencies are all queueing (1,000 / rate) and are printed only as such.
  2. paced: a fresh stack, the same 1,000 conversations, an open loop at
     PACE (default 0.5) x the maximum just measured (or RATE turns/s):
     time to first chunk,
     turn time, mcpd's own overhead per turn (the `overhead_ms` of every
     `complete`, the figure chat_stats.overhead_us summarises) and the
     end-to-end overhead (client turn time minus the mock's own time).

Also: CPU per turn of each process (mcpd, nginx workers, mock, load
generator) and the load average, since the machine is shared.  Ends with

  BENCH chat turns_per_s=X ttfc_p50_ms=X ttfc_p99_ms=X overhead_p99_ms=X

turns_per_s from the saturation phase, ttfc and overhead (mcpd's own, p99)
from the paced phase, persistence on.  See docs/benchmarks.md.
"""

import argparse
import json
import os
import select
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "t", "lib"))
from stack import Stack  # noqa: E402

LOAD = os.path.join(ROOT, "build", "tools", "chat_load")
MOCK = os.path.join(ROOT, "build", "tools", "llm_mock")


class Mock:
    """llm_mock without its request log (it is not what is measured)."""

    def __init__(self, words=0):
        self.proc = subprocess.Popen([MOCK, "--no-log", "--words", str(words)],
                                     stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL)
        r, _, _ = select.select([self.proc.stdout], [], [], 10)
        line = self.proc.stdout.readline().decode() if r else ""
        if not line.startswith("PORT "):
            raise RuntimeError("llm_mock did not start: %r" % line)
        self.port = int(line.split()[1])
        self.base_url = "http://127.0.0.1:%d/v1" % self.port

    def stats(self):
        with urllib.request.urlopen("http://127.0.0.1:%d/_mock/stats"
                                    % self.port, timeout=10) as r:
            return json.loads(r.read())

    def stop(self):
        self.proc.kill()
        self.proc.wait(timeout=10)


def parse(line):
    return dict(kv.split("=", 1) for kv in line.split()[1:])


def cpu_s(pid):
    """utime + stime of a process, seconds (0 if it is gone)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            parts = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(parts[11]) + int(parts[12])) / os.sysconf("SC_CLK_TCK")


def nginx_workers(stack):
    out = subprocess.run(["pgrep", "-P", str(stack.nginx.pid)],
                         capture_output=True, text=True).stdout.split()
    return [int(p) for p in out]


WRITER_AFFINITY = "none"     # --writer-affinity


def start_stack(tmp, mock, conns, persist):
    yaml = {
        "logging": {"level": "warn"},
        "llm": {"active": "mock", "providers": {"mock": {
            "base_url": mock.base_url, "model": "mock-text",
            "api_key_env": "",
            "http_client": {"http2": False, "max_connections": 1000,
                            "max_keepalive": 1000,
                            "concurrent_requests": 1000,
                            "queue_size": 10000,
                            "requests_per_minute": 10000000}}}},
        "chat": {"service": {
            "provider": "llm",
            "limits": {"concurrent_requests": 100000,
                       "requests_per_minute": 0},
            "repository": {"connection_pool": {
                "writer_affinity": WRITER_AFFINITY}}}},
        "persistence": {"enabled": persist},
    }
    s = Stack(tmp, mcpd_yaml=yaml,
              nginx_location={"mcp_max_connections": str(conns * 2),
                              "mcp_principal": "$http_x_user"})
    s.start()
    return s


def run_phase(tmp, mock, conns, seconds, persist, rate):
    """One stack, one chat_load run: its RESULT, chat_stats, CPU per turn."""
    warmup = 2.0 if rate == 0 else max(3.0, 1.5 * conns / rate)
    s = start_stack(tmp, mock, conns, persist)
    try:
        procs = {"mcpd": [s.mcpd.proc.pid], "nginx": nginx_workers(s),
                 "mock": [mock.proc.pid]}
        m0 = mock.stats()
        load = subprocess.Popen(
            [LOAD, "--port", str(s.port), "--conns", str(conns),
             "--seconds", str(seconds), "--warmup", str(warmup),
             "--rate", "%.0f" % rate],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        # CPU over the measured window only (after warm-up)
        time.sleep(warmup)
        c0 = {k: sum(cpu_s(p) for p in v) for k, v in procs.items()}
        c0["load"] = cpu_s(load.pid)
        la = os.getloadavg()
        time.sleep(seconds)
        c1 = {k: sum(cpu_s(p) for p in v) for k, v in procs.items()}
        c1["load"] = cpu_s(load.pid)
        out, err = load.communicate(timeout=seconds + 60)
        sys.stderr.write(err[-2000:])
        line = [ln for ln in out.splitlines() if ln.startswith("RESULT")][-1]
        m1 = mock.stats()
        health = s.health()
        st = health.get("chat_stats", {})
        repo = health.get("repository_stats") or {}
    finally:
        s.stop()
    r = parse(line)
    turns = max(int(r["turns"]), 1)
    r["cpu_ms_per_turn"] = {k: (c1[k] - c0[k]) * 1000.0 / turns for k in c0}
    n = m1["chat_requests"] - m0["chat_requests"]
    tot = (m1["service_us_mean"] * m1["chat_requests"]
           - m0["service_us_mean"] * m0["chat_requests"])
    r["mock_us_mean"] = tot / n if n > 0 else 0.0
    r["loadavg"] = la
    r["chat_stats"] = st
    r["repo"] = repo
    r["line"] = line
    return r


def report(name, sat, paced):
    f = float
    mock_ms = paced["mock_us_mean"] / 1000.0
    print("%s, saturation (closed loop, %s clients): %s turns/s; "
          "its latencies are queueing: turn p50 %s ms = about %s clients / "
          "rate" % (name, sat["conns"], sat["turns_per_s"],
                    sat["turn_p50_ms"], sat["conns"]))
    print("  " + sat["line"])
    print("  load average %.2f; CPU ms per turn: %s" % (
        sat["loadavg"][0], ", ".join("%s %.3f" % kv for kv in
                                     sat["cpu_ms_per_turn"].items())))
    print("%s, paced (open loop at %s turns/s, %s clients): %s turns/s, "
          "%s late sends" % (name, paced["rate"], paced["conns"],
                             paced["turns_per_s"], paced["late_sends"]))
    print("  " + paced["line"])
    print("  ttfc p50 %s / p99 %s ms; turn p50 %s / p99 %s ms" % (
        paced["ttfc_p50_ms"], paced["ttfc_p99_ms"], paced["turn_p50_ms"],
        paced["turn_p99_ms"]))
    print("  overhead, mcpd's view (complete.overhead_ms): p50 %s / p99 %s ms"
          % (paced["mcpd_overhead_p50_ms"], paced["mcpd_overhead_p99_ms"]))
    print("  overhead, end to end (turn minus the mock's own %.3f ms): "
          "p50 %.2f / p99 %.2f ms" % (
              mock_ms, f(paced["turn_p50_ms"]) - mock_ms,
              f(paced["turn_p99_ms"]) - mock_ms))
    ov = paced["chat_stats"].get("overhead_us", {})
    print("  chat_stats of the paced stack (warm-up included): overhead_us "
          "p50=%s p99=%s, context cache hit rate %.2f, errors %s" % (
              ov.get("p50"), ov.get("p99"),
              paced["chat_stats"].get("context_cache", {}).get("hit_rate",
                                                               0),
              {k: v for k, v in paced["chat_stats"].get("errors", {}).items()
               if v}))
    sw = paced["chat_stats"].get("store_wait_us", {})
    wr = paced["repo"].get("writers", {})
    ck = paced["repo"].get("checkpoint", {})
    if paced["repo"].get("persistence"):
        # where the tail of a commit goes (docs/benchmarks.md, "Chat")
        print("  of which waiting for the store: store_wait_us p50=%s "
              "p99=%s; writer queue wait p99 %s ms; the writer's own "
              "checkpoints: %s (%s forced), p99 %s / max %s ms" % (
                  sw.get("p50"), sw.get("p99"), wr.get("wait_p99_ms"),
                  ck.get("writer_runs"), ck.get("writer_forced"),
                  ck.get("writer_time_p99_ms"), ck.get("writer_time_max_ms")))
    print("  load average %.2f; CPU ms per turn: %s" % (
        paced["loadavg"][0], ", ".join("%s %.3f" % kv for kv in
                                       paced["cpu_ms_per_turn"].items())))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--conns", type=int, default=1000)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--pace", type=float, default=0.5,
                    help="paced phase rate as a fraction of the maximum")
    ap.add_argument("--words", type=int, default=0,
                    help="words in the mock's answer, one chunk each "
                         "(0: its four)")
    ap.add_argument("--rate", type=float, default=0,
                    help="paced phase rate in turns/s (instead of --pace): "
                    "the same offered load across runs")
    ap.add_argument("--writer-affinity", default="none",
                    choices=("none", "loop"),
                    help="mcpd's repository.connection_pool.writer_affinity")
    a = ap.parse_args()
    global WRITER_AFFINITY
    WRITER_AFFINITY = a.writer_affinity

    res = {}
    mock = Mock(a.words)
    try:
        with tempfile.TemporaryDirectory() as d:
            for name, persist in (("persistence on", True),
                                  ("persistence off", False)):
                tag = "on" if persist else "off"
                sat = run_phase(os.path.join(d, tag + "-sat"), mock,
                                a.conns, a.seconds, persist, 0)
                rate = a.rate or max(1.0,
                                     a.pace * float(sat["turns_per_s"]))
                paced = run_phase(os.path.join(d, tag + "-paced"), mock,
                                  a.conns, a.seconds, persist, rate)
                report(name, sat, paced)
                sys.stdout.flush()
                res[tag] = (sat, paced)
    finally:
        mock.stop()

    on_sat, on_paced = res["on"]
    off_sat, _ = res["off"]
    print("persistence on/off saturation ratio: %.2f" % (
        float(on_sat["turns_per_s"]) / max(float(off_sat["turns_per_s"]), 1)))
    print("BENCH chat turns_per_s=%s ttfc_p50_ms=%s ttfc_p99_ms=%s "
          "overhead_p99_ms=%s" % (on_sat["turns_per_s"],
                                  on_paced["ttfc_p50_ms"],
                                  on_paced["ttfc_p99_ms"],
                                  on_paced["mcpd_overhead_p99_ms"]))


if __name__ == "__main__":
    main()
