#!/usr/bin/env bash
# run-scenarios.sh - every program scenario, natively and under the shim,
# and one table: scenario | native result | uepoll result | match | time.
#
# Usage: integration/run-scenarios.sh [LIBRARY] [SCENARIO...]
#   LIBRARY   libuepoll.so (default: $UEPOLL_LIB, else build/shim/libuepoll.so)
#   SCENARIO  names from the list below (default: all of them)
#
# Each scenario is a script that runs alone (see its header), runs its
# program natively then with LIBRARY preloaded, and ends with the lines
#   result native <outcome>
#   result uepoll <outcome>
# A row matches when both outcomes are the same and say "pass"; a scenario
# that prints no result line (it crashed, or was killed at its time bound)
# does not match.  One that could not run at all (exit 77, "skip: reason"
# on both sides, e.g. no Redis source) shows "skipped" and does not fail
# the run: the table says so.  Each scenario's full output is in the log directory
# printed at the end (kept only when a row does not match, or KEEP_LOGS=1).
#
# Exit status: 0 every row matches, 1 otherwise.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)

# name | script | bound in seconds for the whole scenario (both sides).
SCENARIOS=(
    "python-selectors|python/selectors.sh|300"
    "python-asyncio|python/asyncio.sh|1900"
    "redis-benchmark|redis/benchmark.sh|700"
    "redis-testsuite|redis/testsuite.sh|3700"
    "node-transcript|node/transcript.sh|300"
    "node-testsuite|node/testsuite.sh|2400"
    "nginx-static|nginx/static.sh|600"
    "nginx-workers|nginx/workers.sh|900"
    "nginx-proxy|nginx/proxy.sh|900"
    "nginx-aio|nginx/aio.sh|600"
    "nginx-clients|nginx/clients.sh|900"
    "nginx-lifecycle|nginx/lifecycle.sh|900"
    "nginx-idle|nginx/idle.sh|600"
    "nginx-million|nginx/million.sh|2400"
)

LIB=${UEPOLL_LIB:-$ROOT/build/shim/libuepoll.so}
if [[ ${1:-} == *.so* || -f ${1:-} ]]; then
    LIB=$1
    shift
fi
[[ -f $LIB ]] || { echo "run-scenarios: no library at $LIB (build it: cmake --build build --target uepoll)" >&2; exit 1; }
LIB=$(cd "$(dirname "$LIB")" && pwd)/$(basename "$LIB")
export UEPOLL_LIB=$LIB

WANTED=("$@")
wanted() {
    ((${#WANTED[@]} == 0)) && return 0
    local w
    for w in "${WANTED[@]}"; do [[ $w == "$1" ]] && return 0; done
    return 1
}
for w in "${WANTED[@]}"; do
    grep -q "^$w|" < <(printf '%s\n' "${SCENARIOS[@]}") ||
        { echo "run-scenarios: unknown scenario $w" >&2; exit 1; }
done

LOGS=$(mktemp -d "${TMPDIR:-/tmp}/uepoll-scenarios.XXXXXX")
ROWS=()
ALL_MATCH=1
for entry in "${SCENARIOS[@]}"; do
    IFS='|' read -r name script bound <<<"$entry"
    wanted "$name" || continue
    log="$LOGS/$name.log"
    start=$SECONDS
    rc=0
    # setsid + timeout: a scenario stuck past its bound is killed with its
    # whole process group (servers included); its trap removes its temp dir.
    timeout --kill-after=15 "$bound" setsid "$HERE/$script" "$LIB" >"$log" 2>&1 || rc=$?
    took=$((SECONDS - start))
    native=$(sed -n 's/^result native //p' "$log" | tail -1)
    uepoll=$(sed -n 's/^result uepoll //p' "$log" | tail -1)
    [[ -n $native ]] || native="fail: no result (exit $rc)"
    [[ -n $uepoll ]] || uepoll="fail: no result (exit $rc)"
    if [[ $native == pass* && $native == "$uepoll" && $rc == 0 ]]; then
        match=yes
    elif [[ $native == skip* && $uepoll == skip* && $rc == 77 ]]; then
        # Could not run (the reason is in the row): shown, not a match.
        match=skipped
    else
        match=NO
        ALL_MATCH=0
    fi
    ROWS+=("$name|$native|$uepoll|$match|${took}s")
    printf '[run-scenarios] %s: %s in %ss\n' "$name" "$match" "$took"
done

printf '\n| %s | %s | %s | %s | %s |\n' scenario "native result" "uepoll result" match time
printf '|---|---|---|---|---|\n'
for row in "${ROWS[@]}"; do
    IFS='|' read -r name native uepoll match took <<<"$row"
    printf '| %s | %s | %s | %s | %s |\n' "$name" "$native" "$uepoll" "$match" "$took"
done
printf '\n(%s, %s, load %s)\n' "$(date -u '+%Y-%m-%d %H:%M UTC')" "$(uname -r)" "$(cut -d' ' -f1-3 /proc/loadavg)"

if ((ALL_MATCH)) && [[ ${KEEP_LOGS:-0} != 1 ]]; then
    rm -rf "$LOGS"
else
    echo "logs: $LOGS"
fi
((ALL_MATCH))
