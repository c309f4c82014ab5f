#!/bin/bash
# make bench-chat: chat turns/s and time to first chunk at 1,000 concurrent
# conversations through nginx + module + mcpd with the LLM mock answering
# instantly and persistence on (then off, for comparison).  Ends with
#   BENCH chat turns_per_s=X ttfc_p50_ms=X ttfc_p99_ms=X overhead_p99_ms=X
# Saturation phase (closed loop) for turns/s, then a paced phase (open loop at
# PACE x that maximum) for latencies; see docs/benchmarks.md.
# CONNS, BENCH_SECONDS and PACE override the defaults (1000, 10, 0.5); RATE
# (turns/s) fixes the paced phase's rate instead, to compare runs; WORDS
# makes the mock's answer that many words (one chunk each) instead of four;
# WRITER_AFFINITY=loop runs mcpd with that placement (docs/storage.md).
set -euo pipefail
cd "$(dirname "$0")/.."
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
exec /usr/bin/python3 bench/chat_bench.py --conns "${CONNS:-1000}" \
    --seconds "${BENCH_SECONDS:-10}" --pace "${PACE:-0.5}" \
    --rate "${RATE:-0}" --words "${WORDS:-0}" \
    --writer-affinity "${WRITER_AFFINITY:-none}"
