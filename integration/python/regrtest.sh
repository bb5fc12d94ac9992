#!/usr/bin/env bash
# python/regrtest.sh - CPython's own tests (Debian's /usr/bin/python3 with
# libpython3.11-testsuite), natively and then with the shim preloaded, and
# the two outcomes compared test by test.  The scenarios (selectors.sh,
# asyncio.sh) call it with their test names.
#
# Usage: integration/python/regrtest.sh NAME TIMEOUT TEST...
#   NAME     label of the temp dir and messages
#   TIMEOUT  regrtest's --timeout per test file (seconds); a hang fails.
#            The whole run is also bounded, at 3x TIMEOUT per side.
#   TEST...  regrtest test names (test_epoll, test_asyncio.test_events, ...)
# Environment: UEPOLL_LIB (default build/shim/libuepoll.so); PYTHON
# (default /usr/bin/python3: Debian's, not another interpreter on PATH).
#
# Serial (no -j): the two sides run the same way, one after the other, so
# the comparison is of the shim, not of scheduling.  -v is off: junit-xml
# records every test's status and message, parsed by junit_compare.py.
# Output: regrtest's summaries, the differing tests with their output, then
#   result native <outcome>
#   result uepoll <outcome>
# Exit 0 when both sides passed and every test has the same status, else 1.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
NAME=$1 TIMEOUT=$2
shift 2
LIB=${UEPOLL_LIB:-$ROOT/build/shim/libuepoll.so}
PYTHON=${PYTHON:-/usr/bin/python3}
[[ -f $LIB ]] || { echo "python/$NAME: no library at $LIB" >&2; exit 1; }
LIB=$(cd "$(dirname "$LIB")" && pwd)/$(basename "$LIB")

TMP=$(mktemp -d "${TMPDIR:-/tmp}/uepoll-py-$NAME.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

# run_side SIDE PRELOAD: regrtest with its report in TMP/SIDE.xml.  Its
# temp files go under TMP (-> removed); stdout is kept for the summary.
run_side() {
    local side=$1 preload=$2 rc=0 start=$SECONDS
    shift 2
    (cd "$TMP" && LD_PRELOAD=$preload timeout --kill-after=10 $((TIMEOUT * 3)) \
        "$PYTHON" -m test --timeout "$TIMEOUT" --tempdir "$TMP/tmp-$side" \
        --junit-xml "$TMP/$side.xml" "$@" >"$TMP/$side.log" 2>&1) || rc=$?
    echo "$side: regrtest exit $rc in $((SECONDS - start)) s: $(grep -E '^(Tests result|.*tests? OK\.|.*failed)' "$TMP/$side.log" | tr '\n' ' ')"
    if ((rc != 0)); then
        # Why: the summary alone does not say which test hung or failed.
        tail -30 "$TMP/$side.log" | sed "s/^/  $side| /"
    fi
}

run_side native "" "$@"
run_side uepoll "$LIB" "$@"
same=0
"$PYTHON" "$HERE/junit_compare.py" "$TMP/native.xml" "$TMP/uepoll.xml" >"$TMP/cmp" 2>&1 || same=$?
cat "$TMP/cmp"
# Same status test by test, and both sides passed.
((same == 0)) && grep -q '^result native pass' "$TMP/cmp" && grep -q '^result uepoll pass' "$TMP/cmp"
