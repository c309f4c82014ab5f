#!/bin/bash
# Run libFuzzer targets for a while each, JOBS of them at a time.
#
#   backend/fuzz/run.sh SECONDS JOBS BUILD_FUZZ_DIR TARGET...
#
# Each target starts from its seed corpus (backend/fuzz/corpus/<name>/ or
# ngx_mcp_module/fuzz/corpus/<name>/) and its dictionary (<name>.dict) if
# it has one, and adds what it finds to BUILD_FUZZ_DIR/corpus-<name>.  Its
# whole output goes to BUILD_FUZZ_DIR/<name>.log; the end of every log is
# shown in the targets' order once all ran.  A target that fails (a crash,
# a leak, a timeout) fails the run, after every target ran.
set -u

seconds=$1 jobs=$2 dir=$3
shift 3

run_one() {
    local seconds=$1 dir=$2 bin=$3 name seeds dict
    name=$(basename "$bin")
    mkdir -p "$dir/corpus-$name"
    seeds=$(ls -d "backend/fuzz/corpus/$name" \
                  "ngx_mcp_module/fuzz/corpus/$name" 2>/dev/null)
    dict=$(ls "backend/fuzz/$name.dict" "ngx_mcp_module/fuzz/$name.dict" \
              2>/dev/null | sed 's/^/-dict=/')
    # shellcheck disable=SC2086  # seeds and dict are lists of words
    "$bin" -max_total_time="$seconds" -print_final_stats=1 -timeout=10 \
        $dict "$dir/corpus-$name" $seeds > "$dir/$name.log" 2>&1
    echo $? > "$dir/$name.status"
}
export -f run_one

echo "== fuzz $# targets for ${seconds}s each, $jobs at a time"
rm -f "$dir"/*.status
printf '%s\n' "$@" | xargs -P "$jobs" -I{} bash -c 'run_one "$@"' _ \
    "$seconds" "$dir" {}

failed=0
for bin in "$@"; do
    name=$(basename "$bin")
    echo "== fuzz $name"
    tail -n 12 "$dir/$name.log"
    if [ "$(cat "$dir/$name.status" 2>/dev/null)" != 0 ]; then
        echo "FAILED: fuzz $name (all of it: $dir/$name.log)"
        failed=1
    fi
done
exit $failed
