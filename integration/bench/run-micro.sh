#!/usr/bin/env bash
# run-micro.sh - build and run uepoll-microbench, then print the table of
# native vs uepoll (ns/op and ratio uepoll/native).
#
# Usage: integration/bench/run-micro.sh [BINARY] [-- BENCHMARK_FLAGS...]
#
#   BINARY   an already built uepoll-microbench. Without it the script
#            configures and builds BUILD_DIR (RelWithDebInfo) first.
#   BENCHMARK_FLAGS  passed to the binary, e.g.
#            --benchmark_repetitions=5 --benchmark_filter=pingpong
#
# Environment:
#   BUILD_DIR   build directory when no BINARY is given (default: build)
#   JSON_OUT    keep the JSON results at this path (default: a temp file)
#
# Also available as `cmake --build BUILD_DIR --target bench-micro`.
# Benchmarks are measurements, not tests: the exit status is 0 unless the
# build or the binary itself fails.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)

BIN=""
if [[ $# -gt 0 && $1 != -- ]]; then
    BIN=$1
    shift
fi
[[ ${1:-} == -- ]] && shift

if [[ -z $BIN ]]; then
    BUILD_DIR=${BUILD_DIR:-$ROOT/build}
    cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
    cmake --build "$BUILD_DIR" --target uepoll-microbench -j"$(nproc)"
    BIN=$BUILD_DIR/integration/bench/uepoll-microbench
fi
[[ -x $BIN ]] || { echo "run-micro.sh: not an executable: $BIN" >&2; exit 1; }

if [[ -n ${JSON_OUT:-} ]]; then
    JSON=$JSON_OUT
else
    JSON=$(mktemp "${TMPDIR:-/tmp}/uepoll-micro.XXXXXX.json")
    trap 'rm -f "$JSON"' EXIT
fi

"$BIN" --benchmark_out="$JSON" --benchmark_out_format=json "$@"
echo
python3 "$HERE/ratios.py" "$JSON"
