#!/usr/bin/env python3
"""A deliberately misbehaving MCP stdio server for the host's tests.

    bad_server.py garbage   non-JSON lines on stdout around valid replies
    bad_server.py noinit    reads requests, never answers initialize
    bad_server.py exit      says why on stderr, exits 3 at once
    bad_server.py big       a tool whose result is 10 MB of text
    bad_server.py hang      answers initialize, then nothing (not even ping)
    bad_server.py paged     a correct server listing 7 tools over 4 pages,
                            tool names with dots and a 100-character name

Every mode that answers is otherwise a correct minimal server with one tool.
"""

import json
import sys
import time

MODE = sys.argv[1] if len(sys.argv) > 1 else "garbage"


def send(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def garbage(text):
    if MODE == "garbage":
        sys.stdout.write(text + "\n")
        sys.stdout.flush()


def handle(msg):
    method, mid = msg.get("method"), msg.get("id")
    if mid is None:
        return
    if method == "initialize":
        if MODE == "noinit":
            return
        garbage("Server v1.0 starting... {not json")
        send({"jsonrpc": "2.0", "id": mid, "result": {
            "protocolVersion": msg["params"]["protocolVersion"],
            "capabilities": {"tools": {}},
            "serverInfo": {"name": "bad-" + MODE, "version": "0"}}})
        return
    if MODE == "hang":
        return
    if method == "tools/list" and MODE == "paged":
        names = ["t%d" % i for i in range(5)] + ["files.read",
                                                 "x" * 100]
        start = int((msg.get("params") or {}).get("cursor") or 0)
        page = {"tools": [{"name": n, "inputSchema": {"type": "object"}}
                          for n in names[start:start + 2]]}
        if start + 2 < len(names):
            page["nextCursor"] = str(start + 2)
        send({"jsonrpc": "2.0", "id": mid, "result": page})
    elif method == "tools/list":
        garbage("listing tools!")
        send({"jsonrpc": "2.0", "id": mid, "result": {"tools": [
            {"name": "big", "description": "10 MB of text",
             "inputSchema": {"type": "object"}},
            {"name": "echo", "description": "echo",
             "inputSchema": {"type": "object",
                             "properties": {"text": {"type": "string"}}}}]}})
    elif method == "tools/call":
        name = msg["params"]["name"]
        if name == "big":
            text = "HEAD" + ("x" * (10 * 1024 * 1024)) + "TAIL"
        else:
            text = msg["params"].get("arguments", {}).get("text", "")
        garbage("]]] more garbage")
        send({"jsonrpc": "2.0", "id": mid,
              "result": {"content": [{"type": "text", "text": text}]}})
    elif method == "ping":
        send({"jsonrpc": "2.0", "id": mid, "result": {}})
    else:
        send({"jsonrpc": "2.0", "id": mid,
              "error": {"code": -32601, "message": "no " + str(method)}})


def main():
    if MODE == "exit":
        sys.stderr.write("fatal: cannot open database /nonexistent\n")
        sys.exit(3)
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        try:
            handle(json.loads(line))
        except Exception as e:  # keep going: a test double must not die
            sys.stderr.write("bad_server: %r\n" % e)
    time.sleep(0.05)


if __name__ == "__main__":
    main()
