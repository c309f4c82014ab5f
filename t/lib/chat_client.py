"""A small asyncio client for the chat API (docs/websocket-api.md), for
the t/test_chat_*.py tests and bench/chat*.

    async with ChatClient(url) as c:
        frames = await c.chat("add 2 and 3")          # until complete/error
        conv = frames[0]["chunk"]["metadata"]["conversation_id"]
        r = await c.call("history", {"conversation_id": conv})

Frames for other request ids that arrive meanwhile are kept for later
calls; every wait has a timeout.
"""

import asyncio
import itertools
import json

import websockets

_ids = itertools.count(1)

END = ("complete", "error")


class ChatClient:
    def __init__(self, url, headers=None, timeout=10.0):
        self.url = url
        self.headers = headers or {}
        self.timeout = timeout
        self.ws = None
        self.pending = []

    async def __aenter__(self):
        self.ws = await websockets.connect(
            self.url, open_timeout=5, extra_headers=self.headers,
            max_size=None)
        return self

    async def __aexit__(self, *a):
        await self.close()

    async def close(self):
        if self.ws is not None:
            await self.ws.close()
            self.ws = None

    async def abort(self):
        """Drop the TCP connection without a close handshake."""
        self.ws.transport.abort()
        self.ws = None
        # the socket is really closed by a callback of the loop: let it run
        await asyncio.sleep(0.05)

    async def send(self, obj):
        await self.ws.send(obj if isinstance(obj, str) else json.dumps(obj))

    async def recv(self, timeout=None):
        if self.pending:
            return self.pending.pop(0)
        raw = await asyncio.wait_for(self.ws.recv(), timeout or self.timeout)
        return json.loads(raw)

    async def _next_for(self, rid, timeout):
        for i, f in enumerate(self.pending):
            if f.get("request_id") == rid:
                return self.pending.pop(i)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            left = deadline - loop.time()
            if left <= 0:
                raise asyncio.TimeoutError("no frame for %s" % rid)
            f = json.loads(await asyncio.wait_for(self.ws.recv(), left))
            if f.get("request_id") == rid:
                return f
            self.pending.append(f)

    async def until_end(self, rid, timeout=None):
        """Every frame of request rid up to its complete or error."""
        out = []
        while True:
            f = await self._next_for(rid, timeout or self.timeout)
            out.append(f)
            if f["status"] in END:
                return out

    async def first(self, rid, timeout=None):
        return await self._next_for(rid, timeout or self.timeout)

    def new_rid(self, prefix="r"):
        return "%s%d" % (prefix, next(_ids))

    async def start_chat(self, text, conv=None, rid=None, streaming=None,
                         extra=None):
        rid = rid or self.new_rid()
        payload = {"text": text}
        if conv is not None:
            payload["conversation_id"] = conv
        if streaming is not None:
            payload["streaming"] = streaming
        payload.update(extra or {})
        await self.send({"action": "chat", "request_id": rid,
                         "payload": payload})
        return rid

    async def chat(self, text, conv=None, rid=None, streaming=None,
                   timeout=None):
        rid = await self.start_chat(text, conv, rid, streaming)
        return await self.until_end(rid, timeout)

    async def call(self, action, payload=None, rid=None, timeout=None):
        """One request answered by one frame (complete or error)."""
        rid = rid or self.new_rid(action[:1])
        msg = {"action": action, "request_id": rid}
        if payload is not None:
            msg["payload"] = payload
        await self.send(msg)
        frames = await self.until_end(rid, timeout)
        return frames[-1]


def text_of(frames):
    """The streamed (or whole) text of one request's frames."""
    return "".join(f["chunk"]["data"] for f in frames
                   if f["status"] == "chunk"
                   and f["chunk"].get("type") == "text")


def conv_of(frames):
    return frames[0]["chunk"]["metadata"]["conversation_id"]


def run(coro):
    return asyncio.run(coro)
