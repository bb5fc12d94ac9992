#!/usr/bin/env bash
# redis/testsuite.sh - units of Redis's own test suite (from Debian's source
# package, the same version as the installed redis-server) run against
# Debian's redis-server started natively, then under the shim, and the
# results compared test by test.
#
# Usage: integration/redis/testsuite.sh [LIBRARY]
#   LIBRARY  libuepoll.so (default: $UEPOLL_LIB, else build/shim/libuepoll.so)
# Environment:
#   REDIS_SRC   an unpacked redis source tree (default: the cache below,
#               filled with `apt-get source --download-only redis` when
#               empty, which needs deb-src entries in /etc/apt/sources.list.d)
#   UEPOLL_CACHE  where the source is kept (default /var/tmp/uepoll-cache)
#   REDIS_UNITS   the units to run (default: the list below)
#   REDIS_RUNTEST_ARGS  more arguments for runtest (e.g. "--baseport 25111"
#                 for a second run at the same time, with another REDIS_SRC:
#                 the suite's own ports and tests/tmp are fixed per tree)
#   REDIS_ORDER_TESTS=1  run the five order-dependent tests below too
#   KEEP_LOGS=1   keep the suite's logs and the servers' logs (they are kept
#                 anyway when the result is not a pass; the directory is
#                 printed)
#
# The suite runs in its external-server mode (runtest --host --port): the
# server is the one we start, preloaded or not; the suite's tcl client and
# redis-cli are native.  Tests tagged external:skip are skipped by the suite
# itself on both sides.  The default list is the suite's own all_tests list
# (tests/test_helper.tcl) in its order, less five units; each of the 84
# units was run alone in external mode against a native server first
# (2026-12-07): 83 passed, and
#   unit/type/set   stops natively with an exception ("key pid not known in
#                   dictionary": a test looks up the server's pid, which
#                   the suite only knows for servers it started);
#   unit/type/list-2, unit/type/list-3, unit/geo, unit/hyperloglog  pass
#                   natively but are stress and fuzz loops (24, 59, 183 and
#                   68 s natively) left out for time (REDIS_UNITS runs them).
# Of the 79, 45 report no test in external mode (most are tagged
# external:skip: replication, aof, rdb, cluster, acl, maxmemory, ...;
# unit/tls tests only with --tls; unit/printver prints the version): they
# are kept so that the list stays the suite's.
#
# Five tests are skipped on both sides (runtest --skiptest): they send a
# command on one client and, without waiting for it to be processed, one on
# another client that must come second.  Natively the kernel's ready list
# reports the sockets in the order their data arrived; uepoll sees data
# from another process only when it polls, and reports the sockets one
# poll finds ready in its own order (docs/deviations.md, 2), so when both
# commands are in before redis waits, the second runs first: under the
# shim one or more of them failed in 5 of 14 runs, natively none in 17
# (docs/integration.md).  Other tests of the same shape may show up.
ORDER_TESTS=(
    "BRPOPLPUSH does not affect WATCH while still blocked"
    "Blocking XREADGROUP: key deleted"
    "Blocking XREADGROUP: key type changed with SET"
    "Blocking XREAD: key type changed with SET"
    "Blocking XREADGROUP: flushed DB"
)
#
# Output: the tests whose status differs, then
#   result native <outcome>      outcome: pass: N ok, N err, N exception
#   result uepoll <outcome>
# "skip: ..." on both sides when the source cannot be had.  Exit 0 when
# both outcomes pass (no [err], no [exception]) and every test has the same
# status on both sides; 77 when skipped; 1 otherwise.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
# shellcheck source=SCRIPTDIR/../lib/process.sh
source "$ROOT/integration/lib/process.sh"

LIB=${1:-${UEPOLL_LIB:-$ROOT/build/shim/libuepoll.so}}
[[ -f $LIB ]] || { echo "redis/testsuite: no library at $LIB" >&2; exit 1; }
LIB=$(cd "$(dirname "$LIB")" && pwd)/$(basename "$LIB")
DEFAULT_UNITS="
unit/printver unit/dump unit/auth unit/protocol unit/keyspace unit/scan
unit/info unit/info-command unit/type/string unit/type/incr
unit/type/list unit/type/zset unit/type/hash unit/type/stream
unit/type/stream-cgroups unit/sort unit/expire unit/other unit/multi
unit/quit unit/aofrw unit/acl unit/acl-v2 unit/latency-monitor
integration/block-repl integration/replication
integration/replication-2 integration/replication-3
integration/replication-4 integration/replication-psync
integration/replication-buffer integration/shutdown integration/aof
integration/aof-multi-part integration/rdb integration/corrupt-dump
integration/corrupt-dump-fuzzer integration/convert-zipmap-hash-on-load
integration/convert-ziplist-hash-on-load
integration/convert-ziplist-zset-on-load integration/logging
integration/psync2 integration/psync2-reg integration/psync2-pingoff
integration/psync2-master-restart integration/failover
integration/redis-cli integration/redis-benchmark
integration/dismiss-mem unit/pubsub unit/pubsubshard unit/slowlog
unit/scripting unit/functions unit/maxmemory unit/introspection
unit/introspection-2 unit/limits unit/obuf-limits unit/bitops
unit/bitfield unit/memefficiency unit/lazyfree unit/wait unit/pause
unit/querybuf unit/pendingquerybuf unit/tls unit/tracking
unit/oom-score-adj unit/shutdown unit/networking unit/cluster
unit/client-eviction unit/violations unit/replybufsize
unit/cluster-scripting unit/cluster/misc unit/cluster/links
"
UNITS=$(tr -s ' \n' '  ' <<<"${REDIS_UNITS:-$DEFAULT_UNITS}" | sed 's/^ //; s/ $//')

skip() {
    echo "result native skip: $1"
    echo "result uepoll skip: $1"
    exit 77
}

# The source of the installed version (redis-server --version: v=7.0.15).
VERSION=$(redis-server --version | sed -nE 's/.* v=([0-9.]+) .*/\1/p')
CACHE=${UEPOLL_CACHE:-/var/tmp/uepoll-cache}
SRC=${REDIS_SRC:-$CACHE/redis-$VERSION}
if [[ ! -x $SRC/runtest ]]; then
    mkdir -p "$CACHE"
    (cd "$CACHE" && timeout 300 apt-get source -qq --download-only redis >/dev/null 2>&1) ||
        skip "apt-get source redis failed (deb-src entries?)"
    [[ -f $CACHE/redis_$VERSION.orig.tar.gz ]] ||
        skip "no redis_$VERSION.orig.tar.gz from apt-get source (another version?)"
    tar -C "$CACHE" -xzf "$CACHE/redis_$VERSION.orig.tar.gz"
fi
command -v tclsh >/dev/null || skip "no tclsh (apt-get install tcl)"
# The suite looks for its binaries in src/: Debian's, not a build.
for b in redis-server redis-cli redis-benchmark redis-check-aof redis-check-rdb; do
    [[ -x $SRC/src/$b ]] || ln -sf "$(command -v $b || echo /usr/bin/$b)" "$SRC/src/$b"
done

TMP=$(mktemp -d "${TMPDIR:-/tmp}/uepoll-redis-suite.XXXXXX")
SERVER_PID=
KEEP=${KEEP_LOGS:-0}
cleanup() {
    if [[ -n $SERVER_PID ]] && alive "$SERVER_PID"; then
        kill -KILL "$SERVER_PID" 2>/dev/null || true
    fi
    if [[ $KEEP == 1 ]]; then echo "logs: $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT

# run_side SIDE PRELOAD: the suite's per-test lines in TMP/SIDE.tests
# ("STATUS|NAME"), its log in TMP/SIDE.log.
run_side() {
    local side=$1 preload=$2 port rc=0 unit t args=() start=$SECONDS
    port=$(pick_port)
    mkdir -p "$TMP/$side"
    # The suite's tests use DEBUG, CONFIG SET on protected configs and MODULE.
    LD_PRELOAD=$preload redis-server --port "$port" --bind 127.0.0.1 \
        --save '' --appendonly no --dir "$TMP/$side" \
        --logfile "$TMP/$side/redis.log" --daemonize no \
        --enable-debug-command yes --enable-protected-configs yes \
        --enable-module-command yes &
    SERVER_PID=$!
    if ! wait_until 30 port_open "$port"; then
        # Recorded for outcome(); the server is stopped, the suite not run.
        {
            echo -n "server did not listen within 30 s ($(alive "$SERVER_PID" && echo "still running" || echo "exited"), "
            echo -n "$(ls "$TMP/$side/redis.log" >/dev/null 2>&1 && echo "wrote its log" || echo "no log written"))"
        } >"$TMP/$side.nolisten"
        echo "$side: $(cat "$TMP/$side.nolisten")"
        kill -KILL "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
        SERVER_PID=
        : >"$TMP/$side.tests"
        : >"$TMP/$side.log"
        return
    fi
    for unit in $UNITS; do args+=(--single "$unit"); done
    if [[ ${REDIS_ORDER_TESTS:-0} != 1 ]]; then
        for t in "${ORDER_TESTS[@]}"; do args+=(--skiptest "$t"); done
    fi
    # shellcheck disable=SC2206 # words
    args+=(${REDIS_RUNTEST_ARGS:-})
    # --clients 1: one test client, the same order on both sides.
    (cd "$SRC" && timeout --kill-after=10 1800 ./runtest --host 127.0.0.1 --port "$port" \
        --clients 1 --timeout 120 "${args[@]}") >"$TMP/$side.log" 2>&1 || rc=$?
    echo "$side: runtest exit $rc, $((SECONDS - start)) s"
    redis-cli -h 127.0.0.1 -p "$port" shutdown nosave >/dev/null 2>&1 || true
    wait_until 10 eval "! alive $SERVER_PID" || kill -KILL "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=
    # "[ok]: NAME (12 ms)", "[err]: NAME in tests/...", "[exception]: ...",
    # "[skip]: NAME": colour codes and times removed.
    sed 's/\x1b\[[0-9;]*m//g' "$TMP/$side.log" |
        sed -nE 's/^\[(ok|err|exception|skip|ignore)\]: (.*)$/\1|\2/p' |
        sed -E 's/ \([0-9]+ ms\)$//' >"$TMP/$side.tests"
}

# outcome SIDE: pass when the suite reported tests and none failed.
outcome() {
    local ok err exc
    if [[ -f $TMP/$1.nolisten ]]; then
        echo "fail: $(cat "$TMP/$1.nolisten")"
        return
    fi
    ok=$(grep -c '^ok|' "$TMP/$1.tests" || true)
    err=$(grep -c '^err|' "$TMP/$1.tests" || true)
    exc=$(grep -c '^exception|' "$TMP/$1.tests" || true)
    if ((ok > 0 && err == 0 && exc == 0)) && grep -q 'All tests passed' "$TMP/$1.log"; then
        echo "pass: $ok ok, $err err, $exc exception"
    else
        echo "fail: $ok ok, $err err, $exc exception"
    fi
}

START=$SECONDS
run_side native ""
run_side uepoll "$LIB"
NATIVE=$(outcome native)
UEPOLL=$(outcome uepoll)
# Test by test: a name with another status (or only on one side).
if [[ -f $TMP/native.nolisten || -f $TMP/uepoll.nolisten ]]; then
    : # nothing to compare test by test
elif ! diff <(sort "$TMP/native.tests") <(sort "$TMP/uepoll.tests") >"$TMP/diff"; then
    echo "tests that differ (< native, > uepoll):"
    cat "$TMP/diff"
    UEPOLL="fail: differs from native ($UEPOLL)"
fi
for side in native uepoll; do
    grep -qE '^(err|exception)\|' "$TMP/$side.tests" || continue
    echo "$side failures:"
    sed 's/\x1b\[[0-9;]*m//g' "$TMP/$side.log" | grep -A12 -E '^\[(err|exception)\]' | head -60
done
echo "units ($(wc -w <<<"$UNITS")): $UNITS ($((SECONDS - START)) s for both sides)"
[[ $NATIVE == pass* && $NATIVE == "$UEPOLL" ]] || KEEP=1
echo "result native $NATIVE"
echo "result uepoll $UEPOLL"
[[ $NATIVE == pass* && $NATIVE == "$UEPOLL" ]]
