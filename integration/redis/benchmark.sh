#!/usr/bin/env bash
# redis/benchmark.sh - Debian's redis-server natively, then under the shim,
# driven by redis-benchmark's default tests with pipelining off and on.
#
# Usage: integration/redis/benchmark.sh [LIBRARY]
#   LIBRARY  libuepoll.so (default: $UEPOLL_LIB, else build/shim/libuepoll.so)
#
# Each side: start redis-server on 127.0.0.1 (free port, no persistence,
# its own temp dir), run `redis-benchmark -q` with -P 1 and -P 16 for
# REDIS_REQUESTS requests per test, check that every default test reported
# requests per second and that nothing reported an error, that the server is
# still alive, and (under the shim) that it maps LIBRARY and holds no
# anon_inode:[eventpoll]; then SHUTDOWN NOSAVE, bounded.  Only the server is
# preloaded: redis-benchmark is the native client both times.
#
# Output: the requests/s of each test on both sides, then
#   result native <outcome>
#   result uepoll <outcome>
# Exit 0 when both outcomes are "pass ..." and equal, 1 otherwise.
#
# Environment: REDIS_REQUESTS (default 10000), KEEP_TMP=1 keeps the temp dir.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
# shellcheck source=SCRIPTDIR/../lib/process.sh
source "$ROOT/integration/lib/process.sh"

LIB=${1:-${UEPOLL_LIB:-$ROOT/build/shim/libuepoll.so}}
REQUESTS=${REDIS_REQUESTS:-10000}
[[ -f $LIB ]] || { echo "redis/benchmark: no library at $LIB" >&2; exit 1; }
LIB=$(cd "$(dirname "$LIB")" && pwd)/$(basename "$LIB")

TMP=$(mktemp -d "${TMPDIR:-/tmp}/uepoll-redis.XXXXXX")
SERVER_PID=
cleanup() {
    # A server still running (a failed check) is killed: nothing outlives us.
    if [[ -n $SERVER_PID ]] && alive "$SERVER_PID"; then
        kill -KILL "$SERVER_PID" 2>/dev/null || true
    fi
    [[ ${KEEP_TMP:-0} == 1 ]] || rm -rf "$TMP"
}
trap cleanup EXIT

# run_side SIDE PRELOAD: one side; sets OUTCOME.
run_side() {
    local side=$1 preload=$2 port problems=() p out tests
    port=$(pick_port)
    mkdir -p "$TMP/$side"
    # save "" and appendonly no: no persistence, nothing written but the log.
    LD_PRELOAD=$preload redis-server --port "$port" --bind 127.0.0.1 \
        --save '' --appendonly no --dir "$TMP/$side" \
        --logfile "$TMP/$side/redis.log" --daemonize no &
    SERVER_PID=$!
    if ! wait_until 10 port_open "$port"; then
        OUTCOME="fail: server did not listen"
        tail -5 "$TMP/$side/redis.log" >&2 || true
        return
    fi
    if [[ $side == uepoll ]]; then
        grep -q "$LIB" "/proc/$SERVER_PID/maps" || problems+=("library not mapped")
        if find "/proc/$SERVER_PID/fd" -type l -printf '%l\n' | grep -q 'eventpoll'; then
            problems+=("holds an anon_inode:[eventpoll]")
        fi
    else
        find "/proc/$SERVER_PID/fd" -type l -printf '%l\n' | grep -q 'eventpoll' ||
            problems+=("natively no anon_inode:[eventpoll]")
    fi
    for p in 1 16; do
        out="$TMP/$side/bench-P$p.txt"
        # -q: one line per test, "NAME: N requests per second, p50=...".
        if ! timeout 300 redis-benchmark -h 127.0.0.1 -p "$port" -n "$REQUESTS" \
            -P "$p" -q >"$out" 2>&1; then
            problems+=("redis-benchmark -P $p exited non-zero")
        fi
        # The progress lines end in \r; keep only the final per-test lines.
        tr '\r' '\n' <"$out" | grep 'requests per second' |
            sed -E 's/^([^:]+): ([0-9.]+) requests per second.*/\1|\2/' \
            >"$TMP/$side/rps-P$p.txt" || true
        tests=$(wc -l <"$TMP/$side/rps-P$p.txt")
        # Debian's 7.0.15 redis-benchmark runs 20 default tests (counted here).
        ((tests == 20)) || problems+=("-P $p: $tests tests reported, expected 20")
        if tr '\r' '\n' <"$out" | grep -qiE 'error|refused|reset'; then
            problems+=("-P $p: $(tr '\r' '\n' <"$out" | grep -iE -m1 'error|refused|reset')")
        fi
    done
    alive "$SERVER_PID" || problems+=("server died")
    redis-cli -h 127.0.0.1 -p "$port" shutdown nosave >/dev/null 2>&1 || true
    wait_until 10 eval "! alive $SERVER_PID" || problems+=("server did not stop")
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=
    # The overcommit WARNING is the host's setting, printed on both sides.
    if grep -v 'WARNING Memory overcommit' "$TMP/$side/redis.log" |
        grep -qiE 'error|fatal|crash|assert'; then
        problems+=("error in redis.log")
    fi
    if ((${#problems[@]})); then
        OUTCOME="fail: $(IFS=';'; echo "${problems[*]}")"
    else
        OUTCOME="pass: 2x20 default tests, 0 errors"
    fi
}

echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
run_side native ""
NATIVE=$OUTCOME
run_side uepoll "$LIB"
UEPOLL=$OUTCOME
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"

# The table: requests/s per test, both sides, and the ratio.
for p in 1 16; do
    echo "-P $p, $REQUESTS requests per test (requests/s):"
    printf '  %-34s %12s %12s %7s\n' test native uepoll ratio
    join -t'|' <(sort -t'|' -k1,1 "$TMP/native/rps-P$p.txt" 2>/dev/null) \
        <(sort -t'|' -k1,1 "$TMP/uepoll/rps-P$p.txt" 2>/dev/null) |
        awk -F'|' '{ printf "  %-34s %12.0f %12.0f %7.2f\n", $1, $2, $3, ($2 > 0 ? $3 / $2 : 0) }'
done
echo "result native $NATIVE"
echo "result uepoll $UEPOLL"
[[ $NATIVE == pass* && $NATIVE == "$UEPOLL" ]]
