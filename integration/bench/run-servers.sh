#!/usr/bin/env bash
# run-servers.sh - real servers on native epoll, on uepoll and on poll(2).
#
# Usage: integration/bench/run-servers.sh LIBRARY
#
#   LIBRARY   path of libuepoll.so (e.g. build/shim/libuepoll.so)
#
# Configurations, all in this one run, one after the other, each for a
# bounded time, everything on 127.0.0.1:
#   nginx, 1 worker and 2 workers, serving a small static file, load from
#   wrk -tWRK_THREADS -cWRK_CONNECTIONS -dSECONDS_PER_RUN:
#     native   `use epoll;`, the kernel's epoll
#     uepoll   `use epoll;` with LD_PRELOAD=LIBRARY
#     poll     `use poll;`, nginx's own poll(2) backend, natively
#   Debian's nginx is built without the poll module. So that the three run
#   the same binary, the script builds nginx (same upstream version, from
#   Debian's source package, --with-poll_module) once into NGINX_BUILD_DIR
#   and runs all three on it ("nginx+poll"); Debian's own binary runs
#   native and uepoll too ("nginx-deb").
#   redis-server (--save "" --appendonly no), load from redis-benchmark -q
#   -n REDIS_REQUESTS -c REDIS_CLIENTS -t get,set: native and uepoll (redis
#   has no poll backend on Linux).
# Then it prints req/s per configuration with the ratios uepoll/native and
# uepoll/poll, and the peak RSS (VmHWM of each worker, read just before it
# is stopped; the largest worker's for 2 workers) natively and under uepoll.
#
# The numbers are measurements, not checks: on a 2-core machine the load
# generator and the server share the cores and runs vary by 10% or more
# (ROUNDS > 1 reports the median). Exit status: 0 when every configuration
# ran, 1 when one failed to start or to serve (the table says which).
#
# Environment:
#   SECONDS_PER_RUN  wrk duration per nginx configuration (default 10); also
#                    bounds each redis-benchmark (timeout 6x that + 30 s)
#   ROUNDS           run every configuration this many times, interleaved,
#                    and report the median req/s (default 1)
#   WRK_THREADS      (default 2)   WRK_CONNECTIONS (default 50)
#   REDIS_REQUESTS   (default 100000)   REDIS_CLIENTS (default 50)
#   ACCEPT_MUTEX     nginx's accept_mutex (default off, nginx's default: every
#                    worker watches the listening socket, with EPOLLEXCLUSIVE)
#   NGINX            Debian's nginx (default: nginx in PATH, else /usr/sbin/nginx)
#   NGINX_POLL       an nginx with the poll module to use instead of building one
#   NGINX_BUILD_DIR  where the poll-capable nginx is built and kept
#                    (default /tmp/uepoll-bench-nginx)
#   KEEP_TMP=1       keep the temp dir (configs, logs, wrk outputs)
# Missing packages (nginx-light, wrk, redis-server, redis-tools, curl) are
# installed with apt-get install -y, and only when missing.
set -euo pipefail

PROG=${0##*/}

if [[ $# -ne 1 || $1 == -h || $1 == --help ]]; then
    sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"
    [[ $# -eq 1 && ($1 == -h || $1 == --help) ]] && exit 0
    exit 2
fi
LIB=$1
[[ $LIB == /* ]] || LIB="$PWD/$LIB"
if [[ ! -f $LIB ]]; then
    echo "$PROG: library not found: $LIB" >&2
    exit 2
fi

SECONDS_PER_RUN=${SECONDS_PER_RUN:-10}
ROUNDS=${ROUNDS:-1}
WRK_THREADS=${WRK_THREADS:-2}
WRK_CONNECTIONS=${WRK_CONNECTIONS:-50}
REDIS_REQUESTS=${REDIS_REQUESTS:-100000}
REDIS_CLIENTS=${REDIS_CLIENTS:-50}
NGINX_BUILD_DIR=${NGINX_BUILD_DIR:-/tmp/uepoll-bench-nginx}
NGINX_POLL=${NGINX_POLL:-}
ACCEPT_MUTEX=${ACCEPT_MUTEX:-off}

# log, warn, fetch, setup_tmp/STOP_PIDS, stop_process, nginx_write_config,
# nginx_exec, check_worker_fds, bad_log_lines; also wait_until, alive,
# port_open, pick_port, children (process.sh).
# shellcheck source=SCRIPTDIR/../lib/nginx.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/nginx.sh"

# ------------------------------------------------------------- packages

ensure_packages() {
    local pkg status missing=()
    for pkg in nginx-light wrk redis-server redis-tools curl; do
        status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
        [[ $status == "install ok installed" ]] || missing+=("$pkg")
    done
    ((${#missing[@]})) || return 0
    log "installing missing packages: ${missing[*]}"
    local sudo=""
    if [[ $(id -u) -ne 0 ]]; then
        command -v sudo >/dev/null || { echo "$PROG: not root; install ${missing[*]}" >&2; exit 1; }
        sudo=sudo
    fi
    if ! DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends "${missing[@]}"; then
        $sudo apt-get update
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends "${missing[@]}"
    fi
}
ensure_packages

# NGINX: set by nginx.sh (nginx in PATH, else /usr/sbin/nginx).
for tool in "$NGINX" wrk redis-server redis-benchmark redis-cli curl python3 pgrep; do
    command -v "$tool" >/dev/null || { echo "$PROG: missing tool: $tool" >&2; exit 1; }
done

# ------------------------------------------------------ temp dir, cleanup

# TMP, removed on exit; the servers started here go into STOP_PIDS.
setup_tmp uepoll-servers

# ------------------------------------------------------------- helpers

count_children() {
    local -a c
    read -ra c <<<"$(children "$1")"
    echo "${#c[@]}"
}
vmhwm_kb() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status" 2>/dev/null || true; }
median() { # numbers... -> median (the lower middle for an even count)
    printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }'
}

# Results: key "row|backend" (row: "nginx-deb 1w", "redis SET", ...).
declare -A RPS_RUNS=() HWM=() FAILED=()
ROWS=()
add_row() {
    local r
    for r in "${ROWS[@]}"; do [[ $r == "$1" ]] && return 0; done
    ROWS+=("$1")
}
record() { # ROW BACKEND RPS [HWM]
    add_row "$1"
    RPS_RUNS[$1|$2]="${RPS_RUNS[$1|$2]:-} $3"
    if [[ -n ${4:-} ]] && ((${4} > ${HWM[$1|$2]:-0})); then HWM[$1|$2]=$4; fi
}
record_fail() { # ROW BACKEND WHY
    add_row "$1"
    FAILED[$1|$2]=1
    warn "$1 $2: $3"
}

# ---------------------------------------------------------------- nginx

mkdir -p "$TMP/html"
printf '<!doctype html>\n<title>uepoll</title>\n<p>uepoll server benchmark</p>\n' >"$TMP/html/index.html"
chmod -R a+rX "$TMP/html"

# write_nginx_config BIN PREFIX PORT WORKERS METHOD
write_nginx_config() {
    nginx_write_config "$2" "$3" bin="$1" workers="$4" method="$5" accept_mutex="$ACCEPT_MUTEX" \
        error_level=warn access_log=off default_type=text/html
}

N_RUN=0
# run_nginx LABEL BIN WORKERS BACKEND(native|uepoll|poll)
run_nginx() {
    local label=$1 bin=$2 workers=$3 backend=$4 row prefix master="" port w hwm=0 h out rps errs
    row="$label ${workers}w"
    N_RUN=$((N_RUN + 1))
    prefix="$TMP/run$N_RUN-${label}-${workers}w-$backend"
    local method=epoll preload=""
    [[ $backend != poll ]] || method=poll
    [[ $backend != uepoll ]] || preload="$LIB${LD_PRELOAD:+ $LD_PRELOAD}"
    port=$(pick_port)
    write_nginx_config "$bin" "$prefix" "$port" "$workers" "$method"
    log "$row $backend: $bin, use $method${preload:+, LD_PRELOAD=$preload}, 127.0.0.1:$port"
    if ! nginx_exec "$bin" "$prefix" "$preload" >"$prefix/logs/start.log" 2>&1; then
        cat "$prefix/logs/start.log" >&2
        record_fail "$row" "$backend" "nginx did not start"
        return 0
    fi
    if wait_until 10 test -s "$prefix/nginx.pid"; then
        master=$(<"$prefix/nginx.pid")
        STOP_PIDS+=("$master")
    fi
    # shellcheck disable=SC2016 # expanded by eval in wait_until
    if [[ -z $master ]] || ! wait_until 10 eval '[[ $(count_children $master) -eq $workers ]]' ||
        ! wait_until 10 port_open "$port" ||
        ! fetch --fail --max-time 5 -o /dev/null "http://127.0.0.1:$port/"; then
        record_fail "$row" "$backend" "nginx did not serve (tail of error.log below)"
        tail -n 5 "$prefix/logs/error.log" >&2 || true
    else
        if [[ $backend == uepoll ]]; then
            for w in $(children "$master"); do
                grep -qF "$LIB" "/proc/$w/maps" 2>/dev/null || warn "$row uepoll: worker $w does not map $LIB"
            done
        fi
        out="$prefix/wrk.out"
        if timeout $((SECONDS_PER_RUN + 30)) wrk -t"$WRK_THREADS" -c"$WRK_CONNECTIONS" -d"${SECONDS_PER_RUN}s" \
            "http://127.0.0.1:$port/" >"$out" 2>&1; then
            rps=$(awk '/^Requests\/sec:/ { print $2 }' "$out")
            errs=$(awk '/Socket errors:|Non-2xx/' "$out" | tr '\n' ' ')
            for w in $(children "$master"); do
                h=$(vmhwm_kb "$w")
                [[ -z $h ]] || ((h <= hwm)) || hwm=$h
            done
            if [[ -n $rps ]] && awk -v r="$rps" 'BEGIN { exit !(r > 0) }'; then
                record "$row" "$backend" "$rps" "$hwm"
                log "$row $backend: $rps req/s, worker VmHWM ${hwm} kB${errs:+ ($errs)}"
            else
                record_fail "$row" "$backend" "wrk measured no requests (${rps:-no output})"
                cat "$out" >&2
            fi
        else
            record_fail "$row" "$backend" "wrk failed"
            cat "$out" >&2
        fi
    fi
    if [[ -n $master ]] && alive "$master"; then
        local -a ws
        read -ra ws <<<"$(children "$master")"
        kill -QUIT "$master" 2>/dev/null || true
        wait_until 10 eval "! alive $master" || kill -KILL "$master" "${ws[@]}" 2>/dev/null || true
    fi
    if bad_log_lines "$prefix/logs/error.log" "$prefix/bad"; then
        warn "$row $backend: error.log has alert/crit/emerg lines:"
        head -n 3 "$prefix/bad" | sed 's/^/    /' >&2
    fi
}

# ---------------------------------------------------------------- redis

# run_redis BACKEND(native|uepoll)
run_redis() {
    local backend=$1 port pid prefix out hwm rset rget preload=()
    N_RUN=$((N_RUN + 1))
    prefix="$TMP/run$N_RUN-redis-$backend"
    mkdir -p "$prefix"
    [[ $backend != uepoll ]] || preload=("LD_PRELOAD=$LIB${LD_PRELOAD:+ $LD_PRELOAD}")
    port=$(pick_port)
    log "redis $backend: 127.0.0.1:$port${preload:+, ${preload[0]}}"
    (cd "$prefix" && exec env "${preload[@]}" redis-server --port "$port" --bind 127.0.0.1 --save "" \
        --appendonly no --daemonize no --dir "$prefix" --logfile "$prefix/redis.log") &
    pid=$!
    STOP_PIDS+=("$pid")
    if ! wait_until 10 eval "[[ \$(redis-cli -h 127.0.0.1 -p $port ping 2>/dev/null) == PONG ]]"; then
        record_fail "redis SET" "$backend" "redis-server did not answer PING"
        record_fail "redis GET" "$backend" "redis-server did not answer PING"
        tail -n 5 "$prefix/redis.log" >&2 || true
    else
        if [[ $backend == uepoll ]] && ! grep -qF "$LIB" "/proc/$pid/maps" 2>/dev/null; then
            warn "redis uepoll: redis-server does not map $LIB"
        fi
        out="$prefix/bench.out"
        if timeout $((SECONDS_PER_RUN * 6 + 30)) redis-benchmark -h 127.0.0.1 -p "$port" -q \
            -n "$REDIS_REQUESTS" -c "$REDIS_CLIENTS" -t get,set >"$out" 2>&1; then
            tr '\r' '\n' <"$out" >"$out.lines"
            rset=$(awk '/^SET: [0-9.]+ requests per second/ { v = $2 } END { print v }' "$out.lines")
            rget=$(awk '/^GET: [0-9.]+ requests per second/ { v = $2 } END { print v }' "$out.lines")
            hwm=$(vmhwm_kb "$pid")
            if [[ -n $rset ]]; then record "redis SET" "$backend" "$rset" "$hwm"; else record_fail "redis SET" "$backend" "no SET result"; fi
            if [[ -n $rget ]]; then record "redis GET" "$backend" "$rget" "$hwm"; else record_fail "redis GET" "$backend" "no GET result"; fi
            log "redis $backend: SET ${rset:--} req/s, GET ${rget:--} req/s, VmHWM ${hwm:--} kB"
        else
            record_fail "redis SET" "$backend" "redis-benchmark failed or timed out"
            record_fail "redis GET" "$backend" "redis-benchmark failed or timed out"
            tail -n 5 "$out" >&2 || true
        fi
    fi
    redis-cli -h 127.0.0.1 -p "$port" shutdown nosave >/dev/null 2>&1 || kill -TERM "$pid" 2>/dev/null || true
    wait_until 10 eval "! alive $pid" || kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

# ----------------------------------------------------------------- main

# The nginx binaries: LABEL=BIN BACKENDS...
NGINX_SETS=()
if supports_poll "$NGINX"; then
    NGINX_SETS+=("nginx|$NGINX|native uepoll poll")
else
    NGINX_SETS+=("nginx-deb|$NGINX|native uepoll")
    if [[ -z $NGINX_POLL ]]; then build_poll_nginx || true; fi
    if [[ -n $NGINX_POLL ]] && supports_poll "$NGINX_POLL"; then
        NGINX_SETS+=("nginx+poll|$NGINX_POLL|native uepoll poll")
    else
        warn "no nginx with the poll module: the poll column stays empty"
    fi
fi

log "$(uname -r), $(nproc) CPUs; $("$NGINX" -v 2>&1 | sed 's/^nginx version: //'); $(redis-server --version | cut -d' ' -f1-3)"
log "library $LIB; SECONDS_PER_RUN=$SECONDS_PER_RUN ROUNDS=$ROUNDS accept_mutex $ACCEPT_MUTEX;" \
    "wrk -t$WRK_THREADS -c$WRK_CONNECTIONS;" \
    "redis-benchmark -n $REDIS_REQUESTS -c $REDIS_CLIENTS"
START=$SECONDS
for ((round = 1; round <= ROUNDS; round++)); do
    ((ROUNDS == 1)) || log "==== round $round of $ROUNDS"
    for workers in 1 2; do
        for nginx_set in "${NGINX_SETS[@]}"; do
            IFS='|' read -r label bin backends <<<"$nginx_set"
            for backend in $backends; do
                run_nginx "$label" "$bin" "$workers" "$backend"
            done
        done
    done
    run_redis native
    run_redis uepoll
done

# ---------------------------------------------------------------- tables

cell() { # ROW BACKEND -> median req/s, "fail" or "-"
    local -a v
    if [[ -n ${RPS_RUNS[$1|$2]:-} ]]; then
        read -ra v <<<"${RPS_RUNS[$1|$2]}"
        median "${v[@]}"
    elif [[ -n ${FAILED[$1|$2]:-} ]]; then
        echo fail
    else
        echo -
    fi
}
ratio() { # A B -> A/B or -
    awk -v a="$1" -v b="$2" 'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "%.2f", a / b; else printf "-" }'
}

echo
echo "req/s (median of $ROUNDS round(s), ${SECONDS_PER_RUN}s per nginx run; redis -n $REDIS_REQUESTS -c $REDIS_CLIENTS)"
FMT='%-16s %12s %12s %12s %14s %12s\n'
# shellcheck disable=SC2059 # the format is ours
printf "$FMT" configuration native uepoll poll uepoll/native uepoll/poll
for row in "${ROWS[@]}"; do
    n=$(cell "$row" native) u=$(cell "$row" uepoll) p=$(cell "$row" poll)
    # shellcheck disable=SC2059
    printf "$FMT" "$row" "$n" "$u" "$p" "$(ratio "$u" "$n")" "$(ratio "$u" "$p")"
done

echo
echo "peak RSS: VmHWM in kB of the server process (nginx: its largest worker), just before it stopped"
FMT='%-16s %12s %12s %12s %14s\n'
# shellcheck disable=SC2059
printf "$FMT" configuration native uepoll poll uepoll-native
for row in "${ROWS[@]}"; do
    [[ $row != "redis GET" ]] || continue # the same server as SET
    label=${row/redis SET/redis}
    n=${HWM[$row|native]:--} u=${HWM[$row|uepoll]:--} p=${HWM[$row|poll]:--}
    d=-
    [[ $n == - || $u == - ]] || d=$((u - n))
    # shellcheck disable=SC2059
    printf "$FMT" "$label" "$n" "$u" "$p" "$d"
done
echo
log "done in $((SECONDS - START)) s"

if ((${#FAILED[@]})); then
    echo "$PROG: ${#FAILED[@]} configuration(s) failed: ${!FAILED[*]}" >&2
    exit 1
fi
