#!/usr/bin/env bash
# make bench-sse: the CPU of reading a streamed answer, per event, with the
# plain-chunk reader (backend/src/llm/mcp_llm_chunk.h) and, as the peer in
# the same run, every event parsed into a jansson tree as before.  Ends with
#   BENCH sse scan_ns_per_event=X tree_ns_per_event=X speedup=X
# EVENTS (default 200) chunk events per stream; SSE_SECONDS (default 1) per
# round; five alternating rounds each, medians.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "# sse bench: $(nproc) cpus, load $(cut -d' ' -f1-3 /proc/loadavg)"
out=$(build/tools/sse_parse "${EVENTS:-200}" "${SSE_SECONDS:-1}")
echo "$out"
line=$(echo "$out" | grep '^RESULT')
field() { echo "$line" | tr ' ' '\n' | sed -n "s/^$1=//p"; }
echo "BENCH sse scan_ns_per_event=$(field scan_ns_per_event)" \
     "tree_ns_per_event=$(field tree_ns_per_event) speedup=$(field speedup)"
