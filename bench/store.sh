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
#   pool/raw  the BENCH line's appends_per_s and raw_limit_per_s are the
#             medians of five runs each (pool-64-N, raw-N), alternating
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
# the two figures of the pool/raw ratio, five times each, alternating: the
# same 3 s of CPU inserts 250k-385k rows in one big transaction from one run
# to the next here, on ext4 and tmpfs alike, while the pool holds steady
# (docs/benchmarks.md, session 12), so each side is the median, and each
# pair's own ratio is printed too
PAIRS=5
for i in $(seq $PAIRS); do
    run "pool-64-$i" --mode pool --callers 64 --readers 4 --sync normal
    run "raw-$i" --mode raw
done
run raw-64 --mode raw --batch 64
run raw-rows --mode raw-rows

busy=0
for k in "${!R[@]}"; do
    busy=$((busy + $(field "$k" busy_errors)))
done

median() {  # key prefix, field: the median of the PAIRS runs
    local i
    for i in $(seq $PAIRS); do field "$1-$i" "$2"; done | sort -g \
        | sed -n "$(( (PAIRS + 1) / 2 ))p"
}

pair_ratios() {  # each pair's pool/raw, in run order
    local i
    for i in $(seq $PAIRS); do
        awk -v a="$(field "pool-64-$i" appends_per_s)" \
            -v b="$(field "raw-$i" appends_per_s)" \
            'BEGIN { printf "%.2f ", b ? a / b : 0 }'
    done
}

pool=$(median pool-64 appends_per_s)
base=$(field base-normal-64 appends_per_s)
raw=$(median raw appends_per_s)
fpool=$(field pool-full-64 appends_per_s)
fbase=$(field base-full-64 appends_per_s)
ratio=$(awk -v a="$pool" -v b="$base" 'BEGIN { printf "%.2f", b ? a / b : 0 }')
fratio=$(awk -v a="$fpool" -v b="$fbase" 'BEGIN { printf "%.2f", b ? a / b : 0 }')
of_raw=$(awk -v a="$pool" -v b="$raw" 'BEGIN { printf "%.2f", b ? a / b : 0 }')
echo "# pool/raw at 64 callers: $of_raw (medians); each pair: $(pair_ratios)"
echo "# load at the end $(cut -d' ' -f1-3 /proc/loadavg)"
echo "BENCH store appends_per_s=$pool baseline_per_s=$base ratio=$ratio" \
     "raw_limit_per_s=$raw full_ratio=$fratio busy_errors=$busy" \
     "read_p99_ms=$(median pool-64 read_p99_ms)"
