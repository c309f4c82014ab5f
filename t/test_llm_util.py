"""Helpers for the t/test_llm_*.py tests (no tests here): the C LLM mock
(build/tools/llm_mock) and `mcpd -c CONF llm call ...`, with bounded waits."""

import json
import os
import select
import subprocess
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def mcpd_bin():
    return os.environ.get("MCPD_BIN") or os.path.join(ROOT, "build", "mcpd")


def tool_bin(name):
    return os.path.join(os.path.dirname(mcpd_bin()), "tools", name)


class Mock:
    """One llm_mock process on a free loopback port."""

    def __init__(self):
        self.proc = subprocess.Popen([tool_bin("llm_mock")],
                                     stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE)
        r, _, _ = select.select([self.proc.stdout], [], [], 10)
        line = self.proc.stdout.readline().decode() if r else ""
        assert line.startswith("PORT "), "llm_mock did not start: %r" % line
        self.port = int(line.split()[1])
        self.base_url = "http://127.0.0.1:%d/v1" % self.port

    def _call(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request("http://127.0.0.1:%d%s" % (self.port, path),
                                     data=data, method=method)
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read())

    def queue(self, *replies):
        """Script the next chat replies, in order."""
        return self._call("POST", "/_mock/queue", list(replies))

    def requests(self):
        """Chat requests received: method, path, t_ms, headers, body."""
        return self._call("GET", "/_mock/requests")

    def reset(self):
        return self._call("POST", "/_mock/reset", {})

    def unsent(self):
        """Bytes of replies written by the scripts, not yet taken by the
        kernel: a reader that stopped reading keeps it above 0."""
        return self._call("GET", "/_mock/stats")["unsent_bytes"]

    def queue_bulk(self, chunks, chunk_bytes, sndbuf=16384):
        """Queue a "bulk" reply (chunks of chunk_bytes, each starting with
        its number) behind a small SO_SNDBUF; returns its whole text."""
        self.queue({"scenario": "bulk", "chunks": chunks,
                    "chunk_bytes": chunk_bytes, "sndbuf": sndbuf})
        out = []
        for i in range(chunks):
            head = "<%06d>" % i
            out.append(head + "x" * (chunk_bytes - len(head)))
        return "".join(out)

    def stop(self):
        self.proc.kill()
        self.proc.wait(timeout=10)


def provider(base_url, model="mock-text", **http_client):
    http = {"http2": False, "backoff_factor": 0.05, "max_retries": 3,
            "connect_timeout": 2, "read_timeout": 5, "write_timeout": 2}
    http.update(http_client)
    return {"base_url": base_url, "model": model, "api_key_env": "MOCK_LLM_KEY",
            "http_client": http}


def write_conf(tmpdir, providers, active=None, fallback=None, extra=None):
    """mcpd.yaml with an llm section (written as JSON, which YAML reads)."""
    llm = {"active": active or next(iter(providers)), "providers": providers}
    if fallback:
        llm["fallback"] = fallback
    conf = {"llm": llm}
    conf.update(extra or {})
    path = os.path.join(str(tmpdir), "mcpd.yaml")
    with open(path, "w") as f:
        json.dump(conf, f, indent=2)
    return path


KEY = "sk-test-DO-NOT-LEAK-0123456789abcdef"


class Run:
    def __init__(self, rc, out, err, elapsed):
        self.rc = rc
        self.out = out
        self.err = err
        self.elapsed = elapsed
        self.events = [json.loads(l) for l in out.splitlines() if l.strip()]

    def of(self, kind):
        return [e for e in self.events if e["event"] == kind]

    def text(self, req=0):
        return "".join(e["text"] for e in self.of("text") if e["req"] == req)

    def stats(self, name=None):
        s = self.of("stats")[-1]["llm_client_stats"]
        return s["providers"][name] if name else s

    def ends(self):
        """done/error/cancelled events by request index."""
        return {e["req"]: e for e in self.events
                if e["event"] in ("done", "error", "cancelled")}


def call(conf, provider_name, *args, messages=None, env=None, timeout=60,
         args_messages=None):
    """Run `mcpd -c conf llm call provider messages args...` to the end.
    args_messages: the messages argument as given (e.g. "@FILE")."""
    messages = messages or [{"role": "user", "content": "hi"}]
    e = dict(os.environ)
    e["MOCK_LLM_KEY"] = KEY
    e.update(env or {})
    t0 = time.monotonic()
    p = subprocess.run([mcpd_bin(), "-c", conf, "llm", "call", provider_name,
                        args_messages or json.dumps(messages)] + list(args),
                       capture_output=True, timeout=timeout, env=e)
    return Run(p.returncode, p.stdout.decode(errors="replace"),
               p.stderr.decode(errors="replace"), time.monotonic() - t0)
