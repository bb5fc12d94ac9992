#!/usr/bin/env bash
# nginx/clients.sh - nginx against hard clients, natively then under the
# shim: 2,000 concurrent connections, clients that trickle their request
# one byte at a time, clients that abort mid-response (FIN and RST), and
# half-closed clients (shutdown(SHUT_WR) after the request: nginx sees
# EPOLLRDHUP and must still send the whole response).
#
# Usage: integration/nginx/clients.sh [LIBRARY]
#   LIBRARY  libuepoll.so (default: $UEPOLL_LIB, else build/shim/libuepoll.so)
#
# nginx: 2 workers, worker_connections 4096, worker_rlimit_nofile 10000
# (the script raises its own soft fd limit to 10000 first).  Files: 1 KiB,
# 4 MiB, 20 MiB of random bytes.  The raw clients
# (integration/nginx/http_client.py) check every byte:
#   - many: 2,000 connections open at once, 2 requests on each (keepalive);
#   - trickle: 20 clients, one byte per send every 20 ms;
#   - halfclose: 20 clients ask for the 1 KiB file, each gets it whole
#     then EOF; 20 more ask for the 4 MiB file: how many get it whole is
#     printed, not asserted (nginx aborts a response it is still writing
#     when it sees the client's FIN: ngx_http_test_reading finalizes it
#     with 499, natively too, so the count depends on timing);
#   - abort: 40 clients close after ~256 KiB of the 20 MiB file (20 FIN,
#     20 RST);
#   - then the workers' fd total is back to its count before the clients
#     (bounded wait, 60 s): no connection leaked; a curl download of the
#     20 MiB file is intact; the workers' epoll fds; nginx -s quit; no
#     [alert]/[crit]/[emerg] nor shim line in error.log.
#
# Output ends with "result native ..." / "result uepoll ..."; exit 0 when
# both pass.  Takes about 1-2 min on 2 busy cores (both sides).
set -uo pipefail
PROG=clients.sh
SIDE=""
NS_SUMMARY="2000 concurrent, trickle, half-close, abort; no fd leaked"
# shellcheck source=SCRIPTDIR/../lib/nginx_scenario.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/nginx_scenario.sh"

ulimit -n 10000 || { echo "$PROG: cannot raise the fd limit to 10000 (hard limit $(ulimit -Hn))" >&2; exit 1; }

mkdir -p "$TMP/html"
head -c 1024 /dev/urandom >"$TMP/html/small.bin"
head -c $((4 * 1024 * 1024)) /dev/urandom >"$TMP/html/mid.bin"
head -c $((20 * 1024 * 1024)) /dev/urandom >"$TMP/html/large.bin"
chmod -R a+rX "$TMP/html"
WANT=$(sha256sum <"$TMP/html/large.bin" | cut -d' ' -f1)

side_checks() {
    local side=$1 prefix="$TMP/$1" port before after pid
    local -a w
    port=$(pick_port)
    mkdir -p "$prefix"
    {
        ns_conf_head "$prefix" connections=4096 rlimit=10000
        cat <<CONF
    server {
        listen 127.0.0.1:$port backlog=4096;
        root $TMP/html;
    }
}
CONF
    } >"$prefix/nginx.conf"
    ns_start "$prefix" 2 "$port" || return
    fetch --fail -o /dev/null "http://127.0.0.1:$port/small.bin" || problem "first GET failed"
    read -ra w <<<"$(ns_workers "$MASTER")"
    # curl has closed its connection; the worker may not have
    # closed its end yet: a second to settle (the check after is <=).
    sleep 1
    before=$(ns_fd_total "${w[@]}")
    say "workers ${w[*]}: $before fds before the clients"
    ns_client many "$port" "$TMP/html" 2000 /small.bin
    ns_client trickle "$port" "$TMP/html" 20 0.02 /small.bin
    ns_client halfclose "$port" "$TMP/html" 20 all /small.bin
    ns_client halfclose "$port" "$TMP/html" 20 count /mid.bin
    ns_client abort "$port" 40 /large.bin 262144
    # shellcheck disable=SC2016 # expanded by eval
    if ! wait_until 60 eval '[[ $(ns_fd_total "${w[@]}") -le $before ]]'; then
        after=$(ns_fd_total "${w[@]}")
        problem "the workers hold $after fds 60 s after the clients left, $before before"
        for pid in "${w[@]}"; do
            echo "fds of worker $pid:" >&2
            find "/proc/$pid/fd" -mindepth 1 -maxdepth 1 -printf '    %f -> %l\n' 2>/dev/null | sort -n >&2
        done
    else
        say "workers back to $before fds"
    fi
    [[ $(fetch --fail "http://127.0.0.1:$port/large.bin" | sha256sum | cut -d' ' -f1) == "$WANT" ]] ||
        problem "GET of 20 MiB after the clients: bad sha256"
    ns_fds "$side" "$MASTER"
    ns_quit "$prefix" "$MASTER"
    ns_log_problems "$prefix/logs/error.log"
}

ns_main
