"""Drive the MCP host through `mcpd -c CONFIG mcp ...` (the operator CLI,
the same code the daemon runs).

    cfg = HostConfig(tmp_path, servers={...}, mcp={...})   writes both files
    run_cli(cfg, "list") -> (rc, json or None, stderr)
    with Shell(cfg) as sh: sh.call("everything", "get-sum", {"a": 1, "b": 2})
"""

import json
import os
import queue
import subprocess
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
MCPD_BIN = os.environ.get("MCPD_BIN", os.path.join(ROOT, "build", "mcpd"))
BIN = os.path.join(ROOT, "t", "node_modules", ".bin")
NODE_MODULES = os.path.join(ROOT, "t", "node_modules")
BAD = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                   "bad_server.py")
PYTHON = "/usr/bin/python3"


def everything(*extra):
    return {"command": "node",
            "args": [os.path.join(NODE_MODULES, "@modelcontextprotocol",
                                  "server-everything", "dist", "index.js"),
                     "stdio"] + list(extra)}


def filesystem(directory):
    return {"command": "node",
            "args": [os.path.join(NODE_MODULES, "@modelcontextprotocol",
                                  "server-filesystem", "dist", "index.js"),
                     str(directory)]}


def memory(path):
    return {"command": "node",
            "args": [os.path.join(NODE_MODULES, "@modelcontextprotocol",
                                  "server-memory", "dist", "index.js")],
            "env": {"MEMORY_FILE_PATH": str(path)}}


def bad(mode):
    return {"command": PYTHON, "args": [BAD, mode]}


def yaml_scalar(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return str(v)
    if isinstance(v, list):
        return "[" + ", ".join(json.dumps(x) for x in v) + "]"
    return json.dumps(v)


def yaml_dump(d, indent=0):
    out = []
    for k, v in d.items():
        if isinstance(v, dict):
            out.append("  " * indent + k + ":")
            out.append(yaml_dump(v, indent + 1))
        else:
            out.append("  " * indent + "%s: %s" % (k, yaml_scalar(v)))
    return "\n".join(out)


class HostConfig:
    def __init__(self, directory, servers=None, mcp=None, raw_servers=None,
                 level="info"):
        self.dir = str(directory)
        self.yaml = os.path.join(self.dir, "mcpd.yaml")
        self.servers = os.path.join(self.dir, "servers.json")
        m = {"config_file": "servers.json",
             "connection": {"initial_reconnect_delay": "200ms",
                            "max_reconnect_delay": "1s",
                            "connection_timeout": "20s"}}
        for k, v in (mcp or {}).items():
            if isinstance(v, dict):
                m.setdefault(k, {}).update(v)
            else:
                m[k] = v
        with open(self.yaml, "w") as f:
            f.write(yaml_dump({"logging": {"level": level}, "mcp": m}) + "\n")
        with open(self.servers, "w") as f:
            if raw_servers is not None:
                f.write(raw_servers)
            else:
                json.dump({"mcpServers": servers or {}}, f, indent=1)


def run_cli(cfg, *args, timeout=60):
    p = subprocess.run([MCPD_BIN, "-c", cfg.yaml, "mcp"] + list(args),
                       capture_output=True, text=True, timeout=timeout,
                       cwd=cfg.dir)
    out = p.stdout.strip().splitlines()
    doc = json.loads(out[-1]) if out else None
    return p.returncode, doc, p.stderr


class Shell:
    """`mcpd mcp shell`: one JSON request per line in, one reply per line
    out, matched by id.  Every wait is bounded."""

    def __init__(self, cfg):
        self.cfg = cfg
        self.proc = None
        self.replies = {}
        self.cond = threading.Condition()
        self.next_id = 0
        self.stderr = []

    def __enter__(self):
        self.proc = subprocess.Popen(
            [MCPD_BIN, "-c", self.cfg.yaml, "mcp", "shell"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True, cwd=self.cfg.dir, bufsize=1)
        threading.Thread(target=self._read_out, daemon=True).start()
        threading.Thread(target=self._read_err, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        if self.proc is None:
            return
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)
        self.rc = self.proc.returncode
        self.proc = None

    def _read_out(self):
        for line in self.proc.stdout:
            try:
                msg = json.loads(line)
            except ValueError:
                continue
            with self.cond:
                self.replies[msg.get("id")] = msg
                self.cond.notify_all()

    def _read_err(self):
        for line in self.proc.stderr:
            self.stderr.append(line)

    def log(self):
        return "".join(self.stderr)

    def send(self, **req):
        self.next_id += 1
        req["id"] = self.next_id
        self.proc.stdin.write(json.dumps(req) + "\n")
        self.proc.stdin.flush()
        return self.next_id

    def wait(self, rid, timeout=30):
        deadline = time.monotonic() + timeout
        with self.cond:
            while rid not in self.replies:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("no reply to request %d; log:\n%s"
                                       % (rid, self.log()[-3000:]))
                self.cond.wait(left)
            return self.replies.pop(rid)

    def ask(self, timeout=30, **req):
        return self.wait(self.send(**req), timeout)

    def call(self, server, tool, args=None, timeout=30):
        return self.ask(op="call", server=server, tool=tool,
                        args=args or {}, timeout=timeout)

    def stats(self):
        return self.ask(op="stats")["mcp_stats"]

    def server(self, name):
        return self.stats()["servers"][name]

    def wait_state(self, name, pred, timeout=30, what="state"):
        deadline = time.monotonic() + timeout
        while True:
            st = self.server(name)
            if pred(st):
                return st
            if time.monotonic() > deadline:
                raise TimeoutError("%s: %s never reached: %r\nlog:\n%s"
                                   % (name, what, st, self.log()[-3000:]))
            time.sleep(0.1)

    def wait_ready(self, name, timeout=30):
        return self.wait_state(name, lambda s: s["state"] == "ready"
                               and (s["tools"] > 0 or name.startswith("x")),
                               timeout, "ready")
