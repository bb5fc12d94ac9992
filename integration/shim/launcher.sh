#!/usr/bin/env bash
# launcher.sh - the `uepoll` launcher (shim/uepoll.in) runs real commands.
#
# Usage: launcher.sh --launcher UEPOLL --lib LIBUEPOLL --marker LIBMARKER
#                    --probe PRELOAD_PROBE -- PROGRAM [ARGS...]
#
# Why: the launcher is how users run programs on uepoll; it must put
# libuepoll.so first in LD_PRELOAD while keeping what was preloaded
# already, never preload it twice, and give back the command's exit
# status (it execs the command).  Checked here:
#   1. --version names the configured library;
#   2. `uepoll -- probe`: LD_PRELOAD is exactly LIBUEPOLL, the library is
#      mapped, epoll_create1 makes no anon_inode:[eventpoll] fd;
#   3. with LD_PRELOAD=LIBMARKER already set: LD_PRELOAD becomes
#      "LIBUEPOLL LIBMARKER" and both libraries are mapped;
#   4. with LD_PRELOAD=LIBUEPOLL already set: not added a second time;
#   5. exit statuses: the command's (0, 1, 7, 42 from the probe), 143 for
#      a command killed by SIGTERM, 127 for a missing command, 2 for a
#      usage error;
#   6. `uepoll -- PROGRAM ARGS` (a transcript program, see compare.sh)
#      prints the same transcript as PROGRAM run natively, and runs on
#      uepoll.
set -euo pipefail

PROG=${0##*/}
while [[ $# -gt 0 ]]; do
    case "$1" in
        --launcher) LAUNCHER=$2; shift ;;
        --lib) LIB=$2; shift ;;
        --marker) MARKER=$2; shift ;;
        --probe) PROBE=$2; shift ;;
        --) shift; break ;;
        *) echo "$PROG: unknown argument '$1'" >&2; exit 2 ;;
    esac
    shift
done
TRANSCRIPT=${1:-}
TRANSCRIPT_CMD=("$@")
for v in LAUNCHER LIB MARKER PROBE TRANSCRIPT; do
    if [[ -z ${!v:-} ]]; then
        echo "$PROG: missing ${v,,} (see the usage line)" >&2
        exit 2
    fi
    if [[ ! -e ${!v} ]]; then
        echo "$PROG: FAIL: not found: ${!v}" >&2
        exit 1
    fi
done

TMP=$(mktemp -d "${TMPDIR:-/tmp}/uepoll-launcher.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

FAILED=0
fail() {
    echo "$PROG: FAIL: $*" >&2
    FAILED=1
}
ok() { echo "$PROG: ok: $*"; }

# status CMD...: runs CMD (bounded), prints its exit status; output in
# $TMP/out and $TMP/err.
status() {
    local rc=0
    timeout --kill-after=5 25 "$@" >"$TMP/out" 2>"$TMP/err" </dev/null || rc=$?
    echo "$rc"
}

# expect_line KEY=VALUE: the probe printed exactly this line.
expect_line() {
    if grep -qxF -- "$1" "$TMP/out"; then
        ok "  $1"
    else
        fail "expected the line '$1'; the probe printed:"
        sed 's/^/    /' "$TMP/out" >&2
        sed 's/^/    stderr: /' "$TMP/err" >&2
    fi
}

# 1. --version
rc=$(status env -u LD_PRELOAD "$LAUNCHER" --version)
if [[ $rc == 0 ]] && grep -qxF "library: $LIB" "$TMP/out"; then
    ok "--version: $(head -n1 "$TMP/out"), library $LIB"
else
    fail "--version: status $rc, output: $(cat "$TMP/out" "$TMP/err")"
fi

# 2. no LD_PRELOAD before
rc=$(status env -u LD_PRELOAD "$LAUNCHER" -- "$PROBE")
[[ $rc == 0 ]] || fail "uepoll -- probe: status $rc"
ok "uepoll -- probe (no LD_PRELOAD before):"
expect_line "LD_PRELOAD=$LIB"
expect_line "mapped libuepoll=1"
expect_line "epoll_create1 ok=1"
expect_line "eventpoll fds=0"

# 3. an existing LD_PRELOAD is kept, after libuepoll.so
rc=$(status env LD_PRELOAD="$MARKER" "$LAUNCHER" -- "$PROBE")
[[ $rc == 0 ]] || fail "LD_PRELOAD=marker uepoll -- probe: status $rc"
ok "LD_PRELOAD=marker uepoll -- probe:"
expect_line "LD_PRELOAD=$LIB $MARKER"
expect_line "mapped libuepoll=1"
expect_line "mapped marker=1"
expect_line "eventpoll fds=0"

# 4. already preloaded: not twice
rc=$(status env LD_PRELOAD="$LIB" "$LAUNCHER" -- "$PROBE")
[[ $rc == 0 ]] || fail "LD_PRELOAD=libuepoll uepoll -- probe: status $rc"
ok "LD_PRELOAD=libuepoll uepoll -- probe:"
expect_line "LD_PRELOAD=$LIB"
expect_line "eventpoll fds=0"
if grep -q 'not adding' "$TMP/err"; then
    ok "  warned: $(cat "$TMP/err" | grep 'not adding')"
else
    fail "no warning about the library already preloaded; stderr: $(cat "$TMP/err")"
fi

# 5. exit statuses
check_status() {
    # check_status EXPECTED DESCRIPTION CMD...
    local want=$1 what=$2 rc
    shift 2
    rc=$(status "$@")
    if [[ $rc == "$want" ]]; then
        ok "exit status $rc: $what"
    else
        fail "exit status $rc, expected $want: $what (stderr: $(cat "$TMP/err"))"
    fi
}
check_status 0 "uepoll -- true" "$LAUNCHER" -- true
check_status 1 "uepoll -- false" "$LAUNCHER" -- false
check_status 7 "uepoll -- sh -c 'exit 7'" "$LAUNCHER" -- sh -c 'exit 7'
check_status 42 "uepoll -- probe 42" "$LAUNCHER" -- "$PROBE" 42
check_status 42 "uepoll probe 42 (no --)" "$LAUNCHER" "$PROBE" 42
check_status 42 "uepoll -v -- probe 42 (an option, then --)" "$LAUNCHER" -v -- "$PROBE" 42
check_status 143 "uepoll -- sh -c 'kill -TERM \$\$'" "$LAUNCHER" -- sh -c 'kill -TERM $$'
check_status 127 "uepoll -- /nonexistent/command" "$LAUNCHER" -- /nonexistent/command
check_status 2 "uepoll (no command)" "$LAUNCHER"
check_status 2 "uepoll --no-such-option -- true" "$LAUNCHER" --no-such-option -- true
check_status 127 "uepoll --lib /nonexistent.so -- true" "$LAUNCHER" --lib /nonexistent.so -- true

# 6. a transcript program through the launcher equals the native run
rc=$(status env -u LD_PRELOAD "${TRANSCRIPT_CMD[@]}")
cp "$TMP/out" "$TMP/native.out"
cp "$TMP/err" "$TMP/native.err"
[[ $rc == 0 ]] || fail "native $TRANSCRIPT: status $rc"
rc=$(status env -u LD_PRELOAD "$LAUNCHER" -- "${TRANSCRIPT_CMD[@]}")
[[ $rc == 0 ]] || fail "uepoll -- $TRANSCRIPT: status $rc"
if ! grep -qx 'shimtest: backend=uepoll' "$TMP/err"; then
    fail "uepoll -- $TRANSCRIPT did not run on libuepoll.so (stderr: $(cat "$TMP/err"))"
fi
if diff -u --label native --label "uepoll --" "$TMP/native.out" "$TMP/out" >"$TMP/diff"; then
    ok "uepoll -- ${TRANSCRIPT##*/}: same transcript as natively ($(wc -l <"$TMP/out") lines)"
else
    fail "uepoll -- $TRANSCRIPT: transcript differs from the native run:"
    cat "$TMP/diff" >&2
fi

if ((FAILED)); then
    echo "$PROG: FAILED" >&2
    exit 1
fi
echo "$PROG: all checks passed"
