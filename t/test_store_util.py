"""Helpers for the t/test_store_*.py tests (no tests here): where
store_driver is, how it builds each row's content, and running it with
bounded waits."""

import os
import select
import subprocess
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def driver_bin():
    mcpd = os.environ.get("MCPD_BIN")
    if mcpd:
        path = os.path.join(os.path.dirname(mcpd), "tools", "store_driver")
        if os.path.exists(path):
            return path
    return os.path.join(ROOT, "build", "tools", "store_driver")


def content(rid):
    """The bytes store_driver stores for request rid (store_driver_content)."""
    head = ("[%s] héllo wörld — " % rid).encode()
    pad = bytes(ord("a") + i % 26 for i in range(len(head), 290))
    return head + pad + (" %s" % rid).encode()


def start(db, *args):
    return subprocess.Popen([driver_bin(), "--db", db] + list(args),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def run(db, *args, timeout=30):
    """Run to completion; (returncode, stdout lines, stderr text)."""
    p = subprocess.run([driver_bin(), "--db", db] + list(args),
                       capture_output=True, timeout=timeout)
    return (p.returncode, p.stdout.decode(errors="replace").splitlines(),
            p.stderr.decode(errors="replace"))


def read_lines_until(proc, want_acks, deadline_s):
    """Read stdout lines until want_acks ACK lines or the deadline."""
    lines, buf, acks = [], b"", 0
    end = time.monotonic() + deadline_s
    fd = proc.stdout.fileno()
    while acks < want_acks and time.monotonic() < end:
        r, _, _ = select.select([fd], [], [], 0.1)
        if not r:
            if proc.poll() is not None:
                break
            continue
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        buf += chunk
        *done, buf = buf.split(b"\n")
        for line in done:
            lines.append(line.decode(errors="replace"))
            if line.startswith(b"ACK "):
                acks += 1
    return lines, buf
