#!/usr/bin/env bash
# nginx/static.sh - static files through Debian's nginx, natively then
# under the shim: small and large files with sendfile on and off,
# keepalive, pipelining, HEAD, single and multi-range requests.
#
# Usage: integration/nginx/static.sh [LIBRARY]
#   LIBRARY  libuepoll.so (default: $UEPOLL_LIB, else build/shim/libuepoll.so)
#
# One nginx (2 workers, accept_mutex off: EPOLLEXCLUSIVE) with two servers,
# sendfile on (port A) and sendfile off (port B), over a 1 KiB and a 20 MiB
# random file.  On each port:
#   - curl GET of both files, sha256 equal to the file's;
#   - 20 requests on one kept-alive connection (both files in turn);
#   - 10 requests in ONE write on one connection (pipelined), 10 responses
#     in order, each body checked;
#   - HEAD: Content-Length, no body;
#   - ranges: 5 single ranges, one 4-part multi-range (multipart/byteranges),
#     an unsatisfiable one (416): every byte against the file;
#   - wrk 5 s on the small file and 4 parallel curl downloads of the large
#     one, 0 errors;
# then the workers' epoll fds are checked (the shim's under it), nginx -s
# quit, and error.log must hold no [alert]/[crit]/[emerg] nor shim line.
# The clients run natively; only nginx is preloaded.
#
# Output ends with "result native ..." / "result uepoll ..."; exit 0 when
# both pass.  Takes about 30-60 s on 2 busy cores (both sides).
set -uo pipefail
PROG=static.sh
SIDE=""
NS_SUMMARY="2 files x sendfile on/off: get, keepalive, pipeline, head, ranges, wrk"
# shellcheck source=SCRIPTDIR/../lib/nginx_scenario.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/nginx_scenario.sh"

mkdir -p "$TMP/html"
head -c 1024 /dev/urandom >"$TMP/html/small.bin"
head -c $((20 * 1024 * 1024)) /dev/urandom >"$TMP/html/large.bin"
chmod -R a+rX "$TMP/html"

side_checks() {
    local prefix="$TMP/$1" pa pb port f sum want i
    pa=$(pick_port)
    pb=$(pick_port)
    {
        ns_conf_head "$prefix"
        cat <<CONF
    server {
        listen 127.0.0.1:$pa;
        root $TMP/html;
        sendfile on;
    }
    server {
        listen 127.0.0.1:$pb;
        root $TMP/html;
        sendfile off;
    }
}
CONF
    } >"$prefix.conf.tmp"
    mkdir -p "$prefix"
    mv "$prefix.conf.tmp" "$prefix/nginx.conf"
    ns_start "$prefix" 2 "$pa" "$pb" || return
    for port in "$pa" "$pb"; do
        say "-- port $port (sendfile $([[ $port == "$pa" ]] && echo on || echo off))"
        for f in small.bin large.bin; do
            want=$(sha256sum <"$TMP/html/$f" | cut -d' ' -f1)
            sum=$(fetch --fail "http://127.0.0.1:$port/$f" | sha256sum | cut -d' ' -f1)
            [[ $sum == "$want" ]] && say "curl $f: sha256 ok" || problem "port $port: curl $f: sha256 $sum != $want"
        done
        ns_client keepalive "$port" "$TMP/html" 20 /small.bin /large.bin
        ns_client pipeline "$port" "$TMP/html" 10 /small.bin /large.bin
        ns_client head "$port" "$TMP/html" /large.bin
        ns_client range "$port" "$TMP/html" /large.bin
        ns_client range "$port" "$TMP/html" /small.bin
        ns_wrk "small-$port" -t2 -c20 -d5s "http://127.0.0.1:$port/small.bin" &&
            ((WRK_ERR == 0)) || problem "port $port: wrk small.bin: $WRK_ERR errors"
        for i in 1 2 3 4; do
            (fetch --fail "http://127.0.0.1:$port/large.bin" | sha256sum | cut -d' ' -f1 >"$TMP/par.$i") &
        done
        wait
        want=$(sha256sum <"$TMP/html/large.bin" | cut -d' ' -f1)
        for i in 1 2 3 4; do
            [[ $(<"$TMP/par.$i") == "$want" ]] || problem "port $port: parallel download $i: bad sha256"
        done
    done
    ns_fds "$1" "$MASTER"
    ns_quit "$prefix" "$MASTER"
    ns_log_problems "$prefix/logs/error.log"
}

ns_main
