#!/usr/bin/env bash
# keepalive.sh - nginx with many idle keep-alive connections: req/s of the
# active ones, natively, on uepoll with tiers (the default) and on uepoll
# with UEPOLL_TIERS=0.  The case the tiers are for (docs/design.md,
# "Tiers"): every idle connection is a watched fd that, without tiers,
# every epoll_wait polls.
#
# Usage: integration/bench/keepalive.sh LIBRARY
#
#   LIBRARY   path of libuepoll.so (e.g. build/shim/libuepoll.so)
#
# For each backend: nginx (1 worker, worker_connections IDLE + 1000,
# access_log off) on 127.0.0.1; a Python client opens IDLE connections,
# sends one keep-alive request on each, reads the answer and holds them
# open, idle; then wrk -t1 -c50 -dSECONDS loads the same worker; the
# client closes its connections after.  Prints req/s per backend and the
# ratio to native.  Measurements, not checks: exit status 0 unless a
# backend failed to start or to serve.
#
# Environment: IDLE (default 10000), SECONDS_PER_RUN (default 10),
# NGINX (default nginx in PATH), UEPOLL_TIERS_DEMOTE_AFTER (passed on).
set -euo pipefail

PROG=${0##*/}
if [[ $# -ne 1 || $1 == -h || $1 == --help ]]; then
    sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"
    [[ $# -eq 1 && ($1 == -h || $1 == --help) ]] && exit 0
    exit 2
fi
LIB=$1
[[ $LIB == /* ]] || LIB="$PWD/$LIB"
[[ -f $LIB ]] || { echo "$PROG: library not found: $LIB" >&2; exit 2; }
IDLE=${IDLE:-10000}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-10}

# shellcheck source=SCRIPTDIR/../lib/nginx.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/nginx.sh"
for tool in "$NGINX" wrk python3 curl; do
    command -v "$tool" >/dev/null || { echo "$PROG: missing tool: $tool" >&2; exit 1; }
done
setup_tmp uepoll-keepalive

# Both nginx's worker and the client hold IDLE sockets.
ulimit -n "$(ulimit -Hn)"
(($(ulimit -n) > IDLE + 1100)) || { echo "$PROG: fd limit $(ulimit -n) too low for IDLE=$IDLE" >&2; exit 1; }

mkdir -p "$TMP/html"
echo "keepalive bench" >"$TMP/html/index.html"

# The client: IDLE connections, one request each, then idle until stdin
# closes.  Prints "ready N" once all have their answer.
cat >"$TMP/idle.py" <<'EOF'
import socket, sys
port, n = int(sys.argv[1]), int(sys.argv[2])
req = b"GET /index.html HTTP/1.1\r\nHost: localhost\r\nConnection: keep-alive\r\n\r\n"
socks = []
for i in range(n):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(req)
    socks.append(s)
ok = 0
for s in socks:
    data = b""
    while b"keepalive bench" not in data:
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    ok += b"200 OK" in data
print("ready", ok, flush=True)
sys.stdin.read()
EOF

declare -A RPS=()
run_one() { # NAME PRELOAD [ENV...]
    local name=$1 preload=$2 prefix="$TMP/$1" port master
    shift 2
    port=$(pick_port)
    nginx_write_config "$prefix" "$port" workers=1 access_log=off worker_connections=$((IDLE + 1000)) \
        error_level=warn
    (
        (($# == 0)) || export "$@"
        nginx_exec "$NGINX" "$prefix" "$preload"
    )
    wait_until 10 test -s "$prefix/nginx.pid" || { warn "$name: nginx did not start"; return 1; }
    master=$(cat "$prefix/nginx.pid")
    STOP_PIDS+=("$master")
    wait_until 10 port_open "$port" || { warn "$name: port $port not open"; return 1; }
    fetch --fail -o /dev/null "http://127.0.0.1:$port/index.html" || { warn "$name: GET failed"; return 1; }
    coproc IDLE_CLIENT { python3 "$TMP/idle.py" "$port" "$IDLE"; }
    local line
    read -r line <&"${IDLE_CLIENT[0]}"
    log "$name: idle client: $line"
    local out
    out=$(wrk -t1 -c50 -d"${SECONDS_PER_RUN}s" "http://127.0.0.1:$port/index.html")
    RPS[$name]=$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' <<<"$out")
    log "$name: $(grep -E 'Requests/sec|Non-2xx|Socket errors' <<<"$out" | tr -s ' ' | paste -sd ';')"
    exec {IDLE_CLIENT[1]}>&-
    wait "$IDLE_CLIENT_PID" || true
    stop_process "$master"
}

run_one native ""
run_one uepoll "$LIB"
run_one uepoll_notiers "$LIB" UEPOLL_TIERS=0

printf '\n%-16s %12s %10s\n' backend "req/s" "/native"
for b in native uepoll uepoll_notiers; do
    r=${RPS[$b]:-}
    ratio=-
    [[ -n $r && -n ${RPS[native]:-} && ${RPS[native]} -gt 0 ]] && ratio=$(awk -v a="$r" -v b="${RPS[native]}" 'BEGIN { printf "%.2f", a / b }')
    printf '%-16s %12s %10s\n' "$b" "${r:-fail}" "$ratio"
done
