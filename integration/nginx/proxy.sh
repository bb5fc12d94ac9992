#!/usr/bin/env bash
# nginx/proxy.sh - nginx as a reverse proxy to a second nginx with
# upstream keepalive, natively then under the shim (both nginx preloaded):
# non-blocking connects to the upstream (connect in progress, then
# EPOLLOUT), a request body written to the upstream (EPOLLOUT re-armed
# through EPOLL_CTL_MOD), kept-alive upstream connections reused, a
# refused upstream (502).
#
# Usage: integration/nginx/proxy.sh [LIBRARY]
#   LIBRARY  libuepoll.so (default: $UEPOLL_LIB, else build/shim/libuepoll.so)
#
# Upstream nginx U (2 workers): the files, /slow/ (limit_rate 2m), and
# /upload/ (WebDAV PUT: stores the body it reads, up to 16 MiB).
# Front nginx F (2 workers): `upstream back { server U; keepalive 16; }`,
# proxy_http_version 1.1, proxy_set_header Connection "".  Through F:
#   - curl GET of a 1 KiB and a 20 MiB file, sha256 equal to the file's;
#   - 4 parallel downloads of a 4 MiB file from /slow/ (the upstream
#     trickles it at 2 MiB/s), sha256;
#   - 3 PUTs of 8 MiB through F (buffered by F, then written to U), each
#     stored by U: status 201 and the stored file's sha256;
#   - the raw clients' keepalive (20 requests) and pipeline (10) checks;
#   - wrk -t2 -c32 for 5 s on the small file, 0 errors;
#   - GET /dead/ (an upstream port nothing listens on): 502;
#   - U's access log ($connection, $connection_requests): at least one
#     upstream connection carried more than one request (keepalive used);
#   - the workers' epoll fds of F and U, nginx -s quit of both, no
#     [alert]/[crit]/[emerg] nor shim line in either error.log (F's
#     "connect() failed (111: Connection refused)" for /dead/ is an
#     [error], expected).
#
# Output ends with "result native ..." / "result uepoll ..."; exit 0 when
# both pass.  Takes about 1-2 min on 2 busy cores (both sides).
set -uo pipefail
PROG=proxy.sh
SIDE=""
NS_SUMMARY="proxy with upstream keepalive: get, slow upstream, put, keepalive, pipeline, wrk, 502, reuse"
# shellcheck source=SCRIPTDIR/../lib/nginx_scenario.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/nginx_scenario.sh"

mkdir -p "$TMP/html/slow"
head -c 1024 /dev/urandom >"$TMP/html/small.bin"
head -c $((20 * 1024 * 1024)) /dev/urandom >"$TMP/html/large.bin"
head -c $((4 * 1024 * 1024)) /dev/urandom >"$TMP/html/slow/mid.bin"
head -c $((8 * 1024 * 1024)) /dev/urandom >"$TMP/body.bin"
chmod -R a+rX "$TMP/html"

sha() { sha256sum | cut -d' ' -f1; }

side_checks() {
    local side=$1 up="$TMP/$1-up" fr="$TMP/$1-front" pu pf pd f i want got maxreq conns reqs
    local um fm
    pu=$(pick_port)
    pf=$(pick_port)
    pd=$(pick_port) # nothing listens there
    mkdir -p "$up" "$fr"
    {
        ns_conf_head "$up" http="    log_format conn '\$connection \$connection_requests \$status \$request_length';"
        cat <<CONF
    server {
        listen 127.0.0.1:$pu;
        root $TMP/html;
        access_log $up/logs/conn.log conn;
        client_max_body_size 16m;
        location /slow/ { limit_rate 2m; }
        location /upload/ {
            # The body is read whole, then stored: its bytes can be checked.
            root $up/store;
            dav_methods PUT;
            create_full_put_path on;
            client_body_buffer_size 64k;
        }
    }
}
CONF
    } >"$up/nginx.conf"
    {
        ns_conf_head "$fr"
        cat <<CONF
    upstream back {
        server 127.0.0.1:$pu;
        keepalive 16;
    }
    server {
        listen 127.0.0.1:$pf;
        client_max_body_size 16m;
        location / {
            proxy_pass http://back;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
        location /dead/ {
            proxy_pass http://127.0.0.1:$pd;
        }
    }
}
CONF
    } >"$fr/nginx.conf"
    ns_start "$up" 2 "$pu" || return
    um=$MASTER
    ns_start "$fr" 2 "$pf" || return
    fm=$MASTER
    for f in small.bin large.bin; do
        want=$(sha <"$TMP/html/$f")
        got=$(fetch --fail "http://127.0.0.1:$pf/$f" | sha)
        [[ $got == "$want" ]] && say "GET $f through the proxy: sha256 ok" || problem "GET $f through the proxy: bad sha256"
    done
    want=$(sha <"$TMP/html/slow/mid.bin")
    for i in 1 2 3 4; do
        (fetch --max-time 60 --fail "http://127.0.0.1:$pf/slow/mid.bin" | sha >"$TMP/slow.$i") &
    done
    wait
    for i in 1 2 3 4; do
        [[ $(<"$TMP/slow.$i") == "$want" ]] || problem "slow upstream download $i: bad sha256"
    done
    say "4 parallel downloads from the rate-limited upstream checked"
    want=$(sha <"$TMP/body.bin")
    for i in 1 2 3; do
        got=$(fetch --max-time 60 -o /dev/null -w '%{http_code}' -T "$TMP/body.bin" \
            "http://127.0.0.1:$pf/upload/$i.bin") || true
        [[ $got == 201 ]] || problem "PUT $i of 8 MiB through the proxy: status '$got', expected 201"
        [[ -f $up/store/upload/$i.bin && $(sha <"$up/store/upload/$i.bin") == "$want" ]] ||
            problem "PUT $i: the upstream did not store the 8 MiB body intact"
    done
    say "3 PUTs of 8 MiB through the proxy stored intact by the upstream"
    ns_client keepalive "$pf" "$TMP/html" 20 /small.bin /large.bin
    ns_client pipeline "$pf" "$TMP/html" 10 /small.bin /slow/mid.bin
    ns_wrk proxy -t2 -c32 -d5s "http://127.0.0.1:$pf/small.bin" &&
        ((WRK_ERR == 0)) || problem "wrk through the proxy: $WRK_ERR errors"
    nginx_check_status "$side" "$pf" /dead/x 502 >/dev/null 2>&1 || problem "GET /dead/ (refused upstream) did not answer 502"
    ns_fds "$side" "$fm"
    ns_fds "$side" "$um"
    ns_quit "$fr" "$fm"
    ns_quit "$up" "$um"
    maxreq=$(awk '{ if ($2 > m) m = $2 } END { print m + 0 }' "$up/logs/conn.log")
    conns=$(awk '{ print $1 }' "$up/logs/conn.log" | sort -u | wc -l)
    reqs=$(wc -l <"$up/logs/conn.log")
    say "upstream: $reqs requests on $conns connections, at most $maxreq on one"
    ((maxreq > 1)) || problem "no upstream connection carried more than one request (keepalive unused)"
    ns_log_problems "$fr/logs/error.log"
    ns_log_problems "$up/logs/error.log"
}

ns_main
