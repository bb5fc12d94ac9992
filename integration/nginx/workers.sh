#!/usr/bin/env bash
# nginx/workers.sh - nginx with 2 and 4 workers sharing one listening
# socket, natively then under the shim: accept_mutex off (every worker
# watches the listener with EPOLLEXCLUSIVE), accept_mutex on (the workers
# take turns: the listener is added and removed with epoll_ctl as the
# mutex moves), and `listen ... reuseport` (one listening socket per
# worker, the kernel spreads connections).
#
# Usage: integration/nginx/workers.sh [LIBRARY]
#   LIBRARY  libuepoll.so (default: $UEPOLL_LIB, else build/shim/libuepoll.so)
#
# For each of the 6 set-ups (2|4 workers x mutex off|mutex on|reuseport):
# start, wrk -t2 -c64 for 4 s on a 1 KiB file (0 errors), 3 curl downloads
# of a 2 MiB file (sha256), the workers' epoll fds (the shim's under it),
# nginx -s quit, no [alert]/[crit]/[emerg] nor shim line in error.log.
# The access log records the pid of the worker that served each request:
# with reuseport at least 2 workers must have served (the kernel hashes 64
# connections over 2 or 4 sockets); for the others the count is printed
# (which worker accepts is up to the kernel's wake-ups, not asserted).
#
# Output ends with "result native ..." / "result uepoll ..."; exit 0 when
# both pass.  Takes about 1.5-3 min on 2 busy cores (both sides).
set -uo pipefail
PROG=workers.sh
SIDE=""
NS_SUMMARY="2/4 workers x accept_mutex off/on/reuseport: wrk 0 errors, sha256, fds, quit, log"
# shellcheck source=SCRIPTDIR/../lib/nginx_scenario.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/nginx_scenario.sh"

mkdir -p "$TMP/html"
head -c 1024 /dev/urandom >"$TMP/html/small.bin"
head -c $((2 * 1024 * 1024)) /dev/urandom >"$TMP/html/mid.bin"
chmod -R a+rX "$TMP/html"
WANT=$(sha256sum <"$TMP/html/mid.bin" | cut -d' ' -f1)

# one_setup SIDE WORKERS MODE: MODE off | on | reuseport.
one_setup() {
    local side=$1 n=$2 mode=$3 prefix="$TMP/$1-$2-$3" port mutex=off rp="" i served
    [[ $mode == on ]] && mutex=on
    [[ $mode == reuseport ]] && rp=" reuseport"
    port=$(pick_port)
    mkdir -p "$prefix"
    {
        ns_conf_head "$prefix" workers="$n" accept_mutex=$mutex \
            http="    log_format bypid '\$pid \$status \$body_bytes_sent';"
        cat <<CONF
    server {
        listen 127.0.0.1:$port$rp;
        root $TMP/html;
        access_log $prefix/logs/pid.log bypid;
    }
}
CONF
    } >"$prefix/nginx.conf"
    say "-- $n workers, $mode"
    ns_start "$prefix" "$n" "$port" || return
    ns_wrk "$n-$mode" -t2 -c64 -d4s "http://127.0.0.1:$port/small.bin" &&
        ((WRK_ERR == 0)) || problem "$n workers $mode: wrk: $WRK_ERR errors"
    for i in 1 2 3; do
        [[ $(fetch --fail "http://127.0.0.1:$port/mid.bin" | sha256sum | cut -d' ' -f1) == "$WANT" ]] ||
            problem "$n workers $mode: download $i: bad sha256"
    done
    ns_fds "$side" "$MASTER"
    ns_quit "$prefix" "$MASTER"
    served=$(cut -d' ' -f1 "$prefix/logs/pid.log" 2>/dev/null | sort -u | wc -l)
    say "$n workers $mode: $served distinct workers served ($(cut -d' ' -f1 "$prefix/logs/pid.log" | sort | uniq -c | awk '{printf "%s:%s ", $2, $1}'))"
    if [[ $mode == reuseport ]] && ((served < 2)); then
        problem "$n workers reuseport: only $served worker(s) served 64 connections"
    fi
    ns_log_problems "$prefix/logs/error.log"
}

side_checks() {
    local n mode
    for n in 2 4; do
        for mode in off on reuseport; do
            one_setup "$1" "$n" "$mode"
        done
    done
}

ns_main
