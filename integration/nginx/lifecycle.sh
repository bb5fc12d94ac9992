#!/usr/bin/env bash
# nginx/lifecycle.sh - nginx's life under load, natively then under the
# shim: nginx -s reload while wrk runs, a worker killed with SIGKILL and
# respawned by the master, nginx -s quit during a download; no fd leaked
# by the master or the workers, no [alert]/[crit] in error.log.
#
# Usage: integration/nginx/lifecycle.sh [LIBRARY]
#   LIBRARY  libuepoll.so (default: $UEPOLL_LIB, else build/shim/libuepoll.so)
#
# nginx: 2 workers, accept_mutex off (EPOLLEXCLUSIVE).  Steps:
#   1. fd counts of the master and of the workers, once settled;
#   2. wrk -t2 -c32 for 20 s while nginx -s reload is sent 3 times (at
#      about 4, 9 and 14 s); failed requests (socket errors + non-2xx) are
#      counted; under the shim they must not exceed the native count of
#      the same run (native's own count is printed, not asserted: a
#      kept-alive request racing an old worker's close fails natively too);
#   3. 2 new workers, none of the first ones; a 4 MiB download intact;
#   4. SIGKILL to one worker: the master starts another (bounded 30 s);
#      20 requests then succeed;
#   5. the master's fd count is what it was in step 1, and the workers'
#      total is too (bounded wait, 60 s, for closing connections);
#   6. a rate-limited 20 MiB download (about 4 s) is started, then nginx -s
#      quit: the download completes intact and the master and workers exit
#      (bounded 60 s);
#   7. error.log: no [alert]/[crit]/[emerg] nor shim line, except the one
#      [alert] "worker process PID exited on signal 9" of step 4.
#
# Output ends with "result native ..." / "result uepoll ..."; exit 0 when
# both pass.  Takes about 1.5 min on 2 busy cores (both sides).
set -uo pipefail
PROG=lifecycle.sh
SIDE=""
NS_SUMMARY="reload x3 under wrk, SIGKILL respawn, quit during a download, no fd leak, log clean"
# shellcheck source=SCRIPTDIR/../lib/nginx_scenario.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/nginx_scenario.sh"

mkdir -p "$TMP/html"
head -c 1024 /dev/urandom >"$TMP/html/small.bin"
head -c $((4 * 1024 * 1024)) /dev/urandom >"$TMP/html/mid.bin"
head -c $((20 * 1024 * 1024)) /dev/urandom >"$TMP/html/large.bin"
chmod -R a+rX "$TMP/html"
sha() { sha256sum | cut -d' ' -f1; }
MID_SHA=$(sha <"$TMP/html/mid.bin")
LARGE_SHA=$(sha <"$TMP/html/large.bin")
NATIVE_ERRORS=""

side_checks() {
    local side=$1 prefix="$TMP/$1" port m0 w0 first now killed i ok got dl
    port=$(pick_port)
    mkdir -p "$prefix"
    { ns_conf_head "$prefix"; printf '    server {\n        listen 127.0.0.1:%s;\n        root %s;\n    }\n}\n' "$port" "$TMP/html"; } >"$prefix/nginx.conf"
    ns_start "$prefix" 2 "$port" || return
    fetch --fail -o /dev/null "http://127.0.0.1:$port/small.bin" || problem "first GET failed"
    sleep 1
    first=$(ns_workers "$MASTER")
    m0=$(ns_fd_count "$MASTER")
    # shellcheck disable=SC2086 # one word per pid
    w0=$(ns_fd_total $first)
    say "1. master $MASTER: $m0 fds; workers $first: $w0 fds"

    # 2. reloads under load.
    ns_wrk reload -t2 -c32 -d20s "http://127.0.0.1:$port/small.bin" &
    local wrk_pid=$!
    for i in 1 2 3; do
        sleep $((i == 1 ? 4 : 5))
        ns_nginx "$prefix" -s reload 2>>"$prefix/signal.err" || problem "nginx -s reload $i failed"
        say "2. reload $i sent"
    done
    wait "$wrk_pid"
    # ns_wrk ran in a subshell: read its figures from its output.
    local out="$TMP/$side.reload.wrk" req err sock non2xx
    req=$(awk '/requests in/ { print $1 }' "$out")
    sock=$(awk '/Socket errors:/ { gsub(",", ""); print $4 + $6 + $8 + $10 }' "$out")
    non2xx=$(awk '/Non-2xx or 3xx responses:/ { print $5 }' "$out")
    err=$((${sock:-0} + ${non2xx:-0}))
    say "2. wrk across 3 reloads: ${req:-0} requests, $err failed"
    ((${req:-0} > 0)) || problem "wrk across reloads completed no request"
    if [[ $side == native ]]; then
        NATIVE_ERRORS=$err
    elif ((err > NATIVE_ERRORS)); then
        problem "wrk across reloads: $err failed requests, native $NATIVE_ERRORS"
    fi

    # 3. the new workers.
    # shellcheck disable=SC2016 # expanded by eval in wait_until
    if ! wait_until 60 eval 'now=$(ns_workers $MASTER); [[ $(count_words $now) -eq 2 ]] && ! grep -qwFf <(tr " " "\n" <<<"$first") <<<"$now"'; then
        problem "3. after the reloads the workers are '$(ns_workers "$MASTER")' (first: '$first')"
    fi
    now=$(ns_workers "$MASTER")
    say "3. workers $first -> $now"
    [[ $(fetch --fail "http://127.0.0.1:$port/mid.bin" | sha) == "$MID_SHA" ]] || problem "3. GET mid.bin after the reloads: bad sha256"

    # 4. SIGKILL one worker.
    killed=${now%% *}
    kill -KILL "$killed"
    # shellcheck disable=SC2016 # expanded by eval in wait_until
    if ! wait_until 30 eval 'now=$(ns_workers $MASTER); [[ $(count_words $now) -eq 2 ]] && ! grep -qw "$killed" <<<"$now"'; then
        problem "4. no worker respawned 30 s after SIGKILL to $killed (workers: '$(ns_workers "$MASTER")')"
    fi
    say "4. killed worker $killed, workers now $(ns_workers "$MASTER")"
    ok=0
    for i in $(seq 20); do
        fetch --fail -o /dev/null "http://127.0.0.1:$port/small.bin" && ok=$((ok + 1))
    done
    ((ok == 20)) && say "4. 20 of 20 requests after the respawn" || problem "4. $ok of 20 requests after the respawn"

    # 5. fd counts.
    # shellcheck disable=SC2016,SC2046 # expanded by eval; one word per pid
    if wait_until 60 eval '[[ $(ns_fd_count $MASTER) -eq $m0 && $(ns_fd_total $(ns_workers $MASTER)) -eq $w0 ]]'; then
        say "5. master $m0 fds, workers $w0 fds: as in step 1"
    else
        # shellcheck disable=SC2046 # one word per pid
        problem "5. fd counts: master $(ns_fd_count "$MASTER") (was $m0), workers $(ns_fd_total $(ns_workers "$MASTER")) (was $w0)"
        ls -l "/proc/$MASTER/fd" >&2
    fi
    ns_fds "$side" "$MASTER"

    # 6. quit during a download.
    dl="$TMP/$side.dl.sha"
    (fetch --max-time 60 --fail --limit-rate 5M "http://127.0.0.1:$port/large.bin" | sha >"$dl") &
    local dl_pid=$!
    sleep 1
    ns_quit "$prefix" "$MASTER"
    wait "$dl_pid"
    got=$(<"$dl")
    [[ $got == "$LARGE_SHA" ]] && say "6. the download in flight at quit completed intact" ||
        problem "6. the download in flight at nginx -s quit: bad sha256"

    # 7. the log.
    ns_log_problems "$prefix/logs/error.log" "\\[alert\\].*worker process $killed exited on signal 9"
    grep -q "worker process $killed exited on signal 9" "$prefix/logs/error.log" ||
        problem "7. error.log does not record worker $killed killed by signal 9"
}

ns_main
