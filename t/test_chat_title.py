"""Conversation titles: a conversation is named after its first user
message (first non-blank line, white space folded, cut at a word with an
ellipsis past 60 bytes), whether the server or the client chose its id;
later messages never rename it.  list_conversations and the page show it."""

import asyncio
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from chat_client import ChatClient, conv_of  # noqa: E402
from stack import Stack  # noqa: E402


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    s = Stack(tmp_path_factory.mktemp("chat_title"),
              nginx_location={"mcp_principal": "$http_x_user"},
              mcpd_yaml={"chat": {"service": {"offline_delay": "0ms"}}})
    s.start()
    yield s
    s.stop()


async def titles(c):
    r = await c.call("list_conversations", {})
    assert r["status"] == "complete", r
    return {cv["conversation_id"]: cv.get("title")
            for cv in r["chunk"]["metadata"]["conversations"]}


def test_conversations_are_named_after_their_first_message(stack):
    long = ("Summarise the following article about the history of the "
            "printing press in Europe please")

    async def main():
        async with ChatClient(stack.ws_url,
                              headers={"X-User": "tina"}) as c:
            f = await c.chat("\n   What is   2+3?\nshow your work")
            new = conv_of(f)
            f = await c.chat(long)
            cut = conv_of(f)
            named = "tina-own-id"
            f = await c.chat("Plan a trip to Rome", conv=named)
            assert f[-1]["status"] == "complete", f[-1]
            # a later message does not rename it
            f = await c.chat("something else entirely", conv=named)
            assert f[-1]["status"] == "complete", f[-1]
            t = await titles(c)
            assert t[new] == "What is 2+3?"
            assert t[cut] == ("Summarise the following article about the "
                              "history of the\u2026")
            assert len(t[cut].encode()) <= 63
            assert t[named] == "Plan a trip to Rome"
        # another principal sees none of them
        async with ChatClient(stack.ws_url,
                              headers={"X-User": "other"}) as c:
            assert await titles(c) == {}
    asyncio.run(main())
