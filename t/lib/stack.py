"""Start the real nginx (with build/ngx_mcp_module.so) and a real mcpd for a
test, each in its own directory with its own free port, and stop them so that
nothing is ever left running.

    s = Stack(tmpdir, nginx_location={"mcp_idle_timeout": "5s"},
              mcpd_yaml={"logging": {"level": "debug"}})
    s.start()
    s.ws_url, s.port, s.health()
    s.kill_mcpd(signal.SIGKILL); s.start_mcpd(); s.reload_nginx()
    s.error_log(), s.mcpd_log()
    s.stop()

Directive dicts map a directive name to its arguments: a string ("5s"), a
list of strings for a directive repeated on several lines, "" for a flag
directive without arguments, and None to remove a default.  The location
dict applies to the WebSocket location (/ws/chat); nginx_http to the http
block; nginx_server to the server block.

MCP_MODULE_SO and MCPD_BIN name the binaries (make integration sets them);
they default to build/ in the repository.
"""

import copy
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import time
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
NGINX_BIN = os.environ.get("NGINX_BIN", "/usr/sbin/nginx")
MODULE_SO = os.environ.get("MCP_MODULE_SO",
                           os.path.join(ROOT, "build", "ngx_mcp_module.so"))
MCPD_BIN = os.environ.get("MCPD_BIN", os.path.join(ROOT, "build", "mcpd"))

WS_PATH = "/ws/chat"
HEALTH_PATH = "/health"


_ports_given = set()


def free_port(host="127.0.0.1"):
    """A port nothing listens on right now (the kernel's pick), and never
    one this process handed out before: the kernel may pick a closed probe
    port again, and two servers of one test told the same port would have
    the second fail to bind while the first answers for both."""
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind((host, 0))
            port = s.getsockname()[1]
        if port not in _ports_given:
            _ports_given.add(port)
            return port
    raise RuntimeError("no fresh port in 100 picks")


def parent_pid(pid):
    """The parent of a running process, None if it is gone."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            stat = f.read()
    except OSError:
        return None
    # the name in parentheses may hold spaces: the fields follow its end
    return int(stat[stat.rindex(")") + 2:].split()[1])


class Fatal(Exception):
    """Raised by a wait_until predicate: stop waiting, this will not get
    better (the process died)."""


def wait_until(pred, timeout=10.0, interval=0.05, what="condition"):
    """Poll pred() until it is true; bounded, raises TimeoutError.
    Exceptions from pred count as "not yet", except Fatal."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            v = pred()
            if v:
                return v
        except Fatal:
            raise
        except Exception:
            pass
        if time.monotonic() >= deadline:
            raise TimeoutError("timed out waiting for " + what)
        time.sleep(interval)


def stop_session(proc, sig, timeout=10.0, then=signal.SIGKILL):
    """Stop proc, started as the leader of a session of its own: sig, then
    `then` if it has not exited within timeout, then SIGKILL to its whole
    process group, where whatever it started lives (nginx workers, mcpd's
    MCP servers): none may outlive it.  Returns its exit status."""
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.send_signal(then)
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        pass
    return proc.returncode


def deep_merge(base, over):
    """over merged into a copy of base; dicts merge, anything else replaces,
    None removes the key."""
    out = copy.deepcopy(base)
    for k, v in (over or {}).items():
        if v is None:
            out.pop(k, None)
        elif isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def yaml_dump(obj, indent=0):
    """Enough YAML for mcpd configs: maps, lists, scalars (strings quoted
    as JSON, which is valid YAML)."""
    pad = "  " * indent
    lines = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            if isinstance(v, dict):
                if v:
                    lines.append("%s%s:" % (pad, k))
                    lines.append(yaml_dump(v, indent + 1))
                else:
                    lines.append("%s%s: {}" % (pad, k))
            elif isinstance(v, list):
                lines.append("%s%s: %s" % (pad, k, json.dumps(v)))
            else:
                lines.append("%s%s: %s" % (pad, k, yaml_scalar(v)))
    return "\n".join(l for l in lines if l != "")


def yaml_scalar(v):
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, (int, float)):
        return str(v)
    s = str(v)
    # durations and sizes (30s, 16m) stay plain, everything else is quoted
    if s and all(c.isalnum() or c in "._-" for c in s):
        return s
    return json.dumps(s)


def mcpd_defaults(rundir):
    """The defaults of conf/mcpd.yaml with paths moved into rundir."""
    return {
        "daemon": {
            "socket": os.path.join(rundir, "mcpd.sock"),
            "shutdown_timeout": "5s",
        },
        "logging": {"level": "info", "format": "text"},
        "chat": {"service": {"repository": {
            "path": os.path.join(rundir, "events.db")}}},
    }


def _directives(d, indent):
    pad = "    " * indent
    out = []
    for name, args in d.items():
        if args is None:
            continue
        for a in (args if isinstance(args, list) else [args]):
            out.append("%s%s%s;" % (pad, name, (" " + a) if a != "" else ""))
    return "\n".join(out)


class Mcpd:
    """One mcpd process with a generated config in its own directory."""

    def __init__(self, rundir, yaml=None, bin=None, extra_args=()):
        self.dir = rundir
        os.makedirs(rundir, exist_ok=True)
        self.conf = deep_merge(mcpd_defaults(rundir), yaml or {})
        self.socket = self.conf["daemon"]["socket"]
        self.conf_path = os.path.join(rundir, "mcpd.yaml")
        self.log_path = os.path.join(rundir, "mcpd.log")
        self.bin = bin or MCPD_BIN
        self.extra_args = list(extra_args)
        self.proc = None
        self.logf = None

    def write_conf(self):
        with open(self.conf_path, "w") as f:
            f.write(yaml_dump(self.conf) + "\n")

    def start(self, timeout=10.0):
        self.write_conf()
        self.logf = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [self.bin, "-c", self.conf_path] + self.extra_args,
            stdin=subprocess.DEVNULL, stdout=self.logf, stderr=self.logf,
            cwd=self.dir, start_new_session=True)
        wait_until(self._ready, timeout, what="mcpd to listen on %s (log: %s)"
                   % (self.socket, self.log_path))
        return self

    def _ready(self):
        """Ready = answers HELLO: the socket is bound before subsystems
        start, so a bare connect() would succeed too early."""
        if self.proc.poll() is not None:
            raise Fatal("mcpd exited with %s: %s"
                        % (self.proc.returncode, self.log()))
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(0.5)
            s.connect(self.socket)
            s.sendall(struct.pack(">IBBHQ", 12, 1, 0, 0, 0)
                      + struct.pack(">HHII", 1, 1, os.getpid(), 0))
            hdr = s.recv(16)
            return len(hdr) >= 5 and hdr[4] == 1

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def send_signal(self, sig):
        if self.alive():
            self.proc.send_signal(sig)

    def wait(self, timeout=10.0):
        """Exit status, or TimeoutError."""
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise TimeoutError("mcpd did not exit in %ss" % timeout)

    def stop(self, sig=signal.SIGTERM, timeout=10.0):
        """Stop it (SIGTERM, then SIGKILL after timeout); returns the
        exit status."""
        if self.proc is None:
            return None
        # whatever mcpd started (MCP servers) and left behind, e.g. after a
        # SIGKILL in a test, is in its process group: none may outlive the
        # test
        rc = stop_session(self.proc, sig, timeout)
        if self.logf:
            self.logf.close()
            self.logf = None
        return rc

    def log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""


class Stack:
    def __init__(self, tmpdir, nginx_location=None, nginx_http=None,
                 mcpd_yaml=None, nginx_server=None, workers=2, port=None,
                 host="127.0.0.1", www=None, nginx_main=None):
        self.dir = os.path.abspath(str(tmpdir))
        self.ngx_dir = os.path.join(self.dir, "nginx")
        self.mcpd_dir = os.path.join(self.dir, "mcpd")
        self.host = host
        self.port = port or free_port(host)
        self.workers = workers
        self.www = www
        self.mcpd = Mcpd(self.mcpd_dir, mcpd_yaml)
        self.socket = self.mcpd.socket
        self.location = deep_merge(
            {"mcp_websocket": "", "mcp_backend": "unix:" + self.socket},
            nginx_location)
        self.http = nginx_http or {}
        self.server = nginx_server or {}
        self.main = nginx_main or {}
        self.nginx = None
        self.ngx_logf = None

    # -- URLs

    @property
    def ws_url(self):
        return "ws://%s:%d%s" % (self.host, self.port, WS_PATH)

    @property
    def http_url(self):
        return "http://%s:%d" % (self.host, self.port)

    @property
    def conf_path(self):
        return os.path.join(self.ngx_dir, "nginx.conf")

    @property
    def error_log_path(self):
        return os.path.join(self.ngx_dir, "error.log")

    # -- configuration

    def nginx_conf(self):
        d = self.ngx_dir
        www = self.www or os.path.join(d, "www")
        main = deep_merge({
            "load_module": MODULE_SO,
            "worker_processes": str(self.workers),
            "daemon": "off",
            "master_process": "on",
            "pid": os.path.join(d, "nginx.pid"),
            "error_log": os.path.join(d, "error.log") + " info",
        }, self.main)
        if os.geteuid() == 0 and "user" not in main:
            main["user"] = "root"
        http = deep_merge({
            "access_log": os.path.join(d, "access.log"),
            "client_body_temp_path": os.path.join(d, "tmp", "body"),
            "proxy_temp_path": os.path.join(d, "tmp", "proxy"),
            "fastcgi_temp_path": os.path.join(d, "tmp", "fastcgi"),
            "uwsgi_temp_path": os.path.join(d, "tmp", "uwsgi"),
            "scgi_temp_path": os.path.join(d, "tmp", "scgi"),
            "default_type": "application/octet-stream",
        }, self.http)
        server = deep_merge({
            "listen": "%s:%d" % (self.host, self.port),
            "root": www,
        }, self.server)
        # load_module must come first in the file
        lm = main.pop("load_module")
        return "\n".join([
            "load_module %s;" % lm,
            _directives(main, 0),
            "events {",
            "    worker_connections 4096;",
            "}",
            "http {",
            _directives(http, 1),
            "    server {",
            _directives(server, 2),
            "        location = %s {" % WS_PATH,
            _directives(self.location, 3),
            "        }",
            "        location = %s {" % HEALTH_PATH,
            "            mcp_status;",
            "        }",
            "        location / {",
            "            index index.html;",
            "        }",
            "    }",
            "}",
            ""])

    def write_nginx_conf(self):
        os.makedirs(os.path.join(self.ngx_dir, "tmp"), exist_ok=True)
        www = self.www or os.path.join(self.ngx_dir, "www")
        if not self.www:
            os.makedirs(www, exist_ok=True)
            with open(os.path.join(www, "index.html"), "w") as f:
                f.write("<!doctype html><title>mcp-edge</title>"
                        "<p>mcp-edge test stack</p>\n")
        with open(self.conf_path, "w") as f:
            f.write(self.nginx_conf())

    def nginx_cmd(self, *extra):
        return [NGINX_BIN, "-p", self.ngx_dir + "/", "-c", self.conf_path,
                "-e", self.error_log_path] + list(extra)

    def nginx_test(self):
        """nginx -t on the generated config: (ok, output)."""
        self.write_nginx_conf()
        r = subprocess.run(self.nginx_cmd("-t"), capture_output=True,
                           text=True, timeout=30)
        return r.returncode == 0, r.stdout + r.stderr

    # -- lifecycle

    def start(self, timeout=15.0):
        try:
            self.start_mcpd(timeout)
            self.start_nginx(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def start_mcpd(self, timeout=10.0):
        if self.mcpd.alive():
            raise RuntimeError("mcpd already running")
        self.mcpd.start(timeout)

    def start_nginx(self, timeout=15.0, all_links=True):
        """all_links=False: ready once /health answers, for a test where a
        worker is meant to stay without its link to mcpd."""
        self.write_nginx_conf()
        self.ngx_logf = open(os.path.join(self.ngx_dir, "stderr.log"), "ab")
        self.nginx = subprocess.Popen(
            self.nginx_cmd(), stdin=subprocess.DEVNULL, stdout=self.ngx_logf,
            stderr=self.ngx_logf, start_new_session=True)
        wait_until(lambda: self._nginx_ready(all_links), timeout,
                   what="nginx on port %d (error log: %s)"
                   % (self.port, self.error_log_path))

    def _nginx_ready(self, all_links=True):
        """Ready = /health answers and, while mcpd runs, every worker's
        link to it is up (so a first message is never backend_unavailable
        because a worker had not connected yet)."""
        if self.nginx.poll() is not None:
            raise Fatal("nginx exited with %s: %s"
                        % (self.nginx.returncode, self.error_log()))
        with urllib.request.urlopen(self.http_url + HEALTH_PATH,
                                    timeout=1) as r:
            if r.status != 200:
                return False
            h = json.loads(r.read())
        workers = h.get("backend", {}).get("workers", [])
        if not self._answers_for_us(workers):
            return False
        if not self.mcpd.alive() or not all_links:
            return True
        return (len(workers) >= self.workers
                and all(w.get("link") == "up" for w in workers))

    def _answers_for_us(self, workers):
        """The /health that answered is our nginx's: its workers are our
        master's children.  Another server on our port (a port taken in
        between) would otherwise pass for us while our master retries its
        bind and then exits."""
        parents = {parent_pid(w["pid"]) for w in workers} - {None}
        return parents == {self.nginx.pid}

    def kill_mcpd(self, sig=signal.SIGKILL, timeout=10.0):
        """Signal mcpd and wait until it has exited; returns its status."""
        self.mcpd.send_signal(sig)
        rc = self.mcpd.wait(timeout)
        if self.mcpd.logf:
            self.mcpd.logf.close()
            self.mcpd.logf = None
        return rc

    def reload_nginx(self, timeout=15.0):
        """SIGHUP the master after rewriting the config; waits until the
        old workers are gone and /health answers."""
        old = self._worker_pids()
        self.write_nginx_conf()
        self.nginx.send_signal(signal.SIGHUP)
        wait_until(lambda: not (old & self._worker_pids()), timeout,
                   what="old nginx workers to exit")
        wait_until(self._nginx_ready, timeout, what="nginx after reload")

    def _worker_pids(self):
        if self.nginx is None:
            return set()
        pids = set()
        try:
            out = subprocess.run(["ps", "-o", "pid=", "--ppid",
                                  str(self.nginx.pid)], capture_output=True,
                                 text=True, timeout=5).stdout
            pids = {int(x) for x in out.split()}
        except (OSError, ValueError, subprocess.TimeoutExpired):
            pass
        return pids

    def stop(self, timeout=10.0):
        """Stop nginx (QUIT: graceful, then TERM, then KILL of the whole
        process group) and mcpd; never leaves a process behind."""
        self.stop_nginx(timeout=timeout)
        rc = self.mcpd.stop(timeout=timeout)
        return rc

    def stop_nginx(self, sig=signal.SIGQUIT, timeout=10.0):
        """Stop nginx alone (sig to the master, then TERM, then KILL of its
        process group); mcpd stays.  start_nginx() brings it back."""
        if self.nginx is not None:
            # workers are in the master's session: none may outlive it
            stop_session(self.nginx, sig, timeout, then=signal.SIGTERM)
            if self.ngx_logf:
                self.ngx_logf.close()
                self.ngx_logf = None

    # -- observation

    def health(self, query=""):
        with urllib.request.urlopen(self.http_url + HEALTH_PATH + query,
                                    timeout=5) as r:
            body = r.read()
        return json.loads(body)

    def health_text(self, query=""):
        with urllib.request.urlopen(self.http_url + HEALTH_PATH + query,
                                    timeout=5) as r:
            return r.read().decode()

    def error_log(self):
        try:
            with open(self.error_log_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def mcpd_log(self):
        return self.mcpd.log()

    def __enter__(self):
        return self.start()

    def __exit__(self, *a):
        self.stop()
