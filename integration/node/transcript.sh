#!/usr/bin/env bash
# node/transcript.sh - node (libuv) natively and under the shim: the
# transcript of node/transcript.js (http, net, child_process, fs, timers,
# dgram) must be the same on both sides, and the fds tell which kernel
# objects libuv's loop holds.
#
# Usage: integration/node/transcript.sh [LIBRARY]
#   LIBRARY  libuepoll.so (default: $UEPOLL_LIB, else build/shim/libuepoll.so)
#
# UV_USE_IO_URING=1 on both sides: libuv (node 20) leaves io_uring off by
# default; asked for it, it sets rings up natively (anon_inode:[io_uring] in
# /proc/self/fd).  Under the shim io_uring_setup through syscall() is
# refused with ENOSYS, so libuv must fall back to epoll + threadpool: no
# [io_uring] and no [eventpoll] fd, the loop's epoll fd being one of uepoll's
# anon_inode:[eventfd] — and the fs section must still give the same lines.
#
# Output: the transcript, the fd counts of each side, then
#   result native <outcome>
#   result uepoll <outcome>
# Exit 0 when both outcomes are "pass ..." and equal, 1 otherwise.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
LIB=${1:-${UEPOLL_LIB:-$ROOT/build/shim/libuepoll.so}}
NODE=${NODE:-$(command -v node || echo /usr/bin/node)}
[[ -f $LIB ]] || { echo "node/transcript: no library at $LIB" >&2; exit 1; }
LIB=$(cd "$(dirname "$LIB")" && pwd)/$(basename "$LIB")

TMP=$(mktemp -d "${TMPDIR:-/tmp}/uepoll-node.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

# run_side SIDE PRELOAD: the transcript in TMP/SIDE.txt, fd counts in
# TMP/SIDE.fds; node's exit status in TMP/SIDE.rc.  timeout: a hang fails.
run_side() {
    local rc=0
    UV_USE_IO_URING=1 LD_PRELOAD=$2 timeout 120 "$NODE" "$HERE/transcript.js" \
        >"$TMP/$1.out" 2>"$TMP/$1.err" || rc=$?
    echo "$rc" >"$TMP/$1.rc"
    grep -v '^fds: ' "$TMP/$1.out" >"$TMP/$1.txt" || true
    grep '^fds: ' "$TMP/$1.out" >"$TMP/$1.fds" || echo "fds: none" >"$TMP/$1.fds"
}

run_side native ""
run_side uepoll "$LIB"

# fd NAME SIDE: the count of anon_inode:[NAME] that side reported.
fd() { sed -nE "s/.*\\b$1=([0-9]+).*/\\1/p" "$TMP/$2.fds"; }

# outcome SIDE: pass when node exited 0 and printed every section and "end".
outcome() {
    local rc problems=()
    rc=$(cat "$TMP/$1.rc")
    [[ $rc == 0 ]] || problems+=("node exited $rc: $(head -c 300 "$TMP/$1.err" | tr '\n' ' ')")
    grep -q '^end$' "$TMP/$1.txt" || problems+=("no end line")
    grep -q '^error: ' "$TMP/$1.txt" && problems+=("$(grep -m1 '^error: ' "$TMP/$1.txt")")
    # Every line that says whether its data came back intact says true.
    grep -qE '=false|ok=false' "$TMP/$1.txt" && problems+=("a check printed false")
    if [[ $1 == native ]]; then
        [[ $(fd eventpoll native) -ge 1 ]] || problems+=("natively no anon_inode:[eventpoll]")
    else
        [[ $(fd eventpoll uepoll) == 0 ]] || problems+=("anon_inode:[eventpoll] under the shim")
        [[ $(fd io_uring uepoll) == 0 ]] || problems+=("anon_inode:[io_uring] under the shim: no fallback")
        [[ $(fd eventfd uepoll) -ge 1 ]] || problems+=("no anon_inode:[eventfd] under the shim")
    fi
    if ((${#problems[@]})); then
        echo "fail: $(IFS=';'; echo "${problems[*]}")"
    else
        echo "pass: $(grep -c . "$TMP/$1.txt") transcript lines"
    fi
}

NATIVE=$(outcome native)
UEPOLL=$(outcome uepoll)
if ! diff -u --label native "$TMP/native.txt" --label uepoll "$TMP/uepoll.txt" >"$TMP/diff"; then
    UEPOLL="fail: transcript differs from native"
    cat "$TMP/diff"
else
    cat "$TMP/native.txt"
fi
echo "native $(cat "$TMP/native.fds")  (io_uring > 0: libuv set up rings)"
echo "uepoll $(cat "$TMP/uepoll.fds")  (io_uring = 0: libuv fell back to epoll)"
echo "result native $NATIVE"
echo "result uepoll $UEPOLL"
[[ $NATIVE == pass* && $NATIVE == "$UEPOLL" ]]
