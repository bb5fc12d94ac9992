#!/usr/bin/env bash
# node/testsuite.sh - tests of Node.js's own suite (test/parallel/ of
# Debian 12's nodejs source) that exercise the event loop, run with
# Debian's node natively, then with the shim preloaded, and compared test
# by test.
#
# Usage: integration/node/testsuite.sh [LIBRARY]
#   LIBRARY  libuepoll.so (default: $UEPOLL_LIB, else build/shim/libuepoll.so)
# Environment:
#   UEPOLL_CACHE   where Debian's node and the test tree are kept (default
#                  /var/tmp/uepoll-cache; filled on first use, below)
#   NODE_TESTS     the tests to run: names in test/parallel/ (with or
#                  without .js) or shell globs such as 'test-net-*'
#                  (default: the list below)
#   NODE_TEST_TIMEOUT  seconds a test may take on one side (default 60)
#   NODE_JOBS      tests run at once (default 2); each test runs natively
#                  then under the shim in the same slot, so both sides see
#                  the same load
#   KEEP_LOGS=1    keep each test's output (the directory is printed)
#
# The node: the installed /usr/bin/node is NodeSource's 20.x; this runs
# Debian's nodejs 18 (with libuv 1.44 as a shared library, no io_uring),
# fetched with `apt-get download nodejs libnode108` and the three packages
# whose files Debian's libnode loads by absolute path at start
# (/usr/share/nodejs/{acorn,cjs-module-lexer,undici}), unpacked with
# dpkg -x into $UEPOLL_CACHE/node-debian; nothing is installed.  So that
# libnode finds those files, the tests run in a private mount namespace
# (unshare -m) with the unpacked usr/share overlaid on /usr/share: root (or
# CAP_SYS_ADMIN) and overlayfs are needed, else exit 77.  The tests come
# from the upstream tarball of Debian's source package (`apt-get source
# --download-only nodejs`, which needs deb-src entries; only
# nodejs_VERSION.orig.tar.xz is used and only its test/ is unpacked).
#
# Each test runs as Node's own runner runs it: `node <the test's // Flags:
# line> test/parallel/test-x.js` from the source root, with TEST_THREAD_ID
# set per slot (its own tmpdir, under a temp NODE_TEST_DIR, and ports).
# Child processes the tests start (process.execPath) inherit LD_PRELOAD:
# under the shim they run under it too.  Outcome per side: pass (exit 0),
# skip (exit 0 after "1..0 # Skipped"), fail (exit N), signal (killed by
# SIGNAME), timeout.  Before the tests the script checks that libuv's loop
# really is uepoll's: a node server's /proc/self/fd has an
# anon_inode:[eventpoll] natively and none under the shim.
#
# Output: a table "test | native | uepoll" (mismatches marked), the
# mismatching tests' output tails, then
#   result native <N pass, N skip, N fail ...>
#   result uepoll <same, or "fail: K tests differ from native (...)">
# Exit 0 when every test has the same outcome on both sides (tests that
# fail natively too are allowed, and listed), 77 when skipped, 1 otherwise.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
LIB=${1:-${UEPOLL_LIB:-$ROOT/build/shim/libuepoll.so}}
[[ -f $LIB ]] || { echo "node/testsuite: no library at $LIB" >&2; exit 1; }
LIB=$(cd "$(dirname "$LIB")" && pwd)/$(basename "$LIB")
CACHE=${UEPOLL_CACHE:-/var/tmp/uepoll-cache}
TEST_TIMEOUT=${NODE_TEST_TIMEOUT:-60}
JOBS=${NODE_JOBS:-2}

# The default list: the event-loop tests of test/parallel/ chosen to run in
# a few minutes (see docs/integration.md for what each group covers and
# what the whole groups gave).
DEFAULT_TESTS="
test-net-pingpong test-net-keepalive test-net-allow-half-open test-net-bytes-*
test-net-reconnect test-net-write-* test-net-end-* test-net-connect-reset*
test-net-connect-paused-connection test-net-connect-options-path
test-net-server-pause-on-connect test-net-server-max-connections*
test-net-server-close test-net-server-reset test-net-server-listen-path
test-net-socket-timeout* test-net-socket-reset-* test-net-listen-fd0
test-net-pipe-connect-errors
test-dgram-connect-send-* test-dgram-send-callback-* test-dgram-bind-fd*
test-dgram-close*
test-timers-unref* test-timers-immediate*
test-stream-pipe-deadlock test-stream-pipe-await-drain*
test-fs-watch*
test-child-process-fork-net* test-child-process-fork-dgram
test-child-process-stdio-big-write-end test-child-process-stdio-merge-stdouts-into-cat
test-child-process-ipc* test-child-process-exec-timeout* test-child-process-kill
test-child-process-spawn-timeout-kill-signal test-child-process-fork-ref*
test-child-process-exec-maxbuf test-child-process-spawnsync-timeout
test-http-keep-alive* test-http-pipeline* test-http-upgrade*
test-http-server-request-timeout* test-http-client-timeout* test-http-client-abort*
test-process-kill-pid test-process-exit-code
test-worker-message-port-drain test-worker-message-port-close-while-receiving
test-worker-terminate-timers test-worker-exit-code
"
PATTERNS=${NODE_TESTS:-$DEFAULT_TESTS}

skip() {
    echo "result native skip: $1"
    echo "result uepoll skip: $1"
    exit 77
}

DEB=$CACHE/node-debian
NODE_ROOT=$DEB/root
NODE_BIN=$NODE_ROOT/usr/bin/node
NODE_LIBDIR=$NODE_ROOT/usr/lib/x86_64-linux-gnu

# Debian's node, unpacked (not installed) once.
if [[ ! -x $NODE_BIN || ! -f $NODE_ROOT/usr/share/nodejs/acorn/dist/acorn.js ]]; then
    mkdir -p "$DEB/debs"
    (cd "$DEB/debs" && timeout 300 apt-get download -qq nodejs libnode108 \
        node-acorn node-cjs-module-lexer node-undici node-busboy >/dev/null 2>&1) ||
        skip "apt-get download of Debian's nodejs failed"
    for d in "$DEB"/debs/*.deb; do dpkg -x "$d" "$NODE_ROOT"; done
fi
# The version of that node (nodejs_18.20.4+dfsg-1~deb12u3_amd64.deb: 18.20.4).
NODE_DEB=$(find "$DEB/debs" -maxdepth 1 -name 'nodejs_*.deb' 2>/dev/null | sort | head -1)
[[ -n $NODE_DEB ]] || skip "no nodejs .deb in $DEB/debs"
UPSTREAM=$(dpkg-deb -f "$NODE_DEB" Version | sed -E 's/^[0-9]+://; s/-[^-]*$//')
VERSION=${UPSTREAM%%+*}
SRCDIR=$CACHE/node-src
SRC=$SRCDIR/node-v$VERSION
if [[ ! -f $SRC/test/common/index.js ]]; then
    mkdir -p "$SRCDIR"
    # apt-get may fail on the .dsc (a mirror without it) and still have
    # fetched the orig tarball, which is all that is needed.
    (cd "$SRCDIR" && timeout 900 apt-get source -qq --download-only "nodejs=$(dpkg-deb -f "$NODE_DEB" Version)" \
        >/dev/null 2>&1) || true
    [[ -f $SRCDIR/nodejs_$UPSTREAM.orig.tar.xz ]] ||
        skip "no nodejs_$UPSTREAM.orig.tar.xz from apt-get source (deb-src entries?)"
    tar -C "$SRCDIR" -xJf "$SRCDIR/nodejs_$UPSTREAM.orig.tar.xz" --wildcards "node-v$VERSION/test/*"
fi

# Into a private mount namespace, with Debian's /usr/share/nodejs visible.
if [[ -z ${UEPOLL_NODE_NS:-} ]]; then
    command -v unshare >/dev/null || skip "no unshare (util-linux)"
    unshare -m true 2>/dev/null || skip "unshare -m not permitted (needs root or CAP_SYS_ADMIN)"
    UEPOLL_NODE_NS=1 exec unshare -m "$0" "$LIB"
fi
mount -t overlay overlay -o "lowerdir=$NODE_ROOT/usr/share:/usr/share" /usr/share 2>/dev/null ||
    skip "overlay mount of Debian's usr/share/nodejs failed"
export LD_LIBRARY_PATH=$NODE_LIBDIR
timeout 60 "$NODE_BIN" -e 'process.exit(0)' 2>/dev/null || skip "Debian's node does not start"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/uepoll-node-suite.XXXXXX")
cleanup() {
    if [[ ${KEEP_LOGS:-0} == 1 ]]; then echo "logs: $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT

# Does libuv's loop use the kernel's epoll (natively) or uepoll (shim)?
FDCHECK='const net=require("net"),fs=require("fs");
const s=net.createServer().listen(0,"127.0.0.1",()=>{let n=0;
for(const f of fs.readdirSync("/proc/self/fd")){try{if(fs.readlinkSync("/proc/self/fd/"+f)==="anon_inode:[eventpoll]")n++}catch(e){}}
console.log(n);s.close()})'
EP_NATIVE=$(timeout 30 "$NODE_BIN" -e "$FDCHECK" 2>&1 || echo error)
EP_UEPOLL=$(LD_PRELOAD=$LIB timeout 30 "$NODE_BIN" -e "$FDCHECK" 2>&1 || echo error)
echo "node $(timeout 60 "$NODE_BIN" -p 'process.version + " (libuv " + process.versions.uv + ")"'), tests from $SRC"
echo "anon_inode:[eventpoll] fds in a listening node: native $EP_NATIVE, uepoll $EP_UEPOLL"

# The tests: each pattern expanded in test/parallel/.
TESTS=()
# Words (read does not expand globs: they are expanded in test/parallel/).
read -ra PATS <<<"${PATTERNS//$'\n'/ }"
for p in "${PATS[@]}"; do
    p=${p%.js}
    for f in "$SRC"/test/parallel/$p.js; do
        [[ -f $f ]] && TESTS+=("$(basename "$f" .js)")
    done
done
((${#TESTS[@]})) || skip "no test matches NODE_TESTS"
mapfile -t TESTS < <(printf '%s\n' "${TESTS[@]}" | sort -u)
echo "${#TESTS[@]} tests, ${JOBS} at a time, ${TEST_TIMEOUT} s bound per test and side"

mkdir -p "$TMP/res" "$TMP/log" "$TMP/testdir"
export NODE_BIN SRC LIB TMP TEST_TIMEOUT

# run_test NAME (in an xargs slot): both sides, one after the other.
run_test() {
    local name=$1 slot=${SLOT:-0} flags side preload rc start outcome
    flags=$(sed -nE 's#^// Flags: (.*)$#\1#p' "$SRC/test/parallel/$name.js" | head -1)
    for side in native uepoll; do
        preload=
        [[ $side == uepoll ]] && preload=$LIB
        start=$(date +%s.%N)
        rc=0
        # shellcheck disable=SC2086 # the flags are words
        (cd "$SRC" && TEST_THREAD_ID=$slot NODE_TEST_DIR=$TMP/testdir LD_PRELOAD=$preload \
            timeout --kill-after=5 "$TEST_TIMEOUT" "$NODE_BIN" $flags "test/parallel/$name.js" \
            </dev/null >"$TMP/log/$name.$side" 2>&1) || rc=$?
        if ((rc == 124 || rc == 137)) && [[ $(date +%s) -ge $(( ${start%.*} + TEST_TIMEOUT )) ]]; then
            outcome=timeout
        elif ((rc == 0)); then
            if grep -q '^1\.\.0 # Skipped' "$TMP/log/$name.$side"; then outcome=skip; else outcome=pass; fi
        elif ((rc > 128)); then
            outcome="signal $(kill -l $((rc - 128)) 2>/dev/null || echo $((rc - 128)))"
        else
            outcome="fail $rc"
        fi
        awk -v o="$outcome" -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%s|%.1f\n", o, e - s }' >"$TMP/res/$name.$side"
    done
}
export -f run_test

START=$SECONDS
# shellcheck disable=SC2016 # $1 is run_test's, in the inner bash
printf '%s\n' "${TESTS[@]}" |
    xargs -P "$JOBS" --process-slot-var=SLOT -I{} bash -c 'run_test "$1"' _ {}
TOOK=$((SECONDS - START))

# The table; outcomes compared by kind (pass, skip, fail, signal, timeout).
kind() { echo "${1%% *}"; }
MISMATCH=()
BOTH_FAIL=()
declare -A COUNT_N COUNT_U
printf '\n| test | native | uepoll | |\n|---|---|---|---|\n'
for t in "${TESTS[@]}"; do
    IFS='|' read -r n nt <"$TMP/res/$t.native" || n="no result"
    IFS='|' read -r u ut <"$TMP/res/$t.uepoll" || u="no result"
    COUNT_N[$(kind "$n")]=$(( ${COUNT_N[$(kind "$n")]:-0} + 1 ))
    COUNT_U[$(kind "$u")]=$(( ${COUNT_U[$(kind "$u")]:-0} + 1 ))
    mark=
    if [[ $(kind "$n") != "$(kind "$u")" ]]; then
        mark=MISMATCH
        MISMATCH+=("$t")
    elif [[ $n != pass && $n != skip ]]; then
        mark="fails natively too"
        BOTH_FAIL+=("$t")
    fi
    printf '| %s | %s (%ss) | %s (%ss) | %s |\n' "$t" "$n" "${nt:-?}" "$u" "${ut:-?}" "$mark"
done
echo
for t in "${MISMATCH[@]}" "${BOTH_FAIL[@]}"; do
    for side in native uepoll; do
        echo "--- $t ($side), last lines:"
        tail -n 8 "$TMP/log/$t.$side" | cut -c1-200
    done
done
summary() {
    local -n c=$1
    local k out=()
    for k in pass skip fail signal timeout; do out+=("${c[$k]:-0} $k"); done
    (IFS=,; echo "${out[*]}")
}
echo "${#TESTS[@]} tests in $TOOK s (both sides)"
((${#BOTH_FAIL[@]})) && echo "fail on both sides: ${BOTH_FAIL[*]}"
((${#MISMATCH[@]})) && echo "differ: ${MISMATCH[*]}"
NATIVE="pass: $(summary COUNT_N)"
UEPOLL="pass: $(summary COUNT_U)"
problems=()
[[ $EP_NATIVE =~ ^[1-9] ]] || problems+=("natively no eventpoll fd ($EP_NATIVE)")
[[ $EP_UEPOLL == 0 ]] || problems+=("an eventpoll fd under the shim ($EP_UEPOLL)")
((${#MISMATCH[@]})) && problems+=("${#MISMATCH[@]} tests differ from native")
((${#problems[@]})) && UEPOLL="fail: $(IFS=';'; echo "${problems[*]}") ($(summary COUNT_U))"
echo "result native $NATIVE"
echo "result uepoll $UEPOLL"
[[ $UEPOLL == "$NATIVE" ]]
