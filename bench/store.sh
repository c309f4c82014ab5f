#!/usr/bin/env bash
# make bench-store: append throughput and read latency of the conversation
# store (docs/benchmarks.md, "Conversation store").
#
# Every run gets a fresh database under build/ (the file system the
# repository would use), 64 conversations, ~300-byte messages with request
# ids, 4 readers reading the newest 50 messages with a 2 ms pause.
#   baseline  enable_pooling: false: one connection, a transaction per append
#   pool      the default pools: readers + writers with group commit
#   raw       one connection, no threads: the repository's own append for the
#             same rows (the same 64 conversations), one big transaction
#   pair      the pool at 64 callers and raw in 250 ms slices that take
#             turns in one process (24 of each): this host changes speed
#             every 0.1-1 s, and slices see the same phases where whole runs
#             one after the other do not.  Three runs with the default
#             placement (pair-none-N), three with writer_affinity: loop
#             (pair-loop-N), alternating.  The BENCH line's appends_per_s
#             and raw_limit_per_s come from the pair-loop run whose pool/raw
#             is the median; the line before it prints every run's
#   raw-64    the same, a commit every 64 rows (group commit without the
#             hand-off; checkpoints inline), for reference
#   raw-rows  the same rows without request ids (no idempotency entry), for
#             reference
# STORE_BENCH_SECONDS (default 3) per run.
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=build/tools/store_bench
SECS=${STORE_BENCH_SECONDS:-3}
mkdir -p build
DIR=$(mktemp -d build/store-bench.XXXXXX)
trap 'rm -rf "$DIR"' EXIT

declare -A R

run() {     # key, then store_bench arguments
    local key=$1 line
    shift
    rm -f "$DIR/$key.db"*
    line=$("$BIN" --db "$DIR/$key.db" --seconds "$SECS" "$@")
    R[$key]=$line
    printf '%-14s %s\n' "$key" "${line#RESULT }"
}

field() {   # key, field name
    local f
    for f in ${R[$1]}; do
        case $f in "$2="*) echo "${f#*=}"; return ;; esac
    done
    echo 0
}

echo "# store bench: $(nproc) cpus, load $(cut -d' ' -f1-3 /proc/loadavg)," \
     "sqlite $(sqlite3 --version | cut -d' ' -f1), $SECS s per run"
for sync in normal full; do
    for c in 1 16 64; do
        run "base-$sync-$c" --mode baseline --callers "$c" --readers 4 --sync "$sync"
        run "pool-$sync-$c" --mode pool --callers "$c" --readers 4 --sync "$sync"
    done
done
# pool/raw: see "pair" above
RUNS=3
for i in $(seq $RUNS); do
    run "pair-none-$i" --mode pair --callers 64 --readers 4
    run "pair-loop-$i" --mode pair --callers 64 --readers 4 --writer-affinity loop
done
run raw-64 --mode raw --batch 64
run raw-rows --mode raw-rows

busy=0
for k in "${!R[@]}"; do
    busy=$((busy + $(field "$k" busy_errors)))
done

ratios() {  # placement: each run's pool/raw
    local i
    for i in $(seq $RUNS); do printf '%s ' "$(field "pair-$1-$i" pool_raw)"; done
}

median_run() {  # placement: the key of the run with the median pool/raw
    local i
    for i in $(seq $RUNS); do
        echo "$(field "pair-$1-$i" pool_raw) pair-$1-$i"
    done | sort -g | sed -n "$(( (RUNS + 1) / 2 ))p" | cut -d' ' -f2
}

mid=$(median_run loop)
pool=$(field "$mid" appends_per_s)
base=$(field base-normal-64 appends_per_s)
raw=$(field "$mid" raw_per_s)
fpool=$(field pool-full-64 appends_per_s)
fbase=$(field base-full-64 appends_per_s)
ratio=$(awk -v a="$pool" -v b="$base" 'BEGIN { printf "%.2f", b ? a / b : 0 }')
fratio=$(awk -v a="$fpool" -v b="$fbase" 'BEGIN { printf "%.2f", b ? a / b : 0 }')
of_raw=$(awk -v a="$pool" -v b="$raw" 'BEGIN { printf "%.2f", b ? a / b : 0 }')
echo "# pool/raw at 64 callers, writer_affinity none: $(ratios none)"
echo "# pool/raw at 64 callers, writer_affinity loop: $(ratios loop)(BENCH: $mid, $of_raw)"
echo "# load at the end $(cut -d' ' -f1-3 /proc/loadavg)"
echo "BENCH store appends_per_s=$pool baseline_per_s=$base ratio=$ratio" \
     "raw_limit_per_s=$raw full_ratio=$fratio busy_errors=$busy" \
     "read_p99_ms=$(field "$mid" read_p99_ms)"
