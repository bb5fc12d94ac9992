#!/usr/bin/env bash
# compare.sh - run one program natively and under libuepoll.so, compare.
#
# Usage: compare.sh --lib LIBUEPOLL [options] -- PROGRAM [ARGS...]
#
# Runs PROGRAM twice, each with a time bound:
#   native: LD_PRELOAD removed from the environment;
#   uepoll: LD_PRELOAD=LIBUEPOLL.
# and checks, by default, that
#   - both exit with the same status, and natively with 0 (a program that
#     fails on the kernel's epoll is a broken test, not a uepoll bug);
#   - the two stdout transcripts are byte-identical;
#   - each run said on stderr which epoll it ran on ("shimtest:
#     backend=native" / "shimtest: backend=uepoll"), so a preload that did
#     not take cannot pass as a success;
#   - the uepoll run logged nothing ("uepoll[pid]: ..." lines: the library
#     is quiet unless something goes wrong).
#
# Options:
#   --expect-native FILE  the native stdout must equal FILE
#   --expect-uepoll FILE  the uepoll stdout must equal FILE, and is NOT
#                         compared with the native one (for a documented
#                         difference, or a direct assertion)
#   --also-preload LIBS   preload LIBS on both sides, before LIBUEPOLL
#                         (another malloc: jemalloc's start-up calls
#                         syscall(SYS_close) under its own lock)
#   --timeout SECONDS     bound of each run (default 25)
#   --keep DIR            write the outputs into DIR (default: a temp dir,
#                         removed)
#
# Exit status: 0 all checks passed, 1 a check failed, 2 usage error.
set -euo pipefail

PROG=${0##*/}
LIB=""
EXPECT_NATIVE=""
EXPECT_UEPOLL=""
BOUND=25
ALSO=""
KEEP=""

usage() {
    sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"
}

while [[ $# -gt 0 ]]; do
    case "$1" in
        --lib) LIB=$2; shift ;;
        --expect-native) EXPECT_NATIVE=$2; shift ;;
        --expect-uepoll) EXPECT_UEPOLL=$2; shift ;;
        --timeout) BOUND=$2; shift ;;
        --also-preload) ALSO=$2; shift ;;
        --keep) KEEP=$2; shift ;;
        -h | --help) usage; exit 0 ;;
        --) shift; break ;;
        *) echo "$PROG: unknown option '$1'" >&2; exit 2 ;;
    esac
    shift
done
[[ $# -gt 0 ]] || { usage >&2; exit 2; }
[[ -n $LIB ]] || { echo "$PROG: --lib is required" >&2; exit 2; }
if [[ ! -f $LIB ]]; then
    echo "$PROG: FAIL: library not found: $LIB (build the 'uepoll' target)" >&2
    exit 1
fi
if ! command -v "$1" >/dev/null 2>&1; then
    echo "$PROG: FAIL: program not found: $1" >&2
    exit 1
fi

if [[ -n $KEEP ]]; then
    OUT=$KEEP
    mkdir -p "$OUT"
else
    OUT=$(mktemp -d "${TMPDIR:-/tmp}/uepoll-shimtest.XXXXXX")
    trap 'rm -rf "$OUT"' EXIT
fi

FAILED=0
fail() {
    echo "$PROG: FAIL: $*" >&2
    FAILED=1
}

# run NAME ENV...: runs the program with the given environment changes,
# stdout in $OUT/NAME.out, stderr in $OUT/NAME.err, status in RC[NAME].
declare -A RC
run() {
    local name=$1 rc=0
    shift
    env "$@" timeout --kill-after=5 "$BOUND" "${CMD[@]}" \
        >"$OUT/$name.out" 2>"$OUT/$name.err" </dev/null || rc=$?
    RC[$name]=$rc
    if ((rc == 124 || rc == 137)); then
        fail "$name run did not finish within ${BOUND}s (status $rc)"
    elif ((rc > 128)); then
        fail "$name run was killed by signal $((rc - 128))"
    fi
}

show() {
    # show NAME: stdout and stderr of one run, for the log.
    echo "---- $1 stdout (status ${RC[$1]})"
    cat "$OUT/$1.out"
    echo "---- $1 stderr (repeated lines counted)"
    uniq -c "$OUT/$1.err" | sed -E 's/^ *1 //; s/^ *([0-9]+) (.*)$/\2   [x\1]/'
}

CMD=("$@")
echo "$PROG: ${CMD[*]}"
if [[ -n ${ALSO:-} ]]; then
    run native LD_PRELOAD="$ALSO"
    run uepoll LD_PRELOAD="$ALSO $LIB"
else
    run native -u LD_PRELOAD
    run uepoll LD_PRELOAD="$LIB"
fi

# The preload took (or did not) as intended.
grep -qx 'shimtest: backend=native' "$OUT/native.err" ||
    fail "native run: no 'shimtest: backend=native' line on stderr"
grep -qx 'shimtest: backend=uepoll' "$OUT/uepoll.err" ||
    fail "uepoll run: no 'shimtest: backend=uepoll' line on stderr (was libuepoll.so loaded?)"
if grep -q 'shimtest: backend=native' "$OUT/uepoll.err"; then
    fail "uepoll run: a process of the run did not load libuepoll.so"
fi
# Under the shim, no process of the run ever held a kernel epoll fd at exit
# (programs report it from an atexit hook when they can).
if grep -E 'shimtest: eventpoll fds at exit = [1-9]' "$OUT/uepoll.err" >&2; then
    fail "uepoll run: a process held an anon_inode:[eventpoll] fd"
fi
if grep -E '^uepoll\[[0-9]+\]: ' "$OUT/uepoll.err" >"$OUT/uepoll.log"; then
    fail "uepoll run: the library logged:"
    sed 's/^/    /' "$OUT/uepoll.log" >&2
fi

if ((RC[native] != 0)); then
    fail "native run exited with status ${RC[native]} (the test itself is broken or the kernel differs)"
fi
if ((RC[native] != RC[uepoll])); then
    fail "exit status differs: native ${RC[native]}, uepoll ${RC[uepoll]}"
fi

if [[ -n $EXPECT_NATIVE ]]; then
    if ! diff -u --label "expected (native)" --label "native" "$EXPECT_NATIVE" "$OUT/native.out" >"$OUT/native.diff"; then
        fail "native transcript differs from $EXPECT_NATIVE:"
        cat "$OUT/native.diff" >&2
    fi
fi
if [[ -n $EXPECT_UEPOLL ]]; then
    if ! diff -u --label "expected (uepoll)" --label "uepoll" "$EXPECT_UEPOLL" "$OUT/uepoll.out" >"$OUT/uepoll.diff"; then
        fail "uepoll transcript differs from $EXPECT_UEPOLL:"
        cat "$OUT/uepoll.diff" >&2
    fi
elif ! diff -u --label native --label uepoll "$OUT/native.out" "$OUT/uepoll.out" >"$OUT/diff"; then
    fail "transcripts differ (- native, + uepoll):"
    cat "$OUT/diff" >&2
fi

if ((FAILED)); then
    { show native; show uepoll; } >&2
    exit 1
fi
# Passing runs show the transcript too, so the ctest log says what was checked.
if [[ -n $EXPECT_UEPOLL ]]; then
    echo "---- native"
    cat "$OUT/native.out"
    echo "---- uepoll"
    cat "$OUT/uepoll.out"
else
    cat "$OUT/native.out"
fi
echo "$PROG: OK ($(wc -l <"$OUT/native.out") lines, status ${RC[native]})"
