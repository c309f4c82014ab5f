#!/usr/bin/env python3
"""bench/chat.sh's driver: nginx + module + mcpd (persistence on, the LLM
mock answering instantly as the provider) and build/tools/chat_load with
1,000 WebSocket clients, one conversation each, sending turns back to back.

Prints chat_load's RESULT, mcpd's own view (chat_stats: the per-turn time
spent outside the model, i.e. the platform's overhead inside mcpd), the
same run with persistence off (what SQLite costs per turn), and one line:

  BENCH chat turns_per_s=X ttfc_p50_ms=X ttfc_p99_ms=X overhead_p99_ms=X
"""

import argparse
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "t", "lib"))
sys.path.insert(0, os.path.join(ROOT, "t"))
from stack import Stack  # noqa: E402
from test_llm_util import Mock  # noqa: E402

LOAD = os.path.join(ROOT, "build", "tools", "chat_load")


def parse(line):
    return dict(kv.split("=", 1) for kv in line.split()[1:])


def one_run(tmp, mock, conns, seconds, persist):
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
                       "requests_per_minute": 0}}},
        "persistence": {"enabled": persist},
    }
    s = Stack(tmp, mcpd_yaml=yaml,
              nginx_location={"mcp_max_connections": str(conns * 2),
                              "mcp_principal": "$http_x_user"})
    s.start()
    try:
        out = subprocess.run(
            [LOAD, "--port", str(s.port), "--conns", str(conns),
             "--seconds", str(seconds), "--warmup", "2"],
            capture_output=True, text=True, timeout=seconds + 60)
        sys.stderr.write(out.stderr[-2000:])
        line = [l for l in out.stdout.splitlines()
                if l.startswith("RESULT")][-1]
        h = s.health()
        st = h.get("chat_stats", {})
        llm = h.get("llm_client_stats", {}).get("providers", {}).get("mock", {})
        sys.stderr.write("  llm mock provider: %s\n" % {
            k: llm.get(k) for k in ("latency_ms", "ttft_ms", "in_flight",
                                    "queued", "retries", "errors", "pool")})
        try:
            for name, pid in (("mcpd", s.mcpd.proc.pid),):
                with open("/proc/%d/stat" % pid) as f:
                    parts = f.read().split(")")[1].split()
                sys.stderr.write("  %s cpu: user %.2fs sys %.2fs\n" % (
                    name, int(parts[11]) / 100.0, int(parts[12]) / 100.0))
        except OSError:
            pass
    finally:
        s.stop()
    return parse(line), line, st


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--conns", type=int, default=1000)
    ap.add_argument("--seconds", type=float, default=10)
    a = ap.parse_args()

    mock = Mock()
    try:
        with tempfile.TemporaryDirectory() as d:
            r, line, st = one_run(os.path.join(d, "on"), mock, a.conns,
                                  a.seconds, True)
            print("persistence on:  " + line)
            ov = st.get("overhead_us", {})
            print("  mcpd chat_stats: overhead_us p50=%s p99=%s, "
                  "context cache hit rate %.2f, completed %s, errors %s"
                  % (ov.get("p50"), ov.get("p99"),
                     st.get("context_cache", {}).get("hit_rate", 0),
                     st.get("requests", {}).get("completed"),
                     {k: v for k, v in st.get("errors", {}).items() if v}))
            r2, line2, st2 = one_run(os.path.join(d, "off"), mock, a.conns,
                                     a.seconds, False)
            print("persistence off: " + line2)
            ov2 = st2.get("overhead_us", {})
            print("  mcpd chat_stats: overhead_us p50=%s p99=%s"
                  % (ov2.get("p50"), ov2.get("p99")))
    finally:
        mock.stop()

    print("BENCH chat turns_per_s=%s ttfc_p50_ms=%s ttfc_p99_ms=%s "
          "overhead_p99_ms=%.2f" % (r["turns_per_s"], r["ttfc_p50_ms"],
                                    r["ttfc_p99_ms"],
                                    (ov.get("p99") or 0) / 1000.0))


if __name__ == "__main__":
    main()
