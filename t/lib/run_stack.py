#!/usr/bin/env python3
"""`make run`: mcpd + nginx in the foreground, from conf/, files under run/.

    PORT=8080 python3 t/lib/run_stack.py
    PORT=8080 python3 t/lib/run_stack.py --cluster [--dir D]
                                               (`make run-cluster`)

Starts build/mcpd with conf/mcpd.yaml, then nginx with conf/nginx.conf
(rewritten into run/nginx.conf: the port, absolute paths, `user root;` when
run as root), prints the URLs and waits.  Ctrl-C or SIGTERM stops nginx
gracefully (WebSockets get close 1001), then mcpd, and exits.
"""

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stack import NGINX_BIN, ROOT, Fatal, wait_until  # noqa: E402

RUN = os.path.join(ROOT, "run")
MODULE_SO = os.environ.get("MCP_MODULE_SO",
                           os.path.join(ROOT, "build", "ngx_mcp_module.so"))
MCPD_BIN = os.environ.get("MCPD_BIN", os.path.join(ROOT, "build", "mcpd"))


class Stop(Exception):
    pass


def on_term(signum, frame):
    raise Stop()


def nginx_conf(port, host):
    """conf/nginx.conf with the port and paths made concrete."""
    with open(os.path.join(ROOT, "conf", "nginx.conf")) as f:
        text = f.read()
    text = text.replace("load_module build/ngx_mcp_module.so;",
                        "load_module %s;" % MODULE_SO)
    text = re.sub(r"listen 127\.0\.0\.1:8080", "listen %s:%d" % (host, port),
                  text)
    text = text.replace("unix:run/", "unix:%s/" % RUN)
    text = re.sub(r"(\s)run/", r"\1%s/" % RUN, text)
    text = text.replace("root conf/www;",
                        "root %s;" % os.path.join(ROOT, "conf", "www"))
    if os.geteuid() == 0:
        # workers must reach the files of a root-owned checkout
        text = text.replace("worker_processes", "user root;\nworker_processes",
                            1)
    return text


def wait_http(url, proc, timeout):
    def ok():
        if proc.poll() is not None:
            raise Fatal("nginx exited (see run/error.log)")
        with urllib.request.urlopen(url, timeout=1) as r:
            return r.status == 200
    wait_until(ok, timeout, what=url)


def spawn_mcpd(conf):
    """mcpd with that config, in its own session (a Ctrl-C reaches us only,
    and we stop the parts in order)."""
    return subprocess.Popen([MCPD_BIN, "-c", conf], cwd=ROOT,
                            start_new_session=True)


def wait_mcpd(proc, sock, name):
    """Until mcpd's socket is there; Fatal if it exits first."""
    def up():
        if proc.poll() is not None:
            raise Fatal("%s exited with %s" % (name, proc.returncode))
        return os.path.exists(sock)
    wait_until(up, 30, what=name)


def start_mcpd():
    """The single instance's mcpd: conf/mcpd.yaml, socket run/mcpd.sock."""
    proc = spawn_mcpd("conf/mcpd.yaml")
    wait_mcpd(proc, os.path.join(RUN, "mcpd.sock"), "mcpd")
    return proc


def spawn_nginx(conf, error_log):
    """nginx in the foreground with that config, in its own session."""
    return subprocess.Popen([NGINX_BIN, "-p", ROOT + "/", "-c", conf,
                             "-e", error_log, "-g", "daemon off;"],
                            cwd=ROOT, start_new_session=True)


def run_foreground(run, stops):
    """run() until it returns, Ctrl-C or SIGTERM; its exit status (0 after
    a stop by signal).  Then, whatever happened, the functions in stops,
    last added first, with further signals ignored."""
    signal.signal(signal.SIGTERM, on_term)
    try:
        return run()
    except (KeyboardInterrupt, Stop):
        print("\nstopping...", file=sys.stderr)
        return 0
    except (TimeoutError, Fatal) as e:
        print("run_stack: %s" % e, file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        for fn in reversed(stops):
            fn()


def stop(proc, sig, timeout):
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int,
                    default=int(os.environ.get("PORT", "8080")))
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--cluster", action="store_true",
                    help="redis-server, two instances (nginx + mcpd) and a "
                    "load-balancing nginx on PORT")
    ap.add_argument("--dir", help="with --cluster: where its files go "
                    "(default run/cluster)")
    args = ap.parse_args()

    if args.cluster:
        return cluster_main(args)

    return single_main(args)


def single_main(args):
    """One nginx + mcpd from conf/, files under run/."""
    for d in ("", "tmp"):
        os.makedirs(os.path.join(RUN, d), exist_ok=True)
    conf = os.path.join(RUN, "nginx.conf")
    with open(conf, "w") as f:
        f.write(nginx_conf(args.port, args.host))
    procs = {"mcpd": None, "nginx": None}    # mcpd is replaced on restarts
    stops = [lambda: stop(procs["mcpd"], signal.SIGTERM, 15),
             lambda: stop(procs["nginx"], signal.SIGQUIT, 15)]
    return run_foreground(lambda: single_run(args, conf, procs), stops)


def single_run(args, conf, procs):
    base = "http://%s:%d" % (args.host, args.port)
    error_log = os.path.join(RUN, "error.log")
    procs["mcpd"] = start_mcpd()
    r = subprocess.run([NGINX_BIN, "-p", ROOT + "/", "-c", conf,
                        "-e", error_log, "-t", "-q"])
    if r.returncode != 0:
        return 1
    procs["nginx"] = nginx = spawn_nginx(conf, error_log)
    wait_http(base + "/health", nginx, 15)
    print()
    print("mcp-edge is running:")
    print("  chat page  %s/" % base)
    print("  WebSocket  ws://%s:%d/ws/chat" % (args.host, args.port))
    print("  status     %s/health" % base)
    print("  logs       run/error.log (nginx), mcpd on this terminal")
    print("Ctrl-C stops both.")
    sys.stdout.flush()
    quick_exits = 0
    mcpd_since = time.monotonic()
    while nginx.poll() is None:
        time.sleep(0.5)
        if procs["mcpd"].poll() is None:
            continue
        # mcpd went away (killed to try it out, or crashed): nginx keeps
        # the clients connected; bring mcpd back like a supervisor would
        quick_exits = quick_exits + 1 \
            if time.monotonic() - mcpd_since < 10 else 0
        if quick_exits > 3:
            print("run_stack: mcpd keeps failing, giving up",
                  file=sys.stderr)
            return 1
        print("run_stack: mcpd exited with %s; restarting it in 3s "
              "(clients stay connected meanwhile)" % procs["mcpd"].returncode,
              file=sys.stderr)
        time.sleep(3)
        procs["mcpd"] = start_mcpd()
        mcpd_since = time.monotonic()
    print("run_stack: nginx exited unexpectedly (see run/error.log)",
          file=sys.stderr)
    return 1


# ------------------------------------------------------------ --cluster
# the scaled-out setup of conf/examples/cluster/ on one machine: redis and
# the balancer as the tests run them (t/lib/cluster.py), the instances from
# the operator's conf/; files under run/cluster/ (--dir), every port but
# PORT picked free.

CLUSTER_EXAMPLE = os.path.join(ROOT, "conf", "examples", "cluster")


def cluster_servers_conf(idir, path):
    """A copy of the MCP servers file for one instance, with every state
    file the servers keep under run/ (the memory server's knowledge graph)
    moved into idir: two processes appending to one JSONL file would
    interleave their writes.  Returns the written path."""
    with open(path) as f:
        servers = json.load(f)
    for server in servers.get("mcpServers", {}).values():
        env = server.get("env") or {}
        for key, value in env.items():
            if isinstance(value, str) and value.startswith("run/"):
                env[key] = os.path.join(idir, value[len("run/"):])
    out = os.path.join(idir, "servers.json")
    with open(out, "w") as f:
        json.dump(servers, f, indent=2)
    return out


def cluster_mcpd_conf(idir, n, redis_address):
    """conf/mcpd.yaml with the example's redis block merged in, the socket
    and the SQLite file moved into idir; returns the written path."""
    import yaml
    with open(os.path.join(ROOT, "conf", "mcpd.yaml")) as f:
        conf = yaml.safe_load(f) or {}
    with open(os.path.join(CLUSTER_EXAMPLE, "mcpd.yaml")) as f:
        conf["redis"] = yaml.safe_load(f)["redis"]
    conf.setdefault("daemon", {})["socket"] = os.path.join(idir, "mcpd.sock")
    conf.setdefault("chat", {}).setdefault("service", {}).setdefault(
        "repository", {})["path"] = os.path.join(idir, "events.db")
    mcp = conf.get("mcp") or {}
    servers = mcp.get("config_file", "servers.json")
    if not os.path.isabs(servers):
        servers = os.path.join(ROOT, "conf", servers)   # next to mcpd.yaml
    mcp["config_file"] = cluster_servers_conf(idir, servers)
    conf["mcp"] = mcp
    conf["redis"]["address"] = redis_address
    conf["redis"]["instance_id"] = "edge-%d" % n
    path = os.path.join(idir, "mcpd.yaml")
    with open(path, "w") as f:
        yaml.safe_dump(conf, f, sort_keys=False)
    return path


def cluster_instance(cdir, n, redis_address, host):
    """Instance n: mcpd (conf/mcpd.yaml + the example's redis block) and
    nginx (conf/nginx.conf) on a free port, files in <cdir>/i<n>."""
    from stack import free_port
    idir = os.path.join(cdir, "i%d" % n)
    os.makedirs(os.path.join(idir, "tmp"), exist_ok=True)
    mpath = cluster_mcpd_conf(idir, n, redis_address)
    sock = os.path.join(idir, "mcpd.sock")
    mcpd = spawn_mcpd(mpath)
    wait_mcpd(mcpd, sock, "mcpd %d" % n)

    port = free_port()
    text = nginx_conf(port, host).replace(RUN + "/", idir + "/")
    text = text.replace("worker_processes auto;", "worker_processes 1;")
    npath = os.path.join(idir, "nginx.conf")
    with open(npath, "w") as f:
        f.write(text)
    nginx = spawn_nginx(npath, os.path.join(idir, "error.log"))
    wait_http("http://%s:%d/health" % (host, port), nginx, 15)
    return mcpd, nginx, port


def cluster_main(args):
    cdir = os.path.abspath(args.dir or os.path.join(RUN, "cluster"))
    os.makedirs(cdir, exist_ok=True)
    stops = []          # how to stop each part, called in reverse order
    return run_foreground(lambda: cluster_run(args, cdir, stops), stops)


def cluster_run(args, cdir, stops):
    from cluster import Balancer, Redis
    from stack import stop_session
    procs = []          # what must stay up
    redis = Redis(os.path.join(cdir, "redis"))
    stops.append(redis.stop)
    redis.start()
    procs.append(redis.proc)
    ports = []
    for n in (1, 2):
        mcpd, nginx, port = cluster_instance(cdir, n, redis.address,
                                             args.host)
        procs += [mcpd, nginx]
        # each with its process group: MCP servers, nginx workers
        stops += [lambda p=mcpd: stop_session(p, signal.SIGTERM, 15),
                  lambda p=nginx: stop_session(p, signal.SIGQUIT, 15,
                                               then=signal.SIGTERM)]
        ports.append(port)
    balancer = Balancer(cdir, ["%s:%d" % (args.host, p) for p in ports],
                        port=args.port, host=args.host,
                        routing="least_conn")
    stops.append(balancer.stop)
    balancer.start()
    procs.append(balancer.proc)
    base = "http://%s:%d" % (args.host, args.port)
    print()
    print("mcp-edge cluster is running (conf/examples/cluster/):")
    print("  balancer   %s/  (chat page), ws://%s:%d/ws/chat"
          % (base, args.host, args.port))
    print("  status     %s/health  (jq .redis: shared or degraded)" % base)
    print("  instances  %s  (nginx + mcpd edge-1, edge-2)"
          % ", ".join("http://%s:%d" % (args.host, p) for p in ports))
    print("  redis      %s" % redis.address)
    print("  files      %s" % os.path.relpath(cdir, ROOT))
    print("Ctrl-C stops all.")
    sys.stdout.flush()
    while all(p.poll() is None for p in procs):
        time.sleep(0.5)
    print("run_stack: a process of the cluster exited; stopping all",
          file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
