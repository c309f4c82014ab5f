"""What the page tests (t/test_page_*.py) share: the stack that serves
conf/www, the headless Chromium page fixture, and waits on what the
browser sent and received.

    from pagekit import OPEN, page, page_stack, send, final_frame  # noqa
"""

import asyncio
import json
import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "lib"))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "mcp"))

from chat_client import ChatClient  # noqa: E402
from driver import Page  # noqa: E402
from mcphost import everything  # noqa: E402
from stack import wait_until  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(HERE))
WWW = os.path.join(ROOT, "conf", "www")
MIME = {"include": "/etc/nginx/mime.types"}

OPEN = '#conn[data-state="open"]'
RECONNECTING = '#conn[data-state="reconnecting"]'


def page_stack(make_stack, mcpd_yaml=None, **location):
    return make_stack(www=WWW, nginx_http=MIME, mcpd_yaml=mcpd_yaml,
                      nginx_location=location or None).start()


def tools_stack(make_stack, tmp_path):
    """The page's stack with the real server-everything (t/node_modules)
    behind the offline demo provider, as `make run` has it; returns once
    its tools are listed."""
    servers = tmp_path / "servers.json"
    servers.write_text(json.dumps({"mcpServers": {
        "everything": everything()}}))
    stack = page_stack(make_stack, mcpd_yaml={
        "mcp": {"config_file": str(servers)},
        "chat": {"service": {"provider": "offline"}}})

    def ready():
        st = stack.health().get("mcp_stats", {})
        return st.get("servers_ready") == 1 and st.get("tools")
    wait_until(ready, timeout=30, what="server-everything's tools")
    return stack


def shot(page, tmp_path, name):
    d = os.environ.get("PAGE_SHOTS") or str(tmp_path)
    os.makedirs(d, exist_ok=True)
    page.screenshot(os.path.join(d, name + ".png"))


def final_frame(page, request_id, timeout=10):
    """The complete/error frame the browser received for request_id."""
    def find():
        for f in page.received():
            if (f.get("request_id") == request_id
                    and f.get("status") in ("complete", "error")):
                return f
        return None
    return wait_until(find, timeout, what="the answer to " + request_id)


def send(page, text):
    """Types text and presses Enter; returns the chat request the page sent."""
    before = len(page.sent("chat"))
    page.fill("#input", text)
    page.press("#input", "Enter")
    chats = wait_until(lambda: page.sent("chat")[before:] or None, 10,
                       what="the page to send the chat")
    return chats[0]


def ask(stack, action, payload):
    """One request outside the browser; its last frame."""
    async def run():
        async with ChatClient(stack.ws_url) as c:
            return await c.call(action, payload)
    return asyncio.run(run())


def history_of(stack, conv):
    """The stored messages of conv, asked outside the browser."""
    f = ask(stack, "history", {"conversation_id": conv, "limit": 500})
    assert f["status"] == "complete", f
    return f["chunk"]["metadata"]["messages"]


def backend_up(stack):
    h = stack.health()
    return all(w.get("link") == "up" for w in h["backend"]["workers"])


@pytest.fixture
def page(tmp_path):
    """One headless Chromium page, closed after the test."""
    with Page(tmp_path) as p:
        yield p
