#!/bin/bash
# make bench-edge: the WebSocket edge under load, next to its peer.
#
#   1. nginx (Debian's binary + build/ngx_mcp_module.so, 2 workers) and
#      build/mcpd; build/tools/edge_load opens and holds CONNS WebSockets
#      and reports nginx worker RSS per held connection, then drives ping
#      round trips (module -> mcpd -> module) on ACTIVE of them.
#   2. The same ping load on ACTIVE connections only (the comparison).
#   3. The peer: FastAPI on uvicorn, one worker (bench/edge_peer.py), with
#      the same ACTIVE-connection load.
#
# Ends with one line:  BENCH edge connections=N kib_per_conn=X rtt_per_s=X
#   peer_rtt_per_s=X ratio=X p99_ms=X peer_p99_ms=X
#
# Knobs (environment): CONNS (10000), ACTIVE (1000), DURATION (10 s),
# PROCS (4 load processes).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

CONNS=${CONNS:-10000}
ACTIVE=${ACTIVE:-1000}
DURATION=${DURATION:-10}
PROCS=${PROCS:-4}
PY=/usr/bin/python3
LOAD=build/tools/edge_load

RUN=$(mktemp -d /tmp/bench-edge.XXXXXX)
NGINX_PID=""
MCPD_PID=""
PEER_PID=""

cleanup() {
    [ -n "$NGINX_PID" ] && kill -QUIT "$NGINX_PID" 2>/dev/null || true
    [ -n "$MCPD_PID" ] && kill -TERM "$MCPD_PID" 2>/dev/null || true
    [ -n "$PEER_PID" ] && kill -TERM "$PEER_PID" 2>/dev/null || true
    for p in $NGINX_PID $MCPD_PID $PEER_PID; do
        for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$p" 2>/dev/null || true
    done
}
trap cleanup EXIT

free_port() {
    $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

wait_for() {    # wait_for <what> <command...>: bounded 15 s
    local what=$1; shift
    for _ in $(seq 150); do
        if "$@" >/dev/null 2>&1; then return 0; fi
        sleep 0.1
    done
    echo "bench-edge: $what did not come up (logs in $RUN)" >&2
    exit 1
}

PORT=$(free_port)
PEER_PORT=$(free_port)
SOCK=$RUN/mcpd.sock

cat > "$RUN/mcpd.yaml" <<YAML
daemon:
  socket: $SOCK
logging:
  level: warn
  format: text
chat:
  service:
    repository:
      path: $RUN/events.db
YAML

# mcpd runs in $RUN: whatever files it creates stay there
(cd "$RUN" && exec "$ROOT/build/mcpd" -c "$RUN/mcpd.yaml") > "$RUN/mcpd.log" 2>&1 &
MCPD_PID=$!
wait_for mcpd test -S "$SOCK"

mkdir -p "$RUN/logs"
cat > "$RUN/nginx.conf" <<CONF
load_module $ROOT/build/ngx_mcp_module.so;
worker_processes 2;
worker_rlimit_nofile 20000;
pid $RUN/nginx.pid;
error_log $RUN/error.log warn;
$( [ "$(id -u)" = 0 ] && echo "user root;" )
events {
    worker_connections 20000;
}
http {
    access_log off;
    client_body_temp_path $RUN/logs;
    proxy_temp_path $RUN/logs;
    fastcgi_temp_path $RUN/logs;
    uwsgi_temp_path $RUN/logs;
    scgi_temp_path $RUN/logs;
    server {
        listen 127.0.0.1:$PORT backlog=4096;
        location = /ws/chat {
            mcp_websocket;
            mcp_backend unix:$SOCK;
            mcp_max_connections 20000;
            mcp_idle_timeout 10m;
        }
        location = /health {
            mcp_status;
        }
    }
}
CONF

/usr/sbin/nginx -p "$RUN/" -c "$RUN/nginx.conf" -e "$RUN/error.log" -g 'daemon off;' &
NGINX_PID=$!
wait_for nginx curl -sf "http://127.0.0.1:$PORT/health"

echo "== edge: hold $CONNS WebSockets, ping on $ACTIVE for ${DURATION}s"
$LOAD -p "$PORT" -n "$CONNS" -a "$ACTIVE" -d "$DURATION" -P "$PROCS" \
      -r "$NGINX_PID" -l edge-hold | tee "$RUN/hold.txt"
sleep 1
echo "== edge: $ACTIVE WebSockets, ping for ${DURATION}s"
$LOAD -p "$PORT" -n "$ACTIVE" -a "$ACTIVE" -d "$DURATION" -P "$PROCS" \
      -r "$NGINX_PID" -l edge | tee "$RUN/edge.txt"
curl -sf "http://127.0.0.1:$PORT/health" > "$RUN/health.json" || true

$PY -m uvicorn --app-dir bench edge_peer:app --host 127.0.0.1 \
    --port "$PEER_PORT" --workers 1 --log-level warning \
    > "$RUN/peer.log" 2>&1 &
PEER_PID=$!
wait_for peer $PY -c "import socket; socket.create_connection(('127.0.0.1', $PEER_PORT), 1)"

echo "== peer (FastAPI/uvicorn, 1 worker): $ACTIVE WebSockets, ping for ${DURATION}s"
$LOAD -p "$PEER_PORT" -n "$ACTIVE" -a "$ACTIVE" -d "$DURATION" -P "$PROCS" \
      -l peer | tee "$RUN/peer.txt"

field() {   # field <file> <line label> <key>
    grep "^label=$2 " "$1" | tr ' ' '\n' | sed -n "s/^$3=//p" | tail -1
}

HELD=$(field "$RUN/hold.txt" edge-hold held)
KIB=$(field "$RUN/hold.txt" edge-hold kib_per_conn)
RTT=$(grep rtt_per_s "$RUN/edge.txt" | tr ' ' '\n' | sed -n 's/^rtt_per_s=//p')
P99=$(grep rtt_per_s "$RUN/edge.txt" | tr ' ' '\n' | sed -n 's/^p99_ms=//p')
PRTT=$(grep rtt_per_s "$RUN/peer.txt" | tr ' ' '\n' | sed -n 's/^rtt_per_s=//p')
PP99=$(grep rtt_per_s "$RUN/peer.txt" | tr ' ' '\n' | sed -n 's/^p99_ms=//p')
RATIO=$($PY -c "print('%.1f' % ($RTT / max($PRTT, 1)))")

echo "BENCH edge connections=$HELD kib_per_conn=$KIB rtt_per_s=$RTT peer_rtt_per_s=$PRTT ratio=$RATIO p99_ms=$P99 peer_p99_ms=$PP99"
