#!/usr/bin/env bash
# nginx_lifecycle.sh - an unmodified nginx through its whole life on uepoll.
#
# Usage: nginx_lifecycle.sh [--native] LIBUEPOLL
#
# Why: nginx is the main real-world target (integration/nginx/run-main.sh
# measures its speed; this script checks its behaviour, quickly).  Its
# workers create an epoll instance each after fork, watch the listening
# socket with EPOLLEXCLUSIVE (accept_mutex off), use EPOLLET for
# connections, an eventfd for notifications, and are replaced on reload.
# With LIBUEPOLL in LD_PRELOAD (the master and, by inheritance, every
# worker):
#   1. nginx -t accepts the generated config (127.0.0.1, a free port, every
#      path in a temp dir, 2 workers, accept_mutex off, daemon off);
#   2. nginx starts: the master, its 2 workers, the port;
#   3. GET / returns index.html byte for byte, GET /hello.txt its content,
#      GET /missing a 404; a raw HTTP/1.1 exchange through socat returns two
#      pipelined responses on one connection;
#   4. the workers' fds: no anon_inode:[eventpoll], at least one
#      anon_inode:[eventfd] (the shim's instance), libuepoll.so mapped (the
#      workers run as the master's user, so that their fds and maps can be
#      read in a container too; a worker whose fds or maps cannot be read
#      fails the check, saying so);
#   5. no fd leak: the workers' fd counts are the same before and after
#      200 requests on 200 connections (+ 20 through socat), once the
#      workers have closed them (waited for, bounded);
#   6. nginx -s reload: a new set of 2 workers serves (checks 3 and 4
#      again on them);
#   7. nginx -s quit: the master exits with status 0 (bounded wait);
#   8. error.log has no [alert], [crit] or [emerg] line and no line
#      logged by the shim ("uepoll[pid]: ..."), nor has nginx's stderr.
# With --native the same runs without the shim, and step 4 expects the
# kernel's anon_inode:[eventpoll] instead (to check the script itself).
#
# Needs nginx, curl, socat, python3 (scripts/setup-deps.sh installs them);
# a missing one is a failure, not a skip.  No timing is asserted: every
# wait is a generous bound.  Exit status: 0 passed, 1 failed.
set -euo pipefail

PROG=${0##*/}
NATIVE=0
if [[ ${1:-} == --native ]]; then
    NATIVE=1
    shift
fi
LIB=${1:-}
WORKERS=2

# log, fail, die, fetch, setup_tmp/STOP_PIDS, nginx_write_config,
# check_worker_fds, ...; also wait_until, alive, port_open, pick_port,
# children (process.sh).
# shellcheck source=SCRIPTDIR/../lib/nginx.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/nginx.sh"

# ---------------------------------------------------------------- preflight

for tool in "$NGINX" curl socat python3 pgrep; do
    command -v "$tool" >/dev/null 2>&1 ||
        die "missing tool: $tool (install it with scripts/setup-deps.sh)"
done
if ((NATIVE == 0)); then
    [[ -n $LIB ]] || die "usage: $PROG [--native] LIBUEPOLL"
    [[ $LIB == /* ]] || LIB="$PWD/$LIB"
    [[ -f $LIB ]] || die "library not found: $LIB"
fi

# ------------------------------------------------------------------ helpers

# workers: the master's children, sorted, space separated.
workers() { children "$MASTER"; }

# fd_count PID: number of open fds.
fd_count() { find "/proc/$1/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }

# program_fd_count PID: open fds below the 64 numbers under the soft fd
# limit, where uepoll keeps its own (core::internal_fd: wake-up eventfds,
# the helper's, and a shard poller's control eventfd, which a poller
# started by an idle connection keeps for the life of the process).
program_fd_count() {
    local limit
    limit=$(awk '/^Max open files/ {print $4}' "/proc/$1/limits" 2>/dev/null)
    [[ $limit =~ ^[0-9]+$ ]] || { fd_count "$1"; return; }
    local low=$((limit > 128 ? limit - 64 : limit / 2))
    find "/proc/$1/fd" -mindepth 1 -maxdepth 1 -printf '%f\n' 2>/dev/null | awk -v low="$low" '$1 < low' | wc -l
}

# fd_total PIDS...: the sum of their program fd counts.
fd_total() {
    local pid total=0
    for pid in "$@"; do total=$((total + $(program_fd_count "$pid"))); done
    echo "$total"
}

# ------------------------------------------------------ temp dir and cleanup

setup_tmp uepoll-nginx-life
MASTER=""
# on_failure: called by the cleanup when the exit status is not 0.
on_failure() {
    show_log "$TMP/logs/error.log" 30
    show_log "$TMP/nginx.out" 30
}

mkdir -p "$TMP/html"
TOKEN=$(od -An -N8 -tx8 /dev/urandom | tr -d ' ')
printf '<!doctype html>\n<title>uepoll</title>\n<p>nginx lifecycle %s</p>\n' "$TOKEN" >"$TMP/html/index.html"
printf 'hello from %s\n' "$TOKEN" >"$TMP/html/hello.txt"
chmod -R a+rX "$TMP/html"

# write_config: $TMP/nginx.conf for PORT; nginx runs in the foreground
# (daemon off), so that $! is the master and its exit status is seen.
write_config() {
    nginx_write_config "$TMP" "$PORT" workers=$WORKERS daemon=off worker_connections=256 \
        default_type=text/plain sendfile=off
}

if ((NATIVE)); then
    PRELOAD=""
    log "native run (no shim)"
else
    PRELOAD=$LIB
    log "LD_PRELOAD=$LIB"
fi
nginx_cmd() { nginx_exec "$NGINX" "$TMP" "$PRELOAD" "$@"; }

# ------------------------------------------------------------- the checks

# check_content WHAT: index.html, hello.txt, a 404, and socat.
check_content() {
    local what=$1
    nginx_check_get "$what" "$PORT" / "$TMP/html/index.html" || true
    nginx_check_get "$what" "$PORT" /hello.txt "$TMP/html/hello.txt" || true
    nginx_check_status "$what" "$PORT" "/missing-$TOKEN" 404 || true
    # Two pipelined requests on one connection, raw, through socat.
    printf 'GET /hello.txt HTTP/1.1\r\nHost: localhost\r\n\r\nGET /missing HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n' |
        timeout 15 socat -t 10 - "TCP:127.0.0.1:$PORT" >"$TMP/socat.out" 2>&1 || true
    local statuses
    statuses=$(grep -a '^HTTP/1.1 ' "$TMP/socat.out" | tr -d '\r' | cut -d' ' -f2 | tr '\n' ' ')
    if [[ $statuses == "200 404 " ]] && grep -aq "hello from $TOKEN" "$TMP/socat.out"; then
        log "$what: socat, 2 pipelined requests on one connection: 200 then 404"
    else
        fail "$what: socat pipelined requests: statuses '$statuses'"
        sed 's/^/    /' "$TMP/socat.out" >&2
    fi
}

# check_fds WHAT: the kind of each worker's epoll fd (natively the kernel's,
# under the shim the shim's).
check_fds() {
    if ((NATIVE)); then
        # shellcheck disable=SC2046 # one word per pid
        check_worker_fds "$1" "" $(workers) || true
    else
        # shellcheck disable=SC2046 # one word per pid
        check_worker_fds "$1" "$LIB" $(workers) || true
    fi
}

# wait_workers: exactly WORKERS workers, none of them in $1 (old ones).
new_workers_up() {
    local w
    w=$(workers)
    [[ $(count_words $w) -eq $WORKERS ]] || return 1
    local old
    for old in $1; do
        [[ " $w " != *" $old "* ]] || return 1
    done
}

# check_no_leak WHAT: worker fd totals before and after many connections.
check_no_leak() {
    local what=$1 before after i urls=()
    local -a w
    read -ra w <<<"$(workers)"
    before=$(fd_total "${w[@]}")
    for ((i = 0; i < 200; i++)); do urls+=("http://127.0.0.1:$PORT/hello.txt?$i"); done
    # One curl, 200 requests, each on its own connection (Connection: close).
    if ! fetch -H 'Connection: close' "${urls[@]}" >"$TMP/many.out"; then
        fail "$what: 200 requests: curl failed"
    fi
    local got
    got=$(grep -c "hello from $TOKEN" "$TMP/many.out" || true)
    [[ $got == 200 ]] || fail "$what: 200 requests: $got correct responses"
    for ((i = 0; i < 20; i++)); do
        printf 'GET /missing HTTP/1.0\r\n\r\n' | timeout 15 socat -t 10 - "TCP:127.0.0.1:$PORT" >/dev/null 2>&1 ||
            fail "$what: socat request $i failed"
    done
    # The server closes its side when it has answered; give the workers
    # a bounded time to get back to the baseline.
    if ! wait_until 15 eval '[[ $(fd_total "${w[@]}") -eq $before ]]'; then
        after=$(fd_total "${w[@]}")
        fail "$what: worker fds: $before before 220 connections, $after after (leak)"
        local pid
        for pid in "${w[@]}"; do ls -l "/proc/$pid/fd" >&2 || true; done
        return
    fi
    after=$(fd_total "${w[@]}")
    log "$what: 220 connections ($got/200 curl + 20 socat); worker fds $before before, $after after"
}

# ------------------------------------------------------------------- main

log "nginx: $("$NGINX" -v 2>&1 | sed 's/^nginx version: //'); temp dir $TMP"

# 1. nginx -t (retrying the port if it got taken is part of step 2)
PORT=$(pick_port)
write_config
if nginx_cmd -t >"$TMP/t.out" 2>&1; then
    log "nginx -t: $(grep -c . "$TMP/t.out") lines, ok"
else
    cat "$TMP/t.out" >&2
    die "nginx -t rejected the config"
fi
if grep -E '^uepoll\[[0-9]+\]: ' "$TMP/t.out" >&2; then
    fail "nginx -t: the shim logged"
fi

# 2. start
for attempt in 1 2 3; do
    rm -f "$TMP/nginx.pid"
    # In a subshell that execs: $! must be nginx itself (env execs it too).
    (exec env -u NGINX ${PRELOAD:+"LD_PRELOAD=$PRELOAD"} "$NGINX" -p "$TMP/" -c "$TMP/nginx.conf" \
        -e "$TMP/logs/error.log" >"$TMP/nginx.out" 2>&1) &
    MASTER=$!
    STOP_PIDS=("$MASTER")
    if wait_until 10 eval '[[ -s $TMP/nginx.pid ]] || ! alive $MASTER' && alive "$MASTER"; then
        break
    fi
    stop_process "$MASTER"
    wait "$MASTER" 2>/dev/null || true
    MASTER="" STOP_PIDS=()
    if grep -q 'Address already in use' "$TMP/logs/error.log" 2>/dev/null && ((attempt < 3)); then
        log "port $PORT taken meanwhile, picking another"
        PORT=$(pick_port)
        write_config
        continue
    fi
    die "nginx did not start"
done
[[ $(<"$TMP/nginx.pid") == "$MASTER" ]] || fail "pid file has $(<"$TMP/nginx.pid"), master is $MASTER"
wait_until 10 new_workers_up "" || die "master $MASTER has workers '$(workers)' after 10 s, expected $WORKERS"
wait_until 10 port_open "$PORT" || die "port $PORT not accepting after 10 s"
log "started: master $MASTER, workers $(workers), 127.0.0.1:$PORT"

# 3-5.
check_content "first workers"
check_fds "first workers"
check_no_leak "first workers"

# 6. reload
OLD=$(workers)
nginx_cmd -s reload >>"$TMP/signal.out" 2>&1 || fail "nginx -s reload failed: $(cat "$TMP/signal.out")"
if wait_until 15 new_workers_up "$OLD"; then
    log "reloaded: workers $OLD -> $(workers)"
else
    fail "after reload the workers are '$(workers)' (before: '$OLD')"
fi
alive "$MASTER" || die "master died on reload"
check_content "after reload"
check_fds "after reload"
check_no_leak "after reload"

# 7. quit
nginx_cmd -s quit >>"$TMP/signal.out" 2>&1 || fail "nginx -s quit failed: $(cat "$TMP/signal.out")"
if wait_until 15 eval "! alive $MASTER"; then
    rc=0
    wait "$MASTER" || rc=$?
    if ((rc == 0)); then
        log "nginx -s quit: master exited with status 0"
    else
        fail "nginx -s quit: master exited with status $rc"
    fi
    MASTER="" STOP_PIDS=()
else
    fail "master $MASTER still running 15 s after nginx -s quit"
fi

# 8. logs
if bad_log_lines "$TMP/logs/error.log" "$TMP/bad"; then
    fail "error.log has alert/crit/emerg lines:"
    sed 's/^/    /' "$TMP/bad" >&2
else
    log "error.log: $(grep -c . "$TMP/logs/error.log" || true) lines, none [alert]/[crit]/[emerg]"
fi
if cat "$TMP/logs/error.log" "$TMP/nginx.out" "$TMP/signal.out" 2>/dev/null | grep -E '^uepoll\[[0-9]+\]: ' >"$TMP/shimlog"; then
    fail "the shim logged:"
    sed 's/^/    /' "$TMP/shimlog" >&2
fi

if ((${#FAILURES[@]})); then
    echo "[$PROG] FAILED: ${#FAILURES[@]} failure(s)" >&2
    exit 1
fi
log "all checks passed"
