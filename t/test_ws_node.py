"""A real client: the `ws` package from npm (t/node_modules/ws), driven by a
small node script, talks to nginx + module + mcpd: ping round trips, a
fragmented-capable large message, ping/pong keepalive, a clean close."""

import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))

T_DIR = os.path.dirname(os.path.abspath(__file__))

SCRIPT = r"""
const WebSocket = require('ws');
const url = process.argv[1];
const out = {pongs: 0, errors: [], pings: 0};
const ws = new WebSocket(url, {origin: 'http://localhost:3000'});
const timer = setTimeout(() => { out.errors.push('timeout'); done(); }, 10000);
function done() {
  clearTimeout(timer);
  console.log(JSON.stringify(out));
  process.exit(0);
}
ws.on('ping', () => { out.pings++; });
ws.on('open', () => {
  for (let i = 0; i < 20; i++)
    ws.send(JSON.stringify({action: 'ping', request_id: 'n' + i}));
  ws.send(JSON.stringify({action: 'ping', request_id: 'big',
                          payload: {pad: 'x'.repeat(300000)}}));
  ws.send(JSON.stringify({action: 'nope', request_id: 'u'}));
});
ws.on('message', (data, isBinary) => {
  const m = JSON.parse(data.toString());
  if (m.status === 'complete' && m.chunk.type === 'pong') out.pongs++;
  else out.other = m;
  if (out.pongs === 21 && out.other) {
    // wait for at least one server ping, then close cleanly
    const finish = () => ws.close(1000, 'bye');
    if (out.pings > 0) finish(); else ws.once('ping', finish);
  }
});
ws.on('close', (code, reason) => {
  out.close = code; out.reason = reason.toString(); done();
});
ws.on('error', (e) => { out.errors.push(String(e)); done(); });
"""


def test_ws_npm_client(make_stack):
    s = make_stack(nginx_location={"mcp_ping_interval": "200ms"})
    s.start()
    r = subprocess.run(["node", "-e", SCRIPT, s.ws_url], cwd=T_DIR,
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["errors"] == [], out
    assert out["pongs"] == 21, out
    assert out["other"]["status"] == "error", out
    assert out["other"]["chunk"]["code"] == "unknown_action", out
    assert out["pings"] >= 1, out
    assert out["close"] == 1000, out
    st = s.health()["websocket_stats"]
    assert st["closed"]["1000"] >= 1
