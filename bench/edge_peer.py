"""The peer for bench/edge.sh: the original project's stack, a FastAPI
WebSocket endpoint on uvicorn (one worker, as it ran), answering the same
`ping` action with the same reply as mcpd."""

import json

from fastapi import FastAPI, WebSocket, WebSocketDisconnect

app = FastAPI()


@app.websocket("/ws/chat")
async def chat(ws: WebSocket):
    await ws.accept()
    try:
        while True:
            text = await ws.receive_text()
            try:
                msg = json.loads(text)
            except ValueError:
                await ws.send_text(json.dumps({
                    "request_id": None, "status": "error",
                    "chunk": {"error": "invalid JSON", "code": "invalid_json"}}))
                continue
            rid = msg.get("request_id")
            if msg.get("action") == "ping":
                reply = {"request_id": rid, "status": "complete",
                         "chunk": {"type": "pong"}}
            else:
                reply = {"request_id": rid, "status": "error",
                         "chunk": {"error": "unknown action",
                                   "code": "unknown_action"}}
            await ws.send_text(json.dumps(reply))
    except WebSocketDisconnect:
        pass
