#!/usr/bin/env bash
# run-all.sh - uepoll's benchmarks in one command: micro operations and
# nginx, on native epoll, on uepoll (LD_PRELOAD=LIBRARY) and on poll(2), in
# one run, written to a markdown table and gnuplot PNGs.
#
# Usage: integration/bench/run-all.sh [--env 'NAME=VALUE...']... [LIBRARY]
#
#   LIBRARY  the libuepoll.so to measure (default BUILD_DIR/shim/libuepoll.so,
#            built if missing).  Any build works: the benchmark programs link
#            no part of uepoll, the library comes in through LD_PRELOAD.
#   --env 'NAME=VALUE...'  one more uepoll column, run with LIBRARY and these
#            variables too, e.g. --env UEPOLL_TIERS=0 gives the column
#            "uepoll UEPOLL_TIERS=0".  Repeatable.
#
# Columns: native (the kernel's epoll), uepoll, each --env column, poll:
#   micro    uepoll-preload-bench (Google Benchmark, plain libc calls):
#            epoll_ctl ADD+DEL and MOD; epoll_wait(0) with 1 of 1, 100 of 100
#            and 10 of 19,000 watched fds ready; a ping-pong round trip over a
#            socketpair between two threads with 0/100/1000/10,000 idle
#            watched fds, both threads on one core and on two cores.  The
#            poll column is a plain poll(2) loop doing the same work (all fds
#            passed and scanned on every iteration).
#   servers  Debian's nginx (access_log off, a 69-byte page), wrk -t2 for
#            SECONDS_PER_RUN: 1 and 2 workers at c=10/100/1000; 1 worker at
#            c=10 while N idle keepalive connections (uepoll-idle-conns) are
#            held open.  The poll column is nginx's own `use poll` backend, on
#            an nginx of the same version built from Debian's source package
#            with --with-poll_module (build_poll_nginx in
#            integration/lib/nginx.sh; built once into NGINX_BUILD_DIR).
# Each round runs every work item on every column, the columns in an order
# that rotates from round to round (native first, then uepoll first, ...),
# so that slow phases of a loaded machine fall on all of them.
#
# Writes into OUT_DIR: results.md (date, machine, load averages, command,
# then one table per part: median per column, ratios uepoll/native and
# uepoll/poll, spread of the rounds), measurements.tsv (every round's
# value), rtt_idle_cpus{1,2}.dat, rps_idle.dat and the plots rtt_idle.png
# and rps_idle.png (gnuplot, integration/bench/plots.gp).  Prints each
# part's time and the table.  Exit status 1 when a run failed (results.md
# lists it), 2 on bad usage.
#
# Environment:
#   QUICK=1          smoke test: ROUNDS=1, MIN_TIME=0.05, SECONDS_PER_RUN=2
#                    (a few minutes in all)
#   ROUNDS           rounds (default 3)
#   MIN_TIME         Google Benchmark --benchmark_min_time, s (default 0.5)
#   SECONDS_PER_RUN  wrk duration per server run (default 5)
#   PARTS            "micro servers" (default) or one of them
#   CONNS            wrk connections of the plain server rows (default "10 100
#                    1000"; empty: none)
#   IDLE             idle keepalive connections of the idle rows (default
#                    "1000 5000 10000"; empty: none; the 0 point is the
#                    1 worker c=10 row)
#   OUT_DIR          default docs/bench of this tree
#   BUILD_DIR        where the programs are built (default build of this tree)
#   NGINX, NGINX_POLL, NGINX_BUILD_DIR   as for run-servers.sh
#   KEEP_TMP=1       keep the temp dir (JSON, nginx logs, wrk outputs)
# Missing packages (nginx, wrk, curl, gnuplot-nox) are installed with
# apt-get install -y, only when missing.
set -euo pipefail

PROG=${0##*/}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
CMDLINE="$0 $*"

usage() {
    sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"
    exit "$1"
}

EXTRA_ENVS=() # one entry per extra uepoll column: "NAME=VALUE ..."
LIB=""
while (($#)); do
    case $1 in
        -h | --help) usage 0 ;;
        --env)
            (($# >= 2)) || usage 2
            EXTRA_ENVS+=("$2")
            shift 2
            ;;
        --env=*)
            EXTRA_ENVS+=("${1#--env=}")
            shift
            ;;
        -*) usage 2 ;;
        *)
            [[ -z $LIB ]] || usage 2
            LIB=$1
            shift
            ;;
    esac
done

QUICK=${QUICK:-0}
if [[ $QUICK == 1 ]]; then
    ROUNDS=${ROUNDS:-1} MIN_TIME=${MIN_TIME:-0.05} SECONDS_PER_RUN=${SECONDS_PER_RUN:-2}
else
    ROUNDS=${ROUNDS:-3} MIN_TIME=${MIN_TIME:-0.5} SECONDS_PER_RUN=${SECONDS_PER_RUN:-5}
fi
PARTS=${PARTS:-micro servers}
CONNS=${CONNS-10 100 1000}
IDLE=${IDLE-1000 5000 10000}
OUT_DIR=${OUT_DIR:-$ROOT/docs/bench}
BUILD_DIR=${BUILD_DIR:-$ROOT/build}
NGINX_POLL=${NGINX_POLL:-}
WRK_THREADS=2

# log, warn, setup_tmp/STOP_PIDS, nginx_write_config, nginx_exec,
# build_poll_nginx, supports_poll; wait_until, alive, port_open, pick_port,
# children (process.sh).
# shellcheck source=SCRIPTDIR/../lib/nginx.sh
source "$HERE/../lib/nginx.sh"

# ------------------------------------------------------------- packages

ensure_packages() {
    local pkg status missing=() sudo=""
    for pkg in nginx wrk curl gnuplot-nox; do
        status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
        [[ $status == "install ok installed" ]] || missing+=("$pkg")
    done
    ((${#missing[@]})) || return 0
    log "installing missing packages: ${missing[*]}"
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

# ------------------------------------------------------------- programs

# The benchmark programs are built here whatever LIBRARY is: they do not
# contain uepoll.  The library is built only when none was given.
targets=(uepoll-preload-bench uepoll-idle-conns)
[[ -n $LIB ]] || targets+=(uepoll)
if [[ ! -f $BUILD_DIR/CMakeCache.txt ]]; then
    cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
cmake --build "$BUILD_DIR" -j"$(nproc)" --target "${targets[@]}" >/dev/null
BENCH=$BUILD_DIR/integration/bench/uepoll-preload-bench
IDLE_CONNS=$BUILD_DIR/integration/bench/uepoll-idle-conns
LIB=${LIB:-$BUILD_DIR/shim/libuepoll.so}
[[ $LIB == /* ]] || LIB="$PWD/$LIB"
[[ -f $LIB ]] || { echo "$PROG: library not found: $LIB" >&2; exit 2; }
[[ -x $BENCH && -x $IDLE_CONNS ]] || { echo "$PROG: $BENCH or $IDLE_CONNS not built" >&2; exit 1; }

# wrk at c=1000 and the idle client need many fds; children inherit this.
ulimit -n "$(ulimit -Hn)"

setup_tmp uepoll-bench-all
mkdir -p "$OUT_DIR"
# Every column measures this copy: a rebuild of LIBRARY during the run (other
# people build in the same tree) cannot change the library between columns.
LIB_GIVEN=$LIB
LIB=$TMP/lib/$(basename "$LIB_GIVEN")
mkdir -p "$TMP/lib"
cp "$LIB_GIVEN" "$LIB"
TSV=$TMP/measurements.tsv
: >"$TSV"
: >"$TMP/failures"

# ------------------------------------------------------------- columns

# COLS: column names in table order; ENV_OF[col]: its variables (besides
# LD_PRELOAD for the uepoll ones).
COLS=(native uepoll)
declare -A ENV_OF=([native]="" [uepoll]="" [poll]="")
for e in "${EXTRA_ENVS[@]}"; do
    COLS+=("uepoll $e")
    ENV_OF["uepoll $e"]=$e
done
COLS+=(poll)
RUN_COLS=("${COLS[@]:0:${#COLS[@]}-1}") # the micro runs: the poll loop runs in the native one

preload_of() { [[ $1 != uepoll* ]] || echo "$LIB${LD_PRELOAD:+ $LD_PRELOAD}"; }

# rotated ROUND COLS...: COLS starting at position ROUND-1 (mod count).
rotated() {
    local r=$1
    shift
    local -a cols=("$@")
    local n=${#cols[@]} i
    for ((i = 0; i < n; i++)); do echo "${cols[(i + r - 1) % n]}"; done
}

fail_run() { # WHAT
    echo "$*" >>"$TMP/failures"
    warn "$*"
}

# Under the library, an epoll fd must be uepoll's (an eventfd), not the
# kernel's: otherwise the uepoll column would measure native epoll.
check_intercepts() { # COL
    local kind
    # shellcheck disable=SC2046,SC2086 # ENV_OF holds NAME=VALUE words
    kind=$(env LD_PRELOAD="$(preload_of "$1")" ${ENV_OF[$1]} python3 -c \
        'import os, select; e = select.epoll(); print(os.readlink("/proc/self/fd/%d" % e.fileno()))')
    if [[ $kind == "anon_inode:[eventpoll]" ]]; then
        echo "$PROG: column '$1': LD_PRELOAD=$LIB does not take over epoll (epoll fd is $kind)" >&2
        exit 1
    fi
}
for col in "${RUN_COLS[@]}"; do [[ $col == native ]] || check_intercepts "$col"; done

# ------------------------------------------------------------- header

loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
join() { # SEP ITEMS...: the items, SEP between them
    local sep=$1 out=$2
    shift 2
    for x in "$@"; do out+="$sep$x"; done
    echo "$out"
}
LOADS=()
PART_TIMES=()
lib_id() { echo "$(sha256sum "$LIB" | cut -c1-12), built $(date -u -r "$LIB_GIVEN" '+%Y-%m-%d %H:%M UTC')"; }
LIB_ID=$(lib_id)

# ------------------------------------------------------------- micro

run_micro() {
    local r col i=0 json preload
    for ((r = 1; r <= ROUNDS; r++)); do
        while read -r col; do
            i=$((i + 1))
            json=$TMP/micro-$i.json
            preload=$(preload_of "$col")
            local -a args=(--benchmark_min_time="$MIN_TIME" --benchmark_out="$json" --benchmark_out_format=json)
            [[ $col == native ]] || args+=(--benchmark_filter=/epoll/)
            log "micro round $r/$ROUNDS: $col (load $(loadavg))"
            # shellcheck disable=SC2086 # ENV_OF holds NAME=VALUE words
            if ! env ${preload:+LD_PRELOAD="$preload"} ${ENV_OF[$col]} "$BENCH" "${args[@]}" \
                >"$TMP/micro-$i.out" 2>&1; then
                fail_run "micro round $r $col: uepoll-preload-bench failed (tail below)"
                tail -n 5 "$TMP/micro-$i.out" >&2
                continue
            fi
            python3 "$HERE/report.py" micro-tsv "$json" "$col" "$r" >>"$TSV"
        done < <(rotated "$r" "${RUN_COLS[@]}")
    done
}

# ------------------------------------------------------------- servers

# A worker may not raise its fd limit past the hard one (without
# CAP_SYS_RESOURCE nginx logs an [alert] and keeps the old limit), so the
# worker's limit is the hard one and its connections fit under it.
NOFILE_HARD=$(ulimit -Hn)
[[ $NOFILE_HARD != unlimited ]] || NOFILE_HARD=65536
WORKER_CONNECTIONS=$((NOFILE_HARD - 1000))
SRV_N=0

# run_server LABEL WORKERS CONNS IDLE COL ROUND: one nginx run, its req/s
# appended to TSV.
run_server() {
    local label=$1 workers=$2 conns=$3 idle=$4 col=$5 r=$6
    local bin=$NGINX method=epoll preload prefix port master="" w out rps errs idle_pid="" names="" kv
    SRV_N=$((SRV_N + 1))
    prefix=$TMP/srv-$SRV_N
    if [[ $col == poll ]]; then
        [[ -n $NGINX_POLL ]] || return 0
        bin=$NGINX_POLL method=poll
    fi
    preload=$(preload_of "$col")
    for kv in ${ENV_OF[$col]}; do names+=" ${kv%%=*}"; done
    port=$(pick_port)
    nginx_write_config "$prefix" "$port" bin="$bin" workers="$workers" method="$method" \
        error_level=warn access_log=off default_type=text/html keepalive_timeout=600 \
        worker_connections=$WORKER_CONNECTIONS worker_rlimit_nofile="$NOFILE_HARD" env="$names"
    log "$label round $r/$ROUNDS: $col (load $(loadavg))"
    # shellcheck disable=SC2086 # ENV_OF holds NAME=VALUE words
    if ! (for kv in ${ENV_OF[$col]}; do export "${kv?}"; done
        nginx_exec "$bin" "$prefix" "$preload") >"$prefix/start.log" 2>&1; then
        fail_run "$label $col round $r: nginx did not start: $(head -c 300 "$prefix/start.log")"
        return 0
    fi
    if wait_until 10 test -s "$prefix/nginx.pid"; then
        master=$(<"$prefix/nginx.pid")
        STOP_PIDS+=("$master")
    fi
    # shellcheck disable=SC2016 # expanded by eval in wait_until
    if [[ -z $master ]] || ! wait_until 10 eval '[[ $(count_words $(children $master)) -eq $workers ]]' ||
        ! wait_until 10 port_open "$port" || ! fetch --fail -o /dev/null "http://127.0.0.1:$port/"; then
        fail_run "$label $col round $r: nginx did not serve ($(tail -n 2 "$prefix/logs/error.log" 2>/dev/null | tr '\n' ' '))"
    else
        if [[ $col == uepoll* ]]; then
            for w in $(children "$master"); do
                grep -qF "$LIB" "/proc/$w/maps" 2>/dev/null || fail_run "$label $col round $r: worker $w does not map $LIB"
            done
        fi
        if ((idle > 0)); then
            "$IDLE_CONNS" "$port" "$idle" >"$prefix/idle.out" 2>&1 &
            idle_pid=$!
            if ! wait_until 300 grep -qs '^idle-conns: ready' "$prefix/idle.out"; then
                fail_run "$label $col round $r: $idle idle connections not set up: $(tail -n 1 "$prefix/idle.out")"
                kill "$idle_pid" 2>/dev/null || true
                wait "$idle_pid" 2>/dev/null || true
                idle_pid=""
            fi
        fi
        if ((idle == 0)) || [[ -n $idle_pid ]]; then
            out=$prefix/wrk.out
            if timeout $((SECONDS_PER_RUN + 60)) wrk -t"$WRK_THREADS" -c"$conns" -d"${SECONDS_PER_RUN}s" \
                "http://127.0.0.1:$port/" >"$out" 2>&1; then
                rps=$(awk '/^Requests\/sec:/ { print $2 }' "$out")
                errs=$(awk '/Socket errors:|Non-2xx/' "$out" | tr '\n' ' ')
                if [[ -n $rps ]] && awk -v x="$rps" 'BEGIN { exit !(x > 0) }'; then
                    printf 'servers\t%s\t%s\t%s\t%s\n' "$label" "$col" "$r" "$rps" >>"$TSV"
                    log "$label $col: $rps req/s${errs:+ (wrk: $errs)}"
                    [[ -z $errs ]] || echo "$label $col round $r: wrk reported $errs" >>"$TMP/wrk-errors"
                else
                    fail_run "$label $col round $r: wrk measured no requests"
                fi
            else
                fail_run "$label $col round $r: wrk failed: $(tail -n 2 "$out" | tr '\n' ' ')"
            fi
        fi
        if [[ -n $idle_pid ]]; then
            kill "$idle_pid" 2>/dev/null || true
            wait "$idle_pid" 2>/dev/null || true
        fi
    fi
    if [[ -n $master ]] && alive "$master"; then
        local -a ws
        read -ra ws <<<"$(children "$master")"
        kill -QUIT "$master" 2>/dev/null || true
        wait_until 15 eval "! alive $master" || kill -KILL "$master" "${ws[@]}" 2>/dev/null || true
    fi
    if bad_log_lines "$prefix/logs/error.log" "$prefix/bad"; then
        fail_run "$label $col round $r: error.log: $(head -n 1 "$prefix/bad")"
    fi
}

run_servers() {
    local r work col workers conns idle label max_idle=0
    for idle in $IDLE; do ((idle <= max_idle)) || max_idle=$idle; done
    if ((max_idle + 1100 > WORKER_CONNECTIONS)); then
        echo "$PROG: IDLE up to $max_idle needs a hard fd limit above $((max_idle + 2100)) (ulimit -Hn is $NOFILE_HARD)" >&2
        exit 2
    fi
    if [[ -z $NGINX_POLL ]] && ! supports_poll "$NGINX"; then
        build_poll_nginx || true
    fi
    [[ -n $NGINX_POLL ]] || { supports_poll "$NGINX" && NGINX_POLL=$NGINX; } || true
    if [[ -z $NGINX_POLL ]] || ! supports_poll "$NGINX_POLL"; then
        fail_run "no nginx with the poll module: the servers' poll column is empty"
        NGINX_POLL=""
    fi
    mkdir -p "$TMP/html"
    printf '<!doctype html>\n<title>uepoll</title>\n<p>uepoll server benchmark</p>\n' >"$TMP/html/index.html"
    chmod -R a+rX "$TMP/html"
    # Work items: "WORKERS CONNS IDLE".
    local -a works=()
    for workers in 1 2; do
        for conns in $CONNS; do works+=("$workers $conns 0"); done
    done
    for idle in $IDLE; do works+=("1 10 $idle"); done
    for ((r = 1; r <= ROUNDS; r++)); do
        for work in "${works[@]}"; do
            read -r workers conns idle <<<"$work"
            label="nginx ${workers}w c=$conns"
            ((idle == 0)) || label+=", $idle idle"
            while read -r col; do
                run_server "$label" "$workers" "$conns" "$idle" "$col" "$r"
            done < <(rotated "$r" "${COLS[@]}")
        done
    done
}

# ------------------------------------------------------------- main

log "library $LIB_GIVEN ($LIB_ID, measured as a copy); columns: ${COLS[*]}"
log "ROUNDS=$ROUNDS MIN_TIME=$MIN_TIME SECONDS_PER_RUN=$SECONDS_PER_RUN PARTS='$PARTS'; $(nproc) CPUs, load $(loadavg)"
START_DATE=$(date -u '+%Y-%m-%d %H:%M UTC')
for part in $PARTS; do
    case $part in
        micro | servers) ;;
        *) echo "$PROG: unknown part $part" >&2; exit 2 ;;
    esac
    t0=$SECONDS
    LOADS+=("before $part: $(loadavg)")
    "run_$part"
    PART_TIMES+=("$part $((SECONDS - t0)) s")
    LOADS+=("after $part: $(loadavg)")
    log "$part took $((SECONDS - t0)) s"
done

# The header of results.md: what ran, where, when, under what load.
{
    echo "# uepoll benchmarks ($( [[ $QUICK == 1 ]] && echo "quick mode" || echo "full mode"))"
    echo
    echo "Generated by \`integration/bench/run-all.sh\`; do not edit by hand."
    echo
    echo "- date: $START_DATE, parts took: $(join ', ' "${PART_TIMES[@]}")"
    echo "- command: \`QUICK=$QUICK ROUNDS=$ROUNDS MIN_TIME=$MIN_TIME SECONDS_PER_RUN=$SECONDS_PER_RUN PARTS='$PARTS' $CMDLINE\`"
    echo "- library: \`$LIB_GIVEN\` (sha256 $LIB_ID; a copy taken at the start was measured); benchmark tree at commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')"
    echo "- machine: $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')), Linux $(uname -r), $(. /etc/os-release && echo "$PRETTY_NAME")"
    echo "- load averages (1, 5, 15 min): $(join '; ' "${LOADS[@]}")"
    echo "- $("$NGINX" -v 2>&1 | sed 's/^nginx version: //') (native, uepoll columns), poll column: ${NGINX_POLL:-none}; $(wrk -v 2>&1 | head -n1 | cut -d' ' -f1-2)"
    echo "- servers: wrk -t$WRK_THREADS for ${SECONDS_PER_RUN}s per run, a 69-byte page, access_log off, accept_mutex off; idle rows: 1 worker, c=10, N idle keepalive connections from uepoll-idle-conns"
    echo "- micro: uepoll-preload-bench, --benchmark_min_time=$MIN_TIME, wall-clock time per operation"
    echo "- plots: [rtt_idle.png](rtt_idle.png), [rps_idle.png](rps_idle.png); every round's value: [measurements.tsv](measurements.tsv)"
} >"$TMP/header.md"

{
    echo "# every measurement of run-all.sh ($START_DATE): part, work, column, round, value (micro: ns per operation; servers: req/s)"
    cat "$TSV"
} >"$OUT_DIR/measurements.tsv"
python3 "$HERE/report.py" report "$TSV" "$OUT_DIR" "${COLS[@]}" --header "$TMP/header.md"
if [[ -s $TMP/failures || -s ${TMP}/wrk-errors ]]; then
    {
        echo "## Failed runs, error.log alerts and wrk errors"
        echo
        cat "$TMP/failures" "$TMP/wrk-errors" 2>/dev/null | sed 's/^/- /'
    } >>"$OUT_DIR/results.md"
fi
if command -v gnuplot >/dev/null; then
    gnuplot -e "dir='$OUT_DIR'" "$HERE/plots.gp" || warn "gnuplot failed"
else
    warn "no gnuplot: no PNGs"
fi

echo
cat "$OUT_DIR/results.md"
echo
log "wrote $OUT_DIR/results.md, measurements.tsv, *.dat, *.png; parts: ${PART_TIMES[*]}"
if [[ -s $TMP/failures ]]; then
    echo "$PROG: $(wc -l <"$TMP/failures") run(s) failed (listed above)" >&2
    exit 1
fi
