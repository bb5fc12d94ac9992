#!/usr/bin/env bash
# run-main.sh - the main integration job: nginx on native epoll, then on uepoll.
#
# Usage: integration/nginx/run-main.sh [--quick] [LIBRARY]
#
#   LIBRARY   path of libuepoll.so (default: $UEPOLL_LIB). When it is empty
#             only the native half runs and the script exits 2 ("skipped").
#   --quick   WRK_SECONDS=2
#
# The same nginx (2 workers, accept_mutex off so the listening socket is
# watched with EPOLLEXCLUSIVE, `use epoll`) runs twice in sequence, first on
# the kernel's epoll, then with LIBRARY in LD_PRELOAD. Each run:
#   1. nginx -t on the generated config;
#   2. start (daemon on, pid file in the temp dir), wait for the master, its
#      2 workers and the port;
#   3. curl / and a 1 MiB file (each must equal its file byte for byte);
#   4. wrk for WRK_SECONDS, recording req/s, transfer/s and errors;
#   5. look at the workers' fds: natively each has an anon_inode:[eventpoll];
#      under the shim none has one, each has an anon_inode:[eventfd] and maps
#      LIBRARY (the workers run as the master's user, so that their fds and
#      maps can be read in a container too; one that cannot be read fails);
#   6. nginx -s reload: wait until a new set of workers serves (and check
#      their fds again);
#   7. nginx -s quit, wait (bounded) for the master to exit;
#   8. error.log must have no [alert], [crit] or [emerg] line.
# Then it prints a table with both runs and the ratio uepoll/native.
#
# Exit status: 0 all passed; 1 something failed (each failure is printed,
# with the tail of error.log); 2 native passed and the shim half was skipped
# because LIBRARY is empty.
#
# Environment:
#   UEPOLL_LIB       library when no LIBRARY argument is given
#   WRK_SECONDS      wrk duration per run (default 5; 2 with --quick)
#   WRK_THREADS      wrk threads (default 2)
#   WRK_CONNECTIONS  wrk connections (default 50)
#   WRK_MAX_ERRORS   wrk socket errors + non-2xx/3xx responses tolerated
#                    per run (default 0)
#   NGINX            nginx binary (default: nginx in PATH, else /usr/sbin/nginx)
#   KEEP_TMP=1       keep the temp dir (configs, logs) instead of removing it
#
# Everything listens on 127.0.0.1 only.
set -eEuo pipefail

PROG=${0##*/}

# ---------------------------------------------------------------- arguments

usage() {
    sed -n '2,/^set -eEuo/{/^set -eEuo/d;s/^# \{0,1\}//;p}' "$0"
}

lib_given=0
LIB=""
while [[ $# -gt 0 ]]; do
    case "$1" in
        --quick) WRK_SECONDS=2 ;;
        -h | --help) usage; exit 0 ;;
        --) shift; break ;;
        -?*) echo "$PROG: unknown option '$1'" >&2; exit 1 ;;
        *)
            if ((lib_given)); then
                echo "$PROG: more than one library argument" >&2
                exit 1
            fi
            LIB=$1
            lib_given=1
            ;;
    esac
    shift
done
if [[ $# -gt 0 ]]; then
    ((lib_given == 0)) || { echo "$PROG: more than one library argument" >&2; exit 1; }
    LIB=$1
    lib_given=1
fi
# An explicit argument wins, even an empty one.
((lib_given)) || LIB=${UEPOLL_LIB:-}

WRK_SECONDS=${WRK_SECONDS:-5}
WRK_THREADS=${WRK_THREADS:-2}
WRK_CONNECTIONS=${WRK_CONNECTIONS:-50}
WRK_MAX_ERRORS=${WRK_MAX_ERRORS:-0}
WORKERS=2 # worker_processes in the config below

# log, fail, fetch, setup_tmp/STOP_PIDS, nginx_write_config, nginx_exec,
# check_worker_fds, ...; also wait_until, alive, port_open, pick_port,
# children (process.sh).
# shellcheck source=SCRIPTDIR/../lib/nginx.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/nginx.sh"

# workers MASTER: the pids of MASTER's children, space separated, sorted.
workers() { children "$1"; }

# count_workers MASTER
count_workers() {
    # shellcheck disable=SC2046 # one word per pid
    count_words $(workers "$1")
}

# ------------------------------------------------------ temp dir and cleanup

# TMP, removed on exit; the masters started here go into STOP_PIDS.
setup_tmp uepoll-nginx
trap 'echo "[$PROG] unexpected error at line $LINENO: $BASH_COMMAND" >&2' ERR

# ---------------------------------------------------------------- preflight

for tool in "$NGINX" curl wrk python3 pgrep cmp; do
    if ! command -v "$tool" >/dev/null; then
        echo "$PROG: missing tool: $tool (run scripts/setup-deps.sh)" >&2
        exit 1
    fi
done

if [[ -n $LIB ]]; then
    [[ $LIB == /* ]] || LIB="$PWD/$LIB"
    if [[ ! -f $LIB ]]; then
        echo "$PROG: library not found: $LIB" >&2
        exit 1
    fi
fi

# ------------------------------------------------------------ document root

# index.html: known content (with a random token, so a stale server on the
# same port cannot pass); big.bin: 1 MiB of random bytes.
mkdir -p "$TMP/html"
printf '<!doctype html>\n<title>uepoll</title>\n<p>uepoll nginx integration %s</p>\n' \
    "$(od -An -N8 -tx8 /dev/urandom | tr -d ' ')" >"$TMP/html/index.html"
head -c 1048576 /dev/urandom >"$TMP/html/big.bin"
chmod -R a+rX "$TMP/html"

# write_config PREFIX PORT: nginx.conf for one run, all paths under PREFIX.
write_config() { nginx_write_config "$1" "$2" workers=$WORKERS; }

# ------------------------------------------------------------ one backend

# Results per backend, for the table.
declare -A RPS XFER ERRS STATUS

# nginx_cmd PREFIX ARGS...: nginx with this run's config and environment
# (PRELOAD is set by run_backend).
nginx_cmd() {
    local prefix=$1
    shift
    nginx_exec "$NGINX" "$prefix" "$PRELOAD" "$@"
}

# check_fds NAME MASTER: the epoll fds of the workers are the right kind
# (natively the kernel's, under the shim the shim's).
check_fds() {
    local lib=$LIB
    [[ $1 != native ]] || lib=""
    # shellcheck disable=SC2046 # one word per pid
    check_worker_fds "$1" "$lib" $(workers "$2")
}

# check_content NAME PORT: index.html byte for byte, and the 1 MiB big.bin.
check_content() {
    nginx_check_get "$1" "$2" / "$TMP/html/index.html" &&
        nginx_check_get "$1" "$2" /big.bin "$TMP/html/big.bin"
}

# run_wrk NAME PORT: load for WRK_SECONDS; fills RPS, XFER, ERRS.
run_wrk() {
    local name=$1 port=$2 out="$TMP/$1.wrk" sock non2xx errors
    log "$name: wrk -t$WRK_THREADS -c$WRK_CONNECTIONS -d${WRK_SECONDS}s"
    if ! timeout $((WRK_SECONDS + 30)) wrk -t"$WRK_THREADS" -c"$WRK_CONNECTIONS" \
        -d"${WRK_SECONDS}s" "http://127.0.0.1:$port/" >"$out" 2>&1; then
        cat "$out" >&2
        fail "$name: wrk failed"
        return 1
    fi
    sed 's/^/    /' "$out"
    RPS[$name]=$(awk '/^Requests\/sec:/ { print $2 }' "$out")
    XFER[$name]=$(awk '/^Transfer\/sec:/ { print $2 }' "$out")
    # "Socket errors: connect 0, read 0, write 0, timeout 0"
    sock=$(awk '/Socket errors:/ { gsub(",", ""); print $4 + $6 + $8 + $10 }' "$out")
    # "Non-2xx or 3xx responses: N"
    non2xx=$(awk '/Non-2xx or 3xx responses:/ { print $5 }' "$out")
    errors=$((${sock:-0} + ${non2xx:-0}))
    ERRS[$name]=$errors
    if [[ -z ${RPS[$name]} ]] || awk -v r="${RPS[$name]}" 'BEGIN { exit !(r <= 0) }'; then
        fail "$name: wrk measured no requests"
        return 1
    fi
    if ((errors > WRK_MAX_ERRORS)); then
        fail "$name: wrk saw $errors errors (socket ${sock:-0}, non-2xx/3xx ${non2xx:-0}; WRK_MAX_ERRORS=$WRK_MAX_ERRORS)"
        return 1
    fi
}

# start_nginx NAME PREFIX: starts, waits for master, workers and port; sets
# MASTER and PORT. Retries with another port if the picked one got taken.
start_nginx() {
    local name=$1 prefix=$2 attempt
    for attempt in 1 2 3; do
        PORT=$(pick_port)
        write_config "$prefix" "$PORT"
        if ! nginx_cmd "$prefix" -t -q; then
            fail "$name: nginx -t rejected the config"
            return 1
        fi
        rm -f "$prefix/nginx.pid"
        if nginx_cmd "$prefix"; then
            break
        fi
        if grep -q 'Address already in use' "$prefix/logs/error.log" 2>/dev/null &&
            ((attempt < 3)); then
            log "$name: port $PORT taken meanwhile, picking another"
            continue
        fi
        fail "$name: nginx did not start"
        return 1
    done
    if ! wait_until 10 test -s "$prefix/nginx.pid"; then
        fail "$name: no pid file after 10 s"
        return 1
    fi
    MASTER=$(<"$prefix/nginx.pid")
    STOP_PIDS+=("$MASTER")
    # shellcheck disable=SC2016 # expanded by eval in wait_until
    if ! wait_until 10 eval '[[ $(count_workers $MASTER) -eq $WORKERS ]]'; then
        fail "$name: master $MASTER has $(count_workers "$MASTER") workers after 10 s, expected $WORKERS"
        return 1
    fi
    if ! wait_until 10 port_open "$PORT"; then
        fail "$name: port $PORT not accepting after 10 s"
        return 1
    fi
    log "$name: nginx master $MASTER, workers $(workers "$MASTER"), 127.0.0.1:$PORT"
}

# reload_nginx NAME PREFIX: nginx -s reload, then wait until WORKERS new
# workers (none of the old ones) are there and serve.
reload_nginx() {
    local name=$1 prefix=$2 old new
    old=$(workers "$MASTER")
    if ! nginx_cmd "$prefix" -s reload; then
        fail "$name: nginx -s reload failed"
        return 1
    fi
    # shellcheck disable=SC2016 # expanded by eval in wait_until
    if ! wait_until 15 eval 'new=$(workers $MASTER); [[ $(count_workers $MASTER) -eq $WORKERS ]] && ! grep -qwFf <(tr " " "\n" <<<"$old") <<<"$new"'; then
        fail "$name: after reload the workers are '$(workers "$MASTER")' (before: '$old')"
        return 1
    fi
    new=$(workers "$MASTER")
    log "$name: reloaded, workers $old -> $new"
    if ! alive "$MASTER"; then
        fail "$name: master $MASTER died on reload"
        return 1
    fi
    check_content "$name" "$PORT"
}

# quit_nginx NAME PREFIX: graceful stop, master gone within 10 s.
quit_nginx() {
    local name=$1 prefix=$2
    if ! nginx_cmd "$prefix" -s quit; then
        fail "$name: nginx -s quit failed"
        return 1
    fi
    if ! wait_until 10 eval "! alive $MASTER"; then
        fail "$name: master $MASTER still running 10 s after nginx -s quit"
        return 1
    fi
    log "$name: master $MASTER exited"
}

# run_backend NAME: the whole sequence for one backend ("native" or
# "uepoll"). Records failures; always returns 0.
run_backend() {
    local name=$1 prefix="$TMP/$1" nfail=${#FAILURES[@]}
    MASTER="" PORT=""
    if [[ $name == native ]]; then PRELOAD=""; else PRELOAD="$LIB${LD_PRELOAD:+ $LD_PRELOAD}"; fi
    log "==== $name${PRELOAD:+ (LD_PRELOAD=$PRELOAD)}"
    RPS[$name]="-" XFER[$name]="-" ERRS[$name]="-"

    if start_nginx "$name" "$prefix" &&
        check_content "$name" "$PORT" &&
        { run_wrk "$name" "$PORT" || true; } &&
        { check_fds "$name" "$MASTER" || true; } &&
        reload_nginx "$name" "$prefix" &&
        { check_fds "$name" "$MASTER" || true; }; then
        quit_nginx "$name" "$prefix" || true
    fi

    if bad_log_lines "$prefix/logs/error.log" "$TMP/$name.bad"; then
        fail "$name: error.log has alert/crit/emerg lines:"
        sed 's/^/    /' "$TMP/$name.bad" >&2
    fi

    if ((${#FAILURES[@]} > nfail)); then
        STATUS[$name]=FAIL
        show_log "$prefix/logs/error.log"
    else
        STATUS[$name]=ok
    fi
    # Whatever happened, this run's nginx is gone before the next starts.
    [[ -z $MASTER ]] || stop_process "$MASTER"
}

# -------------------------------------------------------------------- main

log "nginx: $("$NGINX" -v 2>&1 | sed 's/^nginx version: //'); wrk ${WRK_SECONDS}s; temp dir $TMP"
run_backend native
if [[ -n $LIB ]]; then
    run_backend uepoll
else
    STATUS[uepoll]=skipped
    RPS[uepoll]="-" XFER[uepoll]="-" ERRS[uepoll]="-"
fi

echo
printf '%-9s %-9s %-12s %-7s %s\n' backend req/s transfer/s errors result
for b in native uepoll; do
    printf '%-9s %-9s %-12s %-7s %s\n' "$b" "${RPS[$b]}" "${XFER[$b]}" "${ERRS[$b]}" "${STATUS[$b]}"
done
if [[ ${RPS[native]} != - && ${RPS[uepoll]} != - ]]; then
    awk -v u="${RPS[uepoll]}" -v n="${RPS[native]}" \
        'BEGIN { printf "ratio uepoll/native: %.2f\n", u / n }'
else
    echo "ratio uepoll/native: n/a"
fi
echo

if ((${#FAILURES[@]})); then
    echo "$PROG: ${#FAILURES[@]} failure(s):" >&2
    printf '  - %s\n' "${FAILURES[@]}" >&2
    exit 1
fi
if [[ -z $LIB ]]; then
    echo "$PROG: native run passed; uepoll run SKIPPED (no library given)" >&2
    exit 2
fi
echo "$PROG: all checks passed"
