"""Python side of t/page/driver.js: one headless Chromium page, driven
command by command from a pytest test, every call bounded.

    with Page(tmp_path) as p:
        p.goto(stack.http_url + "/")
        p.wait_for('#conn[data-state="open"]')
        p.fill("#input", "hello"); p.press("#input", "Enter")
        p.console_errors()   # [] when the page logged no error
"""

import json
import os
import queue
import shutil
import subprocess
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
T_DIR = os.path.dirname(HERE)
CHROMIUM = os.environ.get("CHROMIUM_BIN", "/usr/bin/chromium")


def node_bin():
    """The node that `make npm-deps` installs, else the system one."""
    local = os.path.join(T_DIR, "node_modules", ".bin", "node")
    if os.access(local, os.X_OK):
        return local
    return shutil.which("node") or "node"


class PageError(Exception):
    pass


class Page:
    def __init__(self, workdir, viewport=None, timeout=10.0):
        self.dir = os.path.join(str(workdir), "chromium")
        os.makedirs(self.dir, exist_ok=True)
        self.timeout = timeout
        self.viewport = viewport
        self.proc = None
        self.replies = queue.Queue()
        self.next_id = 0
        self.stderr_path = os.path.join(self.dir, "driver.stderr")

    # -- process

    def start(self):
        self.stderr = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(
            [node_bin(), os.path.join(HERE, "driver.js")],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr,
            cwd=HERE, start_new_session=True)
        threading.Thread(target=self._read, daemon=True).start()
        self.call("launch", userDataDir=os.path.join(self.dir, "profile"),
                  viewport=self.viewport, timeout=int(self.timeout * 1000),
                  _timeout=60)
        return self

    def _read(self):
        for line in self.proc.stdout:
            try:
                self.replies.put(json.loads(line))
            except ValueError:
                pass
        self.replies.put(None)

    def call(self, cmd, _timeout=None, **args):
        """Runs one command; returns its result or raises PageError."""
        self.next_id += 1
        args.update(id=self.next_id, cmd=cmd)
        try:
            self.proc.stdin.write((json.dumps(args) + "\n").encode())
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError) as e:
            raise PageError("driver gone (%s): %s" % (e, self.driver_log()))
        limit = _timeout or (self.timeout + 20)
        while True:
            try:
                r = self.replies.get(timeout=limit)
            except queue.Empty:
                raise PageError("no answer to %s in %ss" % (cmd, limit))
            if r is None:
                raise PageError("driver exited: " + self.driver_log())
            if r.get("id") == self.next_id:
                break
        if not r.get("ok"):
            raise PageError("%s %s: %s" % (cmd, {k: v for k, v in args.items()
                                                 if k not in ("id", "cmd")},
                                           r.get("error")))
        return r.get("result")

    def stop(self):
        if self.proc is None:
            return
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, 9)
            self.proc.wait(5)
        self.proc = None
        self.stderr.close()

    def driver_log(self):
        try:
            with open(self.stderr_path, errors="replace") as f:
                return f.read()[-4000:]
        except OSError:
            return ""

    def __enter__(self):
        return self.start()

    def __exit__(self, *a):
        self.stop()

    # -- commands

    def goto(self, url):
        return self.call("goto", url=url)

    def reload(self):
        return self.call("reload")

    def wait_for(self, selector, state="visible", timeout=None):
        return self.call("waitFor", selector=selector, state=state,
                         timeout=int((timeout or self.timeout) * 1000))

    def wait_until(self, expr, timeout=None):
        """Waits until the JS expression, or the function whose source it
        is, gives a truthy value; returns that value."""
        return self.call("waitForFunction", expr=expr,
                         timeout=int((timeout or self.timeout) * 1000))

    def text(self, selector):
        return self.call("text", selector=selector,
                         timeout=int(self.timeout * 1000))

    def texts(self, selector):
        return self.call("texts", selector=selector)

    def attr(self, selector, name):
        return self.call("attr", selector=selector, name=name,
                         timeout=int(self.timeout * 1000))

    def count(self, selector):
        return self.call("count", selector=selector)

    def fill(self, selector, text):
        return self.call("fill", selector=selector, text=text)

    def press(self, selector, key):
        return self.call("press", selector=selector, key=key)

    def click(self, selector):
        return self.call("click", selector=selector,
                         timeout=int(self.timeout * 1000))

    def eval(self, expr):
        return self.call("eval", expr=expr)

    def screenshot(self, path, full_page=False):
        return self.call("screenshot", path=str(path), fullPage=full_page)

    def console_errors(self):
        return self.call("consoleErrors")

    def frames(self):
        """WebSocket frames seen by the browser: [{dir, data, t}]."""
        return self.call("frames")

    def sent(self, action=None):
        """Decoded client frames, optionally only one action's."""
        out = []
        for f in self.frames():
            if f["dir"] != "out":
                continue
            try:
                m = json.loads(f["data"])
            except ValueError:
                continue
            if action is None or m.get("action") == action:
                out.append(m)
        return out

    def received(self):
        out = []
        for f in self.frames():
            if f["dir"] == "in":
                try:
                    out.append(json.loads(f["data"]))
                except ValueError:
                    pass
        return out

    def sockets(self):
        return self.call("sockets")
