"""The chat page (conf/www) in headless Chromium against the real stack:
nginx with the module serving the page and the WebSocket, and a real mcpd.

What runs today: the page loads, connects and says so, sends with Enter,
shows every error frame with its code (the chat action is not served yet,
and backend_unavailable while mcpd is down), retries with the same
request_id, reconnects after the socket drops (idle timeout, nginx reload)
and re-sends an unanswered chat with the same request_id, all without a
console error.  The full scenario of issue 6 is written below and skipped
until the chat service answers `chat`.

Set PAGE_SHOTS=DIR to keep screenshots of each test.
"""

import json
import os
import signal
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "page"))

from driver import Page  # noqa: E402
from stack import wait_until  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WWW = os.path.join(ROOT, "conf", "www")
MIME = {"include": "/etc/nginx/mime.types"}

OPEN = '#conn[data-state="open"]'
RECONNECTING = '#conn[data-state="reconnecting"]'


def page_stack(make_stack, **location):
    return make_stack(www=WWW, nginx_http=MIME,
                      nginx_location=location or None).start()


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


def backend_up(stack):
    h = stack.health()
    return all(w.get("link") == "up" for w in h["backend"]["workers"])


@pytest.fixture
def page(tmp_path):
    with Page(tmp_path) as p:
        yield p


def test_page_loads_connects_and_shows_error_frames(make_stack, page,
                                                     tmp_path):
    stack = page_stack(make_stack)

    assert page.goto(stack.http_url + "/") == 200
    page.wait_for(OPEN)
    assert page.text("#conn-text").strip() == "Connected"
    assert page.attr("#conn", "data-backend") == "ok"

    # ws:// URL derived from the page's own location
    sockets = page.sockets()
    assert sockets[0]["url"] == stack.ws_url

    # Shift+Enter is a newline, not a send
    page.fill("#input", "line one")
    page.press("#input", "Shift+Enter")
    assert page.eval("document.getElementById('input').value") == \
        "line one\n"
    assert page.sent("chat") == []

    # Enter sends; the user's text is shown as typed (no Markdown, no HTML)
    req = send(page, "Hello <b>there</b> **world**")
    assert req["payload"]["text"] == "Hello <b>there</b> **world**"
    assert req["payload"]["streaming"] is True
    assert req["request_id"].startswith("r-")
    assert page.text(".msg.user .msg-body") == \
        "Hello <b>there</b> **world**"
    assert page.count(".msg.user b") == 0

    # whatever the server answered, its error frame is shown with its code
    f = final_frame(page, req["request_id"])
    if f["status"] == "error":
        page.wait_for('.msg.assistant .error-box[data-code="%s"]'
                      % f["chunk"]["code"])
        box = page.text(".msg.assistant .error-box")
        assert f["chunk"]["code"] in box
        assert f["chunk"]["error"] in box
    # the conversations list answers too: its error, if any, is visible
    lf = [m for m in page.sent("list_conversations")]
    assert lf, "the page asks for the conversation list"
    lfin = final_frame(page, lf[0]["request_id"])
    if lfin["status"] == "error":
        page.wait_for("#conv-notice")
        assert lfin["chunk"]["code"] in page.text("#conv-notice")
    shot(page, tmp_path, "page-error-frame")

    # opening a conversation (by its link) asks for its history; whatever
    # the answer, an error frame is shown with its code
    page.goto(stack.http_url + "/#c=c-test")
    page.wait_for('#conv-title:text("Conversation")')
    hist = wait_until(lambda: page.sent("history") or None, 10,
                      what="the history request")
    assert hist[0]["payload"] == {"conversation_id": "c-test", "limit": 50}
    hf = final_frame(page, hist[0]["request_id"])
    if hf["status"] == "error":
        sel = '.error-box.global[data-code="%s"]' % hf["chunk"]["code"]
        page.wait_for(sel)
        assert hf["chunk"]["code"] in page.text(sel)
    # "New chat" leaves it: empty view, no conversation in the URL
    page.click("#new-conv")
    assert page.text("#conv-title") == "New conversation"
    assert page.eval("location.hash") == ""
    assert page.count(".error-box") == 0

    # mcpd gone: the module answers backend_unavailable, the socket stays
    stack.kill_mcpd(signal.SIGKILL)
    req2 = send(page, "are you there?")
    f2 = final_frame(page, req2["request_id"])
    assert f2["status"] == "error"
    assert f2["chunk"]["code"] == "backend_unavailable"
    sel = '.msg.assistant .error-box[data-code="backend_unavailable"]'
    page.wait_for(sel)
    assert "backend_unavailable" in page.text(sel)
    assert page.count(OPEN) == 1
    shot(page, tmp_path, "page-backend-unavailable")

    # mcpd back: Retry sends the same request_id again (it never ran)
    stack.start_mcpd()
    wait_until(lambda: backend_up(stack), 15, what="links to mcpd")
    page.click(sel + " button")
    wait_until(lambda: len([m for m in page.sent("chat")
                            if m["request_id"] == req2["request_id"]]) == 2,
               10, what="the retry")
    answers = wait_until(lambda: [f for f in page.received()
                                  if f.get("request_id") == req2["request_id"]
                                  and f.get("status") in ("complete", "error")
                                  ][1:] or None, 10, what="the retry's answer")
    assert answers[0].get("chunk", {}).get("code") != "backend_unavailable"

    assert page.console_errors() == []


def test_page_reconnects_after_idle_close(make_stack, page, tmp_path):
    stack = page_stack(make_stack, mcp_idle_timeout="2s")

    page.goto(stack.http_url + "/")
    page.wait_for(OPEN)
    # nothing sent for 2 s: nginx closes with 1001; the page says so, with
    # a countdown and a button to retry at once
    text = page.wait_until("""() => {
        const c = document.getElementById('conn');
        return c.dataset.state === 'reconnecting'
            && !document.getElementById('conn-retry').hidden
            && document.getElementById('conn-text').textContent; }""",
                           timeout=8)
    assert "Disconnected" in text and "1001" in text and "retrying in" in text
    shot(page, tmp_path, "page-reconnecting")

    # and reconnects by itself, to a working socket
    page.wait_for(OPEN, timeout=10)
    states = []
    for e in page.eval("mcpChat.state().connLog"):
        if not states or states[-1] != e["state"]:
            states.append(e["state"])
    assert states[:4] == ["open", "reconnecting", "connecting", "open"]
    assert len(page.sockets()) >= 2
    req = send(page, "still there?")
    final_frame(page, req["request_id"])
    assert page.console_errors() == []


def test_page_resends_unanswered_chat_after_reload(make_stack, page,
                                                    tmp_path):
    stack = page_stack(make_stack)
    page.goto(stack.http_url + "/")
    page.wait_for(OPEN)
    wait_until(lambda: page.attr("#conn", "data-backend") == "ok", 10,
               what="the first ping")

    # mcpd frozen: the chat goes out and stays unanswered
    stack.mcpd.send_signal(signal.SIGSTOP)
    try:
        req = send(page, "survive a reload")
        assert page.count("#cancel:visible") == 1
        # nginx reload (SIGHUP; the config is unchanged): the old worker
        # closes the socket with 1001, the page reconnects to a new one
        stack.nginx.send_signal(signal.SIGHUP)
        page.wait_until("""() => mcpChat.state().connLog
                           .some(e => e.state === 'reconnecting')""", 15)
        page.wait_for(OPEN, timeout=15)
        # the unanswered chat is sent again with the same request_id
        wait_until(lambda: len([m for m in page.sent("chat")
                                if m["request_id"] == req["request_id"]]) >= 2,
                   10, what="the repeat after reconnect")
    finally:
        stack.mcpd.send_signal(signal.SIGCONT)

    f = final_frame(page, req["request_id"], timeout=15)
    assert f["status"] in ("complete", "error")
    # one answer shown for the one request, and the composer is free again
    page.wait_for("#send:visible")
    assert page.count(".msg.assistant") == 1
    shot(page, tmp_path, "page-after-reload")
    assert page.console_errors() == []


@pytest.mark.skip(reason="needs the chat service (issue 6)")
def test_page_full_chat_scenario(make_stack, page, tmp_path):
    """Issue 6: open the page, send a message, see streamed text and a tool
    call, reload and see the history.  Enable once mcpd serves `chat`,
    `history` and `list_conversations`; give make_stack the LLM mock and
    server-everything as the chat tests do (a scripted reply that calls
    everything__get-sum with {"a": 2, "b": 3} and then streams text)."""
    stack = page_stack(make_stack)
    page.goto(stack.http_url + "/")
    page.wait_for(OPEN)

    req = send(page, "What is 2+3? Use the get-sum tool.")

    # streamed: more than one text chunk arrived before complete
    f = final_frame(page, req["request_id"], timeout=30)
    assert f["status"] == "complete", json.dumps(f)
    got = [x for x in page.received()
           if x.get("request_id") == req["request_id"]]
    deltas = [x for x in got if x.get("status") == "chunk"
              and x["chunk"].get("type") == "text"]
    assert len(deltas) >= 2
    reply = "".join(d["chunk"]["data"] for d in deltas)

    # the tool call and its result inline, collapsed, with the tool's name
    page.wait_for(".msg.assistant details.tool[data-status]", state="attached")
    assert "get-sum" in page.text(".msg.assistant details.tool .tool-name")
    assert page.attr(".msg.assistant details.tool", "open") is None
    page.click(".msg.assistant details.tool summary")
    assert page.attr(".msg.assistant details.tool", "open") is not None

    # the text as rendered (Markdown stripped to its text)
    page.wait_until("() => !document.querySelector('.msg-status.busy')")
    shown = page.text(".msg.assistant .md")
    assert shown.split()[:3] == reply.replace("*", "").replace("`", "") \
        .split()[:3]

    # the conversation is in the list and in the URL
    conv = f["chunk"]["metadata"]["conversation_id"]
    page.wait_for('.conv[data-id="%s"]' % conv)
    assert conv in page.eval("location.hash")
    shot(page, tmp_path, "page-full-before-reload")

    # reload: the history comes back, tool call included
    page.reload()
    page.wait_for(OPEN)
    hist = wait_until(lambda: page.sent("history") or None, 10,
                      what="the history request")
    assert hist[0]["payload"]["conversation_id"] == conv
    page.wait_for(".msg.user")
    assert "What is 2+3?" in page.text(".msg.user .msg-body")
    page.wait_for(".msg.assistant details.tool", state="attached")
    assert reply.split()[0].strip("*`") in page.text(".msg.assistant .md")
    assert page.count('.conv.active[data-id="%s"]' % conv) == 1
    shot(page, tmp_path, "page-full-after-reload")
    assert page.console_errors() == []


MARKDOWN_CASES = r"""() => {
  const cases = {
    script: 'hi <script>window.pwned = 1</script> there',
    img: '<img src=x onerror="window.pwned = 2">',
    jslink: '[click](javascript:window.pwned=3) and [ok](https://example.com/a?b=1)',
    datalink: '[d](data:text/html,<b>x</b>)',
    bare: 'see https://example.com/x. and http://h/p)',
    code: '```html\n<b onclick="x()">not bold</b>\n```',
    unclosed: 'start\n```js\nlet a = "<i>";',
    inline: 'use `<br>` and **bold <u>u</u>** and *it* and ~~gone~~',
    list: '- one\n- two\n\n1. first\n2. second',
    quote: '> quoted <em>x</em>\n\n# Title <s>y</s>',
  };
  const out = {};
  for (const [k, v] of Object.entries(cases)) {
    const d = document.createElement('div');
    d.appendChild(McpMarkdown.render(v));
    const all = [...d.querySelectorAll('*')];
    out[k] = {
      tags: all.map(e => e.tagName.toLowerCase()),
      attrs: all.flatMap(e => [...e.attributes].map(a => a.name)),
      hrefs: [...d.querySelectorAll('a')].map(a => a.getAttribute('href')),
      text: d.textContent,
    };
  }
  out.pwned = window.pwned || 0;
  return out;
}"""


def test_page_markdown_is_safe(make_stack, page):
    """The renderer of streamed replies, in the page as served: nothing in
    a reply becomes markup, links only for http(s)/mailto."""
    stack = page_stack(make_stack)
    page.goto(stack.http_url + "/")
    page.wait_for(OPEN)
    r = page.eval("(" + MARKDOWN_CASES + ")()")

    allowed = {"p", "br", "strong", "em", "del", "code", "pre", "a", "ul",
               "ol", "li", "blockquote", "h3", "h4", "h5", "h6", "hr"}
    for name, c in r.items():
        if name == "pwned":
            continue
        assert set(c["tags"]) <= allowed, (name, c["tags"])
        assert not [a for a in c["attrs"] if a.startswith("on")], name
        assert all(h.startswith(("https:", "http:", "mailto:"))
                   for h in c["hrefs"]), (name, c["hrefs"])
    assert r["pwned"] == 0
    assert "<script>" in r["script"]["text"]
    assert r["img"]["tags"] == ["p"]
    assert r["jslink"]["hrefs"] == ["https://example.com/a?b=1"]
    assert "javascript:" in r["jslink"]["text"]
    assert r["datalink"]["hrefs"] == []
    assert r["bare"]["hrefs"] == ["https://example.com/x", "http://h/p"]
    assert r["code"]["tags"] == ["pre", "code"]
    assert '<b onclick="x()">not bold</b>' in r["code"]["text"]
    assert r["unclosed"]["tags"] == ["p", "pre", "code"]
    assert r["inline"]["tags"] == ["p", "code", "strong", "em", "del"]
    assert "<u>u</u>" in r["inline"]["text"]
    assert r["list"]["tags"] == ["ul", "li", "li", "ol", "li", "li"]
    assert r["quote"]["tags"] == ["blockquote", "p", "h3"]

    # narrow screens: the conversations slide in from a menu button
    assert page.count("#toggle-sidebar:visible") == 0
    page.call("viewport", width=400, height=760)
    page.wait_for("#sidebar", state="hidden")
    assert page.attr("#toggle-sidebar", "aria-expanded") == "false"
    page.click("#toggle-sidebar")
    page.wait_for("#sidebar")
    assert page.attr("#toggle-sidebar", "aria-expanded") == "true"
    assert page.console_errors() == []


@pytest.mark.skip(reason="needs the chat service (issue 6)")
def test_page_cancel_scenario(make_stack, page, tmp_path):
    """Issue 6: Stop while a reply streams sends `cancel` for it; the reply
    ends with the `cancelled` error and the composer is free again.  Give
    make_stack the LLM mock with a slow stream."""
    stack = page_stack(make_stack)
    page.goto(stack.http_url + "/")
    page.wait_for(OPEN)
    req = send(page, "Tell me a long story.")
    page.wait_for(".msg.assistant .md")          # streaming has begun
    page.click("#cancel")
    cancels = wait_until(lambda: page.sent("cancel") or None, 5,
                         what="the cancel")
    assert cancels[0]["payload"] == {"target": req["request_id"]}
    f = final_frame(page, req["request_id"], timeout=10)
    assert f["status"] == "error" and f["chunk"]["code"] == "cancelled"
    page.wait_for('.msg.assistant .error-box[data-code="cancelled"]')
    page.wait_for("#send:visible")
    shot(page, tmp_path, "page-cancelled")
    assert page.console_errors() == []
