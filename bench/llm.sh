#!/usr/bin/env bash
# make bench-llm: the latency the provider layer adds and its requests/s,
# against the C mock (build/tools/llm_mock), next to a bare HTTP client
# calling the mock directly and to the Portkey gateway (npm
# @portkey-ai/gateway) in front of the same mock, all in this run.
#
#   mock alone    bare keep-alive client -> mock            (the ceiling)
#   direct        bare client -> mock, one at a time        (the baseline)
#   layer         provider layer (as mcpd uses it) -> mock
#   portkey       bare client -> Portkey -> mock
#
# added = layer - direct.  Non-streaming requests for the three-way
# comparison (Portkey 1.15.2 under Node 20 fails every streamed request with
# "TypeError: immutable" in updateHeaders); streamed numbers for the layer
# are printed too.  Sizes: N_LAT, N_RPS, C, PK_LAT, PK_RPS.
set -euo pipefail
cd "$(dirname "$0")/.."

N_LAT=${N_LAT:-3000}
N_RPS=${N_RPS:-20000}
C=${C:-32}
PK_LAT=${PK_LAT:-300}
PK_RPS=${PK_RPS:-2000}
BENCH=build/tools/llm_bench
MOCK=build/tools/llm_mock
if [ -z "${GATEWAY:-}" ]; then
    GATEWAY=t/node_modules/@portkey-ai/gateway/build/start-server.js
    [ -e t/node_modules/.bin/gateway ] && GATEWAY=$(readlink -f t/node_modules/.bin/gateway)
fi
[ -e "$GATEWAY" ] || { echo "llm bench: Portkey gateway not found at $GATEWAY (make npm-deps)" >&2; exit 1; }

tmp=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    rm -rf "$tmp"
}
trap cleanup EXIT

"$MOCK" --no-log > "$tmp/mock.out" 2> "$tmp/mock.err" &
pids+=($!)
for _ in $(seq 1 100); do grep -q PORT "$tmp/mock.out" 2>/dev/null && break; sleep 0.1; done
MPORT=$(awk '/PORT/ {print $2}' "$tmp/mock.out")

PKPORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
NODE_ENV=production node "$GATEWAY" --port="$PKPORT" --headless > "$tmp/portkey.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 120); do
    curl -s -o /dev/null "http://127.0.0.1:$PKPORT/" && break
    sleep 0.5
done
PK=("x-portkey-provider: openai" "x-portkey-custom-host: http://127.0.0.1:$MPORT/v1")

cat > "$tmp/mcpd.yaml" <<YAML
logging: { level: warn }
llm:
  active: bench
  providers:
    bench:
      base_url: http://127.0.0.1:$MPORT/v1
      model: mock-text
      api_key_env: ""
      http_client:
        http2: false
        max_connections: 64
        max_keepalive: 64
        concurrent_requests: 64
YAML

run() { "$BENCH" "$@" | tee -a "$tmp/results.jsonl"; }
label() { echo "# $1" | tee -a "$tmp/results.jsonl"; }

echo "== warm-up"
"$BENCH" raw "$MPORT" 500 4 json > /dev/null
"$BENCH" layer "$tmp/mcpd.yaml" 500 4 json > /dev/null
"$BENCH" raw "$PKPORT" 100 4 json "${PK[@]}" > /dev/null

echo "== measurements (load average: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores)"
label mock_alone;      run raw "$MPORT" "$N_RPS" "$C" json
label direct;          run raw "$MPORT" "$N_LAT" 1 json
label layer;           run layer "$tmp/mcpd.yaml" "$N_LAT" 1 json
label layer_rps;       run layer "$tmp/mcpd.yaml" "$N_RPS" "$C" json
label portkey;         run raw "$PKPORT" "$PK_LAT" 1 json "${PK[@]}"
label portkey_rps;     run raw "$PKPORT" "$PK_RPS" "$C" json "${PK[@]}"
label direct_stream;   run raw "$MPORT" "$N_LAT" 1 stream
label layer_stream;    run layer "$tmp/mcpd.yaml" "$N_LAT" 1 stream
label layer_stream_rps; run layer "$tmp/mcpd.yaml" "$N_RPS" "$C" stream

python3 - "$tmp/results.jsonl" <<'PY'
import json, sys
res, name = {}, None
for line in open(sys.argv[1]):
    if line.startswith("# "):
        name = line[2:].strip()
    elif line.strip():
        res[name] = json.loads(line)
for k, v in res.items():
    if v["errors"]:
        sys.exit("llm bench: %s had %d errors" % (k, v["errors"]))
d, l, p = res["direct"], res["layer"], res["portkey"]
ds, ls = res["direct_stream"], res["layer_stream"]
print()
print("%-28s %10s %10s %10s" % ("", "p50 ms", "p99 ms", "req/s"))
rows = [("mock alone (C=%d)" % res["mock_alone"]["c"], res["mock_alone"]),
        ("direct (C=1)", d), ("layer (C=1)", l),
        ("layer (C=%d)" % res["layer_rps"]["c"], res["layer_rps"]),
        ("portkey (C=1)", p),
        ("portkey (C=%d)" % res["portkey_rps"]["c"], res["portkey_rps"]),
        ("direct, streamed (C=1)", ds), ("layer, streamed (C=1)", ls),
        ("layer, streamed (C=%d)" % res["layer_stream_rps"]["c"],
         res["layer_stream_rps"])]
for n, r in rows:
    print("%-28s %10.3f %10.3f %10.0f" % (n, r["p50_ms"], r["p99_ms"], r["rps"]))
added50 = l["p50_ms"] - d["p50_ms"]
added99 = l["p99_ms"] - d["p99_ms"]
pk50 = p["p50_ms"] - d["p50_ms"]
rps, pk_rps = res["layer_rps"]["rps"], res["portkey_rps"]["rps"]
mock = res["mock_alone"]["rps"]
print()
print("added p50: layer %.3f ms, portkey %.3f ms; streamed layer %.3f ms"
      % (added50, pk50, ls["p50_ms"] - ds["p50_ms"]))
print("mock alone is %.1fx the layer's and %.1fx Portkey's requests/s"
      % (mock / rps, mock / pk_rps))
print("BENCH llm added_p50_ms=%.3f added_p99_ms=%.3f rps=%.0f portkey_rps=%.0f "
      "ratio=%.1f" % (added50, added99, rps, pk_rps, rps / pk_rps))
PY
