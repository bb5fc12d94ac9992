#!/usr/bin/env bash
# nginx/aio.sh - nginx reading files in a thread pool (aio threads),
# natively then under the shim.  The worker learns of each finished read
# through its notify eventfd, watched with EPOLLET and read rarely: every
# completion must wake the event loop, or a download stalls.
#
# Usage: integration/nginx/aio.sh [LIBRARY]
#   LIBRARY  libuepoll.so (default: $UEPOLL_LIB, else build/shim/libuepoll.so)
#
# nginx (2 workers): thread_pool io threads=4; aio threads; sendfile off;
# output_buffers 2 32k (so a 20 MiB file takes some 320 thread reads); the
# files are 20 MiB and 1 MiB of random bytes.
#   - 8 parallel curl downloads of the 20 MiB file, sha256 each;
#   - 20 on one kept-alive connection, 10 pipelined (raw client), ranges;
#   - wrk -t2 -c16 for 5 s on the 1 MiB file, 0 errors;
#   - every download is bounded (60 s; a lost wake-up shows as a timeout);
#   - each worker has at least 5 tasks (itself and the pool's 4 threads);
#   - the workers' epoll fds, nginx -s quit, no [alert]/[crit]/[emerg]
#     nor shim line in error.log.
#
# Output ends with "result native ..." / "result uepoll ..."; exit 0 when
# both pass.  Takes about 1 min on 2 busy cores (both sides).
set -uo pipefail
PROG=aio.sh
SIDE=""
NS_SUMMARY="aio threads, sendfile off: 8 parallel 20 MiB, keepalive, pipeline, ranges, wrk"
# shellcheck source=SCRIPTDIR/../lib/nginx_scenario.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/nginx_scenario.sh"

mkdir -p "$TMP/html"
head -c $((20 * 1024 * 1024)) /dev/urandom >"$TMP/html/large.bin"
head -c $((1024 * 1024)) /dev/urandom >"$TMP/html/mid.bin"
chmod -R a+rX "$TMP/html"
WANT=$(sha256sum <"$TMP/html/large.bin" | cut -d' ' -f1)

side_checks() {
    local side=$1 prefix="$TMP/$1" port i
    port=$(pick_port)
    mkdir -p "$prefix"
    {
        ns_conf_head "$prefix" main="thread_pool io threads=4 max_queue=65536;"
        cat <<CONF
    server {
        listen 127.0.0.1:$port;
        root $TMP/html;
        sendfile off;
        aio threads=io;
        output_buffers 2 32k;
    }
}
CONF
    } >"$prefix/nginx.conf"
    ns_start "$prefix" 2 "$port" || return
    for i in 1 2 3 4 5 6 7 8; do
        (fetch --max-time 60 --fail "http://127.0.0.1:$port/large.bin" | sha256sum | cut -d' ' -f1 >"$TMP/dl.$i") &
    done
    wait
    for i in 1 2 3 4 5 6 7 8; do
        [[ $(<"$TMP/dl.$i") == "$WANT" ]] || problem "parallel download $i of 20 MiB: bad sha256 or timeout"
    done
    say "8 parallel downloads of 20 MiB checked"
    ns_client keepalive "$port" "$TMP/html" 20 /large.bin /mid.bin
    ns_client pipeline "$port" "$TMP/html" 10 /mid.bin /large.bin
    ns_client range "$port" "$TMP/html" /large.bin
    ns_wrk aio -t2 -c16 -d5s "http://127.0.0.1:$port/mid.bin" &&
        ((WRK_ERR == 0)) || problem "wrk: $WRK_ERR errors"
    ((WRK_REQ > 0)) || problem "wrk completed no request"
    # The pool's 4 threads are there: each worker has at least 5 tasks.
    local w tasks
    for w in $(ns_workers "$MASTER"); do
        tasks=$(find "/proc/$w/task" -mindepth 1 -maxdepth 1 | wc -l)
        say "worker $w: $tasks tasks"
        ((tasks >= 5)) || problem "worker $w has $tasks tasks: no thread pool"
    done
    ns_fds "$side" "$MASTER"
    ns_quit "$prefix" "$MASTER"
    ns_log_problems "$prefix/logs/error.log"
}

ns_main
