"""The chat page (conf/www) in headless Chromium against the real stack:
nginx with the module serving the page and the WebSocket, a real mcpd with
its offline demo provider (what `make run` uses without an API key), and,
for the full scenario, the real server-everything from t/node_modules.

Covered: the page loads, connects and says so, sends with Enter, renders
the streamed reply as safe Markdown, shows every error frame with its code
(provider_error, conversation_not_found, backend_unavailable while mcpd is
down) and retries with the same request_id; reconnects after the socket
drops (idle timeout, nginx reload) and sends an unanswered chat again with
the same request_id; Stop cancels a streaming reply; the full scenario of
issue 6 (streamed text, a tool call inline and collapsible, the history
after a reload); all without a console error.

Set PAGE_SHOTS=DIR to keep screenshots of each test.
"""

import json
import os
import signal
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "page"))

# page is a fixture: tests name it as an argument
from pagekit import (OPEN, backend_up, final_frame, history_of,  # noqa
                     page, page_stack, send, shot, tools_stack)
from stack import wait_until  # noqa: E402


def error_shown(page, req, code, where, cls=""):
    """req was answered with an error frame of that code, and the page
    shows it in `where` with its code and message; the box's selector."""
    f = final_frame(page, req["request_id"])
    assert f["status"] == "error", f
    assert f["chunk"]["code"] == code, f
    sel = '%s .error-box%s[data-code="%s"]' % (where, cls, code)
    page.wait_for(sel)
    box = page.text(sel)
    assert code in box and f["chunk"]["error"] in box, box
    return sel


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

    # the offline demo provider answers; its reply is Markdown, and HTML in
    # it stays text
    f = final_frame(page, req["request_id"])
    assert f["status"] == "complete", json.dumps(f)
    page.wait_until("() => !document.querySelector('.msg-status.busy')")
    reply = page.text(".msg.assistant .md")
    assert "offline demo provider" in reply
    assert "Hello <b>there</b> world" in reply
    assert page.text(".msg.assistant .md strong") == "world"
    assert page.count(".msg.assistant b") == 0
    conv = f["chunk"]["metadata"]["conversation_id"]
    page.wait_for('.conv.active[data-id="%s"]' % conv)
    assert page.count("#conv-notice:visible") == 0

    # an error frame is shown in the reply it ends, with its code, its
    # message and a Retry button (provider_error may pass on a retry)
    req = send(page, "offline:fail")
    sel = error_shown(page, req, "provider_error", ".msg.assistant")
    assert page.count(sel + " button:text('Retry')") == 1
    page.wait_for("#send:visible")
    shot(page, tmp_path, "page-error-frame")

    # opening a conversation (by its link) asks for its history; one that
    # does not exist answers conversation_not_found, shown with its code
    page.goto(stack.http_url + "/#c=c-test")
    page.wait_for('#conv-title:text("Conversation")')
    hist = wait_until(lambda: page.sent("history") or None, 10,
                      what="the history request")
    assert hist[0]["payload"] == {"conversation_id": "c-test", "limit": 50}
    error_shown(page, hist[0], "conversation_not_found", "#messages", ".global")
    # "New chat" leaves it: empty view, no conversation in the URL
    page.click("#new-conv")
    assert page.text("#conv-title") == "New conversation"
    assert page.eval("location.hash") == ""
    assert page.count(".error-box") == 0

    # mcpd gone: the module answers backend_unavailable, the socket stays;
    # the conversations list says so too (a reload asks for it again)
    stack.kill_mcpd(signal.SIGKILL)
    page.reload()
    page.wait_for(OPEN)
    page.wait_for('#conv-notice[data-code="backend_unavailable"]')
    assert "backend_unavailable" in page.text("#conv-notice")
    req2 = send(page, "are you there?")
    sel = error_shown(page, req2, "backend_unavailable", ".msg.assistant")
    assert page.count(OPEN) == 1
    wait_until(lambda: page.attr("#conn", "data-backend") == "unavailable",
               5, what="the header to say the backend is unavailable")
    assert "unavailable" in page.text("#conn-text")
    shot(page, tmp_path, "page-backend-unavailable")

    # mcpd back: Retry sends the same request_id again (it never ran), and
    # this time it is answered
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
    assert answers[0]["status"] == "complete", answers[0]
    page.wait_for("#conv-notice", state="hidden")
    assert page.attr("#conn", "data-backend") == "ok"
    assert page.count(".msg.assistant .error-box") == 0
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
    assert final_frame(page, req["request_id"])["status"] == "complete"
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

    # the repeat reached a new worker whose link to the frozen mcpd is not
    # up: it is answered backend_unavailable, shown with a Retry button
    f = final_frame(page, req["request_id"], timeout=15)
    assert f["status"] == "error", f
    assert f["chunk"]["code"] == "backend_unavailable"
    sel = '.msg.assistant .error-box[data-code="backend_unavailable"]'
    page.wait_for(sel)
    page.wait_for("#send:visible")
    assert page.count(".msg.assistant") == 1

    # mcpd thawed: Retry, same request_id, gets the one answer mcpd has
    # for it (the first run, replayed or attached to; never a second run)
    wait_until(lambda: backend_up(stack), 15, what="links to mcpd")
    page.click(sel + " button")
    answers = wait_until(lambda: [x for x in page.received()
                                  if x.get("request_id") == req["request_id"]
                                  and x.get("status") in ("complete", "error")
                                  ][1:] or None, 15, what="the retry's answer")
    assert answers[0]["status"] == "complete", answers[0]
    page.wait_for("#send:visible")
    assert page.count(".msg.assistant") == 1
    assert "survive a reload" in page.text(".msg.assistant .md")
    # stored once: one user message and one reply for the one request
    conv = answers[0]["chunk"]["metadata"]["conversation_id"]
    msgs = history_of(stack, conv)
    assert [m["role"] for m in msgs] == ["user", "assistant"]
    assert {m["request_id"] for m in msgs} == {req["request_id"]}
    shot(page, tmp_path, "page-after-reload")
    assert page.console_errors() == []


def test_page_full_chat_scenario(make_stack, page, tmp_path):
    """Issue 6: open the page, send a message, see streamed text and a tool
    call, reload and see the history.  The offline demo provider asks
    server-everything's get-sum to add the two numbers, then streams the
    answer word by word."""
    stack = tools_stack(make_stack, tmp_path)
    page.goto(stack.http_url + "/")
    page.wait_for(OPEN)
    # what the reader saw: the reply's rendered text, each time it changed
    page.eval("""window.seen = [];
        new MutationObserver(() => {
            const md = document.querySelector('.msg.assistant .md');
            const t = md ? md.textContent : '';
            if (t && t !== window.seen[window.seen.length - 1]) {
                window.seen.push(t);
            }
        }).observe(document.getElementById('messages'),
                   {subtree: true, childList: true, characterData: true})""")

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
    assert "The sum of 2 and 3 is 5" in reply

    # ... and shown as it arrived: the text grew in steps, each one a
    # prefix of the next, not in one piece at the end
    seen = page.eval("window.seen")
    assert len(seen) >= 3, seen
    assert all(b.startswith(a) for a, b in zip(seen, seen[1:])), seen

    # the tool call and its result inline, collapsed, with the tool's name
    tool = ".msg.assistant details.tool"
    page.wait_for(tool + '[data-status="ok"]', state="attached")
    assert "get-sum" in page.text(tool + " .tool-name")
    assert page.text(tool + " .tool-status").startswith("ok")
    assert page.attr(tool, "open") is None
    assert page.count(tool + " .tool-args:visible") == 0
    page.click(tool + " summary")
    assert page.attr(tool, "open") is not None
    assert json.loads(page.text(tool + " .tool-args")) == {"a": 2, "b": 3}
    # the result is shown as it arrived (the chunk's preview), before any
    # reload
    assert "5" in page.text(tool + " .tool-result")
    page.click(tool + " summary")
    assert page.attr(tool, "open") is None

    # the text as rendered (Markdown stripped to its text), before and
    # after the tool, in order
    page.wait_until("() => !document.querySelector('.msg-status.busy')")
    shown = page.texts(".msg.assistant .md")
    assert len(shown) == 2
    assert shown[0].split()[:3] == reply.replace("*", "").replace("`", "") \
        .split()[:3]
    assert "The sum of 2 and 3 is 5" in shown[1]
    order = page.eval("""[...document.querySelector('.msg.assistant .msg-blocks')
                          .children].map(e => e.className)""")
    assert order == ["md", "tool", "md"], order

    # the conversation is in the list and in the URL
    conv = f["chunk"]["metadata"]["conversation_id"]
    page.wait_for('.conv[data-id="%s"]' % conv)
    assert conv in page.eval("location.hash")
    shot(page, tmp_path, "page-full-before-reload")

    # reload: the history comes back, tool call and its result included
    page.reload()
    page.wait_for(OPEN)
    hist = wait_until(lambda: page.sent("history") or None, 10,
                      what="the history request")
    assert hist[0]["payload"]["conversation_id"] == conv
    page.wait_for(".msg.user")
    assert page.texts(".msg.user .msg-body") == \
        ["What is 2+3? Use the get-sum tool."]
    page.wait_for(tool + '[data-status="ok"]', state="attached")
    assert page.count(".msg.assistant") == 1
    assert "get-sum" in page.text(tool + " .tool-name")
    page.click(tool + " summary")
    assert json.loads(page.text(tool + " .tool-args")) == {"a": 2, "b": 3}
    assert "5" in page.text(tool + " .tool-result")
    after = page.texts(".msg.assistant .md")
    assert [" ".join(t.split()) for t in after] == \
        [" ".join(t.split()) for t in shown]
    assert page.count('.conv.active[data-id="%s"]' % conv) == 1
    shot(page, tmp_path, "page-full-after-reload")
    assert page.console_errors() == []


MARKDOWN_CASES = r"""async () => {
  const McpMarkdown = await import('/markdown.js');
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


def test_page_cancel_scenario(make_stack, page, tmp_path):
    """Issue 6: Stop while a reply streams sends `cancel` for it; the reply
    ends with the `cancelled` error and the composer is free again.  The
    offline provider's `offline:slow` reply streams one word per 100 ms."""
    stack = page_stack(make_stack)
    page.goto(stack.http_url + "/")
    page.wait_for(OPEN)
    req = send(page, "offline:slow Tell me a long story.")
    page.wait_for(".msg.assistant .md")          # streaming has begun
    page.click("#cancel")
    cancels = wait_until(lambda: page.sent("cancel") or None, 5,
                         what="the cancel")
    assert cancels[0]["payload"] == {"target": req["request_id"]}
    f = final_frame(page, req["request_id"], timeout=10)
    assert f["status"] == "error" and f["chunk"]["code"] == "cancelled"
    page.wait_for('.msg.assistant .error-box[data-code="cancelled"]')
    page.wait_for("#send:visible")
    # what had streamed stays on screen, and is stored marked cancelled
    shown = page.text(".msg.assistant .md")
    assert shown.startswith("[offline")
    conv = [x for x in page.received()
            if x.get("request_id") == req["request_id"]
            and x.get("status") == "processing"][0]["chunk"]["metadata"][
                "conversation_id"]
    last = history_of(stack, conv)[-1]
    assert last["role"] == "assistant"
    assert last["finish_reason"] == "cancelled"
    assert " ".join(last["content"].split()) in " ".join(shown.split())
    shot(page, tmp_path, "page-cancelled")
    assert page.console_errors() == []
