#!/usr/bin/env bash
# nginx/idle.sh - the idle check: nginx holding 1,000 idle keepalive
# connections for 10 s must use almost no CPU and its threads must not wake
# up, natively and under the shim.
#
# Usage: integration/nginx/idle.sh [LIBRARY]
#   LIBRARY  libuepoll.so (default: $UEPOLL_LIB, else build/shim/libuepoll.so)
#
# nginx: 2 workers, keepalive_timeout 75s (longer than the test, so no
# keepalive timer fires), worker_connections 4096.  The raw client opens
# 1,000 connections, makes one request on each (so they are kept-alive
# and idle in nginx), and waits.  After 1 s to settle, for 10 s (IDLE_SECONDS):
#   - CPU: utime+stime of the master and every worker (/proc/PID/stat,
#     which sums all of a process's threads), before and after;
#   - wake-ups: voluntary_ctxt_switches + nonvoluntary_ctxt_switches of
#     every task (/proc/PID/task/*/status; a thread the shim starts, e.g.
#     a poller thread, counts too; one born in the window counts from 0),
#     before and after.
# Pass: CPU <= 1% of one core over the window, and 0 wake-ups in every
# task.  Then every connection is used once more (all still open and
# served), nginx -s quit, no [alert]/[crit]/[emerg] nor shim line.
# The figures of both sides are printed (lines "idle: ...").
#
# Output ends with "result native ..." / "result uepoll ..."; exit 0 when
# both pass.  Takes about 1 min on 2 busy cores (both sides).
set -uo pipefail
PROG=idle.sh
SIDE=""
IDLE=${IDLE_SECONDS:-10}
NS_SUMMARY="1000 idle keepalive connections, ${IDLE} s: cpu <= 1%, 0 wake-ups, all served after"
# shellcheck source=SCRIPTDIR/../lib/nginx_scenario.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/nginx_scenario.sh"

ulimit -n 10000 || { echo "$PROG: cannot raise the fd limit to 10000" >&2; exit 1; }
HZ=$(getconf CLK_TCK)

mkdir -p "$TMP/html"
head -c 1024 /dev/urandom >"$TMP/html/small.bin"
chmod -R a+rX "$TMP/html"

# cpu_ticks PIDS...: the sum of utime+stime, in clock ticks.
cpu_ticks() {
    local pid total=0 t
    for pid in "$@"; do
        # Fields 14 and 15, counted after the ")" that ends the name.
        t=$(sed 's/^.*) //' "/proc/$pid/stat" | awk '{ print $12 + $13 }')
        total=$((total + t))
    done
    echo "$total"
}

# switches PIDS...: one line "PID/TID NAME COUNT" per task.
switches() {
    local pid t
    for pid in "$@"; do
        for t in /proc/"$pid"/task/*; do
            awk -v id="$pid/${t##*/}" -v name="$(cat "$t/comm" 2>/dev/null)" \
                '/^(non)?voluntary_ctxt_switches/ { n += $2 } END { print id, name, n }' "$t/status" 2>/dev/null
        done
    done | sort
}

side_checks() {
    local side=$1 prefix="$TMP/$1" port pids cpu0 cpu1 ticks pct wake client
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
    rm -f "$TMP/go"
    timeout 300 "$PY" "$CLIENT" idle "$port" "$TMP/html" 1000 /small.bin "$TMP/go" >"$TMP/idle.out" 2>&1 &
    client=$!
    if ! wait_until 120 grep -q '^ready' "$TMP/idle.out"; then
        problem "the client did not get its 1000 connections ready: $(tail -1 "$TMP/idle.out")"
        touch "$TMP/go"
        wait "$client"
        return
    fi
    sleep 1
    pids="$MASTER $(ns_workers "$MASTER")"
    # shellcheck disable=SC2086 # one word per pid
    {
        cpu0=$(cpu_ticks $pids)
        switches $pids >"$TMP/$side.sw0"
        sleep "$IDLE"
        cpu1=$(cpu_ticks $pids)
        switches $pids >"$TMP/$side.sw1"
    }
    touch "$TMP/go"
    wait "$client" || problem "client: $(tail -1 "$TMP/idle.out")"
    sed "s/^/[$PROG] $side: client: /" "$TMP/idle.out"
    ticks=$((cpu1 - cpu0))
    pct=$(awk -v t="$ticks" -v hz="$HZ" -v s="$IDLE" 'BEGIN { printf "%.2f", 100 * t / hz / s }')
    say "idle: CPU $ticks ticks ($HZ/s) in $IDLE s = $pct% of one core (master + workers: $pids)"
    # Per task: the count after minus before (0 before for a task born in
    # the window); a task that ended in the window is listed as gone.
    wake=$(join -a1 -a2 -e 0 -o 0,1.2,2.2,1.3,2.3 "$TMP/$side.sw0" "$TMP/$side.sw1" |
        awk '{ name = ($3 != "0") ? $3 : $2; d = $5 - $4
               if ($5 == 0 && $4 > 0) printf "  task %s %s gone\n", $1, name > "/dev/stderr"
               else printf "  task %s %s: %d wake-ups (%d -> %d)\n", $1, name, d, $4, $5 > "/dev/stderr"
               if ($5 > 0) total += d }
             END { print total + 0 }' 2>"$TMP/$side.tasks")
    say "idle: $wake wake-ups in $IDLE s over $(wc -l <"$TMP/$side.sw1") tasks:"
    cat "$TMP/$side.tasks"
    awk -v p="$pct" 'BEGIN { exit !(p <= 1.0) }' || problem "CPU $pct% > 1% over $IDLE s idle"
    ((wake == 0)) || problem "$wake wake-ups in $IDLE s idle"
    ns_fds "$side" "$MASTER"
    ns_quit "$prefix" "$MASTER"
    ns_log_problems "$prefix/logs/error.log"
}

ns_main
