#!/usr/bin/env bash
# make bench-store-cold: what a long conversation's first append after a
# start costs the other conversations (docs/storage.md, "Warming on a
# reader"; results in docs/benchmarks.md).
#
# store_cold fills 16 conversations of 20,000 messages each (320,000 rows),
# reopens the repository, sends one append to a conversation whose request
# set must be read, and measures 4 callers appending to another
# conversation until it is stored.  The peer in the same run: the same
# chain walked by one connection, as the writer did it in front of every
# other write before warming.  Twice: the file in the page cache (a
# restart of mcpd) and, as root, read from the disk again (a reboot).
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=build/tools/store_cold
mkdir -p build
DIR=$(mktemp -d build/store-cold.XXXXXX)
trap 'rm -rf "$DIR"' EXIT

echo "# store cold start: $(nproc) cpus, load $(cut -d' ' -f1-3 /proc/loadavg)"
modes=(kept)
if [ "$(id -u)" = 0 ]; then
    modes+=(dropped)
fi
last=
for m in "${modes[@]}"; do
    rm -f "$DIR"/c.db*
    args=(--db "$DIR/c.db")
    [ "$m" = dropped ] && args+=(--drop-caches)
    line=$("$BIN" "${args[@]}")
    echo "$line"
    last=$line
done
echo "BENCH store_cold ${last#RESULT }"
