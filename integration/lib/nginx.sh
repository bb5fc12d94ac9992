# shellcheck shell=bash
# integration/lib/nginx.sh - driving Debian's nginx from the integration
# scripts (integration/nginx/run-main.sh, integration/shim/nginx_lifecycle.sh,
# integration/bench/run-servers.sh): messages, the temp dir and its cleanup,
# the generated configuration, and the checks on content, fds and logs.
# Sourced, not run; it sources process.sh beside it.  The caller sets PROG
# (its name, for messages) before sourcing.
#
# Workers run as the master's user.  nginx started as root drops its workers
# to `nobody` unless told otherwise, and in a container (no CAP_SYS_PTRACE)
# root may then list /proc/WORKER/fd but not read its links nor
# /proc/WORKER/maps, so the fd and mapping checks could not be made there.
# `user root root;` keeps the workers root, readable as on a host; as
# another user nginx ignores `user` (with a [warn]), so no line is written.

# wait_until, alive, port_open, pick_port, children.
# shellcheck source=SCRIPTDIR/process.sh
source "$(dirname "${BASH_SOURCE[0]}")/process.sh"

NGINX=${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}

# ------------------------------------------------------------------ messages

FAILURES=() # one line per failed check, for the summary at the end
log() { printf '[%s] %s\n' "$PROG" "$*"; }
warn() { printf '[%s] WARNING: %s\n' "$PROG" "$*" >&2; }
fail() {
    FAILURES+=("$*")
    printf '[%s] FAIL: %s\n' "$PROG" "$*" >&2
}
die() {
    fail "$*"
    exit 1
}

# fetch CURL-ARGS...: curl with no proxy from the environment and a bound on
# the time; add --fail where an HTTP error must be a failure.
fetch() { curl --noproxy '*' --silent --show-error --max-time 10 "$@"; }

# ------------------------------------------------------ temp dir and cleanup

STOP_PIDS=() # servers started by the script, stopped on exit if still there

# stop_process PID: SIGTERM, then after 5 s SIGKILL to it and to the
# children it had (nginx's workers), so that nothing outlives the script.
stop_process() {
    local pid=$1
    local -a kids
    alive "$pid" || return 0
    read -ra kids <<<"$(children "$pid")"
    kill -TERM "$pid" 2>/dev/null || true
    wait_until 5 eval "! alive $pid" || kill -KILL "$pid" "${kids[@]}" 2>/dev/null || true
}

# setup_tmp NAME: TMP, a fresh temp dir removed on exit (kept with
# KEEP_TMP=1), and the traps that stop STOP_PIDS whatever happens.  A script
# may define on_failure, called before the removal when the exit status is
# not 0 (to show logs).
setup_tmp() {
    TMP=$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX")
    # Workers of a non-root master, or of other setups, must still reach
    # the document root and temp paths under it.
    chmod 755 "$TMP"
    trap cleanup_tmp EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
}

cleanup_tmp() {
    local status=$? pid
    trap - EXIT INT TERM
    for pid in "${STOP_PIDS[@]}"; do stop_process "$pid"; done
    if ((status != 0)) && declare -F on_failure >/dev/null; then on_failure || true; fi
    if [[ ${KEEP_TMP:-0} == 1 ]]; then
        log "kept $TMP"
    else
        rm -rf "$TMP"
    fi
    exit "$status"
}

# ------------------------------------------------------------- configuration

# nginx_user_line: the `user` directive that keeps the workers on the
# master's uid and gid (see the head comment); nothing when not root.
nginx_user_line() {
    ((EUID == 0)) || return 0
    echo "user $(id -un) $(id -gn);"
}

# nginx_temp_path_lines BIN PREFIX: every *_temp_path under PREFIX/temp.  A
# build without a module rejects its *_temp_path directive.
nginx_temp_path_lines() {
    local v mod
    v=$("$1" -V 2>&1)
    echo "    client_body_temp_path $2/temp/client_body;"
    for mod in proxy fastcgi uwsgi scgi; do
        [[ $v == *"--without-http_${mod}_module"* ]] && continue
        echo "    ${mod}_temp_path $2/temp/$mod;"
    done
}

# nginx_write_config PREFIX PORT [KEY=VALUE...]: PREFIX/nginx.conf, every
# path under PREFIX (pid file, logs, temp paths), one server on
# 127.0.0.1:PORT.  Keys and defaults:
#   bin=$NGINX  workers=2  daemon=on  method=epoll  accept_mutex=off
#   worker_connections=1024  error_level=notice  access_log=on
#   default_type=application/octet-stream  sendfile=on  root=$TMP/html
#   keepalive_timeout=30  worker_rlimit_nofile=  env=
# accept_mutex off (nginx's default) makes every worker watch the listening
# socket with EPOLLEXCLUSIVE instead of taking turns through the mutex.
# worker_rlimit_nofile empty: no such line (the worker keeps the master's
# limit).  env: variable names the workers keep (nginx clears the rest of
# their environment), one `env NAME;` line each.
nginx_write_config() {
    local prefix=$1 port=$2 kv access name env_lines="" rlimit_line=""
    shift 2
    local -A c=([bin]=$NGINX [workers]=2 [daemon]=on [method]=epoll [accept_mutex]=off
        [worker_connections]=1024 [error_level]=notice [access_log]=on
        [default_type]=application/octet-stream [sendfile]=on [root]=$TMP/html
        [keepalive_timeout]=30 [worker_rlimit_nofile]="" [env]="")
    for kv in "$@"; do
        [[ -v c[${kv%%=*}] ]] || { echo "nginx_write_config: unknown key ${kv%%=*}" >&2; return 1; }
        c[${kv%%=*}]=${kv#*=}
    done
    access="access_log $prefix/logs/access.log;"
    [[ ${c[access_log]} == on ]] || access="access_log off;"
    for name in ${c[env]}; do env_lines+="env $name;"$'\n'; done
    [[ -z ${c[worker_rlimit_nofile]} ]] || rlimit_line="worker_rlimit_nofile ${c[worker_rlimit_nofile]};"
    mkdir -p "$prefix/logs" "$prefix/temp"
    chmod 755 "$prefix" "$prefix/temp"
    cat >"$prefix/nginx.conf" <<EOF
# Generated by $PROG; everything lives under $prefix.
$(nginx_user_line)
daemon ${c[daemon]};
master_process on;
worker_processes ${c[workers]};
$rlimit_line
$env_lines
pid $prefix/nginx.pid;
error_log $prefix/logs/error.log ${c[error_level]};

events {
    worker_connections ${c[worker_connections]};
    accept_mutex ${c[accept_mutex]};
    use ${c[method]};
}

http {
    $access
$(nginx_temp_path_lines "${c[bin]}" "$prefix")
    default_type ${c[default_type]};
    sendfile ${c[sendfile]};
    keepalive_timeout ${c[keepalive_timeout]};

    server {
        listen 127.0.0.1:$port;
        server_name localhost;
        root ${c[root]};
        index index.html;
    }
}
EOF
}

# nginx_exec BIN PREFIX PRELOAD ARGS...: BIN with PREFIX's config and logs,
# with LD_PRELOAD=PRELOAD unless PRELOAD is empty.  Without NGINX in its
# environment: nginx reads that variable as a list of inherited sockets
# (and logs an [emerg] when it holds the binary's path, as ours may).
nginx_exec() {
    local bin=$1 prefix=$2 preload=$3
    local -a env=()
    shift 3
    [[ -z $preload ]] || env=("LD_PRELOAD=$preload")
    env -u NGINX "${env[@]}" "$bin" -p "$prefix/" -c "$prefix/nginx.conf" -e "$prefix/logs/error.log" "$@"
}

# count_words WORDS...: how many.
count_words() { echo $#; }

# ------------------------------------------------------ nginx with poll(2)

# supports_poll BIN: BIN accepts `use poll;`.  Uses $TMP (setup_tmp).
supports_poll() {
    local d="$TMP/polltest"
    mkdir -p "$d/logs"
    printf 'pid %s/nginx.pid;\nerror_log %s/logs/error.log;\nevents { use poll; }\nhttp { access_log off; }\n' \
        "$d" "$d" >"$d/nginx.conf"
    "$1" -p "$d/" -c "$d/nginx.conf" -e "$d/logs/error.log" -t -q 2>/dev/null
}

# build_poll_nginx: nginx of Debian's upstream version with the poll module,
# from Debian's source package (a deb-src list of our own, apt's lists kept
# under NGINX_BUILD_DIR, default /tmp/uepoll-bench-nginx, the system's apt
# configuration untouched), built once and kept there; sets NGINX_POLL.
# Used by integration/bench/run-servers.sh and run-all.sh.
build_poll_nginx() {
    local dir=${NGINX_BUILD_DIR:-/tmp/uepoll-bench-nginx} version tarball src f
    version=$("$NGINX" -v 2>&1 | sed -n 's|.*nginx/\([0-9.]*\).*|\1|p')
    if [[ -x $dir/nginx-$version ]]; then
        # shellcheck disable=SC2034 # read by the caller
        NGINX_POLL=$dir/nginx-$version
        return 0
    fi
    log "building nginx $version with the poll module in $dir (once; log in $dir/build.log)"
    mkdir -p "$dir/apt/lists/partial" "$dir/apt/sources" "$dir/src"
    : >"$dir/build.log"
    # deb-src twins of the system's enabled Debian sources.
    for f in /etc/apt/sources.list.d/*.sources; do
        [[ -f $f ]] || continue
        grep -q 'debian' "$f" || continue
        sed 's/^Types:.*/Types: deb-src/' "$f" >"$dir/apt/sources/$(basename "$f")"
    done
    if [[ -f /etc/apt/sources.list ]]; then
        sed -n 's/^deb \(.*debian.*\)/deb-src \1/p' /etc/apt/sources.list >"$dir/apt/sources/system.list"
    fi
    local -a aptopts=(-o Dir::Etc::SourceList=/dev/null -o "Dir::Etc::SourceParts=$dir/apt/sources"
        -o "Dir::State::Lists=$dir/apt/lists")
    tarball=$(find "$dir/src" -maxdepth 1 -name "nginx_$version.orig.tar.*" | head -n1)
    if [[ -z $tarball ]]; then
        apt-get "${aptopts[@]}" update >>"$dir/build.log" 2>&1 || true
        # The Debian part of the package may be missing from a mirror; the
        # upstream tarball is all we need.
        (cd "$dir/src" && apt-get "${aptopts[@]}" source --download-only "nginx" >>"$dir/build.log" 2>&1) || true
        tarball=$(find "$dir/src" -maxdepth 1 -name "nginx_$version.orig.tar.*" | head -n1)
    fi
    if [[ -z $tarball ]]; then
        warn "could not fetch nginx_$version.orig.tar.* (see $dir/build.log)"
        return 1
    fi
    rm -rf "$dir/src/nginx-$version"
    tar -C "$dir/src" -xf "$tarball"
    src=$dir/src/nginx-$version
    # Only what the benchmark config uses (no pcre, no zlib needed).
    if ! (cd "$src" &&
        ./configure --prefix="$dir/prefix" --with-poll_module --with-cc-opt='-O2 -g' \
            --without-http_rewrite_module --without-http_gzip_module &&
        make -j"$(nproc)") >>"$dir/build.log" 2>&1; then
        warn "building nginx failed (see $dir/build.log)"
        return 1
    fi
    cp "$src/objs/nginx" "$dir/nginx-$version"
    # shellcheck disable=SC2034 # read by the caller
    NGINX_POLL=$dir/nginx-$version
}

# ---------------------------------------------------------------- checks

# nginx_check_get WHAT PORT PATH FILE: GET PATH returns FILE byte for byte.
nginx_check_get() {
    local what=$1 port=$2 path=$3 file=$4 out
    out="$TMP/got.$(basename "$file")"
    if ! fetch --fail -o "$out" "http://127.0.0.1:$port$path"; then
        fail "$what: GET $path failed"
        return 1
    fi
    if ! cmp -s "$out" "$file"; then
        fail "$what: GET $path returned other content than $file"
        return 1
    fi
    log "$what: GET $path = $(basename "$file") ($(stat -c %s "$file") bytes)"
}

# nginx_check_status WHAT PORT PATH CODE: GET PATH answers status CODE.
nginx_check_status() {
    local what=$1 port=$2 path=$3 want=$4 code
    code=$(fetch -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port$path" || true)
    if [[ $code != "$want" ]]; then
        fail "$what: GET $path returned status '$code', expected $want"
        return 1
    fi
    log "$what: GET $path = $want"
}

# fd_kinds PID: "EVENTPOLL EVENTFD TOTAL UNREADABLE": PID's fds that are
# anon_inode:[eventpoll] and anon_inode:[eventfd], all of them, and those
# whose link could not be read (no right to: see the head comment).
fd_kinds() {
    local fd target ep=0 ev=0 n=0 bad=0
    for fd in /proc/"$1"/fd/*; do
        [[ -e $fd || -L $fd ]] || continue
        n=$((n + 1))
        if ! target=$(readlink "$fd" 2>/dev/null); then
            # An fd closed between the glob and readlink is not there any
            # more; one that is still there could not be read.
            [[ -L $fd ]] && bad=$((bad + 1))
            continue
        fi
        case "$target" in
            "anon_inode:[eventpoll]") ep=$((ep + 1)) ;;
            "anon_inode:[eventfd]") ev=$((ev + 1)) ;;
        esac
    done
    echo "$ep $ev $n $bad"
}

# uid_of PID: its real uid, or "?".
uid_of() { awk '/^Uid:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo '?'; }

# NATIVE_EVENTFDS: the eventfds of a native worker, once check_worker_fds
# has looked at one; nginx opens one of its own (its notify fd).
NATIVE_EVENTFDS=""

# check_worker_fds WHAT LIB PIDS...: the epoll fds of the workers PIDS are of
# the right kind.  LIB empty: native, each worker has an
# anon_inode:[eventpoll].  Otherwise, under the shim: none has one, each has
# an anon_inode:[eventfd] and maps LIB.  A worker whose fds or maps cannot be
# read fails too, saying so: the check could not be made.  Returns 1 if any
# check failed.
check_worker_fds() {
    local what=$1 lib=$2 pid ep ev n bad ok=0 maps
    shift 2
    for pid in "$@"; do
        read -r ep ev n bad < <(fd_kinds "$pid")
        log "$what: worker $pid: $ep anon_inode:[eventpoll], $ev anon_inode:[eventfd], $n fds"
        if ((n == 0)); then
            fail "$what: worker $pid: cannot list /proc/$pid/fd as uid $EUID, so its epoll fds cannot be checked"
            ok=1
            continue
        fi
        if ((bad > 0)); then
            fail "$what: worker $pid (uid $(uid_of "$pid")): cannot read the links of $bad of $n fds in /proc/$pid/fd as uid $EUID, so its epoll fds cannot be checked"
            ok=1
            continue
        fi
        if [[ -z $lib ]]; then
            NATIVE_EVENTFDS=$ev
            if ((ep < 1)); then
                fail "$what: native worker $pid has no anon_inode:[eventpoll] fd"
                ok=1
            fi
            continue
        fi
        if ((ep != 0)); then
            fail "$what: worker $pid has $ep anon_inode:[eventpoll] fd(s) under the shim"
            ok=1
        fi
        if ((ev < 1)); then
            fail "$what: worker $pid has no anon_inode:[eventfd] fd under the shim"
            ok=1
        elif [[ -n $NATIVE_EVENTFDS ]] && ((ev <= NATIVE_EVENTFDS)); then
            # nginx opens an eventfd of its own (its epoll notify fd), so one
            # eventfd alone does not show that the shim made one.
            log "$what: note: worker $pid has no more eventfds than natively ($NATIVE_EVENTFDS)"
        fi
        if ! maps=$(cat "/proc/$pid/maps" 2>/dev/null); then
            fail "$what: worker $pid (uid $(uid_of "$pid")): cannot read /proc/$pid/maps as uid $EUID, so whether it maps $lib cannot be checked"
            ok=1
        elif [[ $maps != *"$lib"* ]]; then
            fail "$what: worker $pid does not map $lib"
            ok=1
        fi
    done
    return $ok
}

# bad_log_lines LOG OUT: LOG's [alert], [crit] and [emerg] lines into OUT;
# 0 if there is any.
bad_log_lines() {
    [[ -f $1 ]] && grep -E '\[(alert|crit|emerg)\]' "$1" >"$2"
}

# show_log LOG: its tail, after a failure.
show_log() {
    [[ -f $1 ]] || return 0
    echo "---- tail of $1" >&2
    tail -n "${2:-20}" "$1" >&2
    echo "----" >&2
}
