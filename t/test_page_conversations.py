"""The chat page's conversations, in headless Chromium against the real
stack: paging through what does not fit one answer (a conversation longer
than one `history` page: "Load earlier messages"; more conversations than
one `list_conversations` page: "More conversations"), both through the
keyset cursors (`before` / `next_before`, docs/websocket-api.md), and
deleting a conversation from the list.  The data is made through the
WebSocket API first (the offline demo provider answers at once), then the
page is opened on it."""

import asyncio
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "page"))

# page is a fixture: tests name it as an argument
from pagekit import OPEN, ask, history_of, page, page_stack, shot  # noqa
from chat_client import ChatClient, conv_of  # noqa: E402
from stack import wait_until  # noqa: E402

PAGE = 50               # the page's history and list page size (chat.js)
TURNS = 30              # the long conversation: 60 messages
OTHERS = PAGE + 2       # conversations beside it: 53 in all


def offline_stack(make_stack):
    return page_stack(make_stack, mcpd_yaml={
        "chat": {"service": {"provider": "offline", "offline_delay": "0ms"}},
        "persistence": {"retention_policy": "unlimited"}})


async def seed(stack):
    """One long conversation, then OTHERS short ones (so the long one is
    the oldest and falls on the list's second page)."""
    async with ChatClient(stack.ws_url, timeout=20) as c:
        f = await c.chat("turn 1", streaming=False)
        assert f[-1]["status"] == "complete", f[-1]
        long_conv = conv_of(f)
        for i in range(2, TURNS + 1):
            f = await c.chat("turn %d" % i, conv=long_conv, streaming=False)
            assert f[-1]["status"] == "complete", f[-1]
        others = []
        for i in range(OTHERS):
            f = await c.chat("other %d" % i, streaming=False)
            assert f[-1]["status"] == "complete", f[-1]
            others.append(conv_of(f))
    return long_conv, others


async def all_conversations(stack):
    async with ChatClient(stack.ws_url) as c:
        f = await c.call("list_conversations", {"limit": 500})
    assert f["status"] == "complete", f
    assert "next_before" not in f["chunk"]["metadata"]
    return [x["conversation_id"] for x in f["chunk"]["metadata"]["conversations"]]


def user_texts(page):
    return page.texts(".msg.user .msg-body")


def top_of(page, text):
    """Where the user message with this text is on the screen."""
    return page.eval("""[...document.querySelectorAll('.msg.user')]
        .find(m => m.querySelector('.msg-body').textContent === %s)
        .getBoundingClientRect().top""" % json.dumps(text))


def test_page_loads_older_messages_and_more_conversations(make_stack, page,
                                                          tmp_path):
    stack = offline_stack(make_stack)
    long_conv, others = asyncio.run(seed(stack))

    # the list: one page, then the rest through its cursor
    page.goto(stack.http_url + "/")
    page.wait_for(OPEN)
    wait_until(lambda: page.count(".conv") == PAGE, 10,
               what="the first page of conversations")
    page.wait_for("#conv-more")
    first = page.sent("list_conversations")[0]
    assert "before" not in first["payload"]
    page.click("#conv-more")
    wait_until(lambda: page.count(".conv") == OTHERS + 1, 10,
               what="the second page of conversations")
    more = [m for m in page.sent("list_conversations")
            if "before" in m["payload"]]
    assert len(more) == 1
    ids = page.eval("[...document.querySelectorAll('.conv')]"
                    ".map(e => e.dataset.id)")
    assert len(set(ids)) == len(ids), "a conversation listed twice"
    assert set(ids) == set(others) | {long_conv}
    # in the server's order (newest first), the long one on the second page
    assert ids == asyncio.run(all_conversations(stack))
    assert long_conv in ids[PAGE:]
    page.wait_for("#conv-more", state="hidden")

    # the long conversation, from the second page: its newest page first
    page.click('.conv[data-id="%s"] .conv-open' % long_conv)
    page.wait_for(".history-more")
    shown = user_texts(page)
    assert shown == ["turn %d" % i for i in range(TURNS - PAGE // 2 + 1,
                                                  TURNS + 1)]
    assert page.count(".msg.assistant") == PAGE // 2
    # the reader is at the end, where the newest message is
    assert page.eval("""(() => { const m = document.getElementById('messages');
        return m.scrollHeight - m.scrollTop - m.clientHeight < 80; })()""")
    shot(page, tmp_path, "page-history-newest")

    # "Load earlier messages" asks for the page before the oldest shown and
    # puts it above, without moving what the reader looks at
    page.eval("document.getElementById('messages').scrollTop = 0")
    top_before = top_of(page, shown[0])
    page.click(".history-more")
    wait_until(lambda: len(user_texts(page)) == TURNS, 10,
               what="the older messages")
    assert user_texts(page) == ["turn %d" % i for i in range(1, TURNS + 1)]
    assert page.count(".msg.assistant") == TURNS
    assert page.count(".history-more") == 0          # that was all
    hist = page.sent("history")
    assert [("before" in h["payload"]) for h in hist] == [False, True]
    answer = [f for f in page.received()
              if f.get("request_id") == hist[0]["request_id"]][-1]
    assert hist[1]["payload"]["before"] == \
        answer["chunk"]["metadata"]["next_before"]
    top_after = top_of(page, shown[0])
    assert abs(top_after - top_before) < 5, (top_before, top_after)
    shot(page, tmp_path, "page-history-all")
    assert page.console_errors() == []


async def two_conversations(stack):
    async with ChatClient(stack.ws_url) as c:
        a = conv_of(await c.chat("first", streaming=False))
        b = conv_of(await c.chat("second", streaming=False))
    return a, b


def test_page_deletes_a_conversation(make_stack, page, tmp_path):
    stack = offline_stack(make_stack)
    a, b = asyncio.run(two_conversations(stack))
    page.goto(stack.http_url + "/#c=" + a)
    page.wait_for(OPEN)
    page.wait_for('.conv.active[data-id="%s"]' % a)
    page.wait_for(".msg.user")
    assert user_texts(page) == ["first"]

    # one click only arms the button, for 4 s; nothing is deleted
    del_b = '.conv[data-id="%s"] .conv-del' % b
    page.click(del_b)
    assert page.text(del_b) == "Delete?"
    page.wait_until("() => document.querySelector('%s').textContent === "
                    "'\u2715'" % del_b, timeout=6)
    assert page.sent("delete_conversation") == []

    # two clicks delete the open one: gone from the list and from the
    # store, and the view is a new conversation again
    del_a = '.conv[data-id="%s"] .conv-del' % a
    page.click(del_a)
    page.click(del_a)
    req = wait_until(lambda: page.sent("delete_conversation") or None, 5,
                     what="the delete")[0]
    assert req["payload"] == {"conversation_id": a}
    page.wait_for('.conv[data-id="%s"]' % a, state="detached")
    assert page.eval("[...document.querySelectorAll('.conv')]"
                     ".map(e => e.dataset.id)") == [b]
    assert page.text("#conv-title") == "New conversation"
    assert page.eval("location.hash") == ""
    assert page.count(".msg") == 0
    f = ask(stack, "history", {"conversation_id": a})
    assert f["chunk"].get("code") == "conversation_not_found", f
    assert [m["content"] for m in history_of(stack, b)][:1] == ["second"]
    shot(page, tmp_path, "page-deleted")
    assert page.console_errors() == []
