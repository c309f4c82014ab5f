#!/usr/bin/env python3
"""A small MCP stdio server whose prompt and resource change on demand,
for the system-prompt refresh tests (a deterministic trigger, which
server-everything's timers are not).

    notes_server.py DIR [--no-subscribe]

It serves the prompt "rules" with the text of DIR/rules.txt and the
resource "notes://<name>" with the text of DIR/<name>.txt for each
DIR/*.txt other than rules.txt.  It watches DIR (every 50 ms): when
rules.txt changes it sends notifications/prompts/list_changed; when a
resource's file changes it sends notifications/resources/updated if the
client subscribed to it, else notifications/resources/list_changed; a
file appearing or going is a resources/list_changed.  --no-subscribe:
the server does not offer subscriptions.  Every request it receives is
appended to DIR/requests.log (method and params), for the test to read.
"""

import json
import os
import select
import sys

DIR = sys.argv[1]
SUBSCRIBE = "--no-subscribe" not in sys.argv
subscribed = set()


def send(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def notify(method, params=None):
    msg = {"jsonrpc": "2.0", "method": method}
    if params is not None:
        msg["params"] = params
    send(msg)


def read(name):
    try:
        with open(os.path.join(DIR, name)) as f:
            return f.read()
    except OSError:
        return None


def snapshot():
    return {n: read(n) for n in sorted(os.listdir(DIR))
            if n.endswith(".txt")}


def resources(snap):
    return [{"uri": "notes://" + n[:-4], "name": n[:-4],
             "mimeType": "text/plain"}
            for n in snap if n != "rules.txt"]


def answer(msg):
    method, mid = msg.get("method"), msg.get("id")
    params = msg.get("params") or {}
    if mid is None:
        return
    with open(os.path.join(DIR, "requests.log"), "a") as f:
        f.write(json.dumps({"method": method, "params": params}) + "\n")
    if method == "initialize":
        result = {"protocolVersion": params["protocolVersion"],
                  "capabilities": {
                      "prompts": {"listChanged": True},
                      "resources": {"listChanged": True,
                                    "subscribe": SUBSCRIBE}},
                  "serverInfo": {"name": "notes", "version": "1"}}
    elif method == "prompts/list":
        result = {"prompts": [{"name": "rules", "arguments": []}]}
    elif method == "prompts/get" and params.get("name") == "rules":
        result = {"messages": [{"role": "user", "content": {
            "type": "text", "text": read("rules.txt") or ""}}]}
    elif method == "resources/list":
        result = {"resources": resources(snapshot())}
    elif method == "resources/read":
        text = read(params.get("uri", "")[len("notes://"):] + ".txt")
        if text is None:
            send({"jsonrpc": "2.0", "id": mid, "error": {
                "code": -32002, "message": "no such resource"}})
            return
        result = {"contents": [{"uri": params["uri"],
                                "mimeType": "text/plain", "text": text}]}
    elif method == "resources/subscribe" and SUBSCRIBE:
        subscribed.add(params.get("uri"))
        result = {}
    elif method == "ping":
        result = {}
    else:
        send({"jsonrpc": "2.0", "id": mid, "error": {
            "code": -32601, "message": "no " + str(method)}})
        return
    send({"jsonrpc": "2.0", "id": mid, "result": result})


def changes(old, new):
    if old.get("rules.txt") != new.get("rules.txt"):
        notify("notifications/prompts/list_changed")
    if set(old) != set(new):
        notify("notifications/resources/list_changed")
        return
    for n in new:
        if n == "rules.txt" or old[n] == new[n]:
            continue
        uri = "notes://" + n[:-4]
        if uri in subscribed:
            notify("notifications/resources/updated", {"uri": uri})
        else:
            notify("notifications/resources/list_changed")


def main():
    seen = snapshot()
    buf = b""
    while True:
        ready, _, _ = select.select([sys.stdin], [], [], 0.05)
        if ready:
            chunk = os.read(sys.stdin.fileno(), 65536)
            if not chunk:
                return
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                if line.strip():
                    answer(json.loads(line))
        now = snapshot()
        if now != seen:
            changes(seen, now)
            seen = now


if __name__ == "__main__":
    main()
